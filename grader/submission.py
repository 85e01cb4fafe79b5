"""Find submissions in a folder and tell whose each one is.

A submission is a notebook file, or a folder holding a notebook and the data
it uses, or that folder (or just the notebook) zipped. The course names files
`이름(학번).ipynb`; name and student id are parsed from the file, folder or
zip name.

An LMS's bulk download is read too, name by name (a folder may mix them):

- Canvas ("Download Submissions"): flat files
  `{login}[_LATE]_{user id}_{file id}_{original name}`;
- Moodle: a folder `{Full Name}_{participant id}_assignsubmission_file_` of
  the student's files, or flat files
  `{Full Name}_{participant id}_assignsubmission_file_{original name}`.

All of one student's files in a download are one submission: they run in
one folder under their original names, any zip among them unpacked there.
A whole download may also be given as one zip (`discovered`); its member
times say when each file was submitted.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path, PurePath

from grader.unzip import ZipLimits, ZipRefused, list_zip, unzip

_PARENTHESISED = re.compile(r"[(（]\s*(?P<inside>[^()（）]*?)\s*[)）]")  # ASCII or full-width parentheses
_ID_LIKE = re.compile(r"(?=.*\d)[0-9A-Za-z][0-9A-Za-z_-]*")  # A12345, 2022001: at least one digit
_DIGITS = re.compile(r"\d{3,}")  # a student number; (1), (2) are what a browser adds to a second download
_COPY_NUMBER = re.compile(r"\d{1,2}")
_BARE_ID = re.compile(r"(?<!\d)(?P<id>\d{6,12})(?!\d)")
_UNSAFE = re.compile(r"[^\w.-]+")
_CANVAS = re.compile(r"^(?P<login>[a-z0-9]+)(?P<late>_LATE|_late)?_(?P<user>\d+)_\d+_(?P<original>.+)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<user>\d+)_assignsubmission_(?P<plugin>[a-z]+)(?:_(?P<original>.*))?$")
UNZIP_PREFIX = "grader-unzip-"
# The self-check bundle's own files (`grader release`): its copy of the template is no student's notebook, in a
# submitted bundle folder or in the folder a student checks.
SELF_CHECK_FOLDER = ".grader"
_IGNORED = frozenset({"__MACOSX", ".ipynb_checkpoints", SELF_CHECK_FOLDER})
# A class's whole download: room for every student's files (one student's zip gets the default limits).
_DOWNLOAD_LIMITS = ZipLimits(members=100_000, unpacked_bytes=20_000_000_000)


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
    flags: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None  # why it cannot be graded at all (a refused zip), for the student
    lms_user_id: str | None = None  # from a download's names: Canvas's user id, Moodle's participant id
    login: str | None = None  # the first part of Canvas's names (made by Canvas from the student's name)
    late: bool = False  # Canvas marked it late in its names
    submitted_at: str | None = None  # UTC, from the member times of a download's zip; None for files on disk
    parts: tuple[Part, ...] = ()  # one student's files of an LMS download, run together in one folder

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
        if not self.parts:
            return files / self.notebook.relative_to(self.path)
        part = next(part for part in self.parts if self.notebook.is_relative_to(part.source))
        inside = self.notebook.relative_to(part.source)
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
    user_id: str  # Canvas's user id, Moodle's participant id
    original: str  # the name the student gave the file; "" for Moodle's folder of a student's files
    login: str | None = None  # Canvas
    full_name: str | None = None  # Moodle
    late: bool = False  # Canvas
    plugin: str = "file"  # Moodle: what kind of submission it is; only "file" holds files to grade


@dataclass(frozen=True)
class _Who:
    key: str
    name: str | None
    student_id: str | None
    lms_user_id: str | None = None
    login: str | None = None
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
    """`kimminjun_LATE_12346_67891_midterm.ipynb` (Canvas), `김 민준_123_assignsubmission_file_a.ipynb` (Moodle);
    None for any other name."""
    name = unicodedata.normalize("NFC", name)
    if match := _MOODLE.match(name):
        return LmsName("moodle", match["user"], match["original"] or "", full_name=match["name"].strip(),
                       plugin=match["plugin"])
    if match := _CANVAS.match(name):
        return LmsName("canvas", match["user"], match["original"], login=match["login"], late=bool(match["late"]))
    return None


@contextmanager
def discovered(path: Path, notebook_pattern: str) -> Iterator[list[Submission]]:
    """`discover` a folder, or a whole download given as one zip (as an LMS gives it): that zip is checked as a
    student's is, and unpacked into a private temporary folder, removed when the block ends; its top level is the
    folder of submissions. Its member times are when each file was submitted."""
    if not _is_zip(path):
        yield discover(path, notebook_pattern)
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
        yield discover(folder, notebook_pattern, submitted_at)


def discover(folder: Path, notebook_pattern: str,
             submitted_at: Mapping[Path, datetime] | None = None) -> list[Submission]:
    """Every submission in `folder`; `notebook_pattern` (the rubric's `submission.notebook`)
    picks the notebook of a folder or zip that holds several. `submitted_at`: when files under
    `folder` were submitted, where that is known (a file's time on disk says only when it was copied)."""
    if not folder.is_dir():
        raise FileNotFoundError(_not_a_folder(folder))
    entries = sorted(
        entry for entry in folder.iterdir() if _listed(entry)
        # The samples folder explains itself in a README; no LMS download has one.
        and not entry.name.upper().startswith("README")
    )
    submissions: list[Submission] = []
    used: set[str] = set()
    for student in _by_student(entries):
        flags: list[str] = []
        notes: list[str] = []
        entry, lms = student[0]
        if lms is None:
            who, parts = _who_by_name(entry, flags, notes), []
        else:
            parts = _downloaded_parts(student, notes)
            who = _who_in_download(student, parts, flags, notes)
        key = _unique(who.key, used, flags, notes)
        path, notebook, parts, error = _what_to_grade(student, parts, notebook_pattern, notes, flags)
        submissions.append(Submission(
            key=key, path=path, notebook=notebook, name=who.name, student_id=who.student_id, flags=tuple(flags),
            notes=tuple(notes), error=error, lms_user_id=who.lms_user_id, login=who.login, late=who.late,
            submitted_at=_latest([part.source for part in parts] or [path], submitted_at or {}),
            parts=tuple(parts)))
    return submissions


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
            skipped = sorted({PurePath(name).parts[0] for name in archive.namelist()})
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
    """The entries, an LMS download's grouped by student and any other alone; in the order of first entries."""
    students: dict[object, list[tuple[Path, LmsName | None]]] = {}
    for entry in entries:
        lms = parse_lms_name(entry.name)
        students.setdefault((lms.lms, lms.user_id) if lms else entry, []).append((entry, lms))
    return list(students.values())


def _who_by_name(entry: Path, flags: list[str], notes: list[str]) -> _Who:
    stem = entry.stem if entry.is_file() else entry.name
    identity = parse_identity(stem)
    key = identity.student_id or _UNSAFE.sub("_", unicodedata.normalize("NFC", stem)).strip("_") or "submission"
    if identity.student_id is None:
        flags.append("no-student-id")
        notes.append(f"no student id in the name {entry.name!r}; graded as {key!r}")
    else:
        _note_what_was_passed_over(identity, entry.name, flags, notes)
    return _Who(key=key, name=identity.name, student_id=identity.student_id)


def _note_what_was_passed_over(identity: Identity, name: str, flags: list[str], notes: list[str]) -> None:
    """A note for the TA on the parenthesised parts of `name` not taken as the id; flagged when one of them looks as
    much like an id as the one taken."""
    passed_over = ", ".join(identity.passed_over)
    if identity.also_like_ids:
        flags.append("ambiguous-student-id")
        notes.append(f"{name!r} holds several parts that look like a student id: {identity.student_id!r}, the last, "
                     f"was taken; not {', '.join(identity.also_like_ids)}. Check whose submission it is")
    elif passed_over:
        notes.append(f"student id {identity.student_id!r} read from {name!r}; not taken as the id: {passed_over}")


def _who_in_download(student: list[tuple[Path, LmsName]], parts: list[Part], flags: list[str],
                     notes: list[str]) -> _Who:
    """Keyed by the student id when one of the original names is `이름(학번)`, else by the LMS's user id.

    Only that form is trusted here, not a bare number as for other names: the LMS already says who it is,
    and a number in a file name may well be a date."""
    first = student[0][1]
    named = ((part.name, parse_identity(PurePath(part.name).stem)) for part in parts)
    original, identity = next(((name, identity) for name, identity in named if identity.parenthesised_id),
                              (None, Identity(name=None, student_id=None)))
    if original is not None:
        _note_what_was_passed_over(identity, original, flags, notes)
    return _Who(key=identity.student_id or first.user_id, name=first.full_name or identity.name,
                student_id=identity.student_id, lms_user_id=first.user_id, login=first.login,
                late=any(lms.late for _, lms in student))


def _downloaded_parts(student: list[tuple[Path, LmsName]], notes: list[str]) -> list[Part]:
    """The files to grade of one student's entries in a download: Moodle's folder gives what it holds. Online
    text (typed into Moodle, not a file) is left out, with a note; several entries are noted as graded as one."""
    parts: list[Part] = []
    graded = []
    for entry, lms in student:
        if lms.plugin != "file":
            notes.append(f"{entry.name} is not graded: it is Moodle's {lms.plugin} submission, not an uploaded file")
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
                   flags: list[str]) -> tuple[Path, Path | None, list[Part], str | None]:
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


def _unique(key: str, used: set[str], flags: list[str], notes: list[str]) -> str:
    """`key`, or when another submission has it already `key~2`, `key~3`…, flagged."""
    if key in used:
        original = key
        key = next(f"{original}~{n}" for n in range(2, 10_000) if f"{original}~{n}" not in used)
        flags.append("duplicate-id")
        notes.append(f"another submission already uses the id {original!r}; this one is graded as {key!r}")
    used.add(key)
    return key


def _notebook_of(entry: Path, pattern: str, notes: list[str], flags: list[str]) -> Path | None:
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
    # The grader's pid in the name lets a later run remove what a killed one left behind.
    with tempfile.TemporaryDirectory(prefix=f"{UNZIP_PREFIX}{os.getpid()}-", ignore_cleanup_errors=True) as folder:
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


def _notebook_among(parts: list[Part], pattern: str, notes: list[str], flags: list[str]) -> Path | None:
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


def notebook_in(folder: Path, pattern: str, notes: list[str], flags: list[str],
                skip: frozenset[Path] = frozenset()) -> Path | None:
    """The notebook of a submission folder. skip: notebooks (relative to the folder) that are not candidates."""
    notebooks = {path: (folder / path).stat().st_mtime for path in notebook_files(folder) if path not in skip}
    chosen = _choose_notebook(notebooks, pattern, "the folder", notes, flags)
    return folder / chosen if chosen is not None else None


def notebook_files(folder: Path) -> list[Path]:
    """The notebooks anywhere in `folder`, relative to it; none from macOS's or Jupyter's own folders."""
    return [path.relative_to(folder) for path in folder.rglob("*.ipynb")
            if not set(path.relative_to(folder).parts) & _IGNORED]


def _notebook_in_zip(zipped: Path, pattern: str, notes: list[str], flags: list[str]) -> Path | None:
    files = list_zip(zipped, _IGNORED).files
    notebooks = {path: modified for path, modified in files.items() if path.name.endswith(".ipynb")}
    chosen = _choose_notebook(notebooks, pattern, "the zip", notes, flags)
    return zipped.joinpath(*chosen.parts) if chosen is not None else None


def _choose_notebook(notebooks: dict[PurePath, float], pattern: str, where: str, notes: list[str],
                     flags: list[str]) -> PurePath | None:
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
