"""The reference solution's run: its evidence and its executed notebook (what it printed), run once
through the same path as every submission, then cached on disk by rubric content, torch version and
probe format; and its self-test, `check_reference`: the reference earns full marks on its own rubric."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader import __version__
from grader.assets.boxes import drawn_images
from grader.assets.cache import assets_root
from grader.assets.cache import describe as describe_assets
from grader.captures import CapturePlan, plan_captures
from grader.checks.context import Trace
from grader.checks.items import ItemGrader
from grader.evidence import EvidenceError, read_evidence
from grader.evidence.model import Evidence
from grader.execution import Execution, planned_runs
from grader.notebook.locate import locate
from grader.notebook.printed import printed_arrays
from grader.owners import held_lock
from grader.notebook.read import NotebookError, read_notebook
from grader.probe.protocol import FORMAT_VERSION
from grader.rubric import LoadedRubric, RubricError
from grader.run import NotebookRunner, RunnerError


def torch_version(python: str) -> str:
    """torch's version in the kernel's environment, without importing torch."""
    done = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
        capture_output=True, text=True, timeout=60,
    )
    return done.stdout.strip() or "unknown"


@dataclass(frozen=True)
class ReferenceRun:
    evidence: Evidence
    notebook: nbformat.NotebookNode  # the solution as executed, with fresh outputs


def reference_run(rubric: LoadedRubric, runner: NotebookRunner, cache_dir: Path, cached_ok: bool = True) -> ReferenceRun:
    """cached_ok: False runs the solution again even when a cached run exists (and replaces it).

    The key leaves --cpu-fallback out: a solution that runs without it makes no CUDA call on a CPU machine, and one
    that needs it runs on the CPU with it, so either way the cached run is the CPU's, as every CPU grading's."""
    key = hashlib.sha256(
        f"{rubric.hash}|torch {torch_version(runner.python)}|probe {FORMAT_VERSION}|grader {__version__}"
        f"|{describe_assets(assets_root(cache_dir))}".encode()
    ).hexdigest()[:24]
    name = f"{rubric.id}-{key}"
    cached = cache_dir / "references" / f"{name}.jsonl"
    # Two graders of one rubric at once: the first runs the solution, the second waits for it and reads its entry.
    locks = cache_dir / LOCKS
    locks.mkdir(mode=0o700, parents=True, exist_ok=True)
    with held_lock(locks / f"{name}.lock"):
        if cached_ok:
            try:
                return load_reference(cached)
            except (EvidenceError, OSError, ValueError):
                cached.unlink(missing_ok=True)  # a damaged cache entry is recomputed, not trusted
        run = run_solution(rubric, runner)
        save_reference(run, cached)
        return run


LOCKS = "reference-locks"  # in the cache, beside the references: one lock file per entry


def save_reference(run: ReferenceRun, evidence_file: Path) -> None:
    """`evidence_file` (JSON lines: the events, then the arrays in the probe's own array lines) and the executed
    solution in `<name>.ipynb`: plain data that another process or machine reads back with `load_reference`."""
    evidence_file.parent.mkdir(parents=True, exist_ok=True)
    # An entry counts only while its evidence file exists: gone first, so one cut short midway is never read.
    evidence_file.unlink(missing_ok=True)
    nbformat.write(run.notebook, evidence_file.with_suffix(".ipynb"))
    partial = evidence_file.with_suffix(f".{uuid.uuid4().hex}.tmp")  # no other writer's, wherever it runs
    with partial.open("wb") as stream:
        stream.write(run.evidence.to_jsonl().encode())
        stream.writelines(run.evidence.array_lines())
    partial.replace(evidence_file)  # last: the entry counts only once its notebook is in place


def load_reference(evidence_file: Path) -> ReferenceRun:
    """What `save_reference` wrote. Raises EvidenceError, OSError or ValueError for a missing or damaged one."""
    return ReferenceRun(read_evidence(evidence_file, from_probe=False), nbformat.read(evidence_file.with_suffix(".ipynb"), 4))


def run_solution(rubric: LoadedRubric, runner: NotebookRunner, gpu: int | None = None) -> ReferenceRun:
    """One run of the solution, not cached (a GPU run is never cached: reference values come from the CPU)."""
    path = rubric.solution_path
    items = rubric.spec.items
    try:
        nb = read_notebook(path).notebook
        captures = plan_captures(items, nb, locate(nb, [item.id for item in items]), reference_inputs=None)
        execution = run_as_solution(rubric, runner, nb, captures, gpu)
    except (NotebookError, RunnerError) as err:
        raise RubricError(f"{path}: the reference solution could not be run: {err}") from None
    # A cell after a dead kernel has no error of its own: it did not run.
    failed = [f"cell {cell.cell}: {cell.error or cell.status}" for cell in execution.cells if cell.status != "ok"]
    if failed:
        hint = ("; this machine has no GPU: --cpu-fallback runs the solution's CUDA calls on the CPU"
                if any(CUDA_ERROR.search(problem) for problem in failed) and not runner.cpu_fallback else "")
        raise RubricError(f"{path}: the reference solution must run without errors, but " + "; ".join(failed) + hint)
    if execution.evidence is None:
        raise RubricError(f"{path}: no evidence from the reference solution: {execution.evidence_error}")
    return ReferenceRun(execution.evidence, execution.notebook)


def run_as_solution(rubric: LoadedRubric, runner: NotebookRunner, nb: nbformat.NotebookNode, captures: CapturePlan,
                    gpu: int | None = None) -> Execution:
    """Run `nb` (the solution, or a replay made from it) in a folder laid out as a submission's: the solution's file
    with its data around it. Raises RunnerError when the kernel cannot run it."""
    with tempfile.TemporaryDirectory(prefix="grader-solution-") as folder:
        if rubric.solution_data is not None:
            shutil.copytree(rubric.solution_data, folder, dirs_exist_ok=True)
        shutil.copy2(rubric.solution_path, folder)
        return runner.run(nb, Path(folder), gpu, captures)


# What torch raises for a CUDA call on a machine without a GPU (or without a CUDA build).
CUDA_ERROR = re.compile(r"\bcuda\b|NVIDIA driver", re.IGNORECASE)


def check_reference(rubric: LoadedRubric, reference: ReferenceRun) -> None:
    """The grader's own test of a rubric: the reference makes every phase the checks name and, graded as a
    submission whose run recorded its evidence, earns full marks. Raises RubricError saying where it falls short."""
    items = ItemGrader(rubric, Trace.of(reference.evidence, planned_runs(reference.notebook)), reference.notebook)
    problems = _missing_phases(rubric, items.reference)
    if not problems:
        problems = _short_of_full_marks(rubric, items, reference)
    if problems:
        raise RubricError(f"{rubric.solution_path}: the reference solution does not earn full marks on its own "
                          "rubric:\n  " + "\n  ".join(problems))


def _missing_phases(rubric: LoadedRubric, trace: Trace) -> list[str]:
    problems = [
        f"item {item.id}: optimizer phase {check.phase} does not exist in the reference "
        f"(it has {len(trace.phases)})"
        for item in rubric.spec.items if not item.void for check in item.checks
        if check.kind == "optimizer_trace" and check.phase > len(trace.phases)
    ]
    if not trace.phases and any(check.kind in ("module", "tensor") for item in rubric.spec.items if not item.void
                                for check in item.checks):
        problems.append("the reference makes no optimizer updates, so no module was trained")
    return problems


def _short_of_full_marks(rubric: LoadedRubric, items: ItemGrader, reference: ReferenceRun) -> list[str]:
    nb = reference.notebook
    # Graded as if it were a submission whose run recorded the reference's evidence.
    as_run = Execution(notebook=nb, cells=[], evidence=reference.evidence, evidence_error=None, stopped=None,
                       stopped_at=None)
    prints = printed_arrays(nb)
    data = rubric.solution_data
    drawn = tuple(drawn_images(data)) if data is not None and items.shows_cam else ()
    layout = locate(nb, items.item_ids)
    return [f"item {item.id}: {item.points:g}/{item.max_points:g} ({item.message})"
            for item in items.grade(nb, layout, items.read_answers(nb, layout), as_run, items.reference, None,
                                    prints, prints, drawn)
            if item.status != "manual" and item.points != item.max_points]
