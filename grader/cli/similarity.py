"""`grader similarity`: which submissions of a graded folder look copied, and a TA's decision about a pair."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from grader.cli.common import GradebookOption, RunOutOption, fail, open_gradebook
from grader.gradebook import PAIR_DECISIONS, GradebookError
from grader.rubric import RubricError, load_rubric
from grader.similarity.pages import CSV_FILE, write_pages
from grader.paths import SIMILARITY_DIR
from grader.similarity.report import compare_class, read_report, write_report

console = Console(stderr=True, soft_wrap=True, emoji=False)

similarity_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


@similarity_app.callback()
def similarity(
    ctx: typer.Context,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Output folder of the grading run: the --out given to `grader grade` \\[required].",
        show_default=False)] = None,
    gradebook: GradebookOption = None,
    rubric: Annotated[Optional[Path], typer.Option(
        "--rubric", help="Rubric folder \\[default: the one the gradebook was graded with].")] = None,
    submissions: Annotated[Optional[Path], typer.Option(
        "--submissions", help="Where the submitted notebooks are, for their stored outputs \\[default: where "
                              "`grader grade` read them].")] = None,
    top: Annotated[int, typer.Option("--top", help="Pairs to print.")] = 15,
) -> None:
    """Rank every pair of a graded folder's submissions by how much they share that honest work does not.

    Code fingerprints (renaming, reordering, comments and whitespace do not hide a copy), stored numbers and
    pictures no re-execution reproduced, shared rare errors and wrong answers. Writes OUT/similarity/: index.html,
    a side-by-side page per pair, pairs.csv. For staff only; it changes no score."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise fail("`grader similarity` needs --out DIR: the output folder of the grading run")
    with open_gradebook(out, gradebook, must_exist=True) as book:
        folder = rubric
        if folder is None:
            sources = book.sources()
            if sources is None:
                raise fail(f"the gradebook in {out} does not say which rubric it was graded with; give --rubric")
            folder = Path(sources.rubric)
        try:
            loaded = load_rubric(folder)
        except RubricError as err:
            raise fail(str(err)) from None
        summary = book.rubric()
        if summary is not None and summary.id != loaded.id:
            raise fail(f"{folder} is rubric {loaded.id!r}; the gradebook in {out} holds {summary.id!r}")
        report = compare_class(out, book, loaded, submissions)
        write_report(out, report)
        pages = write_pages(out, report, book.latest_pair_reviews())
    for note in report.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    table = Table("#", "pair", "score", "code", "evidence", title=f"most similar of {report.ranking.students} "
                  f"submissions ({len(report.flagged)} flagged)", title_justify="left")
    for rank, pair in enumerate(report.ranking.pairs[:top], start=1):
        names = f"{report.students[pair.a].label} · {report.students[pair.b].label}"
        table.add_row(str(rank), escape(names), f"{pair.score:.2f}" + (" flagged" if pair.flagged else ""),
                      f"{pair.code:.0%}", escape(", ".join(f"{e.kind} {e.weight:+.2f}" for e in pair.evidence)))
    if report.ranking.pairs:
        console.print(table)
    else:
        console.print("no two submissions share anything beyond the template, the solution and what many write",
                      highlight=False)
    console.print(f"{report.ranking.students} submissions compared in {report.seconds} s · {pages[0]} · "
                  f"{out / SIMILARITY_DIR / CSV_FILE}", highlight=False)


@similarity_app.command("decide")
def decide(
    first: Annotated[str, typer.Argument(help="One student key of the pair.")],
    second: Annotated[str, typer.Argument(help="The other.")],
    decision: Annotated[str, typer.Option("--decision", help=f"One of: {', '.join(PAIR_DECISIONS)}.")],
    by: Annotated[str, typer.Option("--by", help="Who looked at the pair.")],
    note: Annotated[str, typer.Option("--note", help="For staff only.")] = "",
    out: RunOutOption = None,
    gradebook: GradebookOption = None,
) -> None:
    """Record that a TA looked at a pair and what they decided (no score changes)."""
    assert out is not None  # its option's callback refuses none
    with open_gradebook(out, gradebook, must_exist=True) as book:
        report = read_report(out)
        pair = report.pair(first, second) if report else None
        try:
            review = book.review_pair(first, second, decision, note, by, pair.score if pair else None)
        except GradebookError as err:
            raise fail(str(err)) from None
        if report is not None:
            write_pages(out, report, book.latest_pair_reviews())
    console.print(f"{review.first} · {review.second}: {PAIR_DECISIONS[review.decision]} by {review.by}",
                  highlight=False)
