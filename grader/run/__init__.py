"""Running notebooks: a fresh kernel per notebook, the probe loaded first,
per-cell and whole-notebook time limits, and evidence collected afterwards."""

from grader.run.execute import NotebookRunner, RunnerError

__all__ = ["NotebookRunner", "RunnerError"]
