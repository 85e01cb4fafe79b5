"""`value` checks: an expression evaluated in the student's kernel against the same expression in the
reference's: element-wise within tolerance, or its shape, or its element type."""

from __future__ import annotations

from grader.checks.captured import captured, fail, failed, ident_of, missing, reference_problem
from grader.checks.context import ItemContext
from grader.checks.tensor import Comparison, compare_arrays, result
from grader.results import CheckResult
from grader.rubric.models import ValueCheck


def check(spec: ValueCheck, ctx: ItemContext) -> CheckResult:
    public = ctx.item.is_public(spec)
    # The summary line already names the check: a hidden check's messages say "the value", not the expression.
    what = f"`{spec.expression}`" if public else "the value"
    ident = ident_of(spec, ctx)
    problem = reference_problem(spec, ctx, ident)
    if problem is not None:
        return problem
    expected = captured(ctx.reference, ident)
    got = captured(ctx.student, ident)
    if got is None:
        return fail(spec, missing(spec, ctx, what))
    if got.event.error is not None:
        return fail(spec, failed(spec, ctx, got.event, what))
    want, have = expected.event, got.event
    detail = {"expected_type": want.describe_type(), "got_type": have.describe_type()}
    if spec.compare == "shape" or spec.compare == "dtype":
        expected_property, got_property = getattr(want, spec.compare), getattr(have, spec.compare)
        detail |= {"expected": expected_property, "got": got_property}
        if expected_property is None:
            return fail(spec, f"the reference's {spec.expression} is a {want.type}, which has no {spec.compare}", detail)
        if got_property == expected_property:
            return CheckResult(name=spec.name, points=spec.points, max_points=spec.points, passed=True, message="",
                               detail=detail)
        shown = f" (expected {expected_property})" if public else ""
        return fail(spec, f"{what} has {spec.compare} {got_property}{shown}, which is not what is asked", detail)
    if want.text is not None or have.text is not None:
        detail |= {"expected": want.text, "got": have.text}
        if want.text == have.text:
            return CheckResult(name=spec.name, points=spec.points, max_points=spec.points, passed=True, message="",
                               detail=detail)
        return fail(spec, f"{what} is {have.text!r}" if public else f"{what} is not the text asked for", detail)
    if expected.array is None:
        return fail(spec, f"the reference's {spec.expression} is too large to compare (see `grader rubric lint`)")
    if got.array is None:
        return fail(spec, f"{what} is a {have.describe_type()}, too large to compare", detail)
    comparison = compare_arrays(got.array, expected.array, spec.tolerance or ctx.tolerance, what.removeprefix("the "))
    return result(spec.name, spec.points, Comparison(comparison.ok, comparison.problem, comparison.detail | detail),
                  public)
