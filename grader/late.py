"""What lateness costs, from the rubric's late policy: a pure function of the policy and the submission.

Applied when results are read from the gradebook, after manual scores, so a TA's changes and a corrected policy
both reach every report and export without regrading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from grader.rubric.models import LatePolicy

PERIOD_SECONDS = {"per_day": 86_400, "per_hour": 3_600}
PERIOD_NAME = {"per_day": "day", "per_hour": "hour"}


@dataclass(frozen=True)
class LateDeduction:
    points: float  # taken off the total (never more than it)
    note: str  # for reports: how late, how it was known, what it cost


def late_deduction(policy: LatePolicy, late_mark: bool, submitted_at: str | None, earned: float,
                   maximum: float) -> LateDeduction | None:
    """None when the submission is on time (or nothing says it is late)."""
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
