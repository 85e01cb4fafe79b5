"""SQLite gradebook: one row per submission and per submission x item.

Each submission is written in one transaction, so a grader killed mid-batch
loses at most the submission in flight. Manual scores and overrides are
kept as a history (who, when, why) and the latest one for the current
version of the notebook is applied whenever results are read.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from grader.results import CellRun, ItemResult, ManualScore, SubmissionResult
from grader.late import late_deduction
from grader.rubric.models import LatePolicy

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
    lms_user_id TEXT, login TEXT, late INTEGER NOT NULL DEFAULT 0, submitted_at TEXT
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
    kind TEXT NOT NULL, automatic_points REAL, notebook_hash TEXT NOT NULL
);
"""

# Columns of `submissions` that older gradebooks lack, added when one is opened: name -> definition.
_LATER_COLUMNS = {
    "sandboxed": "INTEGER NOT NULL DEFAULT 1",  # before the sandbox existed
    "lms_user_id": "TEXT", "login": "TEXT", "late": "INTEGER NOT NULL DEFAULT 0",  # before LMS downloads were read
    "submitted_at": "TEXT",
}
_SUBMISSION_COLUMNS = ("student", "name", "student_id", "file", "status", "max_points", "flags", "notes", "error",
                       "notebook_hash", "rubric_hash", "cells", "seconds", "graded_at", "retry", *_LATER_COLUMNS)
_DETAIL_FIELDS = ("checks", "answer", "printed", "stored_printed", "cells", "figures")


class GradebookError(Exception):
    """A request the gradebook cannot honour; the message says what to do."""


class RubricSummary(BaseModel):
    """What reports need of the rubric, stored so `grader report` needs only the gradebook."""

    id: str
    title: str
    hash: str
    total: float
    items: list[dict]  # id, title, points, visibility, kinds
    assets: str = ""  # which model weights and datasets kernels had: real ones or synthetic stand-ins
    late: LatePolicy = LatePolicy()  # applied when results are read, like manual scores


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
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(submissions)")}
        with self.db:
            for name, definition in _LATER_COLUMNS.items():
                if name not in columns:
                    self.db.execute(f"ALTER TABLE submissions ADD COLUMN {name} {definition}")

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
            raise GradebookError(f"{self.path} holds grades for rubric {current.id!r}, not {summary.id!r}; "
                                 "grade into another --out folder or pass another --gradebook")
        with self.db:
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

    # -- automatic results ------------------------------------------------------------

    def is_current(self, student: str, notebook_hash: str, rubric_hash: str, sandboxed: bool = True) -> bool:
        """Graded already from this very notebook and rubric (not after an environment failure, and
        sandboxed if this run is: a --no-sandbox grade never stands in for a sandboxed one)."""
        row = self.db.execute(
            "SELECT 1 FROM submissions WHERE student = ? AND notebook_hash = ? AND rubric_hash = ? AND retry = 0"
            " AND sandboxed >= ?",
            (student, notebook_hash, rubric_hash, int(sandboxed)),
        ).fetchone()
        return row is not None

    def store(self, result: SubmissionResult) -> None:
        with self.db:  # one transaction: the submission and all its items, or nothing
            self.db.execute("DELETE FROM item_results WHERE student = ?", (result.student,))
            self.db.execute(
                f"INSERT OR REPLACE INTO submissions ({', '.join(_SUBMISSION_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(_SUBMISSION_COLUMNS))})",
                (result.student, result.name, result.student_id, result.file, result.status, result.max,
                 json.dumps(result.flags, ensure_ascii=False), json.dumps(result.notes, ensure_ascii=False),
                 result.error, result.notebook_hash, result.rubric_hash,
                 json.dumps([cell.model_dump() for cell in result.cells]), result.seconds, result.graded_at,
                 int(result.retry), int(result.sandboxed), result.lms_user_id, result.login, int(result.late),
                 result.submitted_at),
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
            " cells, seconds, graded_at, retry, sandboxed, lms_user_id, login, late, submitted_at"
            " FROM submissions WHERE student = ?", (student,),
        ).fetchone()
        if row is None:
            raise GradebookError(f"no submission {student!r} in {self.path}; known: {', '.join(self.students()) or 'none'}")
        (name, student_id, file, status, max_points, flags, notes, error, notebook_hash, rubric_hash,
         cells, seconds, graded_at, retry, sandboxed, lms_user_id, login, late, submitted_at) = row
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
            flags=json.loads(flags), notes=json.loads(notes), error=error, items=items,
            notebook_hash=notebook_hash, rubric_hash=rubric_hash,
            cells=[CellRun(**cell) for cell in json.loads(cells)], seconds=seconds, graded_at=graded_at,
            retry=bool(retry), sandboxed=bool(sandboxed), lms_user_id=lms_user_id, login=login, late=bool(late),
            submitted_at=submitted_at,
        )
        self._apply_manual_scores(result)
        self._apply_late_policy(result)
        return result

    def _apply_late_policy(self, result: SubmissionResult) -> None:
        rubric = self.rubric()
        deduction = late_deduction(rubric.late, result.late, result.submitted_at, result.total, result.max) \
            if rubric else None
        if deduction is not None:
            result.late_deduction, result.late_note = deduction.points, deduction.note
            result.total -= deduction.points

    def _apply_manual_scores(self, result: SubmissionResult) -> None:
        stale = []
        for item in result.items:
            latest = self.db.execute(
                "SELECT points, comment, by, at, kind, automatic_points, notebook_hash FROM manual_scores"
                " WHERE student = ? AND item = ? ORDER BY id DESC LIMIT 1", (result.student, item.id),
            ).fetchone()
            if latest is None:
                continue
            points, comment, by, at, kind, automatic_points, notebook_hash = latest
            if notebook_hash != result.notebook_hash:
                stale.append(item.id)
                continue
            item.manual = ManualScore(points=points, comment=comment, by=by, at=at, kind=kind,
                                      automatic_points=automatic_points)
            item.points = points
            item.status = "pass" if points >= item.max_points else "partial" if points > 0 else "fail"
        if stale:
            result.notes.append(f"manual scores for item(s) {', '.join(stale)} were given to an earlier version "
                                "of this notebook and are not applied; grade them again")
        result.total = sum(item.points for item in result.items)
        if result.status == "needs-review" and "integrity" not in result.flags and not any(
            item.status == "manual" for item in result.items
        ):
            result.status = "graded"

    def history(self, student: str) -> list[dict]:
        rows = self.db.execute(
            "SELECT item, points, comment, by, at, kind, automatic_points FROM manual_scores WHERE student = ?"
            " ORDER BY id", (student,),
        ).fetchall()
        keys = ("item", "points", "comment", "by", "at", "kind", "automatic_points")
        return [dict(zip(keys, row)) for row in rows]

    # -- manual scores ----------------------------------------------------------------

    def set_score(self, student: str, item_id: str, points: float, comment: str, by: str) -> ManualScore:
        current = self.result(student)
        item = next((item for item in current.items if item.id == item_id), None)
        if item is None:
            raise GradebookError(f"no item {item_id!r}; items are {', '.join(i.id for i in current.items)}")
        if not 0 <= points <= item.max_points:
            raise GradebookError(f"item {item_id} is worth 0 to {item.max_points:g} points, not {points:g}")
        if not by.strip():
            raise GradebookError("say who is grading (--by NAME)")
        pending = item.status == "manual" or (item.manual is not None and item.manual.kind == "manual")
        kind = "manual" if pending else "override"
        if kind == "override" and not comment.strip():
            raise GradebookError(f"item {item_id} was graded automatically ({item.points:g}/{item.max_points:g}); "
                                 "overriding it needs a reason (--comment)")
        automatic = None if pending else self._automatic_points(student, item_id)
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.db:
            self.db.execute(
                "INSERT INTO manual_scores (student, item, points, comment, by, at, kind, automatic_points, notebook_hash)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (student, item_id, points, comment, by.strip(), at, kind, automatic, current.notebook_hash),
            )
        return ManualScore(points=points, comment=comment, by=by.strip(), at=at, kind=kind, automatic_points=automatic)

    def _automatic_points(self, student: str, item_id: str) -> float:
        row = self.db.execute("SELECT points FROM item_results WHERE student = ? AND item = ?", (student, item_id)).fetchone()
        return float(row[0])
