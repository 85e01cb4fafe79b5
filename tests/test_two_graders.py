"""Two graders on one machine (two TAs, two exams at once): uids, cgroups, workspaces, caches and sweeps of the one
never touch the other's, even when one of them is SIGKILLed mid-batch and run again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.owners import left_by_dead_grader, own_tag
from grader.run.cgroups import Cgroups
from tests.conftest import SUBMISSIONS
from tests.test_crash import sandboxed_processes, start_grading, stored, wait_for
from tests.test_samples import EXPECTED, points

pytestmark = pytest.mark.notebooks

# Samples without Problem 1 (no training): the quickest to grade.
KILLED = ("이서연(2022002)", "박지호(2022003)", "최수아(2022004)", "정도윤(2022005)")
FINISHING = ("김민준(2022001)", "강하은(2022006)", "조예준(2022007)", "윤지우(2022008)", "임서준(2022009)")


def samples(folder: Path, names: tuple[str, ...]) -> Path:
    folder.mkdir()
    for name in names:
        shutil.copy2(SUBMISSIONS / f"{name}.ipynb", folder)
    return folder


def expected_points(names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """student -> item -> points, as tests/test_samples.py has them."""
    expected = {}
    for name in names:
        student = name[-8:-1]
        problem_1, problem_2, problem_3, _, _ = EXPECTED[student]
        expected[student] = ({f"1.{n}": float(p) for n, p in enumerate(problem_1, 1)}
                             | {f"2.{n}": float(p) for n, p in enumerate(problem_2, 1)}
                             | {f"3.{n}": float(p) for n, p in enumerate(problem_3, 1)})
    return expected


def graded_points(out: Path) -> dict[str, dict[str, float]]:
    """student -> item -> points, without the TA's item (2.5, manual)."""
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {submission["student"]: {item: value for item, value in points(submission).items() if item != "2.5"}
            for submission in document["submissions"]}


def leftovers(grader_pid: int) -> tuple[list[str], list[str]]:
    """That grader's cgroups and temporary folders (its workspaces, its asset mirror)."""
    groups = sorted(name for name in Cgroups.detect().names_in_use() if name.startswith(f"{grader_pid}-"))
    return groups, sorted(path.name for path in Path("/tmp").glob(f"grader-run-{grader_pid}-*"))


def test_a_grader_killed_beside_another_leaves_it_untouched_and_its_rerun_cleans_up_only_its_own(
        tmp_path, cache_dir, graded):
    killed_out, finishing_out = tmp_path / "killed-out", tmp_path / "finishing-out"
    killed_batch = samples(tmp_path / "killed", KILLED)
    finishing = start_grading(samples(tmp_path / "finishing", FINISHING), finishing_out, cache_dir, "--jobs", "1")
    killed = start_grading(killed_batch, killed_out, cache_dir, "--jobs", "1")
    wait_for(lambda: len(stored(killed_out)) >= 1 and sandboxed_processes(killed.pid))
    killed.kill()
    killed.wait()
    done_before = len(stored(killed_out))
    assert 1 <= done_before < len(KILLED)
    wait_for(lambda: not sandboxed_processes(killed.pid), timeout=10)
    groups, folders = leftovers(killed.pid)
    assert groups and folders  # its running kernel's cgroup and workspace, for the rerun's sweep

    rerun = start_grading(killed_batch, killed_out, cache_dir, "--jobs", "1")
    wait_for(lambda: leftovers(killed.pid) == ([], []))  # the rerun's sweep...
    assert finishing.poll() is None and leftovers(finishing.pid) != ([], [])  # ...while the other still grades
    _, rerun_said = rerun.communicate(timeout=600)
    _, finishing_said = finishing.communicate(timeout=600)

    assert (rerun.returncode, finishing.returncode) == (0, 0), rerun_said + finishing_said
    assert f"graded {len(KILLED) - done_before}, unchanged {done_before}, errors 0" in rerun_said
    assert f"graded {len(FINISHING)}, unchanged 0, errors 0" in finishing_said
    assert graded_points(killed_out) == expected_points(KILLED)
    assert graded_points(finishing_out) == expected_points(FINISHING)
    assert leftovers(rerun.pid) == leftovers(finishing.pid) == ([], [])


def test_a_sweep_takes_only_what_a_dead_grader_left_whatever_version_named_it():
    ended = subprocess.Popen(["true"])
    ended.wait()  # a pid no process has now (reused only after the pid space wraps)
    mine = own_tag()
    assert [left_by_dead_grader(name) for name in (
        f"{mine}-200001",  # this grader's cgroup: alive
        f"{os.getpid()}-1-200001",  # this pid with another start time: a dead grader whose pid was reused
        f"{ended.pid}-12345-200001",  # a dead grader's
        f"{os.getpid()}-200001",  # an earlier version's name (pid only) whose pid runs: left alone
        f"{ended.pid}-200001",  # an earlier version's, its pid gone
        "user.slice", "abc-1-2",  # not a grader's
    )] == [False, True, True, False, True, False, False]
