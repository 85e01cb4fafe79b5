"""The probe: the only grader code that runs inside a student's kernel.

Loaded as an IPython extension (``--ext=grader.probe``) before any student
cell, it records raw evidence - optimizer steps, small module outputs, module
structure, fastai pipelines, displayed images - as JSON lines appended to the
file named by ``GRADER_EVIDENCE``. It never judges anything: the grader
process reads the file and decides. It also caps torch's CPU threads when the
grader runs several kernels on the same cores.
It imports nothing from the rest of ``grader``.
"""

import os

EVIDENCE_ENV = "GRADER_EVIDENCE"
CAPTURES_ENV = "GRADER_CAPTURES"  # the capture plan file (grader.captures), when the rubric has captures
THREADS_ENV = "GRADER_TORCH_THREADS"  # torch's CPU threads in this kernel, when several kernels share the cores
CPU_FALLBACK_ENV = "GRADER_CPU_FALLBACK"  # "1": .cuda() runs on the CPU (grader.probe.vision)
FORMAT_VERSION = 4


def arrays_dir(evidence_path: str) -> str:
    """Where the probe writes the .npy arrays its events name, next to the evidence file."""
    return os.path.splitext(evidence_path)[0] + "-arrays"


def load_ipython_extension(shell) -> None:
    from grader.probe.captures import load_plan
    from grader.probe.recorder import Recorder

    path = os.environ.pop(EVIDENCE_ENV, None)  # student code need not know where evidence goes
    if not path:
        raise RuntimeError(f"grader.probe needs {EVIDENCE_ENV} to name the evidence file")
    threads = os.environ.pop(THREADS_ENV, "")
    if threads.isdigit():
        import torch

        # Set here, not by OMP_NUM_THREADS: a warm kernel's torch was imported before its environment was set.
        torch.set_num_threads(int(threads))
    plan_path = os.environ.pop(CAPTURES_ENV, "")
    plan = load_plan(plan_path) if plan_path else None  # read now, before student code could change it
    Recorder(shell, path, plan).install()
