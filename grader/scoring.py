"""Scoring policy: how a result's points and statuses follow from its checks, a TA's scores and the late policy.

Pure functions of plain values, written once for every room that needs them: grading decides an item's status from
its checks and a submission's from its flags and items; the gradebook keeps the automatic result as grading made it
and, whenever it is read, applies each item's latest manual score or override and then the rubric's late policy, so
a TA's changes and a corrected policy reach every report and export without grading again. A function that changes
a result returns a copy and leaves the one it was given as it was (the copy shares what it did not change).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from grader.results import (
    CheckResult,
    Flag,
    ItemResult,
    ItemStatus,
    ManualScore,
    SubmissionResult,
    SubmissionStatus,
)
from grader.rubric.models import LatePolicy

# -- statuses -----------------------------------------------------------------------------


def checks_status(checks: Sequence[CheckResult]) -> ItemStatus:
    """An item's status from its checks: waiting for a TA while any check waits for one, a pass when all pass."""
    if any(check.passed is None for check in checks):
        return "manual"
    if all(check.passed for check in checks):
        return "pass"
    return _short_of_full(sum(check.points for check in checks))


def scored_status(points: float, max_points: float) -> ItemStatus:
    """An item's status once a TA gave it `points`."""
    return "pass" if points >= max_points else _short_of_full(points)


def _short_of_full(points: float) -> ItemStatus:
    return "partial" if points > 0 else "fail"


def waiting_for_ta(items: Iterable[ItemResult]) -> bool:
    """An item still waits for a TA's points."""
    return any(item.status == "manual" for item in items)


def needs_review(flags: Collection[Flag], items: Iterable[ItemResult]) -> bool:
    """A TA must look at the submission: an item waits for their points, or the integrity flag was raised (printed
    values nothing recorded explains), which only a TA may clear."""
    return "integrity" in flags or waiting_for_ta(items)


def submission_status(error: str | None, flags: Collection[Flag], items: Iterable[ItemResult]) -> SubmissionStatus:
    """A freshly graded submission's status; `error`: why it could not be graded, if it could not."""
    return "error" if error else "needs-review" if needs_review(flags, items) else "graded"


def reviewed_status(result: SubmissionResult) -> SubmissionStatus:
    """`result`'s status once a TA's scores apply: held for review no longer once nothing is left to review."""
    if result.status == "needs-review" and not needs_review(result.flags, result.items):
        return "graded"
    return result.status


# -- manual scores and overrides ----------------------------------------------------------------


class GivenScore(NamedTuple):
    """An item's latest manual score or override, and the version of the notebook it was given to."""

    score: ManualScore
    notebook_hash: str


def score_kind(item: ItemResult) -> Literal["manual", "override"]:
    """What a new TA score for `item` is: a manual score while the item waits for one (or already had one), else
    an override of the checks' points, which needs a reason."""
    pending = item.status == "manual" or (item.manual is not None and item.manual.kind == "manual")
    return "manual" if pending else "override"


def with_manual_scores(result: SubmissionResult, given: Mapping[str, GivenScore]) -> SubmissionResult:
    """`result` with each item's score in `given` (item id -> its latest) applied, its total the items' points
    and its status reviewed. A score given to another version of the notebook is not applied, and a note says so."""
    stale = [item.id for item in result.items
             if item.id in given and given[item.id].notebook_hash != result.notebook_hash]
    items = [item if item.id not in given or item.id in stale else _scored(item, given[item.id].score)
             for item in result.items]
    notes = result.notes
    if stale:
        notes = [*notes, (f"manual scores for item(s) {', '.join(stale)} were given to an earlier version of this "
                          "notebook and are not applied; grade them again")]
    scored = result.model_copy(update={"items": items, "notes": notes, "total": sum(item.points for item in items)})
    return scored.model_copy(update={"status": reviewed_status(scored)})


def _scored(item: ItemResult, score: ManualScore) -> ItemResult:
    # A manual item's message said it waits for a TA; an override keeps the checks' verdict beside the new points.
    message = f"graded by {score.by}" if score.kind == "manual" else item.message
    return item.model_copy(update={"manual": score, "message": message, "points": score.points,
                                   "status": scored_status(score.points, item.max_points)})


# -- the late policy ------------------------------------------------------------------------

PERIOD_SECONDS = {"per_day": 86_400, "per_hour": 3_600}
PERIOD_NAME = {"per_day": "day", "per_hour": "hour"}


@dataclass(frozen=True)
class LateDeduction:
    points: float  # taken off the total (never more than it)
    note: str  # for reports: how late, how it was known, what it cost


def late_deduction(policy: LatePolicy, late_mark: bool, submitted_at: str | None, earned: float,
                   maximum: float) -> LateDeduction | None:
    """What lateness costs under the rubric's `policy`; None when the submission is on time (or nothing says it is
    late)."""
    after = _after_deadline(policy, submitted_at)
    grace = policy.grace_minutes * 60
    if after is not None and after <= grace:
        return None  # the submission time beats the LMS's mark: it knows the grace period
    if after is None and not late_mark:
        return None
    # The time after the deadline as it was, and the grace beside it: what the student can check against their clock.
    given = f"; {duration(grace)} grace" if grace else ""
    when = (f"submitted {submitted_at}, {duration(after)} after the deadline "
            f"({policy.deadline.isoformat(timespec='minutes')}){given}" if after is not None else
            "marked late by the LMS (no submission time to measure it by)")
    if policy.rule == "none":
        return LateDeduction(0.0, f"late: {when}; the rubric deducts nothing")
    if policy.rule == "zero":
        return LateDeduction(earned, f"late: {when}; a late submission scores 0")
    period = PERIOD_SECONDS[policy.rule]
    periods = max(1, math.ceil((after - grace) / period)) if after is not None else 1
    percent = min(periods * policy.deduction_percent, policy.cap_percent)
    points = min(earned, round(maximum * percent / 100, 6))
    counted = "" if after is not None else f", counted as one {PERIOD_NAME[policy.rule]}"
    started = " after the grace" if grace and after is not None else ""
    return LateDeduction(points, (
        f"late: {when}{counted}; −{points:g} points ({policy.deduction_percent:g}% of {maximum:g} per "
        f"{PERIOD_NAME[policy.rule]} started{started}, at most {policy.cap_percent:g}%)"))


def _after_deadline(policy: LatePolicy, submitted_at: str | None) -> float | None:
    """Seconds from the deadline to the submission (negative when early); None when either time is unknown."""
    if policy.deadline is None or submitted_at is None:
        return None
    return (datetime.fromisoformat(submitted_at) - policy.deadline).total_seconds()


def duration(seconds: float) -> str:
    """'1 d 12 h 1 min': whole minutes, rounded up."""
    minutes = math.ceil(seconds / 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts) or "0 min"


def with_late_policy(result: SubmissionResult, policy: LatePolicy | None) -> SubmissionResult:
    """`result` (no deduction taken yet) with what `policy` deducts for lateness taken off its total."""
    deduction = late_deduction(policy, result.late, result.submitted_at, result.total, result.max) \
        if policy is not None else None
    if deduction is None:
        return result
    return result.model_copy(update={"late_deduction": deduction.points, "late_note": deduction.note,
                                     "total": result.total - deduction.points})


def effective(result: SubmissionResult, given: Mapping[str, GivenScore], policy: LatePolicy | None) -> SubmissionResult:
    """The result as every report and export reads it: the automatic `result` with the TA's scores (`given`) applied,
    then the late policy."""
    return with_late_policy(with_manual_scores(result, given), policy)
