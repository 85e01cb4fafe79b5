"""Grade one submission: read, locate answers, execute, check, assemble.

Data flows one way: notebook -> layout and answers -> execution evidence ->
checks -> SubmissionResult. The items are graded by `grader.checks.items`, with no kernel; this module runs the
notebook and adds what the run says about the whole submission. Manual scores are applied later, by the gradebook.
"""

from __future__ import annotations

import traceback
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic

import nbformat

from grader.assets.boxes import drawn_images
from grader.captures import plan_captures
from grader.checks.context import Trace
from grader.checks.integrity import cut_cell_source, recorded_values, reference_values, unexplained_prints
from grader.checks.items import ItemGrader, void_result
from grader.checks.tensor import reference_first_inputs
from grader.evidence.model import Evidence
from grader.evidence.offline import offline_notes, offline_run
from grader.execution import Execution, planned_runs
from grader.figures import cam_figures
from grader.notebook.answers import answer_cells
from grader.notebook.locate import Layout, locate
from grader.notebook.printed import Located, printed_arrays
from grader.notebook.read import NotebookError, read_notebook
from grader.reference import ReferenceRun, check_reference, run_as_solution
from grader.replay import FollowThrough
from grader.results import Confinement, Flag, IntegrityFlag, ItemResult, SubmissionResult
from grader.rubric import LoadedRubric, RubricError
from grader.run import NotebookRunner, RunnerError
from grader.scoring import submission_status
from grader.submission import Submission
from grader.unzip import ZipRefused


class Grader:
    """Grades submissions against one rubric and its reference evidence."""

    def __init__(self, rubric: LoadedRubric, runner: NotebookRunner, reference: Evidence,
                 reference_notebook: nbformat.NotebookNode | None = None) -> None:
        """reference_notebook: the solution as the reference run executed it (default: as stored)."""
        self.rubric = rubric
        self.runner = runner
        if reference_notebook is None:
            try:
                reference_notebook = read_notebook(rubric.solution_path).notebook
            except NotebookError as err:
                raise RubricError(f"{rubric.solution_path}: {err}") from None
        # The reference ran every cell in order (it must run without errors), so its runs map to cells.
        self.items = ItemGrader(rubric, Trace.of(reference, planned_runs(reference_notebook)), reference_notebook)
        self._reference_values = reference_values(reference)
        self._reference_inputs = {ident: reference.array(event.array) for ident, event in reference.captures.items()
                                  if ident.endswith("/inputs") and event.array is not None}
        self._first_inputs = reference_first_inputs(rubric.spec.items, self.items.reference)
        check_reference(rubric, ReferenceRun(reference, reference_notebook))
        follows = any(getattr(check, "follow_through", False) for item in rubric.spec.items for check in item.checks)
        self.follow_through = FollowThrough(
            rubric, self.items.reference, reference_notebook,
            lambda nb, plan: run_as_solution(rubric, runner, nb, plan)) if follows else None

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
        layout = locate(nb, self.items.item_ids)
        execution, run_error = self._run(nb, layout, files, gpu)
        student = None
        if execution is not None and execution.evidence is not None:
            student = Trace.of(execution.evidence, execution.run_cells)
        executed_prints = printed_arrays(execution.notebook) if execution else []
        stored_prints = printed_arrays(nb)
        drawn = tuple(drawn_images(files)) if files.is_dir() and self.items.shows_cam else ()
        read = self.items.read_answers(nb, layout)
        items = self.items.grade(nb, layout, read, execution, student, run_error, executed_prints, stored_prints,
                                 drawn, self.follow_through)
        if student is not None:
            for item in items:
                item.figures = cam_figures(item.checks, student.evidence)
        integrity: list[IntegrityFlag] = []

        if execution is not None:
            integrity = self._execution_findings(nb, execution, executed_prints, stored_prints, flags, notes)
        if execution is not None and execution.evidence is not None and execution.evidence.device_fallbacks:
            flags.append("cpu-fallback")
            notes.append("this machine has no GPU: the notebook's CUDA calls "
                         f"({execution.evidence.device_fallbacks[0].call}) ran on the CPU (--cpu-fallback)")
        offline = offline_run(execution.evidence) if execution and execution.evidence else None
        if offline is not None:
            if offline.crawl_substituted:
                flags.append("crawl-substituted")
            notes += offline_notes(offline)
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
            graded_at=_now(), retry=run_error is not None, offline=offline,
        )
        return result, execution.notebook if execution else None

    def _run(self, nb: nbformat.NotebookNode, layout: Layout, files: Path,
             gpu: int | None) -> tuple[Execution | None, str | None]:
        """The notebook's run with the captures its checks ask for, or why it could not run."""
        captures = plan_captures(self.rubric.spec.items, nb, layout, self._reference_inputs, self._first_inputs)
        try:
            return self.runner.run(nb, files, gpu, captures), None
        except RunnerError as err:
            return None, str(err)

    def _execution_findings(self, nb: nbformat.NotebookNode, execution: Execution, executed_prints: list[Located],
                            stored_prints: list[Located], flags: list[str], notes: list[str]) -> list[IntegrityFlag]:
        """What the run shows beyond the items' scores, added to `flags` and `notes`: what stopped it, evidence the
        probe did not write or that could not be read. Returns the cells whose prints nothing recorded explains."""
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
        return integrity

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
            void_result(item) if item.void else
            ItemResult(id=item.id, title=item.title, points=0.0, max_points=item.points, status="error",
                       message=message, evidence="stored")
            for item in self.rubric.spec.items
        ]
        return SubmissionResult(
            **self._identity(submission), status="error", items=items, total=sum(item.points for item in items),
            max=self.rubric.spec.total,
            flags=list(submission.flags), notes=list(submission.notes), error=message, confinement=self.confinement,
            seconds=monotonic() - started, graded_at=_now(),
        )


def uid_confinement_note(uid: int | None, cgroups: bool) -> str:
    """What ran, for the TA, when the kernel was confined by its uid alone."""
    return (f"sandbox: none (bubblewrap cannot create namespaces on this host); the kernel ran as uid {uid} without "
            "namespaces: the rubric, the solution, the reference cache and the gradebook were root-only, but the "
            "network and files readable by all users were in its reach"
            + ("" if cgroups else "; the host has no usable cgroups, so its memory was not capped"))


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
