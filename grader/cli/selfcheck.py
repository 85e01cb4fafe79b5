"""`grader check` (students, on their own machine) and `grader release` (staff: the student bundle)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
import watchfiles
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from grader.cli.common import fail
from grader.paths import default_cache
from grader.results import Flag
from grader.rubric import RubricError
from grader.rubric.load import RUBRIC_FILE
from grader.run.warm import WarmKernels, WarmStartError
from grader.run.workspace import PREFIX as WORKSPACE_PREFIX
from grader.run.workspace import sweep_workspaces
from grader.selfcheck.check import SelfChecker, SelfCheckError, SelfCheckReport
from grader.selfcheck.public import LoadedPublicRubric, load_public_rubric
from grader.selfcheck.release import README_FILE
from grader.selfcheck.release import release as write_bundle
from grader.selfcheck.render import console_lines, render_html
from grader.selfcheck.wheel import WheelError, build_grader_wheel, checked_wheel
from grader.service import KernelOptions, notebook_runner, start_warm_kernels
from grader.submission import notebook_in

# Rich markup, with what comes from the student, the rubric and the file system escaped; no emoji codes.
console = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)  # messages about the run
report_console = Console(soft_wrap=True, highlight=False, emoji=False)  # the report itself, on stdout


def check(
    notebook: Annotated[Optional[Path], typer.Argument(
        help="Your notebook, or the folder holding it \\[default: the current folder].")] = None,
    rubric: Annotated[Optional[Path], typer.Option(
        "--rubric", help="The exam's released bundle, or a full rubric folder (its hidden parts are ignored) "
                         f"\\[default: the notebook's folder, when it holds {RUBRIC_FILE}].")] = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write the report as an HTML page.")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Keep a warm kernel and check again on every save of the "
                                                        "notebook, until Ctrl-C.")] = False,
    cpu_fallback: Annotated[bool, typer.Option(
        "--cpu-fallback/--no-cpu-fallback", help="Without a GPU, run .cuda() and .to('cuda') on the CPU "
                                                 "\\[default: on].")] = True,
    cache_dir: Annotated[Optional[Path], typer.Option(
        help="Cache for pretrained weights and datasets \\[default: $GRADER_CACHE or ~/.cache/grader].")] = None,
) -> None:
    """Students: check your notebook before you submit.

    Runs it in a fresh kernel and lists what would cost points for form (unanswered or unreadable items, cells
    that fail), never whether an answer is right. Exit code 1 when something would cost points."""
    target = notebook or Path.cwd()
    try:
        if not target.exists():
            raise SelfCheckError(f"{target}: no such notebook or folder")
        loaded = load_public_rubric(rubric or _rubric_beside(target if target.is_dir() else target.parent))
        path = target if target.is_file() else _notebook_in(target, loaded)
    except (RubricError, SelfCheckError) as err:
        raise fail(str(err)) from None
    cache = cache_dir or default_cache()
    sweep_workspaces((WORKSPACE_PREFIX,))
    with _warm_kernels(loaded, cache) if watch else contextlib.nullcontext() as warm:
        # Unconfined: it is the student's own machine.
        runner = notebook_runner(loaded.spec.execution, KernelOptions(confinement="none", cpu_fallback=cpu_fallback),
                                 cache, None, warm)
        checker = SelfChecker(loaded, runner)
        if not watch:
            report = _check_once(checker, path, html)
            # 2: the notebook could not be checked at all; 1: something would cost points
            raise typer.Exit(code=2 if report is None else 1 if report.problems else 0)
        console.print(f"watching {escape(str(path))}: checked again on every save · Ctrl-C stops")
        try:
            _check_on_every_save(checker, path, html)
        except KeyboardInterrupt:
            console.print("stopped watching")  # Ctrl-C is how a watch ends: exit 0


def _check_on_every_save(checker: SelfChecker, path: Path, html: Path | None) -> None:
    """Checks the notebook, then again after each save. The watcher is armed before the first check and wakes
    twice a second, and a check is of the file as it is then: a save made while a check runs is checked next,
    never missed, even where the file system's times are too coarse to tell two saves apart (events count)."""
    checked: tuple[int, int, int] | None = None
    for changes in watchfiles.watch(path.parent, watch_filter=lambda _, changed: Path(changed).name == path.name,
                                    recursive=False, debounce=300, rust_timeout=500, yield_on_timeout=True):
        saved = _saved_state(path)
        if saved is None or (saved == checked and not changes):
            continue  # in the middle of a save (editors replace the file), or nothing new
        if checked is not None:
            report_console.rule()
        checked = saved
        _check_once(checker, path, html)


def _saved_state(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _check_once(checker: SelfChecker, path: Path, html: Path | None) -> SelfCheckReport | None:
    with console.status(Text(f"running {path.name} in a fresh kernel…")):
        try:
            report = checker.check(path)
        except SelfCheckError as err:
            console.print(f"[bold red]cannot check {escape(path.name)}:[/] {escape(str(err))}")
            return None
    for line in console_lines(report):
        report_console.print(line)
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
        console.print(f"wrote {escape(str(html))}")
    return report


def _notebook_in(folder: Path, rubric: LoadedPublicRubric) -> Path:
    """The notebook grading would pick from the folder; in the bundle's own folder, not its template."""
    in_bundle = folder.resolve() == rubric.folder.resolve()
    skip = frozenset({Path(rubric.spec.template)}) if in_bundle else frozenset()
    flags: list[Flag] = []
    found = notebook_in(folder, rubric.spec.submission.notebook, [], flags, skip)
    if found is None and in_bundle:
        found = folder / rubric.spec.template  # the student answers in the template itself
    if found is None or not found.is_file():
        raise SelfCheckError(f"{folder} holds no .ipynb notebook; name the notebook to check")
    if flags:
        console.print(f"[yellow]note:[/] several notebooks in {escape(str(folder))}; checking the newest, "
                      f"{escape(found.name)}, as "
                      "grading would pick it; name the notebook to check another")
    return found


def _rubric_beside(folder: Path) -> Path:
    for candidate in (folder, Path.cwd()):
        if (candidate / RUBRIC_FILE).is_file():
            return candidate
    raise SelfCheckError(f"no {RUBRIC_FILE} in {folder} or the current folder: give the exam's bundle with --rubric")


@contextlib.contextmanager
def _warm_kernels(loaded: LoadedPublicRubric, cache: Path) -> Iterator[WarmKernels]:
    preload = loaded.spec.execution.preload or []
    with console.status(Text(f"importing {', '.join(preload) or 'the kernel'} once, so that re-checks start warm…")):
        try:
            warm = start_warm_kernels(preload, None, cache)
        except WarmStartError as err:
            raise fail(f"{err}\nWithout --watch every check starts a fresh interpreter instead") from None
    with warm:
        yield warm


def release(
    rubric: Annotated[Path, typer.Argument(help="Full rubric folder (rubric.yaml, template, solution).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the bundle: new, or holding an earlier bundle.")],
    wheel: Annotated[Optional[Path], typer.Option(
        "--wheel", help="The wheel of this grader to give students \\[default: built from this grader's source; "
                        "needed where grader was installed from a wheel].")] = None,
) -> None:
    """Build the student bundle for `grader check`: the template, the public rubric and grader's wheel.

    The template's outputs are cleared. Hidden checks keep only their name and points: no expected values, keys,
    tolerances or reference code. The bundle's README says how students install the wheel and check."""
    try:
        with tempfile.TemporaryDirectory(prefix="grader-wheel-") as scratch:
            with console.status("building grader's wheel for the bundle…"):
                shipped = checked_wheel(wheel) if wheel is not None else build_grader_wheel(Path(scratch))
            written = write_bundle(rubric, out, shipped)
    except (RubricError, WheelError) as err:
        raise fail(str(err)) from None
    console.print(escape(f"wrote {', '.join(str(path) for path in written)}"))
    console.print(escape(f"students install grader and check their notebook as {out / README_FILE} says"))
