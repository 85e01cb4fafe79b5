"""`grader assign` (staff): a master notebook into the template, the solution and a rubric skeleton."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from grader.author.assign import AssignError, AssignReport, assign
from grader.author.skeleton import SkeletonCheck

console = Console(stderr=True, soft_wrap=True, highlight=False)


def assign_command(
    master: Annotated[Path, typer.Argument(help="The master notebook: the exam with its solutions between "
                                                "`### BEGIN SOLUTION` and `### END SOLUTION` lines.")],
    out: Annotated[Path, typer.Option("--out", help="The rubric folder to write (created if missing): "
                                                    "template.ipynb, solution.ipynb and, when it has none, "
                                                    "rubric.yaml.")],
) -> None:
    """Write the student template, the reference solution and a rubric skeleton from one master notebook.

    Rerun it after editing the master: the notebooks are rewritten; rubric.yaml keeps your edits and gains the
    items the master gained."""
    try:
        report = assign(master, out)
    except AssignError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}")
        raise typer.Exit(code=1) from None
    for line in report_lines(report, master.name):
        console.print(line)


def report_lines(report: AssignReport, master_name: str) -> list[str]:
    """What was written, each item with its guessed check, and what needs the author's attention; rich markup."""
    rubric_says = {"new": "a new skeleton", "updated": f"{len(report.new)} item(s) added",
                   "unchanged": "unchanged"}[report.rubric_status]
    lines = [escape(f"wrote {report.template}, {report.solution}; {report.rubric}: {rubric_says}"),
             escape(f"{len(report.items)} item(s) in {master_name}:")]
    width = max(len(item.id) for item in report.items)
    for item in report.items:
        status = "new " if item.id in report.new else "kept"
        guess = describe(item.check) if item.id in report.new else "(rubric.yaml's checks)"
        lines.append(escape(f"  {item.id:<{width}}  {status}  {guess:<32}  {item.title}"))
    if report.missing:
        lines.append(escape(f"in rubric.yaml but not in {master_name}: {', '.join(report.missing)}"))
    lines += [f"[yellow]warning:[/] {escape(warning)}" for warning in report.warnings]
    return lines


def describe(check: SkeletonCheck) -> str:
    """A guessed check in a few words, e.g. `value: net`, `true_false: False`."""
    if check.kind == "true_false":
        return f"true_false: {check.fields['answer']}"
    if check.kind == "multiple_choice":
        return f"multiple_choice: {', '.join(map(str, check.fields['answer']))}"
    if check.kind == "value":
        return f"value: {check.fields['expression']}"
    return check.kind
