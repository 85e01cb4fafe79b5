"""Render the gradebook's results as self-contained HTML files."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from grader.gradebook import RubricSummary
from grader.lms.roster import RosterMatch
from grader.lms.rows import needs_attention
from grader.paths import SIMILARITY_DIR
from grader.report.plots import score_histogram
from grader.results import SubmissionResult

STUDENTS_DIR = "students"


def environment() -> Environment:
    env = Environment(loader=PackageLoader("grader.report", "templates"), autoescape=select_autoescape(["j2", "html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["values"] = format_values
    env.filters["points"] = lambda value: f"{value:g}" if value is not None else "–"
    env.globals["css"] = (Path(__file__).parent / "templates" / "report.css").read_text(encoding="utf-8")
    return env


def format_values(value: object, digits: int = 4) -> str:
    """[[-3.14159, 2.71828]] -> "[[-3.1416, 2.7183]]"; long vectors are cut;
    {"class": "RMSprop", "lr": 0.01} -> "RMSprop(lr=0.01)"."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}f}" if abs(value) < 1e6 else f"{value:.4e}"
    if isinstance(value, dict) and "class" in value:  # an optimizer and its settings
        settings = ", ".join(f"{name}={setting!r}" for name, setting in value.items() if name != "class")
        return f"{value['class']}({settings})"
    if isinstance(value, list):
        shown = [format_values(v, digits) for v in value[:8]]
        more = f", … ({len(value)} values)" if len(value) > 8 else ""
        return "[" + ", ".join(shown) + more + "]"
    return "–" if value is None else str(value)


def report_name(student: str) -> str:
    return f"{STUDENTS_DIR}/{student}.html"


def write_reports(out: Path, rubric: RubricSummary, results: list[SubmissionResult],
                  histories: dict[str, list[dict]], roster: tuple[Path, RosterMatch | str] | None = None) -> None:
    """The class summary (with the roster's match, or why the roster could not be read) and a page per student."""
    env = environment()
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (out / STUDENTS_DIR).mkdir(parents=True, exist_ok=True)
    problems = problem_groups(rubric)
    student_page = env.get_template("student.html.j2")
    for result in results:
        write_html(out / report_name(result.student), student_page.render(
            rubric=rubric, result=result, problems=problems, history=histories.get(result.student, []),
            items={item.id: item for item in result.items}, generated=generated,
            problem_points={problem: sum(item.points for item in result.items if item.id.split(".")[0] == str(problem))
                            for problem, _ in problems},
        ))
    write_html(out / "index.html", env.get_template("summary.html.j2").render(
        rubric=rubric, results=results, generated=generated, report_name=report_name,
        stats=item_stats(rubric, results), histogram=score_histogram([r.total for r in results], rubric.total)
        if results else None, mean=sum(r.total for r in results) / len(results) if results else 0.0,
        statuses=count_by(result.status for result in results),
        attention=[(result, why) for result in results if (why := needs_attention(result))],
        roster=roster[1] if roster else None, roster_file=roster[0] if roster else None,
        similarity=(out / SIMILARITY_DIR / "index.html").is_file(),
    ))


def problem_groups(rubric: RubricSummary) -> list[tuple[int, list[dict]]]:
    """The rubric's items by problem number, in order: every report is laid out by problem."""
    grouped: dict[int, list[dict]] = defaultdict(list)
    for item in rubric.items:
        grouped[int(item["id"].split(".")[0])].append(item)
    return sorted(grouped.items())


def item_stats(rubric: RubricSummary, results: list[SubmissionResult]) -> list[dict]:
    stats = []
    for spec in rubric.items:
        found = [item for result in results for item in result.items if item.id == spec["id"]]
        done = [item for item in found if item.status not in ("manual", "void")]  # a void item has no spread
        stats.append({
            "id": spec["id"], "title": spec["title"], "max": spec["points"],
            "mean": sum(item.points for item in done) / len(done) if done else None,
            "pass_rate": sum(item.status == "pass" for item in done) / len(done) if done else None,
            "pending": len(found) - len(done),
        })
    return stats


def count_by(values) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[value] += 1
    return dict(sorted(counts.items()))


def write_html(path: Path, html: str) -> None:
    """Through a temporary file, so a reader never finds half a page."""
    partial = path.with_suffix(".html.tmp")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
