"""A gradebook for the review tests: the midterm's rubric, four students, no kernels.

Students 2022001-2022003 wait for a TA on 2.5; 2022004 was graded by hand
already (4 points by "Lee"). Automatic items: 1.1 and 1.2 earn 10, 2.1-2.4 earn 6
(except 2022002's 2.2: 2 of 6, a wrong gradient), the rest nothing.
Totals before review: 44, 40, 44, 48.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from grader.batch import rubric_summary
from grader.checks import manual
from grader.gradebook import Gradebook
from grader.results import CheckResult, ItemResult, SubmissionResult
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2022-midterm"
STUDENTS = ("2022001", "2022002", "2022003", "2022004")
NAMES = {"2022001": "김민준", "2022002": "이서연", "2022003": "박지호", "2022004": "최유진"}
ANSWERS = {
    "2022001": "기울기가 $\\nabla_w L \\approx 0$ 이므로 수렴했다. loss는 convex라서 global minimum이다.",
    "2022002": "수렴하지 않았다 <b>아마도</b>",
    "2022003": "gradient가 거의 0이라 수렴. $$\\frac{\\partial L}{\\partial w_1} = -0.0012$$",
    "2022004": "미분값이 0에 가깝다",
}
TOTALS = {"2022001": 44.0, "2022002": 40.0, "2022003": 44.0, "2022004": 48.0}


def _answered_points(item_id: str) -> float:
    return {"1.1": 10.0, "1.2": 10.0, "2.1": 6.0, "2.2": 6.0, "2.3": 6.0, "2.4": 6.0}.get(item_id, 0.0)


def submission(student: str, graded_at: str = "2026-11-27T09:00:00+00:00",
               answer: str | None = None) -> SubmissionResult:
    """answer: what the student wrote for 2.5 (default: ANSWERS; "" for nothing)."""
    loaded = load_rubric(RUBRIC)
    answer = ANSWERS[student] if answer is None else answer
    items = []
    for spec in loaded.spec.items:
        if spec.id == "2.5":
            check = manual.check(spec.checks[0], SimpleNamespace(text=answer))
            items.append(ItemResult(id="2.5", title=spec.title, points=0.0, max_points=spec.points, status="manual",
                                    message=check.message, evidence="executed", checks=[check], answer=answer))
            continue
        points = _answered_points(spec.id)
        if student == "2022002" and spec.id == "2.2":
            points = 2.0
        status = "pass" if points == spec.points else "partial" if points else "fail"
        items.append(ItemResult(
            id=spec.id, title=spec.title, points=points, max_points=spec.points, status=status,
            message="✓" if status == "pass" else "gradient off by 3.2 (atol 1e-3)" if status == "partial" else "✗",
            evidence="executed",
            checks=[CheckResult(name="the check", points=points, max_points=spec.points, passed=status == "pass",
                                message="", detail={"expected": [-15.729, 14.7198], "got": [-15.729, 14.7198]})]))
    return SubmissionResult(
        student=student, name=NAMES[student], student_id=student, file=f"{student}.ipynb", status="needs-review",
        total=sum(item.points for item in items), max=100.0, notebook_hash=f"sha256:{student}" + "0" * 57,
        rubric_hash=loaded.hash, graded_at=graded_at, items=items)


def build(path: Path) -> Path:
    """Writes the gradebook at `path` (its folder is the grading run's output folder)."""
    loaded = load_rubric(RUBRIC)
    with Gradebook(path) as book:
        book.bind_rubric(rubric_summary(loaded))
        for student in STUDENTS:
            book.store(submission(student))
        book.set_score("2022004", "2.5", 4.0, "", "Lee")
    return path
