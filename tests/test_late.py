"""The rubric's late policy: what lateness costs, from a deadline and a submission time or an LMS's late mark."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from grader.rubric.models import LatePolicy
from grader.scoring import LateDeduction, late_deduction

DEADLINE = "2022-04-20T23:59:00+09:00"


def policy(**settings) -> LatePolicy:
    return LatePolicy.model_validate({"deadline": DEADLINE, **settings})


def test_on_time_and_unmarked_submissions_cost_nothing():
    per_day = policy(rule="per_day", deduction_percent=10)
    assert late_deduction(per_day, False, "2022-04-20T14:59:00+00:00", 80, 100) is None  # 23:59 KST exactly
    assert late_deduction(per_day, False, None, 80, 100) is None
    # the submission time wins over the LMS's mark: it knows the grace period
    grace = policy(rule="per_day", deduction_percent=10, grace_minutes=30)
    assert late_deduction(grace, True, "2022-04-20T15:20:00+00:00", 80, 100) is None


def test_per_day_started_with_a_cap():
    per_day = policy(rule="per_day", deduction_percent=10, cap_percent=25)
    assert late_deduction(per_day, False, "2022-04-20T15:00:00+00:00", 80, 100) == LateDeduction(
        10.0, "late: submitted 2022-04-20T15:00:00+00:00, 1 min after the deadline (2022-04-20T23:59+09:00); "
              "−10 points (10% of 100 per day started, at most 25%)")
    two_days = late_deduction(per_day, False, "2022-04-22T03:00:00+00:00", 80, 100)
    assert two_days.points == 20.0 and "1 d 12 h 1 min after the deadline" in two_days.note
    assert late_deduction(per_day, False, "2022-04-30T00:00:00+00:00", 80, 100).points == 25.0
    # never below zero
    assert late_deduction(per_day, False, "2022-04-30T00:00:00+00:00", 7.5, 100).points == 7.5


def test_the_note_gives_the_time_after_the_deadline_and_the_grace_apart():
    grace = policy(rule="per_day", deduction_percent=10, cap_percent=50, grace_minutes=10)
    # 11 h 31 min after 23:59 KST: within the first day after the grace's end
    assert late_deduction(grace, False, "2022-04-21T02:30:00+00:00", 80, 100) == LateDeduction(
        10.0, "late: submitted 2022-04-21T02:30:00+00:00, 11 h 31 min after the deadline (2022-04-20T23:59+09:00); "
              "10 min grace; −10 points (10% of 100 per day started after the grace, at most 50%)")
    # 24 h 5 min after the deadline is 23 h 55 min after the grace: still one day
    assert late_deduction(grace, False, "2022-04-21T15:04:00+00:00", 80, 100).points == 10.0
    assert late_deduction(grace, False, "2022-04-20T15:09:00+00:00", 80, 100) is None  # 10 min late: the grace
    assert late_deduction(policy(grace_minutes=90), False, "2022-04-21T00:00:00+00:00", 80, 100).note == (
        "late: submitted 2022-04-21T00:00:00+00:00, 9 h 1 min after the deadline (2022-04-20T23:59+09:00); "
        "1 h 30 min grace; the rubric deducts nothing")


def test_per_hour_and_zero_and_none():
    per_hour = policy(rule="per_hour", deduction_percent=2)
    assert late_deduction(per_hour, False, "2022-04-20T17:30:00+00:00", 90, 100).points == 6.0  # 2 h 31 min: 3 hours
    zero = policy(rule="zero")
    assert late_deduction(zero, True, None, 73.5, 100) == LateDeduction(
        73.5, "late: marked late by the LMS (no submission time to measure it by); a late submission scores 0")
    assert late_deduction(policy(), False, "2022-04-21T00:00:00+00:00", 50, 100) == LateDeduction(
        0.0, "late: submitted 2022-04-21T00:00:00+00:00, 9 h 1 min after the deadline (2022-04-20T23:59+09:00); "
             "the rubric deducts nothing")


def test_a_late_mark_without_a_time_counts_one_period():
    per_day = LatePolicy(rule="per_day", deduction_percent=10)
    assert late_deduction(per_day, True, None, 80, 100) == LateDeduction(
        10.0, "late: marked late by the LMS (no submission time to measure it by), counted as one day; "
              "−10 points (10% of 100 per day started, at most 100%)")


@pytest.mark.parametrize("settings, problem", [
    ({"deadline": "2022-04-20T23:59:00"}, "the deadline needs its time zone"),
    ({"rule": "per_day"}, "rule per_day needs deduction_percent above 0"),
    ({"rule": "weekly"}, "Input should be 'none', 'per_day', 'per_hour' or 'zero'"),
])
def test_a_policy_that_cannot_work_is_refused(settings, problem):
    with pytest.raises(ValidationError, match=problem):
        LatePolicy.model_validate(settings)
