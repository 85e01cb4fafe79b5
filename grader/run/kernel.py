"""The kernel the grader launches: always its own Python, with the probe loaded.

A submission's notebook metadata may name any kernel ("conda-env-dl-py",
Colab's "python3"); the grader ignores it and launches the interpreter it was
configured with, so every submission runs in the same environment. With a
sandbox the kernel command is wrapped in it, and the kernel is interrupted by
message (a SIGINT to bubblewrap would end the whole sandbox).
"""

from __future__ import annotations

import sys
from typing import Any

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from traitlets import Any as AnyTrait
from traitlets import Unicode


class GradingKernelManager(AsyncKernelManager):
    python = Unicode(sys.executable, help="Interpreter that runs the kernel (needs ipykernel and grader)")
    sandbox = AnyTrait(None, allow_none=True, help="The KernelSandbox to wrap the kernel in; None runs it bare")

    @property
    def kernel_spec(self) -> KernelSpec:
        argv = [
            self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}",
            "--ext=grader.probe",
            # A probe that fails to load must fail the kernel, not grade without evidence.
            "--InteractiveShellApp.reraise_ipython_extension_failures=True",
        ]
        return KernelSpec(argv=self.sandbox.wrap(argv) if self.sandbox else argv, language="python",
                          display_name="grader", interrupt_mode="message")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        if self.sandbox is not None:
            # The connection file is written by the grader; the kernel's uid must read it.
            self.sandbox.hand_over(self.connection_file)
        await super()._async_launch_kernel(kernel_cmd, **kw)
