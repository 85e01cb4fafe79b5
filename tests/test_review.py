"""The review app's pages and actions, through Starlette's test client (no browser, no kernels)."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from grader.batch import write_outputs
from grader.gradebook import Gradebook
from grader.results import IntegrityFlag
from grader.review.app import ReviewConfig, create_app
from tests import review_book
from tests.review_book import NAMES, TOTALS

TOKEN = "secret-token"


@pytest.fixture
def book_path(tmp_path) -> Path:
    return review_book.build(tmp_path / "run" / "gradebook.sqlite")


def client(book_path: Path, ta: str = "Kim", regrader=None) -> TestClient:
    config = ReviewConfig(gradebook=book_path, ta=ta, out=book_path.parent, token=TOKEN, regrader=regrader,
                          allowed_hosts=("testserver",))
    browser = TestClient(create_app(config))
    assert browser.get(f"/?token={TOKEN}").status_code == 200  # trades the token for the cookie
    return browser


def revision(page: str) -> str:
    return re.search(r'name="revision" value="([^"]+)"', page).group(1)


def revision_of(book_path: Path, student: str, item: str) -> str:
    with Gradebook(book_path) as book:
        return book.revisions(student)[item]


def score(browser: TestClient, student: str, item: str, points: str, comment: str = "", rev: str | None = None,
          then: str = "", csrf: str = TOKEN, reason: str = ""):
    return browser.post(f"/students/{student}/items/{item}/score", follow_redirects=False, data={
        "csrf": csrf, "points": points, "comment": comment, "reason": reason, "then": then, "revision": rev or ""})


def message(page: str) -> str:
    return re.sub(r"\s+", " ", re.search(r'<div class="card bad" id="message">.*?<p>(.*?)</p>', page, re.S).group(1))


def rejected(page: str) -> tuple[str, str, dict[str, str]]:
    """The one form that says why it was not saved: its action, the message, and what its fields hold (hidden
    ones aside)."""
    forms = [(action, body) for action, body in re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>',
                                                          page, re.S) if 'id="rejected"' in body]
    assert len(forms) == 1 and page.count('id="rejected"') == 1
    action, body = forms[0]
    said = re.search(r'<p class="rejected" id="rejected" role="alert"><strong>Not saved:</strong> (.*?)</p>', body,
                     re.S)
    fields = {re.search(r'name="([^"]+)"', tag).group(1): re.search(r'value="([^"]*)"', tag).group(1)
              for tag in re.findall(r"<input [^>]*>", body) if 'type="hidden"' not in tag}
    fields |= dict(re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', body, re.S))
    return action, re.sub(r"\s+", " ", re.sub(r"<.*?>", "", said.group(1))).strip(), fields


def totals(book_path: Path) -> dict[str, float]:
    with Gradebook(book_path) as book:
        return {result.student: result.total for result in book.results()}


# -- access --------------------------------------------------------------------------------


def test_pages_need_the_token_then_a_cookie(book_path):
    config = ReviewConfig(gradebook=book_path, ta="Kim", out=book_path.parent, token=TOKEN, allowed_hosts=("testserver",))
    browser = TestClient(create_app(config))
    assert browser.get("/").status_code == 403
    assert browser.get("/?token=wrong").status_code == 403
    first = browser.get(f"/queue/2.5?token={TOKEN}&student=2022002", follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (303, "/queue/2.5?student=2022002")
    assert "samesite=strict" in first.headers["set-cookie"].lower() and "httponly" in first.headers["set-cookie"].lower()
    assert browser.get("/queue/2.5?student=2022002").status_code == 200


def test_other_hosts_are_refused(book_path):
    """A page of another site cannot reach the app through a DNS name pointing at 127.0.0.1."""
    config = ReviewConfig(gradebook=book_path, ta="Kim", out=book_path.parent, token=TOKEN)
    browser = TestClient(create_app(config), base_url="http://evil.example")
    assert browser.get(f"/?token={TOKEN}").status_code == 400


def test_a_form_without_the_token_is_refused(book_path):
    browser = client(book_path)
    refused = score(browser, "2022001", "2.5", "4", csrf="")
    assert refused.status_code == 403
    assert "did not come from this review page" in message(refused.text)
    assert totals(book_path) == TOTALS


# -- the class summary -----------------------------------------------------------------------


def shown_students(page: str) -> list[str]:
    return re.findall(r'<tr data-student="([^"]+)">', page)


@pytest.mark.parametrize("query, expected", [
    ("", ["2022001", "2022002", "2022003", "2022004"]),
    ("?sort=total&order=desc", ["2022004", "2022001", "2022003", "2022002"]),
    ("?sort=total&order=asc", ["2022002", "2022001", "2022003", "2022004"]),
    ("?sort=2.2&order=asc", ["2022002", "2022001", "2022003", "2022004"]),
    ("?sort=name", ["2022001", "2022003", "2022002", "2022004"]),  # 김, 박, 이, 최
    ("?status=graded", ["2022004"]),
    ("?status=needs-review", ["2022001", "2022002", "2022003"]),
    ("?item=2.2&item_status=partial", ["2022002"]),
    ("?item=2.5&item_status=manual&sort=student&order=desc", ["2022003", "2022002", "2022001"]),
    ("?flag=integrity", []),
])
def test_summary_filters_and_sorts(book_path, query, expected):
    page = client(book_path).get("/" + query)
    assert page.status_code == 200
    assert shown_students(page.text) == expected


def test_summary_sort_links_flip_the_order_and_keep_the_filters(book_path):
    page = client(book_path).get("/?status=needs-review&sort=total&order=asc").text
    assert 'href="/?status=needs-review&amp;sort=total&amp;order=desc"' in page
    assert 'href="/?status=needs-review&amp;sort=student&amp;order=asc"' in page


def test_summary_shows_the_same_figures_as_the_html_report(book_path):
    page = client(book_path).get("/?status=graded").text  # a filter narrows the table, not the figures
    row = re.search(r'<tr data-student="2022004">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'class="num total"><strong>48</strong>', row)
    with Gradebook(book_path) as book:
        write_outputs(book_path.parent, book)
    report = (book_path.parent / "index.html").read_text(encoding="utf-8")

    def item_rows(html: str) -> list[list[str]]:
        table = re.search(r'<th>item</th><th>title</th><th class="num">mean</th>.*?</table>', html, re.S).group(0)
        return [[re.sub(r"<.*?>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
                for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]

    assert item_rows(page) == item_rows(report)
    assert item_rows(page)[5] == ["2.2", "Adam (lr=0.1): gradient at (-5, 10) and one update", "5.00", "6", "75%", ""]
    assert item_rows(page)[8] == ["2.5", "Has it converged? (argue from the gradient)", "4.00", "6", "0%", "3"]  # 2022004: 4 of 6
    assert "4 submission(s) · mean 44.0 / 100" in page and "mean 44.0 / 100" in report
    assert re.search(r'<span class="badge graded">graded</span> 1 · <span class="badge needs-review">needs-review</span> 3',
                     page)


def test_summary_marks_hand_scores_and_overrides_and_says_what_the_marks_mean(book_path):
    browser = client(book_path)
    saved = score(browser, "2022002", "2.2", "6", "same gradient", rev=revision_of(book_path, "2022002", "2.2"),
                  reason="sign convention")
    assert saved.status_code == 303
    page = browser.get("/").text
    columns = re.findall(r'<th class="num"><a href="[^"]+">([\d.]+)</a></th>', page)

    def cell(student: str, item: str) -> str:
        row = re.search(rf'<tr data-student="{student}">(.*?)</tr>', page, re.S).group(1)
        return re.findall(r'<td class="num" title="[^"]+">(.*?)</td>', row)[columns.index(item)]

    assert cell("2022004", "2.5") == '4<sup class="mark"><abbr title="scored by Lee">m</abbr></sup>'
    assert cell("2022002", "2.2") == '6<sup class="mark"><abbr title="overridden by Kim (automatic 2)">o</abbr></sup>'
    assert cell("2022001", "2.5") == '<abbr class="wait" title="waiting for a TA">?</abbr>'
    assert cell("2022001", "2.2") == "6"
    legend = re.search(r'<p class="muted" id="legend">(.*?)</p>', page, re.S).group(1)
    assert re.sub(r"\s+", " ", re.sub(r"<.*?>", "", legend)) == (
        "? waiting for a TA · 4m scored by a TA (an item graded by hand) · 5o a TA's override of the automatic "
        "score · point at a mark to see who")


# -- the queue ---------------------------------------------------------------------------------


def test_queue_lists_the_manual_items_with_what_waits(book_path):
    page = client(book_path).get("/queue").text
    assert re.search(r'<a href="/queue/2.5">2.5</a></td><td>Has it converged\? \(argue from the gradient\)</td>\s*'
                     r'<td class="num">3</td><td class="num">4</td>', page)


def test_queue_opens_on_the_first_waiting_answer_with_question_answer_and_hint(book_path):
    page = client(book_path).get("/queue/2.5").text
    assert 'id="current" data-student="2022001"' in page
    assert "1 of 4 graded · 3 waiting" in page
    # Korean as written; LaTeX kept verbatim (backslashes and underscores intact) for KaTeX to draw
    assert '기울기가 <span class="math inline">\\nabla_w L \\approx 0</span> 이므로 수렴했다.' in page
    assert "(4)의 수렴값이 학습이 잘 되었다고 생각하는가?" in page  # the question, from the template
    assert "4 of 5 ideas found" in page and "suggests <strong>5</strong> / 6" in page
    assert [key for key in re.findall(r'data-key="(\d)"', page)] == ["0", "1", "2", "3", "4", "5", "6"]


def test_answers_with_html_are_shown_as_text(book_path):
    page = client(book_path).get("/queue/2.5?student=2022002").text
    assert "수렴하지 않았다 &lt;b&gt;아마도&lt;/b&gt;" in page
    assert "<b>아마도" not in page


def test_grading_the_queue_moves_to_the_next_waiting_answer_then_says_done(book_path):
    browser = client(book_path, ta="박조교")
    for student, points, following in (("2022001", "5", "/queue/2.5?student=2022002"),
                                       ("2022002", "1.5", "/queue/2.5?student=2022003"),
                                       ("2022003", "6", "/queue/2.5")):
        page = browser.get("/queue/2.5").text
        assert f'id="current" data-student="{student}"' in page
        saved = score(browser, student, "2.5", points, rev=revision(page), then="queue")
        assert (saved.status_code, saved.headers["location"]) == (303, following)
    done = browser.get("/queue/2.5").text
    assert "Every answer to 2.5 is graded." in done
    assert totals(book_path) == {"2022001": 49.0, "2022002": 41.5, "2022003": 50.0, "2022004": 48.0}
    with Gradebook(book_path) as book:
        assert [(e["item"], e["points"], e["by"], e["kind"], e["previous"]) for e in book.history("2022002")] == [
            ("2.5", 1.5, "박조교", "manual", None)]
        assert book.result("2022002").status == "graded"


def test_regrading_a_graded_answer_from_the_queue_records_what_it_replaced(book_path):
    browser = client(book_path)
    page = browser.get("/queue/2.5?student=2022004").text
    assert score(browser, "2022004", "2.5", "5", "보충 설명 인정", rev=revision(page), then="queue").status_code == 303
    with Gradebook(book_path) as book:
        assert [(e["by"], e["points"], e["previous"], e["comment"]) for e in book.history("2022004")] == [
            ("Lee", 4.0, None, ""), ("Kim", 5.0, 4.0, "보충 설명 인정")]


def without_answers(book_path: Path, *students: str) -> None:
    """The students wrote nothing for 2.5 (graded again from notebooks with nothing added to the template)."""
    with Gradebook(book_path) as book:
        for student in students:
            book.store(review_book.submission(student, answer=""))


def empty_form(page: str) -> dict[str, str]:
    form = re.search(r'<form method="post" action="/queue/2.5/empty">(.*?)</form>', page, re.S).group(1)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


def queue_history(book_path: Path) -> dict[str, list[tuple]]:
    with Gradebook(book_path) as book:
        return {student: [(e["item"], e["points"], e["by"], e["kind"], e["previous"], e["comment"])
                          for e in book.history(student)] for student in review_book.STUDENTS}


def test_empty_answers_are_scored_0_in_one_action_each_in_the_history(book_path):
    without_answers(book_path, "2022002", "2022003", "2022004")  # 2022004 was scored by Lee already: not listed
    browser = client(book_path)
    page = browser.get("/queue/2.5").text
    assert "<summary>2 waiting answers are empty: score them 0 at once</summary>" in page
    assert re.findall(r'<li><a href="/queue/2.5\?student=(\d+)">', page.split('id="empty"')[1].split("</ol>")[0]) == [
        "2022002", "2022003"]
    assert '<button type="submit" id="score-empty">Give these 2 answers 0</button>' in page
    form = empty_form(page)
    assert form == {"csrf": TOKEN, "empty:2022002": revision_of(book_path, "2022002", "2.5"),
                    "empty:2022003": revision_of(book_path, "2022003", "2.5")}

    done = browser.post("/queue/2.5/empty", data=form, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/queue/2.5?zeroed=2&skipped=0")
    history = queue_history(book_path)
    assert history == {"2022001": [], "2022002": [("2.5", 0.0, "Kim", "manual", None, "no answer was written")],
                       "2022003": [("2.5", 0.0, "Kim", "manual", None, "no answer was written")],
                       "2022004": [("2.5", 4.0, "Lee", "manual", None, "")]}
    assert totals(book_path) == TOTALS
    with Gradebook(book_path) as book:
        assert {result.student: result.status for result in book.results()} == {
            "2022001": "needs-review", "2022002": "graded", "2022003": "graded", "2022004": "graded"}
    after = browser.get(done.headers["location"]).text
    assert '<div class="card" id="zeroed">2 empty answers scored 0.</div>' in after
    assert 'id="empty"' not in after and 'id="current" data-student="2022001"' in after  # the one with an answer

    again = browser.post("/queue/2.5/empty", data=form, follow_redirects=False)  # the same form, sent twice
    assert (again.status_code, again.headers["location"]) == (303, "/queue/2.5?zeroed=0&skipped=2")
    assert queue_history(book_path) == history
    assert ("0 empty answers scored 0;\n2 skipped: they have been scored or graded again since the list was shown."
            in browser.get(again.headers["location"]).text)


def test_an_empty_answer_scored_by_someone_else_meanwhile_is_skipped(book_path):
    without_answers(book_path, "2022002", "2022003")
    form = empty_form(client(book_path, "Kim").get("/queue/2.5").text)
    assert score(client(book_path, "Lee"), "2022003", "2.5", "1", "빈 답안이지만 그림을 그림",
                 rev=revision_of(book_path, "2022003", "2.5")).status_code == 303
    done = client(book_path, "Kim").post("/queue/2.5/empty", data=form, follow_redirects=False)
    assert done.headers["location"] == "/queue/2.5?zeroed=1&skipped=1"
    history = queue_history(book_path)
    assert (history["2022002"], history["2022003"]) == (
        [("2.5", 0.0, "Kim", "manual", None, "no answer was written")],
        [("2.5", 1.0, "Lee", "manual", None, "빈 답안이지만 그림을 그림")])
    assert totals(book_path) == {**TOTALS, "2022003": 45.0}


def test_the_form_for_empty_answers_scores_only_empty_waiting_answers(book_path):
    """A form naming a student whose answer is not empty (or no student of this gradebook) scores nothing."""
    browser = client(book_path)
    done = browser.post("/queue/2.5/empty", follow_redirects=False, data={
        "csrf": TOKEN, "empty:2022001": revision_of(book_path, "2022001", "2.5"), "empty:2099999": "x"})
    assert done.headers["location"] == "/queue/2.5?zeroed=0&skipped=2"
    assert 'id="empty"' not in browser.get("/queue/2.5").text  # no empty answer here: no such form either
    assert queue_history(book_path)["2022001"] == [] and totals(book_path) == TOTALS
    missing = browser.post("/queue/9.9/empty", data={"csrf": TOKEN}, follow_redirects=False)
    assert missing.status_code == 404 and message(missing.text).startswith("no item &#39;9.9&#39;; items are 1.1, ")


# -- overrides and the student's page ------------------------------------------------------------


def test_an_override_needs_a_reason_and_shows_in_the_history(book_path):
    browser = client(book_path)
    page = browser.get("/students/2022002").text
    rev = re.search(r'action="/students/2022002/items/2.2/score".*?name="revision" value="([^"]+)"', page, re.S).group(1)
    refused = score(browser, "2022002", "2.2", "6", "sign convention of the loss: same gradient", reason=" ",
                    rev=rev)
    assert refused.status_code == 400  # the student's page again, the message at 2.2's form, what was typed kept
    assert rejected(refused.text) == (
        "/students/2022002/items/2.2/score", "item 2.2 was graded automatically (2/6); overriding it needs a reason: "
        "write it in the box “reason (staff only, required for an override)”",
        {"points": "6", "comment": "sign convention of the loss: same gradient", "reason": " "})
    assert '<span class="score" id="total">40 / 100</span>' in refused.text
    saved = score(browser, "2022002", "2.2", "6", "sign convention of the loss: same gradient", rev=rev,
                  reason="reference squares the other way")
    assert (saved.status_code, saved.headers["location"]) == (303, "/students/2022002#item-2.2")
    page = browser.get("/students/2022002").text
    assert '<span class="score" id="total">44 / 100</span>' in page
    history = re.search(r'<table class="history">(.*?)</table>', page, re.S).group(1)
    cells = [re.sub(r"<.*?>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", history, re.S)]
    assert cells[1:] == ["Kim", "2.2", "override", "2", "6", "sign convention of the loss: same gradient",
                         "reference squares the other way"]


@pytest.mark.parametrize("points, expected", [
    ("7", "item 2.5 is worth 0 to 6 points, not 7"),
    ("-1", "item 2.5 is worth 0 to 6 points, not -1"),
    ("four", "points must be a number, like 4 or 2.5; got 'four'"),
    ("", "points must be a number, like 4 or 2.5; got ''"),
    ("nan", "points must be a finite number; got 'nan'"),
    ("inf", "points must be a finite number; got 'inf'"),
])
def test_malformed_points_show_the_page_again_with_the_message_at_the_form_and_what_was_typed(book_path, points,
                                                                                               expected):
    refused = score(client(book_path), "2022001", "2.5", points, "근거 부족 <b>x</b>")
    assert refused.status_code == 400
    assert rejected(refused.text) == ("/students/2022001/items/2.5/score", expected.replace("'", "&#39;"),
                                      {"points": points, "comment": "근거 부족 &lt;b&gt;x&lt;/b&gt;", "reason": ""})
    assert re.search(r'<input name="points"[^>]*autofocus', refused.text.split('id="item-2.5"')[1])
    assert totals(book_path) == TOTALS


@pytest.mark.parametrize("student, item, status, expected", [
    ("2099999", "2.5", 404, "no student '2099999' in this gradebook"),
    ("2022001", "9.9", 404, "no item '9.9'; items are 1.1, 1.2, 1.3, 1.4, 2.1, 2.2, 2.3, 2.4, 2.5, 3.1, 3.2, "
                            "3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 3.9, 3.10"),
])
@pytest.mark.parametrize("points", ["3", "four"])
def test_a_score_for_what_does_not_exist_is_refused_on_a_page_of_its_own(book_path, student, item, status, expected,
                                                                         points):
    refused = score(client(book_path), student, item, points, "x", then="queue")
    assert refused.status_code == status
    assert message(refused.text) == expected.replace("'", "&#39;")
    assert 'id="rejected"' not in refused.text
    assert totals(book_path) == TOTALS


def test_a_refused_score_in_the_queue_shows_the_same_answer_again_with_what_was_typed(book_path):
    browser = client(book_path)
    page = browser.get("/queue/2.5").text
    refused = score(browser, "2022001", "2.5", "8", "좋은 답\n근거: 기울기", rev=revision(page), then="queue")
    assert refused.status_code == 400
    assert 'id="current" data-student="2022001"' in refused.text
    assert rejected(refused.text) == ("/students/2022001/items/2.5/score", "item 2.5 is worth 0 to 6 points, not 8",
                                      {"points": "8", "comment": "좋은 답\n근거: 기울기", "reason": ""})
    assert revision(refused.text) == revision(page)  # nothing changed: saving the fixed points goes through
    fixed = score(browser, "2022001", "2.5", "6", "좋은 답", rev=revision(refused.text), then="queue")
    assert fixed.status_code == 303
    assert totals(book_path)["2022001"] == 50.0


def test_unknown_pages_say_what_exists(book_path):
    browser = client(book_path)
    missing = browser.get("/students/nobody")
    assert (missing.status_code, message(missing.text)) == (404, "no student &#39;nobody&#39; in this gradebook")
    assert browser.get("/queue/7.7").status_code == 404


def test_a_decimal_comma_is_read_as_a_point(book_path):
    browser = client(book_path)
    assert score(browser, "2022001", "2.5", "2,5").status_code == 303
    assert totals(book_path)["2022001"] == 46.5


SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_comments_with_html_are_escaped_on_every_page_and_report(book_path):
    browser = client(book_path)
    assert score(browser, "2022001", "2.5", "3", SCRIPT).status_code == 303
    assert score(browser, "2022002", "2.2", "6", SCRIPT, reason=SCRIPT).status_code == 303
    pages = {"student": browser.get("/students/2022001").text,
             "override": browser.get("/students/2022002").text,
             "queue": browser.get("/queue/2.5?student=2022001").text}
    with Gradebook(book_path) as book:
        write_outputs(book_path.parent, book)
    pages["report"] = (book_path.parent / "students" / "2022001.html").read_text(encoding="utf-8")
    pages["override report"] = (book_path.parent / "students" / "2022002.html").read_text(encoding="utf-8")
    for name, page in pages.items():
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page, name
        assert "<script>alert" not in page and "<img src=x" not in page, name
    assert json.loads((book_path.parent / "results.json").read_text())  # still valid JSON with it


def test_the_integrity_flag_shows_the_flagged_cells_code_escaped(book_path):
    source = 'print(torch.tensor([[-15.7290,  14.7198]]))  # <b>"계산"</b>'
    note = ("cell 12 prints tensor([[-15.7290,  14.7198]]) (the reference's gradient at update 1 (Adam)) equal to the "
            "reference, but no recorded computation produced them")
    flagged = review_book.submission("2022001").model_copy(update={
        "flags": ["integrity"], "integrity": [IntegrityFlag(cell=12, note=note, source=source)]})
    with Gradebook(book_path) as book:
        book.store(flagged)
        assert book.result("2022001").integrity == flagged.integrity
        write_outputs(book_path.parent, book)
    shown = ('<div class="flagged-cell" id="integrity-cell-12"><p>cell 12 prints tensor([[-15.7290,  14.7198]]) (the '
             "reference&#39;s gradient at update 1 (Adam)) equal to the reference, but no recorded computation produced "
             'them</p>\n<p class="muted">cell 12 as submitted:</p>\n<pre>print(torch.tensor([[-15.7290,  14.7198]]))  '
             "# &lt;b&gt;&#34;계산&#34;&lt;/b&gt;</pre></div>")
    assert shown in client(book_path).get("/students/2022001").text
    assert shown in (book_path.parent / "students" / "2022001.html").read_text(encoding="utf-8")
    summary = (book_path.parent / "index.html").read_text(encoding="utf-8")
    assert "<li>cell 12 prints tensor([[-15.7290,  14.7198]])" in summary and "계산" not in summary


# -- two TAs at once -------------------------------------------------------------------------------


def test_a_stale_edit_is_refused_and_names_who_changed_it(book_path):
    kim, lee = client(book_path, "Kim"), client(book_path, "Lee")
    kim_page = kim.get("/queue/2.5?student=2022001").text
    lee_page = lee.get("/queue/2.5?student=2022001").text
    assert score(kim, "2022001", "2.5", "5", rev=revision(kim_page), then="queue").status_code == 303
    refused = score(lee, "2022001", "2.5", "2", "two ideas missing", rev=revision(lee_page), then="queue")
    assert refused.status_code == 409
    action, said, typed = rejected(refused.text)
    assert (action, typed) == ("/students/2022001/items/2.5/score", {"points": "2", "comment": "two ideas missing", "reason": ""})
    assert re.fullmatch(r"Kim gave 2022001 5 points for item 2.5 at \S+, after you opened this page; your score was "
                        r"not saved. Reload to see theirs, then score again if you disagree This page shows the item "
                        r"as it is now; what you typed is kept, and saving it again replaces the current score.", said)
    assert totals(book_path)["2022001"] == 49.0
    # the page shown is as of now: Kim's 5, and a form made against it, so Lee may replace it on purpose
    assert "<strong>5 / 6</strong> <span class=\"muted\">by Kim</span>" in refused.text
    assert revision(refused.text) == revision_of(book_path, "2022001", "2.5")
    assert score(lee, "2022001", "2.5", "4", "two ideas missing", rev=revision(refused.text)).status_code == 303
    with Gradebook(book_path) as book:
        assert [(e["by"], e["points"], e["previous"]) for e in book.history("2022001")] == [
            ("Kim", 5.0, None), ("Lee", 4.0, 5.0)]


def test_two_tas_scoring_at_once_lose_nothing(book_path):
    """Each TA's server has its own connections; every write takes the lock, none waits in vain."""
    tas = {name: client(book_path, name) for name in ("Kim", "Lee")}
    work = {"Kim": [("2022001", "2.5", "5"), ("2022002", "2.2", "3"), ("2022003", "1.3", "7")],
            "Lee": [("2022002", "2.5", "2"), ("2022003", "2.5", "6"), ("2022001", "3.1", "2")]}
    errors: list[str] = []

    def grade(name: str) -> None:
        for student, item, points in work[name]:
            response = score(tas[name], student, item, points, "reviewed", rev=revision_of(book_path, student, item),
                             reason="checked by hand")
            if response.status_code != 303:
                errors.append(f"{name} {student} {item}: {response.status_code}")

    threads = [threading.Thread(target=grade, args=(name,)) for name in tas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Gradebook(book_path) as book:
        scored = {(e["by"], student, e["item"], e["points"]) for student in ("2022001", "2022002", "2022003")
                  for e in book.history(student)}
    assert scored == {("Kim", "2022001", "2.5", 5.0), ("Kim", "2022002", "2.2", 3.0), ("Kim", "2022003", "1.3", 7.0),
                      ("Lee", "2022002", "2.5", 2.0), ("Lee", "2022003", "2.5", 6.0), ("Lee", "2022001", "3.1", 2.0)}
    assert totals(book_path) == {"2022001": 51.0, "2022002": 43.0, "2022003": 57.0, "2022004": 48.0}


# -- regrades ----------------------------------------------------------------------------------------


class FixedRubricRegrader:
    """Stands in for grading again after a rubric fix: 2022002's 2.2 now passes, and 1.2 fails."""

    def __init__(self) -> None:
        self.graded: list[str] = []

    def grade(self, student: str):
        self.graded.append(student)
        result = review_book.submission(student, graded_at="2026-11-28T10:00:00+00:00")
        for item in result.items:
            if item.id == "2.2":
                item.points, item.status, item.message = 6.0, "pass", "✓"
            if item.id == "1.2":
                item.points, item.status, item.message = 0.0, "fail", "no dls"
        return result, None, None


def wait_for_regrade(book_path: Path, student: str) -> None:
    for _ in range(100):
        with Gradebook(book_path) as book:
            if book.latest_regrade(student).state != "running":
                return
        time.sleep(0.05)
    raise AssertionError("the regrade did not finish")


def test_a_regrade_shows_the_change_and_stores_it_only_when_accepted(book_path):
    regrader = FixedRubricRegrader()
    browser = client(book_path, "Kim", regrader)
    scored = browser.get("/queue/2.5?student=2022002").text
    assert score(browser, "2022002", "2.5", "3", rev=revision(scored)).status_code == 303  # kept across the regrade
    started = browser.post("/students/2022002/regrade", data={"csrf": TOKEN}, follow_redirects=False)
    assert (started.status_code, started.headers["location"]) == (303, "/students/2022002#regrade")
    wait_for_regrade(book_path, "2022002")
    page = browser.get("/students/2022002").text
    changes = re.search(r'<table id="changes">(.*?)</table>', page, re.S).group(1)
    changed = re.findall(r'<tr class="changed"><td>([\d.]+)</td>', changes)
    assert changed == ["1.2", "2.2"]
    assert '<th class="num" id="total-change">-0</th>' not in changes
    assert '<th class="num">43</th><th class="num">37</th><th class="num" id="total-change">-6</th>' in changes
    assert totals(book_path)["2022002"] == 43.0  # nothing stored yet

    refused = browser.post(re.search(r'action="(/regrades/\d+/accept)"', page).group(1),
                           data={"csrf": TOKEN, "reason": ""}, follow_redirects=False)
    assert (refused.status_code, message(refused.text)) == (400, "accepting a regrade needs a reason (what was fixed)")
    accepted = browser.post(re.search(r'action="(/regrades/\d+/accept)"', page).group(1),
                            data={"csrf": TOKEN, "reason": "rubric 2.2 tolerance fixed"}, follow_redirects=False)
    assert accepted.status_code == 303
    assert totals(book_path)["2022002"] == 37.0
    with Gradebook(book_path) as book:
        result = book.result("2022002")
        assert (result.graded_at, {i.id: i.points for i in result.items}["2.5"]) == ("2026-11-28T10:00:00+00:00", 3.0)
        assert [(e["kind"], e["item"], e["by"], e["previous"], e["points"], e["comment"], e["reason"])
                for e in book.history("2022002")] == [
            ("manual", "2.5", "Kim", None, 3.0, "", ""),
            ("regrade", "all", "Kim", 43.0, 37.0, "", "rubric 2.2 tolerance fixed")]
    assert regrader.graded == ["2022002"]
    again = browser.post(re.search(r'action="(/regrades/\d+/accept)"', page).group(1),
                         data={"csrf": TOKEN, "reason": "twice"}, follow_redirects=False)
    assert again.status_code == 409 and "is accepted by Kim" in message(again.text)


def test_a_discarded_regrade_changes_nothing(book_path):
    browser = client(book_path, "Kim", FixedRubricRegrader())
    browser.post("/students/2022002/regrade", data={"csrf": TOKEN})
    wait_for_regrade(book_path, "2022002")
    page = browser.get("/students/2022002").text
    discarded = browser.post(re.search(r'action="(/regrades/\d+/discard)"', page).group(1), data={"csrf": TOKEN},
                             follow_redirects=False)
    assert discarded.status_code == 303
    assert totals(book_path) == TOTALS
    with Gradebook(book_path) as book:
        assert (book.latest_regrade("2022002").state, book.history("2022002")) == ("discarded", [])


def test_an_edit_made_before_a_regrade_was_accepted_is_stale(book_path):
    kim = client(book_path, "Kim", FixedRubricRegrader())
    lee = client(book_path, "Lee")
    lee_page = lee.get("/students/2022002").text
    lee_revision = re.search(r'action="/students/2022002/items/2.2/score".*?name="revision" value="([^"]+)"',
                             lee_page, re.S).group(1)
    kim.post("/students/2022002/regrade", data={"csrf": TOKEN})
    wait_for_regrade(book_path, "2022002")
    accept = re.search(r'action="(/regrades/\d+/accept)"', kim.get("/students/2022002").text).group(1)
    assert kim.post(accept, data={"csrf": TOKEN, "reason": "fix"}, follow_redirects=False).status_code == 303
    refused = score(lee, "2022002", "2.2", "5", "partly right", rev=lee_revision, reason="sign only")
    assert refused.status_code == 409
    assert rejected(refused.text) == (
        "/students/2022002/items/2.2/score", "2022002 was graded again at 2026-11-28T10:00:00+00:00, after you opened "
        "this page; reload it to see the new results, then score again This page shows the item as it is now; what "
        "you typed is kept, and saving it again replaces the current score.",
        {"points": "5", "comment": "partly right", "reason": "sign only"})


def test_a_failed_regrade_says_why(book_path):
    class Broken:
        def grade(self, student):
            from grader.review.regrade import RegradeError
            raise RegradeError("no submission of 2022002 in /gone any more; restore it there to regrade it")

    browser = client(book_path, "Kim", Broken())
    browser.post("/students/2022002/regrade", data={"csrf": TOKEN})
    wait_for_regrade(book_path, "2022002")
    assert ("The regrade asked by Kim at" in (page := browser.get("/students/2022002").text)
            and "failed: no submission of 2022002 in /gone any more; restore it there to regrade it" in page)
    assert totals(book_path) == TOTALS


def test_without_sources_regrades_are_off(book_path):
    browser = client(book_path)
    assert "Regrades are off" in browser.get("/students/2022001").text
    refused = browser.post("/students/2022001/regrade", data={"csrf": TOKEN}, follow_redirects=False)
    assert refused.status_code == 400


# -- exports -------------------------------------------------------------------------------------------


def test_export_and_reports_use_the_latest_values(book_path):
    browser = client(book_path)
    score(browser, "2022001", "2.5", "5")
    score(browser, "2022002", "2.2", "6", "same gradient, other sign convention", reason="sign convention")
    exported = browser.get("/export/grades.csv")
    assert exported.headers["content-disposition"] == 'attachment; filename="grades.csv"'
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")))}
    assert {student: (row["name"], row["2.5"], row["2.2"], row["total"]) for student, row in rows.items()} == {
        "2022001": (NAMES["2022001"], "5", "6", "49"), "2022002": (NAMES["2022002"], "0", "6", "44"),
        "2022003": (NAMES["2022003"], "0", "6", "44"), "2022004": (NAMES["2022004"], "4", "6", "48")}
    published = browser.post("/publish", data={"csrf": TOKEN}, follow_redirects=False)
    assert (published.status_code, published.headers["location"]) == (303, "/?published=1")
    document = json.loads((book_path.parent / "results.json").read_text(encoding="utf-8"))
    assert {s["student"]: s["total"] for s in document["submissions"]} == {
        "2022001": 49.0, "2022002": 44.0, "2022003": 44.0, "2022004": 48.0}


# -- `grader review` ---------------------------------------------------------------------------------


def test_grader_review_serves_until_ctrl_c_then_writes_the_reports(book_path):
    import os
    import signal
    import subprocess
    import sys

    import httpx

    out = book_path.parent
    server = subprocess.Popen([sys.executable, "-m", "grader", "review", "--ta", "Kim", "--out", str(out)],
                              stderr=subprocess.PIPE, text=True, cwd=out)
    try:
        lines = []
        while not (lines and lines[-1].startswith("open http://127.0.0.1:")):
            line = server.stderr.readline()
            assert line, f"grader review stopped: {''.join(lines)}"
            lines.append(line)
        assert lines[0].startswith("regrades are off: this gradebook does not say where its rubric and submissions")
        url = lines[-1].removeprefix("open ").strip()
        with httpx.Client(follow_redirects=True) as http:
            assert http.get(url.split("?")[0]).status_code == 403
            page = http.get(url)
            assert page.status_code == 200 and "grading as <strong id=\"ta\">Kim</strong>" in page.text
            form = http.get(url.split("?")[0] + "queue/2.5").text
            saved = http.post(url.split("?")[0] + "students/2022001/items/2.5/score",
                              data={"csrf": url.split("token=")[1], "points": "6", "revision": revision(form)})
            assert saved.status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        remaining = server.communicate(timeout=30)[1]
    assert server.returncode == 0, remaining
    assert f"results.json and the reports in {out} show every change" in remaining
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert {s["student"]: s["total"] for s in document["submissions"]}["2022001"] == 50.0
    assert os.path.isfile(out / "students" / "2022001.html")


@pytest.mark.parametrize("args, expected", [
    (["--ta", "Kim", "--out", "nowhere"], "no gradebook at nowhere/gradebook.sqlite; run `grader grade … --out "
                                          "nowhere` first, or pass --gradebook"),
    (["--ta", " ", "--out", "{out}"], "--ta: give your name; it is stored with every change you make"),
])
def test_grader_review_refuses_what_it_cannot_serve(book_path, args, expected):
    from typer.testing import CliRunner

    from grader.cli import app

    done = CliRunner().invoke(app, ["review", *[arg.replace("{out}", str(book_path.parent)) for arg in args]])
    assert done.exit_code == 2
    assert re.sub(r"\s+", " ", done.output.replace("error: ", "")).strip() == expected


def test_stopping_the_server_stops_a_regrade_and_records_why(book_path):
    class Slow:
        def __init__(self) -> None:
            self.stopped = threading.Event()

        def grade(self, student):
            assert self.stopped.wait(timeout=30), "never stopped"
            raise KeyboardInterrupt  # what a cancelled kernel run raises

        def stop(self) -> None:
            self.stopped.set()

    regrader = Slow()
    config = ReviewConfig(gradebook=book_path, ta="Kim", out=book_path.parent, token=TOKEN, regrader=regrader,
                          allowed_hosts=("testserver",))
    with TestClient(create_app(config)) as browser:  # the block's end shuts the app down, as Ctrl-C does
        browser.get(f"/?token={TOKEN}")
        browser.post("/students/2022003/regrade", data={"csrf": TOKEN})
    assert regrader.stopped.is_set()
    with Gradebook(book_path) as book:
        regrade = book.latest_regrade("2022003")
    assert (regrade.state, regrade.error) == ("failed", "stopped: the review server that ran it was shut down; run "
                                                        "it again")
    assert totals(book_path) == TOTALS
