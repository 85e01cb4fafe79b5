"""Grade a folder into a gradebook, then write every output from the gradebook.

Submissions are graded by a pool of worker threads, one kernel each; the main
thread alone writes the gradebook and the executed notebooks, so the order in
which workers finish changes nothing that is stored.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.export import write_results_json
from grader.gradebook import Gradebook, RubricSummary
from grader.grading import Grader
from grader.lms.roster import RosterError, RosterMatch, read_roster
from grader.lms.rows import match_results
from grader.notebook.locate import locate
from grader.paths import EXECUTED_DIR, RESULTS_FILE
from grader.report import write_reports
from grader.report.render import report_name
from grader.results import Confinement, SubmissionResult
from grader.rubric import LoadedRubric
from grader.submission import Submission

Graded = tuple[SubmissionResult, nbformat.NotebookNode | None]  # the result, and the executed notebook if one ran


@dataclass
class BatchOutcome:
    graded: int = 0
    skipped: int = 0
    errors: int = 0
    flagged: list[str] = field(default_factory=list)

    def add(self, submission: Submission, result: SubmissionResult) -> None:
        """Counts a result just stored."""
        self.graded += 1
        self.errors += result.status == "error"
        if result.flags:
            self.flagged.append(submission.key)


@dataclass(frozen=True)
class Workers:
    """The kernels that run at once: one entry per worker, the GPU it gives its kernels (None: CPU only)."""

    gpus: tuple[int | None, ...]

    @classmethod
    def plan(cls, jobs: int, gpus: tuple[int, ...] = (), per_gpu: int = 1) -> Workers:
        """`jobs` CPU workers, or with GPUs `per_gpu` workers on each of them."""
        if gpus:
            return cls(tuple(gpu for gpu in gpus for _ in range(per_gpu)))
        return cls((None,) * jobs)

    @property
    def count(self) -> int:
        return len(self.gpus)


def auto_jobs(memory_mb: int) -> tuple[int, str]:
    """As many kernels as there are cores, and as fit in the memory available at their limit; why."""
    cores = len(os.sched_getaffinity(0))
    available_mb = _available_memory_mb()
    jobs = max(1, min(cores, available_mb // memory_mb))
    return jobs, f"{cores} core(s), {available_mb / 1024:.1f} GB available ÷ {memory_mb} MB per kernel"


def _available_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def rubric_summary(rubric: LoadedRubric, assets: str = "") -> RubricSummary:
    spec = rubric.spec
    questions = question_texts(rubric)
    return RubricSummary(
        id=spec.id, title=spec.title, hash=rubric.hash, total=spec.total, assets=assets, late=spec.late,
        items=[{"id": item.id, "title": item.title, "points": item.points, "visibility": item.visibility,
                "void_points": item.void_points,
                "kinds": [check.kind for check in item.checks], "question": questions.get(item.id, ""),
                # Each check's own visibility (a check may override its item's): what students may see on submission.
                "checks": [{"name": check.name, "points": check.points,
                            "visibility": "public" if item.is_public(check) else "hidden"} for check in item.checks]}
               for item in spec.items],
    )


def question_texts(rubric: LoadedRubric) -> dict[str, str]:
    """Item id -> the markdown of the template cell that asks it, for the TA grading it by hand."""
    layout = locate(rubric.template, [item.id for item in rubric.spec.items])
    return {item: rubric.template.cells[index].source for item, index in layout.question_cells.items()
            if rubric.template.cells[index].cell_type == "markdown"}


def needs_grading(submissions: list[Submission], gradebook: Gradebook, rubric_hash: str, confinement: Confinement,
                  force: bool = False) -> tuple[list[Submission], list[Submission]]:
    """(what to grade, what the gradebook holds graded already from the same files, rubric and confinement);
    with `force`, everything is to grade."""
    todo: list[Submission] = []
    current: list[Submission] = []
    for submission in submissions:
        graded = not force and gradebook.is_current(submission.key, submission.content_hash, rubric_hash,
                                                    confinement=confinement, identity=submission.identity())
        (current if graded else todo).append(submission)
    return todo, current


def grade_submissions(
    submissions: list[Submission],
    grader: Grader,
    gradebook: Gradebook,
    out: Path,
    force: bool = False,
    on_done: Callable[[Submission, SubmissionResult | None], None] = lambda submission, result: None,
    workers: Workers = Workers((None,)),
) -> BatchOutcome:
    """Grade what is new or changed; each submission is stored as soon as it is graded.

    On Ctrl-C (KeyboardInterrupt) the running kernels are stopped, whatever finished is
    stored, and the interrupt goes on to the caller.
    """
    todo, current = needs_grading(submissions, gradebook, grader.rubric.hash, grader.confinement, force)
    outcome = BatchOutcome(skipped=len(current))
    for submission in current:
        on_done(submission, None)
    executed_dir = out / EXECUTED_DIR
    executed_dir.mkdir(parents=True, exist_ok=True)

    def store(submission: Submission, future: Future) -> None:
        result, executed = future.result()
        if executed is not None:
            _write_notebook(executed_dir / f"{submission.key}.ipynb", executed)
        gradebook.store(result)
        outcome.add(submission, result)
        on_done(submission, result)

    grade = _on_a_free_gpu(grader, workers)
    with ThreadPoolExecutor(workers.count, thread_name_prefix="grader-worker") as pool:
        futures = {pool.submit(grade, submission): submission for submission in todo}
        stored: set[Future] = set()
        try:
            for future in as_completed(futures):
                store(futures[future], future)
                stored.add(future)
        except KeyboardInterrupt:
            grader.runner.active.cancel_all()
            for future in futures:
                future.cancel()
            wait(futures)  # the running kernels and their sandboxes are being shut down
            for future, submission in futures.items():
                if future not in stored and not future.cancelled() and future.exception() is None:
                    store(submission, future)
            raise
    return outcome


def _on_a_free_gpu(grader: Grader, workers: Workers) -> Callable[[Submission], Graded]:
    """What a worker runs: grade one submission with a GPU no other worker holds (or none, on the CPU)."""
    free_gpus: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    for gpu in workers.gpus:
        free_gpus.put(gpu)

    def grade(submission: Submission) -> Graded:
        gpu = free_gpus.get()  # a worker's GPU, held while its kernel runs
        try:
            return grader.grade(submission, gpu=gpu)
        except Exception as err:  # a grader bug on one file must not cost the rest of the batch
            return grader.failed(submission, err), None
        finally:
            free_gpus.put(gpu)

    return grade


def follow_new_keys(out: Path, gradebook: Gradebook, submissions: list[Submission]) -> dict[str, str]:
    """The gradebook follows submissions whose key changed since an earlier run (`Gradebook.follow`: a roster
    now says whose they are); what grading wrote under an old key goes, and is written again under the new one.
    Returns old key -> new key."""
    moves = gradebook.follow({submission.key: submission.identity() for submission in submissions})
    for old in moves:
        (out / EXECUTED_DIR / f"{old}.ipynb").unlink(missing_ok=True)
        (out / report_name(old)).unlink(missing_ok=True)
    return moves


def write_outputs(out: Path, gradebook: Gradebook) -> list[SubmissionResult]:
    """results.json and the HTML reports, from the gradebook (manual scores applied). A roster given to
    `grade` is read again, so that a corrected roster shows at the next report."""
    rubric = gradebook.rubric()
    assert rubric is not None, "a gradebook gets its rubric before any result"
    results = gradebook.results()
    out.mkdir(parents=True, exist_ok=True)
    write_results_json(out / RESULTS_FILE, rubric, results)
    roster_file = gradebook.roster_path()
    roster: tuple[Path, RosterMatch | str] | None = None
    if roster_file is not None:
        try:
            roster = (roster_file, match_results(read_roster(roster_file), results))
        except RosterError as err:  # moved or edited since `grade`: the summary says so
            roster = (roster_file, str(err))
    write_reports(out, rubric, results, {result.student: gradebook.history(result.student) for result in results},
                  roster)
    return results


def _write_notebook(path: Path, nb: nbformat.NotebookNode) -> None:
    partial = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, partial)
    partial.replace(path)
