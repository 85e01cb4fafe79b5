"""Read a course roster and tell which submission is whose.

Three formats, told apart by the header row: Canvas's gradebook export, Moodle's participants export, and a plain
`id,name[,email,section]` file. A Canvas export is also kept as read (header, every row, line ending): Canvas imports
grades from a file shaped like its own export, so grader/lms/export.py writes that file back with one column filled.

Matching never guesses: a submission is matched by an identifier, or by a name that only one student on the roster
has; anything else is left for a person, with the reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

RosterFormat = Literal["canvas", "moodle", "plain"]
# Rows of a Canvas export: "points possible" and "read only" are Canvas's own notes, not students.
RowKind = Literal["student", "test student", "points possible", "read only", "blank"]

_CANVAS_START = ("Student", "ID", "SIS User ID", "SIS Login ID")  # then optional columns, then "Section"
# Canvas's test student (Student View): its sortable name, and its display name when names are shown first-last.
_CANVAS_TEST_STUDENTS = frozenset({"Student, Test", "Test Student"})
# What Canvas writes in its note rows (first cell empty): "(read only)" under computed columns, "Manual Posting"
# under assignments whose grades are posted by hand.
_CANVAS_NOTE = re.compile(r"\(?read only\)?|manual posting", re.IGNORECASE)
_MOODLE_COLUMNS = ("first name", "last name", "id number", "email address")
_PLAIN_COLUMNS = ("id", "name")
_HOW = ("Canvas ID", "student id", "login", "name")  # the matching rules, strongest first


class RosterError(Exception):
    """A roster that cannot be used; the message names the file, the line and what was expected."""


@dataclass(frozen=True)
class RosterEntry:
    name: str
    student_id: str | None  # Canvas "SIS User ID", Moodle "ID number", plain "id" (e.g. 2022001)
    lms_user_id: str | None  # Canvas "ID" (Canvas's numeric user id); None for Moodle and plain rosters
    login: str | None  # Canvas "SIS Login ID"
    email: str | None
    section: str | None
    row: int  # 1-based line number in the CSV, for messages


@dataclass(frozen=True)
class CanvasRow:
    line: int  # 1-based line number where the row starts
    cells: tuple[str, ...]  # exactly as read
    kind: RowKind


@dataclass(frozen=True)
class CanvasSheet:
    """A Canvas gradebook export as read, for writing the same file back with the exam's column filled."""

    header: tuple[str, ...]
    rows: tuple[CanvasRow, ...]  # every row after the header, in file order, students or not
    newline: str  # "\r\n" or "\n": how the file ends its lines


@dataclass(frozen=True)
class Roster:
    path: Path
    format: RosterFormat
    entries: tuple[RosterEntry, ...]
    sheet: CanvasSheet | None = None  # Canvas exports only


@dataclass(frozen=True)
class SubmitterKeys:
    """What is known of one submission's author."""

    key: str  # the submission's key in the gradebook
    name: str | None
    student_id: str | None
    lms_user_id: str | None  # Canvas user id from a Canvas download's file name
    login: str | None

    @classmethod
    def of(cls, key: str, name: str | None, student_id: str | None, lms: str | None,
           lms_user_id: str | None) -> SubmitterKeys:
        """What a submission is matched by: its name, its student id and a Canvas download's user id. Never the
        name part of Canvas's file names: Canvas makes it from the student's name, not the SIS login, and two
        students can share it."""
        return cls(key=key, name=name, student_id=student_id, lms_user_id=canvas_user_id(lms, lms_user_id),
                   login=None)


def canvas_user_id(lms: str | None, lms_user_id: str | None) -> str | None:
    """The user id of a Canvas download's names, which a Canvas export's ID column holds; None for Moodle's
    participant ids and Canvas's anonymous ids (`anon_…`), which no roster has: matching those would be a guess."""
    return lms_user_id if lms == "canvas" and lms_user_id is not None and lms_user_id.isascii() \
        and lms_user_id.isdigit() else None


@dataclass(frozen=True)
class RosterMatch:
    matched: dict[str, RosterEntry]  # submission key -> entry
    how: dict[str, str]  # submission key -> "Canvas ID" | "student id" | "login" | "name"
    missing: tuple[RosterEntry, ...]  # on the roster, and no submission matches or claims them
    unmatched: dict[str, str]  # submission key -> why it matched no one (for the TA)


def read_roster(path: Path) -> Roster:
    """The roster in `path`, its format told by the header row."""
    text = _read_text(path)
    if not text.strip():
        raise RosterError(f"{path}: the file is empty (expected a header row, then one row per student)")
    (_, header), *rows = _records(path, text)
    for line, cells in rows:
        if not _blank(cells) and len(cells) != len(header):
            raise RosterError(
                f"{path}: line {line}: {len(cells)} cells, expected {len(header)} (one per header column)")
    columns = _columns(header)
    names = [cell.strip() for cell in header]
    students = [(line, cells) for line, cells in rows if not _blank(cells)]
    if tuple(names[:4]) == _CANVAS_START and "Section" in names:
        roster = _canvas(path, header, rows, columns, _newline(text))
    elif all(name in columns for name in _MOODLE_COLUMNS):
        roster = Roster(path, "moodle", tuple(_moodle_entry(path, line, cells, columns) for line, cells in students))
    elif all(name in columns for name in _PLAIN_COLUMNS):
        roster = Roster(path, "plain", tuple(_plain_entry(path, line, cells, columns) for line, cells in students))
    else:
        raise RosterError(
            f"{path}: line 1: the header row matches no roster format: expected a Canvas gradebook export "
            "(Student, ID, SIS User ID, SIS Login ID, Section, …), a Moodle participants export "
            "(First name, Last name, ID number, Email address) or columns id,name[,email,section]; "
            f"got: {', '.join(header)}")
    _check_unique(roster)
    return roster


def match_roster(roster: Roster, submitters: list[SubmitterKeys]) -> RosterMatch:
    """Who wrote each submission: by Canvas ID, else student id, else login, else a name only one student has.

    The first rule whose value is on the roster decides: one entry matches, several leave the submission unmatched.
    An entry that two submissions match is given to neither: each reason names the other.
    """
    found = dict(zip((submitter.key for submitter in submitters), find_each(roster, submitters)))
    claimants: dict[RosterEntry, list[str]] = defaultdict(list)
    for key, (entry, _) in found.items():
        if entry is not None:
            claimants[entry].append(key)

    matched: dict[str, RosterEntry] = {}
    how: dict[str, str] = {}
    unmatched: dict[str, str] = {}
    for key, (entry, said) in found.items():
        if entry is None:
            unmatched[key] = said
        elif len(claimants[entry]) > 1:
            rivals = _join([f"{other} (by {found[other][1]})" for other in claimants[entry] if other != key])
            unmatched[key] = f"matches {entry.name} (line {entry.row}) by {said}, as does {rivals}"
        else:
            matched[key], how[key] = entry, said
    missing = tuple(entry for entry in roster.entries if entry not in claimants)
    return RosterMatch(matched=matched, how=how, missing=missing, unmatched=unmatched)


def find_each(roster: Roster, submitters: Sequence[SubmitterKeys]) -> list[tuple[RosterEntry | None, str]]:
    """Each submitter's own match, in order, by the rules of `match_roster`: (the entry, how it matched), or (None,
    why it matched no one). Each is matched alone: two submitters may match one entry."""
    indexes: list[dict[str, list[RosterEntry]]] = [defaultdict(list) for _ in _HOW]
    for entry in roster.entries:
        for index, value in zip(indexes, _identifiers(entry)):
            if value is not None:
                index[value].append(entry)
    return [_find(submitter, indexes) for submitter in submitters]


def _read_text(path: Path) -> str:
    """The file as UTF-8, line endings untranslated (a Canvas export is written back with its own)."""
    # Excel's "CSV UTF-8" starts with a BOM, which must not become part of the first header cell.
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise RosterError(f"{path}: line {line}: not UTF-8 text (expected the roster saved as CSV UTF-8)") from None


def _records(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """Each CSV record with the line it starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records, start = [], 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as err:
        raise RosterError(f"{path}: line {reader.line_num}: not valid CSV ({err})") from None
    return records


def _newline(text: str) -> str:
    head, found, _ = text.partition("\n")
    return "\n" if found and not head.endswith("\r") else "\r\n"


def _blank(cells: list[str]) -> bool:
    """An empty line, or a row of empty cells as spreadsheets leave below the data: no one."""
    return not any(cell.strip() for cell in cells)


def _columns(header: list[str]) -> dict[str, int]:
    """Header name (trimmed, case-folded) -> its first column."""
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        columns.setdefault(name.strip().casefold(), index)
    return columns


def _value(cells: Sequence[str], index: int | None) -> str | None:
    """A cell trimmed; empty, or a column the file does not have, is None."""
    return None if index is None else cells[index].strip() or None


def _named(path: Path, line: int, name: str | None, where: str) -> str:
    if name is None:
        raise RosterError(f"{path}: line {line}: a student row with no name (expected it in {where})")
    return name


def _canvas(path: Path, header: list[str], rows: list[tuple[int, list[str]]], columns: dict[str, int],
            newline: str) -> Roster:
    sheet = CanvasSheet(header=tuple(header), newline=newline,
                        rows=tuple(CanvasRow(line, tuple(cells), _canvas_kind(cells)) for line, cells in rows))
    entries = tuple(
        RosterEntry(
            name=_named(path, row.line, _value(row.cells, columns["student"]), "the Student column"),
            student_id=_value(row.cells, columns["sis user id"]),
            lms_user_id=_value(row.cells, columns["id"]),
            login=_value(row.cells, columns["sis login id"]),
            email=None,
            section=_value(row.cells, columns["section"]),
            row=row.line)
        for row in sheet.rows if row.kind == "student")
    return Roster(path, "canvas", entries, sheet)


def _canvas_kind(cells: list[str]) -> RowKind:
    if _blank(cells):
        return "blank"
    first = cells[0].strip()
    if first == "Points Possible":
        return "points possible"
    if not first and any(_CANVAS_NOTE.fullmatch(cell.strip()) for cell in cells[1:]):
        return "read only"
    return "test student" if first in _CANVAS_TEST_STUDENTS else "student"


def _moodle_entry(path: Path, line: int, cells: list[str], columns: dict[str, int]) -> RosterEntry:
    # Korean Moodle sites may put the whole name in one of the two fields and leave the other empty.
    parts = (_value(cells, columns["first name"]), _value(cells, columns["last name"]))
    return RosterEntry(
        name=_named(path, line, " ".join(part for part in parts if part) or None, "First name or Last name"),
        student_id=_value(cells, columns["id number"]),
        lms_user_id=None,
        login=None,
        email=_value(cells, columns["email address"]),
        section=_value(cells, columns.get("groups")),
        row=line)


def _plain_entry(path: Path, line: int, cells: list[str], columns: dict[str, int]) -> RosterEntry:
    return RosterEntry(
        name=_named(path, line, _value(cells, columns["name"]), "the name column"),
        student_id=_value(cells, columns["id"]),
        lms_user_id=None,
        login=None,
        email=_value(cells, columns.get("email")),
        section=_value(cells, columns.get("section")),
        row=line)


def _check_unique(roster: Roster) -> None:
    """A student twice on the roster would make matching by that id ambiguous: refuse the file instead."""
    for label, of in (("Canvas ID", lambda e: e.lms_user_id), ("student id", lambda e: e.student_id)):
        seen: dict[str, int] = {}
        for entry in roster.entries:
            value = of(entry)
            if value is None:
                continue
            if value in seen:
                raise RosterError(f"{roster.path}: lines {seen[value]} and {entry.row} both have {label} {value} "
                                  "(expected each student once)")
            seen[value] = entry.row


def _identifiers(who: RosterEntry | SubmitterKeys) -> tuple[str | None, ...]:
    """What each rule of `_HOW` compares, in its order."""
    return who.lms_user_id, who.student_id, who.login, _comparable_name(who.name)


def _comparable_name(name: str | None) -> str | None:
    """NFC (macOS writes Korean decomposed), case-folded, whitespace collapsed; nothing fuzzier."""
    if name is None:
        return None
    return " ".join(unicodedata.normalize("NFC", name).casefold().split()) or None


def _find(submitter: SubmitterKeys, indexes: list[dict[str, list[RosterEntry]]]) -> tuple[RosterEntry | None, str]:
    """(the entry, how it matched), or (None, why it matched no one)."""
    shown = (submitter.lms_user_id, submitter.student_id, submitter.login, submitter.name)
    for how, index, value, given in zip(_HOW, indexes, _identifiers(submitter), shown):
        entries = index.get(value, []) if value is not None else []
        if len(entries) == 1:
            return entries[0], how
        if entries:
            lines = _join([str(entry.row) for entry in entries])
            has = "are named" if how == "name" else f"have {how}"
            return None, f"{len(entries)} students on the roster {has} {given} (lines {lines})"
    known = [f"{'the name' if how == 'name' else how} {given}" for how, given in zip(_HOW, shown) if given]
    if not known:
        return None, "nothing says whose it is (no Canvas ID, student id, login or name)"
    return None, f"no one on the roster has {' or '.join(known)}"


def _join(words: list[str]) -> str:
    """"4", "4 and 9", "4, 9 and 12"."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
