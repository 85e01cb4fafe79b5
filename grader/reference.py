"""The reference solution's evidence: run once through the same path as every
submission, then cached on disk by rubric content, torch version and probe format."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from grader import __version__
from grader.assets.cache import assets_root
from grader.assets.cache import describe as describe_assets
from grader.evidence import EvidenceError, read_evidence
from grader.evidence.model import Evidence
from grader.notebook.read import NotebookError, read_notebook
from grader.probe import FORMAT_VERSION
from grader.rubric import LoadedRubric, RubricError
from grader.run import NotebookRunner, RunnerError


def torch_version(python: str) -> str:
    """torch's version in the kernel's environment, without importing torch."""
    done = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
        capture_output=True, text=True, timeout=60,
    )
    return done.stdout.strip() or "unknown"


def reference_evidence(rubric: LoadedRubric, runner: NotebookRunner, cache_dir: Path) -> Evidence:
    key = hashlib.sha256(
        f"{rubric.hash}|torch {torch_version(runner.python)}|probe {FORMAT_VERSION}|grader {__version__}"
        f"|{describe_assets(assets_root(cache_dir))}".encode()
    ).hexdigest()[:24]
    cached = cache_dir / "references" / f"{rubric.id}-{key}.jsonl"
    arrays = cached.with_suffix(".arrays")
    if cached.is_file():
        try:
            return read_evidence(cached, from_probe=False, arrays=arrays)
        except EvidenceError:
            cached.unlink()  # a damaged cache entry is recomputed, not trusted
    evidence = _run_solution(rubric, runner)
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(arrays, ignore_errors=True)
    arrays.mkdir()
    for name, array in evidence.arrays.items():
        np.save(arrays / name, array, allow_pickle=False)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(evidence.to_jsonl(), encoding="utf-8")
    partial.replace(cached)  # last: the entry counts only once its arrays are in place
    return evidence


def _run_solution(rubric: LoadedRubric, runner: NotebookRunner) -> Evidence:
    path = rubric.solution_path
    try:
        nb = read_notebook(path).notebook
        with tempfile.TemporaryDirectory(prefix="grader-solution-") as folder:
            # Laid out as a submission folder: the notebook with its data around it.
            if rubric.solution_data is not None:
                shutil.copytree(rubric.solution_data, folder, dirs_exist_ok=True)
            shutil.copy2(path, folder)
            execution = runner.run(nb, Path(folder))
    except (NotebookError, RunnerError) as err:
        raise RubricError(f"{path}: the reference solution could not be run: {err}") from None
    failed = [f"cell {cell.cell}: {cell.error}" for cell in execution.cells if cell.status != "ok"]
    if failed:
        raise RubricError(f"{path}: the reference solution must run without errors, but " + "; ".join(failed))
    if execution.evidence is None:
        raise RubricError(f"{path}: no evidence from the reference solution: {execution.evidence_error}")
    return execution.evidence
