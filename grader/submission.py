"""Find submissions in a folder and tell whose each one is.

A submission is a notebook file, or a folder holding a notebook and the data
it uses, or that folder (or just the notebook) zipped. The course names files
`이름(학번).ipynb`; name and student id are parsed from the file, folder or
zip name.

An LMS's bulk download is read too, name by name (a folder may mix them), as
the LMS writes them (the rules, with where each comes from, are by `_CANVAS`
and `_MOODLE`):

- Canvas ("Download Submissions"): flat files
  `{name part}[_LATE]_{user id}_{file id}_{original name}`, the name part made
  from the student's sortable name in any script (`김민준`, `obrienseán`);
  `[LATE_]anon_{id}_{file id}_{original name}` under anonymous grading;
  text entries and URLs `…_{user id}_text.html`, `…_link.html`;
- Moodle: a folder `{Full Name}_{participant id}_assignsubmission_file` of
  the student's files (with a trailing `_` before Moodle 4.1), or flat files
  `{Full Name}_{participant id}_assignsubmission_file_{original name}`;
  `Participant_{id}_…` under blind marking, `{group}_{group id}_…` for a team.

All of one student's files in a download are one submission: they run in
one folder under their original names, any zip among them unpacked there.
A whole download may also be given as one zip (`discovered`); its member
times say when each file was submitted. Given the course's roster, a
submission it matches is keyed by the roster's student id (`_identify`).
"""

from __future__ import annotations

import difflib
import hashlib
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path, PurePath
from typing import TypeVar, cast

from grader.lms.roster import Roster, SubmitterKeys, find_each
from grader.owners import own_tag
from grader.results import Flag
from grader.unzip import ZipLimits, ZipRefused, list_zip, unzip

_PARENTHESISED = re.compile(r"[(（]\s*(?P<inside>[^()（）]*?)\s*[)）]")  # ASCII or full-width parentheses
_ID_LIKE = re.compile(r"(?=.*\d)[0-9A-Za-z][0-9A-Za-z_-]*")  # A12345, 2022001: at least one digit
_DIGITS = re.compile(r"\d{3,}")  # a student number; (1), (2) are what a browser adds to a second download
_COPY_NUMBER = re.compile(r"\d{1,2}")
_BARE_ID = re.compile(r"(?<!\d)(?P<id>\d{6,12})(?!\d)")
_UNSAFE = re.compile(r"[^\w.-]+")
# Canvas's names (instructure/canvas-lms, lib/content_zipper.rb):
# - ContentZipper#get_filename: `[users_name, ("LATE" if submission.late?), id].compact.join("_")`, where id is the
#   user id, or `"anon_#{submission.anonymous_id}"` when `@assignment.anonymize_students?` (and then no users_name);
#   then #sanitize_file_name: `gsub(/[^[[:word:]]]/, "")`, which keeps letters of any script, marks, digits and "_".
#   Versions before anonymous ids downcased it all: `late`.
# - #get_user_name / #sanitize_user_name: users_name is the sortable name with `gsub!(/_(\d+)_/, '\1')`, then
#   `downcase`: it may hold "_" and digits (`smith_jonesann`, `some9991234guy`), never an upper-case letter.
# - #add_upload_submission: `"#{filename}_#{file.id}_#{sanitize_attachment_filename(file.display_name)}"`: the rest,
#   after the attachment id, is the student's file name (`_` and digits allowed; `midterm-1.ipynb` for a second
#   upload of the same name, made by Attachment.make_unique_filename in app/models/attachment.rb).
# - #add_text_or_url: `"#{filename}_text.html"` (a text entry), `"#{filename}_link.html"` (a website URL): no file id.
# - The ids are read the way Canvas reads its own names back (app/models/abstract_assignment.rb,
#   AbstractAssignment#infer_comment_context_from_filename): `filename.split("_") - ["LATE"]`, a leading `anon`
#   token, else `split_filename.grep(/^\d+$/).take(2)`, the first two all-digit tokens, as user id and attachment id.
#   Here the name part is as short as it can be: the same first two all-digit tokens.
# - Anonymous ids: `SecureRandom.base58(5)` (lib/anonymity.rb, Anonymity.generate_short_id).
_CANVAS_REST = r"_(?:(?P<attachment>[0-9]+)_(?P<original>.+)|(?P<entry>text|link)\.html)"
_CANVAS = re.compile(r"(?P<name>.+?)(?:_(?P<late>LATE|late))?_(?P<user>[0-9]+)" + _CANVAS_REST)
_CANVAS_ANONYMOUS = re.compile(r"(?:(?P<late>LATE|late)_)?(?P<user>anon_[1-9A-HJ-NP-Za-km-z]+)" + _CANVAS_REST)
_CANVAS_ENTRIES = {"text": "text entry", "link": "website URL"}  # Canvas's names for these submission types
# What Ruby's [[:word:]] is (Onigmo: Letter, Mark, Decimal_Number, Connector_Punctuation), by Unicode category.
_WORD_CATEGORIES = ("L", "M", "Nd", "Pc")
# Moodle's names (moodle/moodle, mod/assign/classes/downloader.php since 4.1; mod/assign/locallib.php
# assign::download_submissions before):
# - downloader::get_student_prefix: `clean_filename(str_replace('_', ' ', $fullname) . '_' . get_uniqueid_for_user())`:
#   a "_" in the name becomes a space, so the id is the last `_<digits>` (the participant id, not the user id). Blind
#   marking writes `get_string('participant', 'mod_assign')` for the name; a team, its group's name and `'_' .
#   $submissiongroup->id`, or `get_string('defaultteam')` and no id when its students are in no group.
#   clean_filename (lib/moodlelib.php, PARAM_FILE) keeps spaces, Unicode, `(`, `,`; it removes `& < > " ' : \ /`.
# - downloader::load_submissionplugin_filelist: folders (the default): `clean_filename($prefix . '_' . $subtype . '_'
#   . $type) . $file->get_filepath() . $zipfilename`, the student's subfolders kept (locallib.php before 4.1:
#   `clean_filename($prefix . '_' . $subtype . '_' . $type . '_')`, a trailing "_"); flat: `clean_filename($prefix .
#   '_' . $subtype . '_' . $type . '_' . $zipfilename)`.
_MOODLE = re.compile(
    r"(?P<name>.+?)(?:_(?P<user>[0-9]+))?_assignsubmission_(?P<plugin>[a-z0-9]+)(?:_(?P<original>.*))?")
# Moodle's name for every student under blind marking, in English (mod/assign/lang/en/assign.php:
# `$string['participant'] = 'Participant'`); other languages' words are told by every student having it.
_MOODLE_BLIND = "Participant"
UNZIP_PREFIX = "grader-unzip-"
# The self-check bundle's own files (`grader release`): its copy of the template is no student's notebook, in a
# submitted bundle folder or in the folder a student checks.
SELF_CHECK_FOLDER = ".grader"
_IGNORED = frozenset({"__MACOSX", ".ipynb_checkpoints", SELF_CHECK_FOLDER})
# A class's whole download: room for every student's files (one student's zip gets the default limits).
_DOWNLOAD_LIMITS = ZipLimits(members=100_000, unpacked_bytes=20_000_000_000)
_Place = TypeVar("_Place", bound=PurePath)  # a notebook's path within a submission: on disk, in a zip, in a download


@dataclass(frozen=True)
class Part:
    """A file or folder of an LMS download that is one student's, and the name it gets in the folder the
    submission runs in: the name the student gave it."""

    source: Path
    name: str


@dataclass(frozen=True)
class Submission:
    key: str  # unique within the batch; names report files and gradebook rows
    path: Path  # the notebook file, the submission folder, or its zip; with `parts`, the download's entry holding
    # the notebook (else its first)
    notebook: Path | None  # under `path` (in a zip: where it is inside); None when there is none
    name: str | None
    student_id: str | None
    flags: tuple[Flag, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None  # why it cannot be graded at all (a refused zip), for the student
    lms: str | None = None  # "canvas" or "moodle": the LMS whose download it came from
    lms_user_id: str | None = None  # from a download's names: Canvas's user id (or `anon_…`), Moodle's participant id
    name_in_file: str | None = None  # the name part of the download's names: Canvas's (made from the sortable name,
    # downcased, punctuation dropped; not the SIS login, and never matched on), Moodle's full name
    late: bool = False  # Canvas marked it late in its names
    submitted_at: str | None = None  # UTC, from the member times of a download's zip; None for files on disk
    parts: tuple[Part, ...] = ()  # one student's files of an LMS download, run together in one folder

    def identity(self) -> dict[str, object]:
        """Who and what it is, as its result records it (SubmissionResult's fields, the gradebook's columns)."""
        return {"name": self.name, "student_id": self.student_id, "file": self.path.name, "lms": self.lms,
                "lms_user_id": self.lms_user_id, "name_in_file": self.name_in_file, "late": self.late,
                "submitted_at": self.submitted_at}

    @contextmanager
    def files(self) -> Iterator[Path]:
        """The submission on disk, to run in: `path` itself; for a zip, a private temporary folder it is unpacked
        into; with `parts`, a private temporary folder they are copied into under their original names, any zip
        among them unpacked there. Temporary folders are removed afterwards. A zip may still be refused
        (ZipRefused)."""
        if self.parts:
            with _private_folder() as folder:
                yield _put_together(self.parts, folder)
        elif _is_zip(self.path):
            with _private_folder() as folder:
                yield unzip(self.path, folder, _IGNORED)
        else:
            yield self.path

    def notebook_at(self, files: Path) -> Path:
        """Where the notebook is in `files`, the folder `files()` yields."""
        notebook = self.notebook
        if notebook is None:
            raise ValueError(f"submission {self.key} holds no notebook to find in {files}")
        if not self.parts:
            return files / notebook.relative_to(self.path)
        part = next(part for part in self.parts if notebook.is_relative_to(part.source))
        inside = notebook.relative_to(part.source)
        return files / inside if _is_zip(part.source) else files / part.name / inside

    @cached_property
    def content_hash(self) -> str:
        """sha256 over every file of the submission, so new data regrades too (read once, in blocks)."""
        digest = hashlib.sha256()
        for label, file in self._hashed_files():
            digest.update(label.encode() + b"\0")
            if file.is_symlink():  # hashed as where it points: never followed out of the submission
                digest.update(b"-> " + str(file.readlink()).encode() + b"\0")
                continue
            with file.open("rb") as stream:
                while block := stream.read(1 << 20):
                    digest.update(block)
            digest.update(b"\0")
        return f"sha256:{digest.hexdigest()}"

    def _hashed_files(self) -> Iterator[tuple[str, Path]]:
        """Each file, labelled by its place in the submission: moving the batch elsewhere changes no hash."""
        sources = [(part.name, part.source) for part in self.parts] or [(self.path.name, self.path)]
        for name, source in sources:
            for file in _files_under(source):
                yield str(PurePath(name, file.relative_to(source))), file


@dataclass(frozen=True)
class LmsName:
    """What a name in an LMS's download says."""

    lms: str  # "canvas" or "moodle"
    # Canvas's user id, `anon_…` under anonymous grading; Moodle's participant id, a team's group id; None for
    # Moodle's team of students in no group
    user_id: str | None
    original: str  # the name the student gave the file; "" for Moodle's folder of a student's files, Canvas's text
    name_in_file: str | None = None  # Canvas: its name part (none when anonymous); Moodle: the full name as written
    late: bool = False  # Canvas
    kind: str = "file"  # "file": uploaded files, the only kind graded; else Moodle's plugin (onlinetext) or Canvas's
    # "text entry" or "website URL"


@dataclass(frozen=True)
class _Who:
    key: str
    name: str | None
    student_id: str | None
    lms: str | None = None
    lms_user_id: str | None = None
    name_in_file: str | None = None
    late: bool = False


@dataclass(frozen=True)
class Identity:
    """Who a file name says wrote it."""

    name: str | None
    student_id: str | None
    # The id is a parenthesised student number or id (`이름(학번)`), not a bare number nor a lone `(1)`: the only form
    # an LMS download's original names are read in.
    parenthesised_id: bool = False
    passed_over: tuple[str, ...] = ()  # the other parenthesised parts, as written: `(2반)`, `(1)`
    also_like_ids: tuple[str, ...] = ()  # of those, the ones that look as much like the id: the choice is a guess


def parse_identity(stem: str) -> Identity:
    """`홍길동(2022001)` -> 홍길동, 2022001; `hw_2022001` -> no name, 2022001.

    The id is the last parenthesised group of (3 or more) digits: `김민준(2반)(2022001)`, `홍길동(2022001) (1)`
    (a browser's second download). Without one, the last parenthesised id of letters and digits (`(A12345)`),
    else a bare number of 6 to 12 digits, else a parenthesised group of one or two digits (`홍길동(7)`)."""
    stem = unicodedata.normalize("NFC", stem)  # macOS writes Korean names decomposed
    groups = list(_PARENTHESISED.finditer(stem))
    digits = [group for group in groups if _DIGITS.fullmatch(group["inside"])]
    lettered = [group for group in groups if _ID_LIKE.fullmatch(group["inside"])
                and not _COPY_NUMBER.fullmatch(group["inside"])]
    for alike in (digits, lettered):
        if alike:
            return _taken(stem, groups, alike, parenthesised_id=True)
    match = _BARE_ID.search(stem)
    if match:
        rest = _PARENTHESISED.sub("", stem[: match.start()] + stem[match.end():])
        name = " ".join(rest.split()).strip(" _-()") or None
        return Identity(name=name, student_id=match["id"], passed_over=tuple(group[0] for group in groups))
    copy_numbers = [group for group in groups if _COPY_NUMBER.fullmatch(group["inside"])]
    if copy_numbers:
        return _taken(stem, groups, copy_numbers, parenthesised_id=False)
    return Identity(name=None, student_id=None, passed_over=tuple(group[0] for group in groups))


def _taken(stem: str, groups: list[re.Match], alike: list[re.Match], parenthesised_id: bool) -> Identity:
    """The last of `alike` as the id, the name before it; the other groups passed over."""
    chosen = alike[-1]
    return Identity(name=stem[:chosen.start()].strip(" _-") or None, student_id=chosen["inside"],
                    parenthesised_id=parenthesised_id,
                    passed_over=tuple(group[0] for group in groups if group is not chosen),
                    also_like_ids=tuple(group[0] for group in alike if group is not chosen))


def parse_lms_name(name: str) -> LmsName | None:
    """`김민준_LATE_48211_3301001_midterm.ipynb` (Canvas), `김 민준_123_assignsubmission_file_a.ipynb` (Moodle);
    None for any other name."""
    name = unicodedata.normalize("NFC", name)  # macOS writes Korean names decomposed
    if match := _MOODLE.fullmatch(name):
        return LmsName("moodle", match["user"], match["original"] or "", name_in_file=match["name"].strip(),
                       kind=match["plugin"])
    if match := _CANVAS_ANONYMOUS.fullmatch(name):
        return _canvas_name(match, None)
    if (match := _CANVAS.fullmatch(name)) and _canvas_name_part(match["name"]):
        return _canvas_name(match, match["name"])
    return None


def _canvas_name(match: re.Match, name_part: str | None) -> LmsName:
    entry = match["entry"]
    return LmsName("canvas", match["user"], match["original"] or "", name_in_file=name_part, late=bool(match["late"]),
                   kind=_CANVAS_ENTRIES[entry] if entry else "file")


def _canvas_name_part(name: str) -> bool:
    """Made the way Canvas makes it: downcased, nothing but what [[:word:]] keeps."""
    return name == name.lower() and all(unicodedata.category(char).startswith(_WORD_CATEGORIES) for char in name)


@contextmanager
def discovered(path: Path, notebook_pattern: str, roster: Roster | None = None) -> Iterator[list[Submission]]:
    """`discover` a folder, or a whole download given as one zip (as an LMS gives it): that zip is checked as a
    student's is, and unpacked into a private temporary folder, removed when the block ends; its top level is the
    folder of submissions. Its member times are when each file was submitted."""
    if not _is_zip(path):
        yield discover(path, notebook_pattern, roster=roster)
        return
    with _private_folder() as folder:
        try:
            contents = list_zip(path, _IGNORED, _DOWNLOAD_LIMITS)
            unzip(path, folder, _IGNORED, _DOWNLOAD_LIMITS)
        except ZipRefused as refused:
            raise ZipRefused(refused.reason, "nothing was graded. Check that this is the zip the LMS gave, or "
                                             "unpack it yourself and grade that folder") from None
        submitted_at = {folder.joinpath(*contents.root.parts, *inside.parts): written
                        for inside, written in contents.written.items() if written is not None}
        yield discover(folder, notebook_pattern, submitted_at, roster)


@dataclass
class _Found:
    """One student's entries while `discover` tells whose they are."""

    entries: list[tuple[Path, LmsName | None]]
    who: _Who
    parts: list[Part]
    flags: list[Flag] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def discover(folder: Path, notebook_pattern: str, submitted_at: Mapping[Path, datetime] | None = None,
             roster: Roster | None = None) -> list[Submission]:
    """Every submission in `folder`; `notebook_pattern` (the rubric's `submission.notebook`)
    picks the notebook of a folder or zip that holds several. `submitted_at`: when files under
    `folder` were submitted, where that is known (a file's time on disk says only when it was copied).
    `roster`: the course's, to key each submission it matches by the roster's student id (`_identify`)."""
    if not folder.is_dir():
        raise FileNotFoundError(_not_a_folder(folder))
    entries = sorted(
        entry for entry in folder.iterdir() if _listed(entry)
        # The samples folder explains itself in a README; no LMS download has one.
        and not entry.name.upper().startswith("README")
    )
    students = _by_student(entries)
    blind = _blind_marking_names(students)
    found: list[_Found] = []
    for student in students:
        flags: list[Flag] = []
        notes: list[str] = []
        entry, lms = student[0]
        if lms is None:
            who, parts = _who_by_name(entry, flags, notes), []
        else:
            # `_by_student` groups the entries with an LMS's names; one without is alone.
            downloaded = cast(list[tuple[Path, LmsName]], student)
            parts = _downloaded_parts(downloaded, notes)
            who = _who_in_download(downloaded, parts, blind, flags, notes)
        found.append(_Found(student, who, parts, flags, notes))
    if roster is not None:
        _identify(found, roster)
    submissions: list[Submission] = []
    used: set[str] = set()
    for one in found:
        who, flags, notes = one.who, one.flags, one.notes
        key = _unique(who.key, used, flags, notes)
        path, notebook, parts, error = _what_to_grade(one.entries, one.parts, notebook_pattern, notes, flags)
        submissions.append(Submission(
            key=key, path=path, notebook=notebook, name=who.name, student_id=who.student_id, flags=tuple(flags),
            notes=tuple(notes), error=error, lms=who.lms, lms_user_id=who.lms_user_id, name_in_file=who.name_in_file,
            late=who.late, submitted_at=_latest([part.source for part in parts] or [path], submitted_at or {}),
            parts=tuple(parts)))
    return submissions


def _identify(found: list[_Found], roster: Roster) -> None:
    """Each submission the roster says is a student's is keyed by the roster's student id (Canvas's SIS User ID,
    Moodle's ID number), when it has one, so that one student's submissions meet under one key whichever way they
    came (two are then told apart as any duplicate id is); it takes the roster's name where nothing else names the
    student. Matched as exports match (grader/lms/roster.py), each submission on its own."""
    submitters = [SubmitterKeys.of(key=student.who.key, name=student.who.name, student_id=student.who.student_id,
                                   lms=student.who.lms, lms_user_id=student.who.lms_user_id) for student in found]
    for student, (entry, how) in zip(found, find_each(roster, submitters)):
        if entry is None:
            continue
        who = student.who
        key = entry.student_id or who.key
        if key != who.key:
            student.notes.append(f"keyed by the roster's student id {key}, not {who.key}: {entry.name} on line "
                                 f"{entry.row} of {roster.path.name}, matched by {how}")
        student.who = replace(who, key=key, student_id=entry.student_id or who.student_id, name=who.name or entry.name)


def _not_a_folder(path: Path) -> str:
    """Why `path` is no folder of submissions: it does not exist (and which names beside it come close), or it is
    a file."""
    if path.is_file():
        if path.suffix.lower() == ".ipynb":
            return (f"{path} is a notebook, not a folder of submissions: put it in a folder of its own and grade "
                    "that folder")
        return f"{path} is a file, not a folder of submissions nor a zip of one"
    if path.exists():
        return f"{path} is not a folder of submissions nor a zip of one"
    parent = path.parent
    if not parent.is_dir():
        return f"{path}: no such folder or zip (there is no folder {parent} either)"
    near = difflib.get_close_matches(path.name, [entry.name for entry in parent.iterdir() if _listed(entry)], n=3)
    if not near:
        return f"{path}: no such folder or zip"
    return f"{path}: no such folder or zip; did you mean {_either(str(parent / name) for name in near)}?"


def _either(names: Iterable[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def nothing_to_grade(given: Path, found: list[Submission]) -> str | None:
    """Why the folder or download zip `given`, discovered as `found`, holds nothing to grade; None when one of its
    submissions is, or holds, a notebook or a zip. A mistyped or empty folder is told before any kernel starts."""
    if any(_gradable(submission) for submission in found):
        return None
    if found:
        files = sum(not submission.path.is_dir() for submission in found)
        folders = len(found) - files
        counted = " and ".join(f"{count} {noun}{'s' if count > 1 else ''}"
                               for count, noun in ((files, "file"), (folders, "folder")) if count)
        none = "none a notebook (.ipynb) or a zip" if not folders else \
            "none of them a notebook (.ipynb), a zip or a folder holding a notebook"
        return f"{given} holds {counted}, {none}: {_listing([submission.path.name for submission in found])}"
    if _is_zip(given):
        with zipfile.ZipFile(given) as archive:  # `discovered` has checked it
            tops = (PurePath(name).parts[:1] for name in archive.namelist())  # none for "./": the zip's own top
            skipped = sorted({top for parts in tops for top in parts})
    else:
        skipped = sorted(entry.name for entry in given.iterdir())
    if not skipped:
        return f"{given} is empty: no submissions to grade"
    return (f"{given} holds no submissions, only {_listing(skipped)} (hidden files, READMEs, macOS's and Jupyter's "
            "own folders are not graded)")


def _gradable(submission: Submission) -> bool:
    """A notebook is found, or something is there to tell the student about (a zip, refused or not)."""
    if submission.error is not None or _is_zip(submission.path):
        return True
    if any(_is_zip(part.source) for part in submission.parts):
        return True
    return submission.notebook is not None and submission.notebook.name.lower().endswith(".ipynb")


def _listing(names: list[str], shown: int = 5) -> str:
    """The first `shown` names, and how many more."""
    listed = ", ".join(names[:shown])
    return listed if len(names) <= shown else f"{listed} and {len(names) - shown} more"


def _listed(entry: Path) -> bool:
    return not entry.name.startswith(".") and entry.name not in _IGNORED


def _by_student(entries: list[Path]) -> list[list[tuple[Path, LmsName | None]]]:
    """The entries, an LMS download's grouped by student (by the LMS's id, whatever the name part says) and any
    other alone; in the order of first entries."""
    students: dict[object, list[tuple[Path, LmsName | None]]] = {}
    for entry in entries:
        lms = parse_lms_name(entry.name)
        if lms is None:
            student: object = entry
        else:  # Moodle's team of students in no group has no id, only its name
            student = (lms.lms, "id", lms.user_id) if lms.user_id is not None else (lms.lms, "name", lms.name_in_file)
        students.setdefault(student, []).append((entry, lms))
    return list(students.values())


def _blind_marking_names(students: list[list[tuple[Path, LmsName | None]]]) -> frozenset[str]:
    """What a Moodle download calls every student under blind marking: "Participant", or in another language the
    one name that all its participants (two or more) have."""
    ids_by_name: dict[str | None, set[str]] = defaultdict(set)
    for student in students:
        lms = student[0][1]
        if lms is not None and lms.lms == "moodle" and lms.user_id is not None:
            ids_by_name[lms.name_in_file].add(lms.user_id)
    everyones = [name for name, ids in ids_by_name.items() if len(ids_by_name) == 1 and len(ids) > 1 and name]
    return frozenset({_MOODLE_BLIND, *everyones})


def _who_by_name(entry: Path, flags: list[Flag], notes: list[str]) -> _Who:
    stem = entry.stem if entry.is_file() else entry.name
    identity = parse_identity(stem)
    key = identity.student_id or _UNSAFE.sub("_", unicodedata.normalize("NFC", stem)).strip("_") or "submission"
    if identity.student_id is None:
        flags.append("no-student-id")
        notes.append(f"no student id in the name {entry.name!r}; graded as {key!r}")
    else:
        _note_what_was_passed_over(identity, entry.name, flags, notes)
    return _Who(key=key, name=identity.name, student_id=identity.student_id)


def _note_what_was_passed_over(identity: Identity, name: str, flags: list[Flag], notes: list[str]) -> None:
    """A note for the TA on the parenthesised parts of `name` not taken as the id; flagged when one of them looks as
    much like an id as the one taken."""
    passed_over = ", ".join(identity.passed_over)
    if identity.also_like_ids:
        flags.append("ambiguous-student-id")
        notes.append(f"{name!r} holds several parts that look like a student id: {identity.student_id!r}, the last, "
                     f"was taken; not {', '.join(identity.also_like_ids)}. Check whose submission it is")
    elif passed_over:
        notes.append(f"student id {identity.student_id!r} read from {name!r}; not taken as the id: {passed_over}")


def _who_in_download(student: list[tuple[Path, LmsName]], parts: list[Part], blind: frozenset[str],
                     flags: list[Flag], notes: list[str]) -> _Who:
    """Keyed by the student id when one of the original names is `이름(학번)`, else by the LMS's id.

    Only that form is trusted here, not a bare number as for other names: the LMS already says who it is,
    and a number in a file name may well be a date. Moodle's full name is the student's name as Moodle wrote it
    (never split into parts); Canvas's name part is not taken for a name: it is the sortable name with its spaces
    and punctuation dropped."""
    entry, first = student[0]
    named = ((part.name, parse_identity(PurePath(part.name).stem)) for part in parts)
    original, identity = next(((name, identity) for name, identity in named if identity.parenthesised_id),
                              (None, Identity(name=None, student_id=None)))
    if original is not None:
        _note_what_was_passed_over(identity, original, flags, notes)
    name = first.name_in_file if first.lms == "moodle" else None
    if name in blind:
        name = None
        notes.append(f"Moodle's blind marking hides whose this is: its download calls every student "
                     f"{first.name_in_file!r}; only Moodle's grading worksheet ties participant {first.user_id} to "
                     "a student")
    if first.lms == "canvas" and first.user_id is not None and first.user_id.startswith("anon_"):
        notes.append(f"Canvas grades this assignment anonymously: its download says only {first.user_id}, which no "
                     "roster has; Canvas's gradebook import takes no grades of an anonymous assignment before they "
                     "are posted: enter them in SpeedGrader")
    key = identity.student_id or first.user_id
    if key is None:  # Moodle's team of students in no group
        key = _UNSAFE.sub("_", first.name_in_file or "").strip("_") or "submission"
        flags.append("no-student-id")
        notes.append(f"Moodle's download gives {entry.name!r} no id (a team of students in no group); graded as "
                     f"{key!r}")
    return _Who(key=key, name=name or identity.name, student_id=identity.student_id, lms=first.lms,
                lms_user_id=first.user_id, name_in_file=first.name_in_file, late=any(lms.late for _, lms in student))


def _downloaded_parts(student: list[tuple[Path, LmsName]], notes: list[str]) -> list[Part]:
    """The files to grade of one student's entries in a download: Moodle's folder gives what it holds. Online
    text and URLs (typed into the LMS, not files) are left out, with a note; several entries are noted as graded
    as one."""
    parts: list[Part] = []
    graded = []
    for entry, lms in student:
        if lms.kind != "file":
            notes.append(f"{entry.name} is not graded: it is {lms.lms.capitalize()}'s {lms.kind} submission, not an "
                         "uploaded file")
            continue
        graded.append(entry.name)
        if entry.is_dir() and not lms.original:
            parts += [Part(child, child.name) for child in sorted(entry.iterdir()) if _listed(child)]
        else:
            parts.append(Part(entry, lms.original or entry.name))
    if len(graded) > 1:
        notes.append(f"{len(graded)} files of the download are this student's, graded as one submission: "
                     f"{', '.join(graded)}")
    return parts


def _what_to_grade(student: list[tuple[Path, LmsName | None]], parts: list[Part], pattern: str, notes: list[str],
                   flags: list[Flag]) -> tuple[Path, Path | None, list[Part], str | None]:
    """(path, notebook, parts, error) of one student's entries; error: why a zip was refused."""
    entry, lms = student[0]
    if len(parts) == 1 and _is_zip(parts[0].source):  # one zip of a download: graded as a zipped submission is
        entry, parts = parts[0].source, []
    try:
        if parts:
            notebook = _notebook_among(parts, pattern, notes, flags)
            holder = next((path for path, _ in student if notebook and notebook.is_relative_to(path)), entry)
            return holder, notebook, parts, None
        if lms is not None and not _is_zip(entry):  # no file to grade: only online text, or an empty folder
            return entry, None, [], None
        return entry, _notebook_of(entry, pattern, notes, flags), [], None
    except ZipRefused as refused:
        return entry, None, parts, str(refused)


def _unique(key: str, used: set[str], flags: list[Flag], notes: list[str]) -> str:
    """`key`, or when another submission has it already `key~2`, `key~3`…, flagged."""
    if key in used:
        original = key
        key = next(f"{original}~{n}" for n in range(2, 10_000) if f"{original}~{n}" not in used)
        flags.append("duplicate-id")
        notes.append(f"another submission already uses the id {original!r}; this one is graded as {key!r}")
    used.add(key)
    return key


def _notebook_of(entry: Path, pattern: str, notes: list[str], flags: list[Flag]) -> Path | None:
    """The notebook of an entry: itself, or the one in its folder or zip (ZipRefused for a refused zip)."""
    if _is_zip(entry):
        return _notebook_in_zip(entry, pattern, notes, flags)
    return entry if entry.is_file() else notebook_in(entry, pattern, notes, flags)


def _latest(sources: Iterable[Path], submitted_at: Mapping[Path, datetime]) -> str | None:
    """When the last of the files under `sources` was submitted, where known."""
    if not submitted_at:
        return None
    known = [submitted_at[file] for source in sources for file in _files_under(source) if file in submitted_at]
    return max(known).isoformat(timespec="seconds") if known else None


def _files_under(source: Path) -> list[Path]:
    """`source` itself, or the files and links in its folder (links never followed)."""
    if source.is_symlink() or not source.is_dir():
        return [source]
    return sorted(path for path in source.rglob("*") if path.is_symlink() or path.is_file())


@contextmanager
def _private_folder() -> Iterator[Path]:
    """A temporary folder, never next to the students' files, removed afterwards."""
    # The grader's owner tag in the name lets a later run remove what a killed one left behind.
    with tempfile.TemporaryDirectory(prefix=f"{UNZIP_PREFIX}{own_tag()}-", ignore_cleanup_errors=True) as folder:
        yield Path(folder)


def _zips_first(parts: Iterable[Part]) -> list[Part]:
    """Zips first: a file the student submitted as itself wins over a zip's copy of it."""
    return sorted(parts, key=lambda part: not _is_zip(part.source))


def _put_together(parts: tuple[Part, ...], into: Path) -> Path:
    """`into`, holding the parts under their original names and what their zips hold."""
    for part in _zips_first(parts):
        if _is_zip(part.source):
            unzip(part.source, into, _IGNORED)
        elif part.source.is_dir() and not part.source.is_symlink():
            shutil.copytree(part.source, into / part.name, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(part.source, into / part.name, follow_symlinks=False)
    return into


def _notebook_among(parts: list[Part], pattern: str, notes: list[str], flags: list[Flag]) -> Path | None:
    """The notebook of the folder `_put_together` makes of `parts`, as where it comes from: a part, a file in a
    folder part, or a zip part / its place inside (ZipRefused for a refused zip)."""
    found: dict[PurePath, tuple[Path, float]] = {}  # place in that folder -> (where it comes from, modified)
    for part in _zips_first(parts):
        if _is_zip(part.source):
            contents = list_zip(part.source, _IGNORED)
            for inside, modified in contents.files.items():
                place = contents.root / inside
                found[place] = (part.source.joinpath(*place.parts), modified)
        elif part.source.is_dir():
            for notebook in notebook_files(part.source):
                source = part.source / notebook
                found[PurePath(part.name, notebook)] = (source, source.stat().st_mtime)
        else:
            found[PurePath(part.name)] = (part.source, part.source.lstat().st_mtime)
    notebooks = {place: modified for place, (_, modified) in found.items() if place.name.endswith(".ipynb")}
    chosen = _choose_notebook(notebooks, pattern, "the student's files", notes, flags)
    return found[chosen][0] if chosen is not None else None


def _is_zip(entry: Path) -> bool:
    return entry.suffix.lower() == ".zip" and entry.is_file()


def notebook_in(folder: Path, pattern: str, notes: list[str], flags: list[Flag],
                skip: frozenset[Path] = frozenset()) -> Path | None:
    """The notebook of a submission folder. skip: notebooks (relative to the folder) that are not candidates."""
    notebooks = {path: (folder / path).stat().st_mtime for path in notebook_files(folder) if path not in skip}
    chosen = _choose_notebook(notebooks, pattern, "the folder", notes, flags)
    return folder / chosen if chosen is not None else None


def notebook_files(folder: Path) -> list[Path]:
    """The notebooks anywhere in `folder`, relative to it; none from macOS's or Jupyter's own folders."""
    return [path.relative_to(folder) for path in folder.rglob("*.ipynb")
            if not set(path.relative_to(folder).parts) & _IGNORED]


def _notebook_in_zip(zipped: Path, pattern: str, notes: list[str], flags: list[Flag]) -> Path | None:
    files = list_zip(zipped, _IGNORED).files
    notebooks = {path: modified for path, modified in files.items() if path.name.endswith(".ipynb")}
    chosen = _choose_notebook(notebooks, pattern, "the zip", notes, flags)
    return zipped.joinpath(*chosen.parts) if chosen is not None else None


def _choose_notebook(notebooks: Mapping[_Place, float], pattern: str, where: str, notes: list[str],
                     flags: list[Flag]) -> _Place | None:
    """The one notebook named like `pattern`; else the newest (by modification time), flagged.

    `notebooks`: path within the submission -> modification time."""
    if len(notebooks) <= 1:
        return next(iter(notebooks), None)
    matching = [path for path in notebooks if _named_like(path.name, pattern)]
    if len(matching) == 1:
        return matching[0]
    newest = max(matching or notebooks, key=lambda path: (notebooks[path], str(path)))  # ties: the same every run
    flags.append("several-notebooks")
    if matching:
        notes.append(f"{len(matching)} notebooks in {where} match {pattern!r}; graded the newest, {newest}")
    else:
        notes.append(f"{len(notebooks)} notebooks in {where} and none matches {pattern!r}; graded the newest, {newest}")
    return newest


def _named_like(name: str, pattern: str) -> bool:
    return fnmatchcase(_folded(name), _folded(pattern))


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()  # macOS writes names decomposed
