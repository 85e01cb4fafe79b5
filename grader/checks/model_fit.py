"""`model_fit` checks: the student's trained model scored on the reference's inputs and targets.

The probe applied the student's model to the inputs the reference computed; the
targets never entered the student's kernel. The metric is computed here:
accuracy (arg-max of the outputs, or a 0.5 / 0 threshold for one output, against
class indices or one-hot targets), cross-entropy (outputs read as probabilities
when every row is one, else as logits), or mean squared error.
"""

from __future__ import annotations

import numpy as np

from grader.captures import inputs_id, targets_id
from grader.checks.captured import captured, fail, failed, ident_of, missing, reference_problem
from grader.checks.context import ItemContext
from grader.results import CheckResult
from grader.rubric.models import ModelFitCheck


class MetricError(ValueError):
    """Outputs and targets that cannot be scored together (the message says why)."""


def check(spec: ModelFitCheck, ctx: ItemContext) -> CheckResult:
    public = ctx.item.is_public(spec)
    what = f"`{spec.model}`" if public else "the model"
    ident = ident_of(spec, ctx)
    index = ctx.item.checks.index(spec)
    for reference_ident in (ident, inputs_id(ctx.item, index), targets_id(ctx.item, index)):
        problem = reference_problem(spec, ctx, reference_ident)
        if problem is not None:
            return problem
    targets = captured(ctx.reference, targets_id(ctx.item, index)).array
    got = captured(ctx.student, ident)
    if got is None:
        return fail(spec, missing(spec, ctx, f"{what} on the grader's data"))
    if got.event.error is not None:
        return fail(spec, failed(spec, ctx, got.event, f"{what} on the grader's data"))
    if got.array is None or targets is None:
        return fail(spec, f"the outputs of {what} ({got.event.describe_type()}) are not numbers that can be scored")
    try:
        reference_score: float | None = _score(spec.metric, captured(ctx.reference, ident).array, targets)
    except MetricError:  # a rubric problem, reported by `grader rubric lint`; the student's score still counts
        reference_score = None
    try:
        score = _score(spec.metric, got.array, targets)
    except MetricError as err:
        return fail(spec, f"{what}: {err}", {"reference": reference_score})
    detail = {"metric": spec.metric, "got": score, "reference": reference_score,
              "at_least": spec.at_least, "at_most": spec.at_most, "inputs": len(targets)}
    bound_met = score >= spec.at_least if spec.at_least is not None else score <= spec.at_most
    if bound_met:
        return CheckResult(name=spec.name, points=spec.points, max_points=spec.points, passed=True, message="",
                           detail=detail)
    if not public:
        return fail(spec, f"the model's {_NAMES[spec.metric]} on the grader's data is not "
                          f"{'high' if spec.at_least is not None else 'low'} enough", detail)
    bound = f"at least {spec.at_least:g}" if spec.at_least is not None else f"at most {spec.at_most:g}"
    return fail(spec, f"{_NAMES[spec.metric]} of {what} on the grader's {len(targets)} inputs is {score:.4g}; "
                      f"{bound} is needed", detail)


_NAMES = {"accuracy": "accuracy", "cross_entropy": "cross-entropy loss", "mse": "mean squared error"}


def _score(metric: str, outputs: np.ndarray, targets: np.ndarray) -> float:
    outputs = outputs.astype(np.float64)
    if len(outputs) != len(targets):
        raise MetricError(f"it gave {len(outputs)} outputs for {len(targets)} inputs")
    if metric == "mse":
        if outputs.size != targets.size:
            raise MetricError(f"outputs of shape {list(outputs.shape)} do not match targets of shape "
                              f"{list(targets.shape)}")
        return float(np.mean((outputs.reshape(targets.shape) - targets) ** 2))
    classes = _class_indices(targets)
    if metric == "accuracy":
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            predicted = outputs.argmax(axis=1)
        else:
            flat = outputs.reshape(len(outputs))
            predicted = (flat > (0.5 if ((flat >= 0) & (flat <= 1)).all() else 0.0)).astype(int)
        return float(np.mean(predicted == classes))
    if outputs.ndim != 2 or outputs.shape[1] <= int(classes.max(initial=0)):
        raise MetricError(f"outputs of shape {list(outputs.shape)} are not one score per class")
    rows_are_probabilities = (outputs >= 0).all() and np.allclose(outputs.sum(axis=1), 1, atol=1e-4)
    if rows_are_probabilities:
        log_probabilities = np.log(np.clip(outputs, 1e-12, None))
    else:
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probabilities[np.arange(len(classes)), classes]))


def _class_indices(targets: np.ndarray) -> np.ndarray:
    """Class indices from indices or one-hot rows."""
    if targets.ndim == 2 and targets.shape[1] > 1:
        return targets.argmax(axis=1)
    return np.rint(targets.reshape(len(targets))).astype(int)
