"""One row per student: identity, status, a column per item, the late deduction, the total (the items' points less
the deduction), and what ran the notebook."""

from __future__ import annotations

import csv
from pathlib import Path

from grader.gradebook import RubricSummary
from grader.results import SubmissionResult


def write_csv(path: Path, rubric: RubricSummary, results: list[SubmissionResult]) -> None:
    item_ids = [item["id"] for item in rubric.items]
    # utf-8-sig: Excel opens Korean names correctly only with the BOM.
    with path.open("w", newline="", encoding="utf-8-sig") as stream:
        writer = csv.writer(stream)
        writer.writerow(["student", "name", "student_id", "file", "status", *item_ids, "late_deduction", "total", "max",
                         "late_note", "confinement"])
        for result in results:
            points = {item.id: item.points for item in result.items}
            writer.writerow([
                result.student, result.name or "", result.student_id or "", result.file, result.status,
                *[_number(points.get(item_id, 0.0)) for item_id in item_ids],
                _number(result.late_deduction), _number(result.total), _number(result.max), result.late_note or "",
                result.confinement,
            ])


def _number(value: float) -> str:
    return f"{value:g}"
