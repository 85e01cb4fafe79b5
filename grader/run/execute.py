"""Execute one notebook top to bottom in a fresh grading kernel.

Every code cell runs even when earlier ones fail (a typo in (2) must not cost
(3)). A cell that runs past its limit is interrupted and marked `timeout`; a
kernel that dies, ignores the interrupt or exhausts the notebook's budget
stops the run, and the cells after it are `not-run`. Whatever the probe
recorded before that point is kept.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
import hashlib
import signal
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from grader.captures import CapturePlan
from grader.evidence import EvidenceError, read_evidence
from grader.execution import Execution
from grader.probe.protocol import (CAPTURES_ENV, CPU_FALLBACK_ENV, EVIDENCE_ENV, SEED_ENV, THREADS_ENV,
                                   VIRTUAL_CLOCK_ENV)
from grader.results import CellRun, Confinement
from grader.run.kernel import GradingKernelManager
from grader.run.sandbox import KernelSandbox, SandboxHost
from grader.run.uid_confinement import UidHost
from grader.run.warm import WarmKernels
from grader.run.workspace import Workspace, log_tail, workspace

# How long a kernel may take to answer the interrupt sent at a cell's time limit.
INTERRUPT_GRACE_S = 10.0
STARTUP_TIMEOUT_S = 60
# Output a cell may leave in the executed notebook; the rest is cut (a flood of prints must not fill memory).
MAX_CELL_OUTPUT_CHARS = 2_000_000


def kernel_seed(notebook: nbformat.NotebookNode) -> int:
    """The seed of the kernel that runs `notebook`: a hash of its code cells, so an unseeded notebook (Problem 1's
    training) computes the same numbers each time it is graded, and in a self-check, whatever its file is called
    or its stored outputs hold; changed code, another seed."""
    digest = hashlib.sha256()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode() + b"\0")
    return int.from_bytes(digest.digest()[:8], "big") >> 1  # below 2**63: torch.manual_seed's range


class RunnerError(Exception):
    """The kernel could not be started: a problem of the grading machine, not of the submission."""


class ActiveRuns:
    """The runs in progress, one per worker thread, so that a Ctrl-C can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: set[tuple[asyncio.AbstractEventLoop, asyncio.Task]] = set()
        self.cancelled = False

    @contextlib.contextmanager
    def register(self, task: asyncio.Task) -> Iterator[None]:
        entry = (task.get_loop(), task)
        with self._lock:
            if self.cancelled:
                raise asyncio.CancelledError
            self._runs.add(entry)
        try:
            yield
        finally:
            with self._lock:
                self._runs.discard(entry)

    def cancel_all(self) -> None:
        """Stop every run (their kernels and sandboxes are shut down as they unwind) and refuse new ones."""
        with self._lock:
            self.cancelled = True
            for loop, task in self._runs:
                loop.call_soon_threadsafe(task.cancel)


@dataclass(frozen=True)
class NotebookRunner:
    """Runs notebooks with the probe loaded. One instance serves a whole batch, from any number of threads.

    cell_timeout_s: a cell running longer is interrupted (status `timeout`).
    notebook_timeout_s: total budget; when spent, the remaining cells are not run.
    cache_dir: the grader's cache (matplotlib's font cache, built once and copied into kernels).
    sandbox: how kernels are confined: a SandboxHost (bubblewrap, the default), a UidHost (their own uid without
        namespaces, where a container refuses them) or None (bare, `--no-sandbox`).
    python: the interpreter of the kernel; it needs ipykernel and grader installed.
    warm: the fork server kernels start from; None starts each kernel cold (a new interpreter).
    gpu_memory_fraction: the share of its GPU's memory one kernel's torch may allocate (kernels packed on a GPU).
    cpu_fallback: on a machine without a GPU, `.cuda()` and `.to("cuda")` run on the CPU instead of failing
        (self-checks and tests; each submission that needed it is flagged).
    torch_threads: torch's CPU threads per kernel (the cores shared by the kernels running at once); None
        leaves torch's default, all cores.
    virtual_clock: the notebook's `time.sleep` calls advance a clock instead of waiting (crawl code sleeps between
        requests it no longer makes); off, they wait as written.
    """

    cell_timeout_s: float
    notebook_timeout_s: float
    cache_dir: Path
    sandbox: SandboxHost | UidHost | None
    python: str = sys.executable
    warm: WarmKernels | None = None
    gpu_memory_fraction: float | None = None
    cpu_fallback: bool = False
    torch_threads: int | None = None
    virtual_clock: bool = True
    active: ActiveRuns = field(default_factory=ActiveRuns, compare=False, repr=False)

    @property
    def confinement(self) -> Confinement:
        return "none" if self.sandbox is None else self.sandbox.confinement

    def run(self, notebook: nbformat.NotebookNode, submission: Path, gpu: int | None = None,
            captures: CapturePlan | None = None) -> Execution:
        """Run `notebook` with the files of `submission` around it. gpu: the GPU its kernel gets, if any.
        captures: expressions the probe evaluates after given cells (grader.captures)."""
        try:
            return asyncio.run(self._registered(self._run(notebook, submission, gpu, captures)))
        except asyncio.CancelledError:  # Ctrl-C while a kernel ran: it is shut down by now
            raise KeyboardInterrupt from None

    async def _registered(self, run: Coroutine[Any, Any, Execution]) -> Execution:
        task = asyncio.current_task()
        assert task is not None
        with self.active.register(task):
            return await run

    async def _run(self, notebook: nbformat.NotebookNode, submission: Path, gpu: int | None,
                   captures: CapturePlan | None) -> Execution:
        nb = copy.deepcopy(notebook)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        (self.cache_dir / "matplotlib").mkdir(parents=True, exist_ok=True)
        with workspace(submission) as ws, self._sandbox_for(ws, gpu) as box:
            km, env, cwd = self._kernel(ws, box, gpu)
            env[SEED_ENV] = str(kernel_seed(nb))
            if captures:
                env[CAPTURES_ENV] = str(self._lend_plan(captures, ws, box))
            client = GradingClient(
                nb, km=km, allow_errors=True, interrupt_on_timeout=True, startup_timeout=STARTUP_TIMEOUT_S
            )
            started = monotonic()
            with ws.kernel_log.open("wb") as log:
                async with contextlib.AsyncExitStack() as stack:
                    stack.push_async_callback(_shutdown, client, km)
                    try:
                        await stack.enter_async_context(client.async_setup_kernel(
                            env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL,
                            stderr=log,  # students' stray stderr stays out of the TA's console
                        ))
                    except (RuntimeError, TimeoutError) as err:
                        raise RunnerError(f"the kernel did not start: {err}\n{log_tail(ws.kernel_log)}") from None
                    if box is not None:
                        box.lock_runtime()
                    execution = await self._run_cells(client, nb)
            if box is not None:
                execution.limits_hit = box.limits_hit()
                execution.kernel_uid = box.uid
            try:
                execution.evidence = read_evidence(ws.evidence)
            except EvidenceError as err:
                execution.evidence_error = str(err)
            execution.seconds = monotonic() - started
            return execution

    def _sandbox_for(self, ws: Workspace, gpu: int | None) -> contextlib.AbstractContextManager[KernelSandbox | None]:
        if self.sandbox is None:
            return contextlib.nullcontext()
        return self.sandbox.sandbox(ws.root, ws.submission, gpu)

    def _kernel(self, ws: Workspace, box: KernelSandbox | None,
                gpu: int | None) -> tuple[GradingKernelManager, dict[str, str], str]:
        if box is None:
            km = GradingKernelManager(kernel_name="python3", python=self.python, warm=self.warm)
            env = ws.unsandboxed_env(Path(self.python).parent, self.cache_dir, gpu)
            return km, self._with_options(env), str(ws.submission)
        # TCP on loopback cannot cross the sandbox's network namespace; IPC sockets in a bound folder can (and,
        # confined by uid only, stay in a folder no other user may enter).
        km = GradingKernelManager(kernel_name="python3", python=self.python, sandbox=box, warm=self.warm,
                                  transport="ipc", ip=str(ws.runtime / "kernel"),
                                  connection_file=str(ws.runtime / "kernel.json"))
        ws.evidence.touch()
        box.hand_over(ws.evidence)
        env = self.sandbox.kernel_env(ws.runtime, EVIDENCE_ENV, gpu, self.gpu_memory_fraction)
        # A sandbox's bubblewrap moves into its working folder itself; a uid-confined kernel starts in its copy.
        return km, self._with_options(env), str(ws.runtime if box.namespaces else ws.submission)

    @staticmethod
    def _lend_plan(captures: CapturePlan, ws: Workspace, box: KernelSandbox | None) -> Path:
        folder = ws.runtime / "captures"
        folder.mkdir()
        path = captures.write(folder)
        if box is not None:
            for file in [folder, *folder.iterdir()]:
                box.lend(file)
        return path

    def _with_options(self, env: dict[str, str]) -> dict[str, str]:
        """The kernel's environment with what the probe sets up before the first cell."""
        env = {**env, CPU_FALLBACK_ENV: "1"} if self.cpu_fallback else env
        env = {**env, VIRTUAL_CLOCK_ENV: "1"} if self.virtual_clock else env
        return {**env, THREADS_ENV: str(self.torch_threads)} if self.torch_threads else env

    async def _run_cells(self, client: NotebookClient, nb: nbformat.NotebookNode) -> Execution:
        execution = Execution(notebook=nb, cells=[], evidence=None, evidence_error=None, stopped=None, stopped_at=None)
        started = monotonic()  # the budget is the student's cells' time, not the kernel's start-up
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            remaining = self.notebook_timeout_s - (monotonic() - started)
            if execution.stopped is None and remaining <= 0:
                execution.stopped, execution.stopped_at = "budget", index
            if execution.stopped is not None:
                execution.cells.append(CellRun(cell=index + 1, status="not-run"))
                continue
            limit = min(self.cell_timeout_s, remaining)
            client.timeout = max(1, round(limit))
            run = len(execution.run_cells) + 1
            execution.run_cells[run] = index
            began = monotonic()
            cell_task = asyncio.ensure_future(client.async_execute_cell(cell, index, execution_count=run))
            try:
                done, _ = await asyncio.wait({cell_task}, timeout=limit + INTERRUPT_GRACE_S)
            except asyncio.CancelledError:  # Ctrl-C: stop the cell too before the kernel goes
                cell_task.cancel()
                with contextlib.suppress(BaseException):
                    await cell_task
                raise
            if not done:
                cell_task.cancel()
                with contextlib.suppress(BaseException):  # nbclient turns the cancel into DeadKernelError
                    await cell_task
                execution.cells.append(CellRun(cell=index + 1, status="timeout", seconds=monotonic() - began,
                                               error=f"still running after {limit:.0f} s and did not stop when interrupted"))
                execution.stopped, execution.stopped_at = "unresponsive", index
                continue
            failure = cell_task.exception()
            if failure is not None:
                # A dead kernel, or one whose messages broke the protocol (forked copies of it all
                # answering, forged replies): either way it can no longer be trusted to run cells.
                error = ("the kernel died while running this cell" if isinstance(failure, DeadKernelError) else
                         f"the kernel stopped following the Jupyter protocol ({type(failure).__name__}: "
                         f"{str(failure)[:200]}) and was shut down")
                execution.cells.append(CellRun(cell=index + 1, status="died", seconds=monotonic() - began,
                                               error=error))
                execution.stopped, execution.stopped_at = "kernel-died", index
                continue
            seconds = monotonic() - began
            error = _first_error(cell)
            if error is not None and error.startswith("KeyboardInterrupt") and seconds >= limit:
                budget_spent = limit < self.cell_timeout_s
                message = "the notebook's time budget ran out in this cell" if budget_spent else f"stopped after the {limit:.0f} s limit per cell"
                execution.cells.append(CellRun(cell=index + 1, status="timeout", seconds=seconds, error=message))
                if budget_spent:
                    execution.stopped, execution.stopped_at = "budget", index
            else:
                execution.cells.append(CellRun(cell=index + 1, status="error" if error else "ok", seconds=seconds, error=error))
        return execution


class GradingClient(NotebookClient):
    """nbclient's client with two changes: Ctrl-C stops the run (and with it the batch), and each
    cell keeps at most MAX_CELL_OUTPUT_CHARS of output, saying where it cut."""

    async def async_start_new_kernel(self, **kwargs: object) -> None:
        # nbclient has just installed a Ctrl-C handler that kills the kernel and carries on with
        # the next cell. A TA's Ctrl-C means "stop": cancel this run; its clean-up shuts the
        # kernel and its sandbox down. (In a worker thread, which gets no signals, nbclient
        # installs nothing and the batch cancels runs through NotebookRunner.active.)
        if threading.current_thread() is threading.main_thread():
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, asyncio.current_task().cancel)
        await super().async_start_new_kernel(**kwargs)

    def output(self, outs, msg, display_id, cell_index):  # type: ignore[no-untyped-def]
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(len(str(value)) for value in content.get("data", {}).values())
        used = sum(len(str(out.get("text", ""))) + sum(len(str(v)) for v in out.get("data", {}).values()) for out in outs)
        if used + size <= MAX_CELL_OUTPUT_CHARS:
            return super().output(outs, msg, display_id, cell_index)
        notice = f"[the grader cut this cell's output at {MAX_CELL_OUTPUT_CHARS:,} characters]\n"
        if not any(out.get("text") == notice for out in outs):
            outs.append(nbformat.v4.new_output("stream", name="stderr", text=notice))
        return None


def _first_error(cell: nbformat.NotebookNode) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return f"{output.get('ename', 'Error')}: {value[0] if value else ''}".rstrip(": ")
    return None


async def _shutdown(client: NotebookClient, km: GradingKernelManager) -> None:
    # nbclient leaves its at-exit cleanup registered when the kernel fails to start.
    atexit.unregister(client._cleanup_kernel)
    if client.kc is not None:
        client.kc.stop_channels()
    if km.has_kernel:
        await km.shutdown_kernel(now=True)

