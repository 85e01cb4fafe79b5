"""Students' feedback: what a student may see of a result, and nothing of what only a TA may."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from grader.gradebook import Gradebook, RubricSummary
from grader.report import feedback_html, feedback_text, write_feedback
from grader.results import (CellRun, CheckResult, Figure, IntegrityFlag, ItemResult, ManualScore, Printed,
                            SubmissionResult)

# The midterm's items (rubrics/dl2022-midterm/rubric.yaml). 2.1 is made public here, so that the list of
# checks, the one place where check results are shown one by one, is tested for leaks too.
SUMMARY = RubricSummary(
    id="dl2022-midterm", title="DL2022 중간고사 (Midterm)", hash="sha256:5f1e0c9a2b7d4e6f8a1c3b5d7e9f0a2c", total=100,
    assets="synthetic stand-ins for resnet34 weights", items=[
        {"id": "1.1", "title": "Images crawled for two keywords (neither iu nor hynn)", "points": 10,
         "visibility": "hidden", "kinds": ["image_folder"] * 3},
        {"id": "1.2", "title": "dls from ImageDataLoaders.from_folder", "points": 10, "visibility": "hidden",
         "kinds": ["dataloaders"]},
        {"id": "1.3", "title": "resnet34 trained", "points": 15, "visibility": "hidden", "kinds": ["learner"] * 2},
        {"id": "1.4", "title": "CAM of the trained model", "points": 15, "visibility": "hidden", "kinds": ["cam"] * 2},
        {"id": "2.1", "title": "Linear network with initial prediction -5 + 10x", "points": 6, "visibility": "public",
         "kinds": ["module", "tensor"]},
        {"id": "2.2", "title": "Adam (lr=0.1): gradient at (-5, 10) and one update", "points": 6,
         "visibility": "hidden", "kinds": ["optimizer_trace"] * 3},
        {"id": "2.3", "title": "Five Adam updates in total with the same optimizer", "points": 6,
         "visibility": "hidden", "kinds": ["optimizer_trace"]},
        {"id": "2.4", "title": "SGD (lr=0.2): ten more updates", "points": 6, "visibility": "hidden",
         "kinds": ["optimizer_trace"] * 2},
        {"id": "2.5", "title": "Has it converged? (argue from the gradient)", "points": 6, "visibility": "hidden",
         "kinds": ["manual"]},
        *({"id": f"3.{n}", "title": title, "points": 2, "visibility": "hidden", "kinds": ["true_false"]} for n, title in [
            (1, "(1) X has shape (n,1,28,28)"), (2, "(2) the loss is CrossEntropyLoss"),
            (3, "(3) transfer learning with resnet34"), (4, "(4) lrnr.model and X[0] are on the GPU"),
            (5, "(5) softmax of the output is near [0, 1]"), (6, "(6) Linear(1, 1, bias=True) has 2 parameters"),
            (7, "(7) Linear(4, 1) and Conv2d(1, 1, 2x2) have equally many parameters"),
            (8, "(8) two stacked Linear layers approximate any function"), (9, "(9) Dropout(0.9) zeroes 10% of inputs"),
            (10, "(10) the BCE loss of a logistic model is convex")]),
    ])
KEYS = {"3.1": False, "3.2": True, "3.3": True, "3.4": True, "3.5": False, "3.6": True, "3.7": True, "3.8": False,
        "3.9": False, "3.10": True}
GUIDANCE = ("The last gradient is close to 0, so it has converged; the loss is convex, so that point is the "
            "global minimum.")
KEYWORDS = ["미분|기울기|gradient|derivative", "거의 0|0에 가깝|close to 0|near 0|almost 0|≈ 0|≈0", "수렴|converge",
            "convex|볼록", "global minimum|전역|최소"]
NOTES = ["cell 12 prints [[-15.7290, 14.7198]], equal to the reference's first prediction, but no recorded "
         "computation produced it",
         "this machine has no GPU: the notebook's CUDA calls (.cuda()) ran on the CPU (--cpu-fallback)"]
# The reference's numbers, as the TA's report and the checks' detail write them.
REFERENCE_NUMBERS = ["15.7290", "-15.729", "14.7198", "4.5006", "9.5008", "2.4925", "3.9607"]
HOSTILE = "<script>alert(1)</script>"
FLAGGED_SOURCE = "print(torch.tensor([[-15.7290,  14.7198]]))  # 계산 대신 출력"  # the cell behind the integrity flag


def item(item_id: str, points: float, status: str, message: str, **more) -> ItemResult:
    spec = next(spec for spec in SUMMARY.items if spec["id"] == item_id)
    return ItemResult(id=item_id, title=spec["title"], points=points, max_points=spec["points"], status=status,
                      message=message, **{"evidence": "executed", **more})


def check(name: str, points: float, max_points: float, message: str = "", **detail) -> CheckResult:
    return CheckResult(name=name, points=points, max_points=max_points, passed=points == max_points, message=message,
                       detail=detail)


def true_false(item_id: str, answer: bool | None) -> ItemResult:
    if answer is None:
        message = "no True/False answer could be read from: \u201c잘 모르겠음\u201d"
        return item(item_id, 0, "fail", message, checks=[check("true or false", 0, 2, message, source="잘 모르겠음")])
    points = 2 if answer == KEYS[item_id] else 0
    message = f"answer read as {answer}"
    return item(item_id, points, "pass" if points else "fail", message, answer=str(answer), evidence="stored",
                checks=[check("true or false", points, 2, message, read=answer, token="O" if answer else "X",
                              source=f"({item_id.split('.')[1]}) {'O' if answer else 'X'}", key=KEYS[item_id])])


def manual_check() -> CheckResult:
    return CheckResult(name="argument from the gradient", points=0, max_points=6, passed=None,
                       message="waiting for a TA to grade this answer",
                       detail={"guidance": GUIDANCE, "keywords": KEYWORDS, "keywords_found": [], "suggested_points": 0})


def problems_1_and_2() -> list[ItemResult]:
    return [
        item("1.1", 10, "pass", "✓ two class folders · ✓ keywords other than iu and hynn · ✓ at least 20 images per keyword"),
        item("1.2", 10, "pass", "✓ dls from ImageDataLoaders.from_folder, two classes"),
        item("1.3", 11.5, "partial", "✓ a resnet34 learner · ✗ trained at least one epoch: these cells did not re-run; "
             "the submitted notebook shows 2 epoch(s) of training (not verified: 50% of the points)",
             checks=[check("a resnet34 learner", 8, 8), check("trained at least one epoch", 3.5, 7, stored_epochs=[0, 1])]),
        item("1.4", 5, "partial", "✓ a heatmap overlaid on an image · ✗ agrees with the model's class activation map: "
             "the heatmap does not agree with the model's class activation map",
             checks=[check("a heatmap overlaid on an image", 5, 5),
                     check("agrees with the model's class activation map", 0, 10, min_rank_correlation=0.8,
                           rank_correlation=0.31, min_top_overlap=0.6)],
             figures=[Figure(title="the grader's CAM", png="data:image/png;base64,iVBORw0KGgo=", caption="reference map")]),
        item("2.1", 6, "pass", "✓ net is Linear(in_features=2, out_features=1, bias=False) · ✓ first prediction is -5 + 10x",
             checks=[check("net is Linear(in_features=2, out_features=1, bias=False)", 3, 3, expected="Linear"),
                     check("first prediction is -5 + 10x", 3, 3, expected=[[-15.729, 14.7198]],
                           got=[[-15.72899, 14.71984]], tolerance={"rtol": 1e-5, "atol": 1e-4}, max_abs_diff=1e-5,
                           where=[0, 0])],
             printed=[Printed(cell=12, text="tensor([[-15.7290], [14.7198]])", values=[-15.729, 14.7198])]),
        item("2.2", 4, "partial", "✓ optimizer is Adam with lr=0.1 · ✓ gradient of the MSE loss at (-5, 10) · "
             "✗ weights after one update: weights after update 1: 2 of 2 value(s) outside the tolerance",
             checks=[check("optimizer is Adam with lr=0.1", 2, 2, expected={"class": "Adam", "lr": 0.1}),
                     check("gradient of the MSE loss at (-5, 10)", 2, 2, expected=[-4.5006, 9.5008]),
                     check("weights after one update", 0, 2, "weights after update 1: 2 of 2 value(s) outside the "
                           "tolerance", expected=[-4.9, 10.1], got=[-4.8, 10.2])]),
        item("2.3", 6, "pass", "✗ weights after five updates of the optimizer from (2): 6 updates were made, not 5",
             checks=[check("weights after five updates of the optimizer from (2)", 0, 6, "6 updates were made, not 5",
                           expected=[2.4925, 3.9607], got=[2.3, 3.8])],
             manual=ManualScore(points=6, comment="셀 14에서 갱신을 한 번 더 출력만 했음: 5번 갱신이 맞음", by="ta-kim",
                                at="2022-11-01T09:00:00+00:00", kind="override", automatic_points=0)),
        item("2.4", 0, "not-reached", "not reached: cell 9 ran past its time limit and could not be interrupted"),
    ]


GRADED_ITEMS = [
    *problems_1_and_2(),
    item("2.5", 5, "partial", "waiting for a TA to grade this answer", evidence="stored",
         answer="학습률을 줄이자 값이 더 이상 변하지 않는다", checks=[manual_check()],
         manual=ManualScore(points=5, comment="손실함수의 성질을 언급하지 않음", by="ta-kim", at="2022-11-01T09:05:00+00:00",
                            kind="manual")),
    *(true_false(item_id, answer) for item_id, answer in [
        ("3.1", False), ("3.2", True), ("3.3", True), ("3.4", False), ("3.5", False), ("3.6", None), ("3.7", True),
        ("3.8", False), ("3.9", True), ("3.10", True)]),
]
GRADED = SubmissionResult(
    student="홍길동(2022001)", name="홍길동", student_id="2022001", file="/srv/grading/submissions/홍길동(2022001).ipynb",
    status="needs-review", total=sum(i.points for i in GRADED_ITEMS), max=100,
    flags=["timeout", "integrity", "cpu-fallback"], notes=NOTES[1:], items=GRADED_ITEMS,
    integrity=[IntegrityFlag(cell=12, note=NOTES[0], source=FLAGGED_SOURCE)],
    notebook_hash="sha256:9c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee", rubric_hash=SUMMARY.hash,
    cells=[CellRun(cell=3, status="ok"), CellRun(cell=7, status="error", error="NameError: name 'optimzr' is not defined"),
           CellRun(cell=9, status="timeout", error="stopped after the 300 s limit per cell"),
           CellRun(cell=10, status="not-run")],
    graded_at="2022-11-01T08:00:00+00:00",
)

PENDING_ITEMS = [
    *problems_1_and_2()[:-1],
    item("2.4", 6, "pass", "✓ optimizer is SGD with lr=0.2 · ✓ weights after ten more updates"),
    item("2.5", 0, "manual", "waiting for a TA to grade this answer", evidence="stored", answer=f"{HOSTILE} 잘 모르겠습니다",
         checks=[manual_check()]),
    *(true_false(item_id, answer) for item_id, answer in KEYS.items()),
]
PENDING = SubmissionResult(
    student="김철수(2022002)", name="김철수", student_id="2022002", file="submissions/김철수(2022002).zip",
    status="needs-review", total=sum(i.points for i in PENDING_ITEMS), max=100, flags=["several-notebooks"],
    notes=["2 notebooks in the zip and none matches '*.ipynb'; graded the newest, midterm (1).ipynb"],
    items=PENDING_ITEMS, notebook_hash="sha256:feedfeedfeed", rubric_hash=SUMMARY.hash,
    cells=[CellRun(cell=5, status="error", error=f"ValueError: {HOSTILE}\n  File \"/tmp/grading/run/x.py\", line 3")],
)

UNREADABLE = "the notebook could not be read: it is not valid JSON (line 1, column 1)"
ERROR = SubmissionResult(
    student="2022003", file="submissions/2022003.ipynb", status="error", total=0, max=100, error=UNREADABLE,
    items=[ItemResult(id=spec["id"], title=spec["title"], points=0, max_points=spec["points"], status="error",
                      message=UNREADABLE, evidence="stored") for spec in SUMMARY.items],
    notebook_hash="sha256:0000", rubric_hash=SUMMARY.hash,
)
RESULTS = [GRADED, PENDING, ERROR]


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("feedback")
    paths = write_feedback(out, SUMMARY, RESULTS)
    assert paths == [out / f"{result.student}.html" for result in RESULTS]
    return {result.student: path.read_text(encoding="utf-8") for result, path in zip(RESULTS, paths)}


def shown(text: str) -> str:
    return str(escape(text))


def ta_only() -> list[str]:
    """What must never reach a student: the reference's numbers, the rubric's internals, the TA's notes."""
    titles = " ".join(spec["title"] for spec in SUMMARY.items).casefold()
    # Each keyword idea, and each of its words, except the words the exam's own titles use ("gradient", "convex").
    words = [word for idea in KEYWORDS for word in idea.split("|") if word.casefold() not in titles]
    return [*REFERENCE_NUMBERS, GUIDANCE, *KEYWORDS, *words, "integrity", *NOTES, FLAGGED_SOURCE, "계산 대신 출력",
            "12 prints", "sha256",
            "/srv/grading", "/tmp/grading", "submissions/", "data:image", "the grader's CAM", "reference map",
            "optimizer_trace", "true_false", "image_folder", "atol", "rtol", "min_rank_correlation", "0.31",
            "stored_epochs", "synthetic", "dl2022-midterm", "ta-kim", "suggested"]


@pytest.mark.parametrize("result", RESULTS, ids=["graded", "pending", "error"])
def test_nothing_only_for_the_ta_is_written(pages, result):
    for text in (pages[result.student], feedback_text(SUMMARY, result)):
        leaked = [secret for secret in ta_only() if secret.casefold() in text.casefold()]
        assert leaked == []
        assert not re.search(r"\bkey\b", text, re.IGNORECASE)


def test_the_page_shows_the_grade_each_item_and_the_students_errors(pages):
    page = pages[GRADED.student]
    assert GRADED.total == 71.5
    for expected in [
        '<html lang="ko">', "<title>홍길동 · DL2022 중간고사 (Midterm)</title>", "<h1>홍길동</h1>",
        "DL2022 중간고사 (Midterm) · student id 2022001", '<span class="score">71.5 / 100</span>',
        '<div class="ok">graded</div>',  # held for the integrity review, which is the TA's business
        "<li>A cell ran past its time limit and was stopped.</li>",
        '<tr><td class="num">7</td><td>raised an error</td><td><code>NameError: name &#39;optimzr&#39; is not defined'
        "</code></td></tr>",
        '<tr><td class="num">9</td><td>stopped at the time limit</td><td><code>stopped after the 300 s limit per cell'
        "</code></td></tr>",
        "<h2>Problem 1 · 36.5 / 50</h2>", "<h2>Problem 2 · 21 / 30</h2>", "<h2>Problem 3 · 14 / 20</h2>",
        '<strong>11.5 / 15</strong> <span class="badge partial">part of the points</span>',
        '<strong>0 / 6</strong> <span class="badge not-reached">not reached</span>',
        # 2.5: scored by a TA, with the comment; the student's own answer beside it
        "<h3>2.5 · Has it converged? (argue from the gradient)</h3>",
        '<strong>5 / 6</strong> <span class="badge partial">part of the points</span>',
        '<div class="answer">학습률을 줄이자 값이 더 이상 변하지 않는다</div>',
        "<p><strong>Graded by a TA: 손실함수의 성질을 언급하지 않음</strong></p>",
        # 2.3: an override, with the automatic score it replaced
        "<p><strong>Changed by a TA from 0 points: 셀 14에서 갱신을 한 번 더 출력만 했음: 5번 갱신이 맞음</strong></p>",
        # true/false: the answer as read, said once
        '<div class="card" id="item-3.1">\n  <div class="head"><h3>3.1 · (1) X has shape (n,1,28,28)</h3>\n'
        '  <div><strong>2 / 2</strong> <span class="badge pass">full points</span></div></div>\n'
        "  <p>answer read as False</p>\n</div>",
        '<div class="card" id="item-3.6">\n  <div class="head"><h3>3.6 · (6) Linear(1, 1, bias=True) has 2 parameters'
        '</h3>\n  <div><strong>0 / 2</strong> <span class="badge fail">no points</span></div></div>\n'
        "  <p>no True/False answer could be read from: “잘 모르겠음”</p>\n</div>",
        # the public item's checks, by name and verdict
        '<span class="ok">✓</span> first prediction is -5 + 10x', "<td class=\"num\">3 / 3</td>",
    ]:
        assert expected in page
    assert "This grader has no GPU: the notebook&#39;s .cuda() and .to(&#39;cuda&#39;) calls ran on the CPU instead." in page
    for result_item in GRADED.items:
        if result_item.id != "2.5":  # its message still says it waits for a TA; the page says who graded it
            assert f"<p>{shown(result_item.message)}</p>" in page
    assert "waiting for a TA" not in page
    assert page.count("read as") == 9  # once for each of the ten true/false items that was read, 3.6 was not


def test_hidden_items_show_no_checks(pages):
    page = pages[GRADED.student]
    checks = '<tr><th>check</th><th class="num">points</th></tr>'
    assert page.count(checks) == 1
    assert page.index('id="item-2.1"') < page.index(checks) < page.index('id="item-2.2"')  # the public item's


def test_the_page_is_self_contained():
    page = feedback_html(SUMMARY, GRADED)
    assert "<style>" in page and ":root {" in page
    assert not re.search(r"\b(src|href)\s*=|@import|url\(|https?:", page)


def test_pending_and_ungraded_submissions_say_so_in_words(pages):
    pending = pages[PENDING.student]
    assert '<div class="wait">some answers are still being graded by a TA</div>' in pending
    assert '<strong>– / 6</strong> <span class="badge manual">to be graded</span>' in pending  # not "0 / 6, no points"
    assert "<li>The submission holds several notebooks; the newest one was graded.</li>" in pending
    error = pages[ERROR.student]
    assert "<h1>2022003</h1>" in error and "student id" not in error
    assert f'<div class="bad">could not be graded: {UNREADABLE}</div>' in error
    assert error.count(f"<p>{UNREADABLE}</p>") == len(SUMMARY.items)


def test_what_a_student_wrote_is_escaped(pages):
    page = pages[PENDING.student]
    assert "<script" not in page
    assert f'<div class="answer">{shown(HOSTILE)} 잘 모르겠습니다</div>' in page
    assert f"<td><code>ValueError: {shown(HOSTILE)}</code></td>" in page  # the first line of the error only


def test_feedback_text_is_one_line_per_item_and_the_total():
    assert feedback_text(SUMMARY, GRADED) == "\n".join([
        "A cell ran past its time limit and was stopped.",
        "This grader has no GPU: the notebook's .cuda() and .to('cuda') calls ran on the CPU instead.",
        "cell 7 raised an error: NameError: name 'optimzr' is not defined",
        "cell 9 stopped at the time limit: stopped after the 300 s limit per cell",
        "1.1 (10/10) ✓ two class folders · ✓ keywords other than iu and hynn · ✓ at least 20 images per keyword",
        "1.2 (10/10) ✓ dls from ImageDataLoaders.from_folder, two classes",
        "1.3 (11.5/15) ✓ a resnet34 learner · ✗ trained at least one epoch: these cells did not re-run; the submitted "
        "notebook shows 2 epoch(s) of training (not verified: 50% of the points)",
        "1.4 (5/15) ✓ a heatmap overlaid on an image · ✗ agrees with the model's class activation map: the heatmap "
        "does not agree with the model's class activation map",
        "2.1 (6/6) ✓ net is Linear(in_features=2, out_features=1, bias=False) · ✓ first prediction is -5 + 10x",
        "2.2 (4/6) ✓ optimizer is Adam with lr=0.1 · ✓ gradient of the MSE loss at (-5, 10) · ✗ weights after one "
        "update: weights after update 1: 2 of 2 value(s) outside the tolerance",
        "2.3 (6/6) ✗ weights after five updates of the optimizer from (2): 6 updates were made, not 5 · Changed by a "
        "TA from 0 points: 셀 14에서 갱신을 한 번 더 출력만 했음: 5번 갱신이 맞음",
        "2.4 (0/6) not reached: cell 9 ran past its time limit and could not be interrupted",
        "2.5 (5/6) Graded by a TA: 손실함수의 성질을 언급하지 않음",
        "3.1 (2/2) answer read as False", "3.2 (2/2) answer read as True", "3.3 (2/2) answer read as True",
        "3.4 (0/2) answer read as False", "3.5 (2/2) answer read as False",
        "3.6 (0/2) no True/False answer could be read from: \u201c잘 모르겠음\u201d", "3.7 (2/2) answer read as True",
        "3.8 (2/2) answer read as False", "3.9 (0/2) answer read as True", "3.10 (2/2) answer read as True",
        "Total: 71.5/100",
    ])


def test_a_late_deduction_is_shown_with_the_total_it_explains():
    note = ("late: submitted 2022-04-21T02:30:00+00:00, 11 h 31 min after the deadline (2022-04-20T23:59+09:00); "
            "10 min grace; −10 points (10% of 100 per day started after the grace, at most 50%)")
    late = GRADED.model_copy(update={"total": GRADED.total - 10, "late_deduction": 10.0, "late_note": note})
    page = feedback_html(SUMMARY, late)
    assert (f'<div class="card"><strong>Late.</strong> {note} <strong>The total above is after this deduction.'
            '</strong></div>') in page
    assert f'<span class="score">{late.total:g} / 100</span>' in page
    lines = feedback_text(SUMMARY, late).splitlines()
    assert f"{note} (the total is after the −10)" in lines and lines[-1] == f"Total: {late.total:g}/100"
    nothing = late.model_copy(update={"total": GRADED.total, "late_deduction": 0.0,
                                      "late_note": "late: submitted …; the rubric deducts nothing"})
    assert "The total above is after" not in feedback_html(SUMMARY, nothing)


def test_feedback_text_of_pending_and_ungraded_submissions():
    pending = feedback_text(SUMMARY, PENDING).splitlines()
    assert pending[:3] == ["some answers are still being graded by a TA",
                           "The submission holds several notebooks; the newest one was graded.",
                           f"cell 5 raised an error: ValueError: {HOSTILE}"]
    assert "2.5 (–/6) waiting for a TA to grade this answer" in pending
    assert pending[-1] == f"Total: {PENDING.total:g}/100"
    error = feedback_text(SUMMARY, ERROR).splitlines()
    assert error[0] == f"could not be graded: {UNREADABLE}"
    assert error[1] == f"1.1 (0/10) {UNREADABLE}" and error[-1] == "Total: 0/100"


def test_written_from_the_gradebook_with_manual_scores_applied(tmp_path):
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        book.bind_rubric(SUMMARY)
        book.store(PENDING)
        book.set_score(PENDING.student, "2.5", 4, "기울기 언급이 필요함", by="ta-kim")
        [path] = write_feedback(tmp_path / "feedback", book.rubric(), book.results())
    page = path.read_text(encoding="utf-8")
    assert path.name == f"{PENDING.student}.html"
    assert f'<span class="score">{PENDING.total + 4:g} / 100</span>' in page
    assert '<div class="ok">graded</div>' in page
    assert "<p><strong>Graded by a TA: 기울기 언급이 필요함</strong></p>" in page
    assert GUIDANCE not in page and KEYWORDS[0] not in page and "ta-kim" not in page
