"""The probe: the only grader code that runs inside a student's kernel.

Loaded as an IPython extension (``--ext=grader.probe``) before any student
cell, it records raw evidence - optimizer steps, small module outputs, module
structure, fastai pipelines, displayed images, crawls and downloads - as JSON
lines appended to the file named by ``GRADER_EVIDENCE``. It stands in for the
network (image searches, crawlers, URL downloads; grader.probe.offline) and,
when asked, skips the notebook's sleeps on a virtual clock. It never judges anything: the grader
process reads the file and decides. It also caps torch's CPU threads when the
grader runs several kernels on the same cores, and seeds the random generators
so that an unseeded notebook computes the same numbers each time it is graded.
It imports nothing from the rest of ``grader``.
"""

import os

from grader.probe.protocol import (ASSETS_ENV, CAPTURES_ENV, EVIDENCE_ENV, SEED_ENV, THREADS_ENV,
                                   VIRTUAL_CLOCK_ENV)


def load_ipython_extension(shell) -> None:
    from grader.probe.captures import load_plan
    from grader.probe.offline import OfflineStandIns
    from grader.probe.recorder import Recorder
    from grader.probe.streams import LibraryImportsDrawNothing

    path = os.environ.pop(EVIDENCE_ENV, None)  # student code need not know where evidence goes
    if not path:
        raise RuntimeError(f"grader.probe needs {EVIDENCE_ENV} to name the evidence file")
    threads = os.environ.pop(THREADS_ENV, "")
    if threads.isdigit():
        import torch

        # Set here, not by OMP_NUM_THREADS: a warm kernel's torch was imported before its environment was set.
        torch.set_num_threads(int(threads))
    seed = os.environ.pop(SEED_ENV, "")
    if seed.isdigit():
        _seed_before_the_first_cell(shell, int(seed))
        LibraryImportsDrawNothing(os.getcwd()).install()
    plan_path = os.environ.pop(CAPTURES_ENV, "")
    plan = load_plan(plan_path) if plan_path else None  # read now, before student code could change it
    assets = os.environ.pop(ASSETS_ENV, "")
    virtual_clock = os.environ.pop(VIRTUAL_CLOCK_ENV, "") == "1"
    recorder = Recorder(shell, path, plan)
    recorder.install()
    OfflineStandIns(recorder, assets or None, virtual_clock).install()


def _seed_before_the_first_cell(shell, seed: int) -> None:
    """Python's, numpy's and torch's generators, as fastai's `set_seed` does, just before the first cell (the kernel
    draws from Python's while it starts); in a warm kernel this replaces the state forked from the server. torch's
    seed reaches every CUDA device too (when CUDA is first used)."""
    import random

    import numpy as np
    import torch

    def seed_once(info) -> None:
        shell.events.unregister("pre_run_cell", seed_once)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    shell.events.register("pre_run_cell", seed_once)
