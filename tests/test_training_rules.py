"""Rules about how a result was trained, fitted values found without a variable's name, items that reproduce
their siblings, and gates: from evidence as the probe records it, no kernel (tests/test_cnn_quiz.py grades a
whole exam written with these kinds)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from grader.checks import CHECKS, ItemContext, Trace
from grader.checks.fitted import as_probabilities
from grader.checks.items import item_result
from grader.evidence.model import Evidence, FittedEvent, ModuleInfo, StepEvent
from grader.evidence.training import belongs_to, class_matches, trained_parameters
from grader.rubric.models import Item, Rubric, Tolerance

TOL = Tolerance(rtol=0.0, atol=1e-4)
LIBRARY, NOTEBOOK = "library", "notebook"


class Recorded:
    """Evidence as the probe writes it: modules with their classes, updates, what they were fitted to."""

    def __init__(self) -> None:
        self.evidence = Evidence()
        self.seq = 0

    def _seq(self) -> int:
        self.seq += 1
        return self.seq

    def module(self, key: str, classes: list[tuple[str, str]], params: dict[str, list[int]],
               children: tuple[str, ...] = (), run: int = 1) -> Recorded:
        name = classes[0][0]
        self.evidence.add(ModuleInfo.model_validate({
            "event": "module", "seq": self._seq(), "run": run, "key": key, "class": name.rpartition(".")[2],
            "module": name.rpartition(".")[0], "repr": "", "total_params": 0, "children": list(children),
            "params": [{"name": param, "key": f"{key}.{param}", "shape": shape} for param, shape in params.items()],
            "classes": [{"name": class_name, "defined_in": where} for class_name, where in classes]}))
        return self

    def step(self, keys: dict[str, list[int]], run: int, cls: str = "Adam", grads: bool = True) -> Recorded:
        def tensor(shape):
            return {"shape": shape, "dtype": "float32", "data": [0.0] * int(np.prod(shape))}
        self.evidence.add(StepEvent.model_validate({
            "event": "step", "seq": self._seq(), "run": run, "optimizer": "o1", "class": cls, "hyper": {"lr": 0.1},
            "params": [{"key": key, "shape": shape, "before": tensor(shape), "grad": tensor(shape) if grads else None,
                        "after": tensor(shape), "state_step": 1} for key, shape in keys.items()]}))
        return self

    def fitted(self, run: int, values: list[list[float]], function: str | None = "cross_entropy") -> Recorded:
        data = {"shape": [len(values), len(values[0])], "dtype": "float32", "data": [v for row in values for v in row]}
        self.evidence.add(FittedEvent.model_validate({
            "event": "fitted", "seq": self._seq(), "run": run, "optimizer": "o1",
            "loss": {"function": function, "input": data, "target": None} if function else None,
            "output": None if function else {"module": "m1", "value": data}}))
        return self


RNN_CELL = [("torch.nn.modules.rnn.RNNCell", LIBRARY), ("torch.nn.modules.rnn.RNNCellBase", LIBRARY)]
LINEAR = [("torch.nn.modules.linear.Linear", LIBRARY)]
OWN = [("__main__.MyRNN", NOTEBOOK)]
CELL_PARAMS = {"weight_ih": [3, 4], "weight_hh": [3, 3]}


def own_class_around_a_cell() -> Recorded:
    return (Recorded().module("m1", RNN_CELL, CELL_PARAMS).module("m2", LINEAR, {"weight": [4, 3]})
            .module("m3", OWN, {}, children=("m1", "m2")))


def training_item(**rule) -> Item:
    return Item.model_validate({"id": "1.3", "title": "t", "checks": [
        {"kind": "training", "name": "trained with your own class", "points": 2, "gate": True, **rule},
        {"kind": "fitted_values", "name": "fitted probabilities", "probabilities": True, "points": 8}]})


def context(item: Item, student: Evidence, reference: Evidence | None = None,
            regions: dict[str, list[int]] | None = None) -> ItemContext:
    regions = regions or {item.id: [0]}
    cells = {index for region in regions.values() for index in region}
    runs = {index + 1: index for index in sorted(cells)}
    reference_trace = Trace.of(reference or student, runs)
    reference_trace = Trace(reference_trace.evidence, reference_trace.phases, runs, regions)
    student_trace = Trace.of(student, runs)
    return ItemContext.build(item, TOL, reference_trace, Trace(student, student_trace.phases, runs, regions),
                             frozenset(regions[item.id]))


def test_a_class_is_named_by_its_public_name_its_module_or_its_bare_name():
    full = "torch.nn.modules.rnn.RNNCell"
    assert [class_matches(full, rule) for rule in (
        "torch.nn.RNNCell", "torch.nn.modules.rnn.RNNCell", "RNNCell", "torch.nn", "torch.nn.modules.rnn",
        "torch.nn.RNN", "torch.nn.LSTMCell", "torchvision", "nn.RNNCell")] == [
        True, True, True, True, True, False, False, False, False]


def test_parameters_belong_to_their_holder_its_bases_and_the_modules_around_it():
    recorded = own_class_around_a_cell().step({"m1.weight_ih": [3, 4], "m1.weight_hh": [3, 3],
                                               "m2.weight": [4, 3]}, run=1)
    trained = trained_parameters(recorded.evidence, recorded.evidence.steps)
    assert [parameter.describe() for parameter in trained] == [
        "weight_ih of torch.nn.RNNCell in your class MyRNN", "weight_hh of torch.nn.RNNCell in your class MyRNN",
        "weight of torch.nn.Linear in your class MyRNN"]
    rules = ["torch.nn.RNNCell", "torch.nn.RNNCellBase", "own_class", "tensor", "torch.nn.Linear|tensor"]
    assert {rule: [belongs_to(parameter, rule) for parameter in trained] for rule in rules} == {
        "torch.nn.RNNCell": [True, True, False], "torch.nn.RNNCellBase": [True, True, False],
        "own_class": [True, True, True], "tensor": [False, False, False],
        "torch.nn.Linear|tensor": [False, False, True]}


def test_a_parameter_of_no_recorded_module_is_a_bare_tensor_and_untouched_parameters_were_not_trained():
    recorded = Recorded().module("m1", RNN_CELL, CELL_PARAMS).step({"w": [4, 3]}, run=1)
    recorded.step({"m1.weight_ih": [3, 4]}, run=1, grads=False)  # handed to the optimizer, never given a gradient
    trained = trained_parameters(recorded.evidence, recorded.evidence.steps)
    assert [(parameter.describe(), belongs_to(parameter, "tensor")) for parameter in trained] == [
        ("a tensor of shape [4, 3]", True)]


def test_training_the_forbidden_class_zeroes_the_whole_item():
    item = training_item(forbid=["torch.nn.RNNCell"], require=["own_class"])
    recorded = (own_class_around_a_cell().step({"m1.weight_ih": [3, 4], "m1.weight_hh": [3, 3]}, run=1)
                .fitted(1, [[2.0, 0.0], [0.0, 2.0]]))
    result = item_result(item, context(item, recorded.evidence), None)
    assert (result.points, result.status) == (0.0, "fail")
    assert result.message == (
        "✗ trained with your own class: training torch.nn.RNNCell is not allowed, and this item trained weight_ih, "
        "weight_hh of torch.nn.RNNCell in your class MyRNN · "
        "✗ fitted probabilities: 0 points: the item's rule 'trained with your own class' failed")


def test_an_own_class_that_only_copies_a_cells_initial_values_earns_full_points():
    item = training_item(forbid=["torch.nn.RNNCell"], require=["own_class"])
    recorded = (own_class_around_a_cell().module("m4", OWN, {"W": [3, 4]})
                .step({"m4.W": [3, 4]}, run=1).fitted(1, [[2.0, 0.0], [0.0, 2.0]]))
    result = item_result(item, context(item, recorded.evidence), None)
    assert (result.points, result.status, result.message) == (
        10.0, "pass", "✓ trained with your own class · ✓ fitted probabilities")


def test_bare_tensors_pass_where_the_rule_allows_them_and_fail_where_a_class_is_required():
    recorded = Recorded().step({"w": [4, 3]}, run=1).fitted(1, [[2.0, 0.0], [0.0, 2.0]])
    allowed = training_item(require=["own_class|tensor"])
    required = training_item(require=["own_class"])
    assert item_result(allowed, context(allowed, recorded.evidence), None).points == 10.0
    failed = item_result(required, context(required, recorded.evidence), None)
    assert (failed.points, failed.checks[0].message) == (0.0, (
        "this item must train a class of your own (a torch.nn.Module subclass you wrote), but it trained a tensor "
        "of shape [4, 3]"))


def test_an_item_that_trained_nothing_fails_its_rule():
    item = training_item(forbid=["torch.nn.RNNCell"])
    result = CHECKS["training"](item.checks[0], context(item, Recorded().evidence))
    assert (result.passed, result.message) == (False, "no optimizer updated anything in this item's cells")


def test_fitted_values_are_compared_as_probabilities_whatever_loss_received_them():
    logits = [[2.0, 0.0], [0.0, 1.0]]
    probabilities = as_probabilities(np.array(logits), "cross_entropy")
    item = Item.model_validate({"id": "1.3", "title": "t", "checks": [
        {"kind": "fitted_values", "name": "fitted probabilities", "probabilities": True, "points": 8}]})
    reference = Recorded().step({"w": [2]}, run=1).fitted(1, logits).evidence
    # The same model seen through log-probabilities (NLLLoss), logits shifted per row, and a hand-written loss
    # whose network outputs probabilities: all the same fitted probabilities.
    seen = {"nll_loss": np.log(probabilities).tolist(), "cross_entropy": (np.array(logits) + 3.0).tolist(),
            None: probabilities.tolist()}
    for function, values in seen.items():
        student = Recorded().step({"w": [2]}, run=1).fitted(1, values, function).evidence
        assert CHECKS["fitted_values"](item.checks[0], context(item, student, reference)).passed, function
    as_received = item.checks[0].model_copy(update={"probabilities": False})
    shifted = Recorded().step({"w": [2]}, run=1).fitted(1, seen["cross_entropy"]).evidence
    result = CHECKS["fitted_values"](as_received, context(item, shifted, reference))
    assert (result.passed, result.message) == (False, "fitted values: 4 of 4 value(s) outside the tolerance")


def test_an_item_reproduces_its_sibling_or_says_how_many_values_differ():
    item = Item.model_validate({"id": "1.3", "title": "t", "checks": [
        {"kind": "reproduces", "name": "as your (2)", "item": "1.2", "probabilities": True, "points": 4}]})
    regions = {"1.2": [0], "1.3": [1]}
    same = Recorded().step({"a": [2]}, run=1).fitted(1, [[1.0, 0.0]]).step({"b": [2]}, run=2).fitted(2, [[1.0, 0.0]])
    differs = Recorded().step({"a": [2]}, run=1).fitted(1, [[1.0, 0.0]]).step({"b": [2]}, run=2).fitted(2, [[0.0, 1.0]])
    untrained = Recorded().step({"a": [2]}, run=1).fitted(1, [[1.0, 0.0]])
    results = [CHECKS["reproduces"](item.checks[0], context(item, recorded.evidence, regions=regions))
               for recorded in (same, differs, untrained)]
    assert [(result.points, result.message) for result in results] == [
        (4.0, ""), (0.0, "fitted values (compared with your 1.2): 2 of 2 value(s) outside the tolerance"),
        (0.0, "no optimizer update was made in the cells of this item, so there are no fitted values to compare")]


def test_rules_are_validated_when_the_rubric_is_read():
    base = {"kind": "training", "name": "own class", "points": 1}
    errors = {}
    for rule in ({}, {"forbid": ["torch.nn.RNN Cell"]}, {"require": ["own class"]}, {"forbid": ["x"], "points": 0}):
        with pytest.raises(ValidationError) as raised:
            Item.model_validate({"id": "1.1", "title": "t", "checks": [{**base, **rule}]})
        errors[str(rule)] = raised.value.errors()[0]["msg"]
    assert list(errors.values()) == [
        "Value error, a training check needs `forbid` or `require`",
        "Value error, 'torch.nn.RNN Cell' is neither a class or module name (e.g. torch.nn.RNNCell) nor one of "
        "own_class, tensor",
        "Value error, 'own class' is neither a class or module name (e.g. torch.nn.RNNCell) nor one of own_class, "
        "tensor",
        "Value error, a training check with 0 points must be a gate (`gate: true`), or it decides nothing"]
    with pytest.raises(ValidationError, match="reproduces item '1.9', which is not in the rubric"):
        Rubric.model_validate({"id": "r", "title": "t", "total": 1, "tolerance": {"rtol": 0, "atol": 0}, "items": [
            {"id": "1.1", "title": "t", "checks": [{"kind": "reproduces", "name": "n", "item": "1.9", "points": 1}]}]})


def test_a_network_of_the_students_own_class_is_found_and_compared_whatever_its_name():
    item = Item.model_validate({"id": "1.1", "title": "t", "checks": [
        {"kind": "module", "name": "the network asked for", "points": 3}]})
    # The reference's Net holds its weight itself and trains it; the students' classes were built, never trained.
    reference = Recorded().module("m1", [("__main__.Net", NOTEBOOK)], {"W": [1, 2]}).step({"m1.W": [1, 2]}, run=1)
    same = Recorded().module("m1", [("__main__.MyModel", NOTEBOOK)], {"weights": [1, 2]})
    other = Recorded().module("m1", [("__main__.Wider", NOTEBOOK)], {"W": [1, 3]})
    library = Recorded().module("m1", LINEAR, {"weight": [1, 2]})
    results = [CHECKS["module"](item.checks[0], context(item, student.evidence, reference.evidence))
               for student in (same, other, library)]
    assert [(result.passed, result.message) for result in results] == [
        (True, ""), (False, "your network Wider has parameters of shapes [[1, 3]], which are not those asked for"),
        (False, "no network was found for this part")]
