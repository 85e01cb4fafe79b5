"""One comparison of a class, as plain data: the ranking, each student's code (for the side-by-side pages) and
what could not be compared. Written as OUT/similarity/similarity.json, which the review pages read."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic

from pydantic import BaseModel

from grader.gradebook import Gradebook
from grader.paths import SIMILARITY_DIR
from grader.rubric import LoadedRubric
from grader.similarity.gather import gather
from grader.similarity.pairs import Pair, Ranking, rank

REPORT_FILE = "similarity.json"


class CellCode(BaseModel):
    index: int  # 0-based notebook cell
    item: str | None
    source: str


class StudentCode(BaseModel):
    label: str  # name (key)
    name: str | None = None
    cells: list[CellCode]


class SimilarityReport(BaseModel):
    rubric: str
    generated: str
    seconds: float
    ranking: Ranking
    students: dict[str, StudentCode]
    notes: list[str]

    def pair(self, first: str, second: str) -> Pair | None:
        first, second = sorted((first, second))
        return next((pair for pair in self.ranking.pairs if (pair.a, pair.b) == (first, second)), None)

    @property
    def flagged(self) -> list[Pair]:
        return [pair for pair in self.ranking.pairs if pair.flagged]


def compare_class(out: Path, gradebook: Gradebook, rubric: LoadedRubric,
                  submissions: Path | None = None) -> SimilarityReport:
    started = monotonic()
    gathered = gather(out, gradebook, rubric, submissions)
    ranking = rank(gathered.works, gathered.template)
    students = {work.student: StudentCode(label=work.label, name=work.name, cells=[
        CellCode(index=cell.index, item=cell.item, source=cell.source) for cell in work.cells])
        for work in gathered.works}
    return SimilarityReport(rubric=rubric.id, generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                            seconds=round(monotonic() - started, 2), ranking=ranking, students=students,
                            notes=gathered.notes)


def report_path(out: Path) -> Path:
    return out / SIMILARITY_DIR / REPORT_FILE


def read_report(out: Path) -> SimilarityReport | None:
    """The last comparison written in `out`, or None when there is none (or it is from an older grader)."""
    path = report_path(out)
    try:
        return SimilarityReport.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_report(out: Path, report: SimilarityReport) -> Path:
    path = report_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(report.model_dump(mode="json"), ensure_ascii=False), encoding="utf-8")
    partial.replace(path)
    return path
