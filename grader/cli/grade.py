"""`grader grade`: execute and grade a folder of submissions into a gradebook, on this machine or on Slurm."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from grader.assets.needs import missing_assets
from grader.batch import (BatchOutcome, Workers, auto_jobs, follow_new_keys, grade_submissions, needs_grading,
                          rubric_summary, write_outputs)
from grader.cli.common import GradebookOption, cache_option, fail, open_gradebook
from grader.gradebook import Gradebook, GradebookError, GradingSources
from grader.lms.roster import RosterError, read_roster
from grader.lms.rows import match_results, needs_attention
from grader.paths import RESULTS_FILE, default_cache, gradebook_path
from grader.results import Confinement, SubmissionResult
from grader.rubric import LoadedRubric, RubricError, load_rubric
from grader.run.sandbox import SandboxUnavailable
from grader.run.warm import WarmKernels, WarmStartError
from grader.run.workspace import PREFIX as WORKSPACE_PREFIX
from grader.run.workspace import sweep_workspaces
from grader.service import (GradingSession, Host, KernelOptions, confine, notebook_runner, open_session,
                            start_warm_kernels, warm_preload)
from grader.slurm import cluster as slurm_cluster
from grader.slurm.cluster import SlurmError, SlurmOptions
from grader.slurm.coordinator import grade_on_slurm
from grader.slurm.plan import RunPlan
from grader.submission import UNZIP_PREFIX, Submission, discovered, nothing_to_grade
from grader.unzip import ZipRefused

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

SubmissionsArgument = Annotated[Path, typer.Argument(
    help="Folder of submissions (notebooks, folders holding one, zips of either; or a Canvas/Moodle download), or "
         "that download's zip.")]
RubricOption = Annotated[Path, typer.Option("--rubric", help="Rubric folder (rubric.yaml, template, solution).")]
OutOption = Annotated[Path, typer.Option("--out", help="Output folder of a grading run.")]
JobsOption = Annotated[str, typer.Option(help="Kernels at once: a number, or auto (cores, and memory at the kernel's "
                                              "limit) \\[default: auto].")]
GpusOption = Annotated[Optional[str], typer.Option(help="NVIDIA GPUs for the kernels, e.g. 0,1; each kernel gets one "
                                                        "\\[default: none, CPU only].")]
PerGpuOption = Annotated[int, typer.Option(help="Kernels sharing one GPU at once (with --gpus); each may allocate "
                                                "1/K of its memory.", min=1)]
ColdOption = Annotated[bool, typer.Option("--cold", help="Start every kernel as a new interpreter instead of forking "
                                                         "it from one that has imported the exam's libraries.")]
CellTimeoutOption = Annotated[Optional[float], typer.Option(help="Seconds per cell \\[default: the rubric's].")]
NotebookTimeoutOption = Annotated[Optional[float], typer.Option(help="Seconds per notebook \\[default: the rubric's].")]
MemoryOption = Annotated[Optional[int], typer.Option(help="MB of memory per kernel \\[default: the rubric's].")]
MaxProcessesOption = Annotated[Optional[int], typer.Option(
    help="Processes and threads per kernel \\[default: the rubric's].")]
MaxFileOption = Annotated[Optional[int], typer.Option(
    help="MB of the largest file a kernel may write \\[default: the rubric's].")]
DiskOption = Annotated[Optional[int], typer.Option(
    help="MB of each of a kernel's /tmp and working folder \\[default: the rubric's].")]
NoSandboxOption = Annotated[bool, typer.Option("--no-sandbox", help="Run kernels unconfined, as you (--confine none). "
                                                                    "Only on a machine you can throw away.")]
ConfineOption = Annotated[Optional[str], typer.Option(
    "--confine", help="How kernels are confined: sandbox (bubblewrap: own uid, namespaces, cgroups), uid (own "
                      "unprivileged uid without namespaces, for a container that refuses them; the rubric, OUT "
                      "and the submissions must be root-only) or none \\[default: sandbox].",
    show_default=False)]
ForceOption = Annotated[bool, typer.Option("--force", help="Regrade submissions already graded from the same files.")]
CpuFallbackOption = Annotated[bool, typer.Option(
    "--cpu-fallback", help="Without a GPU, run the notebooks' .cuda() and .to('cuda') on the CPU instead of "
                           "failing as they would for the student; each submission that needed it is flagged.")]
RealSleepsOption = Annotated[bool, typer.Option(
    "--real-sleeps", help="Let the notebooks' time.sleep calls wait. By default they advance a virtual clock "
                          "(time.time moves on with it): crawl code's sleeps between requests cost no grading time.")]
CacheDirOption = Annotated[Optional[Path], typer.Option(
    help="Cache for reference evidence and assets \\[default: $GRADER_CACHE or ~/.cache/grader].")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
RosterOption = Annotated[Optional[Path], typer.Option(
    "--roster", help="The course's roster: a Canvas gradebook export, a Moodle grading worksheet or "
                     "participants export, or an id,name,email,section CSV. A submission it matches is keyed by "
                     "the roster's student id; the run lists who has no submission and which submissions match "
                     "no one \\[default: the roster an earlier run of this gradebook was given].")]
ExecutorOption = Annotated[str, typer.Option(help="local: kernels on this machine; slurm: one Slurm array task per "
                                                  "submission (OUT must be on a filesystem the nodes share).")]
PartitionOption = Annotated[Optional[str], typer.Option(help="slurm: the partition.")]
AccountOption = Annotated[Optional[str], typer.Option(help="slurm: the account.")]
TaskTimeOption = Annotated[Optional[str], typer.Option(help="slurm: time limit per task, e.g. 00:30:00.")]
TaskMemoryOption = Annotated[Optional[str], typer.Option(help="slurm: memory per task, e.g. 8G.")]
GresOption = Annotated[Optional[str], typer.Option(help="slurm: generic resources per task, e.g. gpu:1 (each "
                                                        "kernel then gets the GPU Slurm gives its task).")]
MaxTasksOption = Annotated[Optional[int], typer.Option(help="slurm: tasks running at once.", min=1)]
SbatchFlagOption = Annotated[Optional[list[str]], typer.Option(help="slurm: another sbatch flag, as written, e.g. "
                                                                    "--qos=short; repeat for more.")]
PollOption = Annotated[float, typer.Option(help="slurm: seconds between looks at the queue.", min=0.1)]

Batch = Callable[[Gradebook, Callable[[Submission, Optional[SubmissionResult]], None]], BatchOutcome]


@dataclass(frozen=True)
class _Run:
    """What one `grade` grades (its submissions, found and checked) and where it writes."""

    rubric_dir: Path
    rubric: LoadedRubric
    submissions: Path
    found: list[Submission]
    out: Path
    gradebook: Path | None
    roster: Path | None
    cache: Path
    assets: str  # the asset cache's state, as the reports show it


def grade(
    submissions: SubmissionsArgument, rubric: RubricOption, out: OutOption, gradebook: GradebookOption = None,
    jobs: JobsOption = "auto", gpus: GpusOption = None, per_gpu: PerGpuOption = 1, cold: ColdOption = False,
    cell_timeout: CellTimeoutOption = None, notebook_timeout: NotebookTimeoutOption = None,
    memory: MemoryOption = None, max_processes: MaxProcessesOption = None, max_file: MaxFileOption = None,
    disk: DiskOption = None, no_sandbox: NoSandboxOption = False, confine: ConfineOption = None,
    force: ForceOption = False, cpu_fallback: CpuFallbackOption = False, cache_dir: CacheDirOption = None,
    quiet: QuietOption = False, roster: RosterOption = None, executor: ExecutorOption = "local",
    partition: PartitionOption = None, account: AccountOption = None, task_time: TaskTimeOption = None,
    task_memory: TaskMemoryOption = None, gres: GresOption = None, max_tasks: MaxTasksOption = None,
    sbatch_flag: SbatchFlagOption = None, poll: PollOption = 5.0, real_sleeps: RealSleepsOption = False,
) -> None:
    """Execute and grade every submission, then write results.json and HTML reports."""
    on_slurm = _on_slurm(executor)
    kernels = KernelOptions(confinement=_confinement(confine, no_sandbox), cell_timeout_s=cell_timeout,
                            notebook_timeout_s=notebook_timeout, memory_mb=memory, processes=max_processes,
                            file_size_mb=max_file, tmp_mb=disk, cpu_fallback=cpu_fallback,
                            virtual_clock=not real_sleeps, private=(out, gradebook_path(out, gradebook).parent, submissions))
    if on_slurm:
        _refuse_for_slurm(kernels.confinement, jobs, gpus, per_gpu)
    with contextlib.ExitStack() as stack:
        run = _open_run(stack, submissions, rubric, out, gradebook, roster, cache_dir)
        # With Slurm only the reference runs here, before the array.
        workers = Workers.plan(1) if on_slurm else _plan_workers(
            jobs, _parse_gpus(gpus), per_gpu, kernels.limits(run.rubric.spec.execution).memory_mb)
        kernels = _placed(kernels, workers, per_gpu)
        warm = not (cold or on_slurm) and _anything_to_grade(run, kernels.confinement, force)
        session = _grading_session(stack, run, kernels, workers, warm)
        if on_slurm:
            slurm = SlurmOptions(partition=partition, account=account, time=task_time, memory=task_memory,
                                 gres=gres, max_running=max_tasks, extra=tuple(sbatch_flag or ()))
            batch, interrupted = (_slurm_batch(run, session, kernels, slurm, force, poll),
                                  "the Slurm arrays were cancelled (scancel)")
        else:
            batch, interrupted = _local_batch(run, session, workers, force), "the running kernels were stopped"
        _grade_into_gradebook(run, batch, interrupted, GradingSources(
            rubric=str(rubric.resolve()), submissions=str(submissions.resolve()),
            confinement=session.runner.confinement, cpu_fallback=session.runner.cpu_fallback), quiet)


def _on_slurm(executor: str) -> bool:
    if executor not in ("local", "slurm"):
        raise fail(f"--executor {executor}: expected local or slurm")
    return executor == "slurm"


def _confinement(confine: str | None, no_sandbox: bool) -> Confinement:
    if confine is not None and confine not in CONFINEMENTS:
        raise fail(f"--confine {confine}: expected {', '.join(CONFINEMENTS)}")
    if no_sandbox and confine not in (None, "none"):
        raise fail(f"--no-sandbox and --confine {confine}: --no-sandbox is --confine none; give one of them")
    return "none" if no_sandbox else confine or "sandbox"


def _refuse_for_slurm(confinement: Confinement, jobs: str, gpus: str | None, per_gpu: int) -> None:
    if confinement == "uid":
        raise fail("--confine uid is for a container that refuses the sandbox's namespaces (Gradescope's); Slurm "
                   "tasks run sandboxed, or with --no-sandbox")
    if why := slurm_cluster.available():
        raise fail(f"--executor slurm: {why}")
    if gpus is not None or jobs != "auto" or per_gpu != 1:
        raise fail("--jobs, --gpus and --per-gpu place kernels on this machine; with --executor slurm, Slurm "
                   "places them: use --gres gpu:1 and --max-tasks")


def _open_run(stack: contextlib.ExitStack, submissions: Path, rubric: Path, out: Path, gradebook: Path | None,
              roster: Path | None, cache_dir: Path | None) -> _Run:
    """The rubric, the roster and the submissions, read and checked before any kernel starts or anything is
    written; a whole download given as one zip is unpacked privately until the end of `stack`."""
    sweep_workspaces((WORKSPACE_PREFIX, UNZIP_PREFIX))
    roster = roster or _earlier_roster(out, gradebook)
    try:
        # A bad roster stops the run before anything is graded. It says whose each submission is, and so its key.
        course = read_roster(roster) if roster is not None else None
        loaded = load_rubric(rubric)
        found = stack.enter_context(discovered(submissions, loaded.spec.submission.notebook, course))
    except (RubricError, RosterError, FileNotFoundError, ZipRefused) as err:
        raise fail(str(err)) from None
    cache = cache_dir or default_cache()
    if why := nothing_to_grade(submissions, found) or missing_assets(loaded, cache, cache_option(cache_dir)):
        raise fail(why)
    return _Run(rubric_dir=rubric, rubric=loaded, submissions=submissions, found=found, out=out, gradebook=gradebook,
                roster=roster, cache=cache, assets=describe_assets(assets_root(cache)))


def _earlier_roster(out: Path, gradebook: Path | None) -> Path | None:
    """The roster an earlier run of this gradebook was given: it keeps keying the submissions it matched."""
    path = gradebook_path(out, gradebook)
    if not path.is_file():
        return None
    with Gradebook(path) as book:
        roster = book.roster_path()
    if roster is not None and not roster.is_file():
        raise fail(f"{path} was graded with the roster {roster}, which is not there any more: give --roster with "
                   "where it is now (it says whose each submission is)")
    return roster


def _anything_to_grade(run: _Run, confinement: Confinement, force: bool) -> bool:
    """Whether a kernel will run: a re-run that finds every submission graded from the same files starts no warm
    kernels (their imports take seconds) and only writes the outputs again."""
    path = gradebook_path(run.out, run.gradebook)
    if force or not path.is_file():
        return True
    with Gradebook(path) as book:
        todo, _ = needs_grading(run.found, book, run.rubric.hash, confinement)
    return bool(todo)


def _parse_gpus(gpus: str | None) -> tuple[int, ...]:
    if gpus is None:
        return ()
    try:
        parsed = tuple(int(part) for part in gpus.split(","))
    except ValueError:
        raise fail(f"--gpus {gpus}: expected GPU indices separated by commas, e.g. 0,1") from None
    if len(set(parsed)) != len(parsed) or min(parsed) < 0:
        raise fail(f"--gpus {gpus}: each GPU once, as an index from 0")
    return parsed


def _plan_workers(jobs: str, gpus: tuple[int, ...], per_gpu: int, memory_mb: int) -> Workers:
    if gpus:
        if jobs != "auto":
            raise fail("--jobs and --gpus: with GPUs the kernels at once are --per-gpu × the number of GPUs")
        workers = Workers.plan(0, gpus, per_gpu)
        console.print(f"{workers.count} kernel(s) at a time: {per_gpu} on each of GPU {', '.join(map(str, gpus))}",
                      highlight=False)
        return workers
    if jobs == "auto":
        count, why = auto_jobs(memory_mb)
        console.print(f"{count} kernel(s) at a time (auto: {why}; set --jobs to change)", highlight=False)
        return Workers.plan(count)
    if not jobs.isdigit() or int(jobs) < 1:
        raise fail(f"--jobs {jobs}: expected a number from 1, or auto")
    return Workers.plan(int(jobs))


def _placed(kernels: KernelOptions, workers: Workers, per_gpu: int) -> KernelOptions:
    """The kernels spread over the workers: the GPUs they get, torch's threads each, each one's share of a GPU."""
    on_gpus = tuple(gpu for gpu in workers.gpus if gpu is not None)
    return dataclasses.replace(kernels, gpus=on_gpus, cpu_fallback=kernels.cpu_fallback and not on_gpus,
                               torch_threads=max(1, len(os.sched_getaffinity(0)) // workers.count),
                               gpu_memory_fraction=round(0.95 / per_gpu, 3) if on_gpus and per_gpu > 1 else None)


def _grading_session(stack: contextlib.ExitStack, run: _Run, kernels: KernelOptions, workers: Workers,
                     warm: bool) -> GradingSession:
    """Confined kernels (warm ones until the end of `stack`), the reference's run and the grader."""
    host = _confined(run, kernels)
    console.print(f"rubric [bold]{escape(run.rubric.id)}[/] ({run.rubric.hash[:19]}…) · {len(run.found)} submission(s) "
                  f"in {escape(str(run.submissions))}", highlight=False, markup=True)
    console.print(run.assets, highlight=False)
    warm_kernels = stack.enter_context(_warm_kernels(run.rubric, host, run.cache, workers)) if warm else None
    runner = notebook_runner(run.rubric.spec.execution, kernels, run.cache, host, warm_kernels)
    with console.status("running the reference solution (cached after the first time)…"):
        try:
            return open_session(run.rubric, runner, run.cache)
        except RubricError as err:
            raise fail(str(err)) from None


def _confined(run: _Run, kernels: KernelOptions) -> Host:
    if kernels.confinement == "none":
        console.print(NO_SANDBOX_WARNING, highlight=False, markup=True)
    elif kernels.confinement == "uid":
        console.print(UID_ONLY_WARNING, highlight=False, markup=True)
        if not run.out.exists():
            run.out.mkdir(parents=True, mode=0o700)  # its gradebook and reports are no kernel's to read
    try:
        return confine(run.rubric, kernels, run.cache)
    except SandboxUnavailable as err:
        if kernels.confinement == "uid":
            raise fail(f"cannot confine the students' kernels to their own uid: {err}") from None
        raise fail(f"cannot sandbox the students' kernels: {err}") from None


@contextlib.contextmanager
def _warm_kernels(loaded: LoadedRubric, host: Host, cache: Path, workers: Workers) -> Iterator[WarmKernels]:
    preload = warm_preload(loaded)
    with console.status(Text(f"importing {', '.join(preload) or 'the kernel'} once, for warm kernels…")):
        try:
            warm = start_warm_kernels(preload, host, cache)
        except WarmStartError as err:
            raise fail(f"{err}\nTo start every kernel cold instead: --cold") from None
    with warm:
        for module, why in warm.failed.items():
            console.print(f"[yellow]warning:[/] {escape(module)} could not be imported ahead ({escape(why)}); "
                          "kernels import it themselves", highlight=False, markup=True)
        if warm.cuda_initialised and any(gpu is not None for gpu in workers.gpus):
            raise fail(f"importing {', '.join(preload)} initialised CUDA, which a forked kernel cannot use. Set "
                       "`execution: preload:` in the rubric to modules that do not, or grade with --cold")
        console.print(f"warm kernels: {', '.join(preload) or 'ipykernel'} imported once in {warm.preload_seconds:.1f} s",
                      highlight=False)
        yield warm


def _local_batch(run: _Run, session: GradingSession, workers: Workers, force: bool) -> Batch:
    def batch(book: Gradebook, on_done) -> BatchOutcome:
        return grade_submissions(run.found, session.grader, book, run.out, force=force, on_done=on_done,
                                 workers=workers)
    return batch


def _slurm_batch(run: _Run, session: GradingSession, kernels: KernelOptions, options: SlurmOptions, force: bool,
                 poll: float) -> Batch:
    """The batch as Slurm array tasks; each applies the kernel options of this run, Slurm gives it its GPU."""
    plan = RunPlan(rubric=str(run.rubric_dir.resolve()), rubric_hash=run.rubric.hash,
                   submissions=str(run.submissions.resolve()), roster=str(run.roster.resolve()) if run.roster else None,
                   keys=[submission.key for submission in run.found], cache_dir=str(run.cache.resolve()),
                   kernels=dataclasses.replace(kernels, private=(), torch_threads=None))

    def batch(book: Gradebook, on_done) -> BatchOutcome:
        try:
            return grade_on_slurm(
                run.found, session.grader, session.reference, plan, book, run.out, options,
                run.rubric.spec.execution.retries, force=force, poll_s=poll, on_done=on_done,
                on_submitted=lambda job, count: console.print(f"submitted Slurm array {job}: {count} task(s)",
                                                              highlight=False))
        except SlurmError as err:
            raise fail(str(err)) from None
    return batch


def _grade_into_gradebook(run: _Run, batch: Batch, interrupted: str, sources: GradingSources, quiet: bool) -> None:
    """Runs `batch` (local workers or Slurm) into the gradebook with a progress bar, then writes every output."""
    with open_gradebook(run.out, run.gradebook, must_exist=False) as book:
        _bind(book, run, sources)
        with _progress_bar(len(run.found), quiet) as (progress, on_done):
            try:
                outcome = batch(book, on_done)
            except KeyboardInterrupt:
                # Every submission finished so far is stored.
                progress.stop()
                write_outputs(run.out, book)
                console.print(f"[bold]interrupted[/]: {interrupted}; {len(book.students())} submission(s) are in "
                              f"{escape(str(book.path))}. Run the same command again to resume: submissions already "
                              "graded from the same files are skipped.", highlight=False, markup=True)
                raise typer.Exit(code=130) from None
        results = write_outputs(run.out, book)
        roster_file = book.roster_path()
    console.print(f"graded {outcome.graded}, unchanged {outcome.skipped}, errors {outcome.errors}, "
                  f"flagged {len(outcome.flagged)} · {run.out / RESULTS_FILE} · {run.out / 'index.html'}",
                  highlight=False)
    if roster_file is not None:
        _print_roster_match(roster_file, results)
    _print_needs_attention(results)
    pending = sum(item.status == "manual" for result in results for item in result.items)
    if pending:
        console.print(f"{pending} item(s) wait for a TA: `grader review --ta NAME --out {run.out}` (in the browser) "
                      f"or `grader set STUDENT ITEM POINTS --by NAME --out {run.out}`", highlight=False)


def _bind(book: Gradebook, run: _Run, sources: GradingSources) -> None:
    """The gradebook learns the rubric, the sources and the roster of this run, and follows submissions whose key
    the roster changed."""
    try:
        book.bind_rubric(rubric_summary(run.rubric, run.assets))
    except GradebookError as err:
        raise fail(f"{err}; grade into another --out folder or pass another --gradebook") from None
    book.bind_sources(sources)
    if run.roster is not None:
        book.bind_roster(run.roster)
    moves = follow_new_keys(run.out, book, run.found)
    if moves:
        console.print(f"{len(moves)} submission(s) graded before under another key, graded again under their "
                      f"new one (manual scores kept): {', '.join(f'{old} → {new}' for old, new in moves.items())}",
                      highlight=False)


@contextlib.contextmanager
def _progress_bar(count: int, quiet: bool) -> Iterator[tuple[Progress, Callable]]:
    """The bar, and what a batch calls as each submission is done (its result; None: unchanged, skipped)."""
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                  TimeRemainingColumn(), console=console, disable=quiet) as progress:
        task = progress.add_task("grading", total=count, rate="")
        counts = {"errors": 0, "flagged": 0, "graded": 0}
        started = monotonic()

        def on_done(submission: Submission, result: SubmissionResult | None) -> None:
            if result is not None:
                counts["errors"] += result.status == "error"
                counts["flagged"] += bool(result.flags)
                counts["graded"] += 1
            per_minute = counts["graded"] / max(monotonic() - started, 1e-9) * 60
            progress.update(task, advance=1, rate=f"{per_minute:.1f}/min", description=(
                f"grading · {counts['errors']} error(s) · {counts['flagged']} flagged · last: {submission.path.name}"))

        yield progress, on_done


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
