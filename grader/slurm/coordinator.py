"""The coordinator: one sbatch array per batch, followed until every submission has a result in the gradebook.

It runs where `grader grade` runs and is the only writer of the gradebook: tasks write `results/<key>.json` into
the run folder (`OUT/slurm`), the coordinator stores each one as it appears. What it submitted is kept in
`state.json`, so a coordinator that was killed and started again follows the tasks still queued or running
instead of submitting them twice, and stores what finished meanwhile. A task that ended without a result is
submitted again, up to the rubric's `execution.retries`, then recorded as an error with Slurm's reason.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from grader.batch import BatchOutcome, needs_grading
from grader.gradebook import Gradebook
from grader.grading import Grader
from grader.paths import EXECUTED_DIR, SLURM_RUN_DIR
from grader.reference import ReferenceRun, save_reference
from grader.results import SubmissionResult
from grader.slurm import cluster
from grader.slurm.cluster import SlurmOptions, TaskState
from grader.slurm.plan import PLAN_FILE, REFERENCE_FILE, RunPlan, result_path
from grader.submission import Submission

STATE_FILE = "state.json"
SCRIPT_FILE = "task.sh"


class RunState(BaseModel):
    """What this run folder's coordinator submitted, for the plan whose digest it names."""

    plan: str
    jobs: list[str] = []
    attempts: dict[str, int] = {}  # submission key -> tasks submitted for it
    tasks: dict[str, tuple[str, int]] = {}  # submission key -> (job id, array index) of its latest task

    def save(self, run_dir: Path) -> None:
        partial = run_dir / f"{STATE_FILE}.tmp"
        partial.write_text(self.model_dump_json(indent=1), encoding="utf-8")
        partial.replace(run_dir / STATE_FILE)


def grade_on_slurm(
    submissions: list[Submission], grader: Grader, reference: ReferenceRun, plan: RunPlan, gradebook: Gradebook,
    out: Path, options: SlurmOptions, retries: int, force: bool = False, poll_s: float = 2.0,
    on_done: Callable[[Submission, SubmissionResult | None], None] = lambda submission, result: None,
    on_submitted: Callable[[str, int], None] = lambda job, count: None,
) -> BatchOutcome:
    """Grades what is new or changed of `submissions` (those of `plan.keys`) on Slurm and stores each result as
    it arrives.

    On Ctrl-C the arrays are cancelled, the state is kept, and the interrupt goes on to the caller: the same
    command resumes."""
    todo, current = needs_grading(submissions, gradebook, grader.rubric.hash, grader.confinement, force)
    for submission in current:
        on_done(submission, None)
    run_dir = out / SLURM_RUN_DIR
    (out / EXECUTED_DIR).mkdir(parents=True, exist_ok=True)
    run = _Run(run_dir, _prepare(run_dir, plan, reference), plan, grader, gradebook, out, options, on_done,
               on_submitted, {submission.key: submission for submission in todo},
               BatchOutcome(skipped=len(current)))
    try:
        run.follow(retries, poll_s)
    except KeyboardInterrupt:
        cluster.cancel(run.state.jobs)
        raise
    return run.outcome


@dataclass
class _Run:
    """One coordinator following its arrays: `waiting` are the submissions without a stored result yet."""

    run_dir: Path
    state: RunState
    plan: RunPlan
    grader: Grader
    gradebook: Gradebook
    out: Path
    options: SlurmOptions
    on_done: Callable[[Submission, SubmissionResult | None], None]
    on_submitted: Callable[[str, int], None]
    waiting: dict[str, Submission]
    outcome: BatchOutcome

    def follow(self, retries: int, poll_s: float) -> None:
        """Until every submission is stored: a task that ended without a result is submitted again, up to
        `retries` times, then its submission is recorded as lost."""
        self.collect()  # finished while no coordinator was following
        known = cluster.states(self.state.jobs)
        following = {key for key in self.waiting if key in self.state.tasks
                     and (task := known.get(tuple(self.state.tasks[key]))) is not None and not task.ended}
        if new := [key for key in self.waiting if key not in following]:
            self.submit(new)
        while self.waiting:
            time.sleep(poll_s)
            self.collect()
            known = cluster.states(self.state.jobs)
            self.collect()  # a result written just before its task ended
            again = []
            for key, submission in list(self.waiting.items()):
                task = known.get(tuple(self.state.tasks[key]))
                if task is not None and not task.ended:
                    continue
                job, index = self.state.tasks[key]
                why = _why(task, self.run_dir / "logs" / f"{job}_{index}.out")
                if self.state.attempts[key] <= retries:
                    again.append(key)
                else:
                    self.store(submission, self.grader.lost(submission, why))
            if again:
                self.submit(again)

    def store(self, submission: Submission, result: SubmissionResult) -> None:
        task_notebook = self.run_dir / EXECUTED_DIR / f"{submission.key}.ipynb"
        if task_notebook.is_file():
            shutil.copyfile(task_notebook, self.out / EXECUTED_DIR / f"{submission.key}.ipynb")
        self.gradebook.store(result)
        result_path(self.run_dir, submission.key).unlink(missing_ok=True)  # stored: never read again on a resume
        self.outcome.add(submission, result)
        del self.waiting[submission.key]
        self.on_done(submission, result)

    def collect(self) -> None:
        for submission in list(self.waiting.values()):
            result = _finished(self.run_dir, submission, self.grader)
            if result is not None:
                self.store(submission, result)

    def submit(self, keys: list[str]) -> None:
        indices = sorted(self.plan.keys.index(key) for key in keys)
        job = cluster.submit(self.run_dir / SCRIPT_FILE, indices, self.options, f"grader-{self.grader.rubric.id}",
                             self.run_dir / "logs")
        self.state.jobs.append(job)
        for key in keys:
            self.state.attempts[key] = self.state.attempts.get(key, 0) + 1
            self.state.tasks[key] = (job, self.plan.keys.index(key))
        self.state.save(self.run_dir)
        self.on_submitted(job, len(keys))


def _prepare(run_dir: Path, plan: RunPlan, reference: ReferenceRun) -> RunState:
    """The run folder for `plan`: kept with its state when the plan is the same, started afresh (the old arrays
    cancelled) when the rubric or the submissions changed."""
    digest = "sha256:" + hashlib.sha256(plan.model_dump_json().encode()).hexdigest()
    state_file = run_dir / STATE_FILE
    if state_file.is_file():
        try:
            state = RunState.model_validate_json(state_file.read_text(encoding="utf-8"))
        except ValidationError:
            state = None
        if state is not None and state.plan == digest and (run_dir / PLAN_FILE).is_file():
            return state
        if state is not None:
            cluster.cancel(state.jobs)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    save_reference(reference, run_dir / REFERENCE_FILE)
    plan.write(run_dir)
    script = run_dir / SCRIPT_FILE
    # The nodes run the same interpreter and grader, from the shared filesystem.
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m grader slurm-task {run_dir.resolve()}\n", encoding="utf-8")
    script.chmod(0o755)
    state = RunState(plan=digest)
    state.save(run_dir)
    return state


def _finished(run_dir: Path, submission: Submission, grader: Grader) -> SubmissionResult | None:
    """The task's result for this very notebook and rubric, if one was written."""
    path = result_path(run_dir, submission.key)
    try:
        result = SubmissionResult.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None
    if result.notebook_hash != submission.content_hash or result.rubric_hash != grader.rubric.hash:
        return None  # from an earlier run, of another notebook or rubric
    return result


def _why(task: TaskState | None, log: Path) -> str:
    """What Slurm said of a task that wrote no result, and the last line of its log."""
    if task is None:
        why = "Slurm no longer lists the task and it wrote no result"
    else:
        why = f"the Slurm task ended {task.state}" + (f" ({task.reason})" if task.reason else "") + " without a result"
    try:
        last = next((line.strip() for line in reversed(log.read_text(errors="replace").splitlines()) if line.strip()),
                    "")
    except OSError:
        last = ""
    return why + (f"; its log ({log}) ends: {last[-300:]}" if last else "")
