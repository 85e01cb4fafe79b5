"""Grade one submission: read, locate answers, execute, check, assemble.

Data flows one way: notebook -> layout and answers -> execution evidence ->
checks -> SubmissionResult. Manual scores are applied later, by the gradebook.
"""

from __future__ import annotations

import traceback
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic

import nbformat

from grader.assets.boxes import DrawnImage, drawn_images
from grader.captures import plan_captures
from grader.checks import CHECKS, ItemContext, Trace
from grader.checks.integrity import Located, recorded_values, reference_values, unexplained_prints
from grader.evidence.model import Evidence
from grader.notebook.answers import AnswerReader, Snippet
from grader.notebook.locate import Layout, locate
from grader.notebook.printed import PrintedArray, parse_printed
from grader.notebook.read import NotebookError, read_notebook
from grader.notebook.truefalse import Answer, ChoiceAnswer, holds_only_an_answer, read_choices, read_true_false
from grader.report.plots import cam_figures
from grader.results import (CellRun, CheckResult, Confinement, Flag, IntegrityFlag, ItemResult, Printed,
                            SubmissionResult, checks_line)
from grader.rubric import Item, LoadedRubric, RubricError, Tolerance
from grader.rubric.models import MAX_OPTION_NUMBER
from grader.run import Execution, NotebookRunner, RunnerError
from grader.run.execute import planned_runs
from grader.scoring import checks_status, submission_status
from grader.submission import Submission
from grader.unzip import ZipRefused

MAX_PRINTED_PER_ITEM = 40
MAX_OUTPUT_CHARS = 200_000  # of one output, when looking for printed values
# A flagged cell's code shown beside its integrity note: enough to see a hard-coded print, not a whole script.
MAX_FLAGGED_LINES = 40
MAX_FLAGGED_CHARS = 4000


class Grader:
    """Grades submissions against one rubric and its reference evidence."""

    def __init__(self, rubric: LoadedRubric, runner: NotebookRunner, reference: Evidence,
                 reference_notebook: nbformat.NotebookNode | None = None) -> None:
        """reference_notebook: the solution as the reference run executed it (default: as stored)."""
        self.rubric = rubric
        self.runner = runner
        self.item_ids = [item.id for item in rubric.spec.items]
        self.answers = AnswerReader(rubric.template, self.item_ids)
        self._true_false_items = [item.id for item in rubric.spec.items if item.answer_kind == "true_false"]
        self._choose_all = [group.items for group in rubric.spec.choose_all]
        self._choice_options = {item.id: item.choice_options for item in rubric.spec.items
                                if item.answer_kind == "choice"}
        self._shows_cam = any(check.kind == "cam" for item in rubric.spec.items for check in item.checks)
        if reference_notebook is None:
            try:
                reference_notebook = read_notebook(rubric.solution_path).notebook
            except NotebookError as err:
                raise RubricError(f"{rubric.solution_path}: {err}") from None
        self.reference_notebook = reference_notebook
        # The reference ran every cell in order (it must run without errors), so its runs map to cells.
        self.reference = Trace.of(reference, planned_runs(reference_notebook))
        self._reference_values = reference_values(reference)
        self._reference_inputs = {ident: reference.array(event.array) for ident, event in reference.captures.items()
                                  if ident.endswith("/inputs") and event.array is not None}
        self._reference_printed = printed_by_item(reference_notebook, locate(reference_notebook, self.item_ids))
        self._check_reference(reference)

    @property
    def confinement(self) -> Confinement:
        return self.runner.confinement

    # -- one submission --------------------------------------------------------

    def grade(self, submission: Submission,
              gpu: int | None = None) -> tuple[SubmissionResult, nbformat.NotebookNode | None]:
        """The result, and the executed notebook (None when nothing ran). gpu: the GPU its kernel may use."""
        started = monotonic()
        if submission.error is not None:
            return self._unreadable(submission, submission.error, started), None
        if submission.notebook is None:
            return self._unreadable(submission, f"{submission.path.name} holds no .ipynb notebook", started), None
        with ExitStack() as stack:
            try:
                files = stack.enter_context(submission.files())  # a zip is unpacked here, and removed after
            except ZipRefused as err:
                return self._unreadable(submission, str(err), started), None
            notebook = submission.notebook_at(files)  # for a notebook file, `files` itself
            return self._grade_files(submission, files, notebook, started, gpu)

    def _grade_files(self, submission: Submission, files: Path, notebook: Path, started: float,
                     gpu: int | None) -> tuple[SubmissionResult, nbformat.NotebookNode | None]:
        """Grade the submission's files on disk: `files` is run in, `notebook` is graded."""
        flags, notes = list(submission.flags), list(submission.notes)
        try:
            loaded = read_notebook(notebook)
        except NotebookError as err:
            return self._unreadable(submission, str(err), started), None
        nb = loaded.notebook
        notes += loaded.notes
        layout = locate(nb, self.item_ids)
        captures = plan_captures(self.rubric.spec.items, nb, layout, self._reference_inputs)
        execution: Execution | None = None
        run_error = None
        try:
            execution = self.runner.run(nb, files, gpu, captures)
        except RunnerError as err:
            run_error = str(err)
        student = None
        if execution is not None and execution.evidence is not None:
            student = Trace.of(execution.evidence, execution.run_cells)
        executed_prints = printed_arrays(execution.notebook) if execution else []
        stored_prints = printed_arrays(nb)
        drawn = tuple(drawn_images(files)) if files.is_dir() and self._shows_cam else ()
        read = self._read_answers(nb, layout)
        items = self._grade_items(nb, layout, read, execution, student, run_error, executed_prints, stored_prints,
                                  drawn)
        integrity: list[IntegrityFlag] = []

        if execution is not None:
            flags += _execution_flags(execution, self.runner, notes)
            tolerance = self.rubric.spec.tolerance
            ran = {cell.cell for cell in execution.cells if cell.status in ("ok", "error")}
            unexplained = unexplained_prints(self._reference_values, recorded_values(execution.evidence),
                                             executed_prints, stored_prints, tolerance.atol, tolerance.rtol, ran)
            integrity = [IntegrityFlag(cell=found.cell, note=found.note,
                                       source=cut_cell_source(nb.cells[found.cell - 1].source)) for found in unexplained]
            foreign = execution.evidence.foreign_lines if execution.evidence else []
            if foreign:
                notes.append(f"{len(foreign)} line(s) of the evidence file (line {', '.join(map(str, foreign[:10]))}) "
                             "were not written by the grader's probe: code in the notebook wrote them. They were "
                             "ignored; the rest of the evidence is graded")
            if integrity or foreign:
                flags.append("integrity")
            if execution.evidence_error:
                flags.append("evidence-error")
                notes.append(f"evidence could not be read: {execution.evidence_error}")
        if execution is not None and execution.evidence is not None and execution.evidence.device_fallbacks:
            flags.append("cpu-fallback")
            notes.append("this machine has no GPU: the notebook's CUDA calls "
                         f"({execution.evidence.device_fallbacks[0].call}) ran on the CPU (--cpu-fallback)")
        if self.confinement == "none":
            flags.append("no-sandbox")
        elif self.confinement == "uid":
            flags.append("uid-only")
            if execution is not None:
                notes.append(uid_confinement_note(execution.kernel_uid, self.runner.sandbox.cgroups is not None))
        error = (f"the notebook could not be run: {run_error}" if run_error else
                 f"the grader could not read what the notebook computed: {execution.evidence_error}"
                 if execution and execution.evidence_error else None)
        result = SubmissionResult(
            **self._identity(submission), status=submission_status(error, flags, items), items=items, flags=flags,
            notes=notes, integrity=integrity, error=error, confinement=self.confinement,
            total=sum(item.points for item in items), max=self.rubric.spec.total,
            cells=answer_cells(nb, execution.cells, read) if execution else [], seconds=monotonic() - started,
            graded_at=_now(), retry=run_error is not None,
        )
        return result, execution.notebook if execution else None

    def _identity(self, submission: Submission) -> dict:
        return {"student": submission.key, **submission.identity(), "notebook_hash": submission.content_hash,
                "rubric_hash": self.rubric.hash}

    def failed(self, submission: Submission, err: Exception) -> SubmissionResult:
        """The result when the grader itself failed on a submission: an error for now, retried on the next run."""
        result = self._unreadable(submission, "the grader failed on this submission (not the student's fault); "
                                  "it is graded again on the next run", monotonic())
        result.notes.append("".join(traceback.format_exception(err)).strip()[-4000:])
        result.retry = True
        return result

    def lost(self, submission: Submission, why: str) -> SubmissionResult:
        """The result when the machine grading a submission lost it (a cluster task that failed, timed out or
        whose node died, every try): an error, graded again on the next run. `why` says what the cluster said."""
        result = self._unreadable(submission, f"grading did not finish: {why}. Not the student's fault; it is "
                                              "graded again on the next run", monotonic())
        result.retry = True
        return result

    def _unreadable(self, submission: Submission, message: str, started: float) -> SubmissionResult:
        items = [
            ItemResult(id=item.id, title=item.title, points=0.0, max_points=item.points, status="error",
                       message=message, evidence="stored")
            for item in self.rubric.spec.items
        ]
        return SubmissionResult(
            **self._identity(submission), status="error", items=items, total=0.0, max=self.rubric.spec.total,
            flags=list(submission.flags), notes=list(submission.notes), error=message, confinement=self.confinement,
            seconds=monotonic() - started, graded_at=_now(),
        )

    # -- items -------------------------------------------------------------------

    def _read_answers(self, nb: nbformat.NotebookNode, layout: Layout) -> ReadAnswers:
        return read_answers(self.answers, self.item_ids, self._true_false_items, self._choose_all,
                            self._choice_options, nb, layout)

    def _grade_items(self, nb, layout: Layout, read: ReadAnswers, execution: Execution | None, student: Trace | None,
                     run_error: str | None, executed_prints: list[Located],
                     stored_prints: list[Located], drawn: tuple[DrawnImage, ...] = ()) -> list[ItemResult]:
        snippets, answers, choices = read.snippets, read.true_false, read.choices
        results = []
        for item in self.rubric.spec.items:
            cells = layout.regions.get(item.id, [])
            ctx = item_context(item, self.rubric.spec.tolerance, self.reference, student, nb, cells, execution,
                               snippets[item.id], answers.get(item.id), drawn, choices.get(item.id),
                               self._reference_printed.get(item.id, ()))
            blocked = blocked_reason(item.needs_execution, cells, execution, student, run_error)
            result = self._item_result(item, ctx, blocked)
            if execution is not None and execution.stopped_at in cells and blocked is None and item.needs_execution:
                result.message += f" (execution stopped in cell {execution.stopped_at + 1}: {execution.stopped})"
            result.cells = [index + 1 for index in cells]
            numbers = set(result.cells)  # a list would make this quadratic in the notebook's length
            result.printed = _to_printed([p for p in executed_prints if p.cell in numbers])
            result.stored_printed = _to_printed([p for p in stored_prints if p.cell in numbers])
            results.append(result)
        return results

    def _item_result(self, item: Item, ctx: ItemContext, blocked: tuple[str, str] | None) -> ItemResult:
        evidence = "executed" if item.needs_execution else "stored"
        if blocked is not None:
            status, message = blocked
            return ItemResult(id=item.id, title=item.title, points=0.0, max_points=item.points, status=status,
                              message=message, evidence=evidence)
        checks: list[CheckResult] = [CHECKS[check.kind](check, ctx) for check in item.checks]
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
        figures = cam_figures(checks, ctx.student.evidence) if ctx.student else []
        return ItemResult(id=item.id, title=item.title, points=points, max_points=item.points,
                          status=checks_status(checks), message=message, evidence=evidence, checks=checks,
                          answer=answer, figures=figures)

    # -- the reference must earn full marks on its own rubric ----------------------

    def _check_reference(self, reference: Evidence) -> None:
        """The reference must make every phase the checks name, and earn full marks."""
        path = self.rubric.solution_path
        problems = [
            f"item {item.id}: optimizer phase {check.phase} does not exist in the reference "
            f"(it has {len(self.reference.phases)})"
            for item in self.rubric.spec.items for check in item.checks
            if check.kind == "optimizer_trace" and check.phase > len(self.reference.phases)
        ]
        if any(check.kind in ("module", "tensor") for item in self.rubric.spec.items for check in item.checks):
            if not self.reference.phases:
                problems.append("the reference makes no optimizer updates, so no module was trained")
        if not problems:
            nb = self.reference_notebook
            # Graded as if it were a submission whose run recorded the reference's evidence.
            as_run = Execution(notebook=nb, cells=[], evidence=reference, evidence_error=None, stopped=None, stopped_at=None)
            prints = printed_arrays(nb)
            data = self.rubric.solution_data
            drawn = tuple(drawn_images(data)) if data is not None and self._shows_cam else ()
            layout = locate(nb, self.item_ids)
            for item in self._grade_items(nb, layout, self._read_answers(nb, layout), as_run, self.reference, None,
                                          prints, prints, drawn):
                if item.status != "manual" and item.points != item.max_points:
                    problems.append(f"item {item.id}: {item.points:g}/{item.max_points:g} ({item.message})")
        if problems:
            raise RubricError(f"{path}: the reference solution does not earn full marks on its own rubric:\n  "
                              + "\n  ".join(problems))


# -- shared with the students' self-check, so that both reach the same verdicts -------------------


def item_context(item: Item, tolerance: Tolerance, reference: Trace, student: Trace | None,
                 nb: nbformat.NotebookNode, cells: list[int], execution: Execution | None,
                 snippets: list[Snippet], answer: tuple[Answer, str | None] | None,
                 drawn: tuple[DrawnImage, ...], choice: ChoiceAnswer | None = None,
                 reference_printed: tuple[PrintedArray, ...] = ()) -> ItemContext:
    """What the item's checks may look at. cells: the item's 0-based cells."""
    code_cells = [i for i in cells if nb.cells[i].cell_type == "code"]
    read, note = answer or (None, None)
    output_text = "".join(_output_text(output)[:MAX_OUTPUT_CHARS] for i in code_cells
                          for output in execution.notebook.cells[i].get("outputs", [])) if execution else ""
    return ItemContext.build(
        item, tolerance, reference, student, frozenset(cells),
        answer=read, answer_note=note, choice=choice, text="\n\n".join(s.text.strip() for s in snippets),
        item_outputs=tuple(output for i in code_cells for output in nb.cells[i].get("outputs", [])),
        rerun_failed=execution is not None and any(
            execution.status_of(i) not in (None, "ok") for i in code_cells if nb.cells[i].source.strip()),
        drawn=drawn, code_cells=frozenset(i for i in code_cells if nb.cells[i].source.strip()),
        output_text=output_text, printed=tuple(parse_printed(output_text)), reference_printed=reference_printed,
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


def true_false_answers(reader: AnswerReader, true_false_items: list[str], choose_all: list[list[str]],
                       nb: nbformat.NotebookNode, layout: Layout,
                       snippets: dict[str, list[Snippet]]) -> dict[str, tuple[Answer, str | None]]:
    """Each true/false item's answer as read, and how it was read when not the plain way.
    choose_all: groups of items a list of true statements' numbers may answer at once."""
    answers: dict[str, tuple[Answer, str | None]] = {}
    for item_id in true_false_items:
        answers[item_id] = (read_true_false(_pairs(snippets[item_id]), _cells(snippets[item_id])), None)
    for group in choose_all:
        if all(answers[item_id][0].status == "answered" for item_id in group):
            continue
        problem = int(group[0].split(".")[0])
        group_snippets = reader.preamble_snippets(nb, layout, problem)
        for item_id in group:
            group_snippets += snippets[item_id]
        numbers = {int(item_id.split(".")[1]): item_id for item_id in group}
        chosen = read_choices(_pairs(group_snippets), set(numbers), _cells(group_snippets))
        if chosen.value is None:
            continue
        for number, item_id in numbers.items():
            if answers[item_id][0].status != "answered":
                answers[item_id] = (
                    Answer(value=number in chosen.value, status="answered", source=chosen.listed, cell=chosen.cell),
                    f"from the list of true statements: {chosen.listed}",
                )
    return answers


def choice_answers(choice_options: dict[str, list[int] | None],
                   snippets: dict[str, list[Snippet]]) -> dict[str, ChoiceAnswer]:
    """Each multiple choice item's set of option numbers as read. choice_options: item -> the numbers it offers
    (None: any from 1 to MAX_OPTION_NUMBER)."""
    return {
        item_id: read_choices(_pairs(snippets[item_id]), set(options or range(1, MAX_OPTION_NUMBER + 1)),
                              _cells(snippets[item_id]))
        for item_id, options in choice_options.items()
    }


@dataclass(frozen=True)
class ReadAnswers:
    """What a notebook's cells answer, as read from their text: each item's snippets, true/false answers (with how
    they were read when not the plain way) and multiple choice answers."""

    snippets: dict[str, list[Snippet]]
    true_false: dict[str, tuple[Answer, str | None]]
    choices: dict[str, ChoiceAnswer]


def read_answers(reader: AnswerReader, item_ids: list[str], true_false_items: list[str],
                 choose_all: list[list[str]], choice_options: dict[str, list[int] | None],
                 nb: nbformat.NotebookNode, layout: Layout) -> ReadAnswers:
    snippets = {item_id: reader.item_snippets(nb, layout, item_id) for item_id in item_ids}
    return ReadAnswers(snippets, true_false_answers(reader, true_false_items, choose_all, nb, layout, snippets),
                       choice_answers(choice_options, snippets))


# A cell that is only an answer fails, when run, with one of these (`T`: NameError; `⭕`, `2번, 4번`: SyntaxError).
ANSWER_ERRORS = ("NameError:", "SyntaxError:", "IndentationError:")


def answer_cells(nb: nbformat.NotebookNode, cells: list[CellRun], read: ReadAnswers) -> list[CellRun]:
    """`cells` (a run's), with `answer_note` set on each that raised only because it holds nothing but an answer
    (`T`, `거짓`, `O` alone in a code cell) that was read from it. The error costs nothing: the answer is read from
    the cell's text, never from running it. Students, TAs and the self-check see the same note."""
    read_from: dict[int, list[str]] = {}  # 0-based cell -> "3.2 (False)" for each item whose answer it gave
    for item_id, (answer, _) in read.true_false.items():
        if answer.value is not None and answer.cell is not None:
            read_from.setdefault(answer.cell, []).append(f"{item_id} ({answer.value})")
    for item_id, choice in read.choices.items():
        if choice.value is not None and choice.cell is not None:
            read_from.setdefault(choice.cell, []).append(f"{item_id} ({choice.listed})")
    annotated = []
    for run in cells:
        index = run.cell - 1
        if (run.status == "error" and (run.error or "").startswith(ANSWER_ERRORS) and index in read_from
                and nb.cells[index].cell_type == "code" and holds_only_an_answer(nb.cells[index].source)):
            answered = read_from[index]
            what = f"the answer to {answered[0]}" if len(answered) == 1 else f"the answers to {', '.join(answered)}"
            run = run.model_copy(update={"answer_note": f"read as {what}; the error of running it costs nothing"})
        annotated.append(run)
    return annotated


def uid_confinement_note(uid: int | None, cgroups: bool) -> str:
    """What ran, for the TA, when the kernel was confined by its uid alone."""
    return (f"sandbox: none (bubblewrap cannot create namespaces on this host); the kernel ran as uid {uid} without "
            "namespaces: the rubric, the solution, the reference cache and the gradebook were root-only, but the "
            "network and files readable by all users were in its reach"
            + ("" if cgroups else "; the host has no usable cgroups, so its memory was not capped"))


def _summary(item: Item, checks: list[CheckResult]) -> str:
    """One line per item: answers as read, or each check with a mark and what went wrong."""
    if item.checks[0].kind in ("true_false", "manual", "multiple_choice"):
        return checks[0].message
    return checks_line(checks)


def _execution_flags(execution: Execution, runner: NotebookRunner, notes: list[str]) -> list[Flag]:
    """What stopped the notebook - time, memory, processes, disk - for the report."""
    flags: list[Flag] = []
    if any(cell.status == "timeout" for cell in execution.cells):
        flags.append("timeout")
        notes += [f"cell {cell.cell}: {cell.error}" for cell in execution.cells if cell.status == "timeout"]
    if execution.stopped == "kernel-died":
        flags.append("kernel-died")
        notes.append(f"the kernel died in cell {execution.stopped_at + 1}; later cells did not run")
    limits = runner.sandbox.limits if runner.sandbox else None
    if "memory" in execution.limits_hit and limits:
        flags.append("memory-limit")
        notes.append(f"the notebook used more than its {limits.memory_mb} MB of memory and a process was killed")
    if "processes" in execution.limits_hit and limits:
        flags.append("process-limit")
        notes.append(f"the notebook tried to run more than {limits.processes} processes and threads at once; "
                     "the extra ones were refused")
    disk = [cell for cell in execution.cells if cell.error and any(code in cell.error for code in DISK_ERRORS)]
    if disk:
        flags.append("disk-limit")
        space = f"{limits.tmp_mb} MB per folder, files up to {limits.file_size_mb} MB" if limits else "the disk"
        notes += [f"cell {cell.cell}: ran out of its disk space ({space}): {cell.error}" for cell in disk]
    return flags


# "No space left on device" (a full tmpfs) and "File too large" (the file size limit).
DISK_ERRORS = ("[Errno 28]", "[Errno 27]")


def printed_by_item(nb: nbformat.NotebookNode, layout: Layout) -> dict[str, tuple[PrintedArray, ...]]:
    """The arrays each item's cells printed (a reference's, for `printed` checks)."""
    by_cell: dict[int, list[PrintedArray]] = {}
    for located in printed_arrays(nb):
        by_cell.setdefault(located.cell - 1, []).append(located.array)
    return {item: tuple(array for index in cells for array in by_cell.get(index, []))
            for item, cells in layout.regions.items()}


def printed_arrays(nb: nbformat.NotebookNode) -> list[Located]:
    """Every array printed in the notebook's outputs, with its 1-based cell."""
    found: list[Located] = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for array in parse_printed(_output_text(output)[:MAX_OUTPUT_CHARS]):
                found.append(Located(index + 1, array))
    return found


def _pairs(snippets: list[Snippet]) -> list[tuple[str, str]]:
    return [(snippet.kind, snippet.text) for snippet in snippets]


def _cells(snippets: list[Snippet]) -> list[int]:
    return [snippet.cell for snippet in snippets]


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    data = output.get("data", {})
    text = data.get("text/plain", "") if isinstance(data, dict) else ""
    return "".join(text) if isinstance(text, list) else str(text)


def _to_printed(located: list[Located]) -> list[Printed]:
    return [
        Printed(cell=item.cell, text=item.array.text[:500], values=list(item.array.values[:64]),
                shape=list(item.array.shape))
        for item in located[:MAX_PRINTED_PER_ITEM]
    ]


def cut_cell_source(source: str) -> str:
    """A flagged cell's code for the TA's report: its first MAX_FLAGGED_LINES lines, MAX_FLAGGED_CHARS characters."""
    lines = source.splitlines()
    shown = "\n".join(lines[:MAX_FLAGGED_LINES])
    if len(lines) > MAX_FLAGGED_LINES or len(shown) > MAX_FLAGGED_CHARS:
        shown = f"{shown[:MAX_FLAGGED_CHARS]}\n… (cut: the cell has {len(lines)} line(s), {len(source)} characters)"
    return shown


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
