"""A TA's comment goes to the student; the reason stays with staff (TA pages, the history, results.json).

Scores are given through `grader set` and the review pages, then every output a student may be handed is written:
feedback pages, Gradescope's results, Moodle's grade CSV and feedback zip, the Canvas import. No kernels.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from grader.batch import rubric_summary
from grader.gradebook import Gradebook
from grader.review.app import ReviewConfig, create_app
from grader.rubric import load_rubric
from tests import review_book
from tests.conftest import run_cli

LMS = Path(__file__).parent / "lms"
TOKEN = "secret-token"
# Distinctive texts, one per way of scoring: a reason quoting the reference's value, as a TA once wrote.
CLI_COMMENT, CLI_REASON = "출력 형식만 다름: 감점 없음", "reference prints -15.7290 there (CLI)"
WEB_COMMENT, WEB_REASON = "가중치 갱신 횟수 확인함", "key says 5 updates, got 6 (web override)"
QUEUE_COMMENT, QUEUE_REASON = "기울기 언급이 좋음", "guidance idea 3 missing (web queue)"
REASONS = (CLI_REASON, WEB_REASON, QUEUE_REASON)
# 2022001-2022003 came from a Moodle download (participant ids); all four are on the LMS files of tests/lms/.
PARTICIPANTS = {"2022001": "501", "2022002": "502", "2022003": "503"}


@pytest.fixture
def out(tmp_path) -> Path:
    folder = tmp_path / "run"
    with Gradebook(folder / "gradebook.sqlite") as book:
        book.bind_rubric(rubric_summary(load_rubric(review_book.RUBRIC)))
        for student in review_book.STUDENTS:
            book.store(review_book.submission(student).model_copy(update={
                "lms": "moodle" if student in PARTICIPANTS else None, "lms_user_id": PARTICIPANTS.get(student)}))
    return folder


def cli(out: Path, *args: str, check: bool = True):
    return run_cli(*args, "--out", str(out), env_cache=out / "cache", check=check)


def review(out: Path) -> TestClient:
    config = ReviewConfig(gradebook=out / "gradebook.sqlite", ta="TA Park", out=out, token=TOKEN,
                          allowed_hosts=("testserver",))
    browser = TestClient(create_app(config))
    assert browser.get(f"/?token={TOKEN}").status_code == 200
    return browser


def score_everywhere(out: Path) -> None:
    """An override by `grader set` (2022001's 2.2), an override from the student page (2022002's 2.3) and a
    manual score from the queue (2022003's 2.5), each with a comment and a reason."""
    cli(out, "set", "2022001", "2.2", "5", "--by", "TA Kim", "--comment", CLI_COMMENT, "--reason", CLI_REASON)
    browser = review(out)
    page = browser.get("/students/2022002").text
    form = re.search(r'<form method="post" action="/students/2022002/items/2.3/score".*?</form>', page, re.S).group()
    revision = re.search(r'name="revision" value="([^"]+)"', form).group(1)
    saved = browser.post("/students/2022002/items/2.3/score", follow_redirects=False, data={
        "csrf": TOKEN, "points": "4", "comment": WEB_COMMENT, "reason": WEB_REASON, "revision": revision})
    assert saved.status_code == 303
    queue = browser.get("/queue/2.5?student=2022003").text
    revision = re.search(r'name="revision" value="([^"]+)"', queue).group(1)
    saved = browser.post("/students/2022003/items/2.5/score", follow_redirects=False, data={
        "csrf": TOKEN, "points": "5", "comment": QUEUE_COMMENT, "reason": QUEUE_REASON, "revision": revision,
        "then": "queue"})
    assert saved.status_code == 303


def test_the_forms_label_which_text_the_student_reads(out):
    browser = review(out)
    page = browser.get("/students/2022002").text
    override = re.search(r'action="/students/2022002/items/2.3/score".*?</form>', page, re.S).group()
    assert ('<label>comment to the student (shown on their feedback) <input name="comment" size="40" value=""></label>'
            in override)
    assert ('<label>reason (staff only, required for an override) <input name="reason" size="30" value="" required></label>'
            in override)
    waiting = re.search(r'action="/students/2022002/items/2.5/score".*?</form>', page, re.S).group()
    assert '<input name="reason" size="30" value="">' in waiting  # a manual score needs no reason
    queue = browser.get("/queue/2.5?student=2022001").text
    assert ('<label class="comment">comment to the student (shown on their feedback) <textarea name="comment" '
            'id="comment" rows="2"></textarea></label>') in queue
    assert ('<label class="reason">reason (staff only, required for an override) <input name="reason" id="reason" '
            'autocomplete="off" value=""></label>') in queue


def test_an_override_without_a_reason_is_refused_in_the_words_of_each_front_end(out):
    refused = cli(out, "set", "2022001", "2.2", "5", "--by", "TA Kim", "--comment", CLI_COMMENT, check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "error: item 2.2 was graded automatically (6/6); overriding it needs a reason: give it with --reason TEXT "
        "(staff only; --comment TEXT is what the student reads)")
    browser = review(out)
    page = browser.get("/students/2022001").text
    revision = re.search(r'action="/students/2022001/items/2.2/score".*?name="revision" value="([^"]+)"', page,
                         re.S).group(1)
    refused = browser.post("/students/2022001/items/2.2/score", data={
        "csrf": TOKEN, "points": "5", "comment": CLI_COMMENT, "reason": " ", "revision": revision})
    assert refused.status_code == 400
    assert ('<p class="rejected" id="rejected" role="alert"><strong>Not saved:</strong> item 2.2 was graded '
            "automatically (6/6); overriding it needs a reason: write it in the box “reason (staff only, required "
            "for an override)”") in refused.text
    with Gradebook(out / "gradebook.sqlite") as book:
        assert book.history("2022001") == []


def test_no_reason_reaches_anything_a_student_is_handed(out):
    score_everywhere(out)
    cli(out, "feedback")
    cli(out, "export", "--format", "gradescope")
    cli(out, "export", "--format", "moodle", "--partial", "--roster", str(LMS / "moodle_participants.csv"),
        "--feedback-zip", str(out / "feedback.zip"))
    cli(out, "export", "--format", "canvas", "--partial", "--roster", str(LMS / "canvas_gradebook.csv"),
        "--column", "Midterm (12345)")
    feedback = {student: (out / "feedback" / f"{student}.html").read_text(encoding="utf-8")
                for student in review_book.STUDENTS}
    gradescope = {student: json.loads((out / "gradescope" / f"{student}.json").read_text(encoding="utf-8"))
                  for student in review_book.STUDENTS}
    moodle = (out / "moodle-grades.csv").read_text(encoding="utf-8")
    with zipfile.ZipFile(out / "feedback.zip") as archive:
        zipped = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
    canvas = (out / "canvas-import.csv").read_text(encoding="utf-8")
    handed_out = [*feedback.values(), *map(json.dumps, gradescope.values()), moodle, *zipped.values(), canvas]
    assert len(zipped) == 3
    for text in handed_out:
        for reason in REASONS:
            assert reason not in text and json.dumps(reason)[1:-1] not in text

    # The comments are where the student reads them
    assert "<p><strong>Changed by a TA from 6 points: 출력 형식만 다름: 감점 없음</strong></p>" in feedback["2022001"]
    assert "<p><strong>Changed by a TA from 6 points: 가중치 갱신 횟수 확인함</strong></p>" in feedback["2022002"]
    assert "<p><strong>Graded by a TA: 기울기 언급이 좋음</strong></p>" in feedback["2022003"]
    tests = {student: {test["number"]: test for test in document["tests"]} for student, document in gradescope.items()}
    assert tests["2022001"]["2.2"]["output"] == "✓\ngraded by a TA: 출력 형식만 다름: 감점 없음 (changed from the automatic score)"
    assert tests["2022003"]["2.5"]["output"] == "graded by a TA: 기울기 언급이 좋음"
    assert "2.2 (5/6) ✓ · Changed by a TA from 6 points: 출력 형식만 다름: 감점 없음" in moodle
    assert "2.5 (5/6) Graded by a TA: 기울기 언급이 좋음" in moodle
    assert "Changed by a TA from 6 points: 가중치 갱신 횟수 확인함" in zipped["이서연_502_assignsubmission_file_feedback.html"]


def test_staff_see_both_texts_labelled(out):
    score_everywhere(out)
    report = (out / "students" / "2022001.html").read_text(encoding="utf-8")  # `grader set` wrote the reports
    assert "<p class=\"comment\">Comment to the student (on their feedback): “출력 형식만 다름: 감점 없음”</p>" in report
    assert "<p class=\"reason\">Reason (staff only): “reference prints -15.7290 there (CLI)”</p>" in report
    history = re.search(r'<table class="history">(.*?)</table>', report, re.S).group(1)
    assert "<th>comment to the student</th><th>reason (staff only)</th>" in history
    assert "<td>출력 형식만 다름: 감점 없음</td><td>reference prints -15.7290 there (CLI)</td>" in history
    page = review(out).get("/students/2022003").text
    assert "<p class=\"comment\">Comment to the student (on their feedback): “기울기 언급이 좋음”</p>" in page
    assert "<p class=\"reason\">Reason (staff only): “guidance idea 3 missing (web queue)”</p>" in page
    assert "<td>기울기 언급이 좋음</td><td>guidance idea 3 missing (web queue)</td>" in page

    with Gradebook(out / "gradebook.sqlite") as book:
        from grader.batch import write_outputs
        write_outputs(out, book)
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    manual = {submission["student"]: {item["id"]: item.get("manual") for item in submission["items"]}
              for submission in document["submissions"]}
    assert {key: manual["2022002"]["2.3"][key] for key in ("kind", "by", "comment", "reason_staff_only")} == {
        "kind": "override", "by": "TA Park", "comment": WEB_COMMENT, "reason_staff_only": WEB_REASON}


def test_a_scored_item_no_longer_says_it_waits_for_a_ta(out):
    score_everywhere(out)
    with Gradebook(out / "gradebook.sqlite") as book:
        from grader.batch import write_outputs
        write_outputs(out, book)
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    messages = {submission["student"]: {item["id"]: item["message"] for item in submission["items"]}
                for submission in document["submissions"]}
    assert [messages[student]["2.5"] for student in review_book.STUDENTS] == [
        "waiting for a TA to grade this answer", "waiting for a TA to grade this answer", "graded by TA Park",
        "waiting for a TA to grade this answer"]
    report = (out / "students" / "2022003.html").read_text(encoding="utf-8")
    page = review(out).get("/students/2022003").text
    for html in (report, page):
        item = re.search(r'<div class="card" id="item-2.5">.*?<div class="muted">(.*?)</div>', html, re.S).group(1)
        assert item == "graded by TA Park · evidence: executed"
