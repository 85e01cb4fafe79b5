"""Staff commands for authoring an exam: `grader assign` (a master notebook into the template, the solution
and a rubric skeleton) and `grader rubric lint` (a rubric against its template and its reference)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from time import monotonic
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from grader.assets.needs import missing_assets
from grader.author.assign import AssignError, AssignReport, assign
from grader.author.lint import LintReport, lint
from grader.author.skeleton import SkeletonCheck
from grader.grading import Grader
from grader.reference import ReferenceRun, reference_run, run_solution
from grader.rubric import LoadedRubric, RubricError, load_rubric
from grader.run import NotebookRunner
from grader.run.sandbox import Limits, SandboxHost, SandboxUnavailable

# Rich markup, with what comes from the rubric, the notebooks and the file system escaped; no emoji codes.
console = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)
report_console = Console(soft_wrap=True, highlight=False, emoji=False)
rubric_app = typer.Typer(no_args_is_help=True)


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


@rubric_app.command("lint")
def lint_command(
    rubric: Annotated[Path, typer.Argument(help="Rubric folder (rubric.yaml, template, solution).")],
    runs: Annotated[int, typer.Option(help="Runs of the reference on the CPU, to measure its noise.", min=1)] = 2,
    gpu: Annotated[Optional[int], typer.Option(help="Run the reference once more on this GPU and compare it "
                                                    "with the CPU runs.")] = None,
    no_sandbox: Annotated[bool, typer.Option("--no-sandbox", help="Run the reference unconfined, as you.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="The grader's cache \\[default: $GRADER_CACHE or "
                                                           "~/.cache/grader].")] = None,
) -> None:
    """Check that every item has its cells, every check finds what it compares in the reference's run, the
    points add up, tolerances are wider than the reference's own noise, and hidden items do not leak."""
    loaded, cache, runner = _reference_runner(rubric, cache_dir, no_sandbox, gpu)
    done = {"cpu": 0}

    def run_reference(on_gpu: bool) -> tuple[ReferenceRun, float]:
        started = monotonic()
        with console.status(Text(f"running {loaded.spec.solution} ({'on GPU ' + str(gpu) if on_gpu else 'CPU run ' + str(done['cpu'] + 1)})…")):
            if on_gpu:
                run = run_solution(loaded, runner, gpu)
            else:
                done["cpu"] += 1
                # Re-run, not read from the cache, to measure the noise; the last run stays cached for grading.
                run = reference_run(loaded, runner, cache, cached_ok=False)
        return run, monotonic() - started

    report = lint(loaded, run_reference, runs=runs, gpu=gpu is not None)
    _print(report, loaded)
    if report.errors:
        raise typer.Exit(code=1)


@rubric_app.command("reference")
def reference_command(
    rubric: Annotated[Path, typer.Argument(help="Rubric folder (rubric.yaml, template, solution).")],
    no_sandbox: Annotated[bool, typer.Option("--no-sandbox", help="Run the reference unconfined, as you.")] = False,
    cpu_fallback: Annotated[bool, typer.Option(
        "--cpu-fallback", help="Without a GPU, run the solution's .cuda() and .to('cuda') on the CPU.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="The grader's cache \\[default: $GRADER_CACHE or "
                                                           "~/.cache/grader].")] = None,
) -> None:
    """Run the reference solution into the cache, as `grader grade` does before it grades, and check that it
    earns full marks on its rubric; grading then starts from the cached run. Exit code 1 when it does not."""
    loaded, cache, runner = _reference_runner(rubric, cache_dir, no_sandbox, gpu=None, cpu_fallback=cpu_fallback)
    with console.status(Text(f"running {loaded.spec.solution} (cached after the first time)…")):
        try:
            run = reference_run(loaded, runner, cache)
            Grader(loaded, runner, run.evidence, run.notebook)  # refuses a reference without full marks
        except RubricError as err:
            console.print(f"[bold red]error:[/] {escape(str(err))}")
            raise typer.Exit(code=1) from None
    console.print(escape(f"{loaded.solution_path}: full marks ({loaded.spec.total:g} points); its run is cached in "
                         f"{cache / 'references'}"))


def _reference_runner(rubric: Path, cache_dir: Path | None, no_sandbox: bool, gpu: int | None,
                      cpu_fallback: bool = False) -> tuple[LoadedRubric, Path, NotebookRunner]:
    """The rubric, the cache and a runner for its reference; exit 1 on a broken rubric, 2 when an asset the
    reference needs is missing or the host cannot sandbox."""
    try:
        loaded = load_rubric(rubric)
    except RubricError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}")
        raise typer.Exit(code=1) from None
    cache = _cache(cache_dir)
    _refuse_missing_assets(loaded, cache, cache_dir)
    return loaded, cache, _runner(loaded, cache, no_sandbox, gpu, cpu_fallback)


def _cache(cache_dir: Path | None) -> Path:
    return cache_dir or Path(os.environ.get("GRADER_CACHE") or Path.home() / ".cache" / "grader")


def _refuse_missing_assets(loaded: LoadedRubric, cache: Path, cache_dir: Path | None) -> None:
    """Exit 2 before the reference runs when the cache lacks an asset it needs (kernels have no network)."""
    why = missing_assets(loaded, cache, "" if cache_dir is None else f" --cache-dir {cache_dir}")
    if why:
        console.print(f"[bold red]error:[/] {escape(why)}")
        raise typer.Exit(code=2)


def _runner(loaded: LoadedRubric, cache: Path, no_sandbox: bool, gpu: int | None,
            cpu_fallback: bool = False) -> NotebookRunner:
    limits = loaded.spec.execution
    sandbox = None
    if not no_sandbox:
        try:
            sandbox = SandboxHost.prepare(sys.executable, Limits(
                memory_mb=limits.memory_mb, processes=limits.max_processes, file_size_mb=limits.max_file_mb,
                tmp_mb=limits.disk_mb), cache, gpus=() if gpu is None else (gpu,))
        except SandboxUnavailable as err:
            console.print(f"[bold red]error:[/] cannot sandbox the reference's kernel: {escape(str(err))} (or use "
                          "--no-sandbox)")
            raise typer.Exit(code=2) from None
    return NotebookRunner(cell_timeout_s=limits.cell_timeout_s, notebook_timeout_s=limits.notebook_timeout_s,
                          cache_dir=cache, sandbox=sandbox, cpu_fallback=cpu_fallback)


def _print(report: LintReport, loaded: LoadedRubric) -> None:
    for finding in report.findings:
        colour = "red" if finding.severity == "error" else "yellow"
        report_console.print(f"[{colour}]{finding.severity}:[/] {escape(finding.where)}: {escape(finding.message)}")
    if report.noise:
        report_console.print("noise of the reference (largest difference between runs, per numeric check):")
        for noise in report.noise:
            mark = "ok" if noise.within else "TOO TIGHT"
            report_console.print(escape(f"  {noise.runs}: {noise.max_abs_diff:.3g} (atol={noise.tolerance.atol:g}, "
                                        f"rtol={noise.tolerance.rtol:g}) {mark}  {noise.where}"))
    seconds = ", ".join(f"{value:.1f}" for value in report.reference_seconds)
    errors, warnings = len(report.errors), len(report.findings) - len(report.errors)
    report_console.print(escape(f"{loaded.folder}: {len(loaded.spec.items)} items, {loaded.spec.total:g} points; "
                                f"reference runs took {seconds} s; {errors} error(s), {warnings} warning(s)"))
