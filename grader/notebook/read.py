"""Read a submitted notebook, or say in words a student understands why not.

Stored outputs are cut to a bounded size as the notebook is read: grading
re-runs the notebook, so stored outputs only serve as fallback evidence and
in reports, and a notebook with hundreds of MB of them must still be graded.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.warnings import MissingIDFieldWarning

MAX_NOTEBOOK_BYTES = 1_000_000_000  # refused above: reading takes about twice this in memory
MAX_STORED_OUTPUT_CHARS = 1_000_000  # of one stored output: its text, one of its formats, or its traceback
MAX_STORED_CHARS_IN_ALL = 20_000_000  # of all stored outputs of a notebook together
CELL_TYPES = ("code", "markdown", "raw")  # a tuple: `in` compares, never hashes (a damaged cell_type may be a dict)
# Short fields that say what an output is; never cut.
_OUTPUT_FIELDS_KEPT = {"output_type", "metadata", "execution_count", "prompt_number", "name", "stream", "ename"}
_TEXT_FIELDS = {"text", "traceback", "evalue"}  # cut to their first characters, not replaced


class NotebookError(Exception):
    """The file cannot be graded as a notebook; the message is for the student."""


@dataclass(frozen=True)
class LoadedNotebook:
    notebook: nbformat.NotebookNode
    notes: list[str]  # for the TA: what was changed while reading (stored outputs cut)


def read_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES, max_output_chars: int = MAX_STORED_OUTPUT_CHARS,
                  max_chars_in_all: int = MAX_STORED_CHARS_IN_ALL) -> LoadedNotebook:
    name = path.name
    try:
        size = path.stat().st_size
        if size == 0:
            raise NotebookError(f"{name} is empty (0 bytes): it is not a Jupyter notebook")
        if size > max_bytes:
            raise NotebookError(f"{name} is {_bytes(size)}, over the {_bytes(max_bytes)} limit; "
                                "clear its outputs (Edit > Clear outputs of all cells) and resubmit")
        raw = path.read_bytes()
    except OSError as err:
        raise NotebookError(f"{name} could not be read: {err.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise NotebookError(f"{name} is not a Jupyter notebook: it is not UTF-8 text (byte {err.start})") from None
    del raw  # one copy of a large file at a time
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        hint = " (save it from Jupyter or Colab as .ipynb)" if path.suffix != ".ipynb" else ""
        raise NotebookError(f"{name} is not a Jupyter notebook: it is not JSON (line {err.lineno}, column {err.colno}: {err.msg}){hint}") from None
    except ValueError:  # the one other refusal of json's parser: an integer too long to convert
        raise NotebookError(f"{name} is not a Jupyter notebook: its JSON holds a number of more than "
                            f"{sys.get_int_max_str_digits():,} digits") from None
    except RecursionError:
        raise NotebookError(f"{name} is not a Jupyter notebook: its JSON is nested too deeply") from None
    del text
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError(f"{name} is JSON but not a Jupyter notebook: it has no cells")
    cut = _cut_stored_outputs(data, max_output_chars, max_chars_in_all)
    try:
        with warnings.catch_warnings():
            # Cell ids are missing in most older notebooks and matter nowhere here.
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            # Parsed again by nbformat, now that the outputs are bounded.
            nb = nbformat.reads(json.dumps(data), as_version=4)  # converts nbformat 3 notebooks
    except Exception as err:  # nbformat raises assorted types for assorted damage
        raise NotebookError(f"{name} is not a readable Jupyter notebook: {err}") from None
    for number, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") not in CELL_TYPES or not isinstance(cell.get("source"), str):
            raise NotebookError(f"{name}: cell {number} is damaged (no cell type or source)")
    notes = []
    if cut:
        notes.append(f"the stored outputs of {_cells(cut)} were cut when read (over {max_output_chars:,} characters "
                     f"in one output, or {max_chars_in_all:,} in all); grading uses the outputs of the re-run")
    return LoadedNotebook(notebook=nb, notes=notes)


def _cut_stored_outputs(data: dict, max_output_chars: int, max_chars_in_all: int) -> list[int]:
    """Cut, in place, every stored output over its share; returns the 1-based cells cut.

    Works on the JSON as parsed (nbformat 3 or 4, text as a string or a list
    of lines), before nbformat sees it; shapes it does not expect are left
    for nbformat to refuse."""
    if "cells" in data:
        cells = _list(data["cells"])
    else:  # nbformat 3: cells in worksheets, in the order nbformat 4 puts them
        cells = [cell for sheet in _list(data.get("worksheets")) if isinstance(sheet, dict)
                 for cell in _list(sheet.get("cells"))]
    left = max_chars_in_all
    cut: list[int] = []
    for number, cell in enumerate(cells, start=1):
        outputs = _list(cell.get("outputs")) if isinstance(cell, dict) else []
        for output in outputs:
            if not isinstance(output, dict):
                continue
            was_cut = False
            for key, value in output.items():
                if key in _OUTPUT_FIELDS_KEPT:
                    continue
                if key == "data" and isinstance(value, dict):  # one value per format
                    for mime, content in value.items():
                        value[mime], left, cut_here = _cut(content, min(max_output_chars, left), left,
                                                           keep_head=mime == "text/plain")
                        was_cut |= cut_here
                else:  # text, traceback, evalue; in nbformat 3 also each format
                    output[key], left, cut_here = _cut(value, min(max_output_chars, left), left,
                                                       keep_head=key in _TEXT_FIELDS)
                    was_cut |= cut_here
            if was_cut and cut[-1:] != [number]:
                cut.append(number)
    return cut


def _cut(value: object, limit: int, left: int, keep_head: bool) -> tuple[object, int, bool]:
    """(the value or a cut copy of it, characters left for all outputs, whether it was cut).

    Text keeps its first `limit` characters; other formats (images, HTML,
    JSON) are useless cut, so the marker replaces them."""
    lines = [value] if isinstance(value, str) else value
    is_text = isinstance(lines, list) and all(isinstance(line, str) for line in lines)
    size = sum(map(len, lines)) if is_text else _size(value)
    if size <= limit:
        return value, left - size, False
    kept: list[str] = []
    room = limit if is_text and keep_head else 0
    for line in lines if room else []:
        kept.append(line[:room])
        room -= len(kept[-1])
        if room <= 0:
            break
    head = "".join(kept)
    marker = ("\n" if head and not head.endswith("\n") else "") + \
        f"[… {size - len(head):,} characters of stored output cut by the grader]"
    cut = kept + [marker] if isinstance(value, list) else head + marker
    return cut, left - len(head), True


def _size(value: object) -> int:
    """Characters in a JSON value's strings, plus one for each other scalar."""
    size, stack = 0, [value]
    while stack:  # not recursive: parsed JSON may be nested deeper than Python's stack
        item = stack.pop()
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, dict):
            stack += item.values()
        elif isinstance(item, list):
            stack += item
        else:
            size += 1
    return size


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _cells(numbers: list[int]) -> str:
    return f"cell {numbers[0]}" if len(numbers) == 1 else "cells " + ", ".join(map(str, numbers))


def _bytes(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
