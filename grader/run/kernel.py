"""The kernel the grader launches: always its own Python, with the probe loaded.

A submission's notebook metadata may name any kernel ("conda-env-dl-py",
Colab's "python3"); the grader ignores it and launches the interpreter it was
configured with, so every submission runs in the same environment. With a
sandbox the kernel runs inside it, and is interrupted by message (a SIGINT to
bubblewrap would end the whole sandbox).

Kernels start cold (a new interpreter) or warm (forked from the run's fork
server, `grader.run.warm`); warm ones are launched by `WarmProvisioner`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import select
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import IO, Any, cast

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Any as AnyTrait
from traitlets import Type, Unicode

from grader.run.sandbox import WORK, KernelSandbox
from grader.run.warm import WarmKernels, WarmStartError

# A warm kernel's sandbox's first process: reports its pid once the sandbox's set-up is done, then waits for EOF on
# its stdin, the sandbox's lifeline. Its exit ends the sandbox's pid namespace, and the kernel in it.
HOLDER = ["/bin/sh", "-c", "echo $$ && read _"]
# Before a cold kernel in its sandbox: a watcher that kills everything in there at EOF on the lifeline (stdin, copied
# to fd 3: an asynchronous list's stdin is /dev/null). The kernel itself gets /dev/null.
WATCHER = ["/bin/sh", "-c", 'exec 3<&0; { read _ <&3; kill -KILL -1; } & exec "$@" </dev/null 3<&-', "sh"]
HOLDER_TIMEOUT_S = 60
POLL_S = 0.005
SOCKET_POLL_S = 0.005
READY_RETRY_S = 1.0  # kernel_info is asked again when its idle status has not come by then


class Lifeline:
    """A pipe that ends a sandbox when its grader is gone, however it died (SIGKILL too): its read end is the sandbox's
    stdin, its write end only the grader holds (os.pipe makes both close-on-exec, so no other sandbox, kernel or the
    fork server inherits it), and when the grader dies the read end reaches EOF. bwrap's --die-with-parent alone
    depends on when bwrap asks for its parent-death signal: a grader dead before that would leave its sandbox."""

    def __init__(self) -> None:
        self.read_end, self._write_end = os.pipe()

    def handed_over(self) -> None:
        """Once the sandbox has started: its copy of the read end is the only one needed."""
        if self.read_end >= 0:
            os.close(self.read_end)
            self.read_end = -1

    def cut(self) -> None:
        """The run is over: the sandbox, if still there, sees EOF."""
        self.handed_over()
        if self._write_end >= 0:
            os.close(self._write_end)
            self._write_end = -1


class GradingKernelClient(AsyncKernelClient):
    """jupyter_client's client, made ready without fixed waits.

    jupyter_client's wait_for_ready ends by draining IOPub until 0.2 s pass in silence, on
    every kernel start. Here the kernel is ready once it has answered kernel_info and IOPub
    has carried that request's idle status (so IOPub is connected too); when the
    subscription came too late to see it, kernel_info is asked again.
    """

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = monotonic() + (math.inf if timeout is None else timeout)
        while monotonic() < deadline:
            request = self.kernel_info()
            if await self._idle_after(request, min(READY_RETRY_S, deadline - monotonic())):
                while True:  # its reply is on the shell channel, after any to earlier attempts
                    reply = await self.shell_channel.get_msg(timeout=max(deadline - monotonic(), 0.001))
                    if reply["parent_header"].get("msg_id") == request:
                        self._handle_kernel_info_reply(reply)
                        return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
        raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    async def _idle_after(self, request: str, wait: float) -> bool:
        until = monotonic() + wait
        while (left := until - monotonic()) > 0:
            try:
                message = await self.iopub_channel.get_msg(timeout=left)
            except Empty:
                return False
            if (message["parent_header"].get("msg_id") == request and message["msg_type"] == "status"
                    and message["content"].get("execution_state") == "idle"):
                return True
        return False


class GradingKernelManager(AsyncKernelManager):
    client_factory = Type(GradingKernelClient, klass=AsyncKernelClient)
    python = Unicode(sys.executable, help="Interpreter that runs the kernel (needs ipykernel and grader)")
    sandbox = AnyTrait(None, allow_none=True, help="The KernelSandbox to run the kernel in; None runs it bare")
    warm = AnyTrait(None, allow_none=True, help="The WarmKernels to fork the kernel from; None starts it cold")

    @property
    def kernel_arguments(self) -> list[str]:
        return [
            "-f", "{connection_file}", "--ext=grader.probe",
            # A probe that fails to load must fail the kernel, not grade without evidence.
            "--InteractiveShellApp.reraise_ipython_extension_failures=True",
            "--HistoryManager.enabled=False",  # no SQLite history file to create in every kernel
        ]

    lifeline: Lifeline | None = None  # a cold kernel's in a sandbox's namespaces

    @property
    def kernel_spec(self) -> KernelSpec:
        argv = [self.python, "-m", "ipykernel_launcher", *self.kernel_arguments]
        if self._watched:
            argv = [*WATCHER, *argv]
        return KernelSpec(argv=self.sandbox.wrap(argv) if self.sandbox else argv, language="python",
                          display_name="grader", interrupt_mode="message")

    @property
    def _watched(self) -> bool:
        """A cold kernel in a sandbox's pid namespace, where its watcher ends everything at the lifeline's EOF. (A
        warm one's holder watches it; a uid-confined one's parent is the grader, which ipykernel's parent poller
        watches.)"""
        return self.sandbox is not None and self.sandbox.namespaces and self.warm is None

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.warm is not None and self.provisioner is None:
            self.kernel_id = self.kernel_id or str(uuid.uuid4())
            self.provisioner = WarmProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        # jupyter_client polls a killed kernel every 0.1 s; it is gone within milliseconds.
        await super()._async_wait(pollinterval=POLL_S)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if self.sandbox is not None:
            # The connection file is written by the grader; the kernel's uid must read it, never write it.
            self.sandbox.lend(Path(self.connection_file))
        if not self._watched:
            await super()._async_launch_kernel(kernel_cmd, **kw)
            return
        self.lifeline = lifeline = Lifeline()
        try:
            await super()._async_launch_kernel(kernel_cmd, **{**kw, "stdin": lifeline.read_end})
        except BaseException:
            lifeline.cut()
            raise
        lifeline.handed_over()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        if self.lifeline is not None:
            self.lifeline.cut()
        await super()._async_cleanup_resources(restart=restart)


class WarmProvisioner(LocalProvisioner):
    """Launches a kernel forked from the fork server; with a sandbox, into that sandbox; with uid confinement, as
    the kernel's uid.

    The sandbox is started first, running a holder process; the fork joins it. The kernel
    is not the grader's child, so it is watched and signalled through a pidfd. Killing
    the holder ends the sandbox's pid namespace, and with it the kernel and all its children;
    so does the grader's death, through the holder's lifeline.
    """

    holder: subprocess.Popen[bytes] | None = None
    lifeline: Lifeline | None = None
    pidfd: int | None = None

    @property
    def has_process(self) -> bool:
        return self.pidfd is not None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        # Only GradingKernelManager makes this provisioner, with itself as parent (`_async_pre_start_kernel`).
        km = cast(GradingKernelManager, self.parent)
        warm: WarmKernels = km.warm
        box: KernelSandbox | None = km.sandbox
        env = {key: value for key, value in kwargs["env"].items() if key != "JPY_PARENT_PID"}
        cwd = str(kwargs["cwd"])
        request: dict[str, Any] = {
            "env": env, "cwd": cwd,
            "argv": [arg.replace("{connection_file}", km.connection_file) for arg in km.kernel_arguments],
        }
        stderr = kwargs.get("stderr")
        with open(os.devnull, "rb") as null_in, open(os.devnull, "wb") as null_out:
            err_fd = stderr.fileno() if stderr is not None and hasattr(stderr, "fileno") else null_out.fileno()
            # Always a cgroup in a sandbox's namespaces; with uid confinement, none on a host without usable cgroups.
            cgroup_procs = [str(path) for path in box.cgroup.procs_files] if box is not None and box.cgroup else []
            if box is not None and not box.namespaces:  # uid confinement: the fork becomes the kernel's uid
                request["confine"] = {"host_uid": box.uid, "rlimits": box.rlimits, "cgroup_procs": cgroup_procs,
                                      "seccomp": base64.b64encode(box.seccomp).decode()}
            elif box is not None:
                self.lifeline = lifeline = Lifeline()
                try:
                    self.holder = holder = subprocess.Popen(box.wrap(HOLDER), env=env, cwd=kwargs["cwd"],
                                                            stdin=lifeline.read_end, stdout=subprocess.PIPE,
                                                            stderr=stderr)
                except BaseException:
                    lifeline.cut()
                    raise
                lifeline.handed_over()
                assert holder.stdout is not None  # stdout=PIPE
                try:
                    holder_pid = await self._holder_pid(box, holder.stdout)
                except asyncio.CancelledError:
                    await self._end_holder()
                    raise
                request["cwd"] = WORK  # bubblewrap's --chdir for a cold kernel
                request["sandbox"] = {
                    "holder_pid": holder_pid, "host_uid": box.uid,
                    "cgroup_procs": cgroup_procs,
                    "rlimits": box.rlimits,
                    "seccomp": base64.b64encode(box.seccomp).decode(),
                }
            spawned = asyncio.get_running_loop().run_in_executor(None, warm.spawn, request,
                                                                 (null_in.fileno(), null_out.fileno(), err_fd))
            try:
                pid = await asyncio.shield(spawned)
            except asyncio.CancelledError:  # Ctrl-C: the fork goes ahead regardless; end what it made
                with contextlib.suppress(WarmStartError, ProcessLookupError):
                    started = await spawned
                    if box is None or not box.namespaces:  # a sandboxed one ends with its holder
                        os.kill(started, signal.SIGKILL)
                await self._end_holder()
                raise
            except WarmStartError as err:
                await self._end_holder()
                raise RuntimeError(f"the warm kernel could not be started: {err}") from None
        if box is not None and box.namespaces:
            host_pid = box.host_pid(pid)
            if host_pid is None:
                await self._end_holder()
                raise RuntimeError("the warm kernel died as it started (see the kernel log)")
            pid = host_pid
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.cwd = cwd
        if km.transport == "ipc":
            await self._sockets_bound(km)
        return self.connection_info

    async def _sockets_bound(self, km: GradingKernelManager) -> None:
        """Return once the kernel listens on all its sockets: a client that connects earlier waits
        out ZMQ's reconnect interval."""
        sockets = [Path(f"{km.ip}-{self.connection_info[name]}")
                   for name in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")]
        deadline = asyncio.get_running_loop().time() + HOLDER_TIMEOUT_S
        while not all(path.exists() for path in sockets):
            if await self.poll() is not None or asyncio.get_running_loop().time() > deadline:
                return  # the client's own start-up timeout and liveness checks report it
            await asyncio.sleep(SOCKET_POLL_S)

    async def _holder_pid(self, box: KernelSandbox, holder_out: IO[bytes]) -> int:
        """The holder's pid on the host, once the sandbox's set-up (copying the submission) is done.
        holder_out: the holder's stdout, where it writes its pid."""
        loop = asyncio.get_running_loop()
        try:
            line = await asyncio.wait_for(loop.run_in_executor(None, holder_out.readline), HOLDER_TIMEOUT_S)
        except asyncio.TimeoutError:
            line = b""
        pid = box.host_pid(int(line)) if line.strip().isdigit() else None
        if pid is None:
            await self._end_holder()
            raise RuntimeError("the sandbox did not start (see the kernel log)")
        return pid

    async def poll(self) -> int | None:
        if self.pidfd is None:
            return 0
        if select.select([self.pidfd], [], [], 0)[0] or (self.holder is not None and self.holder.poll() is not None):
            return 1  # not our child: its exit status is not ours to read
        return None

    async def wait(self) -> int | None:
        while await self.poll() is None:
            await asyncio.sleep(POLL_S)
        code = await self.poll()
        await self._end_holder()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        return code

    async def send_signal(self, signum: int) -> None:
        if self.pidfd is not None:
            with contextlib.suppress(ProcessLookupError):  # already gone
                signal.pidfd_send_signal(self.pidfd, signum)

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)
        await self._end_holder()

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        await self._end_holder()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    async def _end_holder(self) -> None:
        if self.lifeline is not None:
            self.lifeline.cut()
        if self.holder is None:
            return
        if self.holder.poll() is None:
            self.holder.kill()
        await asyncio.get_running_loop().run_in_executor(None, self.holder.wait)
        if self.holder.stdout is not None:
            self.holder.stdout.close()
        self.holder = None

