"""Every benchmark runs from a clean clone: a tiny run of each, as a user would start it, on the session's
cache (its synthetic assets; the reference's run is shared with the other tests). They grade or run real
notebooks, so they are slow (tens of seconds each; `-m "not slow"` leaves them out).

nbgrader's comparison, throughput's (d), is left out: the first run creates its own venv with
`pip install nbgrader`, which needs a package index. gpu_check.sh needs the device machine (a GPU and
the wheels it carries): here its shell and its embedded Python only have to parse."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BENCHMARKS = ROOT / "benchmarks"
pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def bench(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def test_throughput(tmp_path, cache_dir):
    markdown = tmp_path / "throughput.md"
    done = bench(str(BENCHMARKS / "throughput.py"), "--n", "1", "--skip", "b,d,scaling,warm-up", "--reports", "2",
                 "--work", str(tmp_path / "work"), "--cache-dir", str(cache_dir), "--markdown", str(markdown))
    text = markdown.read_text(encoding="utf-8")
    assert done.stdout.endswith(f"\n{text}\n(written to {markdown})\n")
    number = r"\d+\.\d+"
    assert re.search(rf"^\| \(a\) \| grader grade --jobs auto \| {number} \| {number} \| {number} \| {number} "
                     rf"\| 1\.00 \| 1\.00 \|$", text, re.M)
    assert re.search(rf"^\| \(c\) \| nbclient, sequential, no grading \| {number} \| {number} \| {number} "
                     rf"\| {number} \| {number} \| {number} \|$", text, re.M)
    assert "Submissions: the template with Problems 2 and 3 answered, Problem 1 not: 1 correct." in text
    assert re.search(rf"^`grader report` over a gradebook of 2 graded submissions \(results\.json, 2 student pages, "
                     rf"the class summary\): {number} s wall", text, re.M)


def test_problem_1(cache_dir):
    done = bench(str(BENCHMARKS / "problem1.py"), "--n", "1", "--markdown", "--cache-dir", str(cache_dir))
    header, rule, *rows = done.stdout.splitlines()
    assert (header, rule) == ("| notebook | cpu s |", "|---|---|")
    assert [re.sub(r"\d+\.\d", "#", row) for row in rows] == ["| 권도현 | # |"]


def test_seccomp_overhead():
    done = bench(str(BENCHMARKS / "seccomp_overhead.py"), "1")
    assert [re.sub(r"\d+\.\d+", "#", line) for line in done.stdout.splitlines()] == [
        "200k system calls: filtered # s, bare # s (medians of 1), filtered / bare: #",
        "torch fit, 300 steps: filtered # s, bare # s (medians of 1), filtered / bare: #",
    ]


def test_sandbox_overhead():
    done = bench(str(BENCHMARKS / "sandbox_overhead.py"), "1")
    assert [re.sub(r"\d+\.\d+", "#", line) for line in done.stdout.splitlines()] == [
        "sandbox host check (once per batch): # s",
        "sandboxed: median # s per notebook over 1 runs (min #, max #)",
        "     bare: median # s per notebook over 1 runs (min #, max #)",
        "sandboxed / bare: #",
    ]


def test_selfcheck(cache_dir):
    done = bench(str(BENCHMARKS / "selfcheck.py"), "--repeat", "1", "--markdown", "--cache-dir", str(cache_dir))
    assert [re.sub(r"\d+\.\d+", "#", line) for line in done.stdout.splitlines()] == [
        "| what | median s | min s | max s | n | cold/this |", "|---|---|---|---|---|---|",
        "| cold (grader check) | # | # | # | 1 | #× |",
        "| warm kernels start (once per --watch) | # | # | # | 1 | #× |",
        "| warm re-check (--watch) | # | # | # | 1 | #× |",
        "| save to report (--watch, end to end) | # | # | # | 1 | #× |",
    ]


def test_answer_groups():
    done = bench(str(BENCHMARKS / "answer_groups.py"), "--thresholds", "0.65")
    lines = done.stdout.splitlines()
    header = ("| answers | n | groups graded at once | answers in them | taken out | unlike their group | actions without "
              "groups | with groups | per graded answer without | with | pair precision |")
    assert lines[:6] == ["Item 2.5, DISTANCE_THRESHOLD = 0.65", "", header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                         "| samples (submissions/dl2022-midterm) | 24 | 2 | 22 | 0 | 0 | 48 | 10 | 2.00 | 0.42 | 1.000 |",
                         "| a class of 90 (answers_2.5.yaml) | 90 | 12 | 43 | 1 | 4 | 176 | 117 | 1.96 | 1.30 | 0.866 |"]
    assert lines[-1] == "| threshold 0.65 | 90 | 12 | 43 | 1 | 4 | 176 | 117 | 1.96 | 1.30 | 0.866 |"


def test_similarity():
    done = bench(str(BENCHMARKS / "similarity.py"), "--honest", "40", "--copies", "6", "--seed", "3")
    lines = [re.sub(r"\d+\.\d s", "# s", line) for line in done.stdout.splitlines()]
    assert lines[:3] == [
        "corpus: 40 honest submissions, 6 disguised copies (seed 3); built in # s",
        "grader similarity: 46 submissions, 1035 pairs, # s wall (in-process compare # s)",
        "flag at score >= 0.6: recall 6/6, precision 6/6, honest pairs flagged 0 of 1029 (0.0000%)"]
    assert "| renamed, re-commented, run again | 1 | 1 | 0.98 | 0.98 |" in lines
    assert "| 0.6 (used) | 6/6 | 6/6 | 0 (0.0000%) |" in lines


def test_fuzz_readers():
    done = bench(str(BENCHMARKS / "fuzz_readers.py"), "--examples", "20")
    header, rule, *rows = done.stdout.splitlines()
    assert (header, rule) == ("| reader | cases | read | grader's errors | unexpected | slowest case s | wall s |",
                              "|---|---:|---:|---:|---:|---:|---:|")
    number = r"\d+\.\d+"
    assert len(rows) == 5  # nothing unexpected printed below the table
    for row, reader in zip(rows, ["notebook", "evidence", "roster", "zip", "download"]):
        match = re.fullmatch(rf"\| {reader} \| 20 \| (\d+) \| (\d+) \| 0 \| {number} \| {number} \|", row)
        assert match, row
        assert int(match[1]) + int(match[2]) == 20  # each case read or refused


def heredocs(script: str) -> list[str]:
    """The bodies of the script's quoted here-documents (`<<'EOF'` … `EOF`): Python, in gpu_check.sh."""
    return re.findall(r"<<'EOF'[^\n]*\n(.*?)^EOF$", script, re.S | re.M)


@pytest.mark.parametrize("script", ["gpu_check.sh"])
def test_gpu_check_parses(script):
    path = BENCHMARKS / script
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
    bodies = heredocs(path.read_text(encoding="utf-8"))
    assert len(bodies) == 5  # the environment, unpacking a .deb, the sandbox self-test, two summaries
    for number, body in enumerate(bodies):
        compile(body, f"{script} here-document {number + 1}", "exec")
