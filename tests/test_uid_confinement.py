"""Uid confinement (`--confine uid`): where bubblewrap cannot run, each kernel as its own uid, the answer files
root-only, and every result saying so."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from grader.gradebook import Gradebook, GradingSources
from grader.run.sandbox import FIRST_UID, UIDS, marked_uids
from grader.run.uid_confinement import _processes_of, open_to_others
from tests.capture_exam import DATA, NET, exam, write_exam
from tests.conftest import run_cli
from tests.test_gradescope import PASSED, SUMMARY


@pytest.fixture
def public_dir():
    """A folder any user may read, as a rubric checked out in a home folder often is."""
    folder = Path(tempfile.mkdtemp(prefix="grader-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_what_other_users_can_read_is_told_by_the_modes_on_the_way(public_dir):
    (public_dir / "open").mkdir(mode=0o755)
    (public_dir / "open" / "rubric.yaml").write_text("key")
    (public_dir / "open" / "closed.yaml").write_text("key")
    (public_dir / "open" / "closed.yaml").chmod(0o600)
    (public_dir / "passable").mkdir(mode=0o711)  # its files can be opened by a name one knows
    (public_dir / "shut").mkdir(mode=0o700)
    (public_dir / "shut" / "rubric.yaml").write_text("key")
    (public_dir / "shut" / "rubric.yaml").chmod(0o644)
    for folder in ("open", "passable", "shut"):
        (public_dir / folder).chmod({"open": 0o755, "passable": 0o711, "shut": 0o700}[folder])  # past the umask
    assert {name: open_to_others(public_dir / name) for name in (
        "open", "open/rubric.yaml", "open/closed.yaml", "passable", "shut", "shut/rubric.yaml", "missing")} == {
        "open": True, "open/rubric.yaml": True, "open/closed.yaml": False, "passable": True, "shut": False,
        "shut/rubric.yaml": False, "missing": False}


def test_grade_refuses_uid_confinement_while_the_rubric_is_readable_by_others(public_dir, tmp_path, cache_dir):
    rubric = write_exam(public_dir / "exam")
    batch = tmp_path / "batch"
    batch.mkdir()
    nbformat.write(exam(DATA, NET), batch / "학생(2023001).ipynb")
    done = run_cli("grade", str(batch), "--rubric", str(rubric), "--out", str(tmp_path / "out"), "-q",
                   "--confine", "uid", env_cache=cache_dir, check=False)
    assert done.returncode == 2
    assert " ".join(done.stderr.split()).endswith(
        f"error: cannot confine the students' kernels to their own uid: kernels confined by uid alone see the host's "
        f"files, and these can be read by other users: {rubric}. Make them root-only first: chmod -R go= {rubric}")
    assert not (tmp_path / "out" / "gradebook.sqlite").exists()
    for args, said in ((["--confine", "uid", "--no-sandbox"], "--no-sandbox and --confine uid: --no-sandbox is "
                                                              "--confine none; give one of them"),
                       (["--confine", "bwrap"], "--confine bwrap: expected sandbox, uid, none"),
                       (["--confine", "uid", "--executor", "slurm"], "--confine uid is for a container that refuses "
                                                                     "the sandbox's namespaces (Gradescope's)")):
        done = run_cli("grade", str(batch), "--rubric", str(rubric), "--out", str(tmp_path / "out"), *args,
                       env_cache=cache_dir, check=False)
        assert done.returncode == 2 and said in " ".join(done.stderr.split())


def test_each_kernel_gets_its_own_uid_and_nothing_of_it_outlives_its_run(uid_host, tmp_path):
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        (root / "submission").mkdir(parents=True)
    with uid_host.sandbox(roots[0], roots[0] / "submission") as first, \
            uid_host.sandbox(roots[1], roots[1] / "submission") as second:
        assert first.uid != second.uid and FIRST_UID <= first.uid < FIRST_UID + UIDS
        assert {first.uid, second.uid} <= marked_uids()
        assert (first.namespaces, (roots[0] / "rt").stat().st_uid, (roots[0] / "submission").stat().st_uid) == (
            False, first.uid, first.uid)
        argv = first.wrap(["python"])
        assert argv[argv.index("prlimit"):] == [
            "prlimit", f"--fsize={64 * 1024 * 1024}", "--core=0", f"--nproc={2 * 128}", "--",
            "setpriv", f"--reuid={first.uid}", f"--regid={first.uid}", "--clear-groups", "--no-new-privs", "--",
            sys.executable, "-m", "grader.probe.syscall_filter", "--fd", "9", "--", "python"]
        assert "bwrap" not in " ".join(argv)
        # What a kernel leaves behind: a process that detached itself, a file in the host's /tmp.
        sleeper = subprocess.Popen(["setpriv", f"--reuid={first.uid}", f"--regid={first.uid}", "--clear-groups",
                                    "setsid", "sleep", "600"])
        leftover = Path(tempfile.gettempdir()) / f"grader-test-left-{first.uid}"
        leftover.write_text("for the next kernel with this uid")
        os.chown(leftover, first.uid, first.uid)
        while sleeper.poll() is None and not _processes_of(first.uid):  # until setpriv has become the uid
            time.sleep(0.01)
    assert sleeper.wait(timeout=10) == -signal.SIGKILL
    assert _processes_of(first.uid) == [] and not leftover.exists()
    assert not {first.uid, second.uid} & marked_uids()


def test_the_gradebook_keeps_what_ran_and_a_looser_grade_never_stands_in_for_a_tighter_one(tmp_path):
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        book.bind_rubric(SUMMARY)
        book.store(PASSED.model_copy(update={"confinement": "uid", "sandboxed": False}))
        result = book.result("2022001")
        assert (result.confinement, result.sandboxed) == ("uid", False)
        current = {confinement: book.is_current("2022001", "sha256:n1", "sha256:r1", confinement)
                   for confinement in ("sandbox", "uid", "none")}
        assert current == {"sandbox": False, "uid": True, "none": True}
        # A row written before uid confinement says only `sandboxed`.
        book.db.execute("UPDATE submissions SET confinement = '', sandboxed = 0")
        assert book.result("2022001").confinement == "none"
        assert not book.is_current("2022001", "sha256:n1", "sha256:r1", "uid")
    assert GradingSources(rubric="r", submissions="s", sandboxed=False).confinement == "none"
    assert GradingSources(rubric="r", submissions="s", confinement="uid").sandboxed is False


@pytest.mark.notebooks
def test_grade_with_uid_confinement_says_what_ran_in_every_report_and_export(tmp_path, cache_dir):
    rubric = write_exam(tmp_path / "exam")  # pytest's folders are root's alone: nothing here is open to others
    batch = tmp_path / "batch"
    batch.mkdir()
    nbformat.write(exam(DATA, NET), batch / "학생(2023001).ipynb")
    (batch / "학생(2023002).ipynb").write_text("not a notebook")  # no kernel runs for it: still, it says what would
    out = tmp_path / "out"
    done = run_cli("grade", str(batch), "--rubric", str(rubric), "--out", str(out), "-q", "--confine", "uid",
                   env_cache=cache_dir)
    assert ("--confine uid no sandbox: each kernel runs as its own unprivileged uid, without namespaces."
            in " ".join(done.stderr.split()))
    result, unreadable = json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]
    assert (result["total"], result["flags"], result["sandboxed"], result["confinement"]) == (
        16.0, ["uid-only"], False, "uid")
    assert (unreadable["status"], unreadable["sandboxed"], unreadable["confinement"]) == ("error", False, "uid")
    report = (out / "students" / "2023001.html").read_text(encoding="utf-8")
    note = re.search(r"sandbox: none \(bubblewrap cannot create namespaces on this host\); the kernel ran as uid "
                     r"(\d+) without namespaces: the rubric, the solution, the reference cache and the gradebook "
                     r"were root-only, but the network and files readable by all users were in its reach", report)
    assert note and FIRST_UID <= int(note.group(1)) < FIRST_UID + UIDS
    for page in (out / "index.html", out / "students" / "2023001.html"):
        assert "Not sandboxed (uid only):" in page.read_text(encoding="utf-8")
    run_cli("export", "--format", "csv", "--out", str(out), env_cache=cache_dir)
    header, row, _ = (out / "grades.csv").read_text(encoding="utf-8-sig").splitlines()
    assert header.endswith("late_deduction,total,max,late_note,confinement") and row.endswith(",0,16,16,,uid")
    # A sandboxed run grades it again; a uid-only one after it keeps the sandboxed grade.
    again = run_cli("grade", str(batch), "--rubric", str(rubric), "--out", str(out), "-q", env_cache=cache_dir)
    assert "graded 2, unchanged 0" in again.stderr
    loose = run_cli("grade", str(batch), "--rubric", str(rubric), "--out", str(out), "-q", "--confine", "uid",
                    env_cache=cache_dir)
    assert "graded 0, unchanged 2" in loose.stderr
    result, _ = json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]
    assert (result["flags"], result["confinement"]) == ([], "sandbox")
