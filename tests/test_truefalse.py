"""Reading True/False answers and choice lists the way students actually write them."""

from __future__ import annotations

import pytest

from grader.notebook.truefalse import QUOTE_LIMIT, Answer, holds_only_an_answer, read_choice_list, read_true_false


def answer_of(*snippets: tuple[str, str]) -> Answer:
    return read_true_false(list(snippets))


# --- answered: (snippets, value, token) ----------------------------------------------------------

ANSWERED = [
    ([("code", "False # 채널=3이므로 칼라이미지로 저장되어있음.")], False, "False"),
    ([("code", "True")], True, "True"),
    ([("code", "ans = 'X'")], False, "X"),
    ([("code", "print(True)")], True, "True"),
    ([("markdown", "**O**")], True, "O"),
    ([("markdown", " **X**")], False, "X"),
    ([("markdown", "참")], True, "참"),
    ([("markdown", "거짓입니다.")], False, "거짓"),
    ([("markdown", "⭕")], True, "⭕"),
    ([("markdown", "❌")], False, "❌"),
    ([("markdown", "false")], False, "false"),
    ([("markdown", "o")], True, "o"),
    ([("markdown", "답: T")], True, "T"),
    ([("markdown", "거짓. X의 채널이 3이므로 칼라 이미지이다.")], False, "거짓"),
    ([("markdown", "True, 왜냐하면 X 는 GPU에 있기 때문")], True, "True"),
    ([("code", "lrnr.model(X[0])\nFalse")], False, "False"),
]


@pytest.mark.parametrize(("snippets", "value", "token"), ANSWERED)
def test_reads_the_answer(snippets: list[tuple[str, str]], value: bool, token: str) -> None:
    answer = read_true_false(snippets)
    assert (answer.value, answer.status, answer.token) == (value, "answered", token)


def test_source_is_the_deciding_snippet_collapsed() -> None:
    answer = answer_of(("code", "X = torch.randn(3)"), ("markdown", "  거짓.\n\n채널이   3이므로  "))
    assert answer.source == "거짓. 채널이 3이므로"


@pytest.mark.parametrize(
    "text",
    ["참이다", "참입니다", "참임", "TRUE", "t", "○", "◯", "✓", "✔", "✔️", "__O__", "`True`", "(O)", "정답: O", "Answer: true", "> O", "- O", "### O", "<b>O</b>", "정답은 O입니다."],
)
def test_true_spellings(text: str) -> None:
    assert answer_of(("markdown", text)).value is True


@pytest.mark.parametrize(
    "text",
    ["거짓이다", "거짓임", "F", "x", "✗", "✘", "×", "✕", "✖", "**False**", "답 → X", "X!", "정답: **거짓**", "X임"],
)
def test_false_spellings(text: str) -> None:
    assert answer_of(("markdown", text)).value is False


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("answer3 = 'X'", False),
        ('ans = "참"', True),
        ("print('O')", True),
        ("print(\"정답: X\")", False),
        ("ans = False;", False),
        ("X", False),
        ("'거짓입니다'", False),
        ("s = '#'  # comment\nTrue", True),
        ("거짓. 채널이 3이므로 칼라 이미지", False),  # prose typed into a code cell
    ],
)
def test_code_answer_lines(code: str, value: bool) -> None:
    assert answer_of(("code", code)).value is value


# --- not tokens -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "참고: softmax",
        "참조",
        "X는 흑백 이미지이다",
        "X[0]의 shape",
        "X_train",
        "Xs",
        "F1 score",
        "False_positive",
        "xo",
        "`X`의 채널",
        "X 의 채널",
        "크기는 3 x 224 x 224",
        "크기는 3 × 224",
        "$X = 3$ 이다",
        "(O/X)",
    ],
)
def test_words_that_are_not_answers(text: str) -> None:
    answer = answer_of(("markdown", text))
    assert (answer.value, answer.status, answer.token) == (None, "ambiguous", None)
    assert answer.source == " ".join(text.split())


@pytest.mark.parametrize(
    "code",
    [
        "X = torch.randn(3)\nprint(X)",
        "X = torch.randn(3)\nX",  # X displays the cell's own variable
        "for x in range(3):\n    x",
        "print(X)",
        "ans = X",
        "X = '흑백'",
        "X.shape 는 (3, 28, 28)",
        "model.train(False)",
        "ans == False",
    ],
)
def test_code_lines_that_are_not_answers(code: str) -> None:
    answer = answer_of(("code", code))
    assert (answer.value, answer.status) == (None, "ambiguous")


def test_something_written_but_no_answer_is_quoted() -> None:
    answer = answer_of(("code", "X = torch.randn(3)\nprint(X)"))
    assert answer.source == "X = torch.randn(3) print(X)"


# --- unanswered -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "snippets",
    [[], [("code", "")], [("markdown", "   ")], [("code", "# 모르겠음")], [("markdown", "**  **")], [("markdown", "답:")], [("code", "\n"), ("markdown", "---")]],
)
def test_unanswered(snippets: list[tuple[str, str]]) -> None:
    assert read_true_false(snippets) == Answer(None, "unanswered", "", None)


# --- disagreement ---------------------------------------------------------------------------------

def test_two_cells_with_two_answers_are_ambiguous() -> None:
    answer = answer_of(("code", "True"), ("markdown", "False"))
    assert (answer.value, answer.status, answer.token) == (None, "ambiguous", None)
    assert answer.source == "True / False"


def test_first_word_decides_over_the_explanation() -> None:
    answer = answer_of(("markdown", "거짓. model.training 이 True 이므로 학습 모드이다."))
    assert (answer.value, answer.status, answer.token) == (False, "answered", "거짓")


def test_first_word_of_the_first_cell_with_an_answer() -> None:
    answer = answer_of(("code", "print(X.shape)"), ("markdown", "**참**, 결과가 False 가 아니므로"))
    assert (answer.value, answer.token) == (True, "참")


def test_bare_answer_followed_by_explanation_cell() -> None:
    answer = answer_of(("code", "True"), ("markdown", "왜냐하면 결과가 False 가 아니기 때문"))
    assert (answer.value, answer.status) == (True, "answered")


def test_first_word_gives_way_to_a_contradicting_bare_cell() -> None:
    answer = answer_of(("markdown", "True, 왜냐하면 GPU"), ("markdown", "False"))
    assert (answer.value, answer.status) == (None, "ambiguous")
    assert answer.source == "True, 왜냐하면 GPU / False"


def test_then_emphasis_decides() -> None:
    answer = answer_of(("markdown", "True, 왜냐하면 GPU"), ("markdown", "**False**"))
    assert (answer.value, answer.status, answer.token) == (False, "answered", "False")


def test_emphasis_decides_when_the_first_word_is_not_an_answer() -> None:
    answer = answer_of(("markdown", "처음엔 O 라고 생각했지만 X 인데 다시 보니 **O**"))
    assert (answer.value, answer.status, answer.token) == (True, "answered", "O")


def test_emphasis_on_both_values_is_ambiguous() -> None:
    answer = answer_of(("markdown", "처음엔 **O** 라고 생각했지만 **X**"))
    assert (answer.value, answer.status) == (None, "ambiguous")


def test_same_cell_both_bare_is_ambiguous() -> None:
    assert answer_of(("markdown", "O X")).status == "ambiguous"


def test_long_sources_are_truncated() -> None:
    answer = answer_of(("markdown", "설명 " * 200))
    assert answer.status == "ambiguous"
    assert len(answer.source) == QUOTE_LIMIT
    assert answer.source.endswith("…")


# --- choice lists ---------------------------------------------------------------------------------

ONE_TO_FIVE = {1, 2, 3, 4, 5}


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("markdown", "2, 3, 4", {2, 3, 4}),
        ("markdown", "(2), (3), (4)", {2, 3, 4}),
        ("markdown", "[2,3,4]", {2, 3, 4}),
        ("markdown", "2번, 3번, 4번", {2, 3, 4}),
        ("markdown", "정답: 2,3,4", {2, 3, 4}),
        ("markdown", "**2, 4**", {2, 4}),
        ("markdown", "3", {3}),
        ("markdown", "② ④", {2, 4}),
        ("code", "[2, 3, 4]", {2, 3, 4}),
        ("code", "ans = [2, 3, 4]", {2, 3, 4}),
        ("code", "ans = [2,3] # 2와 3", {2, 3}),
        ("code", "print([1, 5])", {1, 5}),
        ("code", "X = [1, 2]", {1, 2}),  # any name: the cell holds only what the student added
        ("markdown", "2, 9", None),
        ("markdown", "True", None),
        ("markdown", "2번이 맞다", None),
        ("code", "[]", None),
        ("code", "X = torch.randn(3)\nans = [2]", None),
    ],
)
def test_read_choice_list(kind: str, text: str, expected: set[int] | None) -> None:
    assert read_choice_list([(kind, text)], ONE_TO_FIVE) == expected


def test_last_choice_list_wins() -> None:
    snippets = [("markdown", "1, 2"), ("markdown", "설명"), ("code", "[3, 4]"), ("markdown", "2, 9")]
    assert read_choice_list(snippets, ONE_TO_FIVE) == {3, 4}


def test_no_choice_list() -> None:
    assert read_choice_list([], ONE_TO_FIVE) is None


@pytest.mark.parametrize(("code", "only_an_answer"), [
    ("T", True), ("거짓", True), ("O", True), ("F  # 틀림", True), ("⭕", True), ("참 ", True), ("ans = 거짓", True),
    ("2번, 4번", True), ("# YOUR CODE HERE\nX", True),
    ("x = 1\nT", False), ("print(X.shape)", False), ("O/X", False), ("# 답: T", False), ("", False),
])
def test_a_cell_that_holds_only_an_answer(code: str, only_an_answer: bool) -> None:
    assert holds_only_an_answer(code) is only_an_answer
