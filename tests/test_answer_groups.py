"""Answer groups: alike answers to a manual item put together (grader.review.groups), scored at once from the
review app's groups page, each member's score recorded with its group; taking an answer out of its group."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import unicodedata
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from grader.gradebook import Gradebook, StaleEdit
from grader.review.app import ReviewConfig, create_app
from grader.review.groups import AnswerGroup, group_answers, group_id, normalise, same_texts
from tests import review_book
from tests.review_book import TOTALS

TOKEN = "secret-token"

# -- grouping -------------------------------------------------------------------------------------------------

ANSWERS = {
    "s01": "최종업데이트에서 계산된 미분계수가 거의 0이므로 잘 수렴했다고 판단된다.",
    "s02": "최종 업데이트에서 계산된 미분계수가 거의 0이므로 잘 수렴했다고 판단되어진다.",
    "s03": "**최종업데이트에서** 계산된 미분겨수가 거의 0이므로 잘 수렴햇다고 판단된다",  # typos, markdown
    "s04": "The gradient at the last update is almost 0, so the weights have converged.",
    "s05": "the gradient at the last update is almost zero, so the weights have converged",
    "s06": "The gradient at the final update is almost 0 so the weights converged.",
    "s07": "참값을 모르기 때문에 잘 되었는지 알 수 없다.",  # another argument
    "s08": "미분계수가 0이 아니므로 아직 수렴하지 않았다.",  # worded like s01-s03, the opposite argument
    "s09": "",
    "s10": "**  **",  # nothing but markup
}


def test_alike_answers_are_grouped_korean_and_english_and_different_ones_stay_alone():
    assert group_answers(ANSWERS) == [
        AnswerGroup(("s01", "s02", "s03"), "8de95dfcac"),
        AnswerGroup(("s04", "s05", "s06"), "a51f094ba6"),
        AnswerGroup(("s09", "s10"), "c674404124", empty=True),
        AnswerGroup(("s07",), "3402f5cfe4"),
        AnswerGroup(("s08",), "5078590bb5"),
    ]


def test_the_groups_do_not_depend_on_the_order_of_the_answers():
    assert group_answers(dict(reversed(ANSWERS.items()))) == group_answers(ANSWERS)


def test_a_group_id_is_derived_from_its_members_only():
    assert group_id(["s01", "s02", "s03"]) == group_id(("s03", "s01", "s02")) == "8de95dfcac"
    changed = {**ANSWERS, "s02": "최종 업데이트에서 계산된 미분계수가 거의 0이므로 잘 수렴했다고 봅니다."}
    assert group_answers(changed)[0] == AnswerGroup(("s01", "s02", "s03"), "8de95dfcac")
    assert group_id(["s01", "s02"]) == "71477457ba"  # sha256 of the keys, apart by \x1f


def test_a_student_taken_out_stands_alone_and_the_other_groups_stay():
    assert group_answers(ANSWERS, alone={"s02", "s07"}) == [
        AnswerGroup(("s04", "s05", "s06"), "a51f094ba6"),
        AnswerGroup(("s01", "s03"), group_id(["s01", "s03"])),
        AnswerGroup(("s09", "s10"), "c674404124", empty=True),
        AnswerGroup(("s02",), group_id(["s02"])),
        AnswerGroup(("s07",), "3402f5cfe4"),
        AnswerGroup(("s08",), "5078590bb5"),
    ]


def test_one_answer_or_none():
    assert group_answers({}) == []
    assert group_answers({"s01": "수렴했다"}) == [AnswerGroup(("s01",), group_id(["s01"]))]
    assert group_answers({"s01": "네", "s02": "yes"}) == [AnswerGroup(("s01",), group_id(["s01"])),
                                                         AnswerGroup(("s02",), group_id(["s02"]))]


def test_normalising_sets_aside_case_markup_spacing_and_unicode_forms():
    decomposed = unicodedata.normalize("NFD", "수렴")  # as a Mac may type it
    assert normalise(f"  **Gradient** ≈ 0,\n\n- 그래서 {decomposed}  `했다`\n1. $\\nabla L$ ") == \
        "gradient ≈ 0, 그래서 수렴 했다 nabla l"


def test_same_texts_are_shown_once_with_everyone_who_wrote_them():
    answers = {"s1": "수렴했다.", "s2": "기울기가 0", "s3": "수렴했다. ", "s4": "수렴했다.\n"}
    assert same_texts(["s4", "s2", "s3", "s1"], answers) == [("수렴했다.", ["s1", "s3", "s4"]),
                                                              ("기울기가 0", ["s2"])]


# -- the groups page ------------------------------------------------------------------------------------------

ALIKE = {
    "2022001": "최종업데이트에서 계산된 미분계수가 거의 0이므로 잘 수렴했다고 판단된다.",
    "2022002": "최종 업데이트에서 계산된 미분계수가 거의 0이므로 잘 수렴했다고 판단되어진다. <b>아마도</b>",
    "2022003": "참값을 모르기 때문에 잘 되었는지 알 수 없다. <script>alert(1)</script>",
    "2022004": "**최종업데이트에서** 계산된 미분겨수가 거의 0이므로 잘 수렴햇다고 판단된다",  # scored 4 by Lee
}
GROUP = group_id(["2022001", "2022002", "2022004"])


@pytest.fixture
def book_path(tmp_path) -> Path:
    """review_book's four students, with ALIKE's answers to 2.5: three alike, one not."""
    path = review_book.build(tmp_path / "run" / "gradebook.sqlite")
    with Gradebook(path) as book:
        for student, answer in ALIKE.items():
            book.store(review_book.submission(student, answer=answer))
    return path


def client(book_path: Path, ta: str = "Kim") -> TestClient:
    config = ReviewConfig(gradebook=book_path, ta=ta, out=book_path.parent, token=TOKEN, allowed_hosts=("testserver",))
    browser = TestClient(create_app(config))
    assert browser.get(f"/?token={TOKEN}").status_code == 200
    return browser


def shown_groups(page: str) -> list[tuple[str, list[str]]]:
    """Each group on the page: its id and its members, as listed."""
    return [(found, re.findall(r'<li id="student-[^"]+" data-student="([^"]+)">', body)) for found, body in
            re.findall(r'<section class="card group" id="group-(\w+)" data-group="\w+">(.*?)</section>', page, re.S)]


def shown_alone(page: str) -> list[str]:
    section = re.search(r'<section class="card" id="alone">(.*?)</section>', page, re.S)
    return re.findall(r'<li id="student-[^"]+" data-student="([^"]+)">', section.group(1)) if section else []


def group_form(page: str, group: str) -> dict[str, str]:
    """The hidden fields of the group's score form: the token and each member's revision."""
    form = re.search(rf'<form method="post" action="/queue/2.5/groups/{group}/score"[^>]*>(.*?)</form>', page,
                     re.S).group(1)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


def score_group(browser: TestClient, page: str, points: str, comment: str = "", replace: bool = False,
                group: str = GROUP):
    data = {**group_form(page, group), "points": points, "comment": comment, "reason": ""}
    if replace:
        data["replace"] = "yes"
    return browser.post(f"/queue/2.5/groups/{group}/score", data=data, follow_redirects=False)


def history(book_path: Path) -> dict[str, list[tuple]]:
    with Gradebook(book_path) as book:
        return {student: [(e["points"], e["by"], e["kind"], e["previous"], e["comment"], e["group"], e["group_size"])
                          for e in book.history(student)] for student in review_book.STUDENTS}


def totals(book_path: Path) -> dict[str, float]:
    with Gradebook(book_path) as book:
        return {result.student: result.total for result in book.results()}


def test_the_groups_page_shows_alike_answers_together_and_a_different_one_alone(book_path):
    browser = client(book_path)
    queue = browser.get("/queue/2.5").text
    assert '<a href="/queue/2.5/groups" id="groups-link">answer groups: score alike answers at once</a>' in queue
    assert '<a href="/queue/2.5/groups">answer groups</a>' in browser.get("/queue").text
    page = browser.get("/queue/2.5/groups").text
    assert shown_groups(page) == [(GROUP, ["2022001", "2022002", "2022004"])]
    assert shown_alone(page) == ["2022003"]
    group = page.split(f'id="group-{GROUP}"')[1].split("</section>")[0]
    assert re.sub(r"\s+", " ", re.search(r'<div class="muted">(.*?)</div>', group).group(1)) == "2 waiting · 1 scored"
    assert '<strong class="given">4 / 6</strong> <span class="muted">by Lee</span>' in group
    assert re.sub(r"\s+", " ", re.search(r'<label class="replace">(.*?)</label>', group, re.S).group(1)) == (
        '<input type="checkbox" name="replace" value="yes"> also replace the 1 score given already')
    assert "판단되어진다. &lt;b&gt;아마도&lt;/b&gt;" in group and "<b>아마도" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert group_form(page, GROUP) == {"csrf": TOKEN, **{
        f"member:{student}": revision for student, revision in revisions(book_path).items() if student != "2022003"}}
    assert browser.get("/queue/9.9/groups").status_code == 404


def revisions(book_path: Path) -> dict[str, str]:
    with Gradebook(book_path) as book:
        return {student: book.revisions(student)["2.5"] for student in review_book.STUDENTS}


def test_a_group_score_scores_each_waiting_member_and_says_which_group(book_path):
    browser = client(book_path)
    page = browser.get("/queue/2.5/groups").text
    saved = score_group(browser, page, "5", "미분계수 근거는 맞음; convex 언급 없음")
    assert (saved.status_code, saved.headers["location"]) == (
        303, f"/queue/2.5/groups?group={GROUP}&scored=2&kept=1#group-{GROUP}")
    given = (5.0, "Kim", "manual", None, "미분계수 근거는 맞음; convex 언급 없음", GROUP, 3)
    assert history(book_path) == {"2022001": [given], "2022002": [given], "2022003": [],
                                  "2022004": [(4.0, "Lee", "manual", None, "", None, None)]}
    assert totals(book_path) == {**TOTALS, "2022001": 49.0, "2022002": 45.0}
    after = browser.get(saved.headers["location"]).text
    assert re.sub(r"\s+", " ", re.search(r'<div class="card" id="group-scored">(.*?)</div>', after, re.S).group(1)) == (
        f"Group {GROUP}: 2 answers scored; 1 scored before kept its score.")
    assert shown_groups(after) == [(GROUP, ["2022001", "2022002", "2022004"])]  # the same group, all scored now
    student = browser.get("/students/2022002").text
    rows = re.findall(r"<tr><td>.*?</tr>", re.search(r'<table class="history">(.*?)</table>', student, re.S).group(1),
                      re.S)
    assert [re.sub(r"<.*?>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)][1:] == [
        "Kim", "2.5", f"manual, group score (group {GROUP}, 3 answers)", "?", "5",
        "미분계수 근거는 맞음; convex 언급 없음", ""]
    exported = browser.get("/export/grades.csv").content.decode("utf-8-sig")
    assert {row["student"]: (row["2.5"], row["total"]) for row in csv.DictReader(io.StringIO(exported))} == {
        "2022001": ("5", "49"), "2022002": ("5", "45"), "2022003": ("0", "44"), "2022004": ("4", "48")}


def test_a_group_score_replaces_scores_given_already_only_when_told(book_path):
    browser = client(book_path)
    saved = score_group(browser, browser.get("/queue/2.5/groups").text, "6", replace=True)
    assert saved.headers["location"] == f"/queue/2.5/groups?group={GROUP}&scored=3&kept=0#group-{GROUP}"
    assert history(book_path)["2022004"] == [(4.0, "Lee", "manual", None, "", None, None),
                                             (6.0, "Kim", "manual", 4.0, "", GROUP, 3)]
    assert totals(book_path) == {**TOTALS, "2022001": 50.0, "2022002": 46.0, "2022004": 50.0}
    again = score_group(browser, browser.get("/queue/2.5/groups").text, "3")  # no one waits, nothing replaced
    assert again.headers["location"] == f"/queue/2.5/groups?group={GROUP}&scored=0&kept=3#group-{GROUP}"
    assert totals(book_path) == {**TOTALS, "2022001": 50.0, "2022002": 46.0, "2022004": 50.0}


def test_a_group_score_against_a_group_changed_since_is_refused_and_scores_no_one(book_path):
    kim, lee = client(book_path, "Kim"), client(book_path, "Lee")
    page = kim.get("/queue/2.5/groups").text
    taken = lee.post("/queue/2.5/groups/take-out", data={"csrf": TOKEN, "student": "2022002"}, follow_redirects=False)
    assert (taken.status_code, taken.headers["location"]) == (303, "/queue/2.5/groups#student-2022002")
    refused = score_group(kim, page, "5", "근거 <맞음>")
    assert refused.status_code == 409
    said = re.search(r'<div class="card bad" id="group-changed" role="alert">(.*?)</div>', refused.text, re.S).group(1)
    assert [re.sub(r"\s+", " ", re.sub(r"<.*?>", "", part)).strip() for part in re.findall(r"<p[^>]*>(.*?)</p>", said,
                                                                                           re.S)] == [
        "Not saved: this group of answers has changed since the page was shown (a student was taken out of it or put "
        "back, or an answer was graded again), so no answer was scored. The groups are shown as they are now; score "
        "the group again",
        "What you typed: 5 points, the comment “근거 &lt;맞음&gt;”."]
    assert history(book_path)["2022001"] == history(book_path)["2022002"] == []
    assert totals(book_path) == TOTALS
    remaining = group_id(["2022001", "2022004"])
    assert shown_groups(refused.text) == [(remaining, ["2022001", "2022004"])]
    assert shown_alone(refused.text) == ["2022002", "2022003"]
    assert re.search(r'<span class="muted taken-out">taken out by Lee at \S+</span>', refused.text)
    assert score_group(kim, refused.text, "5", group=remaining).status_code == 303  # the group as it is now
    assert [entry[5:] for entry in history(book_path)["2022001"]] == [(remaining, 2)]
    assert history(book_path)["2022002"] == []


def test_a_member_scored_meanwhile_refuses_the_whole_group_then_keeps_that_score(book_path):
    kim, lee = client(book_path, "Kim"), client(book_path, "Lee")
    page = kim.get("/queue/2.5/groups").text
    assert lee.post("/students/2022001/items/2.5/score", follow_redirects=False, data={
        "csrf": TOKEN, "points": "3", "comment": "", "reason": "",
        "revision": revisions(book_path)["2022001"]}).status_code == 303
    refused = score_group(kim, page, "5", "근거가 맞음")
    assert refused.status_code == 409
    form = refused.text.split(f'action="/queue/2.5/groups/{GROUP}/score"')[1].split("</form>")[0]
    said = re.sub(r"\s+", " ", re.sub(r"<.*?>", "", re.search(r'id="rejected" role="alert">(.*?)</p>', form,
                                                               re.S).group(1))).strip()
    assert re.fullmatch(r"Not saved: Lee gave 2022001 3 points for item 2.5 at \S+, after you opened this page; your "
                        r"score was not saved. Reload to see theirs, then score again if you disagree. None of the "
                        r"group&#39;s 3 answers was scored This page shows the group as it is now; what you typed is "
                        r"kept. Saving it again scores the answers that wait, and replaces scores given already only "
                        r"where you tick the box.", said)
    assert ('value="5"' in form and "근거가 맞음</textarea>" in form
            and "also replace the 2 scores given already" in form)
    assert history(book_path)["2022002"] == []
    saved = score_group(kim, refused.text, "5", "근거가 맞음")
    assert saved.headers["location"] == f"/queue/2.5/groups?group={GROUP}&scored=1&kept=2#group-{GROUP}"
    assert [entry[:2] for entry in history(book_path)["2022001"]] == [(3.0, "Lee")]
    assert history(book_path)["2022002"] == [(5.0, "Kim", "manual", None, "근거가 맞음", GROUP, 3)]


def test_points_out_of_range_show_the_group_again_with_what_was_typed_and_score_no_one(book_path):
    browser = client(book_path)
    refused = score_group(browser, browser.get("/queue/2.5/groups").text, "7", "좋음")
    assert refused.status_code == 400
    form = refused.text.split(f'action="/queue/2.5/groups/{GROUP}/score"')[1].split("</form>")[0]
    assert re.search(r'<strong>Not saved:</strong> item 2.5 is worth 0 to 6 points, not 7</p>', form)
    assert re.search(r'<input name="points"[^>]*autofocus value="7">', form) and "좋음</textarea>" in form
    assert totals(book_path) == TOTALS


def test_a_take_out_is_kept_in_the_gradebook_and_a_put_back_undoes_it(book_path):
    kim = client(book_path, "Kim")
    for _ in range(2):  # taking out twice is once
        assert kim.post("/queue/2.5/groups/take-out", data={"csrf": TOKEN, "student": "2022004"},
                        follow_redirects=False).status_code == 303
    with Gradebook(book_path) as book:
        alone = book.alone("2.5")
        assert list(alone) == ["2022004"] and alone["2022004"][0] == "Kim"
        assert book.take_outs_revision("2.5") == "1" and book.alone("2.2") == {}
    page = client(book_path, "Lee").get("/queue/2.5/groups").text  # another TA's server reads it from the gradebook
    assert shown_groups(page) == [(group_id(["2022001", "2022002"]), ["2022001", "2022002"])]
    assert shown_alone(page) == ["2022003", "2022004"]
    assert f'<span class="muted taken-out">taken out by Kim at {alone["2022004"][1]}</span>' in page
    assert kim.post("/queue/2.5/groups/put-back", data={"csrf": TOKEN, "student": "2022004"},
                    follow_redirects=False).status_code == 303
    with Gradebook(book_path) as book:
        assert book.alone("2.5") == {}
    assert shown_groups(kim.get("/queue/2.5/groups").text) == [(GROUP, ["2022001", "2022002", "2022004"])]
    missing = kim.post("/queue/2.5/groups/take-out", data={"csrf": TOKEN, "student": "2099999"})
    assert missing.status_code == 404


def test_an_older_gradebook_opens_and_gains_answer_groups(book_path):
    with Gradebook(book_path) as book:
        book.set_score("2022001", "2.5", 2.0, "", "Lee")
    with sqlite3.connect(book_path) as db:  # as written before answer groups
        db.execute("ALTER TABLE manual_scores DROP COLUMN group_id")
        db.execute("ALTER TABLE manual_scores DROP COLUMN group_size")
        db.execute("DROP TABLE group_take_outs")
    with Gradebook(book_path) as book:
        assert [(e["points"], e["by"], e["group"], e["group_size"]) for e in book.history("2022001")] == [
            (2.0, "Lee", None, None)]
        book.set_alone("2022003", "2.5", True, "Kim")
        assert list(book.alone("2.5")) == ["2022003"]
        assert book.set_group_score("2.5", "g", {"2022002": book.revisions("2022002")["2.5"]}, 1.0, "", "Kim",
                                    take_outs_revision=book.take_outs_revision("2.5")) == ["2022002"]
        assert [(e["points"], e["group"], e["group_size"]) for e in book.history("2022002")] == [(1.0, "g", 1)]


def test_a_take_out_while_a_group_is_being_scored_refuses_it(book_path):
    with Gradebook(book_path) as book:
        worked_out = book.take_outs_revision("2.5")
        members = {student: book.revisions(student)["2.5"] for student in ("2022001", "2022002", "2022004")}
        book.set_alone("2022002", "2.5", True, "Lee")
        with pytest.raises(StaleEdit) as refused:
            book.set_group_score("2.5", GROUP, members, 5.0, "", "Kim", take_outs_revision=worked_out)
        assert re.fullmatch(r"Lee took 2022002 out of its answer group for item 2.5 at \S+, while you were scoring, so "
                            r"the groups may have changed; no answer was scored. Reload to see the groups as they are, "
                            r"then score again", str(refused.value))
    assert history(book_path)["2022001"] == []


def test_a_take_out_moves_with_its_submission_to_a_new_key(book_path):
    with Gradebook(book_path) as book:
        book.set_alone("2022003", "2.5", True, "Kim")
        assert book.follow({"2022099": {"file": "2022003.ipynb"}}) == {"2022003": "2022099"}
        assert list(book.alone("2.5")) == ["2022099"]


def test_empty_answers_are_left_to_the_queues_own_button(book_path):
    with Gradebook(book_path) as book:
        book.store(review_book.submission("2022003", answer=""))
    page = client(book_path).get("/queue/2.5/groups").text
    assert shown_groups(page) == [(GROUP, ["2022001", "2022002", "2022004"])] and shown_alone(page) == []
    intro = re.sub(r"\s+", " ", re.sub(r"<.*?>", "", page.split('<p class="muted">')[1].split("</p>")[0]))
    assert intro.endswith("Back to the queue, one answer at a time: 1 waiting answer is empty, and the queue scores "
                          "it 0 at once.")
