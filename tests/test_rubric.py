from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from grader.rubric import RubricError, load_rubric
from tests.conftest import RUBRIC


def test_midterm_rubric_loads_with_every_item_and_a_content_hash():
    rubric = load_rubric(RUBRIC)
    spec = rubric.spec
    assert [item.id for item in spec.items] == [
        "1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "2.5",
        "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "3.10",
    ]
    assert [spec.item(i).points for i in ("1.1", "1.2", "1.3", "1.4")] == [10, 10, 15, 15]
    assert [spec.item(f"2.{n}").points for n in range(1, 6)] == [6, 6, 6, 6, 6]
    assert all(spec.item(f"3.{n}").points == 2 for n in range(1, 11))
    key = [spec.item(f"3.{n}").checks[0].answer for n in range(1, 11)]
    assert key == [False, True, True, True, False, True, True, False, False, True]
    assert spec.total == 100
    assert rubric.hash.startswith("sha256:") and len(rubric.hash) == 7 + 64
    assert rubric.hash == load_rubric(RUBRIC).hash


@pytest.fixture
def rubric_copy(tmp_path) -> Path:
    folder = tmp_path / "rubric"
    shutil.copytree(RUBRIC, folder)
    return folder


def edit(folder: Path, change) -> None:
    path = folder / "rubric.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def error_of(folder: Path) -> str:
    with pytest.raises(RubricError) as caught:
        load_rubric(folder)
    return str(caught.value)


def test_hash_changes_with_the_solution(rubric_copy):
    before = load_rubric(rubric_copy).hash
    (rubric_copy / "solution.ipynb").write_text((rubric_copy / "solution.ipynb").read_text().replace("lr=0.1", "lr=0.2"))
    assert load_rubric(rubric_copy).hash != before


def test_wrong_type_names_file_item_and_key(rubric_copy):
    edit(rubric_copy, lambda d: d["items"][5]["checks"][1].update(points="two"))
    message = error_of(rubric_copy)
    assert message.startswith(f"{rubric_copy / 'rubric.yaml'}: 1 problem(s)")
    assert "items[5] (id '2.2').checks[1].points: Input should be a valid number" in message
    assert "(got 'two')" in message


def test_a_missing_key_is_named(rubric_copy):
    edit(rubric_copy, lambda d: d["items"][14]["checks"][0].pop("answer"))
    assert error_of(rubric_copy).endswith("at items[14] (id '3.6').checks[0].answer: Field required")


def test_a_public_check_is_named_as_such(rubric_copy):
    edit(rubric_copy, lambda d: d["items"][5]["checks"][0].update(visibility="shown"))
    assert ("items[5] (id '2.2').checks[0].visibility: Input should be 'public' or 'hidden' (got 'shown')"
            in error_of(rubric_copy))


def test_unknown_check_kind_is_named(rubric_copy):
    edit(rubric_copy, lambda d: d["items"][4]["checks"][0].update(kind="tensr"))
    message = error_of(rubric_copy)
    assert "items[4] (id '2.1').checks[0]" in message
    assert "'tensr'" in message and "optimizer_trace" in message


def test_unknown_key_is_refused(rubric_copy):
    edit(rubric_copy, lambda d: d["items"][5]["checks"][0].update(tolerence={"rtol": 0, "atol": 1}))
    assert "items[5] (id '2.2').checks[0].tolerence: Extra inputs are not permitted" in error_of(rubric_copy)


def test_points_must_add_up_to_the_total(rubric_copy):
    edit(rubric_copy, lambda d: d.update(total=99))
    assert "items add up to 100 points but `total` says 99" in error_of(rubric_copy)


def test_duplicate_item_ids_are_refused(rubric_copy):
    def duplicate(d):
        d["items"][10]["id"] = "3.1"
    edit(rubric_copy, duplicate)
    assert "item id '3.1' appears twice" in error_of(rubric_copy)


def test_malformed_item_id(rubric_copy):
    edit(rubric_copy, lambda d: d["items"][0].update(id="one"))
    assert "item id 'one' should look like '4.2'" in error_of(rubric_copy)


def test_choose_all_must_name_true_false_items(rubric_copy):
    edit(rubric_copy, lambda d: d["choose_all"][0].update(items=["3.1", "2.2"]))
    assert "choose_all item '2.2' must have exactly one true_false check" in error_of(rubric_copy)


def test_gradescope_problems_must_exist(rubric_copy):
    edit(rubric_copy, lambda d: d.update(gradescope={"problems": [2, 4, 5]}))
    assert error_of(rubric_copy) == (f"{rubric_copy / 'rubric.yaml'}: 1 problem(s)\n"
                                     "  at (top level): Value error, gradescope.problems names Problem 4, 5, which has "
                                     "no items")


@pytest.mark.parametrize("index, check, key, problem", [
    (2, 0, "architecture", "Field required"),  # 1.3's learner: no architecture is assumed
    (1, 0, "classes", "Field required"),  # 1.2's dataloaders: no class count is assumed
    (0, 0, "classes", "Value error, require: classes needs `classes`, the number of class folders asked for "
                      "(got None)"),
])
def test_exam_settings_have_no_defaults(rubric_copy, index, check, key, problem):
    edit(rubric_copy, lambda d: d["items"][index]["checks"][check].pop(key))
    item_id = f"1.{index + 1}"
    assert error_of(rubric_copy) == (f"{rubric_copy / 'rubric.yaml'}: 1 problem(s)\n"
                                     f"  at items[{index}] (id '{item_id}').checks[{check}].{key}: {problem}")


def test_yaml_syntax_error_gives_the_line(rubric_copy):
    path = rubric_copy / "rubric.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = "title: [unclosed"
    path.write_text("\n".join(lines), encoding="utf-8")
    message = error_of(rubric_copy)
    assert message.startswith(f"{path}: line ") and "not valid YAML" in message


def test_missing_solution_file(rubric_copy):
    (rubric_copy / "solution.ipynb").unlink()
    assert "names 'solution.ipynb', which is not in" in error_of(rubric_copy)


def test_missing_rubric_file(tmp_path):
    assert "rubric.yaml: no such file" in error_of(tmp_path)


def _grader(folder: Path):
    from grader.grading import Grader
    from grader.run import NotebookRunner
    from tests.evidence_builder import reference

    runner = NotebookRunner(cell_timeout_s=1, notebook_timeout_s=1, cache_dir=folder / "cache",
                            sandbox=None)  # never runs here
    return Grader(load_rubric(folder), runner, reference())


def test_reference_must_earn_full_marks_on_its_own_rubric(rubric_copy):
    _grader(rubric_copy)  # the midterm as shipped is consistent
    edit(rubric_copy, lambda d: d["items"][9]["checks"][0].update(answer=True))  # 3.1's key flipped
    with pytest.raises(RubricError) as caught:
        _grader(rubric_copy)
    assert str(caught.value) == (f"{rubric_copy / 'solution.ipynb'}: the reference solution does not earn full marks "
                                 "on its own rubric:\n  item 3.1: 0/2 (answer read as False)")


def test_checks_may_not_name_a_phase_the_reference_lacks(rubric_copy):
    edit(rubric_copy, lambda d: d["items"][7]["checks"][1].update(phase=3))  # 2.4
    with pytest.raises(RubricError, match=r"item 2.4: optimizer phase 3 does not exist in the reference \(it has 2\)"):
        _grader(rubric_copy)


def test_the_graded_notebook_is_named_by_a_file_name_pattern(rubric_copy):
    assert load_rubric(RUBRIC).spec.submission.notebook == "*.ipynb"
    edit(rubric_copy, lambda d: d.update(submission={"notebook": "DL2022_midterm*.ipynb"}))
    assert load_rubric(rubric_copy).spec.submission.notebook == "DL2022_midterm*.ipynb"


@pytest.mark.parametrize("pattern, problem", [
    ("work/*.ipynb", "a pattern for the notebook's file name only, without folders (e.g. 'midterm*.ipynb')"),
    ("*.py", "the pattern would match no notebook: end it with '.ipynb' or '*' (e.g. 'midterm*.ipynb')"),
    ("", "the pattern would match no notebook: end it with '.ipynb' or '*' (e.g. 'midterm*.ipynb')"),
])
def test_a_notebook_pattern_that_cannot_work_is_refused(rubric_copy, pattern, problem):
    edit(rubric_copy, lambda d: d.update(submission={"notebook": pattern}))
    assert error_of(rubric_copy) == (f"{rubric_copy / 'rubric.yaml'}: 1 problem(s)\n"
                                     f"  at submission.notebook: Value error, {problem} (got {pattern!r})")
