"""Grade a folder into a gradebook, then write every output from the gradebook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.export import write_results_json
from grader.gradebook import Gradebook, RubricSummary
from grader.grading import Grader
from grader.report import write_reports
from grader.results import SubmissionResult
from grader.rubric import LoadedRubric
from grader.submission import Submission

EXECUTED_DIR = "executed"
RESULTS_FILE = "results.json"
GRADEBOOK_FILE = "gradebook.sqlite"


@dataclass
class BatchOutcome:
    graded: int = 0
    skipped: int = 0
    errors: int = 0
    flagged: list[str] = field(default_factory=list)


def rubric_summary(rubric: LoadedRubric) -> RubricSummary:
    spec = rubric.spec
    return RubricSummary(
        id=spec.id, title=spec.title, hash=rubric.hash, total=spec.total,
        items=[{"id": item.id, "title": item.title, "points": item.points, "visibility": item.visibility,
                "kinds": [check.kind for check in item.checks]} for item in spec.items],
    )


def grade_submissions(
    submissions: list[Submission],
    grader: Grader,
    gradebook: Gradebook,
    out: Path,
    force: bool = False,
    on_done: Callable[[Submission, SubmissionResult | None], None] = lambda submission, result: None,
) -> BatchOutcome:
    """Grade what is new or changed; each submission is stored as soon as it is graded."""
    outcome = BatchOutcome()
    executed_dir = out / EXECUTED_DIR
    executed_dir.mkdir(parents=True, exist_ok=True)
    for submission in submissions:
        if not force and gradebook.is_current(submission.key, submission.content_hash, grader.rubric.hash,
                                                 sandboxed=grader.sandboxed):
            outcome.skipped += 1
            on_done(submission, None)
            continue
        try:
            result, executed = grader.grade(submission)
        except Exception as err:  # a grader bug on one file must not cost the rest of the batch
            result, executed = grader.failed(submission, err), None
        if executed is not None:
            _write_notebook(executed_dir / f"{submission.key}.ipynb", executed)
        gradebook.store(result)
        outcome.graded += 1
        outcome.errors += result.status == "error"
        if result.flags:
            outcome.flagged.append(submission.key)
        on_done(submission, result)
    return outcome


def write_outputs(out: Path, gradebook: Gradebook) -> list[SubmissionResult]:
    """results.json and the HTML reports, from the gradebook (manual scores applied)."""
    rubric = gradebook.rubric()
    assert rubric is not None, "a gradebook gets its rubric before any result"
    results = gradebook.results()
    out.mkdir(parents=True, exist_ok=True)
    write_results_json(out / RESULTS_FILE, rubric, results)
    write_reports(out, rubric, results, {result.student: gradebook.history(result.student) for result in results})
    return results


def _write_notebook(path: Path, nb: nbformat.NotebookNode) -> None:
    partial = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, partial)
    partial.replace(path)
