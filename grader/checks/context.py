"""What a check may look at: evidence and answers, never the student's code."""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.assets.boxes import DrawnImage
from grader.evidence import Evidence, ModuleInfo
from grader.evidence.trace import Phase, last_output_before, match_phases, phases, trained_module
from grader.evidence.model import ForwardEvent
from grader.notebook.printed import PrintedArray
from grader.notebook.truefalse import Answer, ChoiceAnswer
from grader.rubric import Item, Tolerance


@dataclass(frozen=True)
class Trace:
    """A student's (or the reference's) recorded computation, with the views checks share."""

    evidence: Evidence
    phases: list[Phase]
    run_cells: dict[int, int] = field(default_factory=dict)  # probe run -> 0-based cell index

    @classmethod
    def of(cls, evidence: Evidence, run_cells: dict[int, int] | None = None) -> Trace:
        return cls(evidence=evidence, phases=phases(evidence), run_cells=run_cells or {})

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
        """The module the student trained in the first phase; failing that, the
        last module of the reference's class built in this item's cells."""
        if self.student is None:
            return None
        module = trained_module(self.student.evidence, self.matched.get(1))
        if module is not None:
            return module
        wanted = self.reference_module().class_
        built_here = [
            module for module in self.student.evidence.modules.values()
            if self.student.run_cells.get(module.run) in self.item_cells and module.class_ == wanted
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
