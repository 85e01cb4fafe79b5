"""`parameter_count` checks: how many parameters a module of the student's has."""

from __future__ import annotations

from grader.checks.captured import captured, fail, failed, ident_of, missing, reference_problem
from grader.checks.context import ItemContext
from grader.results import CheckResult
from grader.rubric.models import ParameterCountCheck


def check(spec: ParameterCountCheck, ctx: ItemContext) -> CheckResult:
    public = ctx.item.is_public(spec)
    what = f"the parameters of `{spec.module}`" if public else "the parameter count"
    ident = ident_of(spec, ctx)
    if spec.expected is None:
        problem = reference_problem(spec, ctx, ident)
        if problem is not None:
            return problem
    got = captured(ctx.student, ident)
    if got is None:
        return fail(spec, missing(spec, ctx, what))
    if got.event.error is not None:
        return fail(spec, failed(spec, ctx, got.event, what))
    expected = spec.expected if spec.expected is not None else _count(captured(ctx.reference, ident).event, spec)
    count = _count(got.event, spec)
    detail = {"expected": expected, "got": count, "trainable_only": spec.trainable_only}
    if count == expected:
        return CheckResult(name=spec.name, points=spec.points, max_points=spec.points, passed=True, message="",
                           detail=detail)
    counted = "trainable parameters" if spec.trainable_only else "parameters"
    shown = f", not {expected}" if public else ""
    return fail(spec, f"{spec.module if public else 'the module'} has {count} {counted}{shown}", detail)


def _count(event, spec: ParameterCountCheck) -> int | None:
    return event.trainable if spec.trainable_only else event.total
