"""The kernel the grader launches: always its own Python, with the probe loaded.

A submission's notebook metadata may name any kernel ("conda-env-dl-py",
Colab's "python3"); the grader ignores it and launches the interpreter it was
configured with, so every submission runs in the same environment.
"""

from __future__ import annotations

import sys

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from traitlets import Unicode


class GradingKernelManager(AsyncKernelManager):
    python = Unicode(sys.executable, help="Interpreter that runs the kernel (needs ipykernel and grader)")

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(
            argv=[
                self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                "--ext=grader.probe",
                # A probe that fails to load must fail the kernel, not grade without evidence.
                "--InteractiveShellApp.reraise_ipython_extension_failures=True",
            ],
            language="python",
            display_name="grader",
        )
