"""`grader slurm-task` (hidden): what each Slurm array task of `grade --executor slurm` runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from grader.cli.common import fail
from grader.slurm.task import TaskError, run_task

console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)  # text, not Rich markup


def slurm_task(
    run_dir: Annotated[Path, typer.Argument(help="The run folder the coordinator wrote.")],
    index: Annotated[Optional[int], typer.Option(help="Which submission \\[default: $SLURM_ARRAY_TASK_ID].")] = None,
) -> None:
    """One Slurm array task: grade one submission of a run (started by `grade --executor slurm`)."""
    if index is None:
        task_id = os.environ.get("SLURM_ARRAY_TASK_ID", "")
        if not task_id.isdigit():
            raise fail("no --index and no SLURM_ARRAY_TASK_ID: this command runs as a Slurm array task")
        index = int(task_id)
    try:
        written = run_task(run_dir, index)
    except TaskError as err:
        raise fail(str(err)) from None
    console.print(f"task {index}: {written}", highlight=False)
