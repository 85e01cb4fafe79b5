"""Staff commands for authoring an exam: `grader assign` (a master notebook into the template, the solution
and a rubric skeleton) and `grader rubric lint` (a rubric against its template and its reference)."""

from __future__ import annotations

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
from grader.cli.common import CacheDirOption, cache_option, fail
from grader.paths import default_cache
from grader.reference import ReferenceRun, reference_run, run_solution
from grader.rubric import LoadedRubric, RubricError, load_rubric
from grader.run import NotebookRunner
from grader.run.sandbox import SandboxUnavailable
from grader.service import KernelOptions, confine, notebook_runner, open_session

# Rich markup, with what comes from the rubric, the notebooks and the file system escaped; no emoji codes.
console = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)
report_console = Console(soft_wrap=True, highlight=False, emoji=False)
rubric_app = typer.Typer(no_args_is_help=True)

NoSandboxOption = Annotated[bool, typer.Option("--no-sandbox", help="Run the reference unconfined, as you.")]


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
        raise fail(str(err), code=1) from None
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
    if report.downloads:
        lines.append(escape(f"{len(report.downloads)} URL(s) {master_name} downloads are in execution.downloads, "
                            f"unpinned: run `grader assets fetch --rubric {report.rubric.parent}` on a machine with "
                            "internet to cache them, and add the sha256 it prints"))
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
    no_sandbox: NoSandboxOption = False,
    cpu_fallback: Annotated[bool, typer.Option(
        "--cpu-fallback", help="Without a GPU, run the solution's .cuda() and .to('cuda') on the CPU (the CPU runs "
                               "only: a --gpu run uses the GPU).")] = False,
    cache_dir: CacheDirOption = None,
) -> None:
    """Check that every item has its cells, every check finds what it compares in the reference's run, the
    points add up, tolerances are wider than the reference's own noise, and hidden items do not leak."""
    loaded, cache, runner = _reference_runner(rubric, cache_dir, no_sandbox, gpu, cpu_fallback=cpu_fallback)
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
    no_sandbox: NoSandboxOption = False,
    cpu_fallback: Annotated[bool, typer.Option(
        "--cpu-fallback", help="Without a GPU, run the solution's .cuda() and .to('cuda') on the CPU.")] = False,
    cache_dir: CacheDirOption = None,
) -> None:
    """Run the reference solution into the cache, as `grader grade` does before it grades, and check that it
    earns full marks on its rubric; grading then starts from the cached run. Exit code 1 when it does not."""
    loaded, cache, runner = _reference_runner(rubric, cache_dir, no_sandbox, gpu=None, cpu_fallback=cpu_fallback)
    with console.status(Text(f"running {loaded.spec.solution} (cached after the first time)…")):
        try:
            open_session(loaded, runner, cache)  # its Grader refuses a reference without full marks
        except RubricError as err:
            raise fail(str(err), code=1) from None
    console.print(escape(f"{loaded.solution_path}: full marks ({loaded.spec.total:g} points); its run is cached in "
                         f"{cache / 'references'}"))


def _reference_runner(rubric: Path, cache_dir: Path | None, no_sandbox: bool, gpu: int | None,
                      cpu_fallback: bool = False) -> tuple[LoadedRubric, Path, NotebookRunner]:
    """The rubric, the cache and a runner for its reference; exit 1 on a broken rubric, 2 when an asset the
    reference needs is missing or the host cannot sandbox."""
    try:
        loaded = load_rubric(rubric)
    except RubricError as err:
        raise fail(str(err), code=1) from None
    cache = cache_dir or default_cache()
    # Before the reference runs: the kernels have no network.
    if why := missing_assets(loaded, cache, cache_option(cache_dir)):
        raise fail(why)
    options = KernelOptions(confinement="none" if no_sandbox else "sandbox", gpus=() if gpu is None else (gpu,),
                            cpu_fallback=cpu_fallback)
    try:
        host = confine(loaded, options, cache)
    except SandboxUnavailable as err:
        raise fail(f"cannot sandbox the reference's kernel: {err} (or use --no-sandbox)") from None
    return loaded, cache, notebook_runner(loaded.spec.execution, options, cache, host)


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
    seconds = (f"reference runs took {', '.join(f'{value:.1f}' for value in report.reference_seconds)} s"
               if report.reference_seconds else "the reference did not run to its end")
    errors, warnings = len(report.errors), len(report.findings) - len(report.errors)
    report_console.print(escape(f"{loaded.folder}: {len(loaded.spec.items)} items, {loaded.spec.total:g} points; "
                                f"{seconds}; {errors} error(s), {warnings} warning(s)"))
