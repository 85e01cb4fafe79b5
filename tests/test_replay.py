"""The pure parts of follow-through (grader.replay): which of the solution's cells a replay runs, and a parameter's
value at an item's start. tests/test_cnn_quiz.py replays a whole exam in kernels."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.evidence.model import Evidence, ParamsEvent, StepEvent
from grader.notebook.locate import Layout
from grader.replay import replay_notebook, state_at
from grader.rubric.models import Item


def tensor(values: list[float]) -> dict:
    return {"shape": [len(values)], "dtype": "float32", "data": values}


def test_a_replay_runs_the_preamble_and_the_items_problem_up_to_the_item_and_empties_other_problems():
    solution = new_notebook(cells=[
        new_code_cell("import torch"), new_markdown_cell("## 1"), new_code_cell("problem_1()"),
        new_markdown_cell("## 2"), new_code_cell("setup_2()"), new_code_cell("item_2_2()"),
        new_code_cell("item_2_3()")])
    layout = Layout(regions={"1.1": [1, 2], "2.1": [3, 4], "2.2": [5], "2.3": [6]})
    item = Item.model_validate({"id": "2.2", "title": "t", "checks": [
        {"kind": "optimizer_trace", "name": "n", "phase": 1, "compare": "after", "points": 1}]})
    replay = replay_notebook(solution, layout, item)
    assert [cell.source for cell in replay.cells] == ["import torch", "## 1", "", "## 2", "setup_2()", "item_2_2()"]
    assert solution.cells[2].source == "problem_1()"  # the solution itself is left as it was


def test_a_parameters_start_is_its_last_value_recorded_before_the_item():
    evidence = Evidence()
    evidence.add(StepEvent.model_validate({
        "event": "step", "seq": 1, "run": 1, "optimizer": "o1", "class": "Adam", "hyper": {},
        "params": [{"key": "p1", "shape": [1], "before": tensor([0.0]), "grad": tensor([1.0]), "after": tensor([1.0]),
                    "state_step": 1}]}))
    evidence.add(ParamsEvent.model_validate({"event": "params", "seq": 2, "run": 2, "params": [
        {"key": "p1", "value": tensor([5.0]), "grad": None}]}))  # set by hand in the next cell
    evidence.add(StepEvent.model_validate({
        "event": "step", "seq": 3, "run": 3, "optimizer": "o2", "class": "SGD", "hyper": {},
        "params": [{"key": "p1", "shape": [1], "before": tensor([5.0]), "grad": tensor([1.0]), "after": tensor([4.0]),
                    "state_step": None}]}))
    assert [None if (value := state_at(evidence, "p1", run)) is None else value.tolist() for run in (1, 2, 3, 4)] == [
        None, [1.0], [5.0], [4.0]]
