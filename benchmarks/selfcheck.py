"""Self-check latency: a one-shot `grader check` against a re-check from `grader check --watch`.

Checks a Problem-2/3-only notebook (the instructor's solution sample) against the midterm's released
bundle, side by side in one run:

- cold: what `grader check NOTEBOOK` does, a fresh interpreter per check (in-process, N times);
- warm: what each re-check of `--watch` does, a kernel forked from one that imported the exam's libraries;
- save to report: the real `grader check --watch`, from writing the notebook to its report's last line
  (includes watchfiles' 300 ms debounce).

    .venv/bin/python benchmarks/selfcheck.py [--repeat N] [--markdown] [--cache-dir DIR]

--cache-dir uses a grader cache that holds the assets already (`grader assets synth --cache-dir DIR`)
instead of a new one filled with `grader assets synth`; `--repeat 1` is a quick check of the script.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from time import monotonic

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2022-midterm"
NOTEBOOK = ROOT / "submissions" / "dl2022-midterm" / "김민준(2022001).ipynb"


def in_process(bundle: Path, notebook: Path, cache: Path, repeat: int) -> dict[str, list[float]]:
    from grader.run import NotebookRunner
    from grader.run.warm import WarmKernels
    from grader.run.workspace import unsandboxed_base_env
    from grader.selfcheck.check import SelfChecker
    from grader.selfcheck.public import load_public_rubric

    loaded = load_public_rubric(bundle)
    limits = loaded.spec.execution

    def runner(warm):
        return NotebookRunner(cell_timeout_s=limits.cell_timeout_s, notebook_timeout_s=limits.notebook_timeout_s,
                              cache_dir=cache, sandbox=None, warm=warm, cpu_fallback=True)

    def timed(checker: SelfChecker) -> list[float]:
        times = []
        for _ in range(repeat):
            started = monotonic()
            checker.check(notebook)
            times.append(monotonic() - started)
        return times

    times = {"cold (grader check)": timed(SelfChecker(loaded, runner(None)))}
    started = monotonic()
    with WarmKernels.start(sys.executable, limits.preload or [], unsandboxed_base_env(Path(sys.executable).parent, cache),
                           cache / "warm-kernels.log") as warm:
        times["warm kernels start (once per --watch)"] = [monotonic() - started]
        times["warm re-check (--watch)"] = timed(SelfChecker(loaded, runner(warm)))
    return times


def save_to_report(bundle: Path, notebook: Path, cache: Path, repeat: int) -> list[float]:
    """Seconds from writing the notebook to the end of the report `grader check --watch` prints."""
    process = subprocess.Popen([sys.executable, "-m", "grader", "check", "--watch", str(notebook), "--rubric", str(bundle)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, GRADER_CACHE=str(cache)))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()

    def until(said: str) -> None:
        """Reads the watch's output (its reports and its messages) up to a line holding `said`."""
        line = ""
        while said not in line:
            line = lines.get(timeout=300)

    def until_report() -> None:
        until("checked in")  # the last line of a report

    try:
        until_report()  # the first check, after the warm kernels start; the watcher is in place before it
        times = []
        content = notebook.read_bytes()
        for _ in range(repeat):
            started = monotonic()
            notebook.write_bytes(content)
            until_report()
            times.append(monotonic() - started)
        return times
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--cache-dir", type=Path, help="a grader cache with the assets in place [a new one, filled "
                                                        "by `grader assets synth`]")
    args = parser.parse_args()
    from grader.selfcheck.release import release
    from grader.selfcheck.wheel import build_grader_wheel

    with tempfile.TemporaryDirectory(prefix="grader-bench-check-") as work:
        work = Path(work)
        cache = args.cache_dir or work / "cache"
        if args.cache_dir is None:
            subprocess.run([sys.executable, "-m", "grader", "assets", "synth"], check=True, capture_output=True,
                           env=dict(os.environ, GRADER_CACHE=str(cache)))
        bundle = work / "dist"
        release(RUBRIC, bundle, build_grader_wheel(work / "wheel"))
        student = work / "student"
        student.mkdir()
        notebook = Path(shutil.copy2(NOTEBOOK, student / "midterm.ipynb"))
        times = in_process(bundle, notebook, cache, args.repeat)
        times["save to report (--watch, end to end)"] = save_to_report(bundle, notebook, cache, args.repeat)
    cold = statistics.median(times["cold (grader check)"])
    rows = [(name, statistics.median(values), min(values), max(values), len(values)) for name, values in times.items()]
    if args.markdown:
        print("| what | median s | min s | max s | n | cold/this |\n|---|---|---|---|---|---|")
        for name, median, low, high, n in rows:
            print(f"| {name} | {median:.2f} | {low:.2f} | {high:.2f} | {n} | {cold / median:.1f}× |")
    else:
        for name, median, low, high, n in rows:
            print(f"{name:40} median {median:6.2f} s  min {low:6.2f}  max {high:6.2f}  n={n}  cold/this {cold / median:.1f}×")


if __name__ == "__main__":
    main()
