"""`grader review`: serve the review pages on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Optional

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from grader.batch import write_outputs
from grader.cli.common import CacheDirOption, GradebookOption, RunOutOption, existing_gradebook, fail
from grader.gradebook import Gradebook, GradingSources
from grader.paths import default_cache
from grader.review.app import ReviewConfig, create_app
from grader.review.regrade import Regrader

console = Console(stderr=True, soft_wrap=True, emoji=False)  # user data in markup is escaped


def review(
    ta: Annotated[str, typer.Option("--ta", help="Your name: stored with every score, override and regrade.")],
    out: RunOutOption = None,
    gradebook: GradebookOption = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 \\[default: a free one].", min=0, max=65535)] = 0,
    rubric: Annotated[Optional[Path], typer.Option(help="Rubric folder for regrades \\[default: the one `grade` used].")] = None,
    submissions: Annotated[Optional[Path], typer.Option(help="Submissions for regrades \\[default: those `grade` read].")] = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """Review in the browser: a queue of manual items, students' pages with overrides, regrades, history.

    Several TAs may review one gradebook at once, each with their own `grader review`."""
    path = existing_gradebook(out, gradebook)
    if not ta.strip():
        raise fail("--ta: give your name; it is stored with every change you make")
    with Gradebook(path) as book:
        if book.rubric() is None:
            raise fail(f"{path} holds no graded submissions yet")
        sources = book.sources()
        roster = book.roster_path()
    regrader = None
    if sources is not None or (rubric and submissions):
        sources = GradingSources(rubric=str((rubric or Path(sources.rubric)).resolve()),
                                 submissions=str((submissions or Path(sources.submissions)).resolve()),
                                 confinement=sources.confinement if sources else "sandbox",
                                 cpu_fallback=sources.cpu_fallback if sources else False)
        regrader = Regrader(sources, cache_dir or default_cache(), roster=roster, gradebook=path)
    else:
        console.print("[yellow]regrades are off:[/] this gradebook does not say where its rubric and submissions "
                      "are; give --rubric and --submissions to turn them on", highlight=False)
    config = ReviewConfig(gradebook=path, ta=ta.strip(), out=out, regrader=regrader)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(("127.0.0.1", port))
        listening.listen(128)  # before the URL is printed: a browser that opens it at once waits, never refused
    except OSError as err:
        raise fail(f"cannot listen on 127.0.0.1:{port}: {err.strerror}; pick another --port") from None
    bound = listening.getsockname()[1]
    console.print(f"reviewing {escape(str(path))} as [bold]{escape(config.ta)}[/]\nopen http://127.0.0.1:{bound}/?token={config.token}\n"
                  "(only this machine can reach it; Ctrl-C stops)", highlight=False)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
    try:
        server.run(sockets=[listening])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has shut down: the way to stop it
        pass
    with Gradebook(path) as book:
        write_outputs(out, book)
    console.print(f"results.json and the reports in {out} show every change", highlight=False, markup=False)
