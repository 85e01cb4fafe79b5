"""Which assets a rubric needs (its solution's code, or `execution.assets`), and commands that refuse to start
kernels without them, saying what to run."""

from __future__ import annotations

import shutil

import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from typer.testing import CliRunner

from grader.assets.needs import assets_used_by, missing_assets, needed_assets
from grader.cli import app
from grader.rubric import RubricError, load_rubric
from tests.conftest import RUBRIC, SUBMISSIONS

MISSING_RESNET34 = (
    "the reference solution (solution.ipynb) needs resnet34 (torchvision ResNet-34 ImageNet weights "
    "(IMAGENET1K_V1)), which is not in the asset cache {root}: run `grader assets synth{option}` (offline "
    "stand-ins) or `grader assets fetch{option}` (the real files, on a machine with internet)")


@pytest.mark.parametrize("sources, expected", [
    (["from fastai.vision.all import *", "learn = vision_learner(dls, resnet34, metrics=error_rate)"], ["resnet34"]),
    (["import torchvision", "net = torchvision.models.resnet18(weights='IMAGENET1K_V1')"], ["resnet18"]),
    (["%matplotlib inline\npath = untar_data(URLs.MNIST_SAMPLE)", "!ls {path}"], ["mnist_sample"]),
    (["arch = resnet18\nlearn = cnn_learner(dls, arch)", "path = untar_data(URLs.MNIST_SAMPLE)"],
     ["resnet18", "mnist_sample"]),
    (["name = 'resnet34'  # a string names no weights to download", "# resnet34 in a comment"], []),
    (["def broken(:\n    resnet34"], []),  # a cell that does not parse says nothing
])
def test_the_assets_a_notebooks_code_uses(sources, expected):
    notebook = new_notebook(cells=[new_markdown_cell("`vision_learner(dls, resnet34)` in the question")]
                            + [new_code_cell(source) for source in sources])
    assert [asset.name for asset in assets_used_by(notebook)] == expected


def declaring(tmp_path, assets) -> object:
    folder = shutil.copytree(RUBRIC, tmp_path / "rubric")
    document = yaml.safe_load((folder / "rubric.yaml").read_text(encoding="utf-8"))
    document.setdefault("execution", {})["assets"] = assets
    (folder / "rubric.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return folder


def test_the_midterm_needs_the_resnet34_its_solution_trains_and_the_final_nothing():
    assert [asset.name for asset in needed_assets(load_rubric(RUBRIC))] == ["resnet34"]
    assert needed_assets(load_rubric(RUBRIC.parent / "dl2022-final")) == []


def test_a_rubric_may_say_what_it_needs(tmp_path, cache_dir):
    loaded = load_rubric(declaring(tmp_path, ["mnist_sample", "shapes"]))
    assert [asset.name for asset in needed_assets(loaded)] == ["mnist_sample", "shapes"]
    assert missing_assets(loaded, tmp_path / "empty") == (
        "the rubric's execution.assets names mnist_sample (fastai URLs.MNIST_SAMPLE: 3s and 7s, train/ valid/ "
        "labels.csv) and shapes (two classes of drawn shapes (circle, square) with boxes.json), which are not in "
        f"the asset cache {tmp_path / 'empty' / 'assets'}: run `grader assets synth` (offline stand-ins) or "
        "`grader assets fetch` (the real files, on a machine with internet)")
    assert missing_assets(loaded, cache_dir) is None
    assert missing_assets(load_rubric(declaring(tmp_path / "none", [])), tmp_path / "empty") is None


def test_only_drawn_assets_missing_suggest_synth_alone(tmp_path):
    loaded = load_rubric(declaring(tmp_path, ["shapes"]))
    assert missing_assets(loaded, tmp_path / "c", " --cache-dir c") == (
        "the rubric's execution.assets names shapes (two classes of drawn shapes (circle, square) with boxes.json), "
        f"which is not in the asset cache {tmp_path / 'c' / 'assets'}: run `grader assets synth --cache-dir c` "
        "(offline stand-ins)")


def test_an_asset_the_catalog_lacks_is_a_located_rubric_error(tmp_path):
    folder = declaring(tmp_path, ["resnet50"])
    with pytest.raises(RubricError) as caught:
        load_rubric(folder)
    assert str(caught.value) == (
        f"{folder / 'rubric.yaml'}: 1 problem(s)\n  at execution.assets: Value error, no asset 'resnet50'; the "
        "assets are resnet34, resnet18, mnist_sample, shapes, crawl")


def test_grade_refuses_before_any_kernel_when_an_asset_is_missing(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy2(SUBMISSIONS / "김민준(2022001).ipynb", submissions)
    cache, out = tmp_path / "cache", tmp_path / "out"
    done = CliRunner().invoke(app, ["grade", str(submissions), "--rubric", str(RUBRIC), "--out", str(out),
                                    "--cache-dir", str(cache)])
    assert done.exit_code == 2
    assert " ".join(done.output.split()) == "error: " + MISSING_RESNET34.format(
        root=cache / "assets", option=f" --cache-dir {cache}")
    assert not out.exists() and not cache.exists()  # no gradebook, no sandbox, no reference run


@pytest.mark.parametrize("command", [["rubric", "lint"], ["rubric", "reference"]])
def test_the_reference_is_not_run_without_its_assets(tmp_path, command):
    cache = tmp_path / "cache"
    done = CliRunner().invoke(app, [*command, str(RUBRIC)], env={"GRADER_CACHE": str(cache)})
    assert done.exit_code == 2
    assert " ".join(done.output.split()) == "error: " + MISSING_RESNET34.format(root=cache / "assets", option="")
    assert not cache.exists()
