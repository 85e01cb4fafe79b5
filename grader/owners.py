"""What graders on one host share: which grader left something behind (a cgroup, a workspace, a uid marker) and
whether it still runs, and the locks they take turns under.

A grader names what it leaves with its owner tag, `<pid>-<start>`: its pid and its start time (field 22 of
/proc/<pid>/stat, clock ticks since boot). A pid alone is reused: a live unrelated process given a dead grader's
pid would keep that grader's leftovers forever, and a new grader given it would take them for its own.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path


def start_time(pid: int) -> int | None:
    """When `pid` started; None when no process has it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # fields from the third on follow the name's closing parenthesis


@cache
def _tag_of(pid: int) -> str:
    return f"{pid}-{start_time(pid)}"


def own_tag() -> str:
    """This process's owner tag (a forked child has its own)."""
    return _tag_of(os.getpid())


def left_by_dead_grader(name: str) -> bool:
    """Whether `name` begins with an owner tag (`<pid>-<start>-…`, at least one part after it) whose process no
    longer runs. A name of two parts (`<pid>-<rest>`) is a grader's of an earlier version, which tagged with its
    pid alone: it is left only while that pid runs, whoever has it now. Other names are not a grader's: left alone."""
    parts = name.split("-")
    if not parts[0].isdigit():
        return False
    if len(parts) < 3 or not parts[1].isdigit():
        return len(parts) == 2 and start_time(int(parts[0])) is None
    return start_time(int(parts[0])) != int(parts[1])


@contextmanager
def held_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created if missing) for the block: other processes wait; a process killed
    while holding it lets it go."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
