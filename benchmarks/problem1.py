"""Problem 1 wall time per notebook: on the CPU, and on one GPU where the machine has one.

Grades the Problem 1 samples that have their images (the one whose crawl failed trains nothing) one at
a time (`--jobs 1`, warm kernels, sandboxed) with the synthetic assets, once per device, and reports each
notebook's grading time as the gradebook recorded it (kernel start to checks done; the reference's run
is not counted) and the GPU/CPU ratio measured in the same run:

    .venv/bin/python benchmarks/problem1.py [--markdown] [--n N] [--cache-dir DIR]

--n grades the first N samples only (a quick check of the script: --n 1); --cache-dir uses a grader cache
that holds the assets already (`grader assets synth --cache-dir DIR`), and keeps the reference's run there,
instead of a new one filled with `grader assets synth`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "dl2022-midterm"
PROBLEM_1_SAMPLES = sorted(p for p in (ROOT / "submissions" / "dl2022-midterm").iterdir()
                           if p.is_dir() and (p / "images").is_dir())


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--n", type=int, default=len(PROBLEM_1_SAMPLES),
                        help=f"grade the first N samples [all {len(PROBLEM_1_SAMPLES)}]")
    parser.add_argument("--cache-dir", type=Path, help="a grader cache with the assets in place [a new one, filled "
                                                        "by `grader assets synth`]")
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
