"""What `value`, `parameter_count` and `model_fit` checks share: finding the student's and the
reference's capture of a check (grader.captures) and saying why one is missing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.captures import capture_id
from grader.checks.context import ItemContext, Trace
from grader.evidence.model import CaptureEvent
from grader.results import CheckResult
from grader.rubric.models import Check


@dataclass(frozen=True)
class Captured:
    event: CaptureEvent
    array: np.ndarray | None  # the value, when it was numeric and small enough to keep


def captured(trace: Trace | None, ident: str) -> Captured | None:
    if trace is None:
        return None
    event = trace.evidence.captures.get(ident)
    if event is None:
        return None
    array = trace.evidence.array(event.array) if event.array is not None else None
    return Captured(event, array)


def ident_of(spec: Check, ctx: ItemContext) -> str:
    return capture_id(ctx.item, ctx.item.checks.index(spec))


def missing(spec: Check, ctx: ItemContext, what: str) -> str:
    """Why the student's capture is missing: no code cell in the item, or the run stopped before it."""
    if not any(index in ctx.code_cells for index in ctx.item_cells):
        return f"no code cell answers this item, so {what} could not be evaluated"
    return f"{what} was not evaluated: the notebook stopped before the end of this item"


def failed(spec: Check, ctx: ItemContext, event: CaptureEvent, what: str) -> str:
    """The student's expression raised (a NameError when the variable asked for does not exist)."""
    cell = ctx.student.cell_number(event.run) if ctx.student else None
    where = f" after cell {cell}" if cell else ""
    return f"{what} could not be evaluated{where}: {event.error}"


def fail(spec: Check, message: str, detail: dict | None = None) -> CheckResult:
    return CheckResult(name=spec.name, points=0.0, max_points=spec.points, passed=False, message=message,
                       detail=detail or {})


def reference_problem(spec: Check, ctx: ItemContext, ident: str) -> CheckResult | None:
    """A failed check when the reference has no usable capture (a rubric problem `grader rubric lint` reports)."""
    reference = captured(ctx.reference, ident)
    if reference is None:
        return fail(spec, "the reference solution did not evaluate this check (see `grader rubric lint`)")
    if reference.event.error is not None:
        return fail(spec, f"the reference solution raised {reference.event.error} (see `grader rubric lint`)")
    return None
