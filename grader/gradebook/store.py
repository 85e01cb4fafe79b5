"""SQLite gradebook: one row per submission and per submission x item.

Each submission is written in one transaction, so a grader killed mid-batch
loses at most the submission in flight. Manual scores and overrides are
kept as a history (who, when, the points before) and the latest one for
the current version of the notebook is applied whenever results are read.
Each carries two texts: a comment, which the student reads on their feedback,
and a reason, which only staff see (TA pages, the history, results.json); an
override needs a reason.

What a score, an override or the rubric's late policy does to a result is
decided in grader/scoring.py: the gradebook stores rows and reads them
through it.

Several processes may write one gradebook at once (two TAs reviewing, a
batch still grading): every write takes SQLite's write lock before it reads
what it decides on (BEGIN IMMEDIATE), and an edit made against a revision
someone else has since changed is refused (`StaleEdit`), never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path

from typing import Literal

from pydantic import BaseModel, model_validator

from grader.results import CellRun, Confinement, ItemResult, ManualScore, OfflineRun, SubmissionResult
from grader.rubric.models import LatePolicy
from grader.scoring import GivenScore, effective, score_kind

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    student TEXT PRIMARY KEY,
    name TEXT, student_id TEXT, file TEXT NOT NULL,
    status TEXT NOT NULL, max_points REAL NOT NULL,
    flags TEXT NOT NULL, notes TEXT NOT NULL, error TEXT,
    notebook_hash TEXT NOT NULL, rubric_hash TEXT NOT NULL,
    cells TEXT NOT NULL, seconds REAL NOT NULL, graded_at TEXT NOT NULL, retry INTEGER NOT NULL,
    sandboxed INTEGER NOT NULL DEFAULT 1,
    lms_user_id TEXT, name_in_file TEXT, late INTEGER NOT NULL DEFAULT 0, submitted_at TEXT,
    integrity TEXT NOT NULL DEFAULT '[]', lms TEXT,
    confinement TEXT NOT NULL DEFAULT '',
    offline TEXT
);
CREATE TABLE IF NOT EXISTS item_results (
    student TEXT NOT NULL REFERENCES submissions(student) ON DELETE CASCADE,
    item TEXT NOT NULL, position INTEGER NOT NULL, title TEXT NOT NULL,
    points REAL NOT NULL, max_points REAL NOT NULL, status TEXT NOT NULL,
    message TEXT NOT NULL, evidence TEXT NOT NULL,
    notebook_hash TEXT NOT NULL, rubric_hash TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (student, item)
);
CREATE TABLE IF NOT EXISTS manual_scores (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL, item TEXT NOT NULL,
    points REAL NOT NULL, comment TEXT NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL,
    kind TEXT NOT NULL, automatic_points REAL, notebook_hash TEXT NOT NULL,
    previous_points REAL, reason TEXT NOT NULL DEFAULT '',
    group_id TEXT, group_size INTEGER
);
CREATE TABLE IF NOT EXISTS group_take_outs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL, student TEXT NOT NULL, alone INTEGER NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS regrades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL, requested_by TEXT NOT NULL, requested_at TEXT NOT NULL,
    base TEXT NOT NULL,
    state TEXT NOT NULL,
    proposed TEXT, rubric TEXT, error TEXT,
    decided_by TEXT, decided_at TEXT, reason TEXT, before_total REAL, after_total REAL
);
CREATE TABLE IF NOT EXISTS pair_reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first TEXT NOT NULL, second TEXT NOT NULL,
    decision TEXT NOT NULL, note TEXT NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL, score REAL
);
"""
# pair_reviews: a TA looked at two submissions the similarity ranking put side by side; first < second, their keys.
# regrades.base: the revision of the submission's automatic result the regrade would replace.
# regrades.state: running -> ready | failed -> accepted | discarded.
# manual_scores.group_id, group_size: the answer group (grader.review.groups) a score was given to at once, or NULL.
# group_take_outs: a TA's choice that a student's answer to an item stands alone, out of its answer group (alone=1),
# or is back in it (alone=0); the latest row of an item and student holds.

# Columns of `submissions` that older gradebooks lack, added when one is opened: name -> definition.
_LATER_COLUMNS = {
    "sandboxed": "INTEGER NOT NULL DEFAULT 1",  # before the sandbox existed
    "lms_user_id": "TEXT", "name_in_file": "TEXT", "late": "INTEGER NOT NULL DEFAULT 0",  # before LMS downloads
    "submitted_at": "TEXT",
    # Before integrity flags carried their cells' code; an older row's flags are among its notes, as text.
    "integrity": "TEXT NOT NULL DEFAULT '[]'",
    "lms": "TEXT",  # before a result said which LMS its id is from
    # Before uid confinement: '' reads as what `sandboxed` says ("sandbox" or "none").
    "confinement": "TEXT NOT NULL DEFAULT ''",
    "offline": "TEXT",  # before the offline stand-ins: a result's OfflineRun as JSON, or NULL
}
# `name_in_file` was called `login` (Canvas's name part is no login); renamed, not added, so its values stay.
_RENAMED_COLUMNS = {"login": "name_in_file"}
# Run once, when `submissions` gains `lms`: only Canvas's names gave the name part then, so an id without one was
# Moodle's.
_TELL_THE_LMS = ("UPDATE submissions SET lms = CASE WHEN name_in_file IS NULL THEN 'moodle' ELSE 'canvas' END"
                 " WHERE lms_user_id IS NOT NULL")
_LATER_MANUAL_COLUMNS = {
    "previous_points": "REAL",  # before the review page showed before/after
    "reason": "TEXT NOT NULL DEFAULT ''",  # before the comment (the student's) and the reason (staff's) were apart
    "group_id": "TEXT", "group_size": "INTEGER",  # before answer groups
}
# Run once, when `manual_scores` gains `reason`. An override's one text was typed as its "reason (required)", so it
# becomes the reason, which students never see; a manual score's was a "comment" and stays the student's comment.
_SEPARATE_OVERRIDE_REASONS = "UPDATE manual_scores SET reason = comment, comment = '' WHERE kind = 'override'"
_IDENTITY_COLUMNS = ("name", "student_id", "file", "lms", "lms_user_id", "name_in_file", "late", "submitted_at")
_MOVING = "\x1fmoving "  # a key no submission has, for manual scores on their way to another key (`follow`)
_SUBMISSION_COLUMNS = ("student", "name", "student_id", "file", "status", "max_points", "flags", "notes", "error",
                       "notebook_hash", "rubric_hash", "cells", "seconds", "graded_at", "retry", *_LATER_COLUMNS)
CONFINEMENT_RANK = {"none": 0, "uid": 1, "sandbox": 2}  # how tightly a kernel was confined
_DETAIL_FIELDS = ("checks", "answer", "printed", "stored_printed", "cells", "figures")


class GradebookError(Exception):
    """A request the gradebook cannot honour; the message says what happened, in words of no one front end (no
    option to type, no box to fill). `field` names the input that is missing or wrong ("reason", "by"), for a front
    end to point at its own option or box."""

    def __init__(self, message: str, field: Literal["by", "reason"] | None = None) -> None:
        super().__init__(message)
        self.field = field


class StaleEdit(GradebookError):
    """An edit made against a revision that someone else has changed since; the message says who and what."""


class RubricSummary(BaseModel):
    """What reports need of the rubric, stored so `grader report` needs only the gradebook."""

    id: str
    title: str
    hash: str
    total: float
    items: list[dict]  # id, title, points, visibility, kinds, question, checks (name, points, visibility)
    assets: str = ""  # which model weights and datasets kernels had: real ones or synthetic stand-ins
    late: LatePolicy = LatePolicy()  # applied when results are read, like manual scores


class GradingSources(BaseModel):
    """How `grader grade` last filled this gradebook: absolute paths and the options a regrade repeats."""

    rubric: str
    submissions: str
    sandboxed: bool = True
    confinement: Confinement = "sandbox"  # how the run confined its kernels, which a regrade repeats
    cpu_fallback: bool = False

    @model_validator(mode="after")
    def _confinement_agrees(self) -> GradingSources:
        """Sources written before uid confinement say only `sandboxed`."""
        if self.confinement == "sandbox" and not self.sandboxed:
            self.confinement = "none"
        self.sandboxed = self.confinement == "sandbox"
        return self


class Regrade(BaseModel):
    """A submission graded again on request, waiting for a TA to accept or discard the change."""

    id: int
    student: str
    requested_by: str
    requested_at: str
    base: str
    state: Literal["running", "ready", "failed", "accepted", "discarded"]
    proposed: SubmissionResult | None = None
    rubric: RubricSummary | None = None  # the rubric it was graded with (fixed since, perhaps)
    error: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    reason: str | None = None
    before_total: float | None = None
    after_total: float | None = None


PairDecision = Literal["no-concern", "undecided", "refer"]
PAIR_DECISIONS: dict[str, str] = {
    "no-concern": "looked at, no concern",
    "undecided": "looked at, undecided",
    "refer": "refer to the instructor",
}


class PairReview(BaseModel):
    """What a TA decided about a pair of similar submissions. It changes no score: a copy is the instructor's
    call, taken outside the grader."""

    first: str
    second: str
    decision: PairDecision
    note: str  # staff only
    by: str
    at: str
    score: float | None = None  # the pair's similarity score when it was looked at


class Gradebook:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        self._add_later_columns()

    def _add_later_columns(self) -> None:
        if not self._missing_columns():
            return
        with self._write_lock():  # looked at again under the lock: another process may have added them meanwhile
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(submissions)")}
            for old, new in _RENAMED_COLUMNS.items():
                if old in columns and new not in columns:
                    self.db.execute(f"ALTER TABLE submissions RENAME COLUMN {old} TO {new}")
            for table, name, definition in self._missing_columns():
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
                if (table, name) == ("manual_scores", "reason"):
                    self.db.execute(_SEPARATE_OVERRIDE_REASONS)
                if (table, name) == ("submissions", "lms"):
                    self.db.execute(_TELL_THE_LMS)

    def _missing_columns(self) -> list[tuple[str, str, str]]:
        missing = []
        for table, later in (("submissions", _LATER_COLUMNS), ("manual_scores", _LATER_MANUAL_COLUMNS)):
            columns = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            missing += [(table, name, definition) for name, definition in later.items() if name not in columns]
        return missing

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one state of the gradebook, whatever others write meanwhile (WAL): a page shows the
        results and the revisions its edits will be checked against from the same moment."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.rollback()

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """One transaction that holds SQLite's write lock from its first read: what it reads cannot change
        under it, so a decision made on that read (is this edit stale?) stays true until it commits."""
        if self.db.in_transaction:  # left open by a Ctrl-C that came between BEGIN and its handler
            self.db.rollback()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- rubric ----------------------------------------------------------------

    def bind_rubric(self, summary: RubricSummary) -> None:
        current = self.rubric()
        if current is not None and current.id != summary.id:
            raise GradebookError(f"{self.path} holds grades for rubric {current.id!r}, not {summary.id!r}")
        with self._write_lock():
            self._bind_rubric_unlocked(summary)

    def _bind_rubric_unlocked(self, summary: RubricSummary) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('rubric', ?)", (summary.model_dump_json(),))

    def rubric(self) -> RubricSummary | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'rubric'").fetchone()
        return RubricSummary.model_validate_json(row[0]) if row else None

    # -- the course's roster: kept by path, read again by exports and reports --------------

    def bind_roster(self, path: Path) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('roster', ?)", (str(path.resolve()),))

    def roster_path(self) -> Path | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'roster'").fetchone()
        return Path(row[0]) if row else None

    # -- where the grades came from: what a regrade from the review page runs again ----------

    def bind_sources(self, sources: GradingSources) -> None:
        with self._write_lock():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('sources', ?)", (sources.model_dump_json(),))

    def sources(self) -> GradingSources | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'sources'").fetchone()
        return GradingSources.model_validate_json(row[0]) if row else None

    # -- automatic results ------------------------------------------------------------

    def is_current(self, student: str, notebook_hash: str, rubric_hash: str, confinement: Confinement = "sandbox",
                   identity: Mapping[str, object] | None = None) -> bool:
        """Graded already from this very notebook and rubric (not after an environment failure, and confined at
        least as tightly as this run is: a --no-sandbox or uid-only grade never stands in for a sandboxed one), and
        stored as `identity` says who and what it is (Submission.identity(): a roster that now names the student, a
        new download's submission times, are stored by grading again)."""
        identity = identity or {}
        unknown = set(identity) - set(_IDENTITY_COLUMNS)
        if unknown:
            raise ValueError(f"not a gradebook column of who a submission is: {', '.join(sorted(unknown))}")
        same = "".join(f" AND {column} IS ?" for column in identity)
        row = self.db.execute(
            "SELECT confinement, sandboxed FROM submissions WHERE student = ? AND notebook_hash = ?"
            f" AND rubric_hash = ? AND retry = 0{same}", (student, notebook_hash, rubric_hash, *identity.values()),
        ).fetchone()
        if row is None:
            return False
        stored = row[0] or ("sandbox" if row[1] else "none")
        return CONFINEMENT_RANK[stored] >= CONFINEMENT_RANK[confinement]

    def follow(self, current: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
        """Submissions stored under another key than the one they have now (the roster now says whose they are, or
        a duplicate made them `key~2`) move to their new key: their manual scores, overrides and regrades with them,
        while their stored result is dropped, to be graded again under the new key. Nothing is lost, and no
        student is left twice.

        `current`: each submission's key now -> its identity (Submission.identity()). A stored row is a
        submission's when it has the same LMS and LMS id, or, for a submission from no LMS download, the same file
        and no LMS id. A row that is two submissions', a submission with two rows, and a move onto a key
        someone else's row holds are left as they are. Returns old key -> new key."""
        moves: dict[str, str] = {}
        claimed: dict[str, int] = defaultdict(int)
        for key, identity in current.items():
            if identity.get("lms_user_id") is not None:
                rows = self.db.execute("SELECT student FROM submissions WHERE lms_user_id = ? AND lms IS ?",
                                       (identity["lms_user_id"], identity.get("lms"))).fetchall()
            else:
                rows = self.db.execute("SELECT student FROM submissions WHERE file = ? AND lms_user_id IS NULL",
                                       (identity.get("file"),)).fetchall()
            for (old,) in rows:
                claimed[old] += 1
            if len(rows) == 1 and rows[0][0] != key:
                moves[rows[0][0]] = key
        moves = {old: new for old, new in moves.items() if claimed[old] == 1}
        stored = set(self.students())
        moves = {old: new for old, new in moves.items() if new not in stored or new in moves}
        if not moves:
            return {}
        with self._write_lock():
            for old in moves:
                self.db.execute("DELETE FROM submissions WHERE student = ?", (old,))  # items go with it
            # through a key no student has: a move may take another's
            for table in ("manual_scores", "regrades", "group_take_outs"):
                for old in moves:
                    self.db.execute(f"UPDATE {table} SET student = ? WHERE student = ?", (_MOVING + old, old))
                for old, new in moves.items():
                    self.db.execute(f"UPDATE {table} SET student = ? WHERE student = ?", (new, _MOVING + old))
        return moves

    def store(self, result: SubmissionResult) -> None:
        with self._write_lock():  # one transaction: the submission and all its items, or nothing
            self._write_result(result)

    def _write_result(self, result: SubmissionResult) -> None:
        self.db.execute("DELETE FROM item_results WHERE student = ?", (result.student,))
        self.db.execute(
            f"INSERT OR REPLACE INTO submissions ({', '.join(_SUBMISSION_COLUMNS)})"
            f" VALUES ({', '.join('?' * len(_SUBMISSION_COLUMNS))})",
            (result.student, result.name, result.student_id, result.file, result.status, result.max,
             json.dumps(result.flags, ensure_ascii=False), json.dumps(result.notes, ensure_ascii=False),
             result.error, result.notebook_hash, result.rubric_hash,
             json.dumps([cell.model_dump() for cell in result.cells]), result.seconds, result.graded_at,
             int(result.retry), int(result.sandboxed), result.lms_user_id, result.name_in_file, int(result.late),
             result.submitted_at, json.dumps([flag.model_dump() for flag in result.integrity], ensure_ascii=False),
             result.lms, result.confinement, result.offline.model_dump_json() if result.offline else None),
        )
        self.db.executemany(
            "INSERT INTO item_results VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (result.student, item.id, position, item.title, item.points, item.max_points, item.status,
                 item.message, item.evidence, result.notebook_hash, result.rubric_hash,
                 json.dumps(item.model_dump(include=set(_DETAIL_FIELDS)), ensure_ascii=False))
                for position, item in enumerate(result.items)
            ],
        )

    # -- reading, with manual scores applied -------------------------------------------

    def students(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT student FROM submissions ORDER BY student")]

    def results(self) -> list[SubmissionResult]:
        return [self.result(student) for student in self.students()]

    def result(self, student: str) -> SubmissionResult:
        row = self.db.execute(
            "SELECT name, student_id, file, status, max_points, flags, notes, error, notebook_hash, rubric_hash,"
            " cells, seconds, graded_at, retry, sandboxed, lms_user_id, name_in_file, late, submitted_at, integrity,"
            " lms, confinement, offline FROM submissions WHERE student = ?", (student,),
        ).fetchone()
        if row is None:
            raise GradebookError(f"no submission {student!r} in {self.path}; known: {', '.join(self.students()) or 'none'}")
        (name, student_id, file, status, max_points, flags, notes, error, notebook_hash, rubric_hash,
         cells, seconds, graded_at, retry, sandboxed, lms_user_id, name_in_file, late, submitted_at, integrity,
         lms, confinement, offline) = row
        items = []
        for item_row in self.db.execute(
            "SELECT item, title, points, max_points, status, message, evidence, detail FROM item_results"
            " WHERE student = ? ORDER BY position", (student,),
        ):
            item_id, title, points, item_max, item_status, message, evidence, detail = item_row
            items.append(ItemResult(id=item_id, title=title, points=points, max_points=item_max, status=item_status,
                                    message=message, evidence=evidence, **json.loads(detail)))
        result = SubmissionResult(
            student=student, name=name, student_id=student_id, file=file, status=status, total=0.0, max=max_points,
            flags=json.loads(flags), notes=json.loads(notes), integrity=json.loads(integrity), error=error, items=items,
            notebook_hash=notebook_hash, rubric_hash=rubric_hash,
            cells=[CellRun(**cell) for cell in json.loads(cells)], seconds=seconds, graded_at=graded_at,
            retry=bool(retry), sandboxed=bool(sandboxed),
            confinement=confinement or ("sandbox" if sandboxed else "none"),  # '' in a row from before uid confinement
            lms=lms, lms_user_id=lms_user_id, name_in_file=name_in_file, late=bool(late), submitted_at=submitted_at,
            offline=OfflineRun.model_validate_json(offline) if offline else None,
        )
        return self.effective(result)

    def effective(self, result: SubmissionResult) -> SubmissionResult:
        """`result` (as grading produced it) with this gradebook's manual scores and late policy applied: what it
        reads as once stored."""
        rubric = self.rubric()
        return effective(result, self._given_scores(result.student), rubric.late if rubric else None)

    def _given_scores(self, student: str) -> dict[str, GivenScore]:
        """Item id -> its latest manual score or override."""
        given = {}
        for item, points, comment, reason, by, at, kind, automatic_points, notebook_hash in self.db.execute(
            "SELECT item, points, comment, reason, by, at, kind, automatic_points, notebook_hash FROM manual_scores"
            " WHERE student = ? ORDER BY id", (student,),
        ):
            given[item] = GivenScore(ManualScore(points=points, comment=comment, reason=reason, by=by, at=at,
                                                 kind=kind, automatic_points=automatic_points), notebook_hash)
        return given

    def history(self, student: str) -> list[dict]:
        """Every manual score, override and accepted regrade of a student, oldest first. `previous` is the
        points (an item's, or the total for a regrade) before the change, where they were recorded. `comment` is
        what the student was told, `reason` what only staff see (a regrade's reason is staff only). `group` and
        `group_size`: the answer group a score was given to at once, else None."""
        entries = [
            {"item": item, "points": points, "comment": comment, "reason": reason, "by": by, "at": at, "kind": kind,
             "automatic_points": automatic_points, "previous": previous, "group": group, "group_size": group_size}
            for item, points, comment, reason, by, at, kind, automatic_points, previous, group, group_size
            in self.db.execute(
                "SELECT item, points, comment, reason, by, at, kind, automatic_points, previous_points, group_id,"
                " group_size FROM manual_scores WHERE student = ? ORDER BY id", (student,))
        ]
        entries += [
            {"item": "all", "points": after, "comment": "", "reason": reason or "", "by": by, "at": at,
             "kind": "regrade", "automatic_points": None, "previous": before, "group": None, "group_size": None}
            for by, at, reason, before, after in self.db.execute(
                "SELECT decided_by, decided_at, reason, before_total, after_total FROM regrades"
                " WHERE student = ? AND state = 'accepted' ORDER BY id", (student,))
        ]
        return sorted(entries, key=lambda entry: entry["at"])  # ISO times in UTC sort as text

    # -- similar pairs: what a TA decided, never a score ------------------------------

    def review_pair(self, first: str, second: str, decision: str, note: str, by: str,
                    score: float | None = None) -> PairReview:
        """Record that `by` looked at a pair and what they decided; the history keeps every decision."""
        if not by.strip():
            raise GradebookError("say who looked at the pair", field="by")
        if decision not in PAIR_DECISIONS:
            raise GradebookError(f"unknown decision {decision!r}; one of: {', '.join(PAIR_DECISIONS)}")
        first, second = sorted((first, second))
        if first == second:
            raise GradebookError(f"a pair is two submissions; {first} was given twice")
        with self._write_lock():
            known = {row[0] for row in self.db.execute(
                "SELECT student FROM submissions WHERE student IN (?, ?)", (first, second))}
            unknown = [key for key in (first, second) if key not in known]
            if unknown:
                raise GradebookError(f"no submission {', '.join(unknown)} in this gradebook")
            review = PairReview(first=first, second=second, decision=decision, note=note.strip(), by=by.strip(),
                                at=datetime.now(timezone.utc).isoformat(timespec="seconds"), score=score)
            self.db.execute("INSERT INTO pair_reviews (first, second, decision, note, by, at, score)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?)", (review.first, review.second, review.decision,
                                                              review.note, review.by, review.at, review.score))
        return review

    def pair_reviews(self) -> list[PairReview]:
        """Every decision about a pair, oldest first."""
        return [PairReview(first=first, second=second, decision=decision, note=note, by=by, at=at, score=score)
                for first, second, decision, note, by, at, score in self.db.execute(
                    "SELECT first, second, decision, note, by, at, score FROM pair_reviews ORDER BY id")]

    def latest_pair_reviews(self) -> dict[tuple[str, str], PairReview]:
        """(first, second) -> the latest decision about that pair."""
        return {(review.first, review.second): review for review in self.pair_reviews()}

    # -- revisions: what an edit was made against ----------------------------------------

    def revisions(self, student: str) -> dict[str, str]:
        """Item id -> a token that changes whenever the item's points may change: a regrade, or a new
        manual score or override. An edit sent with the token it was made against is refused when stale."""
        row = self.db.execute("SELECT graded_at, notebook_hash FROM submissions WHERE student = ?", (student,)).fetchone()
        if row is None:
            raise GradebookError(f"no submission {student!r} in {self.path}")
        latest = dict(self.db.execute(
            "SELECT item, MAX(id) FROM manual_scores WHERE student = ? GROUP BY item", (student,)))
        items = [item for (item,) in self.db.execute(
            "SELECT item FROM item_results WHERE student = ? ORDER BY position", (student,))]
        return {item: f"{row[0]}|{row[1][7:19]}|{latest.get(item, 0)}" for item in items}

    def _stale_reason(self, student: str, item_id: str, expected: str) -> str:
        graded_at = expected.split("|")[0]
        row = self.db.execute("SELECT graded_at FROM submissions WHERE student = ?", (student,)).fetchone()
        if row[0] != graded_at:
            return (f"{student} was graded again at {row[0]}, after you opened this page; reload it to see the new "
                    "results, then score again")
        latest = self.db.execute(
            "SELECT points, by, at FROM manual_scores WHERE student = ? AND item = ? ORDER BY id DESC LIMIT 1",
            (student, item_id),
        ).fetchone()
        return (f"{latest[1]} gave {student} {latest[0]:g} points for item {item_id} at {latest[2]}, after you opened "
                "this page; your score was not saved. Reload to see theirs, then score again if you disagree")

    # -- manual scores ----------------------------------------------------------------

    def set_score(self, student: str, item_id: str, points: float, comment: str, by: str, *, reason: str = "",
                  expected_revision: str | None = None) -> ManualScore:
        """A manual score for an item waiting for a TA, or an override of an automatic one. `comment` is shown to
        the student (it may be empty); `reason` is for staff only, and an override needs one. With
        `expected_revision` (from `revisions`), refused as a `StaleEdit` if the item changed since."""
        if not by.strip():
            raise GradebookError("a score needs the name of who gives it", field="by")
        with self._write_lock():
            current = self.result(student)
            item = self._scorable_item(current, item_id)
            if expected_revision is not None and self.revisions(student)[item_id] != expected_revision:
                raise StaleEdit(self._stale_reason(student, item_id, expected_revision))
            return self._insert_score(current, item, points, comment, by, reason)

    def _scorable_item(self, current: SubmissionResult, item_id: str) -> ItemResult:
        item = next((item for item in current.items if item.id == item_id), None)
        if item is None:
            raise GradebookError(f"no item {item_id!r}; items are {', '.join(i.id for i in current.items)}")
        if item.status == "void":
            raise GradebookError(f"item {item_id} is void (withdrawn by the instructor): it is the same for "
                                 "everyone and takes no score; change the rubric to grade it again")
        return item

    def _insert_score(self, current: SubmissionResult, item: ItemResult, points: float, comment: str, by: str,
                      reason: str, group: tuple[str, int] | None = None) -> ManualScore:
        """Under the write lock. group: (id, size) of the answer group the score is given to at once."""
        if not 0 <= points <= item.max_points:
            raise GradebookError(f"item {item.id} is worth 0 to {item.max_points:g} points, not {points:g}")
        kind = score_kind(item)
        if kind == "override" and not reason.strip():
            raise GradebookError(f"item {item.id} was graded automatically ({item.points:g}/{item.max_points:g}); "
                                 "overriding it needs a reason", field="reason")
        automatic = None if kind == "manual" else self._automatic_points(current.student, item.id)
        previous = None if item.status == "manual" else item.points
        at = _now()
        group_id, group_size = group if group is not None else (None, None)
        self.db.execute(
            "INSERT INTO manual_scores (student, item, points, comment, reason, by, at, kind, automatic_points,"
            " notebook_hash, previous_points, group_id, group_size) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (current.student, item.id, points, comment.strip(), reason.strip(), by.strip(), at, kind, automatic,
             current.notebook_hash, previous, group_id, group_size),
        )
        return ManualScore(points=points, comment=comment.strip(), reason=reason.strip(), by=by.strip(), at=at,
                           kind=kind, automatic_points=automatic)

    def _automatic_points(self, student: str, item_id: str) -> float:
        row = self.db.execute("SELECT points FROM item_results WHERE student = ? AND item = ?", (student, item_id)).fetchone()
        return float(row[0])

    # -- answer groups: alike answers scored at once (grader.review.groups) -------------------------------

    def alone(self, item_id: str) -> dict[str, tuple[str, str]]:
        """The students a TA took out of their answer group for `item_id` -> (who, when)."""
        rows = self.db.execute(
            "SELECT student, alone, by, at FROM group_take_outs WHERE id IN"
            " (SELECT MAX(id) FROM group_take_outs WHERE item = ? GROUP BY student)", (item_id,))
        return {student: (by, at) for student, alone, by, at in rows if alone}

    def take_outs_revision(self, item_id: str) -> str:
        """A token that changes whenever a student is taken out of an answer group of `item_id` or put back."""
        return str(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM group_take_outs WHERE item = ?",
                                   (item_id,)).fetchone()[0])

    def set_alone(self, student: str, item_id: str, alone: bool, by: str) -> None:
        """Take the student's answer to `item_id` out of its answer group (alone), to be graded by itself, or put
        it back (not alone). Doing what is done already changes nothing."""
        if not by.strip():
            raise GradebookError("say who takes the answer out of its group", field="by")
        with self._write_lock():
            self._scorable_item(self.result(student), item_id)
            if (student in self.alone(item_id)) != alone:
                self.db.execute("INSERT INTO group_take_outs (item, student, alone, by, at) VALUES (?,?,?,?,?)",
                                (item_id, student, int(alone), by.strip(), _now()))

    def set_group_score(self, item_id: str, group: str, members: Mapping[str, str], points: float, comment: str,
                        by: str, *, take_outs_revision: str, reason: str = "", replace: bool = False) -> list[str]:
        """One score for each member of the answer group `group` (its id), each a manual score of its own that
        records the group and its size (len(members)). members: student -> the revision of their item the form was
        made against; take_outs_revision: the item's, when the group was worked out. All or nothing: refused as a
        `StaleEdit` if a student was taken out of a group or put back since, or if any member's item changed. A
        member scored already (not waiting for a TA) keeps the score unless `replace`. Returns who was scored."""
        if not by.strip():
            raise GradebookError("a score needs the name of who gives it", field="by")
        with self._write_lock():
            if self.take_outs_revision(item_id) != take_outs_revision:
                raise StaleEdit(self._take_out_reason(item_id, take_outs_revision))
            currents = {student: self.result(student) for student in sorted(members)}
            for student, current in currents.items():
                self._scorable_item(current, item_id)
                if self.revisions(student)[item_id] != members[student]:
                    raise StaleEdit(f"{self._stale_reason(student, item_id, members[student])}. None of the "
                                    f"group's {len(members)} answers was scored")
            scored = []
            for student, current in currents.items():
                item = self._scorable_item(current, item_id)
                if item.status == "manual" or replace:
                    self._insert_score(current, item, points, comment, by, reason, (group, len(members)))
                    scored.append(student)
        return scored

    def _take_out_reason(self, item_id: str, expected: str) -> str:
        student, alone, by, at = self.db.execute(
            "SELECT student, alone, by, at FROM group_take_outs WHERE item = ? AND id > ? ORDER BY id DESC LIMIT 1",
            (item_id, int(expected))).fetchone()
        done = "took {} out of its answer group" if alone else "put {} back in its answer group"
        return (f"{by} {done.format(student)} for item {item_id} at {at}, while you were scoring, so the groups may "
                "have changed; no answer was scored. Reload to see the groups as they are, then score again")

    # -- regrades requested from the review page ---------------------------------------

    def begin_regrade(self, student: str, by: str) -> int:
        """Record that `student` is being graded again; refused while another regrade of theirs runs."""
        if not by.strip():
            raise GradebookError("say who asks for the regrade")
        with self._write_lock():
            base = self._submission_revision(student)
            running = self.db.execute(
                "SELECT requested_by, requested_at FROM regrades WHERE student = ? AND state = 'running'", (student,),
            ).fetchone()
            if running is not None:
                raise StaleEdit(f"{running[0]} started a regrade of {student} at {running[1]}; wait for it, then "
                                "accept or discard it")
            return self.db.execute(
                "INSERT INTO regrades (student, requested_by, requested_at, base, state) VALUES (?,?,?,?, 'running')",
                (student, by.strip(), _now(), base),
            ).lastrowid

    def finish_regrade(self, regrade_id: int, proposed: SubmissionResult | None, rubric: RubricSummary | None,
                       error: str | None = None) -> None:
        with self._write_lock():
            self.db.execute(
                "UPDATE regrades SET state = ?, proposed = ?, rubric = ?, error = ? WHERE id = ? AND state = 'running'",
                ("ready" if proposed is not None else "failed",
                 proposed.model_dump_json() if proposed is not None else None,
                 rubric.model_dump_json() if rubric is not None else None, error, regrade_id),
            )

    def regrade(self, regrade_id: int) -> Regrade:
        row = self.db.execute(
            "SELECT id, student, requested_by, requested_at, base, state, proposed, rubric, error, decided_by,"
            " decided_at, reason, before_total, after_total FROM regrades WHERE id = ?", (regrade_id,),
        ).fetchone()
        if row is None:
            raise GradebookError(f"no regrade {regrade_id} in {self.path}")
        keys = ("id", "student", "requested_by", "requested_at", "base", "state", "proposed", "rubric", "error",
                "decided_by", "decided_at", "reason", "before_total", "after_total")
        fields = dict(zip(keys, row))
        fields["proposed"] = json.loads(fields["proposed"]) if fields["proposed"] else None
        fields["rubric"] = json.loads(fields["rubric"]) if fields["rubric"] else None
        return Regrade.model_validate(fields)

    def latest_regrade(self, student: str) -> Regrade | None:
        row = self.db.execute("SELECT MAX(id) FROM regrades WHERE student = ?", (student,)).fetchone()
        return self.regrade(row[0]) if row[0] is not None else None

    def accept_regrade(self, regrade_id: int, by: str, reason: str) -> Regrade:
        """Store a finished regrade's result in place of the current one. Refused if the submission was graded
        again since the regrade started. Manual scores given to the same notebook still apply."""
        if not by.strip():
            raise GradebookError("say who accepts the regrade")
        if not reason.strip():
            raise GradebookError("accepting a regrade needs a reason (what was fixed)")
        with self._write_lock():
            regrade = self._decidable(regrade_id)
            if regrade.base != self._submission_revision(regrade.student):
                raise StaleEdit(f"{regrade.student} was graded again after this regrade started; discard it and "
                                "regrade again")
            before = self.result(regrade.student).total
            if regrade.rubric is not None:
                self._bind_rubric_unlocked(regrade.rubric)
            self._write_result(regrade.proposed)
            after = self.result(regrade.student).total
            self.db.execute(
                "UPDATE regrades SET state = 'accepted', decided_by = ?, decided_at = ?, reason = ?, before_total = ?,"
                " after_total = ? WHERE id = ?", (by.strip(), _now(), reason.strip(), before, after, regrade_id),
            )
        return self.regrade(regrade_id)

    def discard_regrade(self, regrade_id: int, by: str) -> Regrade:
        with self._write_lock():
            self._decidable(regrade_id)
            self.db.execute("UPDATE regrades SET state = 'discarded', decided_by = ?, decided_at = ? WHERE id = ?",
                            (by.strip(), _now(), regrade_id))
        return self.regrade(regrade_id)

    def _decidable(self, regrade_id: int) -> Regrade:
        regrade = self.regrade(regrade_id)
        if regrade.state != "ready":
            who = f" by {regrade.decided_by} at {regrade.decided_at}" if regrade.decided_by else ""
            raise StaleEdit(f"regrade {regrade_id} of {regrade.student} is {regrade.state}{who}; nothing to decide")
        return regrade

    def _submission_revision(self, student: str) -> str:
        row = self.db.execute("SELECT graded_at, notebook_hash FROM submissions WHERE student = ?", (student,)).fetchone()
        if row is None:
            raise GradebookError(f"no submission {student!r} in {self.path}")
        return f"{row[0]}|{row[1]}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
