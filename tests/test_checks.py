from __future__ import annotations

import numpy as np
import pytest

from grader.checks import CHECKS, ItemContext, Trace
from grader.checks.integrity import Unexplained, cut_cell_source, recorded_values, reference_values, unexplained_prints
from grader.evidence.trace import match_phases, phases
from grader.notebook.printed import Located, parse_printed
from grader.notebook.truefalse import Answer
from grader.rubric.models import Item, Tolerance
from tests.evidence_builder import Builder, reference

TOL = Tolerance(rtol=1e-5, atol=1e-4)


def item(*checks: dict, visibility: str = "hidden") -> Item:
    return Item.model_validate({"id": "2.2", "title": "t", "visibility": visibility, "checks": list(checks)})


def run(spec_item: Item, student, run_cells=None, **answers):
    ctx = ItemContext.build(spec_item, TOL, Trace.of(reference()), Trace.of(student, run_cells) if student else None,
                            frozenset({0, 1}), **answers)
    return [CHECKS[check.kind](check, ctx) for check in spec_item.checks]


def same_as_reference(recreate_at: int | None = None, extra_adam: bool = False, lr: float = 0.1) -> Builder:
    b = Builder().linear().forward([-5.0, 5.0])
    w = [-5.0, 10.0]
    updates = 4 if extra_adam else 3
    for n in range(updates):
        after = [w[0] + 0.1, w[1] - 0.1]
        optimizer = "o9" if recreate_at is not None and n >= recreate_at else "o1"
        b.step(optimizer, "Adam", lr, w, [-15.0 + n, 14.0 - n], after, run=2 + (n >= 1))
        w = after
    for n in range(2):
        after = [w[0] + 1.0, w[1] - 1.0]
        b.step("o2", "SGD", 0.2, w, [-5.0, 5.0], after, run=4)
        w = after
    return b


def test_phases_merge_recreated_optimizers_of_one_class():
    student = same_as_reference(recreate_at=1).evidence
    found = phases(student)
    assert [(p.optimizer_class, len(p.steps), p.optimizers) for p in found] == [("Adam", 3, ["o1", "o9"]), ("SGD", 2, ["o2"])]
    matched = match_phases(phases(reference()), found)
    assert matched[1] is found[0] and matched[2] is found[1]


def test_a_wrong_optimizer_still_answers_its_part_by_position():
    b = Builder().linear()
    for n in range(5):
        b.step("o1", "SGD", 0.1, [0, 0], [1, 1], [0, 0])
    matched = match_phases(phases(reference()), phases(b.evidence))
    assert len(matched[1].steps) == 5 and matched[2] is None


def test_matching_prefers_the_reference_class_and_skips_extra_phases():
    b = Builder().linear()  # one Adam update, then an unrelated RMSprop, then SGD
    b.step("o1", "Adam", 0.1, [0, 0], [1, 1], [0, 0])
    b.step("o5", "RMSprop", 0.1, [0, 0], [1, 1], [0, 0])
    b.step("o2", "SGD", 0.2, [0, 0], [1, 1], [0, 0])
    found = phases(b.evidence)
    matched = match_phases(phases(reference()), found)
    assert matched[1] is found[0] and matched[2] is found[2]


OPTIMIZER = {"kind": "optimizer_trace", "name": "optimizer", "phase": 1, "compare": "optimizer", "points": 2}
GRAD_1 = {"kind": "optimizer_trace", "name": "gradient", "phase": 1, "step": 1, "compare": "grad", "points": 2}
AFTER_LAST = {"kind": "optimizer_trace", "name": "after", "phase": 1, "step": "last", "compare": "after",
              "same_optimizer": True, "exact_step_count": True, "points": 6}


def test_identical_trace_earns_everything():
    results = run(item(OPTIMIZER, GRAD_1, AFTER_LAST), same_as_reference().evidence)
    assert [(r.points, r.passed, r.message) for r in results] == [(2, True, ""), (2, True, ""), (6, True, "")]
    assert results[1].detail["expected"] == [[-15.0, 14.0]] and results[1].detail["max_abs_diff"] == 0.0


def test_wrong_learning_rate_is_named():
    (result,) = run(item(OPTIMIZER), same_as_reference(lr=0.01).evidence)
    assert (result.points, result.message) == (0, "Adam(lr=0.01): lr is 0.01, which is not what the question asks")
    assert result.detail == {"expected": {"class": "Adam", "lr": 0.1}, "got": {"class": "Adam", "lr": 0.01}}


def test_recreated_optimizer_fails_same_optimizer_and_names_the_cell():
    (result,) = run(item(AFTER_LAST), same_as_reference(recreate_at=1).evidence, run_cells={1: 4, 2: 6, 3: 8, 4: 10})
    assert result.points == 0
    assert result.message == ("a new Adam took over at update 2 in cell 9; a re-created optimizer starts its state "
                              "over, so these are not updates of the same optimizer")


def test_one_update_too_many_fails_the_count():
    (result,) = run(item(AFTER_LAST), same_as_reference(extra_adam=True).evidence)
    assert result.message == "Adam made 4 update(s) in a row here, not the number the question asks for"
    assert result.detail == {"updates_expected": 3, "updates_found": 4}


def test_hidden_items_do_not_show_expected_values_but_public_ones_say_how_far_off():
    b = same_as_reference()
    b.evidence.steps[0] = b.evidence.steps[0].model_copy(update={"params": [
        b.evidence.steps[0].params[0].model_copy(update={"grad": b.evidence.steps[0].params[0].grad.model_copy(
            update={"data": [-15.0, 14.5]})})]})
    (hidden,) = run(item(GRAD_1), b.evidence)
    assert hidden.message == "gradient at update 1: 1 of 2 value(s) outside the tolerance"
    assert hidden.detail["got"] == [[-15.0, 14.5]] and hidden.detail["where"] == [0, 1]
    (public,) = run(item(GRAD_1, visibility="public"), b.evidence)
    assert public.message == ("gradient at update 1: 1 of 2 value(s) outside the tolerance: expected [[-15.0, 14.0]], "
                              "got [[-15.0, 14.5]]; largest difference 0.5 at [0, 1] (tolerance atol=0.0001, rtol=1e-05)")


def test_no_updates_at_all():
    (result,) = run(item(GRAD_1), Builder().linear().evidence)
    assert (result.points, result.message) == (0, "no optimizer update was recorded in the notebook")


MODULE = {"kind": "module", "name": "net", "points": 3}
PREDICTION = {"kind": "tensor", "name": "prediction", "value": "first_prediction", "points": 3}


def test_module_and_first_prediction():
    results = run(item(MODULE, PREDICTION), same_as_reference().evidence)
    assert [r.passed for r in results] == [True, True]
    b = Builder().linear(bias=True).forward([-5.0, 5.1])
    b.step("o1", "Adam", 0.1, [-5, 10], [1, 1], [-5, 10])
    module, prediction = run(item(MODULE, PREDICTION), b.evidence)
    assert module.message == ("your network is Linear(in_features=2, out_features=1, bias=True), "
                              "which is not the one asked for")
    assert prediction.message == "first prediction: 1 of 2 value(s) outside the tolerance"


def test_a_network_that_never_predicted():
    module, prediction = run(item(MODULE, PREDICTION), Builder().linear(run=1).evidence, run_cells={1: 0})
    assert module.passed and not prediction.passed
    assert prediction.message == "Linear(in_features=2, out_features=1, bias=False) never computed a prediction"


TF = {"kind": "true_false", "name": "tf", "answer": False, "points": 2}


@pytest.mark.parametrize("answer, note, points, message", [
    (Answer(False, "answered", "X", "X"), None, 2, "answer read as False"),
    (Answer(True, "answered", "O", "O"), None, 0, "answer read as True"),
    (Answer(False, "answered", "2, 3"), "from the list 2, 3", 2, "answer read as False (from the list 2, 3)"),
    (Answer(None, "unanswered", ""), None, 0, "no answer was found for this item"),
    (Answer(None, "ambiguous", "모르겠다"), None, 0, "no True/False answer could be read from: \u201c모르겠다\u201d"),
])
def test_true_false(answer, note, points, message):
    (result,) = run(item(TF), None, answer=answer, answer_note=note)
    assert (result.points, result.message) == (points, message)


def test_manual_items_suggest_but_never_award():
    spec = item({"kind": "manual", "name": "why", "points": 6, "keywords": ["미분|gradient", "수렴|converge", "convex"]})
    (result,) = run(spec, None, text="The gradient is almost 0, so it has converged.")
    assert (result.points, result.passed) == (0, None)
    assert result.detail["keywords_found"] == ["미분|gradient", "수렴|converge"]
    assert result.detail["suggested_points"] == 4.0


def located(cell: int, text: str) -> list[Located]:
    return [Located(cell, array) for array in parse_printed(text)]


def test_integrity_flags_prints_that_nothing_recorded():
    ref = reference_values(reference())
    student = same_as_reference().evidence
    honest = located(5, "tensor([[-15.0000,  14.0000]])")  # recorded: the first gradient
    forged = located(7, "tensor([[-3.7000,  8.7000]])\ntensor([[-2.7000,  7.7000]])")  # the reference's SGD weights
    assert unexplained_prints(ref, recorded_values(student), honest, [], 1e-4, 1e-5, {5, 7}) == []
    notes = unexplained_prints(ref, recorded_values(Builder().evidence), forged, [], 1e-4, 1e-5, {5, 7})
    assert notes == [Unexplained(7, "cell 7 prints tensor([[-3.7000,  8.7000]]) (the reference's weights at update 4 "
                                    "(SGD)) and 1 more equal to the reference, but no recorded computation produced them")]
    stored = unexplained_prints(ref, recorded_values(Builder().evidence), [], forged, 1e-4, 1e-5, {5, 7})
    assert stored[0].cell == 7
    assert stored[0].note.startswith("cell 7 of the submitted file shows tensor([[-3.7000,  8.7000]])")
    # A cell that did not run again (the kernel had died) proves nothing about its stored outputs.
    assert unexplained_prints(ref, recorded_values(Builder().evidence), [], forged, 1e-4, 1e-5, {5}) == []


def test_a_flagged_cells_code_is_cut_where_it_is_long():
    assert cut_cell_source("x = 1\nprint(x)\n") == "x = 1\nprint(x)"
    long = "\n".join(f"print({n})" for n in range(100))
    assert cut_cell_source(long) == "\n".join(f"print({n})" for n in range(40)) + (
        "\n… (cut: the cell has 100 line(s), 989 characters)")
    assert cut_cell_source("x" * 5000) == "x" * 4000 + "\n… (cut: the cell has 1 line(s), 5000 characters)"


def test_recorded_values_include_every_tensor():
    values = recorded_values(same_as_reference().evidence)
    assert len(values) == 1 + 5 * 3  # one forward output, before/grad/after of five updates
    assert sum(np.allclose(v, [[-4.7, 9.7]]) for v in values) == 2  # after update 3, before update 4
