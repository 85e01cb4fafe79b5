"""`module` checks: the trained network's class and parameter shapes."""

from __future__ import annotations

from grader.checks.context import ItemContext
from grader.evidence.training import is_own, parameter_shapes_within
from grader.results import CheckResult
from grader.rubric.models import ModuleCheck


def check(spec: ModuleCheck, ctx: ItemContext) -> CheckResult:
    expected = ctx.reference_module()
    got = ctx.student_module()
    detail: dict = {"expected": expected.describe(), "got": got.describe() if got else None}
    if got is None:
        message, passed = "no network was found for this part", False
    elif is_own(expected) and is_own(got):
        # A class of the solution's own: the student's may have any name; its parameters' shapes must be those.
        assert ctx.student is not None  # a student module comes from the student's evidence
        expected_shapes = parameter_shapes_within(ctx.reference.evidence, expected)
        got_shapes = parameter_shapes_within(ctx.student.evidence, got)
        detail |= {"expected_shapes": expected_shapes, "got_shapes": got_shapes}
        passed = got_shapes == expected_shapes
        message = "" if passed else (f"your network {got.class_} has parameters of shapes {got_shapes}, which are "
                                     "not those asked for")
    elif got.class_ == expected.class_ and got.parameter_shapes() == expected.parameter_shapes():
        message, passed = "", True
    else:
        message, passed = f"your network is {got.describe()}, which is not the one asked for", False
    return CheckResult(name=spec.name, points=spec.points if passed else 0.0, max_points=spec.points,
                       passed=passed, message=message, detail=detail)
