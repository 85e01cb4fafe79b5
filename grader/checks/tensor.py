"""`tensor` checks, and the comparison every numeric check shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.captures import capture_id
from grader.checks.captured import captured
from grader.checks.context import ItemContext, Trace
from grader.evidence import TensorData
from grader.evidence.trace import trained_module
from grader.evidence.training import is_own
from grader.results import CheckResult
from grader.rubric import Item, Tolerance
from grader.rubric.models import TensorCheck


@dataclass(frozen=True)
class Comparison:
    ok: bool
    problem: str  # for the student: "" when ok, else what is wrong, without expected values
    detail: dict  # for the TA: expected, got, tolerance, largest difference and where


def compare(got: TensorData | None, expected: TensorData, tolerance: Tolerance, what: str) -> Comparison:
    if got is None:
        return Comparison(False, f"no {what} was recorded", {"expected": _plain(expected.array()),
                                                             "tolerance": tolerance.model_dump()})
    got_values = got.array()
    if got_values is None:
        return Comparison(False, f"the {what} is too large to compare ({got.shape})",
                          {"expected": _plain(expected.array()), "got_shape": got.shape})
    return compare_arrays(got_values, expected.array(), tolerance, what)


def compare_arrays(got_values: np.ndarray, expected_values: np.ndarray, tolerance: Tolerance,
                   what: str) -> Comparison:
    """Element-wise within tolerance; (1, 2) and (2,) hold the same answer, other shapes differ."""
    detail: dict = {"expected": _plain(expected_values), "tolerance": tolerance.model_dump(), "got": _plain(got_values)}
    got_values = got_values.astype(np.float64)
    expected_values = expected_values.astype(np.float64)
    if got_values.shape != expected_values.shape:
        if np.squeeze(got_values).shape != np.squeeze(expected_values).shape:
            return Comparison(False, f"the {what} has shape {list(got_values.shape)}, which is not the shape asked for", detail)
        got_values = got_values.reshape(expected_values.shape)
    close = np.isclose(got_values, expected_values, rtol=tolerance.rtol, atol=tolerance.atol)
    difference = np.abs(got_values - expected_values)
    if difference.size:
        worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(difference), np.inf, difference))), difference.shape)
        detail["max_abs_diff"] = float(difference[worst])
        detail["where"] = list(map(int, worst))
    if close.all():
        return Comparison(True, "", detail)
    wrong = int((~close).sum())
    return Comparison(False, f"{what}: {wrong} of {close.size} value(s) outside the tolerance", detail)


def _plain(values: np.ndarray) -> list | float:
    return np.where(np.isfinite(values), values, np.nan).tolist() if values.ndim else float(values)


def public_message(comparison: Comparison) -> str:
    """For public items a student may see how far off and where (hidden items: not)."""
    detail = comparison.detail
    if "got" not in detail or "max_abs_diff" not in detail:
        return comparison.problem
    tolerance = detail["tolerance"]
    return (f"{comparison.problem}: expected {detail['expected']}, got {detail['got']}; largest difference "
            f"{detail['max_abs_diff']:.4g} at {detail['where']} (tolerance atol={tolerance['atol']:g}, rtol={tolerance['rtol']:g})")


def result(spec_name: str, points: float, comparison: Comparison, public: bool) -> CheckResult:
    if comparison.ok:
        return CheckResult(name=spec_name, points=points, max_points=points, passed=True,
                           message="", detail=comparison.detail)
    message = public_message(comparison) if public else comparison.problem
    return CheckResult(name=spec_name, points=0.0, max_points=points, passed=False, message=message,
                       detail=comparison.detail)


def reference_first_inputs(items: list[Item], reference: Trace) -> dict[str, tuple[str | None, np.ndarray]]:
    """For each `tensor` check, by capture id: the reference's trained module's class (None for a class of the
    solution's own: the student's may have any name) and the input of its first forward pass, for evaluating a
    student's network that never computed a prediction (grader.captures)."""
    module = trained_module(reference.evidence, reference.phases[0] if reference.phases else None)
    if module is None:
        return {}
    forward = next((event for event in reference.evidence.forwards if event.module == module.key), None)
    inputs = forward.input.array() if forward is not None and forward.input is not None else None
    if inputs is None:
        return {}
    module_class = None if is_own(module) else module.class_
    return {capture_id(item, index): (module_class, inputs) for item in items
            for index, spec in enumerate(item.checks) if isinstance(spec, TensorCheck)}


def check(spec: TensorCheck, ctx: ItemContext) -> CheckResult:
    public = ctx.item.is_public(spec)
    expected = ctx.first_prediction(ctx.reference, ctx.reference_module(), ctx.reference.phases[0])
    if expected is None:  # a rubric problem: the reference's self-check reports it before any grading
        return result(spec.name, spec.points, Comparison(False, "the reference solution recorded no prediction", {}), public)
    module = ctx.student_module()
    if module is None or ctx.student is None:
        return result(spec.name, spec.points, Comparison(False, "no network was found whose prediction could be checked", {}), public)
    forward = ctx.first_prediction(ctx.student, module, ctx.matched.get(1))
    tolerance = spec.tolerance or ctx.tolerance
    if forward is not None:
        return result(spec.name, spec.points, compare(forward.output, expected.output, tolerance, "first prediction"),
                      public)
    # No forward pass: the network as the item left it, evaluated by the probe on the reference's inputs.
    evaluated = captured(ctx.student, capture_id(ctx.item, ctx.item.checks.index(spec)))
    if evaluated is None or evaluated.array is None or expected.output.array() is None:
        why = (f", and evaluating it on the question's inputs failed: {evaluated.event.error}"
               if evaluated is not None and evaluated.event.error else "")
        return result(spec.name, spec.points, Comparison(False, f"{module.describe()} never computed a prediction{why}",
                                                         {}), public)
    comparison = compare_arrays(evaluated.array, expected.output.array(), tolerance, "first prediction")
    return result(spec.name, spec.points, Comparison(
        comparison.ok, comparison.problem and f"{comparison.problem} (your network computed no prediction; it was "
                                              "evaluated on the question's inputs)",
        comparison.detail | {"evaluated_on_reference_inputs": True}), public)
