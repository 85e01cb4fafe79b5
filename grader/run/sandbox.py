"""The sandbox every grading kernel runs in (bubblewrap, its own uid, cgroup limits).

A kernel is started as

    sh (joins the kernel's cgroups) → prlimit (file size, core dumps)
       → setpriv (an unprivileged uid of its own, no new privileges)
       → bwrap (new user, pid, net, ipc, uts, cgroup namespaces) → python -m ipykernel_launcher

Inside, the system and the Python environment are read-only, `/tmp`, `/dev/shm`
and the working directory `/sandbox/work` are size-capped tmpfs (so their pages count
against the kernel's memory limit, never the host's disk), and the only host
paths it can write are in its runtime folder: the evidence file, and the ZMQ
sockets the kernel creates at start, after which the folder is locked. The
submission arrives read-only at `/sandbox/submission` and is copied into the
working directory.
Rubrics, reference solutions, the gradebook, reports and other submissions
are never mounted.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader.assets.cache import assets_root
from grader.assets.cache import kernel_env as asset_env
from grader.owners import held_lock, left_by_dead_grader, own_tag
from grader.probe.protocol import EVIDENCE_ENV
from grader.run.cgroups import Cgroups, CgroupError, KernelCgroup
from grader.run.seccomp import SeccompUnavailable, kernel_filter
from grader.run.workspace import EVERY_KERNEL_ENV
from grader.run.workspace import PREFIX as WORKSPACE_PREFIX

if TYPE_CHECKING:
    from grader.rubric.models import Execution

FIRST_UID = 200_000  # far above the uids of real users
UIDS = 10_000
SANDBOX_USER = "student"
SANDBOX_UID = 1000  # the uid the kernel sees inside its user namespace
# Paths inside the sandbox, under a folder no host path is expected to use.
WORK = "/sandbox/work"  # the kernel's working directory: a writable copy of the submission
SUBMISSION = "/sandbox/submission"  # the submission as handed in, read-only
FONTS = "/sandbox/matplotlib"  # matplotlib's font list, built once by the grader
ASSETS = "/sandbox/assets"  # model weights and datasets, read-only (`grader assets`)
# The few files under /etc that Python, fonts and the dynamic linker read.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "localtime", "mime.types",
             "nsswitch.conf", "os-release", "debian_version")
SECCOMP_FILE = "seccomp.bpf"  # in each kernel's workspace: the filter bubblewrap loads
FILTER_FD = 9
# The first process of every confined kernel (root): joins the kernel's cgroups (the paths up to `--`), then runs
# the rest with the seccomp program ($1) open on FILTER_FD, for `bwrap --seccomp` or `grader.probe.syscall_filter`.
JOIN_CGROUPS_WITH_FILTER = ('filter=$1; shift; while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; '
                            f'shift; exec "$@" {FILTER_FD}<"$filter"')

ENABLE_USERNS_HELP = (
    "enable unprivileged user namespaces and try again: `sysctl -w user.max_user_namespaces=15000` "
    "(and on Debian kernels `sysctl -w kernel.unprivileged_userns_clone=1`; on Ubuntu 23.10+ "
    "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile allowing bwrap). "
    "Where you cannot (a container that refuses them, as Gradescope's does): `grader grade --confine uid`, each "
    "kernel as its own unprivileged uid without namespaces, the rubric, OUT and the submissions root-only. "
    "Only on a machine you can throw away: `grader grade --no-sandbox`.")


class SandboxUnavailable(Exception):
    """This host cannot run sandboxed kernels; the message says why and how to fix it."""


def seccomp_filter() -> bytes:
    try:
        return kernel_filter()
    except SeccompUnavailable as err:
        raise SandboxUnavailable(str(err)) from None


@dataclass(frozen=True)
class Limits:
    """What one kernel may use. Memory covers its tmpfs folders too."""

    memory_mb: int = 4096
    processes: int = 256  # processes and threads together
    file_size_mb: int = 512  # largest file it may write
    tmp_mb: int = 1024  # each of /tmp, /dev/shm and the working folder

    @classmethod
    def from_rubric(cls, execution: Execution, *, memory_mb: int | None = None, processes: int | None = None,
                    file_size_mb: int | None = None, tmp_mb: int | None = None) -> Limits:
        """The limits a rubric's `execution:` section sets (memory_mb, max_processes, max_file_mb, disk_mb); each
        override given (not None, not 0) replaces the rubric's."""
        return cls(memory_mb=memory_mb or execution.memory_mb, processes=processes or execution.max_processes,
                   file_size_mb=file_size_mb or execution.max_file_mb, tmp_mb=tmp_mb or execution.disk_mb)


@dataclass(frozen=True)
class KernelPython:
    """The interpreter kernels run, and the folders it needs mounted (asked of it once)."""

    executable: str
    prefix: Path
    base_prefix: Path
    grader_package: Path

    @classmethod
    def inspect(cls, python: str) -> KernelPython:
        script = ("import json, sys, os, grader; print(json.dumps([sys.prefix, sys.base_prefix, "
                  "os.path.dirname(grader.__file__)]))")
        done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise SandboxUnavailable(f"{python} cannot import grader: {done.stderr.strip().splitlines()[-1:]}")
        prefix, base_prefix, package = json.loads(done.stdout)
        return cls(executable=python, prefix=Path(prefix), base_prefix=Path(base_prefix), grader_package=Path(package))


@dataclass
class KernelSandbox:
    """One kernel's confinement: its uid, cgroup and runtime folder; in a sandbox's namespaces, or (uid confinement,
    `grader.run.uid_confinement`) on the host as its own uid."""

    uid: int
    cgroup: KernelCgroup | None  # None: uid confinement on a host without usable cgroups
    runtime: Path  # bound at the same path inside: connection file, sockets, evidence
    rlimits: dict[str, int]  # resource.RLIMIT_* name -> soft and hard limit
    command_prefix: list[str] = field(repr=False)
    seccomp: bytes = field(repr=False)  # the filter as BPF: a warm kernel's fork loads it (`grader.run.seccomp`)
    namespaces: bool = True  # False: the kernel runs in the host's namespaces, only its uid is its own

    def wrap(self, kernel_argv: list[str]) -> list[str]:
        return [*self.command_prefix, *kernel_argv]

    def hand_over(self, path: Path) -> None:
        """Let the sandbox uid (and only it) write a file the grader created in the runtime folder: the evidence
        file, the one host file a kernel writes (capped by RLIMIT_FSIZE)."""
        os.chown(path, self.uid, self.uid)
        path.chmod(0o600)

    def lend(self, path: Path) -> None:
        """Let the sandbox uid (and only it) read a file or folder the grader wrote in the runtime folder, and
        neither write it nor create files in it: root keeps it, the uid's own group may read it."""
        os.chown(path, 0, self.uid)
        path.chmod(0o750 if path.is_dir() else 0o640)

    def lock_runtime(self) -> None:
        """After start: the kernel keeps its sockets and evidence file but can create nothing more here (all it
        was lent, the connection file and the capture plan, it may only read)."""
        os.chown(self.runtime, 0, 0)
        self.runtime.chmod(0o711)

    def limits_hit(self) -> list[str]:
        return self.cgroup.limits_hit() if self.cgroup is not None else []

    def host_pid(self, sandbox_pid: int) -> int | None:
        """The host's pid of the process that is `sandbox_pid` in this sandbox's pid namespace."""
        assert self.cgroup is not None and self.namespaces
        for pid in self.cgroup.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            nspids = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if len(nspids) > 1 and int(nspids[-1]) == sandbox_pid:
                return pid
        return None


class SandboxHost:
    """Checks the host once, then makes one sandbox per kernel. Shared by a whole batch."""

    confinement = "sandbox"

    def __init__(self, python: KernelPython, limits: Limits, cgroups: Cgroups, cache_dir: Path, bwrap: str,
                 seccomp: bytes) -> None:
        self.python = python
        self.limits = limits
        self.cgroups = cgroups
        self.cache_dir = cache_dir
        self.bwrap = bwrap
        self.seccomp = seccomp
        self._uid_lock = threading.Lock()
        self.assets = reachable_assets(assets_root(cache_dir))

    @classmethod
    def prepare(cls, python: str, limits: Limits, cache_dir: Path, bwrap: str = "bwrap",
                gpus: tuple[int, ...] = ()) -> SandboxHost:
        """Refuse early, with the reason and the fix, when this host cannot sandbox kernels.

        gpus: the indices of the NVIDIA GPUs kernels may be given (one each); none binds no GPU device at all.
        """
        missing = [tool for tool in (bwrap, "setpriv", "prlimit") if shutil.which(tool) is None]
        if missing:
            raise SandboxUnavailable(f"{', '.join(missing)} not found; install it: `apt-get install bubblewrap util-linux`")
        for gpu in gpus:
            if not Path(f"/dev/nvidia{gpu}").exists():
                raise SandboxUnavailable(f"GPU {gpu}: this host has no /dev/nvidia{gpu} (no NVIDIA GPU {gpu}, or its "
                                         "driver is not loaded)")
        if os.geteuid() != 0:
            raise SandboxUnavailable(
                "the sandbox needs root: it runs each kernel as its own unprivileged uid and caps its memory and "
                "processes with cgroups. Run the grader as root (sudo, or in the course's grading VM or "
                "container); only on a machine you can throw away: `grader grade --no-sandbox`.")
        try:
            cgroups = Cgroups.detect()
            with allocation_lock():
                cgroups.sweep()
        except CgroupError as err:
            raise SandboxUnavailable(f"{err}. Run the grader as root on a host with cgroup v2 (or v1 with the "
                                     "memory and pids controllers mounted).") from None
        warm_font_cache(python, cache_dir)
        host = cls(KernelPython.inspect(python), limits, cgroups, cache_dir, shutil.which(bwrap) or bwrap,
                   seccomp_filter())
        host._try_once()
        return host

    @contextmanager
    def sandbox(self, root: Path, submission: Path, gpu: int | None = None) -> Iterator[KernelSandbox]:
        """A sandbox for a kernel whose workspace is `root`; removed, with all its processes, on exit.
        gpu: the GPU to bind inside; None binds none."""
        uid, cgroup = self._claim()
        try:
            runtime = root / "rt"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.chown(runtime, uid, uid)
            root.chmod(0o711)  # the sandbox uid may pass through to its runtime folder, and list nothing
            etc = root / "etc"
            etc.mkdir()
            (etc / "passwd").write_text(f"{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}::/tmp/home:/bin/sh\n")
            (etc / "group").write_text(f"{SANDBOX_USER}:x:{SANDBOX_UID}:\n")
            fonts = root / "matplotlib"
            shutil.copytree(self.cache_dir / "matplotlib", fonts, dirs_exist_ok=True)  # the cache's own folder may be private
            give_to(submission, uid)  # its own copy: only that uid (and root) may read it, even on the host
            readable_by_all(fonts)
            (root / SECCOMP_FILE).write_bytes(self.seccomp)  # opened by the sandbox's first shell, still root
            rlimits = {
                "RLIMIT_FSIZE": self.limits.file_size_mb * 1024 * 1024,
                "RLIMIT_CORE": 0,
                # Only backs up the pids cgroup (which reports hits), hence the headroom.
                "RLIMIT_NPROC": 2 * self.limits.processes,
            }
            yield KernelSandbox(uid=uid, cgroup=cgroup, runtime=runtime, rlimits=rlimits, seccomp=self.seccomp,
                                command_prefix=self._command_prefix(uid, cgroup, runtime, etc, submission, rlimits, gpu))
        finally:
            cgroup.remove()

    def kernel_env(self, runtime: Path, evidence_env: str, gpu: int | None = None,
                   gpu_memory_fraction: float | None = None) -> dict[str, str]:
        """Paths as the kernel sees them inside its sandbox; nothing of the TA's shell."""
        env = self.base_env(gpu)
        env[evidence_env] = str(runtime / "evidence.jsonl")
        if gpu is not None and gpu_memory_fraction is not None:
            # torch's allocator refuses to grow past this share of the GPU: kernels packed on one GPU.
            env["PYTORCH_CUDA_ALLOC_CONF"] = f"per_process_memory_fraction:{gpu_memory_fraction}"
        return env

    def base_env(self, gpu: int | None = None) -> dict[str, str]:
        """What every kernel's environment holds (the warm kernel server starts with it too)."""
        return {
            "PATH": f"{Path(self.python.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp/home",
            "TMPDIR": "/tmp",
            "USER": SANDBOX_USER,
            "LOGNAME": SANDBOX_USER,
            **EVERY_KERNEL_ENV,
            "MPLCONFIGDIR": "/tmp/matplotlib",
            # Only the bound GPU exists in here; without one CUDA finds none.
            "CUDA_VISIBLE_DEVICES": "" if gpu is None else str(gpu),
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # CUDA's numbering then follows /dev/nvidiaN
            **(asset_env(ASSETS) if self.assets else {}),
        }

    def server_wrapper(self) -> list[str]:
        """How the warm kernel server (root) starts: in a mount namespace of its own whose /tmp is a
        private tmpfs holding the kernels' HOME and font cache. What preloads write at import stays
        there, and the paths they remember are those of every kernel. The kernel's Python and the
        grader are bound back when they live under /tmp."""
        argv = [self.bwrap, "--dev-bind", "/", "/", "--tmpfs", "/tmp"]
        python = self.python
        for folder in sorted({python.prefix, python.base_prefix, python.grader_package}):
            if folder.is_relative_to("/tmp"):
                argv += ["--ro-bind", str(folder), str(folder)]
        fonts = "/tmp/.grader-fonts"
        argv += ["--ro-bind", str(self.cache_dir / "matplotlib"), fonts,
                 "--cap-add", "ALL",  # it joins sandboxes and changes uids
                 "--die-with-parent", "--", "/bin/sh", "-c",
                 f'mkdir -p "$HOME" "$MPLCONFIGDIR" && cp -R {fonts}/. "$MPLCONFIGDIR"/ && exec "$@"', "sh"]
        return argv

    def _claim(self) -> tuple[int, KernelCgroup]:
        memory = self.limits.memory_mb * 1024 * 1024
        with self._uid_lock, allocation_lock():
            taken = {name.rsplit("-", 1)[-1] for name in self.cgroups.names_in_use()} | set(map(str, marked_uids()))
            uid = next((u for u in range(FIRST_UID, FIRST_UID + UIDS) if str(u) not in taken), None)
            if uid is None:
                raise SandboxUnavailable(f"all {UIDS} sandbox uids are in use")
            try:
                return uid, self.cgroups.create(f"{own_tag()}-{uid}", memory, self.limits.processes)
            except CgroupError as err:
                raise SandboxUnavailable(str(err)) from None

    def _command_prefix(self, uid: int, cgroup: KernelCgroup, runtime: Path, etc: Path, submission: Path,
                        rlimits: dict[str, int], gpu: int | None) -> list[str]:
        tmpfs_bytes = str(self.limits.tmp_mb * 1024 * 1024)
        python = self.python
        argv = ["/bin/sh", "-c", JOIN_CGROUPS_WITH_FILTER, "sh", str(runtime.parent / SECCOMP_FILE),
                *map(str, cgroup.procs_files), "--",
                "prlimit", f"--fsize={rlimits['RLIMIT_FSIZE']}", f"--core={rlimits['RLIMIT_CORE']}",
                f"--nproc={rlimits['RLIMIT_NPROC']}", "--",
                "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--",
                # --disable-userns: no nested user namespaces, so no namespace-root powers for student code.
                self.bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                "--seccomp", str(FILTER_FD),
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "grader",
                "--ro-bind", "/usr", "/usr"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64"):
            path = Path("/") / name
            if path.is_symlink():
                argv += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                argv += ["--ro-bind", str(path), str(path)]
        for name in ETC_FILES:
            argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        argv += ["--ro-bind", str(etc / "passwd"), "/etc/passwd", "--ro-bind", str(etc / "group"), "/etc/group",
                 "--proc", "/proc", "--dev", "/dev"]
        argv += _gpu_binds(gpu)
        # tmpfs first: host folders bound below stay visible even when they live under /tmp.
        for folder in ("/tmp", "/dev/shm", WORK):
            argv += ["--size", tmpfs_bytes, "--tmpfs", folder]
        for folder in sorted({python.prefix, python.base_prefix, python.grader_package}):
            if not folder.is_relative_to("/usr"):
                argv += ["--ro-bind", str(folder), str(folder)]
        if self.assets:
            argv += ["--ro-bind", str(self.assets), ASSETS]
        argv += ["--ro-bind", str(runtime.parent / "matplotlib"), FONTS,
                 "--ro-bind", str(submission), SUBMISSION,
                 "--bind", str(runtime), str(runtime),
                 "--remount-ro", "/", "--chdir", WORK, "--"]
        # Inside: a fresh home, the shared font cache copied in, the submission copied to the working folder.
        setup = ('unset JPY_PARENT_PID; mkdir -p "$HOME" "$MPLCONFIGDIR" '
                 f'&& cp -R {FONTS}/. "$MPLCONFIGDIR"/ && cp -R {SUBMISSION}/. {WORK}/ && exec "$@"')
        return [*argv, "/bin/sh", "-c", setup, "sh"]

    def _try_once(self) -> None:
        """Run the interpreter in a sandbox once: proves namespaces, mounts and permissions work here."""
        done = run_test_kernel(self, cwd_in_submission=False)
        if done.returncode == 0 and done.stdout.strip() == "ok":
            return
        reason = failure_reason(done)
        if any(marker in done.stderr for marker in ("namespace", "uid map", "Operation not permitted")):
            raise SandboxUnavailable(f"bubblewrap cannot create the sandbox's namespaces on this host ({reason}); "
                                     + ENABLE_USERNS_HELP)
        raise SandboxUnavailable(f"a test kernel could not start in the sandbox ({reason}). The kernel's Python "
                                 f"({self.python.executable}) and its environment must be readable by other users.")


def run_test_kernel(host, cwd_in_submission: bool) -> subprocess.CompletedProcess:
    """The kernel's interpreter run once, confined as `host` (a SandboxHost or a UidHost) confines kernels, in a
    scratch workspace: it must import the probe and print ok."""
    root = Path(tempfile.mkdtemp(prefix="grader-check-"))
    try:
        (root / "submission").mkdir()
        with host.sandbox(root, root / "submission") as box:
            argv = box.wrap([host.python.executable, "-c", "import grader.probe, socket; print('ok')"])
            return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                  cwd=root / "submission" if cwd_in_submission else root,
                                  env=host.kernel_env(box.runtime, EVIDENCE_ENV))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def failure_reason(done: subprocess.CompletedProcess) -> str:
    """The last line the test kernel wrote to stderr, or its exit status."""
    said = done.stderr.strip().splitlines()
    return said[-1] if said else f"exit status {done.returncode}"


def reachable_assets(assets: Path) -> Path | None:
    """The offline asset cache where a sandbox's uid can reach it, or None when there is none.

    bwrap resolves what it binds as the kernel's uid, and the cache usually lies in root's home (mode
    700): the grader links its files (copies them across filesystems) into a world-traversable temporary
    folder, once per run, removed at exit or by the next run's sweep when the grader was killed."""
    if not assets.is_dir():
        return None
    mirror = Path(tempfile.mkdtemp(prefix=f"{WORKSPACE_PREFIX}{own_tag()}-assets-"))
    atexit.register(shutil.rmtree, mirror, True)
    mirror.chmod(0o755)
    for folder, subfolders, files in os.walk(assets):
        here = mirror / Path(folder).relative_to(assets)
        for name in subfolders:
            (here / name).mkdir(mode=0o755)
        for name in files:
            source = Path(folder) / name
            if source.is_symlink():
                continue
            try:
                os.link(source, here / name)
            except OSError:  # another filesystem
                shutil.copy2(source, here / name)
                (here / name).chmod(0o644)
    return mirror


def _gpu_binds(gpu: int | None) -> list[str]:
    """The one GPU's device nodes and the driver's control nodes; CUDA also reads /sys."""
    if gpu is None:
        return []
    nodes = [f"/dev/nvidia{gpu}", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"]
    binds = [arg for node in nodes if Path(node).exists() for arg in ("--dev-bind", node, node)]
    return [*binds, "--ro-bind", "/sys", "/sys"]


def _lock_folder() -> Path:
    return Path("/run/lock") if os.access("/run/lock", os.W_OK) else Path(tempfile.gettempdir())


@contextmanager
def allocation_lock() -> Iterator[None]:
    """Serialises uid claims between grader processes on this host."""
    with held_lock(_lock_folder() / "grader-sandbox.lock"):
        yield


def uid_markers() -> Path:
    """Where uid confinement records the uids it holds (`<owner tag>-<uid>`): it may have no cgroup to name them."""
    return _lock_folder() / "grader-uids"


def marked_uids() -> set[int]:
    """The uids held by running graders' uid confinement; markers of graders no longer running are removed."""
    folder = uid_markers()
    held = set()
    for marker in folder.glob("*-*") if folder.is_dir() else ():
        uid = marker.name.rpartition("-")[2]
        if uid.isdigit() and not left_by_dead_grader(marker.name):
            held.add(int(uid))
        else:
            marker.unlink(missing_ok=True)
    return held


def give_to(folder: Path, uid: int) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, uid, uid)
    folder.chmod(0o700)


def readable_by_all(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))


def warm_font_cache(python: str, cache_dir: Path) -> None:
    """Matplotlib builds its font list once here, so sandboxed kernels only copy it. It is built in a folder of this
    grader's own and moved in whole: another grader starting at the same time copies the whole list or none."""
    folder = cache_dir / "matplotlib"
    if any(folder.glob("fontlist-*.json")):
        return
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".matplotlib-") as building:
        subprocess.run([python, "-c", "import matplotlib.font_manager"], env={**os.environ, "MPLCONFIGDIR": building},
                       capture_output=True, timeout=300)
        for built in Path(building).glob("fontlist-*.json"):
            os.replace(built, folder / built.name)
