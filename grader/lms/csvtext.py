"""CSV read so that it can be written back byte for byte, with only some cells changed.

Python's csv module gives each cell's value but not how the file wrote it (quoted or not, which line ending), and a
file a TA got from Canvas or Moodle, perhaps through Excel, must come back as it was except for the cells filled in.
So each record keeps its cells' raw text and its line ending; a changed cell is quoted if the cell it replaces was,
or if it must be. Quoting follows RFC 4180: a quoted cell may hold the delimiter, `""` for a quote, and line breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class CsvError(Exception):
    """Text that is not CSV; `line` is where the trouble is (1-based)."""

    def __init__(self, line: int, why: str):
        super().__init__(f"line {line}: {why}")
        self.line = line
        self.why = why


@dataclass(frozen=True)
class Record:
    line: int  # 1-based line the record starts on
    cells: tuple[str, ...]  # the values
    raw: tuple[str, ...]  # each cell as written in the file, quotes included
    end: str  # its line ending: "\r\n", "\n" or "\r"; "" for a last record without one

    def text(self, delimiter: str, changed: dict[int, str] | None = None, added: tuple[str, ...] = (),
             quote_also: str = "") -> str:
        """The record as it was read, with the cells in `changed` (index -> value) and `added` (appended) written
        in; every other cell keeps its raw text. A written cell holding a character of `quote_also` is quoted too
        (as the LMS's own writer would)."""
        raw = list(self.raw)
        for index, value in (changed or {}).items():
            raw[index] = quote(value, delimiter, self.raw[index].startswith('"'), quote_also)
        raw += [quote(value, delimiter, False, quote_also) for value in added]
        return delimiter.join(raw) + self.end


def parse(text: str, delimiter: str) -> list[Record]:
    """Every record of `text` (a BOM already removed), with the line each starts on."""
    unquoted = re.compile(f"[^{re.escape(delimiter)}\r\n]*")
    records: list[Record] = []
    position, line = 0, 1
    while position < len(text):
        start = position
        cells: list[str] = []
        raw: list[str] = []
        while True:
            cell_start = position
            if text.startswith('"', position):
                value, position = _quoted(text, position, line + _breaks(text, start, position))
                if position < len(text) and text[position] not in (delimiter, "\r", "\n"):
                    raise CsvError(line + _breaks(text, start, position),
                                   f"{text[position]!r} after a quoted cell's closing quote (expected {delimiter!r} "
                                   "or the end of the line; a quote inside a quoted cell is written twice)")
            else:
                bare = unquoted.match(text, position)
                assert bare is not None  # a `*` pattern matches, if only the empty string
                position = bare.end()
                value = text[cell_start:position]
            cells.append(value)
            raw.append(text[cell_start:position])
            if text.startswith(delimiter, position):
                position += len(delimiter)
                continue
            break
        end = "\r\n" if text.startswith("\r\n", position) else text[position:position + 1]
        position += len(end)
        records.append(Record(line, tuple(cells), tuple(raw), end))
        line += _breaks(text, start, position)
    return records


def quote(value: str, delimiter: str, quoted: bool, also: str = "") -> str:
    """`value` as a cell: quoted when asked or when it must be (it holds the delimiter, a quote or a line break, or
    a character of `also`), with `"` written twice. Canvas's Ruby CSV quotes exactly when it must
    (ruby/csv lib/csv/writer.rb, CSV::Writer#quote: `@quotable_pattern`, "[\\r\\n" + column separator + quote
    character + "]")."""
    if quoted or any(char in value for char in (delimiter, '"', "\r", "\n", *also)):
        return '"' + value.replace('"', '""') + '"'
    return value


def sniff_delimiter(text: str) -> str:
    """`;` or `,`, decided as Canvas's importer decides it: each is tried on the first three lines, one counts
    only if it splits them all into the same number of cells, and `;` wins only with more cells (here also: more
    than one, so that a ragged comma file stays a comma file).

    instructure/canvas-lms lib/gradebook_importer.rb, GradebookImporter#semicolon_delimited? and
    #identify_delimiter: `(field_counts[";"] > field_counts[","]) ? :semicolon : :comma`.
    """
    pieces = text.split("\n", 3)  # lines as Ruby's readline reads them; the text after a last \n is no line
    lines = [piece for index, piece in enumerate(pieces[:3]) if piece or index < len(pieces) - 1]
    counts = {}
    for delimiter in (";", ","):
        try:
            sizes = {len(parse(line, delimiter)[0].cells) if line.strip("\r") else 0 for line in lines}
        except CsvError:  # a quoted cell spanning lines: Canvas's line-by-line parse fails the same way
            sizes = set()
        counts[delimiter] = sizes.pop() if len(sizes) == 1 else 0
    return ";" if counts[";"] > max(counts[","], 1) else ","


def _quoted(text: str, position: int, line: int) -> tuple[str, int]:
    """The value of the quoted cell starting at `position`, and where it ends (after its closing quote)."""
    parts = []
    position += 1
    while True:
        closing = text.find('"', position)
        if closing < 0:
            raise CsvError(line, "a quoted cell is never closed (expected a closing quote)")
        parts.append(text[position:closing])
        if text.startswith('"', closing + 1):
            parts.append('"')
            position = closing + 2
        else:
            return "".join(parts), closing + 1


def _breaks(text: str, start: int, end: int) -> int:
    return len(_LINE_BREAK.findall(text, start, end))
