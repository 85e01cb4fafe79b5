"""What the commands share on the terminal: the error console, and the --out of commands that work on a grading
run's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from grader.batch import GRADEBOOK_FILE

error_console = Console(stderr=True, soft_wrap=True, emoji=False)  # long paths and messages stay on one line


def fail(message: str) -> typer.Exit:
    """Print `message` as an error; raise the returned Exit (code 2: the command could not do what was asked)."""
    error_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code=2)


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
