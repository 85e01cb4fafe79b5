"""What the kernels' seccomp filter costs: the same work run with and without it, interleaved, as medians and ratios.

    .venv/bin/python benchmarks/seccomp_overhead.py [ROUNDS]

Two workloads, each in a fresh interpreter that times its own work: a system-call loop (stat, open/read/close, getpid: the filter runs on
every call, so this is its worst case) and a small torch training loop (what a notebook does). "filtered" starts
the interpreter under `grader.probe.syscall_filter`, as a kernel confined by uid alone starts. Noisy machines: the
ratio of interleaved runs is the number to compare, not the seconds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

from grader.run.seccomp import kernel_filter

WORKLOADS = {  # the torch import is part of the fit's work: it opens and maps hundreds of files
    "200k system calls": "import os\nfor _ in range(50_000):\n    os.stat('/'); os.close(os.open('/etc/hostname', "
                         "os.O_RDONLY)); os.getpid()",
    "torch fit, 300 steps": "import torch\ntorch.manual_seed(0)\nx = torch.randn(256, 32)\ny = x @ torch.randn(32, 1)\n"
                            "model = torch.nn.Linear(32, 1)\nopt = torch.optim.Adam(model.parameters(), lr=0.01)\n"
                            "for _ in range(300):\n    opt.zero_grad(); torch.nn.functional.mse_loss(model(x), y)"
                            ".backward(); opt.step()",
}


def timed(code: str, program: str | None) -> float:
    with open(program or os.devnull, "rb") as source:
        prefix = [sys.executable, "-m", "grader.probe.syscall_filter", "--fd", str(source.fileno()), "--"]
        # The work times itself: the loader's own interpreter start (uid confinement's, once per kernel) stays out.
        timed_code = f"import time\nstarted = time.perf_counter()\n{code}\nprint(time.perf_counter() - started)"
        done = subprocess.run([*(prefix if program else []), sys.executable, "-c", timed_code], check=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                              pass_fds=(source.fileno(),) if program else ())
        return float(done.stdout)


def main(rounds: int) -> None:
    with tempfile.NamedTemporaryFile(suffix=".bpf") as program:
        program.write(kernel_filter())
        program.flush()
        for name, code in WORKLOADS.items():
            seconds: dict[str, list[float]] = {"filtered": [], "bare": []}
            for _ in range(rounds):
                seconds["filtered"].append(timed(code, program.name))
                seconds["bare"].append(timed(code, None))
            medians = {kind: statistics.median(values) for kind, values in seconds.items()}
            print(f"{name}: filtered {medians['filtered']:.2f} s, bare {medians['bare']:.2f} s (medians of {rounds}), "
                  f"filtered / bare: {medians['filtered'] / medians['bare']:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
