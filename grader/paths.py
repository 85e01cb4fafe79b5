"""Where the grader keeps things: its cache, and the names of what a grading run writes into its output folder.

    OUT/gradebook.sqlite    every result, manual score and regrade (grader.gradebook)
    OUT/results.json        the results, written again from the gradebook after every change
    OUT/executed/           each submission's notebook as its kernel executed it
    OUT/slurm/              the run folder of `grade --executor slurm` (grader.slurm)
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "GRADER_CACHE"
GRADEBOOK_FILE = "gradebook.sqlite"
RESULTS_FILE = "results.json"
EXECUTED_DIR = "executed"
SLURM_RUN_DIR = "slurm"
SIMILARITY_DIR = "similarity"  # `grader similarity`'s table, pair pages and CSV: staff only
WARM_KERNELS_LOG = "warm-kernels.log"  # in the cache: what the warm kernels' fork server printed


def default_cache() -> Path:
    """The grader's cache (reference runs, assets, fonts): $GRADER_CACHE, else ~/.cache/grader."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "grader")


def gradebook_path(out: Path, gradebook: Path | None = None) -> Path:
    """The gradebook of the run whose output folder is `out`: `gradebook` where one is given, else OUT's."""
    return gradebook or out / GRADEBOOK_FILE
