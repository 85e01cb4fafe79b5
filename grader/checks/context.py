"""What a check may look at: evidence and answers, never the student's code.

`item_context` and `blocked_reason` are shared by grading and the students' self-check, so that both reach the
same verdicts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import nbformat

from grader.assets.boxes import DrawnImage
from grader.evidence import Evidence, ModuleInfo
from grader.evidence.model import ForwardEvent
from grader.evidence.trace import Phase, last_output_before, match_phases, phases, trained_module
from grader.evidence.training import is_own
from grader.execution import Execution
from grader.notebook.answers import Snippet
from grader.notebook.printed import MAX_OUTPUT_CHARS, PrintedArray, output_text, parse_printed
from grader.notebook.truefalse import Answer, ChoiceAnswer
from grader.rubric import Item, Tolerance


@dataclass(frozen=True)
class Trace:
    """A student's (or the reference's) recorded computation, with the views checks share."""

    evidence: Evidence
    phases: list[Phase]
    run_cells: dict[int, int] = field(default_factory=dict)  # probe run -> 0-based cell index
    regions: dict[str, list[int]] = field(default_factory=dict)  # item id -> its 0-based cells in that notebook

    @classmethod
    def of(cls, evidence: Evidence, run_cells: dict[int, int] | None = None) -> Trace:
        return cls(evidence=evidence, phases=phases(evidence), run_cells=run_cells or {})

    def runs_of(self, cells: Iterable[int]) -> frozenset[int]:
        """The probe runs of these cells (a cell run twice has two)."""
        wanted = set(cells)
        return frozenset(run for run, cell in self.run_cells.items() if cell in wanted)

    def item_runs(self, item_id: str) -> frozenset[int]:
        return self.runs_of(self.regions.get(item_id, ()))

    def cell_number(self, run: int) -> int | None:
        """1-based notebook cell of a probe run, for messages."""
        index = self.run_cells.get(run)
        return None if index is None else index + 1


@dataclass(frozen=True)
class ItemContext:
    item: Item
    tolerance: Tolerance  # the rubric's default
    reference: Trace
    student: Trace | None  # None when nothing was recorded
    matched: dict[int, Phase | None]  # reference phase number -> the student's phase
    item_cells: frozenset[int]  # 0-based cells located for this item
    answer: Answer | None = None  # true/false items
    answer_note: str | None = None  # how the answer was read, when not the plain way
    choice: ChoiceAnswer | None = None  # multiple choice items
    text: str = ""  # manual items: what the student wrote
    item_outputs: tuple[dict, ...] = ()  # the stored outputs of this item's cells, as submitted
    rerun_failed: bool = False  # some of this item's cells raised, timed out or did not run when re-executed
    drawn: tuple[DrawnImage, ...] = ()  # images of the submission whose object's box is known (boxes.json)
    code_cells: frozenset[int] = frozenset()  # the item's non-empty code cells, 0-based
    output_text: str = ""  # what the item's cells printed when re-executed
    printed: tuple[PrintedArray, ...] = ()  # the arrays in that output
    reference_printed: tuple[PrintedArray, ...] = ()  # the arrays the reference printed in this item

    @classmethod
    def build(cls, item: Item, tolerance: Tolerance, reference: Trace, student: Trace | None,
              item_cells: frozenset[int], **answers) -> ItemContext:
        matched = match_phases(reference.phases, student.phases) if student else {}
        return cls(item=item, tolerance=tolerance, reference=reference, student=student,
                   matched=matched, item_cells=item_cells, **answers)

    def student_module(self) -> ModuleInfo | None:
        """The module the student trained in the first phase; failing that, the last module built in this item's
        cells of the reference's class, or, where the reference's network is a class of its own, the last network
        of a class the student wrote (whatever its name) that no other module holds."""
        if self.student is None:
            return None
        module = trained_module(self.student.evidence, self.matched.get(1))
        if module is not None:
            return module
        wanted = self.reference_module()
        modules = self.student.evidence.modules.values()
        held = {child for module in modules for child in module.children}
        built_here = [
            module for module in modules if self.student.run_cells.get(module.run) in self.item_cells and (
                module.key not in held and is_own(module) if is_own(wanted) else module.class_ == wanted.class_)
        ]
        return built_here[-1] if built_here else None

    def reference_module(self) -> ModuleInfo:
        module = trained_module(self.reference.evidence, self.reference.phases[0] if self.reference.phases else None)
        if module is None:
            raise LookupError("the reference solution trains no module")
        return module

    def first_prediction(self, trace: Trace, module: ModuleInfo, phase: Phase | None) -> ForwardEvent | None:
        """The module's output that fed the phase's first update (its last
        output at all when it never was updated)."""
        return last_output_before(trace.evidence, module.key, phase.steps[0].seq if phase else None)


def item_context(item: Item, tolerance: Tolerance, reference: Trace, student: Trace | None,
                 nb: nbformat.NotebookNode, cells: list[int], execution: Execution | None,
                 snippets: list[Snippet], answer: tuple[Answer, str | None] | None,
                 drawn: tuple[DrawnImage, ...], choice: ChoiceAnswer | None = None,
                 reference_printed: tuple[PrintedArray, ...] = ()) -> ItemContext:
    """What the item's checks may look at. cells: the item's 0-based cells."""
    code_cells = [i for i in cells if nb.cells[i].cell_type == "code"]
    read, note = answer or (None, None)
    printed_text = "".join(output_text(output)[:MAX_OUTPUT_CHARS] for i in code_cells
                           for output in execution.notebook.cells[i].get("outputs", [])) if execution else ""
    return ItemContext.build(
        item, tolerance, reference, student, frozenset(cells),
        answer=read, answer_note=note, choice=choice, text="\n\n".join(s.text.strip() for s in snippets),
        item_outputs=tuple(output for i in code_cells for output in nb.cells[i].get("outputs", [])),
        rerun_failed=execution is not None and any(
            execution.status_of(i) not in (None, "ok") for i in code_cells if nb.cells[i].source.strip()),
        drawn=drawn, code_cells=frozenset(i for i in code_cells if nb.cells[i].source.strip()),
        output_text=printed_text, printed=tuple(parse_printed(printed_text)), reference_printed=reference_printed,
    )


def blocked_reason(needs_execution: bool, cells: list[int], execution: Execution | None, student: Trace | None,
                   run_error: str | None) -> tuple[str, str] | None:
    """(status, message) when an item that needs execution cannot be checked."""
    if not needs_execution:
        return None
    if execution is None:
        return "error", f"the notebook could not be run ({run_error})"
    code_cells = [i for i in cells if execution.status_of(i) is not None]
    if code_cells and all(execution.status_of(i) == "not-run" for i in code_cells):
        where = execution.stopped_at + 1 if execution.stopped_at is not None else "?"
        reason = {
            "kernel-died": f"the kernel died in cell {where}",
            "budget": f"the notebook's time budget ran out in cell {where}",
            "unresponsive": f"cell {where} ran past its time limit and could not be interrupted",
        }.get(execution.stopped or "", "execution stopped")
        return "not-reached", f"not reached: {reason}"
    if student is None:
        return "error", f"the grader could not read what the notebook computed ({execution.evidence_error})"
    return None
