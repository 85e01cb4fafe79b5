"""Numeric arrays in the text that notebook cells printed.

Students show results with ``print(tensor)``, ``print(array)`` or a bare
expression at the end of a cell; the grader compares those numbers with the
reference and quotes them in reports. The text comes from a kernel that ran the
student's code, so it is untrusted: it is never handed to ``eval`` or
``ast.literal_eval``. A small tokenizer (regular expressions with possessive
quantifiers, so no backtracking blow-ups) feeds an explicit stack of open
brackets instead: parsing is linear in the text, does not recurse on nesting
depth and does not raise.

Recognised, each as one :class:`PrintedArray`:

* ``tensor(...)``, ``array(...)`` and any name starting or ending in ``Tensor``
  (fastai's ``TensorBase``...), keyword arguments included, around a bracketed
  value or a single number (``tensor(3.5000)``);
* ``Parameter containing:`` in front of such a wrapper;
* bracketed lists with commas (Python, torch) or without (numpy).

Skipped: ragged lists, torch's and numpy's summarised prints (``...``), empty
lists, lists holding anything but numbers (arrays nested in those still count),
subscripts such as ``x[0]`` and shapes (``torch.Size([2, 3])``).

A notebook's outputs are read with :func:`printed_arrays` (each array with its cell) and :func:`printed_by_item`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import nbformat

from grader.notebook.locate import Layout

__all__ = ["MAX_ARRAYS", "MAX_OUTPUT_CHARS", "Located", "PrintedArray", "output_text", "parse_printed",
           "printed_arrays", "printed_by_item"]

MAX_ARRAYS = 10_000  # parsing stops once this many arrays are found
MAX_OUTPUT_CHARS = 200_000  # of one output, when looking for printed values
_MAX_DIMENSIONS = 64  # as numpy; deeper nesting is no real array, and this bounds the work per list
_MAX_OPEN_LISTS = 1_000  # lists nested deeper are skipped, keeping memory and time bounded
_MAX_CALL_TAIL = 1_000  # characters searched for a wrapper's keyword arguments and ")"
_MAX_WRAPPER_NAME = 100  # longer names before "(" are not looked at
_MAX_PREFIX_GAP = 8  # whitespace allowed between "Parameter containing:" and the tensor
_PARAMETER_PREFIX = "Parameter containing:"

# A number as Python, numpy and torch print it: 3, -2.5000, 1., 1.0000e+00, nan, -inf.
_NUMBER = r"[+-]?(?:(?:[0-9]++(?:\.[0-9]*+)?|\.[0-9]++)(?:[eE][+-]?[0-9]++)?|nan|inf)"
# ...and inside brackets, where it must end at a separator or a closing bracket.
_LIST_NUMBER = _NUMBER + r"(?=[\s,\]]|\Z)"
_WRAPPER_NAME = r"(?:tensor|array|Tensor\w*|\w*Tensor)"
# Every character starts one of these alternatives, so matching never fails.
_TOKEN = re.compile(
    # a one-dimensional list of numbers in one go (the bulk of most prints)
    r"(?P<row>\[\s*+" + _LIST_NUMBER + r"(?:\s*+,?\s*+" + _LIST_NUMBER + r")*+\s*+\])"
    r"|(?P<open>\[)"
    r"|(?P<close>\])"
    r"|(?P<scalar>(?<!\w)" + _WRAPPER_NAME
    + r"\(\s*+(?P<scalar_number>" + _NUMBER + r")\s*+(?=[,)]))"
    r"|(?P<number>" + _LIST_NUMBER + r")"
    r"|(?P<ellipsis>\.\.\.)"
    r"|(?P<separator>[\s,]++)"
    r"|(?P<other>\w++|[^\w\s,\[\]]++)"
)
_LIST_NUMBER_RE = re.compile(_LIST_NUMBER)
_WRAPPER_NAME_RE = re.compile(_WRAPPER_NAME)
_WORD_CHAR = re.compile(r"\w")
# What follows a wrapper's value: ", requires_grad=True)", ", device='cuda:0')", ")".
_KEYWORD_VALUE = r"""(?:'[^'\n]*+'|"[^"\n]*+"|<[^<>\n]*+>|[\w.:+-]++)"""
_CALL_TAIL = re.compile(r"\s*+(?:,\s*+\w++=" + _KEYWORD_VALUE + r"\s*+)*+\)")


@dataclass(frozen=True)
class PrintedArray:
    """One numeric array literal found in printed text."""

    text: str  # the exact snippet it was parsed from, wrapper and keyword arguments included
    values: tuple[float, ...]  # flattened, row-major
    shape: tuple[int, ...]  # () for a scalar wrapper such as tensor(3.5000)
    decimals: int  # most digits after the decimal point among the numbers as written


def parse_printed(text: str) -> list[PrintedArray]:
    """Every numeric array literal in `text`, in order of appearance."""
    return _Parser(text).parse()



@dataclass(frozen=True)
class Located:
    cell: int  # 1-based
    array: PrintedArray


def printed_arrays(nb: nbformat.NotebookNode) -> list[Located]:
    """Every array printed in the notebook's outputs, with its 1-based cell."""
    found: list[Located] = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for array in parse_printed(output_text(output)[:MAX_OUTPUT_CHARS]):
                found.append(Located(index + 1, array))
    return found


def printed_by_item(nb: nbformat.NotebookNode, layout: Layout) -> dict[str, tuple[PrintedArray, ...]]:
    """The arrays each item's cells printed (a reference's, for `printed` checks)."""
    by_cell: dict[int, list[PrintedArray]] = {}
    for located in printed_arrays(nb):
        by_cell.setdefault(located.cell - 1, []).append(located.array)
    return {item: tuple(array for index in cells for array in by_cell.get(index, []))
            for item, cells in layout.regions.items()}


def output_text(output: dict) -> str:
    """The text of one cell output: a stream's, or a result's `text/plain`."""
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    data = output.get("data", {})
    text = data.get("text/plain", "") if isinstance(data, dict) else ""
    return "".join(text) if isinstance(text, list) else str(text)

@dataclass(slots=True)
class _Array:
    """A rectangular literal found in the text; values are flattened only when reported."""

    start: int  # its "["
    end: int  # just after its "]"
    shape: tuple[int, ...]
    decimals: int
    numbers: list[str]  # a one-dimensional array's numbers as written...
    rows: list[_Array]  # ...or a deeper array's sub-arrays


@dataclass(slots=True)
class _Frame:
    """An open "[" and what has been read inside it so far."""

    start: int
    opaque: bool = False  # numbers, but no array (ragged, summarised, malformed...): dropped whole
    foreign: bool = False  # holds something other than numbers: its own arrays stand alone
    numbers: list[str] = field(default_factory=list)
    rows: list[_Array] = field(default_factory=list)
    after_element: bool = False  # an element was read and no separator since
    trailing_comma: bool = False  # the last separator was a comma

    def add_element(self) -> None:
        self.opaque |= self.after_element  # no separator before it: malformed
        self.after_element = True
        self.trailing_comma = False

    def add_separator(self, separator: str) -> None:
        commas = separator.count(",")
        self.opaque |= commas > 1 or (commas == 1 and not self.after_element)  # "[1,, 2]", "[, 1]"
        self.after_element = False
        self.trailing_comma = commas == 1


class _Parser:
    def __init__(self, text: str) -> None:
        self._text = text
        self._open_frames: list[_Frame] = []
        self._untracked_depth = 0  # brackets open beyond _MAX_OPEN_LISTS
        self._found: list[PrintedArray] = []

    def parse(self) -> list[PrintedArray]:
        text = self._text
        position = 0
        while position < len(text) and len(self._found) < MAX_ARRAYS:
            token = _TOKEN.match(text, position)
            assert token is not None  # the "other" alternative takes any character
            kind = token.lastgroup
            frame = self._open_frames[-1] if self._open_frames else None
            position = token.end()
            if self._untracked_depth:  # too deep to be printed output: only brackets count
                if kind == "open":
                    self._untracked_depth += 1
                elif kind == "close":
                    self._untracked_depth -= 1
            elif kind in ("row", "open") and len(self._open_frames) >= _MAX_OPEN_LISTS:
                self._make_foreign()
                self._untracked_depth = 1 if kind == "open" else 0  # a row closes itself
            elif kind == "row":
                self._open(token.start()).numbers = _LIST_NUMBER_RE.findall(token.group())
                self._close(token.end())
            elif kind == "open":
                self._open(token.start())
            elif kind == "close":
                self._close(token.end())
            elif kind == "scalar":
                self._make_foreign()
                position = self._report_scalar(token)
            elif frame is None or frame.foreign:
                pass  # outside a list of numbers only brackets and wrappers matter
            elif kind == "number":
                frame.add_element()
                frame.numbers.append(token.group())
                frame.opaque |= bool(frame.rows)  # numbers mixed with lists
            elif kind == "ellipsis":
                frame.add_element()
                frame.opaque = True  # a summary of a large array, not its value
            elif kind == "separator":
                frame.add_separator(token.group())
            else:
                self._make_foreign()
        # Lists still open at the end were cut off: not reported.
        return self._found

    def _open(self, start: int) -> _Frame:
        parent = self._open_frames[-1] if self._open_frames else None
        if parent is not None and not parent.foreign:
            parent.add_element()
        frame = _Frame(start, opaque=_is_subscript_or_shape(self._text, start))
        self._open_frames.append(frame)
        return frame

    def _close(self, end: int) -> None:
        if not self._open_frames:
            return  # a stray "]"
        frame = self._open_frames.pop()
        if frame.foreign:
            return  # its arrays were reported as they closed
        frame.opaque |= frame.trailing_comma  # "[1, 2,]"
        array = _as_array(frame, end)
        parent = self._open_frames[-1] if self._open_frames else None
        if parent is None or parent.foreign:
            if array is not None:
                self._report(array)
        elif array is None:
            parent.opaque = True
        else:
            ragged = bool(parent.rows) and parent.rows[0].shape != array.shape
            parent.opaque |= ragged or bool(parent.numbers)
            parent.rows.append(array)

    def _make_foreign(self) -> None:
        """Mark the innermost open list foreign, and so every list around it."""
        turning: list[_Frame] = []
        for frame in reversed(self._open_frames):
            if frame.foreign:
                break
            turning.append(frame)
        for frame in reversed(turning):  # outermost first: its arrays come earlier in the text
            frame.foreign = True
            for array in frame.rows:
                self._report(array)
            frame.rows = []
            frame.numbers = []

    def _report(self, array: _Array) -> None:
        values: list[float] = []
        _flatten(array, values)
        start, end = array.start, array.end
        name_start = _wrapper_name_start(self._text, start)
        if name_start is not None:
            start = _with_parameter_prefix(self._text, name_start)
            end = _call_end(self._text, end)
        self._append(start, end, tuple(values), array.shape, array.decimals)

    def _report_scalar(self, token: re.Match[str]) -> int:
        """Report a wrapper around one number; returns where the wrapper ends."""
        number = token.group("scalar_number")
        start = _with_parameter_prefix(self._text, token.start())
        end = _call_end(self._text, token.end())
        self._append(start, end, (float(number),), (), _decimals(number))
        return end

    def _append(
        self, start: int, end: int, values: tuple[float, ...], shape: tuple[int, ...], decimals: int
    ) -> None:
        if len(self._found) < MAX_ARRAYS:
            self._found.append(PrintedArray(self._text[start:end], values, shape, decimals))


def _as_array(frame: _Frame, end: int) -> _Array | None:
    """The array a closed, non-foreign list holds; None if it holds none."""
    if frame.opaque:
        return None
    if frame.numbers:
        decimals = max(map(_decimals, frame.numbers))
        return _Array(frame.start, end, (len(frame.numbers),), decimals, frame.numbers, [])
    if frame.rows and len(frame.rows[0].shape) < _MAX_DIMENSIONS:
        shape = (len(frame.rows), *frame.rows[0].shape)
        decimals = max(row.decimals for row in frame.rows)
        return _Array(frame.start, end, shape, decimals, [], frame.rows)
    return None  # empty, or nested deeper than any real array


def _flatten(array: _Array, values: list[float]) -> None:
    values.extend(float(number) for number in array.numbers)
    for row in array.rows:  # recursion depth is bounded by _MAX_DIMENSIONS
        _flatten(row, values)


def _decimals(number: str) -> int:
    mantissa = number.lower().partition("e")[0]
    point = mantissa.find(".")
    return 0 if point < 0 else len(mantissa) - point - 1


def _is_subscript_or_shape(text: str, bracket: int) -> bool:
    """Whether the "[" at `bracket` indexes something (x[0]) or is a shape (torch.Size([2, 3]))."""
    if bracket == 0:
        return False
    previous = text[bracket - 1]
    if previous == "(":
        named_size = text.endswith("Size(", 0, bracket)
        return named_size and not (bracket > 5 and _WORD_CHAR.match(text, bracket - 6))
    return previous in ")]" or bool(_WORD_CHAR.match(previous))


def _wrapper_name_start(text: str, bracket: int) -> int | None:
    """Where `name(` starts if the "[" at `bracket` opens a wrapper's value, else None."""
    if bracket == 0 or text[bracket - 1] != "(":
        return None
    name_end = bracket - 1
    name_start = name_end
    while name_start > 0 and _WORD_CHAR.match(text, name_start - 1):
        if name_end - name_start > _MAX_WRAPPER_NAME:
            return None
        name_start -= 1
    if _WRAPPER_NAME_RE.fullmatch(text, name_start, name_end) is None:
        return None
    return name_start


def _with_parameter_prefix(text: str, start: int) -> int:
    """`start` moved back over "Parameter containing:" if that precedes it."""
    prefix_end = start
    while prefix_end > 0 and start - prefix_end < _MAX_PREFIX_GAP and text[prefix_end - 1].isspace():
        prefix_end -= 1
    if text.endswith(_PARAMETER_PREFIX, 0, prefix_end):
        return prefix_end - len(_PARAMETER_PREFIX)
    return start


def _call_end(text: str, value_end: int) -> int:
    """Just after the ")" closing a wrapper whose value ends at `value_end`.

    Without a recognisable ")" (cut-off output, unusual keyword values) the
    snippet ends with the value itself.
    """
    tail = _CALL_TAIL.match(text, value_end, value_end + _MAX_CALL_TAIL)
    return tail.end() if tail else value_end
