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
from pathlib import Path

from pydantic import BaseModel, ValidationError

from grader.batch import EXECUTED_DIR, BatchOutcome
from grader.gradebook import Gradebook
from grader.grading import Grader
from grader.reference import ReferenceRun, save_reference
from grader.results import SubmissionResult
from grader.slurm import cluster
from grader.slurm.cluster import SlurmOptions, TaskState
from grader.slurm.plan import PLAN_FILE, REFERENCE_FILE, RunPlan, result_path
from grader.slurm.plan import EXECUTED_DIR as TASK_EXECUTED_DIR
from grader.submission import Submission

RUN_DIR = "slurm"
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
    todo: list[Submission], grader: Grader, reference: ReferenceRun, plan: RunPlan, gradebook: Gradebook,
    out: Path, options: SlurmOptions, retries: int, poll_s: float = 2.0,
    on_done: Callable[[Submission, SubmissionResult | None], None] = lambda submission, result: None,
    on_submitted: Callable[[str, int], None] = lambda job, count: None,
) -> BatchOutcome:
    """Grades `todo` (submissions of `plan.keys`) on Slurm and stores each result as it arrives.

    On Ctrl-C the arrays are cancelled, the state is kept, and the interrupt goes on to the caller: the same
    command resumes."""
    run_dir = out / RUN_DIR
    state = _prepare(run_dir, plan, reference)
    outcome = BatchOutcome()
    executed = out / EXECUTED_DIR
    executed.mkdir(parents=True, exist_ok=True)
    waiting = {submission.key: submission for submission in todo}

    def store(submission: Submission, result: SubmissionResult) -> None:
        task_notebook = run_dir / TASK_EXECUTED_DIR / f"{submission.key}.ipynb"
        if task_notebook.is_file():
            shutil.copyfile(task_notebook, executed / f"{submission.key}.ipynb")
        gradebook.store(result)
        result_path(run_dir, submission.key).unlink(missing_ok=True)  # stored: never read again on a resume
        outcome.graded += 1
        outcome.errors += result.status == "error"
        if result.flags:
            outcome.flagged.append(submission.key)
        del waiting[submission.key]
        on_done(submission, result)

    def collect() -> None:
        for key, submission in list(waiting.items()):
            result = _finished(run_dir, submission, grader)
            if result is not None:
                store(submission, result)

    def submit(keys: list[str]) -> None:
        indices = sorted(plan.keys.index(key) for key in keys)
        job = cluster.submit(run_dir / SCRIPT_FILE, indices, options, f"grader-{grader.rubric.id}", run_dir / "logs")
        state.jobs.append(job)
        for key in keys:
            state.attempts[key] = state.attempts.get(key, 0) + 1
            state.tasks[key] = (job, plan.keys.index(key))
        state.save(run_dir)
        on_submitted(job, len(keys))

    try:
        collect()  # finished while no coordinator was following
        known = cluster.states(state.jobs)
        following = {key for key in waiting if key in state.tasks
                     and (task := known.get(tuple(state.tasks[key]))) is not None and not task.ended}
        if new := [key for key in waiting if key not in following]:
            submit(new)
        while waiting:
            time.sleep(poll_s)
            collect()
            known = cluster.states(state.jobs)
            collect()  # a result written just before its task ended
            again = []
            for key, submission in list(waiting.items()):
                task = known.get(tuple(state.tasks[key]))
                if task is not None and not task.ended:
                    continue
                job, index = state.tasks[key]
                why = _why(task, run_dir / "logs" / f"{job}_{index}.out")
                if state.attempts[key] <= retries:
                    again.append(key)
                else:
                    store(submission, grader.lost(submission, why))
            if again:
                submit(again)
    except KeyboardInterrupt:
        cluster.cancel(state.jobs)
        raise
    return outcome


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
