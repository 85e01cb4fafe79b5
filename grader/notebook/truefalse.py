"""Read a student's True/False answer from the text of the cells answering one item.

Students answer True/False items in every way a keyboard allows: ``False`` in
a code cell, ``ans = 'X'``, ``**O**`` in markdown, ``거짓입니다.``, an emoji, or
a whole explanation that starts with the answer. The grader scores an answer
it cannot read as 0 and quotes it, so this module reads conservatively and
says *why* it could not read something (``unanswered`` versus ``ambiguous``).
Nothing is executed; everything is read from text.

Design:

* Tokens count only as whole words. The same letters are the exam's data:
  ``X`` is the input tensor, ``X[0]``, ``X_train``, ``F1`` are code, and in
  Korean prose a particle attached to ``X`` (``X는``, ``X의``) - or separated
  from it by a space (``X 는``) - marks the variable, not an answer. ``x``
  and ``×`` between two numbers (``3 x 224``) are multiplication signs.
  Korean sentence endings (``참입니다``, ``X임``) are part of an answer word;
  ``참고``/``참조`` are other words.
* Code is read line by line, and a line is an answer only if it is nothing
  but an answer (``False``, ``'X'``, ``ans = False``, ``print('O')``), so
  exploratory code around it (``X = torch.randn(3)``, ``print(X)``) is noise.
  A single unquoted letter is an answer only as a line of its own, and not
  when the cell assigns that name (then it displays the variable).
* When the tokens found disagree, the answer is the word the student opened
  with: students write the answer first and explain after ("거짓. X의 채널이
  3이므로 ... True ..."), and the explanation may mention the other value.
  That rule gives way when the other value stands alone in a cell of its
  own ("True" in one cell, "False" in the next): that is a second answer,
  not an explanation. Failing the first word, a single emphasized value
  (``**X**``) decides; otherwise the answer is ambiguous.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

QUOTE_LIMIT = 200  # characters of student text kept for quoting in reports

_TRUE_WORDS = frozenset({"true", "t", "o", "참", "⭕", "○", "◯", "✓", "✔"})
_MULTIPLICATION_LOOKALIKES = frozenset({"x", "×", "✕", "✖"})
_ANSWER_LABELS = frozenset({"정답", "정답은", "답", "답은", "답안", "답변", "answer", "ans", "a"})

# One answer word: the token, an emoji variation selector, a Korean sentence ending.
_TOKEN = re.compile(
    r"(?P<base>true|false|거짓|참|[otfx]|[⭕○◯✓✔❌✗✘×✕✖])\ufe0f?(?:이다|입니다|이에요|임)?",
    re.IGNORECASE,
)
# Characters that may surround a token. `_` is one only at a word's edge
# (`__O__`), never inside it (`X_train`).
_DELIMITERS = r"\s*`'\"‘’“”():.,!?;=→⇒\-"
_WORD = re.compile(rf"[^{_DELIMITERS}_]+(?:_+[^{_DELIMITERS}_]+)*")
# After a single letter, a Korean particle makes it a variable: "X 는", "`X`의". Not 이/가:
# "X 가 정답" names the answer.
_PARTICLE_AFTER = re.compile(r"[*_`'\")\]]*\s*(?:은|는|의|을|를|에서|에게|에|와|과|으로|로|도|만)(?![가-힣])")
_DIGIT_BEFORE = re.compile(r"\d[\s*]*$")
_DIGIT_AFTER = re.compile(r"[\s*]*\d")
_HANGUL = re.compile(r"[가-힣]")

_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.DOTALL)
_HTML_TAG = re.compile(r"<[^<>\n]+>")
_LINE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)*(?:#{1,6}(?=\s|$)|[-*+•](?=[ \t]))?", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")

_STRING_OR_COMMENT = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|#[^\n]*')
_ASSIGNED = re.compile(r"^\s*for\s+(?P<loop>.*?)\s+in\b|^(?P<lhs>[^=\n]*?)(?<![=!<>])=(?!=)", re.MULTILINE)
_NAME = re.compile(r"[^\W\d]\w*")
# A code line that may hold an answer: `[name =] print(value)` or `[name =] value`.
_CODE_LINE = re.compile(r"(?:(?P<target>[^\W\d]\w*)\s*=(?!=)\s*)?(?:print\((?P<printed>.*)\)|(?P<value>.*?))\s*;?")
# What may follow a prose answer word in a code cell without making it code.
_CODE_AFTER_WORD = re.compile(r"\s*(?:[=(\[]|\.\w)")

_NUMBERED_ITEM = r"\(?\s*\d+\s*\)?\s*번?"
_NUMBER_LIST = rf"{_NUMBERED_ITEM}(?:(?:\s*[,、/]\s*|\s+){_NUMBERED_ITEM})*"
_CHOICE_LIST = re.compile(rf"\[\s*{_NUMBER_LIST}\s*\]|\(\s*{_NUMBER_LIST}\s*\)|\{{\s*{_NUMBER_LIST}\s*\}}|{_NUMBER_LIST}\s*\.?")
_CHOICE_LABEL = re.compile(r"^(?:정답|답안|답|answer|ans)\s*(?:은|[:：])?\s*", re.IGNORECASE)
_EMPHASIS_MARK = re.compile(r"[*_`]")
_NUMBER = re.compile(r"\d+")
_CODE_WRAPPER = re.compile(r"(?:[^\W\d]\w*\s*=(?!=)\s*)?(?:print\((?P<printed>.*)\)|(?P<value>.*))", re.DOTALL)


@dataclass(frozen=True)
class Answer:
    value: bool | None  # None when not readable / not answered
    status: Literal["answered", "unanswered", "ambiguous"]
    source: str  # the (stripped) text the decision was made from, for quoting in reports; "" when unanswered
    token: str | None = None  # the token that decided, e.g. "X", "거짓", "False"
    # Where the deciding text is, when the caller said which cell each snippet is (0-based); not part of the answer.
    cell: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int
    answer: tuple[bool, str] | None  # (value, token as written without its ending); None when not a token


@dataclass(frozen=True)
class _Found:
    value: bool
    token: str
    snippet: int  # index into the snippets
    emphasized: bool


@dataclass(frozen=True)
class _SnippetReading:
    found: tuple[_Found, ...]
    opening: _Found | None  # the token the snippet's answer opens with, if it opens with one
    is_bare: bool  # the snippet holds nothing but answer tokens
    is_empty: bool  # nothing written once comments and formatting are dropped


def read_true_false(snippets: list[tuple[str, str]], cells: list[int] | None = None) -> Answer:
    """snippets: (kind, text) in notebook order, kind is "code" or "markdown".
    Each snippet is one cell's answer text (for a question cell, only the text
    the student added to it). cells: each snippet's cell, for the answer's `cell`.
    Returns the student's answer."""
    readings = [
        _read_code(text, index) if kind == "code" else _read_markdown(text, index)
        for index, (kind, text) in enumerate(snippets)
    ]
    found = [token for reading in readings for token in reading.found]
    if not found:
        written = [text for (_, text), reading in zip(snippets, readings) if not reading.is_empty]
        if not written:
            return Answer(None, "unanswered", "")
        return Answer(None, "ambiguous", _quote(written))

    def answered(decider: _Found) -> Answer:
        return Answer(decider.value, "answered", _quote([snippets[decider.snippet][1]]), decider.token,
                      cells[decider.snippet] if cells is not None else None)

    if len({token.value for token in found}) == 1:
        return answered(found[0])
    opening = readings[found[0].snippet].opening
    if opening is not None and not any(
        token.value != opening.value and readings[token.snippet].is_bare for token in found
    ):
        return answered(opening)
    emphasized = [token for token in found if token.emphasized]
    if len({token.value for token in emphasized}) == 1:
        return answered(emphasized[0])
    with_tokens = sorted({token.snippet for token in found})
    return Answer(None, "ambiguous", _quote([snippets[index][1] for index in with_tokens]))


def read_choice_list(snippets: list[tuple[str, str]], allowed: set[int]) -> set[int] | None:
    """For "choose all that apply" questions: if one snippet is nothing but a
    list of statement numbers (e.g. "2, 3, 4", "(2), (3), (4)", "[2,3,4]",
    "2번, 3번, 4번", "정답: 2,3,4", "**2, 4**", a code cell `[2, 3, 4]` or
    `ans = [2,3,4]`), return that set; the numbers must all be in `allowed`
    (else that snippet is not a choice list). A single number alone ("3") also
    counts. None when no snippet is a choice list. If several snippets are
    lists, the last one wins.

    In code, any `name = [numbers]` counts, whatever the name: `X = [1, 2]`
    reads as {1, 2}. The snippet holds only the student's added text, so a
    lone assignment of numbers there is an answer, not exploration. An empty
    list is not a choice list."""
    found = _last_choice_list(snippets, allowed)
    return None if found is None else found[0]


@dataclass(frozen=True)
class ChoiceAnswer:
    """A multiple choice item's answer: the set of option numbers chosen."""

    value: frozenset[int] | None  # None when not readable / not answered
    status: Literal["answered", "unanswered", "ambiguous"]
    source: str  # the text the answer was read from, or could not be, for quoting in reports; "" when unanswered
    # Where the list was read from, when the caller said which cell each snippet is (0-based); not part of the answer.
    cell: int | None = field(default=None, compare=False)

    @property
    def listed(self) -> str:
        """ "2, 4": the numbers chosen, in order."""
        return ", ".join(map(str, sorted(self.value or ())))


def read_choices(snippets: list[tuple[str, str]], allowed: set[int], cells: list[int] | None = None) -> ChoiceAnswer:
    """A multiple choice item's answer, read from its snippets as `read_choice_list` reads a list of true
    statements' numbers. Written text that is no such list (or names a number outside `allowed`) is ambiguous.
    cells: each snippet's cell, for the answer's `cell`."""
    found = _last_choice_list(snippets, allowed)
    if found is not None:
        numbers, index = found
        return ChoiceAnswer(frozenset(numbers), "answered", _quote([snippets[index][1]]),
                            cells[index] if cells is not None else None)
    written = [text for kind, text in snippets if (_drop_comments(text) if kind == "code" else text).strip()]
    if not written:
        return ChoiceAnswer(None, "unanswered", "")
    return ChoiceAnswer(None, "ambiguous", _quote(written))


def _last_choice_list(snippets: list[tuple[str, str]], allowed: set[int]) -> tuple[set[int], int] | None:
    """The numbers of the last snippet that is a choice list within `allowed`, and that snippet's index."""
    found = None
    for index, (kind, text) in enumerate(snippets):
        numbers = _choice_numbers(kind, text)
        if numbers and numbers <= allowed:
            found = numbers, index
    return found


def holds_only_an_answer(code: str) -> bool:
    """A code cell that is nothing but an answer, comments aside: true/false words (`T`, `거짓`, `ans = O`) or a
    list of option numbers (`2번, 4번`). Running such a cell can fail only on the answer itself (a NameError for
    `T`, a SyntaxError for `⭕`), and that failure is no mistake in the student's code."""
    reading = _read_code(code, 0)
    return (reading.is_bare and bool(reading.found)) or _choice_numbers("code", code) is not None


def _read_markdown(text: str, index: int) -> _SnippetReading:
    text = unicodedata.normalize("NFKC", text)
    has_math = _MATH.search(text) is not None
    text = _LINE_PREFIX.sub(" ", _HTML_TAG.sub(" ", _MATH.sub(" ", text)))
    emphasis_spans = [match.span(2) for match in _EMPHASIS.finditer(text)]
    words = _words(text)
    found = tuple(
        _Found(*word.answer, index, any(start <= word.start < end for start, end in emphasis_spans))
        for word in words
        if word.answer is not None
    )
    return _SnippetReading(
        found=found,
        opening=found[0] if words and words[0].answer is not None else None,
        is_bare=bool(words) and len(found) == len(words),
        is_empty=not words and not has_math,
    )


def _read_code(text: str, index: int) -> _SnippetReading:
    code = _drop_comments(unicodedata.normalize("NFKC", text))
    assigned_names = {
        name for match in _ASSIGNED.finditer(code) for name in _NAME.findall(match.group("loop") or match.group("lhs"))
    }
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    found: list[_Found] = []
    is_bare = bool(lines)
    for line in lines:
        answer_tokens = _code_answer_tokens(line, assigned_names)
        if answer_tokens is None:
            is_bare = False
            answer_tokens = _prose_answer_tokens(line)
        found.extend(_Found(value, token, index, emphasized=False) for value, token in answer_tokens)
    return _SnippetReading(found=tuple(found), opening=found[0] if found else None, is_bare=is_bare, is_empty=not lines)


def _code_answer_tokens(line: str, assigned_names: set[str]) -> list[tuple[bool, str]] | None:
    """The answer a code line gives when the whole line is an answer; None when it is other code."""
    match = _CODE_LINE.fullmatch(line)
    if match is None:
        return None
    is_wrapped = match.group("target") is not None or match.group("printed") is not None
    value = (match.group("printed") if match.group("printed") is not None else match.group("value")).strip()
    is_quoted = value[:1] in "'\""
    words = _words(value, drop_labels=is_quoted)  # a string may say "정답: X"; unquoted, `ans` is a name
    answers = [word.answer for word in words if word.answer is not None]
    if not words or len(answers) < len(words):
        return None
    if not is_quoted:
        # Unquoted, a single letter is a name: an answer only alone on its line, and not a variable of this cell.
        if len(answers) > 1:
            return None
        token = answers[0][1]
        if len(token) == 1 and token.isascii() and (is_wrapped or token in assigned_names):
            return None
    return answers


def _prose_answer_tokens(line: str) -> list[tuple[bool, str]]:
    """Tokens of Korean prose typed into a code cell, e.g. "거짓. 채널이 3이므로 ..."; [] for code."""
    words = _words(line)
    if not words or words[0].answer is None:
        return []
    first = words[0]
    if _CODE_AFTER_WORD.match(line, first.end) or not _HANGUL.search(line, first.end):
        return []
    return [word.answer for word in words if word.answer is not None]


def _words(text: str, drop_labels: bool = True) -> list[_Word]:
    """The words of text, each read as a token or not; leading answer labels ("정답:", "Answer:") dropped."""
    words = [_read_word(text, match) for match in _WORD.finditer(text)]
    while drop_labels and words and words[0].text.casefold() in _ANSWER_LABELS:
        words.pop(0)
    return words


def _read_word(text: str, match: re.Match[str]) -> _Word:
    word, start, end = match.group(), match.start(), match.end()
    token_match = _TOKEN.fullmatch(word)
    if token_match is None:
        return _Word(word, start, end, None)
    token = token_match.group("base")
    folded = token.casefold()
    is_variable = len(token) == 1 and token.isascii() and _PARTICLE_AFTER.match(text, end) is not None
    is_multiplication = (
        folded in _MULTIPLICATION_LOOKALIKES
        and _DIGIT_BEFORE.search(text, 0, start) is not None
        and _DIGIT_AFTER.match(text, end) is not None
    )
    if is_variable or is_multiplication:
        return _Word(word, start, end, None)
    return _Word(word, start, end, (folded in _TRUE_WORDS, token))


def _choice_numbers(kind: str, text: str) -> set[int] | None:
    text = unicodedata.normalize("NFKC", text)  # also turns circled ① into 1
    if kind == "code":
        code = _drop_comments(text).strip()
        wrapper = _CODE_WRAPPER.fullmatch(code)
        body = "" if wrapper is None else (wrapper.group("printed") or wrapper.group("value") or "").strip()
        if body[:1] in "'\"" and body[-1:] == body[:1]:
            body = body[1:-1]
    else:
        body = _EMPHASIS_MARK.sub("", _LINE_PREFIX.sub(" ", _HTML_TAG.sub(" ", text)))
    body = _CHOICE_LABEL.sub("", body.strip()).strip()
    if not _CHOICE_LIST.fullmatch(body):
        return None
    return {int(number) for number in _NUMBER.findall(body)}


def _drop_comments(code: str) -> str:
    """Code without its `#` comments; a `#` inside a string literal stays."""
    return _STRING_OR_COMMENT.sub(lambda match: "" if match.group().startswith("#") else match.group(), code)


def _quote(texts: list[str]) -> str:
    """Student text for a report: stripped, whitespace collapsed, at most QUOTE_LIMIT characters."""
    quoted = " / ".join(" ".join(text.split()) for text in texts)
    return quoted if len(quoted) <= QUOTE_LIMIT else quoted[: QUOTE_LIMIT - 1] + "…"
