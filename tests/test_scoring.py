"""Scoring policy as pure functions: statuses from checks and flags, a TA's scores applied to a result, then the late
policy."""

from __future__ import annotations

import pytest

from grader.results import CheckResult, ItemResult, ManualScore, SubmissionResult
from grader.rubric.models import LatePolicy
from grader.scoring import (
    GivenScore,
    checks_status,
    effective,
    needs_review,
    reviewed_status,
    score_kind,
    scored_status,
    submission_status,
    waiting_for_ta,
    with_late_policy,
    with_manual_scores,
)

PER_DAY = LatePolicy.model_validate({"deadline": "2022-04-20T23:59:00+09:00", "rule": "per_day",
                                     "deduction_percent": 10})
LATE_BY_A_DAY_AND_A_HALF = "2022-04-22T03:00:00+00:00"


def check(passed: bool | None, points: float, max_points: float = 2) -> CheckResult:
    return CheckResult(name="c", points=points, max_points=max_points, passed=passed, message="")


def item(item_id: str, points: float, max_points: float, status: str, manual: ManualScore | None = None) -> ItemResult:
    return ItemResult(id=item_id, title="", points=points, max_points=max_points, status=status, message="✗ c",
                      evidence="executed", manual=manual)


def score(points: float, kind: str = "manual", by: str = "Kim") -> ManualScore:
    return ManualScore(points=points, comment="잘했어요", reason="rubric 2b" if kind == "override" else "", by=by,
                       at="2026-11-27T10:00:00+00:00", kind=kind, automatic_points=1.0 if kind == "override" else None)


def result(*items: ItemResult, status: str = "needs-review", flags: tuple[str, ...] = (), **fields) -> SubmissionResult:
    return SubmissionResult(student="2022001", file="a.ipynb", status=status, total=sum(i.points for i in items),
                            max=10, items=list(items), flags=list(flags), notebook_hash="sha256:n1",
                            rubric_hash="sha256:r1", notes=["a note"], **fields)


@pytest.mark.parametrize("checks, status", [
    ([check(True, 2), check(True, 2)], "pass"),
    ([check(True, 2), check(False, 0)], "partial"),
    ([check(False, 0), check(False, 0)], "fail"),
    ([check(True, 2), check(None, 0)], "manual"),
    ([check(False, 0), check(None, 0)], "manual"),
    ([check(False, 2)], "partial"),  # a check that did not pass makes no pass, whatever points it gave
])
def test_an_items_status_follows_its_checks(checks, status):
    assert checks_status(checks) == status


@pytest.mark.parametrize("points, status", [(6, "pass"), (6.5, "pass"), (5.5, "partial"), (0.5, "partial"),
                                            (0, "fail")])
def test_an_items_status_once_a_ta_scored_it(points, status):
    assert scored_status(points, 6) == status


def test_a_submission_needs_review_for_a_waiting_item_or_the_integrity_flag():
    waiting, graded = [item("2.5", 0, 2, "manual")], [item("2.1", 4, 6, "partial")]
    assert (waiting_for_ta(waiting), waiting_for_ta(graded)) == (True, False)
    assert (needs_review([], waiting), needs_review(["integrity"], graded), needs_review(["timeout"], graded)) == (
        True, True, False)
    assert [submission_status(None, [], graded), submission_status(None, ["timeout"], waiting),
            submission_status(None, ["integrity"], graded), submission_status("the notebook could not be run", [],
                                                                              waiting)] == [
        "graded", "needs-review", "needs-review", "error"]


def test_review_ends_when_nothing_is_left_to_review():
    scored = item("2.5", 1, 2, "partial", manual=score(1))
    assert reviewed_status(result(scored)) == "graded"
    assert reviewed_status(result(scored, flags=("integrity",))) == "needs-review"  # only a TA clears the flag
    assert reviewed_status(result(item("2.5", 0, 2, "manual"))) == "needs-review"
    assert reviewed_status(result(scored, status="error")) == "error"


def test_a_new_score_is_manual_while_the_item_waits_or_had_one_else_an_override():
    assert [score_kind(item("2.5", 0, 2, "manual")), score_kind(item("2.5", 2, 2, "pass", manual=score(2))),
            score_kind(item("2.1", 4, 6, "partial")),
            score_kind(item("2.1", 6, 6, "pass", manual=score(6, "override")))] == [
        "manual", "manual", "override", "override"]


def test_manual_scores_and_overrides_apply_to_a_copy():
    automatic = result(item("2.1", 1, 6, "partial"), item("2.5", 0, 2, "manual"), item("2.6", 3, 3, "pass"))
    given = {"2.1": GivenScore(score(5, "override", by="Lee"), "sha256:n1"), "2.5": GivenScore(score(2), "sha256:n1"),
             "9.9": GivenScore(score(1), "sha256:n1")}  # an item the rubric no longer has: nothing to apply it to
    applied = with_manual_scores(automatic, given)
    assert [(i.id, i.points, i.status, i.message, i.manual) for i in applied.items] == [
        ("2.1", 5, "partial", "✗ c", score(5, "override", by="Lee")),  # an override keeps the checks' verdict
        ("2.5", 2, "pass", "graded by Kim", score(2)),
        ("2.6", 3, "pass", "✗ c", None),
    ]
    assert (applied.total, applied.status, applied.notes) == (10, "graded", ["a note"])
    assert automatic == result(item("2.1", 1, 6, "partial"), item("2.5", 0, 2, "manual"), item("2.6", 3, 3, "pass"))


def test_a_score_given_to_another_version_of_the_notebook_is_not_applied():
    automatic = result(item("2.1", 1, 6, "partial"), item("2.5", 0, 2, "manual"))
    applied = with_manual_scores(automatic, {"2.1": GivenScore(score(5, "override"), "sha256:n0"),
                                             "2.5": GivenScore(score(2), "sha256:n0")})
    assert (applied.items, applied.total, applied.status) == (automatic.items, 1, "needs-review")
    assert applied.notes == ["a note", ("manual scores for item(s) 2.1, 2.5 were given to an earlier version of this "
                                       "notebook and are not applied; grade them again")]


def test_the_late_policy_takes_its_deduction_off_the_total():
    late = result(item("2.1", 8, 10, "partial"), status="graded", submitted_at=LATE_BY_A_DAY_AND_A_HALF)
    deducted = with_late_policy(late, PER_DAY)
    assert (deducted.total, deducted.late_deduction, deducted.late_note) == (6, 2, (
        "late: submitted 2022-04-22T03:00:00+00:00, 1 d 12 h 1 min after the deadline (2022-04-20T23:59+09:00); "
        "−2 points (10% of 10 per day started, at most 100%)"))
    assert (late.total, late.late_deduction, late.late_note) == (8, 0, None)
    on_time = late.model_copy(update={"submitted_at": "2022-04-20T14:00:00+00:00"})
    assert with_late_policy(on_time, PER_DAY) is on_time
    assert with_late_policy(late, None) is late


def test_effective_applies_the_scores_then_the_late_policy():
    """A zero for lateness takes what the TA gave too: the late policy counts the total after manual scores."""
    automatic = result(item("2.1", 1, 6, "partial"), item("2.5", 0, 4, "manual"), late=True)
    zero = LatePolicy(rule="zero")
    read = effective(automatic, {"2.5": GivenScore(score(4), "sha256:n1")}, zero)
    assert (read.items[1].points, read.total, read.late_deduction, read.status) == (4, 0, 5, "graded")
    assert read.late_note == ("late: marked late by the LMS (no submission time to measure it by); a late submission "
                              "scores 0")
