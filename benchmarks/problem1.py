"""Problem 1 wall time per notebook: on the CPU, and on one GPU where the machine has one; and what the virtual
clock saves on the course's crawl cell.

Grades the Problem 1 samples that train (all but the one whose crawl cannot run: it trains nothing; those handed
in without images crawl on the grader's stand-in) one at a time (`--jobs 1`, warm kernels, sandboxed) with the
synthetic assets, once per device, and reports each notebook's grading time as the gradebook recorded it (kernel
start to checks done; the reference's run is not counted) and the GPU/CPU ratio measured in the same run:

    .venv/bin/python benchmarks/problem1.py [--markdown] [--n N] [--cache-dir DIR]
    .venv/bin/python benchmarks/problem1.py --clock [--markdown] [--cache-dir DIR]

--n grades the first N samples only (a quick check of the script: --n 1); --cache-dir uses a grader cache
that holds the assets already (`grader assets synth --cache-dir DIR`), and keeps the reference's run there,
instead of a new one filled with `grader assets synth`.

--clock instead runs the course's crawl cell (the first cell of the template and the crawl of 오하람(2022021):
four searches, `time.sleep(10)` after each) in a sandboxed kernel, with the virtual clock and with the sleeps
waiting for real (`grader grade --real-sleeps`), side by side, and prints both wall times and their difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2022-midterm"
SAMPLES = ROOT / "submissions" / "dl2022-midterm"
CRASHES_BEFORE_THE_CRAWL = "문서아(2022020)"  # trains nothing
WITHOUT_PROBLEM_1 = "신유나(2022012)"  # a folder too: a Colab copy of Problems 2 and 3
COURSE_CRAWL_SAMPLE = SAMPLES / "오하람(2022021)" / "midterm.ipynb"
PROBLEM_1_SAMPLES = sorted(p for p in SAMPLES.iterdir()
                           if p.is_dir() and p.name not in (CRASHES_BEFORE_THE_CRAWL, WITHOUT_PROBLEM_1))


def grade(samples: Path, out: Path, cache: Path, device_flags: list[str]) -> dict[str, float]:
    """Seconds per notebook, as the gradebook recorded them (the reference's run is not among them)."""
    from grader.gradebook import Gradebook

    command = [sys.executable, "-m", "grader", "grade", str(samples), "--rubric", str(RUBRIC), "--out", str(out),
               "-q", *device_flags]
    if "--gpus" not in device_flags:
        command += ["--jobs", "1"]  # with --gpus 0 (and --per-gpu 1) one kernel runs at a time too
    subprocess.run(command, check=True, env=dict(os.environ, GRADER_CACHE=str(cache)), capture_output=True)
    with Gradebook(out / "gradebook.sqlite") as book:
        return {result.name or result.student: result.seconds for result in book.results()}


def crawl_cell_seconds(cache: Path) -> dict[str, float]:
    """Wall seconds of the course's crawl cell in a sandboxed kernel, with the virtual clock and without."""
    import nbformat

    from grader.rubric import load_rubric
    from grader.service import KernelOptions, confine, notebook_runner

    sample = nbformat.read(COURSE_CRAWL_SAMPLE, as_version=4)
    code = [cell for cell in sample.cells if cell.cell_type == "code"]
    nb = nbformat.v4.new_notebook(cells=[code[0], next(cell for cell in code if "ddg_images" in cell.source)])
    rubric = load_rubric(RUBRIC)
    options = KernelOptions()
    runner = notebook_runner(rubric.spec.execution, options, cache, confine(rubric, options, cache))
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="grader-bench-clock-") as work:
        for clock, virtual in (("virtual clock", True), ("real sleeps", False)):
            folder = Path(work) / clock.replace(" ", "-")
            folder.mkdir()
            execution = dataclasses.replace(runner, virtual_clock=virtual).run(nb, folder)
            if [cell.status for cell in execution.cells] != ["ok", "ok"]:
                raise SystemExit(f"the crawl did not run with the {clock}: {execution.cells}")
            seconds[clock] = execution.cells[1].seconds
    return seconds


def print_clock(seconds: dict[str, float], markdown: bool) -> None:
    saved = seconds["real sleeps"] - seconds["virtual clock"]
    rows = [[clock, f"{value:.1f}"] for clock, value in seconds.items()] + [["saved", f"{saved:.1f}"]]
    if markdown:
        print("| course crawl cell | wall s |\n|---|---|")
        print("\n".join(f"| {clock} | {value} |" for clock, value in rows))
    else:
        print("\n".join(f"{clock:16}{value}" for clock, value in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--n", type=int, default=len(PROBLEM_1_SAMPLES),
                        help=f"grade the first N samples [all {len(PROBLEM_1_SAMPLES)}]")
    parser.add_argument("--cache-dir", type=Path, help="a grader cache with the assets in place [a new one, filled "
                                                        "by `grader assets synth`]")
    parser.add_argument("--clock", action="store_true", help="time the course's crawl cell with and without the "
                                                             "virtual clock instead")
    args = parser.parse_args()
    import torch

    devices = {"cpu": ["--cpu-fallback"]}
    if torch.cuda.is_available():
        devices["gpu"] = ["--gpus", "0"]
    with tempfile.TemporaryDirectory(prefix="grader-bench-p1-") as work:
        work = Path(work)
        cache = args.cache_dir or work / "cache"
        if args.cache_dir is None:
            subprocess.run([sys.executable, "-m", "grader", "assets", "synth"], check=True, capture_output=True,
                           env=dict(os.environ, GRADER_CACHE=str(cache)))
        if args.clock:
            print_clock(crawl_cell_seconds(cache), args.markdown)
            return
        samples = work / "samples"
        for sample in PROBLEM_1_SAMPLES[: args.n]:
            shutil.copytree(sample, samples / sample.name)
        times = {device: grade(samples, work / device, cache, flags) for device, flags in devices.items()}
    names = list(times["cpu"])
    header = ["notebook", *[f"{device} s" for device in times]] + (["gpu/cpu"] if "gpu" in times else [])
    rows = []
    for name in names:
        row = [name, *[f"{times[device][name]:.1f}" for device in times]]
        if "gpu" in times:
            row.append(f"{times['gpu'][name] / times['cpu'][name]:.2f}")
        rows.append(row)
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        print("\n".join("| " + " | ".join(row) + " |" for row in rows))
    else:
        print("\n".join("  ".join(cell.ljust(16) for cell in row) for row in [header, *rows]))


if __name__ == "__main__":
    main()
