from __future__ import annotations

import _thread
import signal
import time
from types import SimpleNamespace

import pytest

from grader.batch import grade_submissions
from grader.gradebook import Gradebook, GradebookError, RubricSummary
from grader.results import CheckResult, IntegrityFlag, ItemResult, SubmissionResult
from grader.run.execute import ActiveRuns
from grader.submission import discover

SUMMARY = RubricSummary(id="exam", title="Exam", hash="sha256:r1", total=8,
                        items=[{"id": "2.1", "title": "a", "points": 6, "visibility": "hidden", "kinds": ["tensor"]},
                               {"id": "2.5", "title": "b", "points": 2, "visibility": "hidden", "kinds": ["manual"]}])


def result(student: str, notebook_hash: str = "sha256:n1", points: float = 4.0) -> SubmissionResult:
    return SubmissionResult(
        student=student, name="홍길동", student_id=student, file=f"홍길동({student}).ipynb", status="needs-review",
        total=points, max=8, notebook_hash=notebook_hash, rubric_hash="sha256:r1", graded_at="2026-11-27T00:00:00+00:00",
        items=[
            ItemResult(id="2.1", title="a", points=points, max_points=6, status="partial", message="✗ x", evidence="executed",
                       checks=[CheckResult(name="x", points=points, max_points=6, passed=False, message="m",
                                           detail={"expected": [[1.0, 2.0]]})]),
            ItemResult(id="2.5", title="b", points=0, max_points=2, status="manual", message="waiting", evidence="stored",
                       answer="수렴했다"),
        ],
    )


@pytest.fixture
def book(tmp_path):
    with Gradebook(tmp_path / "g.sqlite") as gradebook:
        gradebook.bind_rubric(SUMMARY)
        yield gradebook


def test_round_trip(book):
    book.store(result("1"))
    back = book.result("1")
    assert back == result("1")
    assert book.db.execute("SELECT student, item, points, status, notebook_hash, rubric_hash FROM item_results").fetchall() == [
        ("1", "2.1", 4.0, "partial", "sha256:n1", "sha256:r1"), ("1", "2.5", 0.0, "manual", "sha256:n1", "sha256:r1")]


def test_resume_knows_what_is_current(book):
    book.store(result("1"))
    assert book.is_current("1", "sha256:n1", "sha256:r1")
    assert not book.is_current("1", "sha256:n2", "sha256:r1")
    assert not book.is_current("1", "sha256:n1", "sha256:r2")
    assert not book.is_current("2", "sha256:n1", "sha256:r1")
    failed = result("2").model_copy(update={"retry": True, "status": "error"})
    book.store(failed)
    assert not book.is_current("2", "sha256:n1", "sha256:r1")  # environment failures are retried


def test_a_result_stored_as_someone_else_is_not_current(book):
    """Same notebook, but discovery now says another name, id or submission time: graded again, so that what is
    stored (and the late deduction from that time) is what the files say now."""
    book.store(result("1").model_copy(update={"lms": "canvas", "lms_user_id": "10101", "submitted_at": None}))
    stored = {"name": "홍길동", "student_id": "1", "file": "홍길동(1).ipynb", "lms": "canvas", "lms_user_id": "10101",
              "name_in_file": None, "late": False, "submitted_at": None}
    assert book.is_current("1", "sha256:n1", "sha256:r1", identity=stored)
    for column, now in (("name", "김민준"), ("student_id", "2022001"), ("submitted_at", "2026-11-21T00:30:02+00:00"),
                        ("late", True), ("lms_user_id", None), ("file", "other.ipynb")):
        assert not book.is_current("1", "sha256:n1", "sha256:r1", identity={**stored, column: now}), column
    with pytest.raises(ValueError, match="not a gradebook column of who a submission is: total"):
        book.is_current("1", "sha256:n1", "sha256:r1", identity={"total": 1})


def test_manual_score_then_history(book):
    book.store(result("1"))
    book.set_score("1", "2.5", 2, "좋은 설명", "TA Kim")
    graded = book.result("1")
    item = graded.items[1]
    assert (item.points, item.status, item.manual.kind, item.manual.by) == (2, "pass", "manual", "TA Kim")
    assert item.message == "graded by TA Kim"  # no longer "waiting"
    assert (graded.total, graded.status) == (6, "graded")
    book.set_score("1", "2.5", 1, "", "TA Lee")  # a second TA revises a manual score: no reason needed
    assert (book.result("1").items[1].points, book.result("1").items[1].message) == (1, "graded by TA Lee")
    assert [(h["item"], h["points"], h["by"], h["kind"]) for h in book.history("1")] == [
        ("2.5", 2, "TA Kim", "manual"), ("2.5", 1, "TA Lee", "manual")]


def test_override_needs_a_reason_and_keeps_the_automatic_points(book):
    book.store(result("1"))
    for comment in ("", "broadcasting was intended"):  # a comment to the student is no reason
        with pytest.raises(GradebookError) as refused:
            book.set_score("1", "2.1", 6, comment, "TA Kim")
        assert (str(refused.value), refused.value.field) == (
            "item 2.1 was graded automatically (4/6); overriding it needs a reason", "reason")
    book.set_score("1", "2.1", 6, "broadcasting was intended", "TA Kim", reason="reference used float64")
    item = book.result("1").items[0]
    assert (item.points, item.status, item.manual.kind, item.manual.automatic_points) == (6, "pass", "override", 4.0)
    assert (item.manual.comment, item.manual.reason) == ("broadcasting was intended", "reference used float64")
    assert item.message == "✗ x"  # an override keeps what the checks found
    book.set_score("1", "2.1", 5, "", "TA Lee", reason="  half a step off  ")  # no comment: the student reads none
    assert [(h["kind"], h["comment"], h["reason"]) for h in book.history("1")] == [
        ("override", "broadcasting was intended", "reference used float64"), ("override", "", "half a step off")]


def test_a_manual_score_may_have_a_reason_and_no_comment(book):
    book.store(result("1"))
    score = book.set_score("1", "2.5", 1, "", "TA Kim", reason="one of two ideas; see the rubric's guidance")
    assert (score.kind, score.comment, score.reason) == ("manual", "", "one of two ideas; see the rubric's guidance")
    assert book.result("1").items[1].manual == score


@pytest.mark.parametrize("student, item, points, by, message", [
    ("9", "2.5", 1, "TA", "no submission '9'"),
    ("1", "4.1", 1, "TA", "no item '4.1'; items are 2.1, 2.5"),
    ("1", "2.5", 3, "TA", "item 2.5 is worth 0 to 2 points, not 3"),
    ("1", "2.5", -1, "TA", "item 2.5 is worth 0 to 2 points, not -1"),
    ("1", "2.5", 1, " ", "a score needs the name of who gives it"),
])
def test_bad_manual_scores_are_refused(book, student, item, points, by, message):
    book.store(result("1"))
    with pytest.raises(GradebookError, match=message):
        book.set_score(student, item, points, "c", by)


def test_manual_scores_do_not_carry_over_to_a_new_notebook(book):
    book.store(result("1"))
    book.set_score("1", "2.5", 2, "", "TA Kim")
    book.store(result("1", notebook_hash="sha256:n2"))
    regraded = book.result("1")
    assert regraded.items[1].status == "manual" and regraded.items[1].manual is None
    assert "manual scores for item(s) 2.5 were given to an earlier version" in regraded.notes[-1]


def test_a_gradebook_belongs_to_one_rubric(book):
    with pytest.raises(GradebookError, match="holds grades for rubric 'exam', not 'other'"):
        book.bind_rubric(SUMMARY.model_copy(update={"id": "other"}))


class CrashingGrader:
    """Stands in for Grader: grades instantly, and gets a Ctrl-C while grading one submission."""

    def __init__(self, crash_on: str | None) -> None:
        self.crash_on = crash_on
        self.graded: list[str] = []
        self.rubric = type("R", (), {"hash": "sha256:r1"})
        self.confinement = "sandbox"
        self.runner = SimpleNamespace(active=ActiveRuns())

    def grade(self, submission, gpu=None):
        if submission.key == self.crash_on:
            _thread.interrupt_main()  # the TA's Ctrl-C reaches the main thread...
            deadline = time.monotonic() + 30
            while not self.runner.active.cancelled:  # ...which cancels the runs, this one included
                assert time.monotonic() < deadline, "the Ctrl-C never reached the batch"
                time.sleep(0.01)
        if self.runner.active.cancelled:
            raise KeyboardInterrupt
        self.graded.append(submission.key)
        # who it is as the submission says, as Grader records it: what `is_current` compares
        return result(submission.key, notebook_hash=submission.content_hash).model_copy(
            update=submission.identity()), None


def test_a_killed_batch_loses_only_the_submission_in_flight(tmp_path, book):
    folder = tmp_path / "subs"
    folder.mkdir()
    for n in range(1, 5):
        (folder / f"s({n}).ipynb").write_text(str(n))
    submissions = discover(folder, "*.ipynb")
    # A shell that starts the tests in the background ignores SIGINT; a TA's terminal does not.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            grade_submissions(submissions, CrashingGrader(crash_on="3"), book, tmp_path / "out")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert book.students() == ["1", "2"]
    rerun = CrashingGrader(crash_on=None)
    outcome = grade_submissions(submissions, rerun, book, tmp_path / "out")
    assert rerun.graded == ["3", "4"] and (outcome.graded, outcome.skipped) == (2, 2)
    assert book.students() == ["1", "2", "3", "4"]


def test_a_gradebook_from_before_the_review_pages_opens_and_keeps_its_history(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with Gradebook(path) as book:
        book.bind_rubric(SUMMARY)
        book.store(result("1"))
        book.set_score("1", "2.5", 1.0, "", "Lee")
    with sqlite3.connect(path) as db:  # as written before previous_points and regrades existed
        db.execute("ALTER TABLE manual_scores DROP COLUMN previous_points")
        db.execute("DROP TABLE regrades")
    with Gradebook(path) as book:
        assert [(e["by"], e["points"], e["previous"]) for e in book.history("1")] == [("Lee", 1.0, None)]
        book.set_score("1", "2.5", 2.0, "", "Kim", expected_revision=book.revisions("1")["2.5"])
        assert [(e["by"], e["points"], e["previous"]) for e in book.history("1")] == [("Lee", 1.0, None),
                                                                                      ("Kim", 2.0, 1.0)]
        assert book.latest_regrade("1") is None


def test_a_gradebook_from_before_reasons_keeps_override_texts_from_students(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with Gradebook(path) as book:
        book.bind_rubric(SUMMARY)
        book.store(result("1"))
        book.set_score("1", "2.5", 1.0, "근거가 부족함", "Lee")
        book.set_score("1", "2.1", 6.0, "", "Kim", reason="the reference's value is 14.7198")
    with sqlite3.connect(path) as db:  # as written when one `comment` was both: an override's was its reason
        db.execute("UPDATE manual_scores SET comment = reason WHERE kind = 'override'")
        db.execute("ALTER TABLE manual_scores DROP COLUMN reason")
    with Gradebook(path) as book:
        assert [(e["kind"], e["comment"], e["reason"]) for e in book.history("1")] == [
            ("manual", "근거가 부족함", ""), ("override", "", "the reference's value is 14.7198")]
        manual, override = book.result("1").items[1].manual, book.result("1").items[0].manual
        assert (manual.comment, manual.reason) == ("근거가 부족함", "")
        assert (override.comment, override.reason) == ("", "the reference's value is 14.7198")
    with Gradebook(path) as book:  # opened again: moved once, not again
        assert [(e["comment"], e["reason"]) for e in book.history("1")] == [
            ("근거가 부족함", ""), ("", "the reference's value is 14.7198")]


def test_a_gradebook_from_before_integrity_cells_keeps_its_notes(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    flagged = result("1").model_copy(update={"flags": ["integrity"], "notes": ["cell 3 prints [1.0, 2.0] …"]})
    with Gradebook(path) as book:
        book.bind_rubric(SUMMARY)
        book.store(flagged)
    with sqlite3.connect(path) as db:  # as written when the flag's notes were text among the others
        db.execute("ALTER TABLE submissions DROP COLUMN integrity")
    with Gradebook(path) as book:
        old = book.result("1")
        assert (old.notes, old.integrity) == (["cell 3 prints [1.0, 2.0] …"], [])
        book.store(flagged.model_copy(update={"notes": [], "integrity": [
            IntegrityFlag(cell=3, note="cell 3 prints [1.0, 2.0] …", source="print([1.0, 2.0])")]}))
        assert book.result("1").integrity[0].source == "print([1.0, 2.0])"


def test_a_revision_changes_with_every_score_of_its_item_only(book):
    book.store(result("1"))
    before = book.revisions("1")
    book.set_score("1", "2.5", 1.0, "", "Lee")
    after = book.revisions("1")
    assert after["2.1"] == before["2.1"] and after["2.5"] != before["2.5"]
    with pytest.raises(GradebookError, match=r"^Lee gave 1 1 points for item 2.5 at .*, after you opened this page"):
        book.set_score("1", "2.5", 2.0, "", "Kim", expected_revision=before["2.5"])
