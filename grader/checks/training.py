"""`training` checks: rules about how an item's result was trained ("training torch.nn.RNNCell gets no points:
define your own class"), decided from whose parameters the item's optimizer updates changed."""

from __future__ import annotations

from grader.checks.captured import fail
from grader.checks.context import ItemContext
from grader.evidence.training import OWN_CLASS, TENSOR, TrainedParameter, belongs_to, steps_in, trained_parameters
from grader.results import CheckResult
from grader.rubric.models import TrainingCheck

MAX_LISTED = 6  # modules or tensors named in a message
RULE_WORDS = {OWN_CLASS: "a class of your own (a torch.nn.Module subclass you wrote)", TENSOR: "plain tensors"}


def check(spec: TrainingCheck, ctx: ItemContext) -> CheckResult:
    if ctx.student is None:
        return fail(spec, "nothing the notebook computed was recorded")
    trained = trained_parameters(ctx.student.evidence, steps_in(ctx.student.evidence, ctx.student.runs_of(ctx.item_cells)))
    detail = {"trained": [{"parameter": parameter.describe(), "optimizer": parameter.optimizer,
                           "classes": [info.name for info in parameter.classes()]} for parameter in trained],
              "forbid": spec.forbid, "require": spec.require}
    if not trained:
        return fail(spec, "no optimizer updated anything in this item's cells", detail)
    problems = []
    for rule in spec.forbid:
        if hit := [parameter for parameter in trained if belongs_to(parameter, rule)]:
            problems.append(f"training {rule_words(rule)} is not allowed, and this item trained {listed(hit)}")
    for rule in spec.require:
        if not any(belongs_to(parameter, rule) for parameter in trained):
            problems.append(f"this item must train {rule_words(rule)}, but it trained {listed(trained)}")
    if problems:
        return fail(spec, "; ".join(problems), detail)
    return CheckResult(name=spec.name, points=spec.points, max_points=spec.points, passed=True, message="",
                       detail=detail)


def rule_words(rule: str) -> str:
    return " or ".join(RULE_WORDS.get(name.strip(), name.strip()) for name in rule.split("|"))


def listed(parameters: list[TrainedParameter]) -> str:
    """What was trained, a module's parameters together: `weight, bias of torch.nn.Conv2d in …; a tensor …`."""
    groups: dict[str, list[TrainedParameter]] = {}
    for parameter in parameters:
        groups.setdefault(parameter.holder.key if parameter.holder else parameter.key, []).append(parameter)
    shown = [group[0].describe(", ".join(parameter.name for parameter in group) if group[0].holder else None)
             for group in list(groups.values())[:MAX_LISTED]]
    more = len(groups) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")
