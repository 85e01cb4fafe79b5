"""`true_false` checks: the answer as read from the notebook's source, against the key."""

from __future__ import annotations

from grader.checks.context import ItemContext
from grader.results import CheckResult
from grader.rubric.models import TrueFalseCheck


def check(spec: TrueFalseCheck, ctx: ItemContext) -> CheckResult:
    answer = ctx.answer
    note = f" ({ctx.answer_note})" if ctx.answer_note else ""
    if answer is None or answer.status == "unanswered":
        return CheckResult(name=spec.name, points=0.0, max_points=spec.points, passed=False,
                           message="no answer was found for this item")
    if answer.status == "ambiguous":
        return CheckResult(name=spec.name, points=0.0, max_points=spec.points, passed=False,
                           message=f"no True/False answer could be read from: \u201c{answer.source}\u201d",
                           detail={"source": answer.source})
    passed = answer.value == spec.answer
    return CheckResult(
        name=spec.name, points=spec.points if passed else 0.0, max_points=spec.points, passed=passed,
        message=f"answer read as {answer.value}{note}",
        detail={"read": answer.value, "token": answer.token, "source": answer.source, "key": spec.answer},
    )
