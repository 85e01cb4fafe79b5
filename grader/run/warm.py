"""The grader's side of warm kernels: start the fork server once, ask it for kernels.

The server (``grader.probe.forkserver``) imports the exam's libraries once;
each kernel is then a fork of it, which joins the sandbox the grader made for
that kernel. A cold kernel pays the imports every time (≈ 9 s for
``from fastai.vision.all import *`` here).
"""

from __future__ import annotations

import ast
import json
import shlex
import socket
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import nbformat

from grader.notebook.code import code_cell_trees
from grader.run.workspace import log_tail

READY_TIMEOUT_S = 600  # importing fastai on a loaded machine
REPLY_TIMEOUT_S = 60


class WarmStartError(Exception):
    """The fork server could not start, or could not start a kernel; the message says why."""


def imports_of(notebook: Path) -> list[str]:
    """The modules a notebook imports, in order: what is worth importing before the fork."""
    modules: list[str] = []
    for tree in code_cell_trees(nbformat.read(notebook, as_version=4)):
        for node in tree.body:
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            modules += [name for name in names if name not in modules]
    return modules


class WarmKernels:
    """One fork server for a grading run, shared by all its workers (one request at a time)."""

    def __init__(self, process: subprocess.Popen, channel: socket.socket, log: Path, ready: dict) -> None:
        self.process = process
        self.log = log
        self.preload_seconds: float = ready["seconds"]
        self.failed: dict[str, str] = ready["failed"]  # module -> why it could not be imported
        # CUDA initialised before a fork is unusable in the child: such a server is no good for GPU kernels.
        self.cuda_initialised: bool = ready["cuda_initialised"]
        self._channel = channel
        self._lock = threading.Lock()

    @classmethod
    def start(cls, python: str, preload: list[str], env: dict[str, str], log: Path,
              wrapper: Sequence[str] = (), kernels: str = "none") -> WarmKernels:
        """Start the server with the kernels' environment and import `preload`.

        kernels: how every kernel it forks is confined, `sandbox`, `uid` or `none` (`--no-sandbox`); the server
        refuses requests for any other, and keeps only the capabilities that one needs.

        wrapper: the command the server runs under (`SandboxHost.server_wrapper`: its own mount
        namespace with a private /tmp, as a kernel has); none for `--no-sandbox`.
        log: where the server's own errors go (appended).
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server = [python, "-m", "grader.probe.forkserver", "--socket-fd", str(theirs.fileno()),
                  "--preload", ",".join(preload), "--kernels", kernels]
        argv = [*wrapper, *server]
        env = {
            **env,
            # torch.cuda.is_available() during a preload then asks NVML, without initialising CUDA.
            "PYTORCH_NVML_BASED_CUDA_CHECK": "1",
            # What ipykernel sets in a kernel before any student code: matplotlib, if preloaded, must
            # have read it, or figures never show inline.
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        }
        try:
            with log.open("ab") as stderr:
                # Its own session: a Ctrl-C meant for the grader must not reach it (the grader closes it).
                process = subprocess.Popen(argv, env=env, cwd="/", stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=stderr, pass_fds=[theirs.fileno()],
                                           start_new_session=True)
        except OSError as err:
            ours.close()
            raise WarmStartError(f"the warm kernel server did not start ({shlex.join(server)}): {err}") from None
        finally:
            theirs.close()
        ours.settimeout(READY_TIMEOUT_S)
        try:
            ready = json.loads(ours.recv(1 << 16) or b"{}")
        except (OSError, ValueError):
            ready = {}
        if not ready.get("ready"):
            process.kill()
            process.wait()
            ours.close()
            raise WarmStartError(f"the warm kernel server did not start ({shlex.join(server)}):\n"
                                 f"{log_tail(log)}")
        ours.settimeout(REPLY_TIMEOUT_S)
        return cls(process, ours, log, ready)

    def spawn(self, request: dict, stdio: tuple[int, int, int]) -> int:
        """Fork a kernel as `request` says. stdio: the kernel's stdin, stdout, stderr.

        Its pid: on the host; for a kernel started in a sandbox, as that sandbox's pid namespace sees it.
        """
        with self._lock:
            try:
                socket.send_fds(self._channel, [json.dumps(request).encode()], list(stdio))
                reply = json.loads(self._channel.recv(1 << 16) or b"{}")
            except (OSError, ValueError) as err:
                reply = {"error": f"no answer from the warm kernel server ({err})"}
        pid = reply.get("sandbox_pid" if request.get("sandbox") else "pid")
        if pid is None:
            error = reply.get("error", "the warm kernel server stopped")
            raise WarmStartError(f"{error}\n{log_tail(self.log)}".strip())
        return int(pid)

    def close(self) -> None:
        self._channel.close()  # the server exits when its socket closes
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> WarmKernels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

