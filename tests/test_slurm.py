"""`grader grade --executor slurm` on a real single-node Slurm 22.05 (tests/slurm_cluster.py): one array task per
submission, results equal to the local executor's, GPUs placed by Slurm, lost tasks retried or recorded, and a
coordinator killed mid-array that finishes the batch when started again."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from grader.gradebook import Gradebook
from tests import slurm_cluster
from tests.capture_exam import DATA, NET, RUBRIC, exam, write_exam
from tests.conftest import ROOT, SUBMISSIONS, RUBRIC as MIDTERM, run_cli

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """The cluster for this module; SLURM_CONF points every command (and the tasks) at it."""
    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        subprocess.run(["scancel", "--user=root"], env=cluster.env, capture_output=True)
        cluster.stop()
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous


def grade_on_slurm(*args: str, cache_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run_cli("grade", *args, "--executor", "slurm", "--poll", "0.3", "--quiet", env_cache=cache_dir, check=check)


def items_of(document: dict) -> dict[str, tuple]:
    return {s["student"]: (s["status"], s["total"], sorted(s["flags"]),
                           [(i["id"], i["points"], i["status"], i["message"]) for i in s["items"]])
            for s in document["submissions"]}


def test_four_samples_graded_on_slurm_equal_the_local_executor(slurm, tmp_path, cache_dir, results):
    # Problems 2 and 3, seconds each: the solution; a summed loss with 참/거짓; no zero_grad() with two items
    # unanswered; true/false as a "choose all" list. Every sample's points are checked in test_samples.py.
    chosen = ["2022001", "2022003", "2022005", "2022008"]
    folder = tmp_path / "submissions"
    folder.mkdir()
    for entry in SUBMISSIONS.iterdir():
        if any(entry.name.startswith(key) or f"({key})" in entry.name for key in chosen):
            (shutil.copytree if entry.is_dir() else shutil.copy)(entry, folder / entry.name)
    out = tmp_path / "out"
    done = grade_on_slurm(str(folder), "--rubric", str(MIDTERM), "--out", str(out), "--cpu-fallback",
                          cache_dir=cache_dir)
    assert "submitted Slurm array" in done.stderr and "graded 4, unchanged 0, errors 0" in done.stderr
    on_slurm = items_of(json.loads((out / "results.json").read_text(encoding="utf-8")))
    local = items_of(results["_document"])
    assert sorted(on_slurm) == chosen
    assert on_slurm == {key: local[key] for key in chosen}
    assert sorted(path.name for path in (out / "executed").iterdir()) == [f"{key}.ipynb" for key in chosen]
    again = grade_on_slurm(str(folder), "--rubric", str(MIDTERM), "--out", str(out), "--cpu-fallback",
                           cache_dir=cache_dir)
    assert "submitted Slurm array" not in again.stderr and "graded 0, unchanged 4" in again.stderr


def small_exam(tmp_path: Path, cells: dict[str, str], retries: int = 1) -> tuple[Path, Path]:
    """The captures exam, and one submission per key whose data cell also runs `cells[key]`."""
    rubric = copy.deepcopy(RUBRIC)
    rubric["execution"] = {"retries": retries}
    folder = write_exam(tmp_path / "rubric", rubric=rubric)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for key, extra in cells.items():
        nbformat.write(exam(DATA + "\n" + extra, NET), submissions / f"{key}.ipynb")
    return folder, submissions


def printed(out: Path, key: str) -> str:
    notebook = nbformat.read(out / "executed" / f"{key}.ipynb", as_version=4)
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs)


def test_gres_gpu_gives_each_task_its_own_gpu_and_two_run_at_once(slurm, tmp_path, cache_dir):
    stamp = ("import os, time\nstarted = time.time()\ntime.sleep(3)\n"
             "print('GPU', os.environ['CUDA_VISIBLE_DEVICES'], 'FROM', started, 'TO', time.time())")
    rubric, submissions = small_exam(tmp_path, {"2023001": stamp, "2023002": stamp})
    out = tmp_path / "out"
    # The fake GPUs are /dev/null: the sandbox would refuse them as devices, so these kernels run unsandboxed.
    grade_on_slurm(str(submissions), "--rubric", str(rubric), "--out", str(out), "--gres", "gpu:1", "--no-sandbox",
                   cache_dir=cache_dir)
    seen = {}
    for key in ("2023001", "2023002"):
        words = printed(out, key).split("GPU ")[1].split()
        seen[key] = (words[0], float(words[2]), float(words[4]))
    assert sorted(gpu for gpu, _, _ in seen.values()) == ["0", "1"]
    (_, start_a, end_a), (_, start_b, end_b) = seen.values()
    assert start_a < end_b and start_b < end_a  # the two tasks ran at the same time
    with Gradebook(out / "gradebook.sqlite") as book:
        assert {r.student: r.total for r in book.results()} == {"2023001": 16.0, "2023002": 16.0}


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout:g} s for {what}")


def start_coordinator(submissions: Path, rubric: Path, out: Path, cache_dir: Path) -> subprocess.Popen:
    """`grader grade --executor slurm` in the background, its stderr kept."""
    return subprocess.Popen(
        [sys.executable, "-m", "grader", "grade", str(submissions), "--rubric", str(rubric), "--out", str(out),
         "--executor", "slurm", "--poll", "0.3", "--quiet"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "GRADER_CACHE": str(cache_dir)})


def running_task(env: dict) -> str | None:
    listed = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True, env=env)
    return next(iter(listed.stdout.split()), None)


@pytest.mark.parametrize("retries, expected", [(1, "graded"), (0, "error")])
def test_a_cancelled_task_is_retried_or_recorded_never_lost_or_doubled(slurm, tmp_path, cache_dir, retries, expected):
    rubric, submissions = small_exam(tmp_path, {"2023001": "import time\ntime.sleep(4)"}, retries=retries)
    out = tmp_path / "out"
    coordinator = start_coordinator(submissions, rubric, out, cache_dir)
    task = wait_for(lambda: running_task(slurm.env), "the task to run")
    subprocess.run(["scancel", task], env=slurm.env, check=True)
    stderr = coordinator.communicate(timeout=120)[1]
    assert coordinator.returncode == 0, stderr
    state = json.loads((out / "slurm" / "state.json").read_text())
    assert state["attempts"] == {"2023001": retries + 1}
    with Gradebook(out / "gradebook.sqlite") as book:
        assert book.students() == ["2023001"]
        result = book.result("2023001")
    assert result.status == expected
    if expected == "error":
        assert result.error.startswith("grading did not finish: the Slurm task ended CANCELLED")
        assert result.retry  # graded again on the next run
    else:
        assert result.total == 16.0


def test_a_coordinator_killed_mid_array_finishes_the_batch_when_started_again(slurm, tmp_path, cache_dir):
    keys = [f"202300{n}" for n in range(1, 5)]
    rubric, submissions = small_exam(tmp_path, dict.fromkeys(keys, "import time\ntime.sleep(2)"))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "grade", str(submissions), "--rubric", str(rubric), "--out", str(out),
               "--executor", "slurm", "--max-tasks", "1", "--poll", "0.3", "--quiet"]
    env = {**os.environ, "GRADER_CACHE": str(cache_dir)}
    first = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL, env=env)

    def stored() -> int:
        if not (out / "gradebook.sqlite").is_file():
            return 0
        with Gradebook(out / "gradebook.sqlite") as book:
            return len(book.students())

    wait_for(lambda: stored() >= 1, "the first result")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert stored() < len(keys)  # the array goes on without its coordinator
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "submitted Slurm array" not in done.stderr  # it followed the array it found, submitting nothing
    state = json.loads((out / "slurm" / "state.json").read_text())
    assert (len(state["jobs"]), state["attempts"]) == (1, dict.fromkeys(keys, 1))
    with Gradebook(out / "gradebook.sqlite") as book:
        assert {r.student: (r.status, r.total) for r in book.results()} == dict.fromkeys(keys, ("graded", 16.0))


@pytest.mark.parametrize("listed, expected", [
    ("12_3", [("12", 3)]),
    ("12_[4-6,9%2]", [("12", 4), ("12", 5), ("12", 6), ("12", 9)]),
    ("12_[0]", [("12", 0)]),
    ("12", []),  # not an array task
])
def test_squeue_task_ids_are_read_with_pending_ranges(listed, expected):
    from grader.slurm.cluster import _expand

    assert _expand(listed) == expected


def test_sbatch_flags_are_only_the_options_given():
    from grader.slurm.cluster import SlurmOptions

    assert SlurmOptions(partition="gpu", gres="gpu:1", memory="8G", extra=("--qos=short",)).flags() == [
        "--partition=gpu", "--mem=8G", "--gres=gpu:1", "--qos=short"]
    assert SlurmOptions().flags() == []


def test_ctrl_c_cancels_the_array_and_says_how_to_resume(slurm, tmp_path, cache_dir):
    rubric, submissions = small_exam(tmp_path, {"2023001": "import time\ntime.sleep(30)"})
    out = tmp_path / "out"
    coordinator = start_coordinator(submissions, rubric, out, cache_dir)
    task = wait_for(lambda: running_task(slurm.env), "the task to run")
    coordinator.send_signal(signal.SIGINT)
    stderr = coordinator.communicate(timeout=60)[1]
    assert coordinator.returncode == 130, stderr
    assert ("interrupted: the Slurm arrays were cancelled (scancel); 0 submission(s) are in "
            f"{out / 'gradebook.sqlite'}. Run the same command again to resume") in " ".join(stderr.split())
    listed = subprocess.run(["squeue", "-h", "-t", "all", "-j", task.split("_")[0], "-o", "%T"], capture_output=True,
                            text=True, env=slurm.env).stdout.split()
    assert listed == ["CANCELLED"]
