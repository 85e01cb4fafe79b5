"""Decide what goes into an LMS grade file: who each result is on the roster, and which score, if any.

The writers in grader/lms/export.py only write what is decided here. A score is the gradebook's total (manual
scores and late deductions applied); it is withheld while a TA still has items to grade (unless the TA asks for
partial totals), when the grader itself failed on the submission, and when the grader refused it (not a notebook,
a refused zip, a notebook that cannot be read): a person looks at those first, and the LMS keeps what it has
unless the TA asks for 0. Students on the roster without a submission are exported without a score, or with 0 when
the TA asks. Such a 0 never replaces a grade the LMS already has (a makeup exam entered by hand, `EX`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from grader.lms.export import ExportRow
from grader.lms.roster import Roster, RosterEntry, RosterMatch, SubmitterKeys, canvas_user_id, match_roster
from grader.results import SubmissionResult
from grader.scoring import waiting_for_ta

NO_SUBMISSION = "no submission"


@dataclass(frozen=True)
class ExportChoices:
    partial: bool = False  # export the total so far while manual items are pending
    missing_zero: bool = False  # students on the roster without a submission get 0 where the LMS has no grade
    refused_zero: bool = False  # submissions the grader refused get 0 where the LMS has no grade


def submitter_keys(result: SubmissionResult) -> SubmitterKeys:
    return SubmitterKeys.of(key=result.student, name=result.name, student_id=result.student_id, lms=result.lms,
                            lms_user_id=result.lms_user_id)


def match_results(roster: Roster, results: list[SubmissionResult]) -> RosterMatch:
    return match_roster(roster, [submitter_keys(result) for result in results])


def needs_attention(result: SubmissionResult) -> str | None:
    """Why a person must look at a submission before its grade goes to the LMS, or None: the grader refused it, or
    failed on it (then it is graded again on the next run)."""
    if result.status != "error":
        return None
    return result.error if result.retry else f"the grader refused it: {result.error}"


def export_rows(results: list[SubmissionResult], roster: Roster | None, choices: ExportChoices,
                feedback: Callable[[SubmissionResult], str]) -> list[ExportRow]:
    """One row per result, then one per student on the roster with no submission."""
    if roster is None:
        entries: dict[str, RosterEntry | None] = {result.student: _entry_of(result) for result in results}
        missing: tuple[RosterEntry, ...] = ()
    else:
        match = match_results(roster, results)
        entries = {result.student: match.matched.get(result.student) for result in results}
        missing = match.missing
    rows = [
        ExportRow(entry=entries[result.student], student_key=result.student, name=result.name or result.student,
                  student_id=result.student_id, score=score_of(result, choices), feedback=feedback(result),
                  only_if_ungraded=result.status == "error", attention=needs_attention(result))
        for result in results
    ]
    rows += [
        ExportRow(entry=entry, student_key=f"roster line {entry.row}", name=entry.name, student_id=entry.student_id,
                  score=0.0 if choices.missing_zero else None, feedback=NO_SUBMISSION, only_if_ungraded=True)
        for entry in missing
    ]
    return rows


def score_of(result: SubmissionResult, choices: ExportChoices) -> float | None:
    if result.retry:  # the grader failed, not the student: nothing to export until it is graded again
        return None
    if result.status == "error":  # refused: a person decides, the LMS keeps what it has unless asked for 0
        return 0.0 if choices.refused_zero else None
    if not choices.partial and waiting_for_ta(result.items):
        return None
    return result.total


def _entry_of(result: SubmissionResult) -> RosterEntry:
    """Without a roster, a result is its own entry: what its file name said about its author."""
    return RosterEntry(name=result.name or result.student, student_id=result.student_id,
                       lms_user_id=canvas_user_id(result.lms, result.lms_user_id), login=None, email=None,
                       section=None, row=0, lms="canvas")
