"""Gradescope: results.json for one submission, the autograder zip, the `results` command, and the autograder run
as Gradescope runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
import yaml
from typer.testing import CliRunner

from grader.batch import rubric_summary
from grader.export import gradescope_build
from grader.export.gradescope import (TO_BE_GRADED, GradescopeError, GradescopeSubmission, gradescope_results,
                                      read_submission_metadata, with_gradescope_lateness)
from grader.cli.gradescope import gradescope_app
from grader.export.gradescope_build import autograder_points, setup_script
from grader.gradebook import Gradebook, RubricSummary
from grader.results import CheckResult, IntegrityFlag, ItemResult, ManualScore, SubmissionResult
from grader.rubric import load_rubric
from grader.rubric.models import LatePolicy
from grader.run.uid_confinement import open_to_others
from tests.capture_exam import DATA, NET, write_exam
from tests.capture_exam import RUBRIC as RUBRIC_OF_CAPTURES
from tests.conftest import RUBRIC, SUBMISSIONS, run_cli
from tests.test_sandbox import fake_bwrap

SUMMARY = RubricSummary(id="exam", title="Exam", hash="sha256:r1", total=20, items=[
    {"id": "2.1", "title": "Linear network", "points": 6, "visibility": "public", "kinds": ["module", "tensor"]},
    {"id": "2.3", "title": "Five Adam updates", "points": 6, "visibility": "hidden", "kinds": ["optimizer_trace"]},
    {"id": "2.5", "title": "Has it converged?", "points": 6, "visibility": "hidden", "kinds": ["manual"]},
    {"id": "3.1", "title": "(1) X has shape (n,1,28,28)", "points": 2, "visibility": "hidden", "kinds": ["true_false"]},
])
EXPECTED_VALUE = -15.729  # what a TA sees in a hidden check's detail; never the student


def item(item_id: str, points: float, max_points: float, status: str, message: str, **more) -> ItemResult:
    return ItemResult(id=item_id, points=points, max_points=max_points, status=status, message=message,
                      evidence="executed", **more)


def submission(items: list[ItemResult], **more) -> SubmissionResult:
    fields = dict(student="2022001", name="홍길동", student_id="2022001", file="submission", status="graded",
                  total=sum(i.points for i in items), max=20, items=items, notebook_hash="sha256:n1",
                  rubric_hash="sha256:r1", seconds=12.6)
    return SubmissionResult(**{**fields, **more})


PASSED = submission([
    item("2.1", 6, 6, "pass", "✓ net is Linear · ✓ first prediction"),
    item("2.3", 6, 6, "pass", "✓ weights after five updates"),
    item("2.5", 6, 6, "pass", "waiting for a TA to grade this answer",
         manual=ManualScore(points=6, comment="근거가 정확함", by="TA Kim", at="2026-11-27T00:00:00+00:00",
                            kind="manual")),
    item("3.1", 2, 2, "pass", "answered False: correct"),
])

PARTIAL = submission([
    item("2.1", 6, 6, "pass", "✓ net is Linear · ✓ first prediction"),
    item("2.3", 3, 6, "partial", "✗ weights after five updates: 4 updates, not 5",
         checks=[CheckResult(name="weights after five updates", points=3, max_points=6, passed=False,
                             message="4 updates, not 5", detail={"expected": [[EXPECTED_VALUE, 2.25]]})]),
    item("2.5", 0, 6, "manual", "waiting for a TA to grade this answer", answer="수렴했다"),
    item("3.1", 0, 2, "fail", "answered True: incorrect"),
], status="needs-review", flags=["no-student-id", "timeout", "integrity", "cpu-fallback", "no-sandbox"],
   integrity=[IntegrityFlag(cell=7, note=f"cell 7 prints {EXPECTED_VALUE} but no recorded computation produced it",
                            source="print(torch.tensor([[15.729]]))  # flagged")], sandboxed=False)

ERROR = submission([], status="error", error="the notebook could not be run: NameError in <module>", seconds=0.4)

SPEC_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
TO_BE_GRADED_2_5 = {"number": "2.5", "name": "2.5 Has it converged?", "visibility": "visible",
                    "output": "to be graded by a TA in Gradescope's manual grading (6 points, added to the "
                              "autograder's score)"}


def assert_follows_the_spec(document: dict) -> None:
    """The fields of Gradescope's autograder specification (docs/specs.md of gradescope/autograder_samples), and
    what the student sees adding up: the tests' scores are the top-level score."""
    assert set(document) <= {"score", "execution_time", "output", "output_format", "test_output_format",
                             "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
                             "leaderboard"}
    assert isinstance(document["score"], float)
    assert isinstance(document["execution_time"], int)
    assert isinstance(document["output"], str)
    assert document["output_format"] in {"text", "html", "simple_format", "md", "ansi"}
    assert document["stdout_visibility"] in SPEC_VISIBILITY
    for test in document["tests"]:
        assert test["visibility"] in SPEC_VISIBILITY
        assert all(isinstance(test[key], str) for key in ("name", "output"))
        if "score" not in test:  # "informational checks": an item a TA grades in Gradescope
            assert set(test) == {"name", "number", "output", "visibility"}
            continue
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert test["status"] in {"passed", "failed"}
        if test["name"] == "Late submission":
            assert set(test) == {"score", "max_score", "status", "name", "output", "visibility"}
            assert test["score"] < 0 == test["max_score"]
        else:
            assert set(test) == {"score", "max_score", "status", "name", "number", "output", "visibility"}
            assert 0 <= test["score"] <= test["max_score"]
    assert sum(test.get("score", 0.0) for test in document["tests"]) == document["score"]
    json.dumps(document)


def max_scores(document: dict) -> float:
    return sum(test.get("max_score", 0.0) for test in document["tests"])


def test_a_passing_submission():
    document = gradescope_results(SUMMARY, PASSED)
    assert_follows_the_spec(document)
    assert document == {
        "score": 20.0, "execution_time": 13, "output": "Your notebook ran and was graded.",
        "output_format": "simple_format", "stdout_visibility": "hidden", "extra_data": {"confinement": "sandbox"},
        "tests": [
            {"number": "2.1", "name": "2.1 Linear network", "score": 6.0, "max_score": 6.0, "status": "passed",
             "output": "✓ net is Linear · ✓ first prediction", "visibility": "visible"},
            {"number": "2.3", "name": "2.3 Five Adam updates", "score": 6.0, "max_score": 6.0, "status": "passed",
             "output": "✓ weights after five updates", "visibility": "after_published"},
            {"number": "2.5", "name": "2.5 Has it converged?", "score": 6.0, "max_score": 6.0, "status": "passed",
             "output": "graded by a TA: 근거가 정확함", "visibility": "after_published"},
            {"number": "3.1", "name": "3.1 (1) X has shape (n,1,28,28)", "score": 2.0, "max_score": 2.0,
             "status": "passed", "output": "answered False: correct", "visibility": "after_published"},
        ],
    }


PARTIAL_DOCUMENT = {
    "score": 9.0, "execution_time": 13,
    "output": "Your notebook ran and was graded.\n"
              "To be graded by a TA: 2.5 (6 points, added to the autograder's score in Gradescope's manual grading).\n"
              "A cell ran past its time limit and was stopped.\n"
              "This grader has no GPU: the notebook's .cuda() and .to('cuda') calls ran on the CPU instead.\n"
              "Sandbox: none. Your notebook ran unconfined, as the grader's own user, in a container that is thrown "
              "away after this submission.",
    "output_format": "simple_format", "stdout_visibility": "hidden", "extra_data": {"confinement": "none"},
    "tests": [
        {"number": "2.1", "name": "2.1 Linear network", "score": 6.0, "max_score": 6.0, "status": "passed",
         "output": "✓ net is Linear · ✓ first prediction", "visibility": "visible"},
        {"number": "2.3", "name": "2.3 Five Adam updates", "score": 3.0, "max_score": 6.0, "status": "failed",
         "output": "✗ weights after five updates: 4 updates, not 5", "visibility": "after_published"},
        TO_BE_GRADED_2_5,
        {"number": "3.1", "name": "3.1 (1) X has shape (n,1,28,28)", "score": 0.0, "max_score": 2.0,
         "status": "failed", "output": "answered True: incorrect", "visibility": "after_published"},
    ],
}


def test_a_partial_submission_with_hidden_items_and_an_item_to_be_graded_by_a_ta():
    document = gradescope_results(SUMMARY, PARTIAL)
    assert_follows_the_spec(document)
    assert document == PARTIAL_DOCUMENT
    assert TO_BE_GRADED.format(points=6) == TO_BE_GRADED_2_5["output"]
    # Not "0/6, failed": no score, no status, and the tests' max_score are the autograder's 14 points (20 less 2.5's)
    assert max_scores(document) == 14.0
    # Only what the student may see: no expected value, integrity note, hash or TA-only flag.
    text = json.dumps(document, ensure_ascii=False)
    for secret in (str(EXPECTED_VALUE), "15.729", "sha256", "integrity", "no-student-id", "recorded computation",
                   "# flagged"):
        assert secret not in text


def test_a_submission_that_could_not_be_graded():
    document = gradescope_results(SUMMARY, ERROR)
    assert_follows_the_spec(document)
    not_graded = "not graded: the notebook could not be run: NameError in <module>"  # test outputs are text
    assert document == {
        "score": 0.0, "execution_time": 0,
        "output": "Your notebook could not be graded: the notebook could not be run: NameError in &lt;module&gt;\n"
                  "To be graded by a TA: 2.5 (6 points, added to the autograder's score in Gradescope's manual "
                  "grading).",
        "output_format": "simple_format", "stdout_visibility": "hidden", "extra_data": {"confinement": "sandbox"},
        "tests": [
            {"number": entry["id"], "name": f"{entry['id']} {entry['title']}", "score": 0.0,
             "max_score": float(entry["points"]), "status": "failed", "output": not_graded,
             "visibility": "visible" if entry["visibility"] == "public" else "after_published"}
            if entry["id"] != "2.5" else TO_BE_GRADED_2_5
            for entry in SUMMARY.items
        ],
    }


def test_uid_confinement_is_said_to_the_student_and_stored_for_the_instructor():
    document = gradescope_results(SUMMARY, PASSED.model_copy(update={"confinement": "uid", "sandboxed": False}))
    assert document["output"] == (
        "Your notebook ran and was graded.\nSandbox: none (this Gradescope container does not allow it). Your "
        "notebook ran as an unprivileged user of its own, which cannot read the grading files.")
    assert document["extra_data"] == {"confinement": "uid"}


# -- which tests students see on submission: the rubric's public checks ----------------------

def check(name: str, points: float, passed: bool, message: str = "") -> CheckResult:
    return CheckResult(name=name, points=points if passed else 0.0, max_points=points, passed=passed, message=message)


def test_an_item_with_public_and_hidden_checks_is_two_tests_and_public_checks_show_on_submission():
    summary = rubric_summary(load_rubric(RUBRIC))
    # 1.1 to 1.3: every check public; 1.4: one of each; Problems 2 and 3: hidden; 2.5: a TA's.
    cam = item("1.4", 5, 15, "partial", "✓ a heatmap overlaid on an image · ✗ agrees with the model's class "
               "activation map: rank correlation 0.31", checks=[
                   check("a heatmap overlaid on an image", 5, True),
                   check("agrees with the model's class activation map", 10, False, "rank correlation 0.31")])
    folder = item("1.1", 7, 10, "partial", "✓ two class folders · ✓ keywords other than iu and hynn · ✗ at least 20 "
                  "images per keyword: 12 and 25", checks=[
                      check("two class folders", 4, True), check("keywords other than iu and hynn", 3, True),
                      check("at least 20 images per keyword", 3, False, "12 and 25")])
    tf = item("3.2", 2, 2, "pass", "answered True: correct", checks=[check("true or false", 2, True)])
    result = submission([folder, cam, tf], max=100)
    tests = {(test["name"], test["visibility"]): (test.get("score"), test.get("max_score"), test["output"])
             for test in gradescope_results(summary, result)["tests"]}
    assert tests[("1.1 Images crawled for two keywords (neither iu nor hynn)", "visible")] == (
        7.0, 10.0, "✓ two class folders · ✓ keywords other than iu and hynn · ✗ at least 20 images per keyword: "
                   "12 and 25")
    assert tests[("1.4 CAM of the trained model (public checks)", "visible")] == (
        5.0, 5.0, "✓ a heatmap overlaid on an image")
    assert tests[("1.4 CAM of the trained model (hidden checks)", "after_published")] == (
        0.0, 10.0, "✗ agrees with the model's class activation map: rank correlation 0.31")
    assert tests[("3.2 (2) the loss is CrossEntropyLoss", "after_published")] == (2.0, 2.0, "answered True: correct")
    # The whole rubric, as a submission that could not be graded shows it: what is visible on submission
    everything = gradescope_results(summary, submission([], status="error", error="no notebook", max=100))
    assert_follows_the_spec(everything)
    assert [(test["name"], test["visibility"], test.get("max_score")) for test in everything["tests"]][:8] == [
        ("1.1 Images crawled for two keywords (neither iu nor hynn)", "visible", 10.0),
        ("1.2 dls from ImageDataLoaders.from_folder", "visible", 10.0),
        ("1.3 resnet34 trained", "visible", 15.0),
        ("1.4 CAM of the trained model (public checks)", "visible", 5.0),
        ("1.4 CAM of the trained model (hidden checks)", "after_published", 10.0),
        ("2.1 Linear network with initial prediction -5 + 10x", "after_published", 6.0),
        ("2.2 Adam (lr=0.1): gradient at (-5, 10) and one update", "after_published", 6.0),
        ("2.3 Five Adam updates in total with the same optimizer", "after_published", 6.0)]
    assert [(test["name"], test["visibility"]) for test in everything["tests"] if test["number"] == "2.5"] == [
        ("2.5 Has it converged? (argue from the gradient)", "visible")]
    assert {test["visibility"] for test in everything["tests"] if test["number"].startswith("3.")} == {
        "after_published"}
    assert max_scores(everything) == 94.0  # 100 less 2.5's 6, which a TA grades in Gradescope


# -- lateness, from Gradescope's submission metadata -----------------------------------------

DUE = "2022-04-20T23:59:00.000000+09:00"
LATE_POLICY = LatePolicy(rule="per_day", deduction_percent=10, cap_percent=50, grace_minutes=10)


def metadata_file(folder: Path, created_at: str, due_date: str | None = DUE) -> Path:
    """As Gradescope writes /autograder/submission_metadata.json (its documentation's example, trimmed)."""
    path = folder / "submission_metadata.json"
    path.write_text(json.dumps({
        "id": 123456, "created_at": created_at, "submission_method": "upload",
        "assignment": {"due_date": due_date, "late_due_date": None, "title": "Midterm", "total_points": "20.0"},
        "users": [{"email": "student@example.com", "id": 1234, "name": "홍길동"}], "previous_submissions": [],
    }), encoding="utf-8")
    return path


def test_submission_metadata_is_read_with_its_time_zones(tmp_path):
    read = read_submission_metadata(metadata_file(tmp_path, "2022-04-21T11:30:12.365935+09:00"))
    assert read == GradescopeSubmission(created_at="2022-04-21T02:30:12+00:00",
                                        due_date=datetime.fromisoformat("2022-04-20T23:59:00+09:00"))
    assert read_submission_metadata(metadata_file(tmp_path, "2022-04-21T11:30:12+09:00", None)).due_date is None
    (tmp_path / "broken.json").write_text('{"assignment": {}}', encoding="utf-8")
    with pytest.raises(GradescopeError) as caught:
        read_submission_metadata(tmp_path / "broken.json")
    assert str(caught.value) == (f"{tmp_path / 'broken.json'}: not Gradescope's submission metadata as expected "
                                 "(created_at, assignment.due_date): KeyError: 'created_at'")


def test_a_late_deduction_is_a_test_and_a_line_so_that_what_the_student_sees_adds_up(tmp_path):
    late = read_submission_metadata(metadata_file(tmp_path, "2022-04-21T11:30:00+09:00"))  # 11 h 31 min late
    result = with_gradescope_lateness(PASSED, LATE_POLICY, late, "rubric")
    note = ("late: submitted 2022-04-21T02:30:00+00:00, 11 h 31 min after the deadline (2022-04-20T23:59+09:00); "
            "10 min grace; −2 points (10% of 20 per day started after the grace, at most 50%)")
    assert (result.total, result.late_deduction, result.late_note, result.submitted_at) == (
        18.0, 2.0, note, "2022-04-21T02:30:00+00:00")
    document = gradescope_results(SUMMARY, result)
    assert_follows_the_spec(document)
    assert document["score"] == 18.0
    assert document["tests"][-1] == {"name": "Late submission", "score": -2.0, "max_score": 0.0, "status": "failed",
                                     "output": note, "visibility": "visible"}
    assert document["output"] == f"Your notebook ran and was graded.\nL{note[1:]}. The score is after it."
    assert max_scores(document) == 20.0
    # Within the grace period, or on time: nothing said, nothing taken.
    on_time = read_submission_metadata(metadata_file(tmp_path, "2022-04-21T00:08:00+09:00"))
    assert with_gradescope_lateness(PASSED, LATE_POLICY, on_time, "rubric").model_dump() == PASSED.model_copy(
        update={"submitted_at": "2022-04-20T15:08:00+00:00"}).model_dump()
    # The rubric's own deadline wins over Gradescope's due date.
    own = LATE_POLICY.model_copy(update={"deadline": datetime.fromisoformat("2022-04-22T23:59:00+09:00")})
    assert with_gradescope_lateness(PASSED, own, late, "rubric").late_deduction == 0.0


def test_lateness_left_to_gradescope_deducts_nothing_and_says_so(tmp_path):
    late = read_submission_metadata(metadata_file(tmp_path, "2022-04-21T11:30:00+09:00"))
    already = PASSED.model_copy(update={"total": 18.0, "late_deduction": 2.0, "late_note": "late: …"})
    result = with_gradescope_lateness(already, LATE_POLICY, late, "gradescope")
    note = ("late: submitted 2022-04-21T02:30:00+00:00, 11 h 31 min after Gradescope's due date; this autograder "
            "deducts nothing for it: the course's Gradescope settings decide what lateness costs")
    assert (result.total, result.late_deduction, result.late_note) == (20.0, 0.0, note)
    document = gradescope_results(SUMMARY, result)
    assert_follows_the_spec(document)
    assert "Late submission" not in [test["name"] for test in document["tests"]]
    assert document["output"] == f"Your notebook ran and was graded.\nL{note[1:]}."
    on_time = read_submission_metadata(metadata_file(tmp_path, "2022-04-20T23:00:00+09:00"))
    assert with_gradescope_lateness(PASSED, LATE_POLICY, on_time, "gradescope").late_note is None


# -- the autograder zip ---------------------------------------------------------------

SCRIPTS = ["setup.sh", "run_autograder"]


BUILT = ("graded by a TA in Gradescope: 2.5 (6) (add a manual grading question for them); give the autograder 44 "
         "points (its tests' max_score add up to that)\n"
         "lateness: the rubric's late policy, timed by Gradescope's submission metadata\n")


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gradescope")
    out = folder / "autograder.zip"
    done = CliRunner().invoke(gradescope_app, ["build", str(RUBRIC), "--out", str(out), "--problems", "2,3"])
    assert done.exit_code == 0, done.output
    assert done.output == f"wrote {out} ({len(zipfile.ZipFile(out).namelist())} files): Problem(s) 2, 3, 15 items, " \
                          f"50 points\n{BUILT}"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(folder / "unpacked")
        return archive.infolist(), folder / "unpacked"


def test_the_zip_holds_the_scripts_the_restricted_rubric_and_the_grader(autograder):
    infos, _ = autograder
    names = [info.filename for info in infos]
    assert [name for name in names if not name.startswith("grader-src/")] == [
        *SCRIPTS, "rubric/rubric.yaml", "rubric/solution.ipynb", "rubric/template.ipynb"]  # no solution-data
    assert {"grader-src/pyproject.toml", "grader-src/README.md", "grader-src/grader/__init__.py",
            "grader-src/grader/export/gradescope_build.py",
            "grader-src/grader/report/templates/student.html.j2"} < set(names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in infos}
    assert {name: modes[name] for name in SCRIPTS} == {"setup.sh": 0o755, "run_autograder": 0o755}
    assert {mode for name, mode in modes.items() if name not in SCRIPTS} == {0o644}


def test_the_scripts_are_bash_with_lf_line_endings(autograder):
    _, unpacked = autograder
    for name in SCRIPTS:
        script = (unpacked / name).read_bytes()
        assert script.startswith(b"#!/usr/bin/env bash\n") and b"\r" not in script
        assert b"set -euo pipefail" in script
        done = subprocess.run(["bash", "-n", str(unpacked / name)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    setup = (unpacked / "setup.sh").read_text()
    assert "apt-get install -y python3 python3-venv python3-pip bubblewrap util-linux\n" in setup
    assert ("export GRADER_CACHE=/autograder/cache\n"  # Problems 2 and 3 need no asset
            "/autograder/venv/bin/grader rubric reference /autograder/source/rubric --cpu-fallback --no-sandbox\n"
            in setup)
    run = (unpacked / "run_autograder").read_text()
    assert "--quiet --cpu-fallback --jobs 1" in run
    assert ('if [ "$status" -eq 2 ] && grep -q "cannot sandbox the students\' kernels" "$work/grade.log"; then\n'
            in run)
    assert '    grade --confine uid\n' in run and "--no-sandbox" not in run
    assert ('mkdir -p "$root/results" "$GRADER_CACHE/references"\n'
            'chmod -R go= "$root/source" "$root/results" "$GRADER_CACHE/references"\n'
            '[ ! -e "$root/submission_metadata.json" ] || chmod go= "$root/submission_metadata.json"\n') in run
    assert ('"$grader" gradescope results "$work/out" --to "$root/results/results.json" --late rubric \\\n'
            '    ${metadata[@]+"${metadata[@]}"}\n') in run


def test_setup_pins_torch_torchvision_and_fastai_to_the_versions_the_reference_ran_with(autograder, monkeypatch):
    _, unpacked = autograder
    setup = (unpacked / "setup.sh").read_text()
    here = {name: metadata_version(name) for name in ("torch", "torchvision", "fastai")}
    assert (f"TORCH_VERSION={here['torch']}\nTORCHVISION_VERSION={here['torchvision']}\n"
            f"FASTAI_VERSION={here['fastai']}\nset -euo pipefail\n") in setup
    assert ('/autograder/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu \\\n'
            '    "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"\n'
            '/autograder/venv/bin/pip install "fastai==$FASTAI_VERSION" "/autograder/source/grader-src"\n') in setup
    assert ("# torch, torchvision and fastai are pinned to the versions `grader gradescope build` found where it\n"
            "# ran: the reference solution's numbers, computed below, depend on them, and so do the students'.\n"
            "# To change a version, edit its line here (or build the zip again from an environment that has the\n"
            "# versions you want) and upload the zip again: the reference runs again with them, and this script\n"
            "# fails if it no longer earns full marks.\n") in setup
    # A CUDA build's local label is not pinned: the CPU index has the same release.
    versions = {"torch": "2.5.1+cu124", "torchvision": "0.20.1+cu124", "fastai": "2.7.18"}
    monkeypatch.setattr(gradescope_build.metadata, "version", versions.__getitem__)
    assert gradescope_build.pinned_versions() == {"torch": "2.5.1", "torchvision": "0.20.1", "fastai": "2.7.18"}
    assert "TORCH_VERSION=2.5.1\nTORCHVISION_VERSION=0.20.1\nFASTAI_VERSION=2.7.18\n" in setup_script("/g")


def metadata_version(name: str) -> str:
    from importlib.metadata import version
    return version(name).split("+")[0]


def test_the_tests_max_score_add_up_to_the_points_the_build_gives_the_autograder(autograder):
    _, unpacked = autograder
    restricted = load_rubric(unpacked / "rubric")
    assert autograder_points(restricted.spec) == 44.0  # as BUILT says
    summary = rubric_summary(restricted)
    for result in (submission([], status="error", error="no notebook", max=50),
                   submission([item(entry["id"], entry["points"], entry["points"], "pass", "ok")
                               for entry in summary.items if entry["id"] != "2.5"]
                              + [item("2.5", 0, 6, "manual", "waiting for a TA to grade this answer")], max=50)):
        document = gradescope_results(summary, result)
        assert_follows_the_spec(document)
        assert max_scores(document) == 44.0


def test_build_leaves_lateness_to_gradescope_when_asked(tmp_path):
    folder = shutil.copytree(RUBRIC, tmp_path / "rubric")
    document = yaml.safe_load((folder / "rubric.yaml").read_text(encoding="utf-8"))
    document["gradescope"]["late"] = "gradescope"
    (folder / "rubric.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    done = CliRunner().invoke(gradescope_app, ["build", str(folder), "--out", str(tmp_path / "a.zip")])
    assert done.exit_code == 0, done.output
    assert done.output.endswith("lateness: left to Gradescope (the autograder deducts nothing)\n")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert '--late gradescope \\\n' in archive.read("run_autograder").decode()
    done = CliRunner().invoke(gradescope_app, ["build", str(folder), "--out", str(tmp_path / "b.zip"), "--late", "rubric"])
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        assert '--late rubric \\\n' in archive.read("run_autograder").decode()
    done = CliRunner().invoke(gradescope_app, ["build", str(folder), "--out", str(tmp_path / "c.zip"), "--late", "lms"])
    assert done.exit_code == 2 and "--late lms: expected rubric or gradescope" in done.output


def test_the_restricted_rubric_loads_with_problems_2_and_3(autograder):
    _, unpacked = autograder
    restricted = load_rubric(unpacked / "rubric")
    assert [i.id for i in restricted.spec.items] == [
        "2.1", "2.2", "2.3", "2.4", "2.5", *[f"3.{n}" for n in range(1, 11)]]
    assert restricted.spec.total == 50
    assert restricted.spec.solution_data is None
    assert [group.items for group in restricted.spec.choose_all] == [["3.1", "3.2", "3.3", "3.4", "3.5"]]
    assert (unpacked / "rubric" / "template.ipynb").read_bytes() == (RUBRIC / "template.ipynb").read_bytes()
    # The solution keeps every cell but Problem 1's code, which needs the images left out.
    original = nbformat.read(RUBRIC / "solution.ipynb", as_version=4)
    solution = nbformat.read(unpacked / "rubric" / "solution.ipynb", as_version=4)
    problem_1_code = [cell for cell in original.cells if cell.cell_type == "code"
                      and any(tag.startswith("answer:1.") for tag in cell.metadata.get("tags", []))]
    assert len(problem_1_code) == 4
    assert [cell.source for cell in solution.cells] == [
        cell.source for cell in original.cells if cell not in problem_1_code]


def test_the_restricted_rubric_leaves_out_the_choice_of_problems(autograder):
    _, unpacked = autograder
    document = yaml.safe_load((unpacked / "rubric" / "rubric.yaml").read_text(encoding="utf-8"))
    assert "gradescope" not in document
    assert load_rubric(RUBRIC).spec.gradescope.problems == [2, 3]


def test_build_grades_the_rubrics_choice_of_problems_by_default(tmp_path):
    done = CliRunner().invoke(gradescope_app, ["build", str(RUBRIC), "--out", str(tmp_path / "a.zip")])
    assert done.exit_code == 0, done.output
    assert "Problem(s) 2, 3, 15 items, 50 points" in done.output


def test_build_grades_every_problem_when_the_rubric_does_not_choose(tmp_path):
    folder = shutil.copytree(RUBRIC, tmp_path / "rubric")
    document = yaml.safe_load((folder / "rubric.yaml").read_text(encoding="utf-8"))
    document.pop("gradescope")
    (folder / "rubric.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    done = CliRunner().invoke(gradescope_app, ["build", str(folder), "--out", str(tmp_path / "a.zip")])
    assert done.exit_code == 0, done.output
    assert "Problem(s) 1, 2, 3, 19 items, 100 points" in done.output and "give the autograder 94 points" in done.output
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        setup = archive.read("setup.sh").decode()
    # Problem 1's solution trains a resnet34 and crawls: the weights and the crawl's photos are fetched while the
    # image is built, which has internet.
    assert ("export GRADER_CACHE=/autograder/cache\n"
            "# The assets the reference solution needs (the image build has internet, the grading kernels have not).\n"
            "/autograder/venv/bin/grader assets fetch --only resnet34\n"
            "/autograder/venv/bin/grader assets fetch --only crawl\n"
            "/autograder/venv/bin/grader rubric reference /autograder/source/rubric --cpu-fallback --no-sandbox\n"
            in setup)


def test_build_refuses_problems_the_rubric_does_not_have(tmp_path):
    done = CliRunner().invoke(gradescope_app, ["build", str(RUBRIC), "--out", str(tmp_path / "a.zip"),
                                               "--problems", "2,4"])
    assert done.exit_code == 2
    assert "--problems 2,4: the rubric has no Problem 4; it has 1, 2, 3" in done.output
    assert not (tmp_path / "a.zip").exists()


def test_build_reports_a_broken_rubric_with_its_file(tmp_path):
    done = CliRunner().invoke(gradescope_app, ["build", str(tmp_path), "--out", str(tmp_path / "a.zip")])
    assert done.exit_code == 2
    assert f"{tmp_path / 'rubric.yaml'}: no such file" in done.output


# -- the results command -----------------------------------------------------------------

def graded_into(out, *results: SubmissionResult):
    with Gradebook(out / "gradebook.sqlite") as book:
        book.bind_rubric(SUMMARY)
        for result in results:
            book.store(result)


def test_results_writes_the_one_submission(tmp_path):
    graded_into(tmp_path / "out", PARTIAL)
    target = tmp_path / "results" / "results.json"
    done = CliRunner().invoke(gradescope_app, ["results", str(tmp_path / "out"), "--to", str(target)])
    assert done.exit_code == 0, done.output
    assert json.loads(target.read_text(encoding="utf-8")) == PARTIAL_DOCUMENT
    assert "✓ net is Linear" in target.read_text(encoding="utf-8")  # UTF-8, not \\u escapes


def test_results_applies_the_late_policy_by_gradescopes_submission_metadata(tmp_path):
    waiting = submission([*PASSED.items[:2], item("2.5", 0, 6, "manual", "waiting for a TA to grade this answer"),
                          PASSED.items[3]])  # inside Gradescope no TA has scored 2.5
    with Gradebook(tmp_path / "out" / "gradebook.sqlite") as book:
        book.bind_rubric(SUMMARY.model_copy(update={"late": LATE_POLICY}))
        book.store(waiting)
    target = tmp_path / "results.json"
    metadata = metadata_file(tmp_path, "2022-04-21T11:30:00+09:00")
    done = CliRunner().invoke(gradescope_app, ["results", str(tmp_path / "out"), "--to", str(target),
                                               "--metadata", str(metadata)])
    assert done.exit_code == 0, done.output
    assert done.output == (f"wrote {target}: 12/20 points (late: submitted 2022-04-21T02:30:00+00:00, 11 h 31 min "
                           "after the deadline (2022-04-20T23:59+09:00); 10 min grace; −2 points (10% of 20 per day "
                           "started after the grace, at most 50%))\n")
    document = json.loads(target.read_text(encoding="utf-8"))
    assert_follows_the_spec(document)
    assert (document["score"], document["tests"][-1]["name"], document["tests"][-1]["score"]) == (
        12.0, "Late submission", -2.0)
    done = CliRunner().invoke(gradescope_app, ["results", str(tmp_path / "out"), "--to", str(target),
                                               "--metadata", str(metadata), "--late", "gradescope"])
    assert done.exit_code == 0 and json.loads(target.read_text(encoding="utf-8"))["score"] == 14.0
    done = CliRunner().invoke(gradescope_app, ["results", str(tmp_path / "out"), "--to", str(target),
                                               "--metadata", str(tmp_path / "missing.json")])
    assert done.exit_code == 2
    assert f"{tmp_path / 'missing.json'}: not Gradescope's submission metadata as expected" in done.output


def test_results_refuses_several_submissions(tmp_path):
    graded_into(tmp_path, PARTIAL, PASSED.model_copy(update={"student": "2022002"}))
    target = tmp_path / "results.json"
    done = CliRunner().invoke(gradescope_app, ["results", str(tmp_path), "--to", str(target)])
    assert done.exit_code == 2
    assert (f"{tmp_path / 'gradebook.sqlite'} holds 2 submissions (2022001, 2022002); expected exactly one: "
            "Gradescope grades one submission at a time") in done.output
    assert not target.exists()


def test_results_needs_a_gradebook(tmp_path):
    done = CliRunner().invoke(gradescope_app, ["results", str(tmp_path), "--to", str(tmp_path / "results.json")])
    assert done.exit_code == 2
    assert f"no gradebook at {tmp_path / 'gradebook.sqlite'}" in done.output
    assert not (tmp_path / "gradebook.sqlite").exists()


def test_build_ships_a_given_wheel_instead_of_the_source(tmp_path):
    wheel = tmp_path / "grader-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"a wheel")
    out = tmp_path / "autograder.zip"
    done = CliRunner().invoke(gradescope_app, ["build", str(RUBRIC), "--out", str(out), "--wheel", str(wheel)])
    assert done.exit_code == 0, done.output
    with zipfile.ZipFile(out) as archive:
        assert [n for n in archive.namelist() if n.startswith("grader-src/")] == [f"grader-src/{wheel.name}"]
        assert (f'pip install "fastai==$FASTAI_VERSION" "/autograder/source/grader-src/{wheel.name}"\n'
                in archive.read("setup.sh").decode())
    done = CliRunner().invoke(gradescope_app, ["build", str(RUBRIC), "--out", str(out), "--wheel", str(tmp_path)])
    assert done.exit_code == 2
    assert f"--wheel {tmp_path}: expected a wheel file (*.whl)" in done.output


# -- the reference run setup.sh starts ------------------------------------------------------

@pytest.mark.notebooks
def test_rubric_reference_caches_the_reference_and_checks_its_marks(tmp_path, cache_dir):
    folder = write_exam(tmp_path / "demo", {**RUBRIC_OF_CAPTURES, "id": "reference-demo"})
    done = run_cli("rubric", "reference", str(folder), "--no-sandbox", "--cache-dir", str(cache_dir),
                   env_cache=cache_dir)
    assert done.stderr.strip() == (f"{folder / 'solution.ipynb'}: full marks (16 points); its run is cached in "
                                   f"{cache_dir / 'references'}")
    assert len(list((cache_dir / "references").glob("reference-demo-*.jsonl"))) == 1
    wrong = write_exam(tmp_path / "wrong", solution=(DATA, NET.replace("10.5", "-10.5")))
    failed = run_cli("rubric", "reference", str(wrong), "--no-sandbox", "--cache-dir", str(cache_dir),
                     env_cache=cache_dir, check=False)
    assert failed.returncode == 1
    assert " ".join(failed.stderr.split()).startswith(
        f"error: {wrong / 'solution.ipynb'}: the reference solution does not earn full marks on its own rubric:")


# -- the autograder as Gradescope runs it ------------------------------------------------------------
# A Gradescope image: /autograder with the zip unpacked in source/, the venv and the reference cache setup.sh
# leaves, no network, and a container that refuses user namespaces (a bubblewrap that fails as it does there).
# Each submission: its files in submission/, submission_metadata.json, then run_autograder as root.

SPY = """\
import glob, json, os
ROOT, LEAK = {root!r}, {leak!r}
seen = {{"uid": os.getuid()}}
def attempt(name, action):
    try:
        action()
        seen[name] = "read"
    except Exception as err:
        seen[name] = type(err).__name__
attempt("rubric.yaml", lambda: open(ROOT + "/source/rubric/rubric.yaml").read())
attempt("solution.ipynb", lambda: open(ROOT + "/source/rubric/solution.ipynb").read())
attempt("the reference cache", lambda: os.listdir(ROOT + "/cache/references"))
for path in {references!r}:
    attempt(os.path.basename(path), lambda: open(path, "rb").read())
attempt("results.json", lambda: open(ROOT + "/results/results.json", "w").write("{{}}"))
attempt("submission_metadata.json", lambda: open(ROOT + "/submission_metadata.json").read())
seen["gradebooks"] = [folder for folder in glob.glob(ROOT + "/tmp/tmp.*")
                      if os.path.exists(folder + "/out/gradebook.sqlite")]
with open(LEAK, "w") as leak:
    json.dump(seen, leak)
"""


@pytest.fixture(scope="module")
def gradescope_image(autograder):
    """/autograder after setup.sh: it is world-readable, as a folder unpacked by root is (mode 755, files 644)."""
    root = Path(tempfile.mkdtemp(prefix="grader-test-autograder-"))
    root.chmod(0o755)
    _, unpacked = autograder
    shutil.copytree(unpacked, root / "source")
    (root / "venv").symlink_to(sys.prefix)  # setup.sh's venv: here, the test's, which has torch and fastai
    fake_bin = root / "bin"
    fake_bwrap(fake_bin)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)  # the container's /tmp, of this image alone: another test run's stays out of it
    env = {**os.environ, "GRADER_CACHE": str(root / "cache")}
    # setup.sh's last line (its apt-get and pip lines need the internet this machine lacks)
    done = subprocess.run([str(root / "venv" / "bin" / "grader"), "rubric", "reference", str(root / "source" / "rubric"),
                           "--cpu-fallback", "--no-sandbox"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    yield root
    shutil.rmtree(root)


def run_autograder(root: Path, notebook: nbformat.NotebookNode, created_at: str) -> tuple[str, dict]:
    """One submission as Gradescope grades it; returns what run_autograder printed and results.json."""
    shutil.rmtree(root / "submission", ignore_errors=True)
    (root / "submission").mkdir()
    nbformat.write(notebook, root / "submission" / "midterm.ipynb")
    metadata_file(root, created_at)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{root / 'bin'}:{os.environ['PATH']}",
           "TMPDIR": str(root / "tmp")}
    env.pop("GRADER_CACHE", None)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


@pytest.mark.notebooks
def test_in_a_container_without_namespaces_the_kernel_runs_as_its_own_uid_and_cannot_read_the_answers(
        gradescope_image, tmp_path):
    root = gradescope_image
    references = sorted(str(path) for path in (root / "cache" / "references").iterdir())
    assert len(references) == 2  # the evidence (its arrays are lines of it) and the executed solution
    # Before run_autograder closes them, the answer files are as readable as anything unpacked by root.
    assert open_to_others(root / "source" / "rubric" / "rubric.yaml")
    honest = nbformat.read(SUBMISSIONS / "김민준(2022001).ipynb", as_version=4)  # the instructor's own answers

    said, document = run_autograder(root, honest, "2022-04-20T20:00:00+09:00")
    assert ("this container cannot run the sandbox: grading again with --confine uid (the notebook's kernel as an "
            "unprivileged uid of its own, without namespaces)") in said
    assert_follows_the_spec(document)
    assert document["score"] == 44.0 == max_scores(document)  # every autograded point; 2.5 is the TA's
    assert document["extra_data"] == {"confinement": "uid"}
    assert document["output"] == (
        "Your notebook ran and was graded.\nTo be graded by a TA: 2.5 (6 points, added to the autograder's score in "
        "Gradescope's manual grading).\nSandbox: none (this Gradescope container does not allow it). Your notebook "
        "ran as an unprivileged user of its own, which cannot read the grading files.")
    assert [(test["number"], test.get("score"), test.get("status")) for test in document["tests"]] == [
        ("2.1", 6.0, "passed"), ("2.2", 6.0, "passed"), ("2.3", 6.0, "passed"), ("2.4", 6.0, "passed"),
        ("2.5", None, None), *[(f"3.{n}", 2.0, "passed") for n in range(1, 11)]]
    assert not any(open_to_others(path) for path in (root / "source" / "rubric" / "rubric.yaml",
                                                     root / "cache" / "references", root / "results"))

    leak_dir = Path(tempfile.mkdtemp(prefix="grader-test-leak-"))
    leak_dir.chmod(0o777)  # where the spy can write what it found
    try:
        hostile = nbformat.from_dict(honest)
        spy = SPY.format(root=str(root), leak=str(leak_dir / "leak.json"), references=references)
        hostile.cells.insert(0, nbformat.v4.new_code_cell(spy))
        said, spied = run_autograder(root, hostile, "2022-04-21T11:30:00+09:00")
        seen = json.loads((leak_dir / "leak.json").read_text())
    finally:
        shutil.rmtree(leak_dir)
    assert seen.pop("uid") >= 200_000
    assert seen == {"rubric.yaml": "PermissionError", "solution.ipynb": "PermissionError",
                    "the reference cache": "PermissionError",
                    **{os.path.basename(path): "PermissionError" for path in references},
                    "results.json": "PermissionError", "submission_metadata.json": "PermissionError", "gradebooks": []}
    assert spied["tests"] == document["tests"] and spied["score"] == 44.0
    assert spied["output"].splitlines()[2] == (
        "Late: submitted 2022-04-21T02:30:00+00:00, 11 h 31 min after the deadline (2022-04-20T23:59+09:00); the "
        "rubric deducts nothing.")
    assert not list((root / "tmp").glob("tmp.*/out/gradebook.sqlite"))  # run_autograder's own folder is gone
