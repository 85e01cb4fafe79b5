"""Gradescope's `results.json` for one submission, graded inside Gradescope's autograder.

Fields and values follow Gradescope's autograder specification, "Output format",
"Controlling Test Case Visibility", "Test case status" and "Output String Formatting"
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, the source
docs/specs.md of github.com/gradescope/autograder_samples, January 2025):

- top level: `score` (overrides the sum of the tests), `execution_time` (seconds),
  `output` (rendered as `simple_format` by default: sanitised HTML, newlines kept),
  `stdout_visibility`, `tests`;
- a test: `score`, `max_score`, `status` ("passed" or "failed"), `name`, `number`,
  `output` (shown in a <pre>, as text), `visibility`;
- visibility: "hidden", "after_due_date", "after_published" (once grades are published
  from "Review Grades") or "visible" (the default).

One test per rubric item. Only what the student may see goes in: items' messages and a TA's
comment to the student, never checks' `detail` (the expected values of hidden items), hashes,
the TA's notes or the reason a TA gave for a score (staff only). The spec
also says that while any test is hidden, students do not see their total score: so a
rubric with hidden items shows its total once grades are published.

Gradescope has no pending state for a test. A free-text item waiting for a TA is reported
as failed with 0 points, visible only once grades are published, and scored in
Gradescope's own manual grading (a question beside the autograder); give the
assignment's autograder as many points as the rubric's items without them.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from grader.gradebook import RubricSummary
from grader.results import ItemResult, SubmissionResult

WAITING_FOR_TA = "waiting for a TA to grade this answer (scored in Gradescope's manual grading)"

# What a flag means for the student. Flags that are not listed (integrity, evidence-error,
# no-student-id, ambiguous-student-id, duplicate-id) are for the TA, or mean nothing inside Gradescope.
STUDENT_FLAGS = {
    "timeout": "A cell ran past its time limit and was stopped.",
    "kernel-died": "Python stopped (the kernel died) before the end of the notebook; the cells after that did not run.",
    "memory-limit": "The notebook used more memory than it is allowed; a process was stopped.",
    "process-limit": "The notebook started more processes or threads than it is allowed; the extra ones were refused.",
    "disk-limit": "The notebook wrote more to disk than it is allowed.",
    "cpu-fallback": "This grader has no GPU: the notebook's .cuda() and .to('cuda') calls ran on the CPU instead.",
    "several-notebooks": "The submission holds several notebooks; the newest one was graded.",
}


def gradescope_results(rubric: RubricSummary, result: SubmissionResult) -> dict:
    """The results.json document; `result` has manual scores applied already (as the gradebook reads it)."""
    items = {item.id: item for item in result.items}
    return {
        "score": result.total,
        "execution_time": round(result.seconds),
        "output": html.escape(summary(result), quote=False),  # simple_format renders HTML: "<module>" stays text
        "output_format": "simple_format",
        "stdout_visibility": "hidden",  # the grader's console output is for the instructor
        "tests": [_test(entry, items.get(entry["id"]), result) for entry in rubric.items],
    }


def summary(result: SubmissionResult) -> str:
    """What the student reads above the tests: whether the notebook was graded and what got in its way.
    Never the total: it would reveal the scores of items hidden until grades are published."""
    if result.status == "error":
        lines = [f"Your notebook could not be graded: {result.error or 'see the items below'}"]
    else:
        lines = ["Your notebook ran and was graded."]
        waiting = sum(item.status == "manual" for item in result.items)
        if waiting:
            lines.append(f"{waiting} answer(s) are graded by a TA.")
    lines += [STUDENT_FLAGS[flag] for flag in result.flags if flag in STUDENT_FLAGS]
    if not result.sandboxed:
        lines.append("This Gradescope container could not run the grader's sandbox, so the notebook ran without it; "
                     "the container is thrown away after this submission.")
    return "\n".join(lines)


def _test(entry: dict, item: ItemResult | None, result: SubmissionResult) -> dict:
    max_score = float(entry["points"])
    test = {"number": entry["id"], "name": f"{entry['id']} {entry['title']}", "max_score": max_score}
    if item is None:  # a submission that could not be graded may have no result for the item
        return {**test, "score": 0.0, "status": "failed", "output": f"not graded: {result.error or 'no result'}",
                "visibility": "after_published"}
    if item.status == "manual":
        return {**test, "score": 0.0, "status": "failed", "output": WAITING_FOR_TA, "visibility": "after_published"}
    return {**test, "score": item.points, "status": "passed" if item.points >= max_score else "failed",
            "output": _item_output(item),
            "visibility": "visible" if entry["visibility"] == "public" else "after_published"}


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
