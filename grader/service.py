"""One way from a rubric to ready kernels, a runner, the reference's run and a `Grader`: every front end (`grader
grade`, the Slurm task, the review page's regrade, `grader check`, `grader rubric lint` and `reference`) gets
them here.

    host = confine(rubric, options, cache)                  # the sandbox, uid confinement, or None
    runner = notebook_runner(rubric.spec.execution, options, cache, host, warm)
    session = open_session(rubric, runner, cache)           # the reference's run (cached), then the Grader

or, where nothing is printed between the steps, `prepare(rubric, options, cache)`. What a front end asks for
is a `KernelOptions`; what it leaves unset, the rubric's `execution:` section decides.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.grading import Grader
from grader.paths import WARM_KERNELS_LOG
from grader.reference import ReferenceRun, reference_run
from grader.results import Confinement
from grader.rubric import LoadedRubric
from grader.rubric.models import Execution
from grader.run import NotebookRunner
from grader.run.execute import ActiveRuns
from grader.run.sandbox import Limits, SandboxHost
from grader.run.uid_confinement import UidHost
from grader.run.warm import WarmKernels, imports_of
from grader.run.workspace import unsandboxed_base_env

Host = SandboxHost | UidHost | None  # None: kernels run unconfined, as the grader's user


@dataclass(frozen=True)
class KernelOptions:
    """How a front end wants its kernels run. Each limit or timeout left None is the rubric's.

    confinement: sandbox (bubblewrap: own uid, namespaces, cgroups), uid (own unprivileged uid without
        namespaces, where a container refuses them) or none (unconfined, as the grader's user).
    gpus: the NVIDIA GPUs a sandbox may give its kernels (one each); none binds no GPU device.
    private: confined by uid alone, what no kernel may read besides the rubric folder (the output folder, the
        gradebook's folder, the submissions); they must be root-only.
    cell_timeout_s, notebook_timeout_s: per cell and per notebook (the rubric's cell_timeout_s,
        notebook_timeout_s).
    memory_mb, processes, file_size_mb, tmp_mb: one kernel's limits (`Limits`; the rubric's memory_mb,
        max_processes, max_file_mb, disk_mb).
    cpu_fallback: `.cuda()` and `.to("cuda")` run on the CPU instead of failing (flagged where needed); for
        runs without a GPU.
    torch_threads: torch's CPU threads per kernel (the cores shared by the kernels at once); None: all cores.
    virtual_clock: the notebooks' `time.sleep` advances a clock instead of waiting; False: sleeps wait.
    gpu_memory_fraction: the share of its GPU's memory one kernel may allocate (kernels packed on a GPU).
    """

    confinement: Confinement = "sandbox"
    gpus: tuple[int, ...] = ()
    private: tuple[Path, ...] = ()
    cell_timeout_s: float | None = None
    notebook_timeout_s: float | None = None
    memory_mb: int | None = None
    processes: int | None = None
    file_size_mb: int | None = None
    tmp_mb: int | None = None
    cpu_fallback: bool = False
    torch_threads: int | None = None
    gpu_memory_fraction: float | None = None
    virtual_clock: bool = True

    def limits(self, execution: Execution) -> Limits:
        """One kernel's limits: these options' where given, else the rubric's."""
        return Limits.from_rubric(execution, memory_mb=self.memory_mb, processes=self.processes,
                                  file_size_mb=self.file_size_mb, tmp_mb=self.tmp_mb)


@dataclass(frozen=True)
class GradingSession:
    """What grading one rubric needs, ready: the runner, the reference's run, the `Grader` built on them."""

    runner: NotebookRunner
    reference: ReferenceRun
    grader: Grader


def confine(rubric: LoadedRubric, options: KernelOptions, cache: Path) -> Host:
    """The host that confines the kernels as `options.confinement` says. Raises SandboxUnavailable when this
    machine cannot confine them so (the message says why and what to do)."""
    limits = options.limits(rubric.spec.execution)
    if options.confinement == "sandbox":
        return SandboxHost.prepare(sys.executable, limits, cache, gpus=options.gpus)
    if options.confinement == "uid":
        return UidHost.prepare(sys.executable, limits, cache, [rubric.folder, *options.private])
    return None


def warm_preload(rubric: LoadedRubric) -> list[str]:
    """What warm kernels import before they fork: the rubric's `execution: preload:`, else what the solution
    imports."""
    preload = rubric.spec.execution.preload
    return imports_of(rubric.solution_path) if preload is None else preload


def start_warm_kernels(preload: list[str], host: Host, cache: Path) -> WarmKernels:
    """A fork server that has imported `preload`, confined as the kernels it forks (close it when done).
    Raises WarmStartError."""
    cache.mkdir(parents=True, exist_ok=True)
    env = host.base_env() if host else unsandboxed_base_env(Path(sys.executable).parent, cache)
    return WarmKernels.start(sys.executable, preload, env, log=cache / WARM_KERNELS_LOG,
                             wrapper=host.server_wrapper() if host else [],
                             kernels=host.confinement if host else "none")


def notebook_runner(execution: Execution, options: KernelOptions, cache: Path, host: Host,
                    warm: WarmKernels | None = None, active: ActiveRuns | None = None) -> NotebookRunner:
    """The runner of the rubric's notebooks. warm: the fork server kernels start from (None: each starts cold).
    active: where its runs register, for a caller that stops them (default: its own)."""
    return NotebookRunner(
        cell_timeout_s=options.cell_timeout_s or execution.cell_timeout_s,
        notebook_timeout_s=options.notebook_timeout_s or execution.notebook_timeout_s, cache_dir=cache,
        sandbox=host, warm=warm, cpu_fallback=options.cpu_fallback, torch_threads=options.torch_threads,
        gpu_memory_fraction=options.gpu_memory_fraction, virtual_clock=options.virtual_clock,
        active=active or ActiveRuns())


def make_grader(rubric: LoadedRubric, runner: NotebookRunner, reference: ReferenceRun) -> Grader:
    """The grader of `rubric` against `reference`. Raises RubricError for a reference without full marks."""
    return Grader(rubric, runner, reference.evidence, reference.notebook)


def open_session(rubric: LoadedRubric, runner: NotebookRunner, cache: Path,
                 reference: ReferenceRun | None = None) -> GradingSession:
    """The session of `runner`: the reference given (as a Slurm task reads it), else the solution's run from the
    cache, run first when it is not there. Raises RubricError (the solution does not run, or lacks full marks)."""
    if reference is None:
        # Alone, before any submission: all cores for its torch.
        reference = reference_run(rubric, dataclasses.replace(runner, torch_threads=None), cache)
    return GradingSession(runner, reference, make_grader(rubric, runner, reference))


def prepare(rubric: LoadedRubric, options: KernelOptions, cache: Path, reference: ReferenceRun | None = None,
            active: ActiveRuns | None = None) -> GradingSession:
    """Confined kernels started cold, the reference and the grader, in one step. Raises SandboxUnavailable and
    RubricError."""
    runner = notebook_runner(rubric.spec.execution, options, cache, confine(rubric, options, cache), active=active)
    return open_session(rubric, runner, cache, reference)
