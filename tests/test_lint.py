"""`grader rubric lint` on a tiny exam: missing cells, checks that find nothing in the reference,
tolerances tighter than the reference's noise, hidden answers in the template."""

from __future__ import annotations

import copy
from pathlib import Path
from time import monotonic

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

from grader.author.lint import (Finding, evidence_findings, hidden_values_in_template, layout_findings, lint,
                                master_leaks, noise_between, template_leaks)
from grader.reference import ReferenceRun, run_solution
from grader.rubric import load_rubric
from grader.run import NotebookRunner
from tests.capture_exam import DATA, NET, PLACEHOLDER, RUBRIC, exam, write_exam
from tests.conftest import run_cli

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def runner(sandbox_host, warm_kernels, cache_dir) -> NotebookRunner:
    return NotebookRunner(cell_timeout_s=30, notebook_timeout_s=60, cache_dir=cache_dir, sandbox=sandbox_host,
                          warm=warm_kernels)


def runs_of(folder: Path, runner: NotebookRunner):
    loaded = load_rubric(folder)

    def run_reference(on_gpu: bool) -> tuple[ReferenceRun, float]:
        started = monotonic()
        return run_solution(loaded, runner), monotonic() - started

    return loaded, run_reference


@pytest.fixture(scope="module")
def clean(tmp_path_factory, runner):
    loaded, run_reference = runs_of(write_exam(tmp_path_factory.mktemp("lint") / "demo"), runner)
    return loaded, lint(loaded, run_reference, runs=2)


def test_a_consistent_rubric_has_no_findings_and_its_noise_is_measured(clean):
    loaded, report = clean
    assert report.findings == []
    assert [(noise.where, noise.runs, noise.max_abs_diff, noise.within) for noise in report.noise] == [
        ("rubric.yaml: items[0] (id '1.1').checks[0] (value `x`).tolerance", "CPU run 1 vs 2", 0.0, True),
        ("rubric.yaml: items[1] (id '1.2').checks[1] (value `net.weight`).tolerance", "CPU run 1 vs 2", 0.0, True),
    ]
    assert len(report.reference_seconds) == 2


def test_a_tolerance_tighter_than_the_reference_noise_is_an_error(clean, runner):
    loaded, _ = clean
    first = run_solution(loaded, runner).evidence
    noisy = copy.deepcopy(first)
    name = noisy.captures["1.2/1"].array
    noisy.arrays[name] = noisy.arrays[name] + np.float32(3e-4)  # a GPU's or a non-deterministic kernel's drift
    (measured,) = [noise for noise in noise_between(loaded, first, noisy, "CPU vs GPU") if not noise.within]
    assert (measured.where, round(measured.max_abs_diff, 6)) == (
        "rubric.yaml: items[1] (id '1.2').checks[1] (value `net.weight`).tolerance", 0.0003)


def test_checks_that_find_nothing_in_the_reference_are_named(tmp_path, runner):
    rubric = copy.deepcopy(RUBRIC)
    rubric["items"][0]["checks"][0]["expression"] = "z"  # never defined
    rubric["items"][1]["checks"].append({"kind": "printed", "name": "prints the weights", "points": 1})
    rubric["items"][1]["checks"].append({"kind": "parameter_count", "name": "count", "module": "x", "points": 1})
    rubric["total"] = 18
    loaded, run_reference = runs_of(write_exam(tmp_path / "demo", rubric), runner)
    run, _ = run_reference(False)
    assert evidence_findings(loaded, run) == [
        Finding("error", "rubric.yaml: items[0] (id '1.1').checks[0] (value `z`)",
                "in the reference, it raises NameError: name 'z' is not defined"),
        Finding("error", "rubric.yaml: items[1] (id '1.2').checks[4] (printed 'prints the weights')",
                "the reference prints no numbers in this item, so there is nothing to compare the student's prints with"),
        Finding("error", "rubric.yaml: items[1] (id '1.2').checks[5] (parameter_count `x`)",
                "in the reference, it raises AttributeError: 'Tensor' object has no attribute 'parameters'"),
    ]


def test_a_void_item_with_checks_that_evaluate_is_accepted_with_a_warning(tmp_path, runner):
    rubric = copy.deepcopy(RUBRIC)
    rubric["items"][1] |= {"void": True, "void_points": "removed"}
    rubric["items"][1]["checks"][0]["module"] = "no_such_network"  # not evaluated: the item is graded for no one
    rubric["total"] = 6
    loaded, run_reference = runs_of(write_exam(tmp_path / "demo", rubric), runner)
    assert lint(loaded, run_reference, runs=1).findings == [
        Finding("warning", "rubric.yaml: items[1] (id '1.2')",
                "item 1.2 is void: graded for no one, its 10 point(s) removed from the total")]


def test_missing_question_and_code_cells_are_named(tmp_path):
    folder = write_exam(tmp_path / "demo")
    template = exam(PLACEHOLDER, PLACEHOLDER)
    template.cells[3].metadata = {}  # item 1.2's question cell lost its tag
    nbformat.write(template, folder / "template.ipynb")
    solution = exam(DATA, None)  # 1.1 answered, 1.2 has no code at all
    nbformat.write(solution, folder / "solution.ipynb")
    assert layout_findings(load_rubric(folder)) == [
        Finding("error", "template.ipynb", "no cell starts item 1.2 (rubric.yaml: items[1] (id '1.2')): tag its "
                                           "question cell `question:1.2`"),
        Finding("error", "solution.ipynb: cell 4", "item 1.2 is answered with code but has no code cell"),
    ]


def test_hidden_answers_in_the_template_are_leaks(tmp_path, clean):
    reference_loaded, _ = clean
    rubric = copy.deepcopy(RUBRIC)
    rubric["items"].append({"id": "2.1", "title": "a claim", "checks": [
        {"kind": "true_false", "name": "true or false", "answer": True, "points": 2}]})
    rubric["total"] = 18
    folder = write_exam(tmp_path / "demo", rubric)
    template = exam(PLACEHOLDER, PLACEHOLDER)
    template.cells += [new_markdown_cell("(1) A claim about tensors.", metadata={"tags": ["question:2.1"]}),
                       new_markdown_cell("**O**")]
    code = new_code_cell("x = None", execution_count=3, outputs=[new_output("stream", text="done")])
    template.cells.insert(2, code)
    template.cells.insert(3, new_markdown_cell("Expected `net.weight`: [[0., 0.], [1., 1.]]"))
    nbformat.write(template, folder / "template.ipynb")
    loaded = load_rubric(folder)
    assert template_leaks(loaded) == [
        Finding("error", "template.ipynb: cell 3", "the template keeps stored outputs, which can show answers: clear "
                                                   "them (`grader assign` writes templates without)"),
        Finding("error", "template.ipynb: item 2.1", "the template already answers it (True, from '**O**'): the key "
                                                     "leaks, and an untouched template earns the points"),
    ]
    run = run_solution(reference_loaded, NotebookRunner(cell_timeout_s=30, notebook_timeout_s=60,
                                                        cache_dir=tmp_path / "cache", sandbox=None))
    assert hidden_values_in_template(loaded, run.evidence) == [
        Finding("error", "template.ipynb: cell 4", "it shows the expected value of hidden check 'final weights' of "
                                                   "item 1.2 ([[0., 0.], [1., 1.]])"),
    ]


def test_the_command_exits_1_on_errors_and_says_what_it_measured(tmp_path, cache_dir):
    folder = write_exam(tmp_path / "demo")
    done = run_cli("rubric", "lint", str(folder), "--runs", "1", env_cache=cache_dir)
    assert done.stdout.splitlines()[-1].startswith(f"{folder}: 2 items, 16 points; reference runs took ")
    assert done.stdout.splitlines()[-1].endswith(" s; 0 error(s), 0 warning(s)")
    rubric = copy.deepcopy(RUBRIC)
    rubric["items"][1]["checks"][2]["at_least"] = 1.5  # no model reaches an accuracy above 1
    write_exam(folder, rubric)
    failed = run_cli("rubric", "lint", str(folder), "--runs", "1", env_cache=cache_dir, check=False)
    assert failed.returncode == 1
    assert "error: solution.ipynb: the reference solution does not earn full marks on its own rubric:\n  item 1.2: 7/10" \
        in failed.stdout


def test_a_solution_of_the_master_left_in_the_template_is_a_leak(tmp_path):
    rubric = copy.deepcopy(RUBRIC) | {"master": "master.ipynb"}
    folder = write_exam(tmp_path / "demo", rubric)
    solved = DATA.replace("x = torch.arange", "### BEGIN SOLUTION\nx = torch.arange").replace(
        "print(x[:2])", "print(x[:2])\n### END SOLUTION")
    nbformat.write(exam(solved, NET), folder / "master.ipynb")
    nbformat.write(exam("import torch\ny = (x.sum(1) > 10).long()", PLACEHOLDER), folder / "template.ipynb")
    assert master_leaks(load_rubric(folder)) == [
        Finding("error", "template.ipynb: cell 3", "'y = (x.sum(1) > 10).long()' is part of a solution in "
                                                   "master.ipynb (cell 3)"),
    ]


def test_a_reference_whose_kernel_dies_names_the_cells_that_did_not_run(tmp_path, runner):
    folder = write_exam(tmp_path / "demo", solution=("import os\nos._exit(0)", NET))
    loaded, run_reference = runs_of(folder, runner)
    report = lint(loaded, run_reference, runs=1)
    assert [(finding.where, finding.message.split(", but ")[-1]) for finding in report.errors] == [
        ("solution.ipynb", "cell 3: the kernel died while running this cell; cell 5: not-run")]


@pytest.mark.parametrize(("to_gpu", "call"), [(".cuda()", "Tensor.cuda"), (".to('cuda:0')", ".to(cuda)")])
def test_a_solution_written_for_a_gpu_lints_on_this_cpu_with_cpu_fallback(tmp_path, cache_dir, to_gpu, call):
    folder = write_exam(tmp_path / "demo", solution=(DATA.replace("x = torch.arange(12.).reshape(6, 2)",
                                                                  f"x = torch.arange(12.).reshape(6, 2){to_gpu}"),
                                                     NET.replace("torch.nn.Linear(2, 2)", f"torch.nn.Linear(2, 2){to_gpu}")))
    failed = run_cli("rubric", "lint", str(folder), "--runs", "1", "--no-sandbox", env_cache=cache_dir, check=False)
    lines = " ".join(failed.stdout.split())
    assert failed.returncode == 1
    assert "this machine has no GPU: --cpu-fallback runs the solution's CUDA calls on the CPU" in lines
    assert lines.endswith("2 items, 16 points; the reference did not run to its end; 1 error(s), 0 warning(s)")
    done = run_cli("rubric", "lint", str(folder), "--runs", "1", "--no-sandbox", "--cpu-fallback",
                   env_cache=cache_dir)
    lines = " ".join(done.stdout.split())
    assert (f"warning: solution.ipynb: its CUDA calls ({call}) ran on the CPU (--cpu-fallback): the "
            "values are the CPU's, as grading's; the noise of a GPU is measured only with --gpu") in lines, lines
    assert lines.endswith(" s; 0 error(s), 1 warning(s)")
