"""The run folder shared by the coordinator and its array tasks."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from grader.service import KernelOptions

PLAN_FILE = "plan.json"
REFERENCE_FILE = "reference/reference.jsonl"  # with reference.ipynb beside it
RESULTS_DIR = "results"


class RunPlan(BaseModel):
    """Task i grades submission keys[i] of `submissions` (discovered again by the task, as the coordinator did)."""

    rubric: str  # the rubric folder, absolute
    rubric_hash: str  # a task refuses a rubric that changed since the run began
    submissions: str  # the folder or download zip, absolute
    roster: str | None = None  # the course's roster, absolute: it says which key each submission has
    keys: list[str]
    kernels: KernelOptions  # the local run's, as every task applies them; Slurm gives each task its GPU
    cache_dir: str  # the grader's cache (assets), on the shared filesystem

    def write(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        partial = run_dir / f"{PLAN_FILE}.tmp"
        partial.write_text(self.model_dump_json(indent=1), encoding="utf-8")
        partial.replace(run_dir / PLAN_FILE)

    @classmethod
    def read(cls, run_dir: Path) -> RunPlan:
        return cls.model_validate_json((run_dir / PLAN_FILE).read_text(encoding="utf-8"))


def result_path(run_dir: Path, key: str) -> Path:
    return run_dir / RESULTS_DIR / f"{key}.json"
