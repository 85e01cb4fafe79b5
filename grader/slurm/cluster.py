"""Slurm's commands, as the coordinator uses them: sbatch an array, read its tasks' states, cancel it.

States come from `squeue -t all` (finished tasks stay listed for the cluster's MinJobAge) and, where the site
has accounting, from `sacct` for tasks squeue no longer lists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Task states after which a task runs no more (squeue's and sacct's names).
ENDED = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                   "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"})


class SlurmError(Exception):
    """A Slurm command that failed; the message quotes it."""


@dataclass(frozen=True)
class SlurmOptions:
    """What each array task asks of Slurm. time: e.g. 00:30:00; memory: e.g. 8G; gres: e.g. gpu:1;
    max_running: tasks at once (sbatch's %N); extra: more sbatch flags, as given."""

    partition: str | None = None
    account: str | None = None
    time: str | None = None
    memory: str | None = None
    gres: str | None = None
    max_running: int | None = None
    extra: tuple[str, ...] = ()

    def flags(self) -> list[str]:
        given = {"--partition": self.partition, "--account": self.account, "--time": self.time,
                 "--mem": self.memory, "--gres": self.gres}
        return [f"{flag}={value}" for flag, value in given.items() if value] + list(self.extra)


@dataclass(frozen=True)
class TaskState:
    state: str  # PENDING, RUNNING, COMPLETED, FAILED, …
    reason: str  # Slurm's reason, or the exit code where that says more

    @property
    def ended(self) -> bool:
        return self.state.split()[0] in ENDED


def available() -> str | None:
    """Why Slurm cannot be used from here, or None."""
    missing = [tool for tool in ("sbatch", "squeue", "scancel") if shutil.which(tool) is None]
    return f"{', '.join(missing)} not found: run this on a machine with Slurm's client tools" if missing else None


def submit(script: Path, indices: list[int], options: SlurmOptions, name: str, logs: Path) -> str:
    """One array over `indices`; returns its job id."""
    array = ",".join(map(str, indices)) + (f"%{options.max_running}" if options.max_running else "")
    command = ["sbatch", "--parsable", f"--array={array}", f"--job-name={name}",
               f"--output={logs}/%A_%a.out", *options.flags(), str(script)]
    done = _run(command)
    return done.stdout.strip().split(";")[0]


def states(job_ids: list[str]) -> dict[tuple[str, int], TaskState]:
    """(job id, array index) -> state, for every task of these arrays that Slurm still knows."""
    if not job_ids:
        return {}
    found: dict[tuple[str, int], TaskState] = {}
    listed = _run(["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i|%T|%r"], ok=(0, 1))
    for line in listed.stdout.splitlines():
        task, state, reason = (line.split("|") + ["", ""])[:3]
        for job, index in _expand(task):
            found[(job, index)] = TaskState(state, "" if reason == "None" else reason)
    if shutil.which("sacct"):
        accounted = subprocess.run(["sacct", "-n", "-P", "-X", "-j", ",".join(job_ids), "-o", "JobID,State,ExitCode"],
                                   capture_output=True, text=True)
        if accounted.returncode == 0:  # sites without accounting: squeue alone
            for line in accounted.stdout.splitlines():
                task, state, exit_code = (line.split("|") + ["", ""])[:3]
                for job, index in _expand(task):
                    found.setdefault((job, index), TaskState(state, f"exit code {exit_code}"))
    return found


def cancel(job_ids: list[str]) -> None:
    if job_ids:
        _run(["scancel", *job_ids], ok=(0, 1))


_TASK = re.compile(r"^(\d+)_(?:(\d+)|\[([^\]]+)\])$")


def _expand(task: str) -> list[tuple[str, int]]:
    """"12_3" -> [("12", 3)]; "12_[4-6,9%2]" (pending tasks) -> 4, 5, 6, 9; anything else -> []."""
    match = _TASK.match(task.strip())
    if match is None:
        return []
    job, single, ranges = match.groups()
    if single is not None:
        return [(job, int(single))]
    indices = []
    for part in ranges.split("%")[0].split(","):
        first, _, last = part.partition("-")
        indices.extend(range(int(first), int(last or first) + 1))
    return [(job, index) for index in indices]


def _run(command: list[str], ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in ok:
        raise SlurmError(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done
