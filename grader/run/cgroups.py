"""Memory and process limits for one kernel through Linux control groups.

A kernel's cgroup is created before the kernel starts; the launcher writes its
own pid into it and then execs the sandbox, so every process the student's
code ever starts is inside. After the run the grader reads which limit was hit
(an OOM kill, a refused fork), kills whatever is left and removes the group.

Both hierarchies are supported: cgroup v2 (one tree) and v1 (a tree per
controller, which is what this project's CI machines have). Group names carry
the grader's owner tag (`<pid>-<start>-<uid>`, grader.owners) so a later run can
remove the groups of a grader that was killed, along with anything still running
in them, and never a live grader's.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from grader.owners import left_by_dead_grader

PARENT = "grader"
CONTROLLERS = ("memory", "pids")


class CgroupError(Exception):
    """Limits cannot be enforced on this host; the message says why and what to do."""


@dataclass(frozen=True)
class KernelCgroup:
    version: int
    dirs: tuple[Path, ...]  # v2: one directory; v1: the memory and the pids directory

    @property
    def procs_files(self) -> list[Path]:
        return [folder / "cgroup.procs" for folder in self.dirs]

    def set_limits(self, memory_bytes: int, max_processes: int) -> None:
        if self.version == 2:
            folder = self.dirs[0]
            (folder / "memory.max").write_text(str(memory_bytes))
            swap = folder / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
            (folder / "pids.max").write_text(str(max_processes))
        else:
            memory, pids = self.dirs
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            swap = memory / "memory.memsw.limit_in_bytes"
            if swap.exists():  # memory plus swap: no escaping the limit into swap
                swap.write_text(str(memory_bytes))
            (pids / "pids.max").write_text(str(max_processes))

    def limits_hit(self) -> list[str]:
        """Which limits stopped something: "memory" (a process was OOM-killed), "processes" (a fork was refused)."""
        hit = []
        memory_events = "memory.events" if self.version == 2 else "memory.oom_control"
        if _counter(self._file(memory_events), "oom_kill") > 0:
            hit.append("memory")
        if _counter(self._file("pids.events"), "max") > 0:
            hit.append("processes")
        return hit

    def kill(self) -> None:
        """SIGKILL everything in the group, repeating while a fork race leaves survivors."""
        kill_file = self.dirs[0] / "cgroup.kill"
        if self.version == 2 and kill_file.exists():
            kill_file.write_text("1")
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            try:
                found.update(int(line) for line in procs.read_text().split())
            except FileNotFoundError:
                pass
        return found

    def remove(self) -> None:
        self.kill()
        for folder in self.dirs:
            for _ in range(50):  # exiting processes leave the group a moment after SIGKILL
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)

    def _file(self, name: str) -> Path:
        return next((folder / name for folder in self.dirs if (folder / name).exists()), self.dirs[0] / name)


@dataclass(frozen=True)
class Cgroups:
    """This host's cgroup hierarchy, and the `grader` folders where kernel groups go."""

    version: int
    parents: tuple[Path, ...]  # v2: one; v1: memory then pids

    @classmethod
    def detect(cls) -> Cgroups:
        mounts = _cgroup_mounts()
        own = _own_cgroups()
        v2_mount = mounts.get("cgroup2")
        if v2_mount is not None:
            available = _read_words(v2_mount / "cgroup.controllers")
            if set(CONTROLLERS) <= available:
                return cls._v2(v2_mount)
        if all(name in mounts and name in own for name in CONTROLLERS):
            parents = tuple(mounts[name] / own[name].lstrip("/") / PARENT for name in CONTROLLERS)
            for parent in parents:
                _make_group(parent)
            return cls(version=1, parents=parents)
        raise CgroupError(
            "this host has no usable memory and pids cgroup controllers (neither cgroup v2 with both enabled "
            "nor cgroup v1 with both mounted), so the grader cannot cap a kernel's memory and processes")

    @classmethod
    def _v2(cls, mount: Path) -> Cgroups:
        # Kernel groups go under <root>/grader: the root may hold processes and
        # still delegate controllers, which a non-root group could not.
        _enable_controllers(mount)
        parent = mount / PARENT
        _make_group(parent)
        _enable_controllers(parent)
        return cls(version=2, parents=(parent,))

    def create(self, name: str, memory_bytes: int, max_processes: int) -> KernelCgroup:
        dirs = tuple(parent / name for parent in self.parents)
        for folder in dirs:
            _make_group(folder, exist_ok=False)
        group = KernelCgroup(version=self.version, dirs=dirs)
        try:
            group.set_limits(memory_bytes, max_processes)
        except OSError as err:
            group.remove()
            raise CgroupError(f"could not set limits in {err.filename}: {err.strerror}") from None
        return group

    def names_in_use(self) -> set[str]:
        return {child.name for parent in self.parents if parent.is_dir() for child in parent.iterdir() if child.is_dir()}

    def sweep(self) -> int:
        """Remove the groups of graders that are no longer running, killing what is left in them."""
        removed = 0
        for name in self.names_in_use():
            if left_by_dead_grader(name):
                KernelCgroup(self.version, tuple(parent / name for parent in self.parents)).remove()
                removed += 1
        return removed


def _make_group(folder: Path, exist_ok: bool = True) -> None:
    try:
        folder.mkdir(exist_ok=exist_ok)
    except PermissionError:
        raise CgroupError(f"cannot create the cgroup {folder}: permission denied (the sandbox needs root)") from None


def _enable_controllers(folder: Path) -> None:
    control = folder / "cgroup.subtree_control"
    missing = set(CONTROLLERS) - _read_words(control)
    if missing:
        try:
            control.write_text(" ".join(f"+{name}" for name in sorted(missing)))
        except OSError as err:
            raise CgroupError(f"cannot enable the {', '.join(sorted(missing))} controller(s) in {control}: "
                              f"{err.strerror}") from None


def _cgroup_mounts() -> dict[str, Path]:
    """Mount points by controller name for v1, and under "cgroup2" for the unified tree."""
    mounts: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, _, after = line.partition(" - ")
        fstype, _source, options = (after.split() + ["", "", ""])[:3]
        mount_point = Path(before.split()[4])
        if fstype == "cgroup2":
            mounts.setdefault("cgroup2", mount_point)
        elif fstype == "cgroup":
            for option in options.split(","):
                if option in CONTROLLERS:
                    mounts.setdefault(option, mount_point)
    return mounts


def _own_cgroups() -> dict[str, str]:
    """This process's group path per v1 controller."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(","):
            if name:
                own[name] = path
    return own


def _read_words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0
