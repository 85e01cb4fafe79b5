"""Read a submitted notebook, or say in words a student understands why not."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nbformat
from nbformat.warnings import MissingIDFieldWarning

MAX_NOTEBOOK_BYTES = 100 * 1024 * 1024
CELL_TYPES = {"code", "markdown", "raw"}


class NotebookError(Exception):
    """The file cannot be graded as a notebook; the message is for the student."""


def read_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> nbformat.NotebookNode:
    name = path.name
    size = path.stat().st_size
    if size == 0:
        raise NotebookError(f"{name} is empty (0 bytes): it is not a Jupyter notebook")
    if size > max_bytes:
        raise NotebookError(f"{name} is {size / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB limit; clear large outputs and resubmit")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise NotebookError(f"{name} is not a Jupyter notebook: it is not UTF-8 text (byte {err.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        hint = " (save it from Jupyter or Colab as .ipynb)" if path.suffix != ".ipynb" else ""
        raise NotebookError(f"{name} is not a Jupyter notebook: it is not JSON (line {err.lineno}, column {err.colno}: {err.msg}){hint}") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(f"{name} is JSON but not a Jupyter notebook: it has no cells")
    try:
        with warnings.catch_warnings():
            # Cell ids are missing in most older notebooks and matter nowhere here.
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            nb = nbformat.reads(text, as_version=4)  # converts nbformat 3 notebooks
    except Exception as err:  # nbformat raises assorted types for assorted damage
        raise NotebookError(f"{name} is not a readable Jupyter notebook: {err}") from None
    for number, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") not in CELL_TYPES or not isinstance(cell.get("source"), str):
            raise NotebookError(f"{name}: cell {number} is damaged (no cell type or source)")
    return nb
