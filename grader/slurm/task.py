"""One array task: grade submission number SLURM_ARRAY_TASK_ID of the run's plan, write its result as JSON."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import nbformat

from grader.lms.roster import RosterError, read_roster
from grader.paths import EXECUTED_DIR
from grader.reference import load_reference
from grader.rubric import load_rubric
from grader.service import prepare
from grader.slurm.plan import REFERENCE_FILE, RunPlan, result_path
from grader.submission import discovered


class TaskError(Exception):
    """A task that cannot grade its submission; the coordinator records the message."""


def assigned_gpu() -> int | None:
    """The GPU Slurm gave this task (--gres gpu:1), as CUDA_VISIBLE_DEVICES names it; None without one."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return int(visible) if visible.isdigit() else None


def run_task(run_dir: Path, index: int) -> Path:
    """Grades submission `index` of the plan; returns where its result was written."""
    plan = RunPlan.read(run_dir)
    if not 0 <= index < len(plan.keys):
        raise TaskError(f"task {index}: the plan in {run_dir} has {len(plan.keys)} submission(s)")
    key = plan.keys[index]
    loaded = load_rubric(Path(plan.rubric))
    if loaded.hash != plan.rubric_hash:
        raise TaskError(f"{plan.rubric} changed after this run began; grade again to start a new run")
    gpu = assigned_gpu()
    options = dataclasses.replace(plan.kernels, gpus=(gpu,) if gpu is not None else (),
                                  cpu_fallback=plan.kernels.cpu_fallback and gpu is None)
    grader = prepare(loaded, options, Path(plan.cache_dir), load_reference(run_dir / REFERENCE_FILE)).grader
    try:
        roster = read_roster(Path(plan.roster)) if plan.roster is not None else None
    except (RosterError, OSError) as err:
        raise TaskError(f"the roster cannot be read again: {err}") from None
    with discovered(Path(plan.submissions), loaded.spec.submission.notebook, roster) as found:
        submission = next((candidate for candidate in found if candidate.key == key), None)
        if submission is None:
            raise TaskError(f"no submission {key} in {plan.submissions} any more")
        try:
            result, executed = grader.grade(submission, gpu=gpu)
        except Exception as err:  # a grader bug on one file: recorded like a local worker's
            result, executed = grader.failed(submission, err), None
    if executed is not None:
        folder = run_dir / EXECUTED_DIR
        folder.mkdir(exist_ok=True)
        nbformat.write(executed, folder / f"{key}.ipynb")
    target = result_path(run_dir, key)
    target.parent.mkdir(exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(result.model_dump_json(), encoding="utf-8")
    partial.replace(target)  # last: a result file exists only whole
    return target
