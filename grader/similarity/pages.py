"""The comparison for staff: the ranked table, a side-by-side page per pair and a CSV, in OUT/similarity/.
Nothing here is linked from a student's feedback page."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from grader.gradebook import PAIR_DECISIONS, PairReview
from grader.report.render import environment as report_environment
from grader.report.render import write_html
from grader.similarity.pairs import Pair
from grader.paths import SIMILARITY_DIR
from grader.similarity.report import SimilarityReport

PAIRS_DIR = "pairs"
CSV_FILE = "pairs.csv"
LISTED = 200  # pairs in the table beyond the flagged ones: the TA looks from the top


@dataclass(frozen=True)
class CodeLine:
    number: int
    text: str
    matched: bool


@dataclass(frozen=True)
class ShownCell:
    cell: int  # 1-based, as the reports number cells
    item: str | None
    lines: list[CodeLine]


@dataclass(frozen=True)
class SideBySide:
    item: str  # an item id, or "" for cells outside the items
    a: list[ShownCell]
    b: list[ShownCell]


def pair_page_name(pair: Pair) -> str:
    return f"{PAIRS_DIR}/{pair.a}--{pair.b}.html"


def side_by_side(report: SimilarityReport, pair: Pair) -> list[SideBySide]:
    """The cells holding matched code, item by item, each side's matched lines marked."""
    a = _shown(report, pair.a, pair.lines_a, {cell for e in pair.evidence for cell in e.cells_a})
    b = _shown(report, pair.b, pair.lines_b, {cell for e in pair.evidence for cell in e.cells_b})
    items = sorted({cell.item or "" for cell in a + b}, key=_item_order)
    return [SideBySide(item, [cell for cell in a if (cell.item or "") == item],
                       [cell for cell in b if (cell.item or "") == item]) for item in items]


def _item_order(item: str) -> tuple:
    return (item == "", [int(part) if part.isdigit() else part for part in item.split(".")])


def _shown(report: SimilarityReport, student: str, lines: dict[int, list[int]], evidence_cells: set[int]) -> list[ShownCell]:
    code = report.students.get(student)
    if code is None:
        return []
    shown = []
    for cell in code.cells:
        matched = set(lines.get(cell.index, ()))
        if matched or cell.index + 1 in evidence_cells:
            shown.append(ShownCell(cell.index + 1, cell.item, [
                CodeLine(number, text, number in matched)
                for number, text in enumerate(cell.source.splitlines(), start=1)]))
    return shown


def listed_pairs(report: SimilarityReport) -> list[Pair]:
    """The pairs the table shows: every flagged one, then the next highest."""
    flagged = report.flagged
    rest = [pair for pair in report.ranking.pairs if not pair.flagged][:LISTED]
    return flagged + rest


def environment() -> Environment:
    env = Environment(loader=PackageLoader("grader.similarity", "templates"),
                      autoescape=select_autoescape(["j2", "html"]), trim_blocks=True, lstrip_blocks=True)
    env.globals["css"] = report_environment().globals["css"]
    env.globals["decisions"] = PAIR_DECISIONS
    return env


def write_pages(out: Path, report: SimilarityReport, reviews: dict[tuple[str, str], PairReview]) -> list[Path]:
    """OUT/similarity/index.html, one page per listed pair and pairs.csv (every pair that shares anything)."""
    folder = out / SIMILARITY_DIR
    (folder / PAIRS_DIR).mkdir(parents=True, exist_ok=True)
    env = environment()
    listed = listed_pairs(report)
    index = folder / "index.html"
    write_html(index, env.get_template("index.html.j2").render(
        report=report, pairs=listed, reviews=reviews, page_name=pair_page_name))
    pair_page = env.get_template("pair.html.j2")
    for pair in listed:
        write_html(folder / pair_page_name(pair), pair_page.render(
            report=report, pair=pair, sides=side_by_side(report, pair), review=reviews.get((pair.a, pair.b))))
    table = folder / CSV_FILE
    table.write_text(pairs_csv(report, reviews), encoding="utf-8")
    return [index, table]


def pairs_csv(report: SimilarityReport, reviews: dict[tuple[str, str], PairReview]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "student_a", "name_a", "student_b", "name_b", "score", "flagged", "code",
                     "items", "evidence", "decision", "decided_by"])
    for rank, pair in enumerate(report.ranking.pairs, start=1):
        review = reviews.get((pair.a, pair.b))
        writer.writerow([rank, pair.a, _name(report, pair.a), pair.b, _name(report, pair.b), f"{pair.score:g}",
                         "yes" if pair.flagged else "no", f"{pair.code:g}",
                         " ".join(f"{item}={value:g}" for item, value in pair.items.items()),
                         " ".join(f"{e.kind}={e.weight:g}" for e in pair.evidence),
                         review.decision if review else "", review.by if review else ""])
    return buffer.getvalue()


def _name(report: SimilarityReport, student: str) -> str:
    code = report.students.get(student)
    return code.name or "" if code else ""
