"""The probe: the only grader code that runs inside a student's kernel.

Loaded as an IPython extension (``--ext=grader.probe``) before any student
cell, it records raw evidence - optimizer steps, small module outputs, module
structure - as JSON lines appended to the file named by ``GRADER_EVIDENCE``.
It never judges anything: the grader process reads the file and decides.
It imports nothing from the rest of ``grader``.
"""

import os

EVIDENCE_ENV = "GRADER_EVIDENCE"
FORMAT_VERSION = 2


def load_ipython_extension(shell) -> None:
    from grader.probe.recorder import Recorder

    path = os.environ.pop(EVIDENCE_ENV, None)  # student code need not know where evidence goes
    if not path:
        raise RuntimeError(f"grader.probe needs {EVIDENCE_ENV} to name the evidence file")
    Recorder(shell, path).install()
