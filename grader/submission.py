"""Find submissions in a folder and tell whose each one is.

A submission is a notebook file, or a folder holding a notebook and the data
it uses, or that folder (or just the notebook) zipped. The course names files
`이름(학번).ipynb`; name and student id are parsed from the file, folder or
zip name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path, PurePath

from grader.unzip import ZipRefused, list_zip, unzip

_NAME_AND_ID = re.compile(r"^(?P<name>.*?)\s*[(（]\s*(?P<id>[0-9A-Za-z][0-9A-Za-z_-]*)\s*[)）]")
_BARE_ID = re.compile(r"(?<!\d)(?P<id>\d{6,12})(?!\d)")
_UNSAFE = re.compile(r"[^\w.-]+")
UNZIP_PREFIX = "grader-unzip-"
_IGNORED = frozenset({"__MACOSX", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class Submission:
    key: str  # unique within the batch; names report files and gradebook rows
    path: Path  # the notebook file, the submission folder, or its zip
    notebook: Path | None  # under `path` (in a zip: where it is inside); None when there is none
    name: str | None
    student_id: str | None
    flags: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None  # why it cannot be graded at all (a refused zip), for the student

    @contextmanager
    def files(self) -> Iterator[Path]:
        """The submission on disk, to run in: `path` itself, or for a zip a private temporary
        folder it is unpacked into, removed afterwards. A zip may still be refused (ZipRefused)."""
        if not _is_zip(self.path):
            yield self.path
            return
        # The grader's pid in the name lets a later run remove what a killed one left behind.
        with tempfile.TemporaryDirectory(prefix=f"{UNZIP_PREFIX}{os.getpid()}-", ignore_cleanup_errors=True) as folder:
            yield unzip(self.path, Path(folder), _IGNORED)

    @cached_property
    def content_hash(self) -> str:
        """sha256 over every file of the submission, so new data regrades too (read once, in blocks)."""
        digest = hashlib.sha256()
        files = [self.path] if self.path.is_file() else sorted(
            p for p in self.path.rglob("*") if p.is_symlink() or p.is_file())
        for file in files:
            digest.update(str(file.relative_to(self.path.parent)).encode() + b"\0")
            if file.is_symlink():  # hashed as where it points: never followed out of the submission
                digest.update(b"-> " + str(file.readlink()).encode() + b"\0")
                continue
            with file.open("rb") as stream:
                while block := stream.read(1 << 20):
                    digest.update(block)
            digest.update(b"\0")
        return f"sha256:{digest.hexdigest()}"


def parse_identity(stem: str) -> tuple[str | None, str | None]:
    """`홍길동(2022001)` -> ("홍길동", "2022001"); `hw_2022001` -> (None, "2022001")."""
    stem = unicodedata.normalize("NFC", stem)  # macOS writes Korean names decomposed
    match = _NAME_AND_ID.match(stem)
    if match:
        return (match.group("name").strip(" _-") or None), match.group("id")
    match = _BARE_ID.search(stem)
    if match:
        name = (stem[: match.start()] + stem[match.end():]).strip(" _-()") or None
        return name, match.group("id")
    return None, None


def discover(folder: Path, notebook_pattern: str) -> list[Submission]:
    """Every submission in `folder`; `notebook_pattern` (the rubric's `submission.notebook`)
    picks the notebook of a folder or zip that holds several."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder of submissions")
    entries = sorted(
        entry for entry in folder.iterdir()
        if not entry.name.startswith(".") and entry.name not in _IGNORED
        # The samples folder explains itself in a README; no LMS download has one.
        and not entry.name.upper().startswith("README")
    )
    submissions: list[Submission] = []
    used: set[str] = set()
    for entry in entries:
        stem = entry.stem if entry.is_file() else entry.name
        name, student_id = parse_identity(stem)
        flags: list[str] = []
        notes: list[str] = []
        key = student_id or _UNSAFE.sub("_", unicodedata.normalize("NFC", stem)).strip("_") or "submission"
        if student_id is None:
            flags.append("no-student-id")
            notes.append(f"no student id in the name {entry.name!r}; graded as {key!r}")
        if key in used:
            original = key
            key = next(f"{original}~{n}" for n in range(2, 10_000) if f"{original}~{n}" not in used)
            flags.append("duplicate-id")
            notes.append(f"another submission already uses the id {original!r}; this one is graded as {key!r}")
        used.add(key)
        error = None
        if _is_zip(entry):
            try:
                notebook = _notebook_in_zip(entry, notebook_pattern, notes, flags)
            except ZipRefused as refused:
                notebook, error = None, str(refused)
        else:
            notebook = entry if entry.is_file() else notebook_in(entry, notebook_pattern, notes, flags)
        submissions.append(Submission(key=key, path=entry, notebook=notebook, name=name, student_id=student_id,
                                      flags=tuple(flags), notes=tuple(notes), error=error))
    return submissions


def _is_zip(entry: Path) -> bool:
    return entry.suffix.lower() == ".zip" and entry.is_file()


def notebook_in(folder: Path, pattern: str, notes: list[str], flags: list[str],
                skip: frozenset[Path] = frozenset()) -> Path | None:
    """The notebook of a submission folder. skip: notebooks (relative to the folder) that are not candidates."""
    notebooks = {
        path.relative_to(folder): path.stat().st_mtime for path in folder.rglob("*.ipynb")
        if not set(path.relative_to(folder).parts) & _IGNORED and path.relative_to(folder) not in skip
    }
    chosen = _choose_notebook(notebooks, pattern, "the folder", notes, flags)
    return folder / chosen if chosen is not None else None


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
