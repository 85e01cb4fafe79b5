"""A private, temporary place to run one submission: never the original files."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grader.assets.cache import assets_root
from grader.assets.cache import kernel_env as asset_env
from grader.probe.protocol import EVIDENCE_ENV
from grader.owners import left_by_dead_grader, own_tag


@dataclass(frozen=True)
class Workspace:
    root: Path
    submission: Path  # a copy of the submission; the working directory of an unsandboxed kernel
    runtime: Path  # connection file, ZMQ sockets, the evidence file

    @property
    def evidence(self) -> Path:
        return self.runtime / "evidence.jsonl"

    @property
    def kernel_log(self) -> Path:
        return self.root / "kernel.log"

    def unsandboxed_env(self, python_bin: Path, cache: Path, gpu: int | None = None) -> dict[str, str]:
        """A clean environment for `--no-sandbox`: nothing of the TA's shell leaks into the kernel."""
        for folder in ("home", "tmp"):
            (self.root / folder).mkdir(exist_ok=True)
        return {
            **unsandboxed_base_env(python_bin, cache),
            "HOME": str(self.root / "home"),
            "TMPDIR": str(self.root / "tmp"),
            EVIDENCE_ENV: str(self.evidence),
            "CUDA_VISIBLE_DEVICES": "" if gpu is None else str(gpu),
        }


# In every kernel's environment, whatever confines it.
EVERY_KERNEL_ENV = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    # str hashes (so the order of a set of names) alike in every kernel, warm (forked from a server) or cold.
    "PYTHONHASHSEED": "0",
    # torch's idle OpenMP threads wait asleep, not spinning: with any other load on the cores (kernels of another
    # grader, a TA's work) spinning made a 2-thread fine_tune 4x slower here (52 s against 14 s; idle: 8 s, 10 s).
    "OMP_WAIT_POLICY": "PASSIVE",
}


def unsandboxed_base_env(python_bin: Path, cache: Path) -> dict[str, str]:
    """What every `--no-sandbox` kernel's environment holds (the warm kernel server starts with it too)."""
    home = cache / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": tempfile.gettempdir(),
        **EVERY_KERNEL_ENV,
        # Shared font cache: building it costs seconds in every fresh HOME.
        "MPLCONFIGDIR": str(cache / "matplotlib"),
        "CUDA_VISIBLE_DEVICES": "",
        **(asset_env(str(assets)) if (assets := assets_root(cache)).is_dir() else {}),
    }


PREFIX = "grader-run-"


@contextmanager
def workspace(submission: Path) -> Iterator[Workspace]:
    # The grader's owner tag in the name lets a later run remove what a killed one left behind.
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{own_tag()}-"))
    try:
        copy = root / "submission"
        if submission.is_dir():
            # Links are copied as links, never followed out of the submission.
            shutil.copytree(submission, copy, symlinks=True)
        else:
            copy.mkdir()
            shutil.copy2(submission, copy / submission.name)
        runtime = root / "rt"
        runtime.mkdir(mode=0o700)
        yield Workspace(root=root, submission=copy, runtime=runtime)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def sweep_workspaces(prefixes: tuple[str, ...] = (PREFIX,)) -> int:
    """Remove the temporary folders (`<prefix><owner tag>-…`) of graders that are no longer running
    (killed, say, by SIGKILL)."""
    removed = 0
    for prefix in prefixes:
        for root in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
            if left_by_dead_grader(root.name.removeprefix(prefix)):
                shutil.rmtree(root, ignore_errors=True)
                removed += 1
    return removed


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log (a kernel's, the warm kernel server's), for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
