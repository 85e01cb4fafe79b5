"""The second confinement level, where bubblewrap cannot run: each kernel as its own unprivileged uid, no namespaces.

A container that refuses user namespaces (Gradescope's usually does) cannot hold the sandbox of
`grader.run.sandbox`. The kernel then starts as

    sh (joins the kernel's cgroups, where the host has usable ones) → prlimit (file size, core dumps, processes)
       → setpriv (an unprivileged uid of its own, no groups, no new privileges) → python -m ipykernel_launcher

on the host's filesystem, network and process table. What keeps the answer key from it is the uid alone, as
Gradescope's own advice has it ("Run your autograder as a non-root user", with `chmod o=` on the source folder:
docs/best_practices.md of github.com/gradescope/autograder_samples): the rubric folder (rubric.yaml with the true/false keys, solution.ipynb, the solution's data),
the reference cache (the expected numbers), the gradebook's folder and the submissions must be closed to other
users. The grader closes the reference cache itself and refuses to start while any of the others is open, naming the
`chmod` that closes it. The kernel's uid reaches only its own copy of the submission, its home and temporary folders
and its runtime folder (connection file, ZMQ sockets, evidence), all inside a workspace only it and root may enter,
plus what any user of the host may read: the kernel's Python environment and the model weights (the asset cache,
mirrored into a world-readable folder as for the sandbox).

What it does not have, compared with the sandbox: the host's network is reachable; files readable by all users are
readable; memory is capped only where the host has cgroups (processes are capped by RLIMIT_NPROC, which counts per
uid, and files by RLIMIT_FSIZE; disk space is not). Every result says which confinement ran.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from grader.assets.cache import assets_root
from grader.assets.cache import kernel_env as asset_env
from grader.owners import own_tag
from grader.run.cgroups import CgroupError, Cgroups, KernelCgroup
from grader.run.sandbox import (FILTER_FD, FIRST_UID, JOIN_CGROUPS_WITH_FILTER, SECCOMP_FILE, UIDS, KernelPython,
                                KernelSandbox, Limits, SandboxUnavailable, allocation_lock, failure_reason, give_to,
                                marked_uids, reachable_assets, readable_by_all, run_test_kernel, seccomp_filter,
                                uid_markers, warm_font_cache)
from grader.run.workspace import EVERY_KERNEL_ENV
from grader.run.workspace import PREFIX as WORKSPACE_PREFIX

# World-writable folders a kernel's uid may leave files in; they are removed after its run, before the uid is reused.
SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
REFERENCES = "references"  # the reference cache's folder in the grader's cache (grader.reference)


def open_to_others(path: Path) -> bool:
    """Whether a uid with no claim on `path` (not its owner, in none of its groups) could read it: every folder on the
    way searchable by others, and then a file readable by others, or a folder they may list or enter."""
    path = path.resolve()
    if not path.exists():
        return False
    if any(not folder.stat().st_mode & stat.S_IXOTH for folder in path.parents):
        return False
    mode = path.stat().st_mode
    return bool(mode & (stat.S_IROTH | stat.S_IXOTH) if path.is_dir() else mode & stat.S_IROTH)


class UidHost:
    """Checks the host once, then confines each kernel to a uid of its own. Shared by a whole batch; used where
    `SandboxHost` is, by `NotebookRunner` and the warm kernel server."""

    confinement = "uid"

    def __init__(self, python: KernelPython, limits: Limits, cgroups: Cgroups | None, cache_dir: Path,
                 shared: Path, seccomp: bytes) -> None:
        self.python = python
        self.seccomp = seccomp
        self.limits = limits
        self.cgroups = cgroups
        self.cache_dir = cache_dir
        self.shared = shared  # world-readable, root's: the warm server's home and the font cache every kernel reads
        self._uid_lock = threading.Lock()
        self.assets = reachable_assets(assets_root(cache_dir))

    @classmethod
    def prepare(cls, python: str, limits: Limits, cache_dir: Path, private: Sequence[Path]) -> UidHost:
        """Refuse early, with the reason and the fix, when kernels cannot be confined to a uid here or when a file
        they must not read is open to other users. private: what no kernel may read (the rubric folder, the
        gradebook's folder, the submissions); the reference cache is closed here."""
        missing = [tool for tool in ("setpriv", "prlimit") if shutil.which(tool) is None]
        if missing:
            raise SandboxUnavailable(f"{', '.join(missing)} not found; install it: `apt-get install util-linux`")
        if os.geteuid() != 0:
            raise SandboxUnavailable("uid confinement needs root: it runs each kernel as its own unprivileged uid")
        try:
            detected = Cgroups.detect()
            with allocation_lock():
                detected.sweep()
            cgroups: Cgroups | None = detected
        except CgroupError:
            cgroups = None  # processes are still capped per uid; memory is not (the results say so)
        references = cache_dir / REFERENCES
        references.mkdir(parents=True, exist_ok=True)
        references.chmod(0o700)
        open_paths = [path for path in private if open_to_others(path)]
        if open_paths:
            raise SandboxUnavailable(
                "kernels confined by uid alone see the host's files, and these can be read by other users: "
                + ", ".join(map(str, open_paths)) + ". Make them root-only first: "
                + " && ".join(f"chmod -R go= {path}" for path in open_paths))
        warm_font_cache(python, cache_dir)
        host = cls(KernelPython.inspect(python), limits, cgroups, cache_dir, _shared_folder(cache_dir),
                   seccomp_filter())
        host._try_once()
        return host

    @contextmanager
    def sandbox(self, root: Path, submission: Path, gpu: int | None = None) -> Iterator[KernelSandbox]:
        """The confinement of a kernel whose workspace is `root`; on exit every process of its uid is killed and the
        files it left in shared temporary folders removed, before the uid can be claimed again. gpu: the GPU it may
        use (CUDA_VISIBLE_DEVICES); without namespaces the device nodes are the host's."""
        uid, cgroup = self._claim()
        try:
            runtime = root / "rt"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.chown(runtime, uid, uid)
            root.chmod(0o711)  # the kernel's uid may pass through to its own folders, and list nothing
            (root / "kernel.log").touch(mode=0o600)  # its stderr: the host's /tmp names this folder to all users
            for name in ("home", "tmp"):
                (root / name).mkdir(exist_ok=True)
                give_to(root / name, uid)
            fonts = root / "matplotlib"
            shutil.copytree(self.shared / "matplotlib", fonts, dirs_exist_ok=True)
            give_to(fonts, uid)  # matplotlib uses its config folder only when it may write there
            give_to(submission, uid)  # the working copy: its own, and no one else's
            filter_file = root / SECCOMP_FILE  # root's: opened before the uid changes
            filter_file.write_bytes(self.seccomp)
            rlimits = {
                "RLIMIT_FSIZE": self.limits.file_size_mb * 1024 * 1024,
                "RLIMIT_CORE": 0,
                # Per uid, so it caps this kernel alone: the only process cap where the host has no pids cgroup.
                "RLIMIT_NPROC": (2 if cgroup is not None else 1) * self.limits.processes,
            }
            yield KernelSandbox(uid=uid, cgroup=cgroup, runtime=runtime, rlimits=rlimits, seccomp=self.seccomp,
                                command_prefix=_command_prefix(uid, cgroup, rlimits, filter_file, self.python),
                                namespaces=False)
        finally:
            if cgroup is not None:
                cgroup.remove()
            _end_processes_of(uid)
            _remove_files_of(uid)
            (uid_markers() / f"{own_tag()}-{uid}").unlink(missing_ok=True)

    def kernel_env(self, runtime: Path, evidence_env: str, gpu: int | None = None,
                   gpu_memory_fraction: float | None = None) -> dict[str, str]:
        """The kernel's environment: its workspace's folders (`runtime`'s parent), nothing of the TA's shell."""
        root = runtime.parent
        env = {
            **self.base_env(gpu),
            "HOME": str(root / "home"),
            "TMPDIR": str(root / "tmp"),
            "MPLCONFIGDIR": str(root / "matplotlib"),
            evidence_env: str(runtime / "evidence.jsonl"),
        }
        if gpu is not None and gpu_memory_fraction is not None:
            env["PYTORCH_CUDA_ALLOC_CONF"] = f"per_process_memory_fraction:{gpu_memory_fraction}"
        return env

    def base_env(self, gpu: int | None = None) -> dict[str, str]:
        """What every kernel's environment holds (the warm kernel server starts with it: root's, world-readable
        folders whose paths its preloads may remember)."""
        return {
            "PATH": f"{Path(self.python.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.shared / "home"),
            "TMPDIR": tempfile.gettempdir(),
            **EVERY_KERNEL_ENV,
            "MPLCONFIGDIR": str(self.shared / "matplotlib"),
            "CUDA_VISIBLE_DEVICES": "" if gpu is None else str(gpu),
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            **(asset_env(str(self.assets)) if self.assets else {}),
        }

    def server_wrapper(self) -> list[str]:
        """The warm kernel server runs on the host as it is: without namespaces there is no private /tmp to give it."""
        return []

    def _claim(self) -> tuple[int, KernelCgroup | None]:
        memory = self.limits.memory_mb * 1024 * 1024
        with self._uid_lock, allocation_lock():
            taken = marked_uids()
            if self.cgroups is not None:
                taken |= {int(name.rsplit("-", 1)[-1]) for name in self.cgroups.names_in_use()
                          if name.rsplit("-", 1)[-1].isdigit()}
            taken |= _running_uids()  # a uid some process still has is not free, marker or not
            uid = next((u for u in range(FIRST_UID, FIRST_UID + UIDS) if u not in taken), None)
            if uid is None:
                raise SandboxUnavailable(f"all {UIDS} kernel uids are in use")
            markers = uid_markers()
            markers.mkdir(mode=0o700, exist_ok=True)
            (markers / f"{own_tag()}-{uid}").touch()
            if self.cgroups is None:
                return uid, None
            try:
                return uid, self.cgroups.create(f"{own_tag()}-{uid}", memory, self.limits.processes)
            except CgroupError as err:
                (markers / f"{own_tag()}-{uid}").unlink(missing_ok=True)
                raise SandboxUnavailable(str(err)) from None

    def _try_once(self) -> None:
        """Run the interpreter once as a kernel uid: proves setpriv works here and the environment is readable."""
        done = run_test_kernel(self, cwd_in_submission=True)
        if done.returncode == 0 and done.stdout.strip() == "ok":
            return
        raise SandboxUnavailable(f"a test kernel could not start as an unprivileged uid ({failure_reason(done)}). The "
                                 f"kernel's Python ({self.python.executable}) and its environment must be readable "
                                 "by other users.")


def _command_prefix(uid: int, cgroup: KernelCgroup | None, rlimits: dict[str, int], filter_file: Path,
                    python: KernelPython) -> list[str]:
    procs = map(str, cgroup.procs_files) if cgroup is not None else ()
    return ["/bin/sh", "-c", JOIN_CGROUPS_WITH_FILTER, "sh", str(filter_file), *procs, "--",
            "prlimit", f"--fsize={rlimits['RLIMIT_FSIZE']}", f"--core={rlimits['RLIMIT_CORE']}",
            f"--nproc={rlimits['RLIMIT_NPROC']}", "--",
            "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--",
            # setpriv cannot load a seccomp filter (util-linux 2.38): the kernel's Python loads it, then the kernel
            python.executable, "-m", "grader.probe.syscall_filter", "--fd", str(FILTER_FD), "--"]


def _shared_folder(cache_dir: Path) -> Path:
    """A world-readable folder of root's for this run: the warm server's home and the font cache, which kernels read
    but cannot change. Removed at exit, or by the next run's sweep when the grader was killed."""
    folder = Path(tempfile.mkdtemp(prefix=f"{WORKSPACE_PREFIX}{own_tag()}-uid-"))
    atexit.register(shutil.rmtree, folder, True)
    folder.chmod(0o755)
    (folder / "home").mkdir(mode=0o755)
    shutil.copytree(cache_dir / "matplotlib", folder / "matplotlib")
    readable_by_all(folder / "matplotlib")
    return folder


def _uids_of(pid: str) -> set[int]:
    """The real, effective, saved and filesystem uids of a live process (none for a zombie: it holds nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return set()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields.get("State", "").split()[:1] == ["Z"]:
        return set()
    return {int(value) for value in fields.get("Uid", "").split()}


def _processes_of(uid: int) -> list[int]:
    return [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and uid in _uids_of(pid)]


def _running_uids() -> set[int]:
    return {uid for pid in os.listdir("/proc") if pid.isdigit() for uid in _uids_of(pid)}


def _end_processes_of(uid: int) -> None:
    """SIGKILL every process running as `uid` (the kernel and all it started: no other process has that uid),
    repeating while a fork race leaves survivors."""
    for _ in range(100):
        pids = _processes_of(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def _remove_files_of(uid: int) -> None:
    """What the kernel's uid left in the host's shared temporary folders: a later kernel given the same uid must
    not find it."""
    for folder in SHARED_TEMP:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue
