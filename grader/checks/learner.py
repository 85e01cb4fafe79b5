"""`learner` checks: a learner of the asked architecture (told from its structure), and its training."""

from __future__ import annotations

from grader.checks.context import ItemContext
from grader.checks.unverified import stored_result
from grader.evidence.pipeline import TrainedLearner, learners
from grader.notebook.stored import training_epochs
from grader.results import CheckResult
from grader.rubric.models import LearnerCheck


def check(spec: LearnerCheck, ctx: ItemContext) -> CheckResult:
    found = learners(ctx.student.evidence) if ctx.student else []
    matching = [t for t in found if t.architecture.name == spec.architecture]
    detail: dict = {"learners": [t.architecture.describe() for t in found]}
    if spec.require == "architecture":
        if matching:
            return _result(spec, True, "", detail)
        seen = "; ".join(dict.fromkeys(t.architecture.describe() for t in found))
        return _result(spec, False, f"no {spec.architecture} learner was built" +
                       (f" (the learners are: {seen})" if seen else ""), detail)
    trained = [t for t in matching if t.epochs >= spec.min_epochs]
    if trained:
        best = trained[-1]
        detail.update(epochs=best.epochs, final=best.final_metrics())
        return _result(spec, True, f"trained {best.epochs} epoch(s); last epoch: {_metrics(best)}", detail)
    stored = training_epochs(ctx.item_outputs) if ctx.rerun_failed else []
    if stored and spec.stored_weight > 0 and len(stored) >= spec.min_epochs:
        detail.update(stored_epochs=stored)
        return stored_result(spec, f"{len(stored)} epoch(s) of training", detail=detail)
    epochs = max((t.epochs for t in matching), default=0)
    message = (f"the {spec.architecture} learner recorded {epochs} epoch(s); at least {spec.min_epochs} needed"
               if matching else f"no {spec.architecture} learner was trained")
    return _result(spec, False, message, detail)


def _metrics(trained: TrainedLearner) -> str:
    final = trained.final_metrics()
    return ", ".join(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
                     for name, value in final.items()) or "no metrics recorded"


def _result(spec: LearnerCheck, passed: bool, message: str, detail: dict) -> CheckResult:
    return CheckResult(name=spec.name, points=spec.points if passed else 0.0, max_points=spec.points,
                       passed=passed, message=message, detail=detail)
