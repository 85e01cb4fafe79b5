"""`module` checks: the trained network's class and parameter shapes."""

from __future__ import annotations

from grader.checks.context import ItemContext
from grader.results import CheckResult
from grader.rubric.models import ModuleCheck


def check(spec: ModuleCheck, ctx: ItemContext) -> CheckResult:
    expected = ctx.reference_module()
    got = ctx.student_module()
    detail = {"expected": expected.describe(), "got": got.describe() if got else None}
    if got is None:
        message, passed = "no network was found for this part", False
    elif got.class_ == expected.class_ and got.parameter_shapes() == expected.parameter_shapes():
        message, passed = "", True
    else:
        message, passed = f"your network is {got.describe()}, which is not the one asked for", False
    return CheckResult(name=spec.name, points=spec.points if passed else 0.0, max_points=spec.points,
                       passed=passed, message=message, detail=detail)
