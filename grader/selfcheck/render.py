"""A self-check report as console lines and as an HTML page.

One item per block of lines, in a fixed format, so that two reports differ
only where what the student wrote or ran differs.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from rich.markup import escape
from rich.text import Text

from grader.report.render import environment
from grader.selfcheck.check import ItemReport, SelfCheckReport

MARKS = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]·[/]"}
CELLS_COUNTED = "cells are counted from the top of the notebook, text cells included"  # as the feedback page says
_CELL_NUMBER = re.compile(r"\bcell \d+")


def item_lines(item: ItemReport) -> list[str]:
    """The item's lines, as Rich markup."""
    state = [escape(item.answer)]
    if item.ran is not None:
        state.append("ran" if item.ran == "ran" else "[red]did not run through[/]")
    if item.prints is not None:
        state.append("prints values" if item.prints else "[yellow]prints nothing[/]")
    lines = [f"[bold]{escape(f'{item.id:<5}')}[/] {item.points:>3g} pts  " + " · ".join(state)]
    lines += [f"        [red]✗ {escape(problem)}[/]" for problem in item.problems]
    for verdict in item.checks:
        if verdict.public:
            message = f": {escape(verdict.message)}" if verdict.message else ""
            lines.append(f"        {MARKS[verdict.passed]} {escape(verdict.name)}{message}")
    hidden = [verdict for verdict in item.checks if not verdict.public]
    if hidden:
        points = sum(verdict.points for verdict in hidden)
        lines.append(f"        [dim]· {len(hidden)} check(s), {points:g} pts, decided at grading[/]")
    lines += [f"        [yellow]! {escape(warning)}[/]" for warning in item.warnings]
    return lines


def console_lines(report: SelfCheckReport) -> list[str]:
    """The whole report, as Rich markup; the last line is the time taken and the verdict."""
    lines = [f"[bold]{escape(report.title)}[/] · self-check of {escape(report.notebook)} "
             f"(public rubric of {escape(report.rubric)})", ""]
    for item in report.items:
        lines += item_lines(item)
    if report.cells:
        lines += ["", "[bold]cells that stopped[/]"]
        for cell in report.cells:
            where = f" ({cell.item})" if cell.item else ""
            lines.append(f"  cell {cell.cell}{escape(where)}: {cell.status}: {escape(cell.message)}")
            if cell.answer_note:
                lines.append(f"    [green]→ {escape(cell.answer_note)}[/]")
    lines += [""] + [f"[yellow]note:[/] {escape(note)}" for note in report.notes]
    lines.append(_limits_line(report))
    lines.append(_fallback_line(report))
    problems = report.problems
    verdict = (f"[bold red]{problems} problem(s) would cost points[/]" if problems else
               "[bold green]nothing found that would cost points for form[/]; hidden checks are decided at grading")
    lines.append(f"{verdict} · checked in {report.seconds:.1f} s")
    return _cells_counted_where_first_numbered(lines)


def _cells_counted_where_first_numbered(lines: list[str]) -> list[str]:
    """The lines, with how cells are counted said once, after the first entry that gives a cell's number (the line
    and the more indented lines that go with it)."""
    for position, line in enumerate(lines):
        plain = Text.from_markup(line).plain
        if _CELL_NUMBER.search(plain):
            depth = _indent(plain)
            end = position + 1
            while end < len(lines) and lines[end].strip() and _indent(Text.from_markup(lines[end]).plain) > depth:
                end += 1
            return [*lines[:end], f"{' ' * (depth + 2)}[dim]({CELLS_COUNTED})[/]", *lines[end:]]
    return lines


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _mentions_cell_numbers(report: SelfCheckReport) -> bool:
    return any(_CELL_NUMBER.search(Text.from_markup(line).plain) for line in console_lines(report))


def _limits_line(report: SelfCheckReport) -> str:
    return (f"time limits at grading: {report.cell_timeout_s:g} s per cell, {report.notebook_timeout_s:g} s for the "
            "notebook")


def _fallback_line(report: SelfCheckReport) -> str:
    return {
        "used": "GPU: none here, so the notebook's .cuda() and .to('cuda') ran on the CPU (--cpu-fallback, the "
                "default of a self-check); grading runs on a GPU",
        "on": "GPU: not needed by this notebook (--cpu-fallback would have run .cuda() on the CPU)",
        "off": "GPU: --no-cpu-fallback, CUDA calls ran as written",
    }[report.cpu_fallback]


def render_html(report: SelfCheckReport) -> str:
    return environment().get_template("selfcheck.html.j2").render(
        report=report, limits=_limits_line(report), fallback=_fallback_line(report),
        cells_counted=CELLS_COUNTED if _mentions_cell_numbers(report) else None,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
