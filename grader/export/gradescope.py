"""Gradescope's `results.json` for one submission, graded inside Gradescope's autograder.

Fields and values follow Gradescope's autograder specification, "Output format",
"Controlling Test Case Visibility", "Test case status" and "Output String Formatting"
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, the source
docs/specs.md of github.com/gradescope/autograder_samples, January 2025):

- top level: `score` (overrides the sum of the tests), `execution_time` (seconds),
  `output` (rendered as `simple_format` by default: sanitised HTML, newlines kept),
  `stdout_visibility`, `extra_data` (stored, not shown to students), `tests`;
- a test: `score`, `max_score`, `status` ("passed" or "failed"), `name`, `number`,
  `output` (shown in a <pre>, as text), `visibility`; "You can omit score information to add
  test cases that serve as informational checks";
- visibility: "hidden", "after_due_date", "after_published" (once grades are published
  from "Review Grades") or "visible" (the default). While any test is hidden, students do
  not see their total score.

One test per rubric item, with two exceptions. An item whose checks are partly public (the
checks of form the students' self-check shows) and partly hidden is two tests: its public
checks, `visible` from the moment of submission, and its hidden ones, `after_published`.
An item a TA grades is an informational test without points, "to be graded": Gradescope
has no pending state, and the TA scores it in Gradescope's manual grading, a question beside
the autograder. So the tests' `max_score` add up to the points of the items without a TA,
which is what `grader gradescope build` tells the instructor to give the autograder.

A late deduction is a test of its own ("Late submission", a negative score, max 0) and a
line of the output, so that the tests a student sees add up to `score`.

Only what the student may see goes in: items' messages and a TA's comment to the student,
never checks' `detail` (the expected values of hidden items), hashes, the TA's notes or the
reason a TA gave for a score (staff only).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from grader.gradebook import RubricSummary
from grader.results import ItemResult, SubmissionResult, checks_line, student_flag_lines
from grader.rubric.models import LatePolicy
from grader.scoring import duration, with_late_policy

TO_BE_GRADED = ("to be graded by a TA in Gradescope's manual grading ({points:g} points, added to the autograder's "
                "score)")
LATE_TEST = "Late submission"
# Who decides what lateness costs inside Gradescope: the rubric's late policy, or Gradescope (nothing deducted here).
Lateness = Literal["rubric", "gradescope"]

# What ran, for the student, when it was not the grader's sandbox.
CONFINEMENT_LINES = {
    "uid": "Sandbox: none (this Gradescope container does not allow it). Your notebook ran as an unprivileged user "
           "of its own, which cannot read the grading files.",
    "none": "Sandbox: none. Your notebook ran unconfined, as the grader's own user, in a container that is thrown "
            "away after this submission.",
}


class GradescopeError(Exception):
    """Gradescope's files could not be read as expected; the message says which file and what is wrong."""


@dataclass(frozen=True)
class GradescopeSubmission:
    """The times /autograder/submission_metadata.json gives of this submission and its assignment."""

    created_at: str  # when it was submitted, as UTC ISO time (as the gradebook's `submitted_at`)
    due_date: datetime | None  # None: the assignment has none (its `late_due_date` only closes late submissions)


def read_submission_metadata(path: Path) -> GradescopeSubmission:
    """Gradescope's submission_metadata.json (https://gradescope-autograders.readthedocs.io/en/latest/
    submission_metadata/): `created_at` and `assignment.due_date`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        assignment = document.get("assignment") or {}
        created = _time(document["created_at"])
        return GradescopeSubmission(
            created_at=created.astimezone(timezone.utc).isoformat(timespec="seconds"),
            due_date=_time(assignment["due_date"]) if assignment.get("due_date") else None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise GradescopeError(f"{path}: not Gradescope's submission metadata as expected (created_at, "
                              f"assignment.due_date): {type(err).__name__}: {err}") from None


def _time(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return when


def with_gradescope_lateness(result: SubmissionResult, policy: LatePolicy, submission: GradescopeSubmission,
                             lateness: Lateness) -> SubmissionResult:
    """`result` with the lateness Gradescope's metadata shows. lateness "rubric": the rubric's late policy, measured
    from the submission's `created_at`, against the rubric's deadline or else the assignment's `due_date` in
    Gradescope. "gradescope": nothing is deducted here, and a late submission is told so."""
    earned = result.total + result.late_deduction  # before any deduction the gradebook applied
    on_time = result.model_copy(update={"submitted_at": submission.created_at, "total": earned, "late_deduction": 0.0,
                                        "late_note": None})
    if lateness == "gradescope":
        due = submission.due_date
        late_by = (datetime.fromisoformat(submission.created_at) - due).total_seconds() if due else 0
        if late_by <= 0:
            return on_time
        return on_time.model_copy(update={"late_note": (
            f"late: submitted {submission.created_at}, {duration(late_by)} after Gradescope's due date; this "
            "autograder deducts nothing for it: the course's Gradescope settings decide what lateness costs")})
    if policy.deadline is None and submission.due_date is not None:
        policy = policy.model_copy(update={"deadline": submission.due_date})
    return with_late_policy(on_time, policy)


def gradescope_results(rubric: RubricSummary, result: SubmissionResult) -> dict:
    """The results.json document; `result` has manual scores and the late deduction applied already (as the
    gradebook reads it, or `with_gradescope_lateness` made it)."""
    items = {item.id: item for item in result.items}
    tests = [test for entry in rubric.items for test in _tests(entry, items.get(entry["id"]), result)]
    if result.late_deduction:
        tests.append({"name": LATE_TEST, "score": -result.late_deduction, "max_score": 0.0, "status": "failed",
                      "output": result.late_note or "", "visibility": "visible"})
    return {
        "score": result.total,
        "execution_time": round(result.seconds),
        # simple_format renders HTML: "<module>" stays text
        "output": html.escape(summary(rubric, result), quote=False),
        "output_format": "simple_format",
        "stdout_visibility": "hidden",  # the grader's console output is for the instructor
        "extra_data": {"confinement": result.confinement},
        "tests": tests,
    }


def summary(rubric: RubricSummary, result: SubmissionResult) -> str:
    """What the student reads above the tests: whether the notebook was graded and what got in its way, what ran it,
    lateness. Never the total: it would reveal the scores of items hidden until grades are published."""
    if result.status == "error":
        lines = [f"Your notebook could not be graded: {result.error or 'see the items below'}"]
    else:
        lines = ["Your notebook ran and was graded."]
    waiting = [entry for entry in rubric.items if _to_be_graded(entry, next(
        (item for item in result.items if item.id == entry["id"]), None))]
    if waiting:
        lines.append(f"To be graded by a TA: {', '.join(entry['id'] for entry in waiting)} "
                     f"({sum(entry['points'] for entry in waiting):g} points, added to the autograder's score in "
                     "Gradescope's manual grading).")
    lines += student_flag_lines(result.flags)
    if result.late_note:
        lines.append(f"{result.late_note[0].upper()}{result.late_note[1:]}."
                     + (" The score is after it." if result.late_deduction else ""))
    if result.confinement in CONFINEMENT_LINES:
        lines.append(CONFINEMENT_LINES[result.confinement])
    return "\n".join(lines)


def _to_be_graded(entry: dict, item: ItemResult | None) -> bool:
    """A TA's item that no TA has scored yet (inside Gradescope, always: its TAs grade in Gradescope)."""
    return "manual" in entry["kinds"] and (item is None or item.manual is None)


def _tests(entry: dict, item: ItemResult | None, result: SubmissionResult) -> list[dict]:
    """The item's test; two when some of its checks are public and some hidden (the public ones shown on
    submission); an informational one while a TA has yet to grade it. `item` is None when a submission that could
    not be graded has no result for it."""
    test = {"number": entry["id"], "name": f"{entry['id']} {entry['title']}"}
    if entry.get("void_points"):  # the same for everyone: its points as the rubric says, or none of a removed one
        return [_scored(test, float(entry["points"]), float(entry["points"]),
                        item.message if item is not None else "withdrawn by the instructor (void)", "visible")]
    if _to_be_graded(entry, item):
        return [{**test, "output": TO_BE_GRADED.format(points=entry["points"]), "visibility": "visible"}]
    if item is not None and item.manual is not None:  # a TA's score covers the whole item: shown once published
        return [_scored(test, item.points, float(entry["points"]), _item_output(item), "after_published")]
    checks = entry.get("checks") or [{"name": "", "points": entry["points"], "visibility": entry["visibility"]}]
    parts = [(part, indices, shown) for part, shown in (("public", "visible"), ("hidden", "after_published"))
             if (indices := [index for index, spec in enumerate(checks)
                             if (spec["visibility"] == "public") == (part == "public")])]
    ran = item.checks if item is not None and len(item.checks) == len(checks) else None  # None: not checked
    tests = []
    for part, indices, shown in parts:
        if item is None:
            score, output = 0.0, f"not graded: {result.error or 'no result'}"
        elif len(parts) == 1:
            score, output = item.points, _item_output(item)
        elif ran is not None:
            score, output = sum(ran[index].points for index in indices), checks_line([ran[index] for index in indices])
        else:
            score, output = 0.0, item.message
        named = test if len(parts) == 1 else {**test, "name": f"{test['name']} ({part} checks)"}
        tests.append(_scored(named, score, float(sum(checks[index]["points"] for index in indices)), output, shown))
    return tests


def _scored(test: dict, score: float, max_score: float, output: str, visibility: str) -> dict:
    return {**test, "score": score, "max_score": max_score, "status": "passed" if score >= max_score else "failed",
            "output": output, "visibility": visibility}


def _item_output(item: ItemResult) -> str:
    """The item's message, with the TA's comment to the student (never the reason) when a TA scored it. A
    manual item's message is the staff's (it names the TA), so the comment replaces it."""
    if item.manual is None:
        return item.message
    scored = "graded by a TA" + (f": {item.manual.comment}" if item.manual.comment else "")
    return scored if item.manual.kind == "manual" else f"{item.message}\n{scored} (changed from the automatic score)"


def write_gradescope_results(path: Path, rubric: RubricSummary, result: SubmissionResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = json.dumps(gradescope_results(rubric, result), ensure_ascii=False, indent=2)
    path.write_text(document + "\n", encoding="utf-8")
