"""`manual` checks: nothing is awarded automatically; a TA sets the points.

Keywords from the rubric only suggest points in the TA's report.
"""

from __future__ import annotations

from grader.checks.context import ItemContext
from grader.results import CheckResult
from grader.rubric.models import ManualCheck


def check(spec: ManualCheck, ctx: ItemContext) -> CheckResult:
    text = ctx.text.strip()
    folded = text.casefold()
    # One keyword entry is one idea, written "미분|기울기|gradient" for its alternatives.
    found = [idea for idea in spec.keywords if any(word.strip().casefold() in folded for word in idea.split("|"))]
    detail: dict = {"guidance": spec.guidance}
    if spec.keywords:
        detail["keywords_found"] = found
        detail["keywords"] = list(spec.keywords)
        # Half-point steps: a hint for the TA, never a score.
        detail["suggested_points"] = round(2 * spec.points * len(found) / len(spec.keywords)) / 2
    message = "waiting for a TA to grade this answer" if text else "no answer was written; waiting for a TA"
    return CheckResult(name=spec.name, points=0.0, max_points=spec.points, passed=None, message=message, detail=detail)
