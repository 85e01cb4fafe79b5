"""The notebook's random streams (Python's, numpy's, torch's): what the grader does in the kernel, and what installed
libraries do as they are imported, draws nothing from them."""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import random
import sys
import threading
from collections.abc import Iterator
from typing import Any

import torch

from grader.probe.imports import Exec, run_around, spec_of_the_others


@contextlib.contextmanager
def random_streams_kept() -> Iterator[None]:
    """The streams as they were before the block, whatever it drew: the notebook's next cells see them as its own
    code left them."""
    # numpy's generator only once numpy.random is loaded: `np.random` imports it on first use, which may be this block.
    numpy_random: Any = sys.modules.get("numpy.random")
    numpy_state = numpy_random.get_state() if hasattr(numpy_random, "get_state") else None
    python_state = random.getstate()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python_state)
        if numpy_state is not None:
            numpy_random.set_state(numpy_state)


class LibraryImportsDrawNothing(importlib.abc.MetaPathFinder):
    """An installed library's import keeps the random streams (importing fastai draws from Python's). A warm
    kernel's server imports the libraries before the kernel is seeded, a cold kernel as the first cell runs: without
    this, the same notebook would draw other numbers cold than warm. Modules from the notebook's own folder are the
    student's code and draw as they do."""

    def __init__(self, notebook_folder: str) -> None:
        self.notebook_folder = os.path.realpath(notebook_folder) + os.sep
        self.state = threading.local()  # per thread: finding (no recursion into itself), importing (outermost only)

    def install(self) -> None:
        sys.meta_path.insert(0, self)

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if getattr(self.state, "finding", False):  # another finder asking every finder, this one included
            return None
        self.state.finding = True
        try:
            spec = spec_of_the_others(self, name, path, target)
        finally:
            self.state.finding = False
        loader = getattr(spec, "loader", None)
        origin = getattr(spec, "origin", None)
        # Builtin and frozen importers are classes shared by every module: those are left alone.
        if (loader is None or isinstance(loader, type) or not hasattr(loader, "exec_module") or not origin
                or not os.path.isabs(origin) or os.path.realpath(origin).startswith(self.notebook_folder)):
            return spec
        state = self.state

        def exec_keeping_streams(exec_module: Exec, module: Any) -> None:
            if getattr(state, "importing", False):  # inside a library's import: the outermost one restores
                exec_module(module)
                return
            state.importing = True
            try:
                with random_streams_kept():
                    exec_module(module)
            finally:
                state.importing = False

        run_around(spec, exec_keeping_streams)
        return spec
