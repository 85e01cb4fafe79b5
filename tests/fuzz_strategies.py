"""Damaged input as the field makes it, for the grader's readers, and each reader fed with it.

Shared by tests/test_fuzz_readers.py (a few hundred cases, in CI) and benchmarks/fuzz_readers.py (tens of
thousands). Each strategy draws the bytes of one file: mostly the real thing with a few parts wrong (a notebook
with a wrong type, an evidence line out of sequence, a ragged roster row, a zip member named `../x`), then
sometimes damaged as files get damaged (cut short, a BOM, another encoding, flipped bytes).

The contract checked (`Reader.feed`): a reader returns its documented result or raises one of the grader's own
errors, with a message naming the file where its messages do; anything else escapes `feed` as found.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.evidence import EvidenceError, read_evidence
from grader.evidence.model import Evidence
from grader.lms.roster import Roster, RosterError, read_roster
from grader.notebook.read import LoadedNotebook, NotebookError, read_notebook
from grader.probe.protocol import NPY_FIELD, array_line
from grader.submission import Submission, discovered, nothing_to_grade
from grader.unzip import ZipContents, ZipRefused, list_zip, unzip

# --- JSON, with what json.dumps cannot write: numbers too long to read (Python refuses over 4,300 digits)

_DIGITS = re.compile(r'"@digits:([0-9]+)@"')


def _digits(count: int) -> str:
    return f"@digits:{count}@"


def dumps(value: object) -> str:
    """JSON text of `value` (NaN and Infinity written as Python writes them), each `_digits` marker a number."""
    return _DIGITS.sub(lambda match: "9" * int(match[1]), json.dumps(value, ensure_ascii=False))


huge_numbers = st.sampled_from([2**63, -(2**63) - 1, 10**30, 1e308]) | st.builds(_digits, st.sampled_from([4301, 20_000]))
scalars = (st.none() | st.booleans() | st.integers(-(10**6), 10**6) | huge_numbers | st.floats()
           | st.text(max_size=12))
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=3), max_leaves=8)


def nested(depth: int) -> object:
    """A list `depth` deep, built without recursion (json.dumps refuses past Python's stack: see `deep_text`)."""
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@st.composite
def mutated(draw: st.DrawFn, value: dict, keep: frozenset[str] = frozenset()) -> dict:
    """`value` with a few of its fields (never those in `keep`) dropped, given junk, or added."""
    value = dict(value)
    for _ in range(draw(st.integers(0, 2))):
        fields = sorted(set(value) - keep)
        if not fields:
            break
        key = draw(st.sampled_from(fields))
        action = draw(st.sampled_from(["drop", "junk", "huge"]))
        if action == "drop":
            del value[key]
        else:
            value[key] = draw(junk if action == "junk" else huge_numbers)
    if draw(st.booleans()):
        value[draw(st.text(max_size=6))] = draw(junk)
    return value


# --- notebooks (nbformat 4, some 3)

MIME = st.sampled_from(["text/plain", "image/png", "text/html", "application/json", "application/x-weird"])
lines = st.text(max_size=20) | st.lists(st.text(max_size=10), max_size=3)


@st.composite
def outputs(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["stream", "execute_result", "display_data", "error", "unknown"]))
    output: dict = {"output_type": kind}
    if kind == "stream":
        output |= {"name": draw(st.sampled_from(["stdout", "stderr", "stdin"])), "text": draw(lines)}
    elif kind in ("execute_result", "display_data"):
        output |= {"data": draw(st.dictionaries(MIME, lines | junk, max_size=3)), "metadata": {}}
        if kind == "execute_result":
            output["execution_count"] = draw(st.integers(-5, 10) | huge_numbers)
    elif kind == "error":
        output |= {"ename": draw(st.text(max_size=10)), "evalue": draw(st.text(max_size=10)),
                   "traceback": draw(st.lists(st.text(max_size=10), max_size=3))}
    return draw(mutated(output, keep=frozenset({"output_type"})) if draw(st.booleans()) else st.just(output))


@st.composite
def cells(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["code", "markdown", "raw", "heading", ""]))
    cell: dict = {"cell_type": kind, "metadata": draw(st.just({}) | st.dictionaries(st.text(max_size=6), junk,
                                                                                     max_size=2)),
                  "source": draw(lines | st.lists(scalars, max_size=2))}
    if kind == "code":
        cell |= {"execution_count": draw(st.none() | st.integers(-(10**9), 10**9) | huge_numbers),
                 "outputs": draw(st.lists(outputs(), max_size=3))}
    if kind in ("markdown", "raw") and draw(st.booleans()):
        cell["attachments"] = draw(st.dictionaries(st.text(max_size=8), st.dictionaries(MIME, lines | junk,
                                                                                        max_size=2), max_size=2) | junk)
    return draw(mutated(cell)) if draw(st.integers(0, 3)) == 0 else cell


@st.composite
def notebook_values(draw: st.DrawFn) -> object:
    """A notebook as parsed JSON: nbformat 4 with some parts wrong, nbformat 3, or JSON of another shape."""
    notebook = {"cells": draw(st.lists(cells(), max_size=4)),
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": draw(st.just(4) | st.sampled_from([3, 5, "4", -1]) | huge_numbers),
                "nbformat_minor": draw(st.integers(0, 5) | st.integers() | huge_numbers | st.none())}
    shape = draw(st.sampled_from(["nbformat 4", "nbformat 4 mutated", "nbformat 3", "deep output", "other JSON"]))
    if shape == "nbformat 4 mutated":
        return draw(mutated(notebook))
    if shape == "nbformat 3":
        return {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                "worksheets": draw(st.lists(st.fixed_dictionaries({"cells": st.lists(cells(), max_size=2) | junk}),
                                            max_size=2) | junk)}
    if shape == "deep output":
        depth = draw(st.sampled_from([10, 200, 600]))
        notebook["cells"] = [{"cell_type": "code", "source": "x", "metadata": {}, "execution_count": 1, "outputs": [
            {"output_type": "display_data", "metadata": {}, "data": {"application/json": nested(depth)}}]}]
    if shape == "other JSON":
        return draw(junk)
    return notebook


def deep_text(depth: int) -> str:
    """JSON nested `depth` deep: past what Python's parser (and its stack) take."""
    return '{"cells": ' + "[" * depth + "]" * depth + "}"


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` as it may arrive: whole, cut short, with a BOM, in another encoding, or with bytes flipped."""
    how = draw(st.sampled_from(["whole", "whole", "cut", "bom", "utf-16", "cp949", "latin-1", "flipped"]))
    if how == "cut":
        return data[:draw(st.integers(0, max(len(data) - 1, 0)))]
    if how == "bom":
        return codecs.BOM_UTF8 + data
    if how in ("utf-16", "cp949", "latin-1"):
        return data.decode("utf-8", "replace").encode(how, "replace")
    if how == "flipped" and data:
        flipped = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            flipped[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(flipped)
    return data


@st.composite
def notebook_files(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        text = deep_text(draw(st.sampled_from([990, 5000, 100_000])))
    else:
        text = dumps(draw(notebook_values()))
    return draw(damaged(text.encode("utf-8")))


# --- the probe's evidence: a header, then events of every kind, some wrong

PROBE_HEADER = {"event": "probe", "version": 2, "torch": "2.14.1", "seq": 1, "run": 0}
_TENSOR = {"shape": [1, 2], "dtype": "float32", "data": [1.0, "nan"]}
# One well-formed event of each kind the probe writes (grader/evidence/model.py); `seq` is set as they are written.
EVENTS = [
    {"event": "cell", "run": 1},
    {"event": "module", "key": "m1", "class": "Linear", "module": "torch.nn.modules.linear", "repr": "in=2",
     "params": [{"name": "weight", "key": "p1", "shape": [1, 2]}], "total_params": 2, "children": [],
     "classes": [{"name": "torch.nn.Linear", "defined_in": "library"}], "run": 1},
    {"event": "forward", "module": "m1", "output": _TENSOR, "input": None, "run": 1},
    {"event": "step", "optimizer": "o1", "class": "SGD", "hyper": {"lr": 0.1}, "run": 1, "params": [
        {"key": "p1", "shape": [1, 2], "before": _TENSOR, "grad": None, "after": _TENSOR, "state_step": None}]},
    {"event": "params", "params": [{"key": "p1", "value": _TENSOR, "grad": None}], "run": 1},
    {"event": "overflow", "what": "forwards", "run": 1},
    {"event": "dataloaders", "key": "d1", "source": "from_folder", "path": "images", "vocab": ["a", "b"],
     "train": 8, "valid": 2, "class_counts": {"a": 5, "b": 5}, "item_size": [64, 64], "run": 2},
    {"event": "learner", "key": "l1", "model": "m1", "dls": "d1", "loss": "CrossEntropyLoss", "run": 2},
    {"event": "fit", "learner": "l1", "model": "m1", "epochs_requested": 1, "epochs": 1,
     "names": ["train_loss", "valid_loss"], "values": [[0, 0.5, 0.4, "00:01"]], "error": None, "run": 2},
    {"event": "imshow", "axes": "x1", "array": "a1", "shape": [2, 2], "subsampled": 1, "alpha": None,
     "cmap": None, "extent": [0, 1, 0, 1], "run": 3},
    {"event": "cam_input", "model": "m1", "fed_in_run": 3, "arrays": {"input": "a2"}, "run": 3},
    {"event": "capture", "id": "c1", "what": "value", "type": "float", "text": "0.5", "run": 3},
    {"event": "fitted", "optimizer": "o1", "loss": {"function": "mse_loss", "input": _TENSOR, "target": None},
     "output": {"module": "m1", "value": _TENSOR}, "run": 1},
    {"event": "clock", "sleeps": 2, "seconds": 1.5, "run": 3},
    {"event": "url", "api": "requests.get", "url": "http://x", "served": "refused", "run": 3},
    {"event": "injected", "keys": ["p1"], "missing": [], "run": 3},
    {"event": "probe_error", "where": "forward", "error": "boom", "run": 3},
]


NUMBERS = hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
                     hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))


@st.composite
def array_lines(draw: st.DrawFn, number: int) -> str:
    """An array line as the probe writes it (protocol.array_line), or one forged or damaged: a pickled object
    array, cut numpy bytes, base64 that is not, another layout."""
    name = draw(st.sampled_from(["a1", "a2", "a3"]))
    line = array_line(name, number, 3, draw(NUMBERS)).decode("ascii").rstrip("\n")
    header, _, npy = line.partition(NPY_FIELD.decode())
    how = draw(st.sampled_from(["as written", "as written", "pickled", "cut", "not base64", "npy not last"]))
    if how == "pickled":
        pickled = io.BytesIO()
        np.save(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        npy = codecs.encode(pickled.getvalue(), "base64").decode().replace("\n", "") + '"}'
    elif how == "cut":
        npy = npy[:draw(st.integers(0, max(len(npy) - 3, 0)))] + '"}'
    elif how == "not base64":
        npy = draw(st.sampled_from(["!!!!", "AAA", "A=A=", "ÿ"])) + '"}'
    elif how == "npy not last":
        return f'{header},"npy":"AAAA","extra":1}}'
    return header + NPY_FIELD.decode() + npy


@st.composite
def evidence_lines(draw: st.DrawFn) -> list[str]:
    """The probe's lines, numbered 1, 2, 3, …, some events wrong, some lines out of sequence or not JSON; arrays
    among them, as lines of their own."""
    header = draw(st.just(PROBE_HEADER) | mutated(PROBE_HEADER))
    written = [dumps(header)]
    for number, event in enumerate(draw(st.lists(st.sampled_from([*EVENTS, "array"]), max_size=6)), start=2):
        if event == "array":
            written.append(draw(array_lines(number)))
            continue
        event = {**event, "seq": number}
        how = draw(st.sampled_from(["as written", "as written", "mutated", "out of sequence", "NaN", "deep",
                                    "not JSON", "blank"]))
        if how == "mutated":
            event = draw(mutated(event))
        if how == "out of sequence":
            event["seq"] = draw(st.integers() | huge_numbers | st.sampled_from([number - 1, 1, 0]))
        line = dumps(event)
        if how == "NaN":
            line = line.replace("1.0", draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "nan"])), 1)
        elif how == "deep":
            line = deep_text(draw(st.sampled_from([500, 100_000])))
        elif how == "not JSON":
            line = draw(st.sampled_from(["{", "null", "[]", '"probe"', "{'seq': 2}", line[: len(line) // 2]]))
        elif how == "blank":
            line = draw(st.sampled_from(["", " ", "\r"]))
        written.append(line)
    return written


@st.composite
def evidence_files(draw: st.DrawFn) -> bytes:
    """The lines joined as the probe joins them; the last sometimes cut (a kernel that died mid-write)."""
    text = "".join(line + "\n" for line in draw(evidence_lines()))
    if draw(st.booleans()):
        text += dumps(draw(st.sampled_from(EVENTS)))[:draw(st.integers(0, 40))]
    return draw(damaged(text.encode("utf-8")))


# --- rosters: Canvas, Moodle and plain CSV, as LMSs and Excel write them

ROSTER_HEADERS = [
    ["Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section", "Midterm (12345)", "Final Points"],
    ["Student", "ID", "SIS Login ID", "Section", "Midterm (12345)"],
    ["First name", "Last name", "ID number", "Email address", "Groups"],
    ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum grade", "Last modified (grade)",
     "Feedback comments"],
    ["id", "name", "email", "section"],
    ["학번", "이름"],
]
CELLS = st.sampled_from([
    "김민준", "이서연", "정하은", "O'Brien, Seán", "Student, Test", "Points Possible", "(read only)", "Manual Posting",
    "Participant 1234567", "Participant x", "10101", "2022001", "2022001", "mjkim@univ.ac.kr", "DL2022 01", "78.50",
    "", " ", '"', 'say "hi"', "a,b", "a;b", "line\nbreak", "\r", "\ufeff", "-",
]) | st.text(max_size=8)


@st.composite
def roster_header(draw: st.DrawFn) -> list[str]:
    header = list(draw(st.sampled_from(ROSTER_HEADERS)))
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["duplicate", "drop", "case", "space", "rename"]))
        index = draw(st.integers(0, len(header) - 1))
        if how == "duplicate":
            header.insert(draw(st.integers(0, len(header))), header[index])
        elif how == "drop" and len(header) > 1:
            del header[index]
        elif how == "case":
            header[index] = header[index].upper()
        elif how == "space":
            header[index] = f" {header[index]} "
        elif how == "rename":
            header[index] = draw(CELLS)
    return header


def _cell(value: str, delimiter: str, quoting: str) -> str:
    """A cell written quoted when it must be ("minimal"), always ("all"), or never, as broken writers do."""
    if quoting == "all" or (quoting == "minimal" and any(char in value for char in (delimiter, '"', "\r", "\n"))):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def roster_files(draw: st.DrawFn) -> bytes:
    header = draw(roster_header())
    rows = draw(st.lists(st.lists(CELLS, min_size=len(header), max_size=len(header)), max_size=5))
    for row in rows:  # ragged rows: a cell more or less
        if draw(st.integers(0, 5)) == 0:
            row[:] = row[:-1] if draw(st.booleans()) else row + [draw(CELLS)]
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    quoting = draw(st.sampled_from(["minimal", "minimal", "all", "never"]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    records = [delimiter.join(_cell(value, delimiter, quoting) for value in row) for row in [header, *rows]]
    text = end.join(records) + draw(st.sampled_from(["", end, end * 3]))
    if draw(st.integers(0, 15)) == 0:
        text = draw(st.sampled_from(["", " ", "\n\n", "\ufeff"]))
    return draw(damaged(text.encode("utf-8")))


# --- zips: odd member names, every kind of member, nested zips, damage

_UNIX_KINDS = [0, 0o100644, 0o040755, 0o120777, 0o010644, 0o020644]  # none, file, folder, link, fifo, device
MEMBER_NAMES = st.sampled_from([
    "a.ipynb", "folder/a.ipynb", "folder/", "folder/data/x.csv", "/etc/passwd", "../escape.ipynb", "a/../../x",
    "C:\\Windows\\x.ipynb", "folder\\b.ipynb", "신유나(2022012)/DL2022_midterm.ipynb", "__MACOSX/._a.ipynb",
    ".ipynb_checkpoints/a-checkpoint.ipynb", "", ".", "./", "a\x00b.ipynb", "x" * 300 + ".ipynb", "a.ipynb/b",
    "nested.zip",
]) | st.text(max_size=12)
# Names as bytes, for the flag that says UTF-8 set or not: cp437, invalid UTF-8, Korean in EUC-KR.
RAW_NAMES = st.sampled_from([b"\x82\xa0t\xe9.ipynb", b"\xff\xfe.ipynb", "한글.ipynb".encode("euc-kr"),
                             "한글.ipynb".encode("utf-8")])
COMPRESSIONS = st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
DATES = st.sampled_from([(2022, 4, 20, 10, 0, 0), (1980, 0, 0, 0, 0, 0), (2107, 12, 31, 23, 59, 58),
                         (1980, 15, 31, 31, 63, 62)])
SMALL_NOTEBOOK = dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


@dataclass(frozen=True)
class Member:
    name: str | bytes  # bytes: written as they are, the UTF-8 flag set or not by `utf8`
    content: bytes
    unix_kind: int
    compression: int
    date_time: tuple[int, ...]
    flag_bits: int  # besides UTF-8's: 0x1 encrypted, 0x8 data descriptor, 0x20 patched data
    utf8: bool
    extra: bytes  # an extended timestamp, or junk


@st.composite
def members(draw: st.DrawFn, name: st.SearchStrategy = MEMBER_NAMES, nested: bool = True) -> Member:
    contents = st.sampled_from([SMALL_NOTEBOOK, b"", b"{}", b"x" * 5000]) | st.binary(max_size=40)
    if nested:
        contents |= zip_bytes(nested=False)
    return Member(
        name=draw(name | RAW_NAMES), content=draw(contents), unix_kind=draw(st.sampled_from(_UNIX_KINDS)),
        compression=draw(COMPRESSIONS), date_time=draw(DATES), flag_bits=draw(st.sampled_from([0, 0, 0x1, 0x8, 0x20])),
        utf8=draw(st.booleans()),
        extra=draw(st.just(b"") | st.builds(lambda when: b"UT\x05\x00\x01" + when.to_bytes(4, "little", signed=True),
                                            st.integers(-(2**31), 2**31 - 1)) | st.binary(max_size=9)))


def write_zip(entries: list[Member]) -> bytes:
    """The zip of `entries`; a bytes name is written under a placeholder of its length, then put in its place."""
    buffer = io.BytesIO()
    raw_names: dict[bytes, bytes] = {}
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a member twice is meant: "Duplicate name"
        for number, member in enumerate(entries):
            name = member.name
            if isinstance(name, bytes):
                placeholder = f"\x7f{number:03d}".ljust(len(name), "~")
                raw_names[placeholder.encode()] = name
                name = placeholder
            info = zipfile.ZipInfo(name, date_time=member.date_time)
            info.external_attr = member.unix_kind << 16
            info.flag_bits = member.flag_bits | (0x800 if member.utf8 else 0)
            info.extra = member.extra
            archive.writestr(info, member.content, member.compression)
    data = buffer.getvalue()
    for placeholder, name in raw_names.items():
        data = data.replace(placeholder, name)
    return data


@st.composite
def zip_bytes(draw: st.DrawFn, nested: bool = True, names: st.SearchStrategy = MEMBER_NAMES) -> bytes:
    entries = draw(st.lists(members(names, nested), max_size=5))
    if entries and draw(st.integers(0, 4)) == 0:  # a member twice
        entries.append(draw(st.sampled_from(entries)))
    return write_zip(entries)


@st.composite
def zip_files(draw: st.DrawFn, names: st.SearchStrategy = MEMBER_NAMES) -> bytes:
    """A zip, perhaps cut short, with bytes flipped, or junk before or after it (a self-extracting archive)."""
    data = draw(zip_bytes(names=names))
    how = draw(st.sampled_from(["whole", "whole", "damaged", "damaged", "data flipped", "prefixed", "appended"]))
    if how == "data flipped" and len(data) > 60:  # in a member's compressed bytes, past the first local header
        flipped = bytearray(data)
        flipped[draw(st.integers(40, len(data) * 2 // 3))] ^= draw(st.integers(1, 255))
        return bytes(flipped)
    if how == "prefixed":
        return draw(st.binary(min_size=1, max_size=20)) + data
    if how == "appended":
        return data + draw(st.binary(min_size=1, max_size=20))
    return draw(damaged(data)) if how == "damaged" else data


# An LMS download's names (grader/submission.py: `_CANVAS`, `_MOODLE`), at its top level or in one folder.
DOWNLOAD_NAMES = st.sampled_from([
    "kimminjun_10101_3301001_midterm.ipynb", "kimminjun_LATE_10101_3301002_data.zip", "leeseoyeon_10102_text.html",
    "anon_Ab3dE_3301003_midterm.ipynb", "late_anon_Ab3dE_3301004_midterm.zip", "김민준_10101_3301005_midterm (1).ipynb",
    "김 민준_123_assignsubmission_file/midterm.ipynb", "김 민준_123_assignsubmission_file_/data/x.csv",
    "이서연_124_assignsubmission_file_midterm.ipynb", "Participant_125_assignsubmission_onlinetext_text.html",
    "Participant_126_assignsubmission_file/a.ipynb", "Default team_assignsubmission_file/a.ipynb",
    "홍길동(2022001).ipynb", "hw_2022001.zip", "README.txt", "__MACOSX/._x", "download/a_1_2_3_4_5_6_7_8_9.ipynb",
    "download/" + "_1" * 120 + ".ipynb", "download/x_1_assignsubmission_" + "_a" * 100,
]) | MEMBER_NAMES


def download_zips() -> st.SearchStrategy[bytes]:
    return zip_files(names=DOWNLOAD_NAMES)


# --- the readers, fed


@dataclass(frozen=True)
class Reader:
    """A reader of untrusted files: its input strategy, and `feed`, which writes one input into an empty folder and
    reads it, returning "read" or the grader's error message; any other exception escapes as found."""

    name: str
    files: st.SearchStrategy[bytes]
    read: Callable[[Path], object]  # the reader on the written file; asserts what it returns
    errors: tuple[type[Exception], ...]  # the grader's own
    file_name: str  # the name the input is written under
    names_the_file: bool  # its messages name the file

    def feed(self, data: bytes, folder: Path) -> str:
        path = folder / self.file_name
        path.write_bytes(data)
        try:
            self.read(path)
        except self.errors as err:
            message = str(err)
            assert message, f"{type(err).__name__} without a message"
            assert path.name in message or not self.names_the_file, f"{message!r} does not name {path.name}"
            return message
        return "read"


def _read_notebook(path: Path) -> None:
    loaded = read_notebook(path)
    assert isinstance(loaded, LoadedNotebook)
    assert all(isinstance(cell.source, str) for cell in loaded.notebook.cells)


def _read_evidence(path: Path) -> None:
    assert isinstance(read_evidence(path), Evidence)


def _read_roster(path: Path) -> None:
    roster = read_roster(path)
    assert isinstance(roster, Roster) and roster.path == path


def _unzip(path: Path) -> None:
    """Listed and unpacked; nothing lands outside the folder it is unpacked into."""
    ignored = frozenset({"__MACOSX", ".ipynb_checkpoints"})
    assert isinstance(list_zip(path, ignored), ZipContents)
    into = path.parent / "unpacked"
    into.mkdir()
    folder = unzip(path, into, ignored)
    assert folder == into or into in folder.parents
    assert sorted(entry.name for entry in path.parent.iterdir()) == sorted([path.name, into.name])


def _discover(path: Path) -> None:
    """A download's submissions found, each one's files put together where it has a notebook, as grading does."""
    with discovered(path, "*.ipynb") as found:
        assert all(isinstance(submission, Submission) for submission in found)
        why = nothing_to_grade(path, found)
        assert why is None or why
        for submission in found:
            if submission.error is None and submission.notebook is not None:
                with submission.files() as files:
                    submission.notebook_at(files)


READERS = (
    Reader("notebook", notebook_files(), _read_notebook, (NotebookError,), "student(2022001).ipynb", True),
    Reader("evidence", evidence_files(), _read_evidence, (EvidenceError,), "evidence.jsonl", False),
    Reader("roster", roster_files(), _read_roster, (RosterError,), "roster.csv", True),
    Reader("zip", zip_files(), _unzip, (ZipRefused,), "신유나(2022012).zip", True),
    Reader("download", download_zips(), _discover, (ZipRefused,), "submissions.zip", False),
)
