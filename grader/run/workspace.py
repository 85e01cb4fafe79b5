"""A private, temporary place to run one submission: never the original files."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grader.probe import EVIDENCE_ENV


@dataclass(frozen=True)
class Workspace:
    root: Path
    work: Path  # the kernel's working directory: a copy of the submission
    home: Path
    tmp: Path
    evidence: Path  # where the probe writes

    def kernel_env(self, python_bin: Path, cache: Path) -> dict[str, str]:
        """A clean environment: nothing of the TA's shell leaks into the kernel."""
        return {
            "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            # Shared font cache: building it costs seconds in every fresh HOME.
            "MPLCONFIGDIR": str(cache / "matplotlib"),
            EVIDENCE_ENV: str(self.evidence),
        }


@contextmanager
def workspace(submission: Path) -> Iterator[Workspace]:
    root = Path(tempfile.mkdtemp(prefix="grader-run-"))
    try:
        work = root / "work"
        if submission.is_dir():
            # Links are copied as links, never followed out of the submission.
            shutil.copytree(submission, work, symlinks=True)
        else:
            work.mkdir()
            shutil.copy2(submission, work / submission.name)
        for folder in ("home", "tmp"):
            (root / folder).mkdir()
        yield Workspace(root=root, work=work, home=root / "home", tmp=root / "tmp", evidence=root / "evidence.jsonl")
    finally:
        shutil.rmtree(root, ignore_errors=True)
