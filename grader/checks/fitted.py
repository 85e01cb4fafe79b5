"""`fitted_values` and `reproduces` checks: an item's fitted values found from evidence, not from a variable's name:
what the loss received at the item's last optimizer update (grader.probe.fitting), or the network's last output
before it when the loss was written by hand. `fitted_values` compares them with the reference's item, `reproduces`
with another item of the same student."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from grader.checks.captured import fail
from grader.checks.context import ItemContext, Trace
from grader.checks.tensor import Comparison, compare_arrays, result
from grader.evidence.model import FittedEvent
from grader.evidence.training import fitted_in
from grader.results import CheckResult
from grader.rubric.models import FittedValuesCheck, ReproducesCheck

# What each loss receives, as probabilities: logits, log-probabilities or probabilities already.
SOFTMAX_OF = {"cross_entropy"}
EXP_OF = {"nll_loss", "kl_div"}
SIGMOID_OF = {"binary_cross_entropy_with_logits"}
ROW_SUM_SLACK = 1e-4


@dataclass(frozen=True)
class Fitted:
    values: np.ndarray | None  # None: too large to have been recorded in full
    source: str  # for the TA: "what cross_entropy received" / "the output of m3"


def fitted_values(trace: Trace, runs: frozenset[int], probabilities: bool) -> Fitted | None:
    event = fitted_in(trace.evidence, runs)
    return None if event is None else _values(event, probabilities)


def _values(event: FittedEvent, probabilities: bool) -> Fitted | None:
    if event.loss is not None:
        values, function, source = event.loss.input.array(), event.loss.function, f"what {event.loss.function} received"
    elif event.output is not None:
        values, function, source = event.output.value.array(), None, f"the output of {event.output.module}"
    else:
        return None
    if values is not None and probabilities:
        values = as_probabilities(values, function)
    return Fitted(values, source)


def as_probabilities(values: np.ndarray, function: str | None) -> np.ndarray:
    """Probabilities from what a loss received (or, for a hand-written loss, from the network's output)."""
    classes = 1 if values.ndim >= 2 else 0
    if function in SOFTMAX_OF:
        return _softmax(values, classes)
    if function in EXP_OF:
        return np.exp(values)
    if function in SIGMOID_OF:
        return 1 / (1 + np.exp(-values))
    if function is not None or _are_probabilities(values, classes):
        return values
    if values.ndim >= 1 and values.shape[classes] > 1:
        return _softmax(values, classes)
    return values if ((values >= 0) & (values <= 1)).all() else 1 / (1 + np.exp(-values))


def _are_probabilities(values: np.ndarray, axis: int) -> bool:
    return bool(values.size and (values >= 0).all() and np.allclose(values.sum(axis=axis), 1, atol=ROW_SUM_SLACK))


def _softmax(values: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def check(spec: FittedValuesCheck, ctx: ItemContext) -> CheckResult:
    public = ctx.item.is_public(spec)
    expected = fitted_values(ctx.reference, ctx.reference.item_runs(ctx.item.id), spec.probabilities)
    if expected is None or expected.values is None:
        return fail(spec, "the reference solution records no fitted values in this item (see `grader rubric lint`)")
    got = _students(ctx, ctx.item_cells, spec)
    if isinstance(got, CheckResult):
        return got
    values, source = got
    comparison = compare_arrays(values, expected.values, spec.tolerance or ctx.tolerance, "fitted values")
    detail = comparison.detail | {"got_from": source, "expected_from": expected.source}
    return result(spec.name, spec.points, Comparison(comparison.ok, comparison.problem, detail), public)


def reproduces(spec: ReproducesCheck, ctx: ItemContext) -> CheckResult:
    if ctx.student is None:
        return fail(spec, "nothing the notebook computed was recorded")
    other = _students(ctx, ctx.student.regions.get(spec.item, []), spec, f" of ({spec.item})")
    if isinstance(other, CheckResult):
        return other
    got = _students(ctx, ctx.item_cells, spec)
    if isinstance(got, CheckResult):
        return got
    comparison = compare_arrays(got[0], other[0], spec.tolerance or ctx.tolerance,
                                f"fitted values (compared with your {spec.item})")
    detail = comparison.detail | {"got_from": got[1], "expected_from": f"{other[1]} in item {spec.item}"}
    # Both sides are the student's own numbers: how many differ says enough, even where the check is public.
    return result(spec.name, spec.points, Comparison(comparison.ok, comparison.problem, detail), public=False)


def _students(ctx: ItemContext, cells: Iterable[int], spec: FittedValuesCheck | ReproducesCheck,
              whose: str = "") -> tuple[np.ndarray, str] | CheckResult:
    """The student's fitted values in `cells` and where they came from, or the failed check saying why there are
    none."""
    if ctx.student is None:
        return fail(spec, "nothing the notebook computed was recorded")
    found = fitted_values(ctx.student, ctx.student.runs_of(cells), spec.probabilities)
    if found is None:
        return fail(spec, f"no optimizer update was made in the cells{whose or ' of this item'}, so there are no "
                          "fitted values to compare")
    if found.values is None:
        return fail(spec, f"the fitted values{whose} are too large to compare")
    return found.values, found.source
