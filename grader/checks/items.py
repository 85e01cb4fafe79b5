"""A notebook's items graded against a rubric, from what its run recorded and what its cells say.

The pure part of grading: no kernel is started here. The grader runs the notebook, then grades its items with
an `ItemGrader`; the reference's self-test grades the reference's own notebook with one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import nbformat

from grader.assets.boxes import DrawnImage
from grader.checks import CHECKS
from grader.checks.context import ItemContext, Trace, blocked_reason, item_context
from grader.evidence.trace import match_phases
from grader.execution import Execution
from grader.notebook.answers import AnswerReader, ReadAnswers, read_answers
from grader.notebook.locate import Layout, locate
from grader.notebook.printed import Located, printed_by_item
from grader.results import CheckResult, ItemResult, Printed, checks_line
from grader.rubric import Item, LoadedRubric
from grader.scoring import checks_status

MAX_PRINTED_PER_ITEM = 40
# The reference's trace replayed from a student's state at an item's start, or why there is none (grader.replay).
FollowThroughSource = Callable[[Item, Trace], "Trace | str"]


class ItemGrader:
    """Grades the items of notebooks against one rubric and its reference's recorded run."""

    def __init__(self, rubric: LoadedRubric, reference: Trace, reference_notebook: nbformat.NotebookNode) -> None:
        """reference_notebook: the solution as the reference run executed it (what it printed)."""
        self.rubric = rubric
        self.item_ids = [item.id for item in rubric.spec.items]
        self.answers = AnswerReader(rubric.template, self.item_ids)
        self._true_false_items = [item.id for item in rubric.spec.items if item.answer_kind == "true_false"]
        self._choose_all = [group.items for group in rubric.spec.choose_all]
        self._choice_options = {item.id: item.choice_options for item in rubric.spec.items
                                if item.answer_kind == "choice"}
        self.shows_cam = any(check.kind == "cam" for item in rubric.spec.items for check in item.checks)
        reference_layout = locate(reference_notebook, self.item_ids)
        self.reference = dataclasses.replace(reference, regions=reference_layout.regions)
        self._reference_printed = printed_by_item(reference_notebook, reference_layout)

    def read_answers(self, nb: nbformat.NotebookNode, layout: Layout) -> ReadAnswers:
        return read_answers(self.answers, self.item_ids, self._true_false_items, self._choose_all,
                            self._choice_options, nb, layout)

    def grade(self, nb: nbformat.NotebookNode, layout: Layout, read: ReadAnswers, execution: Execution | None,
              student: Trace | None, run_error: str | None, executed_prints: list[Located],
              stored_prints: list[Located], drawn: tuple[DrawnImage, ...] = (),
              follow_through: FollowThroughSource | None = None) -> list[ItemResult]:
        """Each item's result. nb: the notebook as submitted; execution: its run (None when it could not run);
        follow_through: replays the reference from the student's state, for checks that allow follow-through."""
        snippets, answers, choices = read.snippets, read.true_false, read.choices
        if student is not None:
            student = dataclasses.replace(student, regions=layout.regions)
        results = []
        for item in self.rubric.spec.items:
            cells = layout.regions.get(item.id, [])
            ctx = item_context(item, self.rubric.spec.tolerance, self.reference, student, nb, cells, execution,
                               snippets[item.id], answers.get(item.id), drawn, choices.get(item.id),
                               self._reference_printed.get(item.id, ()))
            blocked = blocked_reason(item.needs_execution, cells, execution, student, run_error)
            result = item_result(item, ctx, blocked, follow_through)
            if execution is not None and execution.stopped_at in cells and blocked is None and item.needs_execution:
                result.message += f" (execution stopped in cell {execution.stopped_at + 1}: {execution.stopped})"
            result.cells = [index + 1 for index in cells]
            numbers = set(result.cells)  # a list would make this quadratic in the notebook's length
            result.printed = _to_printed([p for p in executed_prints if p.cell in numbers])
            result.stored_printed = _to_printed([p for p in stored_prints if p.cell in numbers])
            results.append(result)
        return results


def item_result(item: Item, ctx: ItemContext, blocked: tuple[str, str] | None,
                follow_through: FollowThroughSource | None = None) -> ItemResult:
    """The item's points, status and message from its checks; `blocked`: why they cannot run, if they cannot."""
    evidence = "executed" if item.needs_execution else "stored"
    if item.void:
        return void_result(item)
    if blocked is not None:
        status, message = blocked
        return ItemResult(id=item.id, title=item.title, points=0.0, max_points=item.points, status=status,
                          message=message, evidence=evidence)
    checks = [CHECKS[check.kind](check, ctx) for check in item.checks]
    if follow_through is not None and ctx.student is not None:
        checks = followed_through(checks, item, ctx, follow_through)
    checks = gated(checks, item)
    if any(check.evidence == "stored" for check in checks):
        evidence = "stored"
    points = sum(check.points for check in checks)
    message = _summary(item, checks)
    answer = None
    if ctx.answer is not None and ctx.answer.value is not None:
        answer = str(ctx.answer.value)
    elif ctx.choice is not None and ctx.choice.value is not None:
        answer = ctx.choice.listed
    elif any(check.kind == "manual" for check in item.checks):
        answer = ctx.text
    return ItemResult(id=item.id, title=item.title, points=points, max_points=item.points,
                      status=checks_status(checks), message=message, evidence=evidence, checks=checks, answer=answer)


def void_result(item: Item) -> ItemResult:
    """A void item, the same for everyone: its points given to all, or removed from the total."""
    points = item.check_points
    treated = ("given to everyone" if item.void_points == "given" else "removed from the exam's total")
    return ItemResult(id=item.id, title=item.title, points=item.points, max_points=item.points, status="void",
                      message=f"withdrawn by the instructor (void): its {points:g} point(s) are {treated}",
                      evidence="stored")


def followed_through(checks: list[CheckResult], item: Item, ctx: ItemContext,
                     follow_through: FollowThroughSource) -> list[CheckResult]:
    """Failed checks that allow follow-through, compared again with the reference's procedure replayed from the
    student's state at the item's start. Both comparisons are kept in the result."""
    failed = [index for index, (spec, result) in enumerate(zip(item.checks, checks))
              if getattr(spec, "follow_through", False) and result.passed is False]
    if not failed:
        return checks
    assert ctx.student is not None
    replayed = follow_through(item, ctx.student)
    if isinstance(replayed, str):
        return [result.model_copy(update={"detail": result.detail | {"follow_through": replayed}})
                if index in failed else result for index, result in enumerate(checks)]
    own = dataclasses.replace(ctx, reference=replayed, matched=match_phases(replayed.phases, ctx.student.phases))
    updated = list(checks)
    for index in failed:
        against_reference, again = checks[index], CHECKS[item.checks[index].kind](item.checks[index], own)
        detail = {"against_reference": against_reference.detail, "follow_through": again.detail}
        if again.passed:
            updated[index] = again.model_copy(update={"detail": detail, "message": (
                "right from your own earlier result (follow-through): the question's procedure, applied to the "
                f"state your earlier answers left, gives what you got; against the expected result: "
                f"{against_reference.message}")})
        else:
            updated[index] = against_reference.model_copy(update={"detail": detail, "message": (
                f"{against_reference.message}; applied to the state your earlier answers left, the question's "
                f"procedure does not give what you got either: {again.message}")})
    return updated


def gated(checks: list[CheckResult], item: Item) -> list[CheckResult]:
    """The checks' results after the item's gates: when a gate fails, every check of the item earns 0."""
    closed = [result.name for spec, result in zip(item.checks, checks) if getattr(spec, "gate", False)
              and result.passed is False]
    if not closed:
        return checks
    why = f"0 points: the item's rule '{closed[0]}' failed"
    return [result if result.name in closed or result.max_points == 0 else result.model_copy(update={
        "points": 0.0, "passed": False, "message": f"{result.message}; {why}" if result.message else why})
        for result in checks]


def _summary(item: Item, checks: list[CheckResult]) -> str:
    """One line per item: answers as read, or each check with a mark and what went wrong."""
    if item.checks[0].kind in ("true_false", "manual", "multiple_choice"):
        return checks[0].message
    return checks_line(checks)


def _to_printed(located: list[Located]) -> list[Printed]:
    return [
        Printed(cell=item.cell, text=item.array.text[:500], values=list(item.array.values[:64]),
                shape=list(item.array.shape))
        for item in located[:MAX_PRINTED_PER_ITEM]
    ]
