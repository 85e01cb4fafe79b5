"""Students' self-check (`grader check`) and the bundle released to them (`grader release`).

The self-check must tell a student everything that costs points for form and
nothing that gives an answer away, and agree with grading on public checks.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import yaml
from rich.text import Text

from grader.gradebook import Gradebook
from grader.rubric import RubricError, load_rubric
from grader.run import NotebookRunner
from grader.run.warm import WarmKernels
from grader.run.workspace import unsandboxed_base_env
from grader.selfcheck.check import CellProblem, ItemReport, SelfChecker, SelfCheckError, SelfCheckReport, Verdict
from grader.selfcheck.public import load_public_rubric, public_view_of
from grader.selfcheck.release import LAPTOP_HEADING, release
from grader.selfcheck.render import console_lines, item_lines, render_html
from grader.selfcheck.wheel import WheelError, checked_wheel, running_version
from grader.submission import discover
from tests.conftest import RUBRIC, SUBMISSIONS, problems_2_and_3_rubric, run_cli

# The reference's numbers (exam text): gradients, weights after (2), (3) and (4).
REFERENCE_NUMBERS = ["15.7290", "14.7198", "4.9000", "9.9000", "4.5006", "9.5008", "2.4925", "3.9607",
                     "15.729", "14.72", "4.5006", "2.4925"]
SOLUTION_NOTEBOOK = "김민준(2022001).ipynb"  # the instructor's solution as a submission


def plain(lines: list[str]) -> str:
    return "\n".join(Text.from_markup(line).plain for line in lines)


def numbers_masked(message: str) -> str:
    """The message with its numbers masked: Problem 1's training is seeded alike in both, but a sandboxed kernel
    trains another model than an unsandboxed one (measured; most likely its copy of the images lists in another
    order, which fastai's split follows). `.4g` writes the metrics as 0.6931, 1 or 1e-05."""
    return re.sub(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", "#", message)


def sample_paths() -> dict[str, Path]:
    """Student id -> the notebook of every sample submission, as grading finds it."""
    return {submission.key: submission.notebook for submission in discover(SUBMISSIONS, "*.ipynb")}


def own_folder(notebook: Path, tmp: Path) -> Path:
    """The notebook in a folder of its own (with its data), as a student keeps it."""
    if notebook.parent != SUBMISSIONS:
        return shutil.copytree(notebook.parent, tmp / notebook.parent.name) / notebook.name
    (tmp / notebook.stem).mkdir()
    return Path(shutil.copy2(notebook, tmp / notebook.stem / notebook.name))


# -- the bundle -----------------------------------------------------------------------------------------------


def bundle_files(bundle: Path) -> list[str]:
    return sorted(str(path.relative_to(bundle)) for path in bundle.rglob("*") if path.is_file())


def tag_of(cell) -> str:
    return (cell.metadata.get("tags") or [""])[0]


def answer_in_the_template(template: Path) -> None:
    """The instructor's answers typed into the bundle's own template, as a student does: code, text, true/false in
    code cells, 3.1 in a markdown cell, 3.2 into its question's cell."""
    nb = nbformat.read(template, as_version=4)
    solution = {tag_of(cell): cell for cell in nbformat.read(SUBMISSIONS / SOLUTION_NOTEBOOK, as_version=4).cells}
    for index, cell in enumerate(nb.cells):
        tag = tag_of(cell)
        if tag == "answer:3.1":
            nb.cells[index] = nbformat.v4.new_markdown_cell("**거짓**", metadata=cell.metadata)
        elif tag == "question:3.2":
            cell.source += "\n\n답: O"
        elif tag.startswith("answer:") and tag != "answer:3.2" and tag in solution:
            cell.source = solution[tag].source
    nbformat.write(nb, template)


# What a student sees for the instructor's answers to Problems 2 and 3 (Problem 1's items are not in that rubric).
ANSWERED_PROBLEMS_2_AND_3 = [
    "2.1     6 pts  answered · ran", "        · 2 check(s), 6 pts, decided at grading",
    "2.2     6 pts  answered · ran · prints values", "        · 3 check(s), 6 pts, decided at grading",
    "2.3     6 pts  answered · ran · prints values", "        · 1 check(s), 6 pts, decided at grading",
    "2.4     6 pts  answered · ran · prints values", "        · 2 check(s), 6 pts, decided at grading",
    "2.5     6 pts  answered", "        · 1 check(s), 6 pts, decided at grading",
    *[line for number, value in enumerate(["False", "True", "True", "True", "False", "True", "True", "False", "False",
                                           "True"], start=1)
      for line in (f"3.{number:<4}  2 pts  ({number}) → {value}",
                   "        · 1 check(s), 2 pts, decided at grading")],
]


def test_bundle_holds_the_template_the_public_rubric_and_grader(tmp_path, grader_wheel):
    written = release(RUBRIC, tmp_path / "dist", grader_wheel)
    wheel = f"grader-{running_version()}-py3-none-any.whl"
    assert [str(path.relative_to(tmp_path / "dist")) for path in written] == [
        "template.ipynb", ".grader/template.ipynb", "rubric.yaml", wheel, "grader-requirements.txt", "README.md"]
    assert bundle_files(tmp_path / "dist") == [".grader/template.ipynb", "README.md", wheel, "grader-requirements.txt",
                                               "rubric.yaml", "template.ipynb"]
    template = nbformat.read(tmp_path / "dist" / "template.ipynb", as_version=4)
    original = load_rubric(RUBRIC).template
    assert [cell.source for cell in template.cells] == [cell.source for cell in original.cells]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in template.cells if cell.cell_type == "code")
    # tags locate the answers: they are kept
    assert [cell.metadata.get("tags") for cell in template.cells] == [cell.metadata.get("tags") for cell in original.cells]
    # the copy answers are read against, where students don't work
    assert (tmp_path / "dist" / ".grader" / "template.ipynb").read_bytes() == \
        (tmp_path / "dist" / "template.ipynb").read_bytes()
    # grader's own libraries, never the students' (installing them must not pull a torch)
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = pyproject["project"]["dependencies"]
    requirements = (tmp_path / "dist" / "grader-requirements.txt").read_text(encoding="utf-8").splitlines()
    assert requirements == [
        f"# What the self-check ({wheel}) uses besides torch, torchvision and fastai, which are yours:",
        "# install it with --no-deps after these, so that pip never installs or upgrades them.",
        *[dependency for dependency in dependencies if not dependency.startswith(("torch", "fastai"))]]
    assert len(requirements) == 2 + len(dependencies) - 3
    with zipfile.ZipFile(tmp_path / "dist" / wheel) as archive:
        assert "grader/selfcheck/check.py" in archive.namelist()
        assert "grader/report/templates/selfcheck.html.j2" in archive.namelist()
        assert not [name for name in archive.namelist() if not name.startswith(("grader/", "grader-"))]


def test_release_command_builds_the_wheel_from_this_graders_source(tmp_path, grader_wheel):
    from typer.testing import CliRunner

    from grader.cli import app

    done = CliRunner().invoke(app, ["release", str(RUBRIC), "--out", str(tmp_path / "dist")], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert bundle_files(tmp_path / "dist") == [".grader/template.ipynb", "README.md", grader_wheel.name,
                                               "grader-requirements.txt", "rubric.yaml", "template.ipynb"]
    assert done.stderr.splitlines()[-1] == (f"students install grader and check their notebook as "
                                            f"{tmp_path / 'dist' / 'README.md'} says")
    with zipfile.ZipFile(tmp_path / "dist" / grader_wheel.name) as built, zipfile.ZipFile(grader_wheel) as fixture:
        assert sorted(built.namelist()) == sorted(fixture.namelist())
    done = CliRunner().invoke(app, ["release", str(RUBRIC), "--out", str(tmp_path / "dist"), "--wheel",
                                    str(tmp_path / "grader.whl")], catch_exceptions=False)
    assert done.exit_code == 2
    assert done.stderr == f"error: {tmp_path / 'grader.whl'}: not a wheel of grader (grader-VERSION-py3-none-any.whl)\n"


def test_grader_wheel_is_this_graders(tmp_path, grader_wheel):
    assert checked_wheel(grader_wheel) == grader_wheel
    other = shutil.copy2(grader_wheel, tmp_path / "grader-0.0.1-py3-none-any.whl")
    with pytest.raises(WheelError) as raised:
        checked_wheel(Path(other))
    assert str(raised.value) == (f"{other} is grader 0.0.1, and this grader, which writes the bundle, is "
                                 f"{running_version()}: give the wheel this grader was installed from")
    with pytest.raises(WheelError, match=r"not a wheel of grader \(grader-VERSION-py3-none-any.whl\)"):
        checked_wheel(tmp_path / "fastai-2.7.0-py3-none-any.whl")


def test_bundle_gives_no_answer_away(tmp_path, grader_wheel):
    release(RUBRIC, tmp_path / "dist", grader_wheel)
    files = [path for path in (tmp_path / "dist").rglob("*") if path.is_file()]
    texts = [path.read_text(encoding="utf-8") for path in files if path.suffix != ".whl"]
    with zipfile.ZipFile(next(path for path in files if path.suffix == ".whl")) as archive:  # grader's own code
        texts += [archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist()]
    text = "\n".join(texts)
    for number in REFERENCE_NUMBERS:
        assert number not in text
    document = yaml.safe_load((tmp_path / "dist" / "rubric.yaml").read_text(encoding="utf-8"))

    def keys(node) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {key for value in node.values() for key in keys(value)}
        if isinstance(node, list):
            return {key for value in node for key in keys(value)}
        return set()

    # no T/F key, tolerance, CAM threshold, manual guidance or keyword list, no solution file
    assert not keys(document) & {"answer", "tolerance", "min_rank_correlation", "min_top_overlap", "guidance",
                                 "keywords", "solution", "solution_data", "rtol", "atol"}
    full = yaml.safe_load((RUBRIC / "rubric.yaml").read_text(encoding="utf-8"))
    assert "가까" not in text and full["items"][8]["checks"][0]["guidance"] not in text
    # the reference's own code is not in the bundle
    solution = nbformat.read(RUBRIC / "solution.ipynb", as_version=4)
    template_sources = {cell.source.strip() for cell in load_rubric(RUBRIC).template.cells}
    solution_lines = {line.strip() for cell in solution.cells if cell.cell_type == "code"
                      and cell.source.strip() not in template_sources for line in cell.source.splitlines()}
    distinctive = {line for line in solution_lines if "optim" in line or "weight.data" in line or "einsum" in line}
    assert len(distinctive) >= 4
    assert not [line for line in distinctive if line in text]
    # every item is there, hidden checks named with their points only
    items = {item["id"]: item for item in document["items"]}
    assert list(items) == [item["id"] for item in full["items"]]
    assert items["3.5"]["checks"] == [{"visibility": "hidden", "kind": "true_false", "name": "true or false",
                                       "points": 2.0}]
    assert [check["visibility"] for check in items["1.4"]["checks"]] == ["public", "hidden"]
    assert items["1.4"]["checks"][1] == {"visibility": "hidden", "kind": "cam",
                                         "name": "agrees with the model's class activation map", "points": 10.0}


def test_bundle_and_full_rubric_give_the_same_public_rubric(tmp_path, grader_wheel):
    release(RUBRIC, tmp_path / "dist", grader_wheel)
    from_bundle, from_rubric = load_public_rubric(tmp_path / "dist"), load_public_rubric(RUBRIC)
    assert (from_bundle.released, from_rubric.released) == (True, False)
    assert from_bundle.spec == from_rubric.spec
    assert from_bundle.spec.execution.preload == ["torch", "matplotlib.pyplot", "fastai.vision.all"]


def test_the_key_does_not_change_the_public_rubric(tmp_path):
    flipped = shutil.copytree(RUBRIC, tmp_path / "flipped")
    text = (flipped / "rubric.yaml").read_text(encoding="utf-8")
    text = text.replace("answer: false", "answer: @").replace("answer: true", "answer: false").replace("answer: @", "answer: true")
    text = text.replace("min_rank_correlation: 0.8", "min_rank_correlation: 0.3")
    (flipped / "rubric.yaml").write_text(text, encoding="utf-8")
    assert load_rubric(flipped).spec.items[-1].checks[0].answer is False
    assert public_view_of(load_rubric(flipped)) == public_view_of(load_rubric(RUBRIC))


def test_release_refuses_a_public_check_that_needs_the_reference(tmp_path, grader_wheel):
    folder = shutil.copytree(RUBRIC, tmp_path / "rubric")
    text = (folder / "rubric.yaml").read_text(encoding="utf-8")
    text = text.replace('compare: grad,\n         points: 2}', 'compare: grad,\n         points: 2, visibility: public}')
    (folder / "rubric.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RubricError) as raised:
        release(folder, tmp_path / "dist", grader_wheel)
    assert str(raised.value) == (
        "these checks are public but compare with the reference solution, which a student's self-check must not "
        "have: item 2.2, check 'gradient of the MSE loss at (-5, 10)' (optimizer_trace). Make them "
        "`visibility: hidden` (the default)")
    assert not (tmp_path / "dist").exists()


def test_release_refuses_a_folder_holding_other_files(tmp_path, grader_wheel):
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "solution.ipynb").write_text("{}", encoding="utf-8")
    with pytest.raises(RubricError, match=r"holds solution.ipynb, which a bundle does not"):
        release(RUBRIC, tmp_path / "dist", grader_wheel)
    again = tmp_path / "again"
    release(RUBRIC, again, grader_wheel)
    expected = bundle_files(again)
    # an earlier bundle is replaced: its wheel of another version and what its .grader folder held
    (again / "grader-0.0.1-py3-none-any.whl").write_bytes(b"an earlier release's wheel")
    (again / ".grader" / "template.ipynb").write_text("{}", encoding="utf-8")
    (again / ".grader" / "earlier.txt").write_text("", encoding="utf-8")
    release(RUBRIC, again, grader_wheel)
    assert bundle_files(again) == expected
    assert [cell.source for cell in load_public_rubric(again).template.cells] == \
        [cell.source for cell in load_rubric(RUBRIC).template.cells]
    release(RUBRIC, again, again / grader_wheel.name)  # the wheel given from the bundle it replaces
    assert bundle_files(again) == expected


# -- checking notebooks -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def midterm_warm(cache_dir):
    """Warm kernels with the midterm's libraries imported, as `grader check --watch` starts them."""
    preload = load_public_rubric(RUBRIC).spec.execution.preload
    with WarmKernels.start(sys.executable, preload, unsandboxed_base_env(Path(sys.executable).parent, cache_dir),
                           cache_dir / "warm-selfcheck.log") as warm:
        yield warm


def checker(rubric: Path, cache_dir: Path, warm: WarmKernels | None, cell_timeout_s: float | None = None,
            torch_threads: int | None = None) -> SelfChecker:
    loaded = load_public_rubric(rubric)
    limits = loaded.spec.execution
    return SelfChecker(loaded, NotebookRunner(
        cell_timeout_s=cell_timeout_s or limits.cell_timeout_s, notebook_timeout_s=limits.notebook_timeout_s,
        cache_dir=cache_dir, sandbox=None, warm=warm, cpu_fallback=True, torch_threads=torch_threads))


# Problem 1 samples whose self-check would add nothing another one's does not (the course's crawl 2022021 checks
# the crawl stand-in; 2022014, 2022016, 2022018 and 2022019 the CAM, --cpu-fallback and the keywords): each one
# trains a model, and the suite's time is mostly training.
NOT_SELF_CHECKED = frozenset({"2022015", "2022017", "2022022", "2022023"})


@pytest.fixture(scope="module")
def self_checked(tmp_path_factory, cache_dir, midterm_warm) -> dict[str, SelfCheckReport | SelfCheckError]:
    """Every sample submission but NOT_SELF_CHECKED self-checked against the full midterm rubric (its public
    part)."""
    tmp = tmp_path_factory.mktemp("self-checked")
    jobs = 2  # two kernels at once, each with its share of the cores, as `grader grade --jobs 2` runs them
    midterm = checker(RUBRIC, cache_dir, midterm_warm, torch_threads=max(1, len(os.sched_getaffinity(0)) // jobs))

    def check(notebook: Path) -> SelfCheckReport | SelfCheckError:
        try:
            return midterm.check(own_folder(notebook, tmp))
        except SelfCheckError as err:
            return err

    samples = {student: path for student, path in sample_paths().items() if student not in NOT_SELF_CHECKED}
    with ThreadPoolExecutor(jobs) as pool:
        return dict(zip(samples, pool.map(check, samples.values())))


@pytest.fixture(scope="module")
def gradebook_results(graded) -> dict:
    with Gradebook(graded / "gradebook.sqlite") as book:
        return {result.student: result for result in book.results()}


def test_public_checks_and_answers_agree_with_grading_on_every_sample(self_checked, gradebook_results):
    assert set(self_checked) == set(gradebook_results) - NOT_SELF_CHECKED
    public_rubric = load_public_rubric(RUBRIC).spec
    compared = 0
    for student, report in self_checked.items():
        graded = gradebook_results[student]
        if isinstance(report, SelfCheckError):  # an HTML page named .ipynb: the same message as grading's
            assert graded.status == "error" and str(report) == graded.error, student
            continue
        items = {item.id: item for item in graded.items}
        for item in report.items:
            spec = next(spec for spec in public_rubric.items if spec.id == item.id)
            graded_item = items[item.id]
            for verdict in item.checks:
                if not verdict.public:
                    continue
                if graded_item.status in ("not-reached", "error"):
                    assert verdict.passed is False and verdict.message.startswith("not checked"), (student, item.id)
                else:
                    graded_check = next(check for check in graded_item.checks if check.name == verdict.name)
                    # Problem 1's metrics differ (`numbers_masked`), its verdicts do not
                    assert (verdict.passed, numbers_masked(verdict.message)) == (
                        graded_check.passed, numbers_masked(graded_check.message)), (student, item.id, verdict.name)
                compared += 1
            if spec.answer_kind == "true_false":
                read = re.search(r"→ (True|False)", item.answer)
                assert (read.group(1) if read else None) == graded_item.answer, (student, item.id)
                compared += 1
    assert compared == 20 * (7 + 10)  # 7 public checks and 10 true/false answers, 20 readable samples


def test_console_and_html_show_no_reference_value(self_checked):
    for student in ("2022001", "2022004", "2022007", "2022011", "2022013", "2022014", "2022018"):
        report = self_checked[student]
        text = plain(console_lines(report)) + render_html(report)
        for number in REFERENCE_NUMBERS:
            assert number not in text, (student, number)
        assert not re.search(r"\b(expected|key|tolerance|correct|wrong)\b", text, re.IGNORECASE), student


def test_hidden_items_read_the_same_for_right_and_wrong_answers(self_checked, gradebook_results):
    # (right, wrong): the instructor's solution against one Adam update too many, and the course's CAM against a
    # random heatmap over the right image; grading tells them apart, the self-check must not.
    for right, wrong, item_id in (("2022001", "2022007", "2.3"), ("2022014", "2022018", "1.4")):
        points = {student: next(item.points for item in gradebook_results[student].items if item.id == item_id)
                  for student in (right, wrong)}
        assert points[right] > points[wrong]
        lines = {student: plain(item_lines(next(item for item in self_checked[student].items if item.id == item_id)))
                 for student in (right, wrong)}
        assert lines[right] == lines[wrong]
    # All of Problem 2 (2.3 is wrong in the second), and the HTML rows too
    right, wrong = self_checked["2022001"], self_checked["2022007"]
    problem_2 = {report.notebook: [item for item in report.items if item.id.startswith("2.")] for report in (right, wrong)}
    assert [plain(item_lines(item)) for item in problem_2[right.notebook]] == \
           [plain(item_lines(item)) for item in problem_2[wrong.notebook]]
    rows = {report.notebook: re.findall(r'<tr id="item-2\.\d">.*?</tr>', render_html(report), re.DOTALL)
            for report in (right, wrong)}
    assert len(rows[right.notebook]) == 5 and rows[right.notebook] == rows[wrong.notebook]


def test_what_a_student_sees_for_the_instructors_solution(self_checked):
    report = self_checked["2022001"]
    lines = plain(console_lines(report)).splitlines()
    assert lines[0] == "DL2022 중간고사 (Midterm) · self-check of 김민준(2022001).ipynb (public rubric of dl2022-midterm)"
    text = "\n".join(lines)
    assert "2.2     6 pts  answered · ran · prints values\n        · 3 check(s), 6 pts, decided at grading" in text
    assert "2.5     6 pts  answered\n" in text
    assert "3.1     2 pts  (1) → False\n" in text and "3.10    2 pts  (10) → True\n" in text
    # Problem 1 is not answered in this sample: those items cost points
    assert ("1.2    10 pts  unanswered\n        ✗ no code was written for it: its cells are as the template has them\n"
            "        ✗ dls from ImageDataLoaders.from_folder, two classes: ImageDataLoaders.from_folder was never "
            "called successfully") in text
    assert report.problems == 10
    assert "cells are counted" not in text and "Cells are counted" not in render_html(report)  # no cell is named
    assert lines[-3:-1] == ["time limits at grading: 300 s per cell, 1800 s for the notebook",
                            "GPU: not needed by this notebook (--cpu-fallback would have run .cuda() on the CPU)"]
    assert re.fullmatch(r"10 problem\(s\) would cost points · checked in \d+\.\d s", lines[-1])


def test_problem_1_public_checks_and_the_cpu_fallback(self_checked):
    full, forbidden, chapter_18 = self_checked["2022014"], self_checked["2022019"], self_checked["2022016"]
    assert full.problems == 0 and chapter_18.problems == 0
    assert chapter_18.cpu_fallback == "used" and full.cpu_fallback == "on"
    assert plain(console_lines(chapter_18)).splitlines()[-2].startswith("GPU: none here, so the notebook's .cuda()")
    item = next(item for item in forbidden.items if item.id == "1.1")
    assert [(verdict.name, verdict.passed) for verdict in item.checks] == [
        ("two class folders", True), ("keywords other than iu and hynn", False), ("at least 20 images per keyword", True)]
    assert forbidden.problems == 1


def test_what_would_cost_points_is_listed(tmp_path, cache_dir, midterm_warm):
    nb = nbformat.read(SUBMISSIONS / SOLUTION_NOTEBOOK, as_version=4)
    answer = {cell.metadata.get("tags", [""])[0]: cell for cell in nb.cells}
    answer["answer:2.3"].source = answer["answer:2.3"].source.replace("optimizr.step()", "optimizr.stepp()")
    answer["answer:2.4"].source = "import threading\nthreading.Event().wait(30)"  # time.sleep would be skipped
    answer["answer:2.5"].source = ""
    answer["answer:3.5"].source = "잘 모르겠다"
    answer["answer:3.6"].source = ""
    folder = tmp_path / "student"
    folder.mkdir()
    nbformat.write(nb, folder / "midterm.ipynb")
    report = checker(problems_2_and_3_rubric(tmp_path), cache_dir, midterm_warm, cell_timeout_s=5).check(
        folder / "midterm.ipynb")
    items = {item.id: item for item in report.items}
    assert items["2.3"].ran == items["2.3"].problems[0] == (
        "cell 20 raised AttributeError: 'Adam' object has no attribute 'stepp'")
    assert items["2.3"].prints is True  # the gradient is printed before the step fails
    assert items["2.4"].problems == ["cell 22 ran past the 5 s limit for a cell"]
    assert items["2.4"].prints is False
    assert items["2.4"].warnings == ["the question asks to print values, and its cells print none"]
    assert (items["2.5"].answer, items["2.5"].problems) == ("unanswered", ["nothing was written for it"])
    assert (items["3.5"].answer, items["3.5"].problems) == (
        "unreadable", ["'잘 모르겠다' could not be read as one answer: write True or False (O/X and 참/거짓 are read too)"])
    assert (items["3.6"].answer, items["3.6"].problems) == ("unanswered", ["no true/false answer was found"])
    assert [(cell.cell, cell.item, cell.status) for cell in report.cells] == [
        (20, "2.3", "error"), (22, "2.4", "timeout"), (35, "3.5", "error")]  # "잘 모르겠다" in a code cell
    assert report.problems == 5
    assert [item.id for item in report.items if not item.problems] == ["2.1", "2.2", "3.1", "3.2", "3.3", "3.4",
                                                                         "3.7", "3.8", "3.9", "3.10"]
    # Hidden items with these problems still show nothing of correctness
    text = plain(console_lines(report))
    assert "cells that stopped\n  cell 20 (2.3): error: AttributeError: 'Adam' object has no attribute 'stepp'\n" \
           "  cell 22 (2.4): timeout: " in text
    # how cells are counted, said once, where a cell's number first appears
    assert "2.3     6 pts  answered · did not run through · prints values\n" \
           "        ✗ cell 20 raised AttributeError: 'Adam' object has no attribute 'stepp'\n" \
           "          (cells are counted from the top of the notebook, text cells included)\n" in text
    assert text.count("cells are counted") == 1
    assert render_html(report).count("Cells are counted from the top of the notebook, text cells included.") == 1


def test_cli_in_the_bundle_folder_exits_0_and_writes_html(tmp_path, cache_dir, grader_wheel):
    bundle = tmp_path / "dist"
    release(problems_2_and_3_rubric(tmp_path), bundle, grader_wheel)
    shutil.copy2(SUBMISSIONS / SOLUTION_NOTEBOOK, bundle / "midterm.ipynb")
    (bundle / "midterm.ipynb").touch()
    shutil.copy2(SUBMISSIONS / "최수아(2022004).ipynb", bundle / "old.ipynb")
    os.utime(bundle / "old.ipynb", (0, 0))
    # the bundle's templates are not candidates; of the student's two notebooks, the newest is checked, as graded
    done = subprocess.run([sys.executable, "-m", "grader", "check", "--html", "check.html"], cwd=bundle,
                          capture_output=True, text=True, env=dict(os.environ, GRADER_CACHE=str(cache_dir)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "self-check of midterm.ipynb" in done.stdout
    assert f"several notebooks in {bundle}; checking the newest, midterm.ipynb, as grading would pick it" in done.stderr
    assert re.search(r"nothing found that would cost points for form; hidden checks are decided at grading · "
                     r"checked in \d+\.\d s\n$", done.stdout)
    page = (bundle / "check.html").read_text(encoding="utf-8")
    assert "nothing found that would cost points for form" in page and "(10) → True" in page
    for number in REFERENCE_NUMBERS:
        assert number not in page and number not in done.stdout


def test_cli_errors_say_what_to_do(tmp_path, cache_dir):
    (tmp_path / "empty").mkdir()
    done = run_cli("check", str(tmp_path / "empty"), "--rubric", str(RUBRIC), env_cache=cache_dir, check=False)
    assert done.returncode == 2
    assert f"{tmp_path / 'empty'} holds no .ipynb notebook; name the notebook to check" in done.stderr
    shutil.copy2(SUBMISSIONS / SOLUTION_NOTEBOOK, tmp_path / "empty" / "midterm.ipynb")
    done = run_cli("check", str(tmp_path / "empty" / "midterm.ipynb"), env_cache=cache_dir, check=False)
    assert done.returncode == 2
    assert "no rubric.yaml in" in done.stderr and "give the exam's bundle with --rubric" in done.stderr
    big = tmp_path / "big"
    big.mkdir()
    shutil.copy2(SUBMISSIONS / SOLUTION_NOTEBOOK, big / "midterm.ipynb")
    with (big / "downloads.bin").open("wb") as file:
        file.truncate(2049 * 2**20)  # sparse: counts as its size, takes no disk
    done = run_cli("check", str(big / "midterm.ipynb"), "--rubric", str(RUBRIC), env_cache=cache_dir, check=False)
    assert done.returncode == 2
    assert f"cannot check midterm.ipynb: {big} holds more than 2048 MB, the exam's disk limit" in done.stderr


def test_watch_checks_again_on_every_save_also_one_made_while_a_check_runs(tmp_path, cache_dir, grader_wheel):
    bundle = tmp_path / "dist"
    release(problems_2_and_3_rubric(tmp_path), bundle, grader_wheel)
    notebook = bundle / "template.ipynb"  # the student answers in the bundle's template itself
    started = tmp_path / "first-check-started"
    nb = nbformat.read(SUBMISSIONS / SOLUTION_NOTEBOOK, as_version=4)
    # The first check holds on until the test has saved again: that save must not be lost.
    nb.cells.insert(1, nbformat.v4.new_code_cell(
        "import pathlib, threading\n"
        f"marker = pathlib.Path({str(started)!r})\n"
        "if not marker.exists():\n    marker.touch()\n    threading.Event().wait(2)"))
    nbformat.write(nb, notebook)
    answer_36 = next(cell for cell in nb.cells if "answer:3.6" in cell.metadata.get("tags", []))
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", "check", "--watch", str(notebook), "--rubric", str(bundle)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, GRADER_CACHE=str(cache_dir)),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    stdout = _lines_of(process.stdout)
    try:
        deadline = time.monotonic() + 180
        while not started.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the first check never started"
            time.sleep(0.1)
        answer, answer_36.source = answer_36.source, ""
        nbformat.write(nb, notebook)  # saved while the first check runs
        first = _read_until(stdout, "checked in")
        assert "nothing found that would cost points" in first  # the notebook as it was when the check began
        second = _read_until(stdout, "checked in")
        assert "3.6     2 pts  unanswered\n        ✗ no true/false answer was found" in second
        assert "1 problem(s) would cost points" in second
        answer_36.source = answer
        nbformat.write(nb, notebook)  # saved between checks
        third = _read_until(stdout, "checked in")
        assert "nothing found that would cost points" in third
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    stderr = process.stderr.read()
    assert process.returncode == 0, stderr
    assert "checked again on every save · Ctrl-C stops" in stderr


def _read_until(lines: queue.Queue, marker: str, timeout_s: float = 180) -> str:
    """What the process printed up to and including the line with `marker`."""
    read, deadline = [], time.monotonic() + timeout_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError("no report in time:\n" + "".join(read)) from None
        if line is None:
            raise AssertionError("grader check --watch ended:\n" + "".join(read))
        read.append(line)
        if marker in line:
            return "".join(read)


def _lines_of(stream) -> queue.Queue:
    """A stream's lines, read by a thread (None at its end), so that waiting on them can time out."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


# -- answering in the bundle's own template ---------------------------------------------------------------------


def test_answers_typed_into_the_bundles_own_template_are_read(tmp_path, cache_dir, midterm_warm, grader_wheel):
    bundle = tmp_path / "dist"
    release(problems_2_and_3_rubric(tmp_path), bundle, grader_wheel)
    answer_in_the_template(bundle / "template.ipynb")
    report = checker(bundle, cache_dir, midterm_warm).check(bundle / "template.ipynb")
    lines = plain(console_lines(report)).splitlines()
    assert lines[2:-4] == ANSWERED_PROBLEMS_2_AND_3
    assert report.problems == 0


def test_the_template_answers_are_read_against_is_the_released_one(tmp_path, grader_wheel):
    bundle = tmp_path / "dist"
    release(problems_2_and_3_rubric(tmp_path), bundle, grader_wheel)
    released = nbformat.read(bundle / "template.ipynb", as_version=4)
    answer_in_the_template(bundle / "template.ipynb")
    assert load_public_rubric(bundle).template == released  # the kept copy, not the template being answered
    # Jupyter and Colab rewrite metadata and outputs when they save: the kept copy still counts as released
    kept = nbformat.read(bundle / ".grader" / "template.ipynb", as_version=4)
    kept.metadata["colab"] = {"provenance": []}
    kept.cells[0].metadata["id"] = "a1b2c3"
    kept.cells[0].outputs = [nbformat.v4.new_output("stream", text="hello")]
    nbformat.write(kept, bundle / ".grader" / "template.ipynb")
    assert [cell.source for cell in load_public_rubric(bundle).template.cells] == \
        [cell.source for cell in released.cells]
    # an edited template with no kept copy is never taken for the exam's
    (bundle / ".grader" / "template.ipynb").unlink()
    with pytest.raises(RubricError) as raised:
        load_public_rubric(bundle)
    assert str(raised.value) == (
        f"the bundle in {bundle} does not hold the exam's template as released: .grader/template.ipynb is missing "
        "and template.ipynb was edited. The self-check reads your answers by comparing your notebook with that "
        "template: download the bundle again into a new folder and move your notebook into it")
    done = run_cli("check", str(bundle / "template.ipynb"), env_cache=tmp_path, check=False)
    assert done.returncode == 2 and "error: the bundle in" in done.stderr
    # with the template as released, the bundle loads without its kept copy
    nbformat.write(released, bundle / "template.ipynb")
    assert load_public_rubric(bundle).template == released
    # a bundle released before the hash was recorded loads its template, as then
    answer_in_the_template(bundle / "template.ipynb")
    document = yaml.safe_load((bundle / "rubric.yaml").read_text(encoding="utf-8"))
    assert document.pop("template_cells").startswith("sha256:")
    (bundle / "rubric.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    assert load_public_rubric(bundle).template == nbformat.read(bundle / "template.ipynb", as_version=4)


def test_grading_reads_a_submitted_template_as_any_notebook(tmp_path, cache_dir, grader_wheel):
    """The filled-in template.ipynb submitted as it is: alone, in the student's bundle folder (with its kept copy
    of the template), and under Canvas's name; graded as the same answers under the course's name are."""
    rubric = problems_2_and_3_rubric(tmp_path)
    bundle = tmp_path / "dist"
    release(rubric, bundle, grader_wheel)
    answer_in_the_template(bundle / "template.ipynb")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy2(bundle / "template.ipynb", submissions / "template.ipynb")
    shutil.copytree(bundle, submissions / "김민준(2022001)")
    shutil.copy2(bundle / "template.ipynb", submissions / "kimminjun_48211_3301001_template.ipynb")
    shutil.copy2(bundle / "template.ipynb", submissions / "이서준(2022099).ipynb")
    out = tmp_path / "out"
    run_cli("grade", str(submissions), "--rubric", str(rubric), "--out", str(out), "-q", "--jobs", "2",
            env_cache=cache_dir)
    graded = {submission["student"]: submission
              for submission in json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]}
    assert {student: (submission["total"], submission["flags"]) for student, submission in graded.items()} == {
        "template": (44.0, ["no-student-id"]), "2022001": (44.0, []), "48211": (44.0, []), "2022099": (44.0, [])}
    items = {student: [(item["id"], item["status"], item["message"]) for item in submission["items"]]
             for student, submission in graded.items()}
    assert items["template"][4:7] == [("2.5", "manual", "waiting for a TA to grade this answer"),
                                      ("3.1", "pass", "answer read as False"), ("3.2", "pass", "answer read as True")]
    assert items["template"] == items["2022001"] == items["48211"] == items["2022099"]


# -- installing grader as the bundle says ------------------------------------------------------------------------


def test_the_bundles_install_instructions_give_a_working_grader_check(tmp_path, cache_dir, grader_wheel):
    """The README's laptop commands, run as written in a fresh virtual environment that has the test environment's
    libraries (torch, fastai, …: a student's) but not its grader; pip is kept offline."""
    bundle = tmp_path / "dist"
    release(problems_2_and_3_rubric(tmp_path), bundle, grader_wheel)
    answer_in_the_template(bundle / "template.ipynb")
    readme = (bundle / "README.md").read_text(encoding="utf-8")
    laptop = re.search(rf"^{LAPTOP_HEADING}\n(.*?)^## ", readme, re.DOTALL | re.MULTILINE).group(1)
    commands = re.search(r"^```\n(.*?)^```$", laptop, re.DOTALL | re.MULTILINE).group(1).splitlines()
    assert commands == ["python -m pip install -r grader-requirements.txt",
                        f"python -m pip install --no-deps --force-reinstall {grader_wheel.name}",
                        "grader check template.ipynb --rubric ."]

    environment = tmp_path / "student-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(environment)], check=True)
    python = environment / "bin" / "python"
    own_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    # The test environment's packages, without its editable grader (its dist-info would be "already installed")
    libraries = tmp_path / "libraries"
    libraries.mkdir()
    for entry in Path(sysconfig.get_path("purelib")).iterdir():
        if not re.match(r"(__editable__[._]+)?grader\b|.*\.pth$", entry.name):
            (libraries / entry.name).symlink_to(entry)
    (Path(own_site) / "student-libraries.pth").write_text(f"{libraries}\n", encoding="utf-8")
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{environment / 'bin'}:{env['PATH']}", GRADER_CACHE=str(cache_dir), PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = [subprocess.run(command, shell=True, cwd=bundle, env=env, capture_output=True, text=True)
            for command in commands]
    assert [run.returncode for run in done] == [0, 0, 0], "\n".join(run.stdout + run.stderr for run in done)
    assert "Successfully installed grader-" in done[1].stdout
    imported = subprocess.run([python, "-c", "import grader; print(grader.__file__)"], capture_output=True, text=True,
                              env=env, cwd=tmp_path, check=True).stdout.strip()
    assert imported == f"{own_site}/grader/__init__.py"  # the wheel's grader, not the test environment's
    assert shutil.which("grader", path=env["PATH"]) == str(environment / "bin" / "grader")
    lines = done[2].stdout.splitlines()
    assert lines[0] == "DL2022 중간고사 (Midterm) · self-check of template.ipynb (public rubric of dl2022-midterm)"
    assert lines[2:-4] == ANSWERED_PROBLEMS_2_AND_3
    assert lines[-3:-1] == ["time limits at grading: 300 s per cell, 1800 s for the notebook",
                            "GPU: not needed by this notebook (--cpu-fallback would have run .cuda() on the CPU)"]
    assert re.fullmatch(r"nothing found that would cost points for form; hidden checks are decided at grading · "
                        r"checked in \d+\.\d s", lines[-1])
    # A grader installed from its wheel has no source to build one from: release asks for the wheel
    rubric = tmp_path / "p23"
    release_from_wheel = subprocess.run(["grader", "release", str(rubric), "--out", str(tmp_path / "again")], env=env,
                                        cwd=tmp_path, capture_output=True, text=True)
    assert release_from_wheel.returncode == 2
    assert " ".join(release_from_wheel.stderr.split()) == (
        f"error: grader runs from {own_site}/grader, an installed wheel with no source to build the students' wheel "
        f"from: give the wheel it was installed from with --wheel ({grader_wheel.name}), or run grader release from a "
        "source checkout (pip install -e .)")
    release_from_wheel = subprocess.run(["grader", "release", str(rubric), "--out", str(tmp_path / "again"), "--wheel",
                                         str(bundle / grader_wheel.name)], env=env, cwd=tmp_path, capture_output=True,
                                        text=True)
    assert release_from_wheel.returncode == 0, release_from_wheel.stderr
    assert bundle_files(tmp_path / "again") == bundle_files(bundle)


# -- the HTML page on a phone -------------------------------------------------------------------------------------


def test_the_html_page_shows_every_verdict_at_a_phones_width(tmp_path):
    """At 390 px (a phone held upright), nothing needs a sideways scroll: each item's verdicts are on screen."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    long_message = "ImageDataLoaders.from_folder was never called successfully; " * 2
    report = SelfCheckReport(
        notebook="midterm.ipynb", rubric="dl2022-midterm", title="DL2022 중간고사 (Midterm)", notes=[],
        cpu_fallback="used", cell_timeout_s=300, notebook_timeout_s=1800, seconds=12.3,
        cells=[CellProblem(cell=31, item="1.3", status="error",
                           message="RuntimeError: Expected all tensors to be on the same device, but found at least "
                                   "two devices, cuda:0 and cpu!")],
        items=[ItemReport(id=f"1.{number}", title="resnet34를 이용하여 학습하라 (a trained resnet34)",
                          points=10, answer="answered", ran="cell 31 raised RuntimeError: Expected all tensors",
                          checks=[Verdict(name="dls from ImageDataLoaders.from_folder, two classes", points=5,
                                          public=True, passed=False, message=long_message),
                                  Verdict(name="agrees with the model's class activation map", points=5, public=False)],
                          problems=["cell 31 raised RuntimeError: Expected all tensors"])
               for number in range(1, 5)])
    page = tmp_path / "check.html"
    page.write_text(render_html(report), encoding="utf-8")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "the browser test needs Debian's chromium and chromium-driver: run `make system`"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    # a phone's screen (headless windows are never narrower than about 500 px)
    options.add_experimental_option("mobileEmulation",
                                    {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3}})
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        browser.get(page.as_uri())
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert width == 390
        assert browser.execute_script("return document.documentElement.scrollWidth") == width
        edges = browser.execute_script("return [...document.querySelectorAll('tr[id^=item-] > td:last-child > div')]"
                                       ".map(element => element.getBoundingClientRect().right)")
        assert len(edges) == 4 * 3  # per item: the public verdict, the hidden checks' line, the problem
        assert max(edges) <= width
    finally:
        browser.quit()
