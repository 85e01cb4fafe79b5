"""Parsing numeric arrays out of printed cell output (grader.notebook.printed)."""

from __future__ import annotations

import math
import random
import time

import pytest

from grader.notebook.printed import MAX_ARRAYS, PrintedArray, parse_printed


def only(text: str) -> PrintedArray:
    """The one array `text` holds."""
    found = parse_printed(text)
    assert len(found) == 1, found
    return found[0]


# --- torch ---------------------------------------------------------------------------


def test_tensor_row():
    assert only("tensor([[-15.7290,  14.7198]])") == PrintedArray(
        text="tensor([[-15.7290,  14.7198]])", values=(-15.729, 14.7198), shape=(1, 2), decimals=4
    )


@pytest.mark.parametrize(
    "text",
    [
        "tensor([[-4.9000,  9.9000]], requires_grad=True)",
        "tensor([[-4.9000,  9.9000]], grad_fn=<AddBackward0>)",
        "tensor([[-4.9000,  9.9000]], device='cuda:0')",
        "tensor([[-4.9000,  9.9000]], device='cuda:0', grad_fn=<AddBackward0>)",
        "tensor([[-4.9000,  9.9000]], dtype=torch.float64)",
        "tensor([[-4.9000,  9.9000]],\n       dtype=torch.float64)",  # suffix wrapped by torch
    ],
)
def test_keyword_arguments_belong_to_the_text_not_the_values(text: str):
    assert only(text) == PrintedArray(text=text, values=(-4.9, 9.9), shape=(1, 2), decimals=4)


def test_float_tensor_with_bare_points_has_no_decimals():
    text = "tensor([1., 2.], dtype=torch.float64)"
    assert only(text) == PrintedArray(text=text, values=(1.0, 2.0), shape=(2,), decimals=0)


def test_integer_tensor():
    assert only("tensor([1, 2, 3])") == PrintedArray(
        text="tensor([1, 2, 3])", values=(1.0, 2.0, 3.0), shape=(3,), decimals=0
    )


def test_parameter_containing_starts_the_text():
    text = "Parameter containing:\ntensor([[-4.9000,  9.9000]], requires_grad=True)"
    assert only(text) == PrintedArray(text=text, values=(-4.9, 9.9), shape=(1, 2), decimals=4)


def test_parameter_text_does_not_reach_back_past_the_prefix():
    found = parse_printed("weights:\nParameter containing:\ntensor([0.5000], requires_grad=True)\n")
    assert [a.text for a in found] == ["Parameter containing:\ntensor([0.5000], requires_grad=True)"]


def test_multi_line_tensor():
    text = "tensor([[ 1.0000, -2.0000],\n        [ 3.0000,  4.5000]])"
    assert only(text) == PrintedArray(text=text, values=(1.0, -2.0, 3.0, 4.5), shape=(2, 2), decimals=4)


def test_three_dimensional_tensor():
    text = "tensor([[[1, 2],\n         [3, 4]],\n\n        [[5, 6],\n         [7, 8]]])"
    assert only(text) == PrintedArray(
        text=text, values=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0), shape=(2, 2, 2), decimals=0
    )


def test_scalar_tensor():
    assert only("tensor(3.5000)") == PrintedArray(text="tensor(3.5000)", values=(3.5,), shape=(), decimals=4)


def test_scalar_tensor_with_grad_fn():
    text = "tensor(0.2500, grad_fn=<MseLossBackward0>)"
    assert only(text) == PrintedArray(text=text, values=(0.25,), shape=(), decimals=4)


def test_scalar_parameter():
    text = "Parameter containing:\ntensor(1.5000, requires_grad=True)"
    assert only(text) == PrintedArray(text=text, values=(1.5,), shape=(), decimals=4)


def test_scientific_notation_counts_mantissa_digits():
    text = "tensor([ 1.0000e+00, -3.2e-05,  2.5000e+03])"
    assert only(text) == PrintedArray(text=text, values=(1.0, -3.2e-05, 2500.0), shape=(3,), decimals=4)


def test_nan_and_infinities():
    found = only("tensor([nan, inf, -inf, 1.5000])")
    assert math.isnan(found.values[0])
    assert found.values[1:] == (math.inf, -math.inf, 1.5)
    assert (found.shape, found.decimals) == ((4,), 4)


def test_scalar_nan():
    found = only("tensor(nan, grad_fn=<DivBackward0>)")
    assert found.text == "tensor(nan, grad_fn=<DivBackward0>)"
    assert math.isnan(found.values[0]) and found.shape == () and found.decimals == 0


# --- fastai --------------------------------------------------------------------------


def test_fastai_tensor_base():
    text = "TensorBase([[ 3.4148, -5.0356]], device='cuda:0', grad_fn=<AliasBackward0>)"
    assert only(text) == PrintedArray(text=text, values=(3.4148, -5.0356), shape=(1, 2), decimals=4)


@pytest.mark.parametrize(
    "text, values, shape",
    [
        ("TensorCategory([0, 1, 1])", (0.0, 1.0, 1.0), (3,)),
        ("TensorCategory(1)", (1.0,), ()),
        ("TensorImage([0.5])", (0.5,), (1,)),
        ("MyTensor([0.5])", (0.5,), (1,)),
    ],
)
def test_names_starting_or_ending_in_tensor_are_wrappers(
    text: str, values: tuple[float, ...], shape: tuple[int, ...]
):
    found = only(text)
    assert (found.text, found.values, found.shape) == (text, values, shape)


def test_other_call_names_are_not_part_of_the_text():
    assert only("Box([0.5000, 1.0000])").text == "[0.5000, 1.0000]"


# --- numpy and Python ----------------------------------------------------------------


def test_numpy_array_with_dtype():
    text = "array([[-4.9,  9.9]], dtype=float32)"
    assert only(text) == PrintedArray(text=text, values=(-4.9, 9.9), shape=(1, 2), decimals=1)


def test_numpy_multi_line_array():
    text = "array([[1, 2],\n       [3, 4]])"
    assert only(text) == PrintedArray(text=text, values=(1.0, 2.0, 3.0, 4.0), shape=(2, 2), decimals=0)


def test_numpy_zero_dimensional_array():
    assert only("array(3.5)") == PrintedArray(text="array(3.5)", values=(3.5,), shape=(), decimals=1)


@pytest.mark.parametrize(
    "text, values, shape, decimals",
    [
        ("[[-4.9  9.9]]", (-4.9, 9.9), (1, 2), 1),
        ("[-4.9000  9.9000]", (-4.9, 9.9), (2,), 4),
        ("[[ 1.  2.]\n [ 3. -4.]]", (1.0, 2.0, 3.0, -4.0), (2, 2), 0),
        ("[1.e+10 2.e-03]", (1e10, 2e-3), (2,), 0),
    ],
)
def test_numpy_print_without_commas(
    text: str, values: tuple[float, ...], shape: tuple[int, ...], decimals: int
):
    assert only(text) == PrintedArray(text=text, values=values, shape=shape, decimals=decimals)


@pytest.mark.parametrize(
    "text, values, shape, decimals",
    [
        ("[-4.9, 9.9]", (-4.9, 9.9), (2,), 1),
        ("[[-4.9000, 9.9000]]", (-4.9, 9.9), (1, 2), 4),
        ("[[1,2],[3,4]]", (1.0, 2.0, 3.0, 4.0), (2, 2), 0),
        ("[0.1, 2.25, 3]", (0.1, 2.25, 3.0), (3,), 2),
    ],
)
def test_python_lists(text: str, values: tuple[float, ...], shape: tuple[int, ...], decimals: int):
    assert only(text) == PrintedArray(text=text, values=values, shape=shape, decimals=decimals)


# --- several literals, surrounding text ----------------------------------------------


def test_training_loop_output():
    text = (
        "tensor([[-15.5179,  14.4789]])\n"
        "tensor([[-4.8000,  9.8000]])\n"
        "---\n"
        "tensor([[-15.3068,  14.2382]])\n"
        "tensor([[-4.7001,  9.7002]])\n"
        "---\n"
    )
    assert parse_printed(text) == [
        PrintedArray("tensor([[-15.5179,  14.4789]])", (-15.5179, 14.4789), (1, 2), 4),
        PrintedArray("tensor([[-4.8000,  9.8000]])", (-4.8, 9.8), (1, 2), 4),
        PrintedArray("tensor([[-15.3068,  14.2382]])", (-15.3068, 14.2382), (1, 2), 4),
        PrintedArray("tensor([[-4.7001,  9.7002]])", (-4.7001, 9.7002), (1, 2), 4),
    ]


def test_labels_around_literals_are_left_out():
    text = (
        "grad: tensor([0.1000, 0.2000])\n"
        "loss: tensor(0.2500, grad_fn=<MseLossBackward0>) done\n"
        "w = [1.5, 2.5]\n"
    )
    assert [(a.text, a.values) for a in parse_printed(text)] == [
        ("tensor([0.1000, 0.2000])", (0.1, 0.2)),
        ("tensor(0.2500, grad_fn=<MseLossBackward0>)", (0.25,)),
        ("[1.5, 2.5]", (1.5, 2.5)),
    ]


def test_tensors_inside_a_tuple_or_list_count_one_by_one():
    text = "(tensor([1., 2.]), [tensor(3.), tensor([[4.5000]])])"
    assert [(a.text, a.values, a.shape) for a in parse_printed(text)] == [
        ("tensor([1., 2.])", (1.0, 2.0), (2,)),
        ("tensor(3.)", (3.0,), ()),
        ("tensor([[4.5000]])", (4.5,), (1, 1)),
    ]


def test_lists_inside_a_list_of_other_things_count_in_order():
    text = "[[1, 2], 'a', [3.5]]"
    assert [(a.text, a.values) for a in parse_printed(text)] == [("[1, 2]", (1.0, 2.0)), ("[3.5]", (3.5,))]


def test_dict_of_lists():
    text = "{'w': [0.5, 1.5], 'b': [2.0]}"
    assert [a.text for a in parse_printed(text)] == ["[0.5, 1.5]", "[2.0]"]


# --- what is skipped -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "loss: 0.25",
        "epoch 3 loss 0.1234 acc 99.5%",
        "[<matplotlib.lines.Line2D at 0x7f696ef38650>]",
        "['a', 'b']",
        "[True, False]",
        "tensor([ True, False])",
        "[1+2j, 3]",
        "[None, 1]",
        "[1, 'a']",
        "[(1, 2), (3, 4)]",
    ],
)
def test_non_numeric_text_yields_nothing(text: str):
    assert parse_printed(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "[[1, 2], [3]]",
        "[[1, 2], [3, 4, 5]]",
        "tensor([[[1, 2]], [[3, 4], [5, 6]]])",
        "[1, [2, 3]]",
        "[[1, 2], 3]",
        "[1,, 2]",
        "[, 1]",
        "[1, 2,]",
        "[[1][2]]",
        "[[1, 2],, [3, 4]]",
    ],
)
def test_ragged_mixed_or_malformed_numeric_lists_are_skipped_whole(text: str):
    assert parse_printed(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "tensor([0.0000, 0.1000, 0.2000,  ..., 0.7000, 0.8000, 0.9000])",
        "tensor([[0.1000, 0.2000,  ..., 0.8000, 0.9000],\n"
        "        [0.1000, 0.2000,  ..., 0.8000, 0.9000],\n"
        "        ...,\n"
        "        [0.1000, 0.2000,  ..., 0.8000, 0.9000]])",
        "tensor([[1., 2., 3.],\n        [4., 5., 6.],\n        ...,\n        [7., 8., 9.]])",
        "[   0    1    2 ... 9997 9998 9999]",
    ],
)
def test_summarised_prints_are_skipped(text: str):
    assert parse_printed(text) == []


@pytest.mark.parametrize(
    "text", ["[]", "[[]]", "[[], []]", "tensor([])", "tensor([], size=(0, 3))", "array([], dtype=float64)"]
)
def test_empty_literals_are_skipped(text: str):
    assert parse_printed(text) == []


@pytest.mark.parametrize(
    "text",
    ["x[0]", "a[0][1]", "f(x)[2]", "torch.Size([2, 3])", "[x[0]]"],
)
def test_subscripts_and_shapes_are_skipped(text: str):
    assert parse_printed(text) == []


def test_subscript_label_before_a_tensor():
    assert [a.text for a in parse_printed("x[0] = tensor(1.)")] == ["tensor(1.)"]


def test_shape_and_tensor_together():
    text = "torch.Size([1, 2]) tensor([[0.5000, 0.2500]])"
    assert [(a.text, a.shape) for a in parse_printed(text)] == [("tensor([[0.5000, 0.2500]])", (1, 2))]


# --- robustness ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", []),
        ("[", []),
        ("]", []),
        ("]]][[[", []),
        ("tensor(", []),
        ("tensor([", []),
        ("[[1, 2], [3, 4]", []),  # cut off: the whole is unknown
        ("] [1.5] [", [("[1.5]", (1.5,))]),
        ("tensor([1., 2.]", [("tensor([1., 2.]", (1.0, 2.0))]),  # no ")": the text ends at the value
        ("tensor(2.5", []),  # a cut-off number may be missing digits
        ("[1e5e5]", []),
        ("[1.2.3]", []),
        ("[--1]", []),
        ("[nana]", []),
        ("[ ... ]", []),
        ("\x00[\x00]\ud800[1]", [("[1]", (1.0,))]),
    ],
)
def test_garbage_does_not_raise(text: str, expected: list[tuple[str, tuple[float, ...]]]):
    assert [(a.text, a.values) for a in parse_printed(text)] == expected


def test_random_garbage_does_not_raise():
    rng = random.Random(0)
    alphabet = "[](),. -+e1234567890.nanif<>'\"tensorTensorarray=\n...xyz"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        for array in parse_printed(text):
            assert array.text in text
            assert math.prod(array.shape) == len(array.values)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1_000_000,
        "[]" * 500_000,
        "[" + ", ".join(["1.2345"] * 150_000),
        "[" * 300_000 + "1" + "]" * 300_000,
        "(" * 1_000_000,
        "tensor" * 170_000,
        "Tensor" * 170_000 + "(",
        "[1" + " " * 1_000_000 + "x",
        "'" + "a" * 1_000_000,
    ],
)
def test_a_megabyte_of_adversarial_text_is_quick(text: str):
    started = time.perf_counter()
    parse_printed(text)
    assert time.perf_counter() - started < 5


def test_a_large_flat_array():
    text = "tensor([" + ", ".join(["0.5000"] * 150_000) + "])"
    started = time.perf_counter()
    found = only(text)
    assert time.perf_counter() - started < 2
    assert found.shape == (150_000,) and found.values[-1] == 0.5 and found.decimals == 4


def test_nesting_too_deep_to_be_output_is_skipped():
    assert parse_printed("[" * 2_000 + "[1]" + "]" * 2_000 + " [2]") == [PrintedArray("[2]", (2.0,), (1,), 0)]


def test_stops_after_max_arrays():
    found = parse_printed("tensor([1.])\n" * (MAX_ARRAYS + 5))
    assert len(found) == MAX_ARRAYS
    assert found[-1] == PrintedArray("tensor([1.])", (1.0,), (1,), 0)
