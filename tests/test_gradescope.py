"""Gradescope: results.json for one submission, the autograder zip, and the `results` command."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile

import nbformat
import pytest
import yaml
from typer.testing import CliRunner

from grader.export.gradescope import WAITING_FOR_TA, gradescope_results
from grader.export.gradescope_build import gradescope_app
from grader.gradebook import Gradebook, RubricSummary
from grader.results import CheckResult, IntegrityFlag, ItemResult, ManualScore, SubmissionResult
from grader.rubric import load_rubric
from tests.capture_exam import DATA, NET, write_exam
from tests.capture_exam import RUBRIC as RUBRIC_OF_CAPTURES
from tests.conftest import RUBRIC, run_cli

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


def assert_follows_the_spec(document: dict) -> None:
    """The fields of Gradescope's autograder specification (docs/specs.md of gradescope/autograder_samples)."""
    assert set(document) <= {"score", "execution_time", "output", "output_format", "test_output_format",
                             "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
                             "leaderboard"}
    assert isinstance(document["score"], float)
    assert isinstance(document["execution_time"], int)
    assert isinstance(document["output"], str)
    assert document["output_format"] in {"text", "html", "simple_format", "md", "ansi"}
    assert document["stdout_visibility"] in SPEC_VISIBILITY
    for test in document["tests"]:
        assert set(test) == {"score", "max_score", "status", "name", "number", "output", "visibility"}
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in {"passed", "failed"}
        assert test["visibility"] in SPEC_VISIBILITY
        assert all(isinstance(test[key], str) for key in ("name", "number", "output"))
    json.dumps(document)


def test_a_passing_submission():
    document = gradescope_results(SUMMARY, PASSED)
    assert_follows_the_spec(document)
    assert document == {
        "score": 20.0, "execution_time": 13, "output": "Your notebook ran and was graded.",
        "output_format": "simple_format", "stdout_visibility": "hidden",
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
    "output": "Your notebook ran and was graded.\n1 answer(s) are graded by a TA.\n"
              "A cell ran past its time limit and was stopped.\n"
              "This grader has no GPU: the notebook's .cuda() and .to('cuda') calls ran on the CPU instead.\n"
              "This Gradescope container could not run the grader's sandbox, so the notebook ran without it; "
              "the container is thrown away after this submission.",
    "output_format": "simple_format", "stdout_visibility": "hidden",
    "tests": [
        {"number": "2.1", "name": "2.1 Linear network", "score": 6.0, "max_score": 6.0, "status": "passed",
         "output": "✓ net is Linear · ✓ first prediction", "visibility": "visible"},
        {"number": "2.3", "name": "2.3 Five Adam updates", "score": 3.0, "max_score": 6.0, "status": "failed",
         "output": "✗ weights after five updates: 4 updates, not 5", "visibility": "after_published"},
        {"number": "2.5", "name": "2.5 Has it converged?", "score": 0.0, "max_score": 6.0, "status": "failed",
         "output": WAITING_FOR_TA, "visibility": "after_published"},
        {"number": "3.1", "name": "3.1 (1) X has shape (n,1,28,28)", "score": 0.0, "max_score": 2.0,
         "status": "failed", "output": "answered True: incorrect", "visibility": "after_published"},
    ],
}


def test_a_partial_submission_with_hidden_items_and_a_pending_manual_item():
    document = gradescope_results(SUMMARY, PARTIAL)
    assert_follows_the_spec(document)
    assert document == PARTIAL_DOCUMENT
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
        "output": "Your notebook could not be graded: the notebook could not be run: NameError in &lt;module&gt;",
        "output_format": "simple_format", "stdout_visibility": "hidden",
        "tests": [
            {"number": entry["id"], "name": f"{entry['id']} {entry['title']}", "score": 0.0,
             "max_score": float(entry["points"]), "status": "failed", "output": not_graded,
             "visibility": "after_published"}
            for entry in SUMMARY.items
        ],
    }


# -- the autograder zip ---------------------------------------------------------------

SCRIPTS = ["setup.sh", "run_autograder"]


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gradescope")
    out = folder / "autograder.zip"
    done = CliRunner().invoke(gradescope_app, ["build", str(RUBRIC), "--out", str(out), "--problems", "2,3"])
    assert done.exit_code == 0, done.output
    assert "15 items, 50 points" in done.output and "2.5 (6); give the autograder 44 points" in done.output
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
    assert "apt-get install -y python3 python3-venv python3-pip bubblewrap" in setup
    assert ("export GRADER_CACHE=/autograder/cache\n"  # Problems 2 and 3 need no asset
            "/autograder/venv/bin/grader rubric reference /autograder/source/rubric --cpu-fallback --no-sandbox\n"
            in setup)
    assert "--index-url https://download.pytorch.org/whl/cpu torch" in setup
    assert 'pip install "/autograder/source/grader-src"' in setup
    run = (unpacked / "run_autograder").read_text()
    assert "--quiet --cpu-fallback --jobs 1" in run and "grade --no-sandbox" in run
    assert "cannot sandbox the students' kernels" in run
    assert 'gradescope results "$work/out" --to "$root/results/results.json"' in run


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
    assert "Problem(s) 1, 2, 3, 19 items, 100 points" in done.output
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        setup = archive.read("setup.sh").decode()
    # Problem 1's solution trains a resnet34: its weights are fetched while the image is built, which has internet.
    assert ("export GRADER_CACHE=/autograder/cache\n"
            "# The assets the reference solution needs (the image build has internet, the grading kernels have not).\n"
            "/autograder/venv/bin/grader assets fetch --only resnet34\n"
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
        assert f'pip install "/autograder/source/grader-src/{wheel.name}"' in archive.read("setup.sh").decode()
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
