"""Printed numbers that no recorded computation explains.

Scores come from recorded evidence only. This analysis finds printed values
that equal the reference's but were not produced by anything the probe saw
(hard-coded prints), and values that the submitted file shows but
re-execution no longer produces (edited or stale outputs). Either raises
the submission's `integrity` flag for a person to look at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.evidence import Evidence
from grader.notebook.printed import Located, PrintedArray

# A flagged cell's code shown beside its integrity note: enough to see a hard-coded print, not a whole script.
MAX_FLAGGED_LINES = 40
MAX_FLAGGED_CHARS = 4000


@dataclass(frozen=True)
class Unexplained:
    """A cell whose printed values equal the reference's and nothing recorded explains: a note for the TA."""

    cell: int  # 1-based
    note: str


def reference_values(evidence: Evidence) -> list[tuple[str, np.ndarray]]:
    """Labelled values of the reference run that a student might print."""
    labelled: list[tuple[str, np.ndarray]] = []
    for number, step in enumerate(evidence.steps, start=1):
        for param in step.params:
            for label, data in (("gradient", param.grad), ("weights", param.after)):
                values = data.array() if data is not None else None
                if values is not None:
                    labelled.append((f"{label} at update {number} ({step.class_})", values))
    return labelled


def recorded_values(evidence: Evidence | None) -> list[np.ndarray]:
    if evidence is None:
        return []
    values = [forward.output.array() for forward in evidence.forwards]
    for step in evidence.steps:
        for param in step.params:
            values += [param.before.array(), param.after.array(), param.grad.array() if param.grad else None]
    for snapshot in evidence.snapshots:
        for param in snapshot.params:
            values += [param.value.array(), param.grad.array() if param.grad else None]
    return [value for value in values if value is not None]


def _matches(printed: PrintedArray, values: np.ndarray, atol: float, rtol: float) -> bool:
    if len(printed.values) != values.size:
        return False
    rounding = 0.5 * 10.0 ** -printed.decimals if printed.decimals else 0.0
    return bool(np.allclose(np.array(printed.values), values.ravel(), rtol=rtol, atol=atol + rounding))


def unexplained_prints(
    reference: list[tuple[str, np.ndarray]],
    recorded: list[np.ndarray],
    executed: list[Located],
    stored: list[Located],
    atol: float,
    rtol: float,
    ran: set[int],
) -> list[Unexplained]:
    """One for each cell with unexplained printed values.

    `ran`: 1-based cells that ran to an end when re-executed; a stored output
    of a cell that never ran again (the kernel died first) proves nothing.
    """
    notes: list[Unexplained] = []

    def reference_label(array: PrintedArray) -> str | None:
        return next((label for label, values in reference if _matches(array, values, atol, rtol)), None)

    def was_recorded(array: PrintedArray) -> bool:
        return any(_matches(array, values, atol, rtol) for values in recorded)

    unexplained: dict[tuple[str, int], list[tuple[PrintedArray, str]]] = {}
    for printed in executed:
        label = reference_label(printed.array)
        if label and not was_recorded(printed.array):
            unexplained.setdefault(("executed", printed.cell), []).append((printed.array, label))
    for printed in stored:
        if printed.cell not in ran:
            continue
        label = reference_label(printed.array)
        if label is None or was_recorded(printed.array):
            continue
        if not any(_matches(printed.array, np.array(other.array.values), atol, rtol) for other in executed):
            unexplained.setdefault(("stored", printed.cell), []).append((printed.array, label))
    for (where, cell), found in unexplained.items():
        example, label = found[0]
        values = f"{example.text.strip()} (the reference's {label})" + (f" and {len(found) - 1} more" if len(found) > 1 else "")
        if where == "executed":
            note = f"cell {cell} prints {values} equal to the reference, but no recorded computation produced them"
        else:
            note = (f"cell {cell} of the submitted file shows {values} equal to the reference, "
                    "but re-running the notebook did not produce them")
        notes.append(Unexplained(cell, note))
    return notes


def cut_cell_source(source: str) -> str:
    """A flagged cell's code for the TA's report: its first MAX_FLAGGED_LINES lines, MAX_FLAGGED_CHARS characters."""
    lines = source.splitlines()
    shown = "\n".join(lines[:MAX_FLAGGED_LINES])
    if len(lines) > MAX_FLAGGED_LINES or len(shown) > MAX_FLAGGED_CHARS:
        shown = f"{shown[:MAX_FLAGGED_CHARS]}\n… (cut: the cell has {len(lines)} line(s), {len(source)} characters)"
    return shown
