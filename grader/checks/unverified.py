"""Verdicts from what a submitted notebook's stored outputs show, for parts whose cells did not re-run.

Such a verdict earns at most the rubric's `stored_weight` of a check's points and is marked `evidence: stored`,
so that the report says it was not re-run; one message form for every check, so students read them alike."""

from __future__ import annotations

from grader.results import CheckResult
from grader.rubric.models import StoredFallback


def stored_result(spec: StoredFallback, shown: str, problem: str = "", detail: dict | None = None) -> CheckResult:
    """`shown`: what the stored outputs show; `problem`: why that earns nothing (empty: it earns `stored_weight`)."""
    earned = not problem
    tail = f" (not verified: {spec.stored_weight:.0%} of the points)" if earned else f"; {problem}"
    return CheckResult(name=spec.name, points=spec.points * spec.stored_weight if earned else 0.0,
                       max_points=spec.points, passed=False, evidence="stored", detail=detail or {},
                       message=f"these cells did not re-run; the submitted notebook shows {shown}{tail}")
