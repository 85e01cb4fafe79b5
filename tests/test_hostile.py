"""Hostile submissions (tests/hostile/, built by scripts/build_hostile.py) graded in
one sandboxed batch next to two honest ones.

Each hostile notebook is the reference solution (44 automatic points) plus one
attack. Expected: the batch finishes, the honest submissions' results equal
those of the main sample run, each hostile one keeps exactly what its honest
cells earned, and the report says what was stopped.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import threading
from pathlib import Path

import nbformat
import pytest

import grader
from grader.gradebook import Gradebook
from tests.conftest import RUBRIC, SUBMISSIONS
from tests.test_crash import sandboxed_processes, start_grading

pytestmark = pytest.mark.notebooks

HOSTILE = Path(__file__).parent / "hostile"
HONEST = ["이서연(2022002).ipynb", "임서준(2022009).ipynb"]
LIMITS = ["--cell-timeout", "8", "--memory", "1536", "--max-processes", "64", "--max-file", "16", "--disk", "64"]
FULL = 44.0  # Problems 2 and 3 of the reference solution; Problem 1 is left empty (0) and 2.5 waits for a TA


class Listener:
    """A TCP listener on 127.0.0.1 that counts who connects (nobody should)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.socket.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, cache_dir, graded):  # after `graded`: the reference is cached with the rubric's limits
    batch = tmp_path_factory.mktemp("hostile-batch")
    out = tmp_path_factory.mktemp("hostile-out")
    listener = Listener()
    fill = {"{PORT}": str(listener.port), "{RUBRIC}": str(RUBRIC), "{CACHE}": str(cache_dir),
            "{SUBMISSIONS}": str(SUBMISSIONS)}
    for path in sorted(HOSTILE.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        for placeholder, value in fill.items():
            text = text.replace(placeholder, value)
        if path.name.startswith("symlink_key"):
            folder = batch / path.stem
            folder.mkdir()
            (folder / "answer_key.yaml").symlink_to(RUBRIC / "rubric.yaml")
            (folder / path.name).write_text(text, encoding="utf-8")
        else:
            (batch / path.name).write_text(text, encoding="utf-8")
    for name in HONEST:
        shutil.copy(SUBMISSIONS / name, batch / name)
    before = sorted(p.name for p in SUBMISSIONS.iterdir())
    grader = start_grading(batch, out, cache_dir, *LIMITS)  # its pid: the processes it leaves are looked for
    try:
        stdout, stderr = grader.communicate(timeout=1800)
    finally:
        listener.close()
    assert grader.returncode == 0, f"grader grade failed ({grader.returncode}):\n{stdout}\n{stderr}"
    assert sorted(p.name for p in SUBMISSIONS.iterdir()) == before
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {
        "out": out, "listener": listener, "console": stderr, "grader_pid": grader.pid,
        "results": {r["student"]: r for r in results["submissions"]},
    }


def outputs(hostile, student: str, marker: str) -> list[str]:
    """Text printed by the cells whose source contains `marker`, in the executed copy."""
    nb = nbformat.read(hostile["out"] / "executed" / f"{student}.ipynb", as_version=4)
    return ["".join(o.get("text", "") or o.get("evalue", "") for o in cell.outputs)
            for cell in nb.cells if cell.cell_type == "code" and marker in cell.source]


def stored(hostile, student: str):
    with Gradebook(hostile["out"] / "gradebook.sqlite") as book:
        return book.result(student)


def problems(result) -> list[tuple]:
    """Cells that did not end "ok", and items of Problems 2 and 3 that neither passed nor wait for a TA
    (the hostile samples leave Problem 1 empty: test_problem_1_left_empty_earns_nothing)."""
    return ([(c.cell, c.status, c.error) for c in result.cells if c.status != "ok"],
            [(i.id, i.points, i.status) for i in result.items
             if i.status not in ("pass", "manual") and not i.id.startswith("1.")])


NOT_RUN_AFTER_25 = [(n, "not-run", None) for n in (28, 30, 32, 34, 36, 38, 40, 42, 44, 46)]

# student: (total, flags, cells not ok, items neither pass nor manual). Problem 3 is read from the
# notebook's text, so it counts even after a kernel death; Problem 2 needs evidence from the kernel.
EXPECTED = {
    "9900001": (FULL, [], [], []),
    "9900002": (FULL, [], [], []),
    "9900003": (FULL, [], [], []),
    "9900004": (FULL, ["timeout", "process-limit"],
                [(25, "timeout", "still running after 8 s and did not stop when interrupted"), *NOT_RUN_AFTER_25], []),
    "9900005": (FULL, ["kernel-died", "memory-limit"],
                [(25, "died", "the kernel died while running this cell"), *NOT_RUN_AFTER_25], []),
    "9900006": (FULL, ["disk-limit"], [(25, "error", "OSError: [Errno 27] File too large"),
                                       (26, "error", "OSError: [Errno 28] No space left on device")], []),
    "9900007": (FULL, ["timeout"], [(25, "timeout", "stopped after the 8 s limit per cell")], []),
    "9900008": (FULL, [], [(25, "error", "SystemExit")], []),
    "9900009": (FULL, ["kernel-died"], [(25, "died", "the kernel died while running this cell"), *NOT_RUN_AFTER_25], []),
    "9900010": (FULL, [], [], []),
    "9900011": (FULL, ["timeout"],
                [(25, "timeout", "still running after 8 s and did not stop when interrupted"), *NOT_RUN_AFTER_25], []),
    # Hooks removed before Problem 2: its updates leave no evidence, and its printed numbers are flagged. Its net,
    # set right, is evaluated by the grader on the question's inputs: the first prediction needs no hook.
    "9900012": (26.0, ["integrity"], [], [("2.2", 0.0, "fail"), ("2.3", 0.0, "fail"), ("2.4", 0.0, "fail")]),
    "9900014": (FULL, ["integrity"], [], []),
    "9900015": (FULL, [], [], []),
    "9900016": (FULL, [], [], []),
    "9900017": (FULL, [], [], []),
    "9900018": (FULL, [], [], []),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_hostile_submission_keeps_exactly_what_its_honest_cells_earned(hostile, student):
    total, flags, cells, items = EXPECTED[student]
    result = stored(hostile, student)
    assert (result.total, result.flags) == (total, flags)
    assert problems(result) == (cells, items)
    assert result.status == "needs-review" and result.sandboxed  # 1.x and 2.5 wait for a TA


def test_the_honest_submissions_are_graded_as_in_the_sample_run(hostile, results):
    for student in ("2022002", "2022009"):
        got = hostile["results"][student]
        want = results[student]
        assert [(i["id"], i["points"], i["status"], i["message"]) for i in got["items"]] == \
               [(i["id"], i["points"], i["status"], i["message"]) for i in want["items"]]
        assert (got["total"], got["status"], got["flags"]) == (want["total"], want["status"], want["flags"])


def test_problem_1_left_empty_earns_nothing(hostile):
    for student in EXPECTED:
        result = stored(hostile, student)
        assert [(i.id, i.points, i.status) for i in result.items if i.id.startswith("1.")] == [
            (f"1.{n}", 0.0, "fail") for n in range(1, 5)], student


def test_nothing_outside_the_submission_is_visible(hostile):
    (printed,) = outputs(hostile, "9900001", "listdir")
    lines = printed.splitlines()
    # The system, the sandbox's own folders, and the top folders of the Python environment's paths.
    python = {Path(path).parts[1] for path in (sys.prefix, grader.__file__)}
    links = {name for name in ("bin", "sbin", "lib", "lib32", "lib64") if Path("/", name).exists()}
    top = sorted({"dev", "etc", "proc", "sandbox", "tmp", "usr"} | links | python)
    # assets: the model weights and datasets (`grader assets`), read-only; no rubric or reference among them.
    assert lines[:3] == ["LIST .. ['assets', 'matplotlib', 'submission', 'work']", f"LIST / {top}",
                         "LIST /sandbox ['assets', 'matplotlib', 'submission', 'work']"]
    assert all(line.startswith("BLOCKED ") and line.endswith(" FileNotFoundError") for line in lines[3:])
    assert len(lines) == 12  # /root, /home, rubric, cache, submissions; rubric.yaml, solution, a sample, /etc/shadow


def test_the_network_is_unreachable_even_on_loopback(hostile):
    assert outputs(hostile, "9900002", "create_connection") == ["['lo']\nREFUSED ConnectionRefusedError\n"]
    assert hostile["listener"].connections == 0


def test_writes_land_only_in_the_working_copy(hostile):
    (printed,) = outputs(hostile, "9900003", "planted")
    lines = printed.splitlines()
    assert lines[:4] == ["BLOCKED /sandbox/submission/planted.txt OSError", "BLOCKED /usr/planted.txt OSError",
                         "BLOCKED /etc/planted.txt OSError", "BLOCKED /planted.txt OSError"]
    assert lines[4].startswith("BLOCKED /tmp/grader-run-") and lines[4].endswith("/rt/planted.txt PermissionError")
    assert lines[5] == "['planted.txt', 'writes_outside(9900003).ipynb']"


def test_what_was_stopped_is_explained(hostile):
    notes = {student: stored(hostile, student).notes for student in ("9900004", "9900005", "9900006", "9900014")}
    assert "the notebook tried to run more than 64 processes and threads at once; the extra ones were refused" in notes["9900004"]
    assert "the notebook used more than its 1536 MB of memory and a process was killed" in notes["9900005"]
    assert notes["9900006"] == [
        "cell 25: ran out of its disk space (64 MB per folder, files up to 16 MB): OSError: [Errno 27] File too large",
        "cell 26: ran out of its disk space (64 MB per folder, files up to 16 MB): OSError: [Errno 28] No space left on device"]
    assert notes["9900014"] == ["1 line(s) of the evidence file (line 50) were not written by the grader's probe: code "
                                "in the notebook wrote them. They were ignored; the rest of the evidence is graded"]
    report = (hostile["out"] / "students" / "9900005.html").read_text(encoding="utf-8")
    assert "memory-limit" in report and "1536 MB of memory" in report


def test_signals_exits_and_floods_do_not_reach_the_grader(hostile):
    assert outputs(hostile, "9900007", "after the loop") == ["after the loop\n"]
    assert outputs(hostile, "9900008", "still alive") == ["still alive\n"]
    assert outputs(hostile, "9900010", "getppid")[0].endswith("parent signalled\n")  # pid 1 of its own namespace
    (flood,) = outputs(hostile, "9900016", "2**20")
    assert flood.endswith("[the grader cut this cell's output at 2,000,000 characters]\n")
    assert len(flood) <= 2_000_100
    assert outputs(hostile, "9900017", "answer_key") == ["True\nBLOCKED FileNotFoundError\n"]


def test_no_nested_namespaces_no_namespace_root(hostile):
    assert outputs(hostile, "9900018", "attempt") == [
        "user REFUSED Operation not permitted\nmount REFUSED Operation not permitted\n"
        "network REFUSED Operation not permitted\n"]


def test_forged_json_breaks_only_the_forger(hostile):
    result = stored(hostile, "9900013")
    assert (result.total, result.flags) == (20.0, ["kernel-died"])
    cells, items = problems(result)
    assert cells[0][:2] == (15, "died") and cells[0][2].startswith("the kernel stopped following the Jupyter protocol")
    assert items == [("2.1", 0.0, "not-reached"), ("2.2", 0.0, "not-reached"), ("2.3", 0.0, "not-reached"),
                     ("2.4", 0.0, "not-reached")]


def test_no_sandbox_process_outlives_the_batch(hostile):
    assert sandboxed_processes(hostile["grader_pid"]) == []  # the fork bomb's children included
