"""What the commands share on the terminal: the error printer, the options several commands take, and the
gradebook of a grading run's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from grader.gradebook import Gradebook
from grader.paths import GRADEBOOK_FILE, gradebook_path

error_console = Console(stderr=True, soft_wrap=True, emoji=False)  # long paths and messages stay on one line


def error(message: str) -> None:
    """Print `message` (text, not markup) as an error."""
    error_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` as an error; raise the returned Exit (code 2: the command could not do what was asked)."""
    error(message)
    return typer.Exit(code=code)


def _required_out(ctx: typer.Context, out: Path | None) -> Path | None:
    if out is None and not ctx.resilient_parsing:
        raise fail(f"`grader {ctx.info_name}` needs --out DIR: the output folder of the grading run (the --out "
                   f"given to `grader grade`), whose {GRADEBOOK_FILE} it reads and where it writes")
    return out


# Commands that read a grading run's gradebook and write into its folder have no default: run from a checkout (or
# any folder), a default would rewrite whatever reports lie there.
RunOutOption = Annotated[Optional[Path], typer.Option(
    "--out", help="Output folder of the grading run: the --out given to `grader grade` \\[required].",
    show_default=False, callback=_required_out)]
GradebookOption = Annotated[Optional[Path], typer.Option(
    "--gradebook", help=f"Gradebook file \\[default: OUT/{GRADEBOOK_FILE}].")]
CacheDirOption = Annotated[Optional[Path], typer.Option(
    help="The grader's cache \\[default: $GRADER_CACHE or ~/.cache/grader].")]


def existing_gradebook(out: Path, gradebook: Path | None) -> Path:
    """The gradebook a command reads: --gradebook, else OUT's; it must exist."""
    path = gradebook_path(out, gradebook)
    if not path.is_file():
        raise fail(f"no gradebook at {path}; run `grader grade … --out {out}` first, or pass --gradebook")
    return path


def open_gradebook(out: Path, gradebook: Path | None, must_exist: bool) -> Gradebook:
    return Gradebook(existing_gradebook(out, gradebook) if must_exist else gradebook_path(out, gradebook))


def cache_option(cache_dir: Path | None) -> str:
    """What a command suggested to the user adds to reach the same cache."""
    return "" if cache_dir is None else f" --cache-dir {cache_dir}"
