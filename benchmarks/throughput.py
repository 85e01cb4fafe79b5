"""Throughput (issue 4): how long a class's worth of midterm submissions takes to
grade, against the naive floor of just re-executing them, and against nbgrader.

    sudo .venv/bin/python benchmarks/throughput.py [--n 40] [--rounds 1] [--scaling 10,40,160]
        [--reports 500] [--skip a,b,c,d|nbgrader,scaling,reports,warm-up] [--work DIR] [--keep]
        [--markdown FILE] [--timeout SECONDS] [--cache-dir DIR]

A quick check of the script itself (a few minutes on 2 cores):

    sudo .venv/bin/python benchmarks/throughput.py --n 3 --scaling 3 --reports 20

From a clean clone it needs what `make test` sets up (.venv, bubblewrap, root), and for (d)
a package index to `pip install nbgrader` from, the first time.

It writes N submissions of the DL2022 midterm built from the template
(scripts/build_midterm.py), named `학생001(2022001).ipynb`…: Problems 2 and 3
answered in six variants in turn (correct; summed instead of mean loss; no
zero_grad; MSELoss(); no reshape; True/False written as True, T, true, 'O' or
참, some flipped or unanswered), Problem 1 left unanswered as in the template.
Then, in each round and in an order rotated from round to round, it runs

  (a) grader grade --jobs auto      (b) grader grade --jobs 1
  (c) each notebook executed in turn with plain nbclient: no probe, no sandbox,
      no grading; the floor of any grader that re-executes notebooks
  (d) nbgrader autograde, from a benchmark-only virtual environment that this
      script creates (benchmarks/.venv-nbgrader, `pip install nbgrader`)

each as a subprocess, and reports wall time, CPU time (user + sys of every
process of the run: getrusage(RUSAGE_CHILDREN), or where larger the CPU of each
process sampled from /proc: a process its parent never waits for escapes
getrusage) and peak memory (the largest sum of PSS over the run's process tree,
sampled every 0.25 s; kernels in their own pid namespaces are still
descendants in the host's /proc). From
the grader's own records (per submission: seconds, and seconds per cell) it
reports the grader's overhead per submission: its time minus the time the
student's cells took in the kernel.

Then: (a) for each N of --scaling (is the time linear in N?), and the time
`grader report` takes to render a gradebook of --reports results (copies of
graded results stored under new student keys through the gradebook API).

The grader uses its own cache: WORK/cache, which `grader assets synth` fills with the offline
stand-ins of the assets the midterm needs (resnet34), or --cache-dir, a grader cache that holds
them already; a warm-up grade, not timed, runs the reference solution into it (`--skip warm-up` leaves it
out where the cache holds the reference already: the test suite's smoke run).
Timings on shared machines are noisy; compare ratios of interleaved runs. The
last thing printed is a markdown section for benchmarks/RESULTS.md (also
written to --markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PYTHON = BIN / "python"
GRADER = BIN / "grader"
RUBRIC = ROOT / "rubrics" / "dl2022-midterm"
NBGRADER_VENV = ROOT / "benchmarks" / ".venv-nbgrader"
NBGRADER_SPEC = "nbgrader"  # what `pip install` is given
ASSIGNMENT = "midterm"  # nbgrader's assignment and notebook name
KERNEL_NAME = "grader-venv"  # the kernelspec nbgrader is pointed at: the grader's own .venv
CELL_TIMEOUT_S = 1800  # per cell, for (c) and (d): generous, nothing here should hit it
SAMPLE_S = 0.25

sys.path.insert(0, str(ROOT / "scripts"))
import build_midterm as midterm  # noqa: E402  (the exam's template and answer builders)

CONFIGS = {
    "a": "grader grade --jobs auto",
    "b": "grader grade --jobs 1",
    "c": "nbclient, sequential, no grading",
    "d": "nbgrader autograde",
}


# -- submissions -------------------------------------------------------------------------------------

def variants() -> list[tuple[str, dict[str, str]]]:
    """Problem 2/3 answers as the class writes them; Problem 1 stays unanswered."""
    correct = midterm.problem_2()
    return [
        ("correct", {**correct, **midterm.true_false("True", "False")}),
        ("sum loss", {**midterm.problem_2(loss="torch.sum((y-yhat)**2)"), **midterm.true_false("T", "F")}),
        ("no zero_grad", {**midterm.problem_2(zero_grad=False),
                          **midterm.true_false("true", "false", skip=("3.9", "3.10"))}),
        ("MSELoss, T/F as 'O'/'X'", {**midterm.problem_2(loss="torch.nn.MSELoss()(yhat, y)"),
                                     **midterm.true_false("'O'", "'X'")}),
        ("no reshape, T/F flipped", {**midterm.problem_2(reshape=False), **midterm.true_false("False", "True")}),
        ("correct, half the T/F unanswered", {**correct, **midterm.true_false(
            "참", "거짓", skip=("3.1", "3.2", "3.3", "3.4", "3.5"))}),
    ]


def student(index: int) -> tuple[str, str]:
    """(file stem, student id): `학생007(2022007)`."""
    student_id = f"{2022000 + index}"
    return f"학생{index:03d}({student_id})", student_id


def write_submissions(folder: Path, n: int) -> list[str]:
    """N notebooks `학생001(2022001).ipynb`…, variants in turn; returns the variant of each."""
    folder.mkdir(parents=True, exist_ok=True)
    template, kinds = midterm.template(), variants()
    written = []
    for index in range(1, n + 1):
        kind, answers = kinds[(index - 1) % len(kinds)]
        nbformat.write(midterm.fill(template, answers), folder / f"{student(index)[0]}.ipynb")
        written.append(kind)
    return written


def subset(pool: Path, folder: Path, n: int) -> Path:
    """The first n submissions of the pool, copied (the grader does not follow links)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(1, n + 1):
        name = f"{student(index)[0]}.ipynb"
        shutil.copyfile(pool / name, folder / name)
    return folder


# -- measuring ---------------------------------------------------------------------------------------

@dataclass
class Measurement:
    wall_s: float
    cpu_s: float  # user + sys of every reaped descendant (getrusage RUSAGE_CHILDREN)
    sampled_cpu_s: float  # the same from /proc, a lower bound; catches processes their parent never reaped
    peak_gb: float  # largest sum of PSS over the process tree
    processes: int  # distinct processes seen in the tree

    @property
    def cpu(self) -> float:
        return max(self.cpu_s, self.sampled_cpu_s)


class TreeSampler(threading.Thread):
    """Every SAMPLE_S: the process tree under `root` (found through /proc/*/stat, which also lists
    processes in other pid namespaces), the sum of their PSS, and each one's CPU ticks. A process seen
    once is followed until it exits, even if it is re-parented out of the tree."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.stopping = threading.Event()
        self.peak_kb = 0
        self.ticks: dict[tuple[int, int], int] = {}  # (pid, start time) -> utime + stime, the last seen

    def run(self) -> None:
        while True:
            self.sample()
            if self.stopping.wait(SAMPLE_S):
                return

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    def sample(self) -> None:
        stats: dict[int, tuple[int, int, int]] = {}  # pid -> (ppid, start time, ticks)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as file:
                    data = file.read()
            except OSError:
                continue
            fields = data[data.rindex(b")") + 2:].split()  # fields from 3 (state) on
            stats[int(entry.name)] = (int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12]))
        children: dict[int, list[int]] = defaultdict(list)
        for pid, (ppid, _, _) in stats.items():
            children[ppid].append(pid)
        tree, todo = set(), [self.root]
        todo += [pid for pid, start in self.ticks if pid in stats and stats[pid][1] == start]
        while todo:
            pid = todo.pop()
            if pid in tree or pid not in stats:
                continue
            tree.add(pid)
            todo += children.get(pid, [])
        total_kb = 0
        for pid in tree:
            self.ticks[(pid, stats[pid][1])] = stats[pid][2]
            total_kb += _pss_kb(pid)
        self.peak_kb = max(self.peak_kb, total_kb)


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as file:
            for line in file:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):  # the process ended between listing and reading
        pass
    return 0


class RunFailed(Exception):
    """A configuration did not do what it was timed for (exit status, results, executed cells)."""


def measure(command: list[str], log: Path, timeout_s: float, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> Measurement:
    """Run `command` to the end; its stdout and stderr go to `log`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        started = monotonic()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        sampler = TreeSampler(process.pid)
        sampler.start()
        try:
            rc = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            rc = None
        finally:
            wall = monotonic() - started
            sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        tail = log.read_text(errors="replace")[-3000:]
        why = f"ran past {timeout_s:.0f} s" if rc is None else f"exited with {rc}"
        raise RunFailed(f"{shlex.join(command)} {why}; the end of {log}:\n{tail}")
    tick = os.sysconf("SC_CLK_TCK")
    return Measurement(
        wall_s=wall,
        cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        sampled_cpu_s=sum(sampler.ticks.values()) / tick,
        peak_gb=sampler.peak_kb / 1024 ** 2,
        processes=len(sampler.ticks),
    )


# -- (a), (b): the grader ----------------------------------------------------------------------------

def grade_command(submissions: Path, out: Path, cache: Path, jobs: str) -> list[str]:
    return [str(GRADER), "grade", str(submissions), "--rubric", str(RUBRIC), "--out", str(out), "--quiet",
            "--force", "--cache-dir", str(cache), "--jobs", jobs]


def grader_times(out: Path, n: int) -> list[dict[str, float]]:
    """Seconds, and seconds in the student's cells, per submission; fails loudly unless all n were graded."""
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    results = document["submissions"]
    if len(results) != n:
        raise RunFailed(f"{out}/results.json holds {len(results)} submissions, not {n}")
    broken = [f"{r['student']}: {r.get('error')}" for r in results if r["status"] == "error"]
    if broken:
        raise RunFailed(f"the grader could not grade {len(broken)} submission(s): " + "; ".join(broken[:3]))
    if all("seconds" in r and "cells" in r for r in results):
        return [{"seconds": r["seconds"], "cells": sum(cell["seconds"] for cell in r["cells"])} for r in results]
    # results.json without timings: read them from the gradebook.
    from grader.gradebook import Gradebook

    with Gradebook(out / "gradebook.sqlite") as book:
        return [{"seconds": r.seconds, "cells": sum(cell.seconds for cell in r.cells)} for r in book.results()]


# -- (c): plain nbclient -----------------------------------------------------------------------------

def execute_plain(submissions: Path, out: Path) -> None:
    """Run as `throughput.py --execute-plain SUBMISSIONS OUT` in the grader's .venv: every notebook
    top to bottom in a fresh python3 kernel, one after the other, errors allowed; writes the executed
    copies and OUT/plain.json (seconds per notebook and in its cells)."""
    from nbclient import NotebookClient

    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for path in sorted(submissions.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        work = out / "work" / path.stem
        work.mkdir(parents=True)
        cell_seconds: list[float] = []
        moments: dict[str, float] = {}

        def cell_done(cell, cell_index, execute_reply) -> None:
            moments["done"] = monotonic()
            cell_seconds.append(moments["done"] - moments["cell"])

        client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=CELL_TIMEOUT_S,
                                resources={"metadata": {"path": str(work)}},
                                on_notebook_start=lambda notebook: moments.update(ready=monotonic()),
                                on_cell_execute=lambda cell, cell_index: moments.update(cell=monotonic()),
                                on_cell_executed=cell_done)
        started = monotonic()
        client.execute()
        ended = monotonic()
        summary.append({"file": path.name, "seconds": ended - started, "cells": sum(cell_seconds),
                        "start": moments["ready"] - started, "shutdown": ended - moments["done"]})
        nbformat.write(nb, out / path.name)
    (out / "plain.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")


def check_executed(folder: Path, pattern: str, n: int, who: str) -> None:
    """Fail loudly unless n executed notebooks are there and every non-empty code cell of each ran:
    the imports cell without an error (a kernel without torch or fastai would fail there) and the
    training loops printing tensors."""
    notebooks = sorted(folder.glob(pattern))
    if len(notebooks) != n:
        raise RunFailed(f"{who}: {len(notebooks)} executed notebook(s) under {folder}, not {n}")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        code = [cell for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()]
        not_run = [cell for cell in code if cell.execution_count is None]
        if not_run:
            raise RunFailed(f"{who}: {len(not_run)} of {len(code)} code cells of {path} were not executed")
        errors = [out for out in code[0].outputs if out.output_type == "error"]
        if errors:
            raise RunFailed(f"{who}: the imports cell of {path} failed: {errors[0].ename}: {errors[0].evalue}")
        printed = "".join(out.get("text", "") for cell in code for out in cell.outputs)
        if "tensor(" not in printed:
            raise RunFailed(f"{who}: {path} printed no tensor: its cells did not really run")


# -- (d): nbgrader -----------------------------------------------------------------------------------

def ensure_nbgrader_venv() -> Path:
    nbgrader = NBGRADER_VENV / "bin" / "nbgrader"
    if nbgrader.exists():
        return nbgrader
    print(f"creating {NBGRADER_VENV.relative_to(ROOT)} (pip install {NBGRADER_SPEC}; about a minute)…", flush=True)
    base = "/usr/bin/python3.11" if os.access("/usr/bin/python3.11", os.X_OK) else sys.executable
    for step in ([base, "-m", "venv", str(NBGRADER_VENV)],
                 [str(NBGRADER_VENV / "bin" / "pip"), "install", "--quiet", NBGRADER_SPEC]):
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(NBGRADER_VENV, ignore_errors=True)
            raise RunFailed(f"{shlex.join(step)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return nbgrader


def nbgrader_env(work: Path) -> dict[str, str]:
    """nbgrader's Jupyter sees only a private data folder, whose one kernelspec starts the grader's own
    .venv python (torch, fastai), and no user or system Jupyter configuration."""
    jupyter = work / "jupyter"
    spec = jupyter / "data" / "kernels" / KERNEL_NAME
    if not spec.exists():
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [str(PYTHON), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "grader .venv", "language": "python"}, indent=1), encoding="utf-8")
        (jupyter / "config").mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER")}
    return {**env, "JUPYTER_PATH": str(jupyter / "data"), "JUPYTER_DATA_DIR": str(jupyter / "data"),
            "JUPYTER_CONFIG_DIR": str(jupyter / "config"), "JUPYTER_PLATFORM_DIRS": "1",
            "PATH": f"{NBGRADER_VENV / 'bin'}:{env.get('PATH', '')}"}


NBGRADER_CONFIG = f"""c = get_config()
c.CourseDirectory.course_id = "dl2022"
c.Execute.kernel_name = "{KERNEL_NAME}"  # the grader's .venv; the notebooks name "python3"
c.Execute.timeout = {CELL_TIMEOUT_S}
c.Execute.startup_timeout = 120
"""


def prepare_nbgrader_course(work: Path, submissions: Path, nbgrader: Path, env: dict[str, str]) -> Path:
    """A course folder, not timed: source/midterm/midterm.ipynb (the template; no nbgrader cells),
    `nbgrader generate_assignment` to put the assignment and its notebook in gradebook.db, and
    submitted/<student id>/midterm/midterm.ipynb. Each timed run autogrades a fresh copy of it."""
    course = work / "nbgrader-course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG, encoding="utf-8")
    nbformat.write(midterm.template(), course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    command = [str(nbgrader), "generate_assignment", ASSIGNMENT, "--create"]
    done = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not (course / "gradebook.db").exists():
        raise RunFailed(f"{shlex.join(command)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    for path in sorted(submissions.glob("*.ipynb")):
        student_id = path.stem.rsplit("(", 1)[1].rstrip(")")
        target = course / "submitted" / student_id / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copyfile(path, target / f"{ASSIGNMENT}.ipynb")
    return course


def autograde_command(nbgrader: Path) -> list[str]:
    return [str(nbgrader), "autograde", ASSIGNMENT, "--create"]


# -- runs --------------------------------------------------------------------------------------------

@dataclass
class Bench:
    work: Path
    cache: Path
    submissions: Path
    n: int
    timeout_s: float
    nbgrader: Path | None = None
    nbgrader_env: dict[str, str] = field(default_factory=dict)
    course: Path | None = None
    runs: int = 0
    last_graded: Path | None = None  # an OUT folder of a grader run, for the report benchmark

    def folder(self, name: str) -> Path:
        self.runs += 1
        return self.work / "runs" / f"{self.runs:03d}-{name}"

    def run(self, config: str, submissions: Path | None = None, n: int | None = None
            ) -> tuple[Measurement, list[dict[str, float]]]:
        """One timed run of a configuration; returns its measurement and, where the tool records them,
        per submission: seconds, seconds in its cells (and for (c): kernel start, shutdown)."""
        submissions, n = submissions or self.submissions, n or self.n
        out = self.folder(config)
        if config in ("a", "b"):
            jobs = "auto" if config == "a" else "1"
            measurement = measure(grade_command(submissions, out, self.cache, jobs), out / "grader.log",
                                  self.timeout_s)
            times = grader_times(out, n)
            self.last_graded = out
            return measurement, times
        if config == "c":
            measurement = measure([str(PYTHON), str(Path(__file__).resolve()), "--execute-plain", str(submissions),
                                   str(out)], out.with_suffix(".log"), self.timeout_s)
            check_executed(out, "*.ipynb", n, "nbclient")
            return measurement, json.loads((out / "plain.json").read_text(encoding="utf-8"))
        assert config == "d" and self.course is not None and self.nbgrader is not None
        shutil.copytree(self.course, out)
        measurement = measure(autograde_command(self.nbgrader), out / "autograde.log", self.timeout_s, cwd=out,
                              env=self.nbgrader_env)
        check_executed(out / "autograded", f"*/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", n, "nbgrader autograde")
        return measurement, []


def build_report_gradebook(source: Path, target: Path, count: int) -> None:
    """A gradebook of `count` results: the graded ones of `source`, then copies of them under new
    student keys (as if more students had submitted the same notebooks)."""
    from grader.gradebook import Gradebook

    target.mkdir(parents=True)
    with Gradebook(source / "gradebook.sqlite") as book:
        rubric, graded = book.rubric(), book.results()
    assert rubric is not None and graded
    with Gradebook(target / "gradebook.sqlite") as book:
        book.bind_rubric(rubric)
        for index in range(count):
            original = graded[index % len(graded)]
            stem, student_id = student(index + 1)
            book.store(original.model_copy(deep=True, update={
                "student": student_id, "name": stem.split("(")[0], "student_id": student_id,
                "file": f"{stem}.ipynb"}))


# -- summaries ---------------------------------------------------------------------------------------

def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:"))
    torch_version = subprocess.run([str(PYTHON), "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip() or "?"
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip() or "?"
    nbgrader = "-"
    if (NBGRADER_VENV / "bin" / "python").exists():
        nbgrader = subprocess.run([str(NBGRADER_VENV / "bin" / "python"), "-c",
                                   "import nbgrader; print(nbgrader.__version__)"],
                                  capture_output=True, text=True).stdout.strip() or "?"
    return {"cpus": str(os.cpu_count()), "memory": f"{memory_kb / 1024 ** 2:.1f} GB", "cpu": cpu,
            "torch": torch_version, "nbgrader": nbgrader, "commit": commit, "python": platform.python_version()}


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def options() -> tuple[argparse.Namespace, set[str]]:
    """The command line and the set of --skip words; with --execute-plain nothing else is checked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="submissions graded by (a)-(d) [40]")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of (a)-(d), order rotated each round [1]")
    parser.add_argument("--scaling", default="10,40,160", help="N for which (a) is timed alone [10,40,160]")
    parser.add_argument("--reports", type=int, default=500, help="results in the gradebook `grader report` renders [500]")
    parser.add_argument("--skip", default="", help="comma-separated: any of a,b,c,d,nbgrader (= d),scaling,reports,"
                                                   "warm-up")
    parser.add_argument("--work", type=Path, help="folder for submissions, runs and caches [a new temporary one]")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (always kept if given with --work)")
    parser.add_argument("--markdown", type=Path, help="where to write the markdown section [WORK.md, next to the work folder]")
    parser.add_argument("--timeout", type=float, default=0, help="seconds per timed run [120 per submission, at least 600]")
    parser.add_argument("--cache-dir", type=Path, help="a grader cache with the assets in place (`grader assets "
                                                        "synth --cache-dir DIR`) [WORK/cache, filled by synth]")
    parser.add_argument("--execute-plain", nargs=2, type=Path, metavar=("SUBMISSIONS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.execute_plain:
        return args, set()
    if os.geteuid() != 0:
        parser.error("run as root: the grader's sandbox needs it (sudo .venv/bin/python benchmarks/throughput.py)")
    skip = {word.strip() for word in args.skip.split(",") if word.strip()}
    skip |= {"d"} if "nbgrader" in skip else set()
    unknown = skip - {"a", "b", "c", "d", "nbgrader", "scaling", "reports", "warm-up"}
    if unknown:
        parser.error(f"unknown --skip {', '.join(sorted(unknown))}")
    return args, skip


def prepare(args: argparse.Namespace, scaling: list[int]) -> tuple[Bench, Path, dict[str, int]]:
    """The work folder, the grader's cache and the submissions: the bench, the pool of the largest N
    submissions, and how many of each variant the --n graded by (a)-(d) hold."""
    work = args.work or Path(tempfile.mkdtemp(prefix="grader-throughput-"))
    work.mkdir(parents=True, exist_ok=True)
    largest = max([args.n, *scaling])
    bench = Bench(work=work, cache=args.cache_dir or work / "cache", submissions=work / "submissions", n=args.n,
                  timeout_s=args.timeout or max(600.0, 120.0 * largest))
    print(f"work folder: {work}", flush=True)
    if args.cache_dir is None:  # kernels have no network: the weights the midterm's solution loads are stand-ins
        measure([str(GRADER), "assets", "synth", "--cache-dir", str(bench.cache)], work / "assets-synth.log",
                bench.timeout_s)
    pool = work / "pool"
    kinds = write_submissions(pool, largest)
    subset(pool, bench.submissions, args.n)
    counts = {kind: kinds[: args.n].count(kind) for kind in dict.fromkeys(kinds)}
    print(f"{args.n} submissions ({', '.join(f'{count} {kind}' for kind, count in counts.items())})", flush=True)
    return bench, pool, counts


def warm_up(bench: Bench, pool: Path, configs: list[str], runs: bool) -> Path:
    """Not timed: the nbgrader venv and course, and where `runs`, the reference solution into the cache and one
    run of each configuration on one submission (files into the page cache; a broken set-up fails here).
    Returns the folder of that one submission."""
    one = subset(pool, bench.work / "warm-up", 1)
    if "d" in configs:
        bench.nbgrader = ensure_nbgrader_venv()
        bench.nbgrader_env = nbgrader_env(bench.work)
        bench.course = prepare_nbgrader_course(bench.work, one, bench.nbgrader, bench.nbgrader_env)
    if runs:
        print("warm-up (not timed): " + ", ".join(configs), flush=True)
        for config in configs:
            bench.run(config, one, 1)
    if "d" in configs:
        shutil.rmtree(bench.course)
        bench.course = prepare_nbgrader_course(bench.work, bench.submissions, bench.nbgrader, bench.nbgrader_env)
    return one


def run_rounds(bench: Bench, configs: list[str], rounds: int
               ) -> tuple[dict[str, list[Measurement]], dict[str, list[dict[str, float]]]]:
    """Each round runs every configuration once, in an order rotated from round to round."""
    results: dict[str, list[Measurement]] = {config: [] for config in configs}
    times: dict[str, list[dict[str, float]]] = {config: [] for config in configs}
    for round_ in range(rounds):
        order = configs[round_ % len(configs):] + configs[: round_ % len(configs)]
        for config in order:
            measurement, per_submission = bench.run(config)
            results[config].append(measurement)
            times[config] += per_submission
            print(f"round {round_ + 1}/{rounds} ({config}) {CONFIGS[config]}: {measurement.wall_s:.1f} s wall, "
                  f"{measurement.cpu:.1f} s CPU, {measurement.peak_gb:.2f} GB peak", flush=True)
    return results, times


def run_scaling(bench: Bench, pool: Path, scaling: list[int], main_runs: list[Measurement]
                ) -> tuple[dict[int, tuple[Measurement, bool]], Path | None]:
    """(a) for each N of --scaling, the median of `main_runs` where N is --n. Returns N -> (measurement,
    taken from the main run), and the OUT folder of a grader run for the report benchmark: the main
    rounds' last, else the first here."""
    source_of_reports = bench.last_graded
    growth: dict[int, tuple[Measurement, bool]] = {}
    for n in scaling:
        if n == bench.n and main_runs:
            growth[n] = (sorted(main_runs, key=lambda m: m.wall_s)[len(main_runs) // 2], True)
            continue
        measurement, _ = bench.run("a", subset(pool, bench.work / f"submissions-{n}", n), n)
        growth[n] = (measurement, False)
        print(f"scaling: N={n} {CONFIGS['a']}: {measurement.wall_s:.1f} s wall", flush=True)
        source_of_reports = source_of_reports or bench.last_graded
    return growth, source_of_reports


def time_report(bench: Bench, source_of_reports: Path | None, one: Path, count: int) -> Measurement:
    """`grader report` over a gradebook of `count` copies of graded results."""
    if source_of_reports is None:  # neither (a) nor (b) ran: grade the warm-up submission
        bench.run("b", one, 1)
        source_of_reports = bench.last_graded
    target = bench.folder("report")
    build_report_gradebook(source_of_reports, target, count)
    report = measure([str(GRADER), "report", "--out", str(target)], target.with_suffix(".log"), bench.timeout_s)
    pages = len(list((target / "students").glob("*.html")))
    if pages != count:
        raise RunFailed(f"grader report wrote {pages} student page(s), not {count}")
    print(f"reports: {count} rendered in {report.wall_s:.1f} s", flush=True)
    return report


def main() -> None:
    args, skip = options()
    if args.execute_plain:
        execute_plain(*args.execute_plain)
        return
    configs = [config for config in CONFIGS if config not in skip]
    scaling = [] if "scaling" in skip else [int(n) for n in args.scaling.split(",") if n.strip()]
    bench, pool, counts = prepare(args, scaling)
    one = warm_up(bench, pool, configs, runs="warm-up" not in skip)
    results, times = run_rounds(bench, configs, args.rounds)
    growth, source_of_reports = run_scaling(bench, pool, scaling, results.get("a", []))
    report: Measurement | None = None
    if args.reports and "reports" not in skip:
        report = time_report(bench, source_of_reports, one, args.reports)

    text = summarise(args, configs, counts, results, times, growth, report, machine())
    markdown = args.markdown or bench.work.with_name(bench.work.name + ".md")
    markdown.write_text(text, encoding="utf-8")
    print("\n" + text)
    print(f"(written to {markdown})")
    if not args.keep and args.work is None:
        shutil.rmtree(bench.work, ignore_errors=True)


def summarise(args, configs: list[str], variants_used: dict[str, int], results: dict[str, list[Measurement]],
              times: dict[str, list[dict[str, float]]], growth: dict[int, tuple[Measurement, bool]],
              report: Measurement | None, host: dict[str, str]) -> str:
    lines = header_lines(args, variants_used, host) + configs_table(args, configs, results)
    lines += per_submission_lines(times)
    lines += ["", notes(configs), CPU_AND_MEMORY, ""]
    if growth:
        lines += scaling_table(growth)
    if report is not None:
        lines += [f"`grader report` over a gradebook of {args.reports} graded submissions (results.json, "
                  f"{args.reports} student pages, the class summary): {report.wall_s:.1f} s wall, "
                  f"{report.cpu:.1f} s CPU, {report.peak_gb:.2f} GB peak "
                  f"({1000 * report.wall_s / args.reports:.0f} ms per submission).", ""]
    return "\n".join(lines)


def header_lines(args, variants_used: dict[str, int], host: dict[str, str]) -> list[str]:
    command = "sudo .venv/bin/python benchmarks/throughput.py " + shlex.join(sys.argv[1:])
    return [
        f"### Throughput: {args.n} midterm submissions ({datetime.now(timezone.utc):%Y-%m-%d})",
        "",
        f"Machine: {host['cpus']} CPUs ({host['cpu']}), {host['memory']} memory; torch {host['torch']}, "
        f"Python {host['python']}, nbgrader {host['nbgrader']}; grader at {host['commit']}.",
        f"Command: `{command.strip()}` ({args.rounds} round(s), order rotated per round; medians).",
        "Submissions: the template with Problems 2 and 3 answered, Problem 1 not: "
        + ", ".join(f"{count} {kind}" for kind, count in variants_used.items()) + ".",
        "",
    ]


def configs_table(args, configs: list[str], results: dict[str, list[Measurement]]) -> list[str]:
    """One row per configuration (medians over the rounds, peak memory the largest), then the wall-time ratios."""
    wall = {config: median([m.wall_s for m in results[config]]) for config in configs}
    cpu = {config: median([m.cpu for m in results[config]]) for config in configs}
    peak = {config: max(m.peak_gb for m in results[config]) for config in configs}
    lines = ["| | what | wall s | wall s / submission | CPU s | peak memory GB | wall / (a) | CPU / (a) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for config in configs:
        lines.append(f"| ({config}) | {CONFIGS[config]} | {fmt(wall[config])} | {fmt(wall[config] / args.n, 2)} | "
                     f"{fmt(cpu[config])} | {fmt(peak[config], 2)} | "
                     f"{fmt(wall[config] / wall['a'], 2) if 'a' in wall else '-'} | "
                     f"{fmt(cpu[config] / cpu['a'], 2) if 'a' in cpu else '-'} |")
    lines.append("")
    if "a" in wall:
        ratios = [f"({other})/(a) = {wall[other] / wall['a']:.2f}" for other in ("c", "d", "b") if other in wall]
        if ratios:
            lines += ["Wall-time ratios: " + ", ".join(ratios) + ".", ""]
    return lines


def per_submission_lines(times: dict[str, list[dict[str, float]]]) -> list[str]:
    """The grader's overhead per submission for (a) and (b), the phases of a plain execution for (c)."""
    lines = []
    for config in ("a", "b"):
        if times.get(config):
            overhead = [t["seconds"] - t["cells"] for t in times[config]]
            cells = [t["cells"] for t in times[config]]
            lines.append(f"- ({config}) grader's overhead per submission (its seconds for the submission minus the "
                         f"seconds its cells took in the kernel): median {median(overhead):.2f} s (min "
                         f"{min(overhead):.2f}, max {max(overhead):.2f}); the cells: median {median(cells):.2f} s.")
    if times.get("c"):
        phases = {key: median([t[key] for t in times["c"]]) for key in ("seconds", "start", "cells", "shutdown")}
        lines.append(f"- (c) per notebook: median {phases['seconds']:.2f} s = kernel start {phases['start']:.2f} s + "
                     f"cells {phases['cells']:.2f} s + kernel shutdown {phases['shutdown']:.2f} s (nbclient's "
                     "graceful shutdown waits for the kernel to exit) + the rest.")
    return lines


def notes(configs: list[str]) -> str:
    """What each configuration that ran does and does not count."""
    sentences = []
    if "a" in configs or "b" in configs:
        sentences.append(
            "The grader's overhead per submission counts everything of that submission but its cells: the sandbox, "
            "the kernel's start and what is loaded before the first cell, the checks, the gradebook row and the "
            "executed copy. What a run pays once (the rubric and cached reference, a kernel that imports the exam's "
            "libraries for the others to fork from, results.json and the HTML reports) is in its wall time but in no "
            "submission's seconds.")
    if "c" in configs:
        sentences.append("(c) runs each notebook top to bottom in a fresh `python3` kernel of the grader's .venv "
                     "(nbclient, errors allowed): no probe, no sandbox, no checks, no reports.")
    if "d" in configs:
        sentences.append(
            "(d) is nbgrader's `autograde` from its own venv, its kernelspec pointing at the grader's .venv python: "
            "the notebooks carry no nbgrader cell metadata, so it sanitises each one, executes every cell "
            "(nbconvert's ExecutePreprocessor, one kernel per notebook, one notebook after another), records no "
            "scores, and writes the executed copies and its gradebook.db.")
    return " ".join(sentences)


CPU_AND_MEMORY = (
    "CPU is user + sys of every process of the run: getrusage(RUSAGE_CHILDREN), or where larger the sum of "
    "each process's CPU sampled from /proc every 0.25 s (a process its parent never waits for, such as a "
    "sandbox's kernel killed with its sandbox, escapes getrusage). Peak memory is the largest sum of PSS over "
    "the run's process tree, sampled every 0.25 s.")


def scaling_table(growth: dict[int, tuple[Measurement, bool]]) -> list[str]:
    """(a)'s time for each N, the extra seconds each extra submission costs, and how far from linear."""
    lines = ["Scaling of (a) `grader grade --jobs auto`:", "",
             "| N | wall s | wall s / submission | extra s per extra submission | CPU s | peak memory GB |",
             "|---:|---:|---:|---:|---:|---:|"]
    previous = None
    for n, (m, reused) in sorted(growth.items()):
        marginal = fmt((m.wall_s - previous[1]) / (n - previous[0]), 2) if previous else "-"
        lines.append(f"| {n}{' (a run above)' if reused else ''} | {fmt(m.wall_s)} | {fmt(m.wall_s / n, 2)} | "
                     f"{marginal} | {fmt(m.cpu)} | {fmt(m.peak_gb, 2)} |")
        previous = (n, m.wall_s)
    if len(growth) > 1:
        (n0, (m0, _)), (n1, (m1, _)) = min(growth.items()), max(growth.items())
        lines += ["", f"Wall seconds per submission at N={n1} over those at N={n0}: "
                      f"{(m1.wall_s / n1) / (m0.wall_s / n0):.2f} (1.00: linear; below 1: fixed costs spread "
                      "over more submissions)."]
    lines.append("")
    return lines


if __name__ == "__main__":
    try:
        main()
    except RunFailed as err:
        sys.exit(f"throughput: {err}")
