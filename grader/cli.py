"""`grader`: grade folders of exam notebooks, re-render reports, export, set manual scores; students' self-check."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from time import monotonic
from typing import Annotated, Optional, get_args

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from grader.assets.cache import assets_root
from grader.assets.cache import describe as describe_assets
from grader.assets.cli import assets_app
from grader.assets.needs import missing_assets
from grader.author import cli as author_cli
from grader.batch import (GRADEBOOK_FILE, RESULTS_FILE, BatchOutcome, Workers, auto_jobs, follow_new_keys,
                          grade_submissions, rubric_summary, write_outputs)
from grader.export.gradescope_build import gradescope_app
from grader.export.formats import DEFAULT_NAMES, FORMATS, ExportOptions
from grader.export.formats import export as export_as
from grader.gradebook import Gradebook, GradebookError, GradingSources, RubricSummary
from grader.grading import Grader
from grader.reference import reference_run
from grader.report.feedback import write_feedback
from grader.run import NotebookRunner
from grader.run.sandbox import Limits, SandboxHost, SandboxUnavailable
from grader.run.uid_confinement import UidHost
from grader.run.workspace import PREFIX as WORKSPACE_PREFIX
from grader.run.warm import WarmKernels, WarmStartError, imports_of
from grader.run.workspace import sweep_workspaces, unsandboxed_base_env
from grader.lms.export import ExportError
from grader.lms.roster import RosterError, read_roster
from grader.lms.rows import ExportChoices, match_results, needs_attention
from grader.results import Confinement, SubmissionResult
from grader.rubric import LoadedRubric, RubricError, load_rubric
from grader.review import cli as review_cli
from grader.selfcheck import cli as selfcheck_cli
from grader.slurm import cluster as slurm_cluster
from grader.slurm.cluster import SlurmError, SlurmOptions
from grader.slurm.coordinator import grade_on_slurm
from grader.slurm.plan import KernelSettings, RunPlan
from grader.submission import UNZIP_PREFIX, Submission, discovered, nothing_to_grade
from grader.terminal import RunOutOption
from grader.terminal import fail as _fail
from grader.unzip import ZipRefused

app = typer.Typer(help="Grade deep-learning exams written as Jupyter notebooks.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
app.add_typer(author_cli.rubric_app, name="rubric", help="Check a rubric against its template and reference solution.")
app.add_typer(assets_app, name="assets", help="Pretrained weights and datasets for kernels without network: fill "
                                              "the cache with stand-ins or real downloads, show its state.")
# Long paths and messages stay on one line. What is printed is text, not Rich markup, unless a line asks for markup
# (and then escapes the user data in it): file names like `a[b]c.ipynb`, a roster's column `Lateness (H:M:S)`,
# whose `:M:` is an emoji code to Rich, come out as written.
console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)

NO_SANDBOX_WARNING = (
    "[bold red on yellow] --no-sandbox [/] [bold red]students' code runs unconfined, as you: it can read the answer "
    "key, other submissions and your files, reach the network and forge results. Every report will say so.[/]")

UID_ONLY_WARNING = (
    "[bold black on yellow] --confine uid [/] [bold]no sandbox: each kernel runs as its own unprivileged uid, "
    "without namespaces. It cannot read the rubric, the reference cache, OUT or the submissions (root-only), but "
    "it can reach the network and any file other users may read. Every report will say so.[/]")
CONFINEMENTS = get_args(Confinement)

OutOption = Annotated[Path, typer.Option("--out", help="Output folder of a grading run.")]
GradebookOption = Annotated[Optional[Path], typer.Option("--gradebook", help=f"Gradebook file \\[default: OUT/{GRADEBOOK_FILE}].")]


def default_cache() -> Path:
    return Path(os.environ.get("GRADER_CACHE") or Path.home() / ".cache" / "grader")


def gradebook_path(out: Path, gradebook: Path | None) -> Path:
    """The gradebook a command reads: --gradebook, else OUT's; it must exist."""
    path = gradebook or out / GRADEBOOK_FILE
    if not path.is_file():
        raise _fail(f"no gradebook at {path}; run `grader grade … --out {out}` first, or pass --gradebook")
    return path


def _open_gradebook(out: Path, gradebook: Path | None, must_exist: bool) -> Gradebook:
    return Gradebook(gradebook_path(out, gradebook) if must_exist else gradebook or out / GRADEBOOK_FILE)


@app.command()
def grade(
    submissions: Annotated[Path, typer.Argument(help="Folder of submissions (notebooks, folders holding one, zips of "
                                                     "either; or a Canvas/Moodle download), or that download's zip.")],
    rubric: Annotated[Path, typer.Option("--rubric", help="Rubric folder (rubric.yaml, template, solution).")],
    out: OutOption,
    gradebook: GradebookOption = None,
    jobs: Annotated[str, typer.Option(help="Kernels at once: a number, or auto (cores, and memory at the kernel's "
                                           "limit) \\[default: auto].")] = "auto",
    gpus: Annotated[Optional[str], typer.Option(help="NVIDIA GPUs for the kernels, e.g. 0,1; each kernel gets one "
                                                      "\\[default: none, CPU only].")] = None,
    per_gpu: Annotated[int, typer.Option(help="Kernels sharing one GPU at once (with --gpus); each may allocate "
                                              "1/K of its memory.", min=1)] = 1,
    cold: Annotated[bool, typer.Option("--cold", help="Start every kernel as a new interpreter instead of forking "
                                                      "it from one that has imported the exam's libraries.")] = False,
    cell_timeout: Annotated[Optional[float], typer.Option(help="Seconds per cell \\[default: the rubric's].")] = None,
    notebook_timeout: Annotated[Optional[float], typer.Option(help="Seconds per notebook \\[default: the rubric's].")] = None,
    memory: Annotated[Optional[int], typer.Option(help="MB of memory per kernel \\[default: the rubric's].")] = None,
    max_processes: Annotated[Optional[int], typer.Option(help="Processes and threads per kernel \\[default: the rubric's].")] = None,
    max_file: Annotated[Optional[int], typer.Option(help="MB of the largest file a kernel may write \\[default: the rubric's].")] = None,
    disk: Annotated[Optional[int], typer.Option(help="MB of each of a kernel's /tmp and working folder \\[default: the rubric's].")] = None,
    no_sandbox: Annotated[bool, typer.Option("--no-sandbox", help="Run kernels unconfined, as you (--confine none). "
                                                                 "Only on a machine you can throw away.")] = False,
    confine: Annotated[Optional[str], typer.Option(
        "--confine", help="How kernels are confined: sandbox (bubblewrap: own uid, namespaces, cgroups), uid (own "
                          "unprivileged uid without namespaces, for a container that refuses them; the rubric, OUT "
                          "and the submissions must be root-only) or none \\[default: sandbox].",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Regrade submissions already graded from the same files.")] = False,
    cpu_fallback: Annotated[bool, typer.Option(
        "--cpu-fallback", help="Without a GPU, run the notebooks' .cuda() and .to('cuda') on the CPU instead of "
                               "failing as they would for the student; each submission that needed it is flagged.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Cache for reference evidence and assets \\[default: $GRADER_CACHE or ~/.cache/grader].")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    roster: Annotated[Optional[Path], typer.Option(
        "--roster", help="The course's roster: a Canvas gradebook export, a Moodle grading worksheet or "
                         "participants export, or an id,name,email,section CSV. A submission it matches is keyed by "
                         "the roster's student id; the run lists who has no submission and which submissions match "
                         "no one \\[default: the roster an earlier run of this gradebook was given].")] = None,
    executor: Annotated[str, typer.Option(help="local: kernels on this machine; slurm: one Slurm array task per "
                                               "submission (OUT must be on a filesystem the nodes share).")] = "local",
    partition: Annotated[Optional[str], typer.Option(help="slurm: the partition.")] = None,
    account: Annotated[Optional[str], typer.Option(help="slurm: the account.")] = None,
    task_time: Annotated[Optional[str], typer.Option(help="slurm: time limit per task, e.g. 00:30:00.")] = None,
    task_memory: Annotated[Optional[str], typer.Option(help="slurm: memory per task, e.g. 8G.")] = None,
    gres: Annotated[Optional[str], typer.Option(help="slurm: generic resources per task, e.g. gpu:1 (each "
                                                     "kernel then gets the GPU Slurm gives its task).")] = None,
    max_tasks: Annotated[Optional[int], typer.Option(help="slurm: tasks running at once.", min=1)] = None,
    sbatch_flag: Annotated[Optional[list[str]], typer.Option(help="slurm: another sbatch flag, as written, e.g. "
                                                                  "--qos=short; repeat for more.")] = None,
    poll: Annotated[float, typer.Option(help="slurm: seconds between looks at the queue.", min=0.1)] = 5.0,
) -> None:
    """Execute and grade every submission, then write results.json and HTML reports."""
    if executor not in ("local", "slurm"):
        raise _fail(f"--executor {executor}: expected local or slurm")
    on_slurm = executor == "slurm"
    confinement = _confinement(confine, no_sandbox)
    if on_slurm and confinement == "uid":
        raise _fail("--confine uid is for a container that refuses the sandbox's namespaces (Gradescope's); Slurm "
                    "tasks run sandboxed, or with --no-sandbox")
    if on_slurm and (why := slurm_cluster.available()):
        raise _fail(f"--executor slurm: {why}")
    if on_slurm and (gpus is not None or jobs != "auto" or per_gpu != 1):
        raise _fail("--jobs, --gpus and --per-gpu place kernels on this machine; with --executor slurm, Slurm "
                    "places them: use --gres gpu:1 and --max-tasks")
    with contextlib.ExitStack() as stack:
        sweep_workspaces((WORKSPACE_PREFIX, UNZIP_PREFIX))
        roster = roster or _earlier_roster(out, gradebook)
        try:
            # A bad roster stops the run before anything is graded. It says whose each submission is, and so its key.
            course = read_roster(roster) if roster is not None else None
            loaded = load_rubric(rubric)
            # A whole download given as one zip is unpacked privately until the end of `stack`: the run grades from it.
            found = stack.enter_context(discovered(submissions, loaded.spec.submission.notebook, course))
        except (RubricError, RosterError, FileNotFoundError, ZipRefused) as err:
            raise _fail(str(err)) from None
        cache = cache_dir or default_cache()
        # Before any kernel starts or anything is written:
        if why := nothing_to_grade(submissions, found) or missing_assets(loaded, cache, _cache_option(cache_dir)):
            raise _fail(why)
        limits = loaded.spec.execution
        memory_mb = memory or limits.memory_mb
        # With Slurm only the reference runs here, before the array.
        workers = Workers.plan(1) if on_slurm else _plan_workers(jobs, _parse_gpus(gpus), per_gpu, memory_mb)
        kernel_limits = Limits(memory_mb=memory_mb, processes=max_processes or limits.max_processes,
                               file_size_mb=max_file or limits.max_file_mb, tmp_mb=disk or limits.disk_mb)
        sandbox: SandboxHost | UidHost | None = None
        if confinement == "none":
            console.print(NO_SANDBOX_WARNING, highlight=False, markup=True)
        elif confinement == "uid":
            console.print(UID_ONLY_WARNING, highlight=False, markup=True)
            if not out.exists():
                out.mkdir(parents=True, mode=0o700)  # its gradebook and reports are no kernel's to read
            private = [loaded.folder, out, (gradebook or out / GRADEBOOK_FILE).parent, submissions]
            try:
                sandbox = UidHost.prepare(sys.executable, kernel_limits, cache, private)
            except SandboxUnavailable as err:
                raise _fail(f"cannot confine the students' kernels to their own uid: {err}") from None
        else:
            try:
                sandbox = SandboxHost.prepare(sys.executable, kernel_limits, cache,
                                              gpus=tuple(gpu for gpu in workers.gpus if gpu is not None))
            except SandboxUnavailable as err:
                raise _fail(f"cannot sandbox the students' kernels: {err}") from None
        console.print(f"rubric [bold]{escape(loaded.id)}[/] ({loaded.hash[:19]}…) · {len(found)} submission(s) in "
                      f"{escape(str(submissions))}", highlight=False, markup=True)
        assets = describe_assets(assets_root(cache))
        console.print(assets, highlight=False)
        warm = None if cold or on_slurm else stack.enter_context(_start_warm_kernels(loaded, sandbox, cache, workers))
        runner = NotebookRunner(cell_timeout_s=cell_timeout or limits.cell_timeout_s,
                                notebook_timeout_s=notebook_timeout or limits.notebook_timeout_s, cache_dir=cache,
                                sandbox=sandbox, warm=warm, 
                                cpu_fallback=cpu_fallback and all(gpu is None for gpu in workers.gpus),
                                torch_threads=max(1, len(os.sched_getaffinity(0)) // workers.count),
                                gpu_memory_fraction=round(0.95 / per_gpu, 3) if gpus and per_gpu > 1 else None)
        with console.status("running the reference solution (cached after the first time)…"):
            try:
                # The reference runs alone, before the batch: all cores for its torch.
                alone = dataclasses.replace(runner, torch_threads=None)
                reference = reference_run(loaded, alone, cache)
                grader = Grader(loaded, runner, reference.evidence, reference.notebook)
            except RubricError as err:
                raise _fail(str(err)) from None
        sources = GradingSources(rubric=str(rubric.resolve()), submissions=str(submissions.resolve()),
                                 confinement=runner.confinement, cpu_fallback=runner.cpu_fallback)
        if on_slurm:
            plan = RunPlan(rubric=str(rubric.resolve()), rubric_hash=loaded.hash, submissions=str(submissions.resolve()),
                           roster=str(roster.resolve()) if roster else None,
                           keys=[submission.key for submission in found], cache_dir=str(cache.resolve()),
                           kernels=KernelSettings(
                               sandboxed=sandbox is not None, cpu_fallback=cpu_fallback,
                               cell_timeout_s=runner.cell_timeout_s, notebook_timeout_s=runner.notebook_timeout_s,
                               memory_mb=memory_mb, processes=max_processes or limits.max_processes,
                               file_size_mb=max_file or limits.max_file_mb, tmp_mb=disk or limits.disk_mb))
            options = SlurmOptions(partition=partition, account=account, time=task_time, memory=task_memory,
                                   gres=gres, max_running=max_tasks, extra=tuple(sbatch_flag or ()))

            def batch(book: Gradebook, on_done) -> BatchOutcome:
                todo = []
                for submission in found:
                    if not force and book.is_current(submission.key, submission.content_hash, loaded.hash,
                                                     confinement=grader.confinement, identity=submission.identity()):
                        on_done(submission, None)
                    else:
                        todo.append(submission)
                try:
                    outcome = grade_on_slurm(
                        todo, grader, reference, plan, book, out, options, limits.retries, poll_s=poll,
                        on_done=on_done, on_submitted=lambda job, count: console.print(
                            f"submitted Slurm array {job}: {count} task(s)", highlight=False))
                except SlurmError as err:
                    raise _fail(str(err)) from None
                outcome.skipped = len(found) - len(todo)
                return outcome
            interrupted = "the Slurm arrays were cancelled (scancel)"
        else:
            def batch(book: Gradebook, on_done) -> BatchOutcome:
                return grade_submissions(found, grader, book, out, force=force, on_done=on_done, workers=workers)
            interrupted = "the running kernels were stopped"
        _grade_into_gradebook(found, batch, interrupted, out, gradebook, rubric_summary(loaded, assets), sources,
                              quiet, roster)


def _earlier_roster(out: Path, gradebook: Path | None) -> Path | None:
    """The roster an earlier run of this gradebook was given: it keeps keying the submissions it matched."""
    path = gradebook or out / GRADEBOOK_FILE
    if not path.is_file():
        return None
    with Gradebook(path) as book:
        roster = book.roster_path()
    if roster is not None and not roster.is_file():
        raise _fail(f"{path} was graded with the roster {roster}, which is not there any more: give --roster with "
                    "where it is now (it says whose each submission is)")
    return roster


def _confinement(confine: str | None, no_sandbox: bool) -> Confinement:
    if confine is not None and confine not in CONFINEMENTS:
        raise _fail(f"--confine {confine}: expected {', '.join(CONFINEMENTS)}")
    if no_sandbox and confine not in (None, "none"):
        raise _fail(f"--no-sandbox and --confine {confine}: --no-sandbox is --confine none; give one of them")
    return "none" if no_sandbox else confine or "sandbox"


def _cache_option(cache_dir: Path | None) -> str:
    """What a command suggested to the user adds to reach the same cache."""
    return "" if cache_dir is None else f" --cache-dir {cache_dir}"


def _parse_gpus(gpus: str | None) -> tuple[int, ...]:
    if gpus is None:
        return ()
    try:
        parsed = tuple(int(part) for part in gpus.split(","))
    except ValueError:
        raise _fail(f"--gpus {gpus}: expected GPU indices separated by commas, e.g. 0,1") from None
    if len(set(parsed)) != len(parsed) or min(parsed) < 0:
        raise _fail(f"--gpus {gpus}: each GPU once, as an index from 0")
    return parsed


def _plan_workers(jobs: str, gpus: tuple[int, ...], per_gpu: int, memory_mb: int) -> Workers:
    if gpus:
        if jobs != "auto":
            raise _fail("--jobs and --gpus: with GPUs the kernels at once are --per-gpu × the number of GPUs")
        workers = Workers.plan(0, gpus, per_gpu)
        console.print(f"{workers.count} kernel(s) at a time: {per_gpu} on each of GPU {', '.join(map(str, gpus))}",
                      highlight=False)
        return workers
    if jobs == "auto":
        count, why = auto_jobs(memory_mb)
        console.print(f"{count} kernel(s) at a time (auto: {why}; set --jobs to change)", highlight=False)
        return Workers.plan(count)
    if not jobs.isdigit() or int(jobs) < 1:
        raise _fail(f"--jobs {jobs}: expected a number from 1, or auto")
    return Workers.plan(int(jobs))


@contextlib.contextmanager
def _start_warm_kernels(loaded: LoadedRubric, sandbox: SandboxHost | None, cache: Path,
                        workers: Workers) -> Iterator[WarmKernels]:
    preload = loaded.spec.execution.preload
    if preload is None:
        preload = imports_of(loaded.solution_path)
    env = sandbox.base_env() if sandbox else unsandboxed_base_env(Path(sys.executable).parent, cache)
    with console.status(Text(f"importing {', '.join(preload) or 'the kernel'} once, for warm kernels…")):
        try:
            warm = WarmKernels.start(sys.executable, preload, env, log=cache / "warm-kernels.log",
                                     wrapper=sandbox.server_wrapper() if sandbox else [])
        except WarmStartError as err:
            raise _fail(f"{err}\nTo start every kernel cold instead: --cold") from None
    with warm:
        for module, why in warm.failed.items():
            console.print(f"[yellow]warning:[/] {escape(module)} could not be imported ahead ({escape(why)}); "
                          "kernels import it themselves", highlight=False, markup=True)
        if warm.cuda_initialised and any(gpu is not None for gpu in workers.gpus):
            raise _fail(f"importing {', '.join(preload)} initialised CUDA, which a forked kernel cannot use. Set "
                        "`execution: preload:` in the rubric to modules that do not, or grade with --cold")
        console.print(f"warm kernels: {', '.join(preload) or 'ipykernel'} imported once in {warm.preload_seconds:.1f} s",
                      highlight=False)
        yield warm


def _grade_into_gradebook(found: list[Submission], batch: Callable[[Gradebook, Callable], BatchOutcome],
                          interrupted: str, out: Path, gradebook: Path | None, summary: RubricSummary,
                          sources: GradingSources, quiet: bool, roster: Path | None) -> None:
    """Runs `batch` (local workers or Slurm) into the gradebook with a progress bar, then writes every output."""
    count = len(found)
    with _open_gradebook(out, gradebook, must_exist=False) as book:
        try:
            book.bind_rubric(summary)
        except GradebookError as err:
            raise _fail(f"{err}; grade into another --out folder or pass another --gradebook") from None
        book.bind_sources(sources)
        if roster is not None:
            book.bind_roster(roster)
        moves = follow_new_keys(out, book, found)
        if moves:
            console.print(f"{len(moves)} submission(s) graded before under another key, graded again under their "
                          f"new one (manual scores kept): {', '.join(f'{old} → {new}' for old, new in moves.items())}",
                          highlight=False)
        with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                      TimeRemainingColumn(), console=console, disable=quiet) as progress:
            task = progress.add_task("grading", total=count, rate="")
            counts = {"errors": 0, "flagged": 0, "graded": 0}
            started = monotonic()

            def on_done(submission, result) -> None:
                if result is not None:
                    counts["errors"] += result.status == "error"
                    counts["flagged"] += bool(result.flags)
                    counts["graded"] += 1
                per_minute = counts["graded"] / max(monotonic() - started, 1e-9) * 60
                progress.update(task, advance=1, rate=f"{per_minute:.1f}/min", description=(
                    f"grading · {counts['errors']} error(s) · {counts['flagged']} flagged · last: {submission.path.name}"))

            try:
                outcome = batch(book, on_done)
            except KeyboardInterrupt:
                # Every submission finished so far is stored.
                progress.stop()
                write_outputs(out, book)
                console.print(f"[bold]interrupted[/]: {interrupted}; {len(book.students())} submission(s) are in "
                              f"{escape(str(book.path))}. Run the same command again to resume: submissions already "
                              "graded from the same files are skipped.", highlight=False, markup=True)
                raise typer.Exit(code=130) from None
        results = write_outputs(out, book)
        roster_file = book.roster_path()
    console.print(f"graded {outcome.graded}, unchanged {outcome.skipped}, errors {outcome.errors}, "
                  f"flagged {len(outcome.flagged)} · {out / RESULTS_FILE} · {out / 'index.html'}", highlight=False)
    if roster_file is not None:
        _print_roster_match(roster_file, results)
    _print_needs_attention(results)
    pending = sum(item.status == "manual" for result in results for item in result.items)
    if pending:
        console.print(f"{pending} item(s) wait for a TA: `grader review --ta NAME --out {out}` (in the browser) or "
                      f"`grader set STUDENT ITEM POINTS --by NAME --out {out}`", highlight=False)


def _print_roster_match(roster: Path, results: list[SubmissionResult]) -> None:
    """Who on the roster has no submission, and which submissions are no one's: never guessed."""
    match = match_results(read_roster(roster), results)
    console.print(f"roster {roster}: {len(match.matched)} matched, {len(match.missing)} without a submission, "
                  f"{len(match.unmatched)} submission(s) matching no one", highlight=False)
    for entry in match.missing:
        console.print(f"  no submission: {entry.name}" + (f" ({entry.student_id})" if entry.student_id else "")
                      + f", line {entry.row}: exported without a score", highlight=False)
    for key, why in match.unmatched.items():
        console.print(f"  [yellow]matches no one:[/] {escape(key)}: {escape(why)}; not exported", highlight=False,
                      markup=True)


def _print_needs_attention(results: list[SubmissionResult]) -> None:
    """Submissions the grader refused or failed on: a person looks before any grade goes to the LMS."""
    attention = {result.student: why for result in results if (why := needs_attention(result))}
    if not attention:
        return
    console.print(f"[yellow]needs attention[/] ({len(attention)}): exported without a score, so the LMS keeps what "
                  "it has (`grader export --refused-zero` gives a refused one 0 where it has none)", highlight=False,
                  markup=True)
    for key, why in attention.items():
        console.print(f"  {key}: {why}", highlight=False)


@app.command()
def report(out: RunOutOption = None, gradebook: GradebookOption = None) -> None:
    """Re-render results.json and the HTML reports from the gradebook."""
    with _open_gradebook(out, gradebook, must_exist=True) as book:
        results = write_outputs(out, book)
    console.print(f"{len(results)} report(s) · {out / 'index.html'}", highlight=False)


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = "csv",
    out: RunOutOption = None,
    gradebook: GradebookOption = None,
    to: Annotated[Optional[Path], typer.Option("--to", help="File to write (a folder for gradescope) "
                                                              "\\[default: OUT/<a name for the format>].")] = None,
    roster: Annotated[Optional[Path], typer.Option(
        "--roster", help="canvas: the course's gradebook export, written back with the exam's column filled; "
                         "moodle: the assignment's grading worksheet, written back with Grade and Feedback comments "
                         "filled, or the participants export; or a plain id,name,email,section CSV "
                         "\\[default: the roster given to grade].")] = None,
    column: Annotated[Optional[str], typer.Option(
        "--column", help="canvas: the exam's column, e.g. 'Midterm (12345)' \\[default: the export's only "
                         "assignment column; without an export, the rubric's title].")] = None,
    key: Annotated[str, typer.Option("--key", help="moodle's grade CSV: match students by idnumber or email (a "
                                                   "grading worksheet matches by participant id).")] = "idnumber",
    partial: Annotated[bool, typer.Option("--partial", help="Export totals of submissions whose manual items are "
                                                            "not graded yet (otherwise left empty).")] = False,
    missing_zero: Annotated[bool, typer.Option("--missing-zero", help="Students on the roster without a "
                                                                      "submission get 0 where the LMS has no grade "
                                                                      "(otherwise left as they are).")] = False,
    refused_zero: Annotated[bool, typer.Option(
        "--refused-zero", help="Submissions the grader refused (not a notebook, a refused zip, a notebook it "
                               "cannot read) get 0 where the LMS has no grade (otherwise left as they are and "
                               "listed under needs attention).")] = False,
    bom: Annotated[bool, typer.Option("--bom", help="Start CSV files with a byte-order mark (for Excel); an LMS's "
                                                    "own file keeps the one it has.")] = False,
    feedback_zip: Annotated[Optional[Path], typer.Option(
        "--feedback-zip", help="moodle: also write the students' feedback pages as a zip for Moodle's "
                               "'upload multiple feedback files in a zip'.")] = None,
) -> None:
    """Export the gradebook (manual scores and late deductions applied) for spreadsheets and LMSs."""
    if format not in FORMATS:
        raise _fail(f"unknown format {format!r}; choose one of: {', '.join(FORMATS)}")
    if key not in ("idnumber", "email"):
        raise _fail(f"--key {key}: expected idnumber or email")
    with _open_gradebook(out, gradebook, must_exist=True) as book:
        options = ExportOptions(roster=roster or book.roster_path(), column=column, moodle_key=key, bom=bom,
                                choices=ExportChoices(partial=partial, missing_zero=missing_zero,
                                                      refused_zero=refused_zero),
                                feedback_zip=feedback_zip)
        target = to or out / DEFAULT_NAMES[format]
        try:
            lines = export_as(format, target, book.rubric(), book.results(), options)
        except (RosterError, ExportError) as err:
            raise _fail(str(err)) from None
    for line in lines:
        console.print(line, highlight=False)


@app.command()
def feedback(
    out: RunOutOption = None,
    gradebook: GradebookOption = None,
    to: Annotated[Optional[Path], typer.Option("--to", help="Folder for the pages \\[default: OUT/feedback].")] = None,
) -> None:
    """Write one feedback page per student, safe to hand out.

    Their items, points and messages; for hidden items no expected values, keys, rubric internals or
    reference code."""
    with _open_gradebook(out, gradebook, must_exist=True) as book:
        pages = write_feedback(to or out / "feedback", book.rubric(), book.results())
    console.print(f"wrote {len(pages)} feedback page(s) in {to or out / 'feedback'}", highlight=False)


# What the gradebook's `GradebookError.field` is called on this command line.
SET_OPTIONS = {"reason": "--reason TEXT (staff only; --comment TEXT is what the student reads)", "by": "--by NAME"}


@app.command("set")
def set_score(
    student: Annotated[str, typer.Argument(help="Student key as in the reports (usually the student id).")],
    item: Annotated[str, typer.Argument(help="Item id, e.g. 4.2.")],
    points: Annotated[float, typer.Argument(help="Points to give.")],
    by: Annotated[str, typer.Option("--by", help="Who grades (stored with the score).")],
    comment: Annotated[str, typer.Option("--comment", help="For the student: shown on their feedback page, in "
                                                           "Gradescope and the LMS's feedback.")] = "",
    reason: Annotated[str, typer.Option("--reason", help="For staff only (TA reports, the history, results.json); "
                                                         "required to override an automatic score.")] = "",
    out: RunOutOption = None,
    gradebook: GradebookOption = None,
) -> None:
    """Record a manual score, or override an automatic one (with a reason)."""
    with _open_gradebook(out, gradebook, must_exist=True) as book:
        try:
            score = book.set_score(student, item, points, comment, by, reason=reason)
        except GradebookError as err:
            option = SET_OPTIONS.get(err.field or "")
            raise _fail(f"{err}: give it with {option}" if option else str(err)) from None
        write_outputs(out, book)
    console.print(f"{student} {item}: {score.points:g} points ({score.kind}) by {score.by}", highlight=False)


app.command("release")(selfcheck_cli.release)
app.command("check")(selfcheck_cli.check)
app.command("assign")(author_cli.assign_command)
app.command("review")(review_cli.review)


@app.command("slurm-task", hidden=True)
def slurm_task(
    run_dir: Annotated[Path, typer.Argument(help="The run folder the coordinator wrote.")],
    index: Annotated[Optional[int], typer.Option(help="Which submission \\[default: $SLURM_ARRAY_TASK_ID].")] = None,
) -> None:
    """One Slurm array task: grade one submission of a run (started by `grade --executor slurm`)."""
    from grader.slurm.task import TaskError, run_task

    if index is None:
        task_id = os.environ.get("SLURM_ARRAY_TASK_ID", "")
        if not task_id.isdigit():
            raise _fail("no --index and no SLURM_ARRAY_TASK_ID: this command runs as a Slurm array task")
        index = int(task_id)
    try:
        written = run_task(run_dir, index)
    except TaskError as err:
        raise _fail(str(err)) from None
    console.print(f"task {index}: {written}", highlight=False)
app.add_typer(gradescope_app, name="gradescope", help="Grade inside Gradescope: build the autograder zip, turn a "
                                                      "graded submission into Gradescope's results.json.")


if __name__ == "__main__":
    app()
