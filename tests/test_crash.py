"""A grader killed or interrupted mid-batch: nothing half-written, no kernel or
sandbox left behind, and a rerun grades every submission exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import nbformat
import pytest

from grader.owners import start_time
from grader.probe.protocol import EVIDENCE_ENV
from grader.run.cgroups import Cgroups
from grader.run.kernel import GradingKernelManager, Lifeline
from grader.run.sandbox import FIRST_UID, UIDS
from tests.conftest import ROOT, RUBRIC, run_cli

pytestmark = pytest.mark.notebooks

KEY = ["False", "True", "True", "True", "False", "True", "True", "False", "False", "True"]


def batch_of(folder: Path, count: int) -> Path:
    """`count` notebooks answering only Problem 3, all correctly (20 points each)."""
    nb = nbformat.read(RUBRIC / "template.ipynb", as_version=4)
    nb.cells[0].source = "import torch"  # not fastai: its import alone costs 9 s per kernel
    for cell in nb.cells:
        for tag in cell.metadata.get("tags", []):
            if tag.startswith("answer:3."):
                cell.source = KEY[int(tag.split(".")[1]) - 1]
    folder.mkdir()
    for n in range(1, count + 1):
        nbformat.write(nb, folder / f"학생{n}(2023{n:03d}).ipynb")
    return folder


def start_grading(batch: Path, out: Path, cache_dir: Path, *options: str) -> subprocess.Popen:
    env = dict(os.environ, GRADER_CACHE=str(cache_dir))
    return subprocess.Popen([sys.executable, "-m", "grader", "grade", str(batch), "--rubric", str(RUBRIC),
                             "--out", str(out), "--quiet", *options], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # as from a terminal, even when the tests run in the background (SIGINT ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def stored(out: Path) -> dict[str, str]:
    """student -> graded_at, read the way a second process would."""
    path = out / "gradebook.sqlite"
    if not path.exists():
        return {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        try:
            return dict(db.execute("SELECT student, graded_at FROM submissions"))
        except sqlite3.OperationalError:  # the schema is not written yet
            return {}


def wait_for(condition, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def sandboxed_processes(grader_pid: int) -> list[str]:
    """The live processes (zombies are dead already) of the kernels that grader started: those running as a sandbox
    uid in its kernels' cgroups (`<grader pid>-<uid>`), where they stay even after their grader dies. Another grader
    on the machine has kernels of its own, in its own cgroups: they are not looked at."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            groups = (status.parent / "cgroup").read_text()
        except OSError:
            continue
        uid, state = int(fields["Uid"].split()[0]), fields["State"].split()[0]
        ours = any(line.rsplit("/", 1)[-1].startswith(f"{grader_pid}-") for line in groups.splitlines())
        if ours and FIRST_UID <= uid < FIRST_UID + UIDS and state != "Z":
            found.append(f"{status.parent.name} {fields['Name'].strip()} {state}")
    return found


def pids(processes: list[str]) -> set[str]:
    return {line.split()[0] for line in processes}


def descendants(ancestor: int) -> set[tuple[int, int]]:
    """(pid, start time) of every live process descended from `ancestor`: a grader's fork server, its sandboxes'
    bubblewraps and what runs in them. The start time tells a process from a later one given its pid."""
    children: dict[int, list[tuple[int, int]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append((int(stat.parent.name), int(fields[19])))
    found, todo = set(), [ancestor]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def still_running(processes: set[tuple[int, int]]) -> set[tuple[int, int]]:
    return {(pid, start) for pid, start in processes if start_time(pid) == start and not zombie(pid)}


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


@contextmanager
def another_graders_kernel(sandbox_host) -> Iterator[set[str]]:
    """A sandboxed kernel (`sleep`) that this test process starts as any grader starts one, so outside the grader a
    test runs: yields its processes' pids once `sandboxed_processes` sees it run as this process's."""
    root = Path(tempfile.mkdtemp(prefix="grader-test-"))
    (root / "submission").mkdir()
    try:
        with sandbox_host.sandbox(root, root / "submission") as box:
            kernel = subprocess.Popen(box.wrap(["sleep", "600"]), env=sandbox_host.kernel_env(box.runtime, "EVIDENCE"))
            try:
                wait_for(lambda: "sleep" in {line.split()[1] for line in sandboxed_processes(os.getpid())})
                yield pids(sandboxed_processes(os.getpid()))
            finally:
                kernel.kill()
                kernel.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_process_check_sees_only_the_kernels_of_the_grader_asked_about(sandbox_host):
    stranger = subprocess.Popen(["sleep", "600"])  # a process that started no kernel
    try:
        with another_graders_kernel(sandbox_host) as kernel:  # seen by the check as this process's kernel
            assert kernel and sandboxed_processes(stranger.pid) == []  # and not as another's
    finally:
        stranger.kill()
        stranger.wait()


def test_sigkill_mid_batch_then_rerun_grades_each_submission_exactly_once(tmp_path, cache_dir, graded, sandbox_host):
    count = 8  # enough to be killed mid-way
    batch, out = batch_of(tmp_path / "batch", count), tmp_path / "out"
    with another_graders_kernel(sandbox_host) as stranger:  # running throughout: the checks must not count it
        grader = start_grading(batch, out, cache_dir)
        wait_for(lambda: len(stored(out)) >= 3)
        wait_for(lambda: sandboxed_processes(grader.pid))  # killed while its kernels run: they must not outlive it
        assert not pids(sandboxed_processes(grader.pid)) & stranger
        grader.kill()
        grader.wait()
        before = stored(out)
        assert 3 <= len(before) < count
        wait_for(lambda: not sandboxed_processes(grader.pid), timeout=10)  # its kernels die with their grader
        assert stranger <= pids(sandboxed_processes(os.getpid()))  # while another grader's kernel still runs

    rerun = run_cli("grade", str(batch), "--rubric", str(RUBRIC), "--out", str(out), "--quiet", env_cache=cache_dir)
    assert f"graded {count - len(before)}, unchanged {len(before)}, errors 0" in rerun.stderr
    after = stored(out)
    assert len(after) == count and all(after[student] == at for student, at in before.items())
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]
    assert sorted((r["student"], r["total"]) for r in results) == [(f"2023{n:03d}", 20.0) for n in range(1, count + 1)]
    assert not list(Path("/tmp").glob(f"grader-run-{grader.pid}-*"))  # the killed run's workspace is swept
    assert not [name for name in Cgroups.detect().names_in_use() if name.startswith(f"{grader.pid}-")]
    assert not list(out.rglob("*.tmp"))


def test_whatever_a_sigkilled_grader_started_ends_with_it_every_time(tmp_path, cache_dir):
    """Killed while its first kernel (the reference solution's) runs, at a later moment each time, warm and cold: its
    sandboxes end through their lifelines, its fork server at EOF on its socket (once "sandbox process left after
    SIGKILL", now and then)."""
    batch = batch_of(tmp_path / "batch", 2)
    for attempt, kernels in enumerate(["warm", "cold", "warm", "cold", "warm"]):
        grader = start_grading(batch, tmp_path / f"out{attempt}", cache_dir, *(["--cold"] if kernels == "cold" else []))
        wait_for(lambda: sandboxed_processes(grader.pid))
        time.sleep(0.2 * attempt)
        started = descendants(grader.pid)
        assert any("grader.probe.forkserver" in cmdline(pid) for pid, _ in started) == (kernels == "warm")
        grader.kill()
        grader.wait()
        wait_for(lambda: not sandboxed_processes(grader.pid) and not still_running(started), timeout=10)


@asynccontextmanager
async def started_kernel(sandbox_host, warm) -> AsyncIterator[GradingKernelManager]:
    """A kernel in a sandbox of its own, warm (forked from `warm`) or, with None, cold; shut down on exit."""
    root = Path(tempfile.mkdtemp(prefix="grader-test-"))
    (root / "submission").mkdir()
    try:
        with sandbox_host.sandbox(root, root / "submission") as box:
            km = GradingKernelManager(kernel_name="python3", python=sys.executable, sandbox=box, warm=warm,
                                      transport="ipc", ip=str(box.runtime / "kernel"),
                                      connection_file=str(box.runtime / "kernel.json"))
            evidence = box.runtime / "evidence.jsonl"
            evidence.touch()
            box.hand_over(evidence)
            await km.start_kernel(env=sandbox_host.kernel_env(box.runtime, EVIDENCE_ENV), cwd=str(box.runtime),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                yield km
            finally:
                await km.shutdown_kernel(now=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def lifeline_of(km: GradingKernelManager) -> Lifeline:
    lifeline = km.lifeline if km.warm is None else km.provisioner.lifeline  # a cold kernel's, a warm one's holder's
    assert lifeline is not None
    return lifeline


async def running(km: GradingKernelManager) -> bool:
    return await km.provisioner.poll() is None


async def ended_within(km: GradingKernelManager, seconds: float) -> bool:
    """Whether the kernel and every process of its sandbox are gone within `seconds`."""
    deadline = time.monotonic() + seconds
    while await running(km) or km.sandbox.cgroup.pids():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.mark.parametrize("kernels", ["warm", "cold"])
def test_a_sandbox_ends_when_its_lifeline_is_cut_and_only_that_sandbox(sandbox_host, warm_kernels, kernels):
    """What the grader's death does to a lifeline, with the grader alive: EOF comes, so no other process (the other
    sandbox, its kernel, the fork server) holds its write end, and --die-with-parent plays no part."""
    warm = warm_kernels if kernels == "warm" else None

    async def cut_one() -> tuple[bool, bool, bool]:
        async with started_kernel(sandbox_host, warm) as cut, started_kernel(sandbox_host, warm) as kept:
            both_ran = await running(cut) and await running(kept)
            lifeline_of(cut).cut()
            return both_ran, await ended_within(cut, 10), await running(kept)

    assert asyncio.run(cut_one()) == (True, True, True)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, cache_dir, graded):
    count = 4  # enough to be interrupted mid-way
    batch, out = batch_of(tmp_path / "batch", count), tmp_path / "out"
    grader = start_grading(batch, out, cache_dir)
    wait_for(lambda: len(stored(out)) >= 1)
    grader.send_signal(signal.SIGINT)
    _, stderr = grader.communicate(timeout=60)
    assert grader.returncode == 130
    done = len(stored(out))
    assert (f"interrupted: the running kernels were stopped; {done} submission(s) are in "
            f"{out / 'gradebook.sqlite'}. Run the same command again to resume: submissions already graded from the "
            "same files are skipped.") in " ".join(stderr.split())
    assert not sandboxed_processes(grader.pid)
    assert not list(Path("/tmp").glob(f"grader-run-{grader.pid}-*"))
    rerun = run_cli("grade", str(batch), "--rubric", str(RUBRIC), "--out", str(out), "--quiet", env_cache=cache_dir)
    assert f"graded {count - done}, unchanged {done}, errors 0" in rerun.stderr
