"""`optimizer_trace` checks: a student's optimizer phase against the reference's.

Phases are matched in order (see grader.evidence.trace). A check then looks
at one aspect: the optimizer and its hyper-parameters, or the gradient /
weights at one update, optionally requiring that every update so far came
from one optimizer object and that the phase has the reference's length.
"""

from __future__ import annotations

import math

from grader.checks.context import ItemContext
from grader.checks.tensor import Comparison, compare, result
from grader.evidence.model import StepEvent
from grader.evidence.trace import Phase
from grader.results import CheckResult
from grader.rubric.models import OptimizerTraceCheck


def check(spec: OptimizerTraceCheck, ctx: ItemContext) -> CheckResult:
    reference = ctx.reference.phases[spec.phase - 1]
    phase = ctx.matched.get(spec.phase)
    if phase is None:
        found = len(ctx.student.phases) if ctx.student else 0
        message = ("no optimizer update was recorded in the notebook" if not found else
                   f"none of the notebook's {found} run(s) of optimizer updates answers this part")
        return _fail(spec, message, {"expected_optimizer": reference.optimizer_class})
    if spec.compare == "optimizer":
        return _optimizer(spec, ctx, reference, phase)
    return _values(spec, ctx, reference, phase)


def _optimizer(spec: OptimizerTraceCheck, ctx: ItemContext, reference: Phase, phase: Phase) -> CheckResult:
    expected, got = reference.steps[0], phase.steps[0]
    detail = {
        "expected": {"class": expected.class_, **{name: expected.hyper.get(name) for name in spec.hyperparameters}},
        "got": {"class": got.class_, **{name: got.hyper.get(name) for name in spec.hyperparameters}},
    }
    problems = []
    if got.class_ != expected.class_:
        problems.append(f"the optimizer is {got.class_}")
    for name in spec.hyperparameters:
        if not _same_setting(got.hyper.get(name), expected.hyper.get(name)):
            problems.append(f"{name} is {got.hyper.get(name)!r}")
    described = f"{got.class_}({', '.join(f'{name}={got.hyper.get(name)!r}' for name in spec.hyperparameters)})"
    if problems:
        return _fail(spec, f"{described}: {', '.join(problems)}, which is not what the question asks", detail)
    return CheckResult(name=spec.name, points=spec.points, max_points=spec.points, passed=True,
                       message="", detail=detail)


def _same_setting(got: object, expected: object) -> bool:
    if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
    return got == expected


def _values(spec: OptimizerTraceCheck, ctx: ItemContext, reference: Phase, phase: Phase) -> CheckResult:
    student = ctx.student
    assert student is not None  # a matched phase implies a trace
    count = len(phase.steps)
    detail: dict = {"updates_expected": len(reference.steps), "updates_found": count}
    if spec.exact_step_count and count != len(reference.steps):
        return _fail(spec, f"{phase.optimizer_class} made {count} update(s) in a row here, not the number the question asks for", detail)
    position = len(reference.steps) if spec.step == "last" else spec.step
    step = phase.step(spec.step)
    if step is None:
        return _fail(spec, f"only {count} update(s) were recorded, so update {position} is missing", detail)
    if spec.same_optimizer:
        upto = phase.steps[: phase.steps.index(step) + 1]
        takeover = _takeover(upto)
        if takeover is not None:
            cell = student.cell_number(takeover.run)
            where = f" in cell {cell}" if cell else ""
            return _fail(spec, f"a new {takeover.class_} took over at update {upto.index(takeover) + 1}{where}; "
                               "a re-created optimizer starts its state over, so these are not updates of the same optimizer",
                         detail)
    expected_step = reference.step(position)
    assert expected_step is not None
    what = f"gradient at update {position}" if spec.compare == "grad" else f"weights after update {position}"
    public = ctx.item.is_public(spec)
    unused = list(step.params)
    for expected_param in expected_step.params:
        # Parameters pair up by shape, in order: a bias the reference lacks is ignored.
        got_param = next((param for param in unused if param.shape == expected_param.shape), None)
        if got_param is None:
            return _fail(spec, f"no parameter of shape {expected_param.shape} was updated", detail)
        unused.remove(got_param)
        comparison = compare(getattr(got_param, spec.compare), getattr(expected_param, spec.compare),
                             spec.tolerance or ctx.tolerance, what)
        detail |= comparison.detail
        if not comparison.ok:
            return result(spec.name, spec.points, Comparison(False, comparison.problem, detail), public)
    return result(spec.name, spec.points, Comparison(True, "", detail), public)


def _takeover(steps: tuple[StepEvent, ...]) -> StepEvent | None:
    """The first update made by a different optimizer object than the first one."""
    return next((step for step in steps if step.optimizer != steps[0].optimizer), None)


def _fail(spec: OptimizerTraceCheck, message: str, detail: dict) -> CheckResult:
    return CheckResult(name=spec.name, points=0.0, max_points=spec.points, passed=False, message=message, detail=detail)
