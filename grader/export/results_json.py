"""`results.json`: the contract of ../shared/design.md. Fields may be added;
the documented ones keep their meaning. Messages are the student-facing ones.

It is the staff's file: an item a TA scored or changed carries `manual`, with
`comment` (what the student was told) and `reason_staff_only` (never shown to
students: not on feedback pages, in Gradescope or in an LMS's feedback)."""

from __future__ import annotations

import json
from pathlib import Path

from grader.gradebook import RubricSummary
from grader.results import ManualScore, SubmissionResult


def results_document(rubric: RubricSummary, results: list[SubmissionResult]) -> dict:
    return {
        "rubric": {"id": rubric.id, "hash": rubric.hash},
        "assets": rubric.assets,  # real or synthetic weights and datasets: scores of trained networks depend on them
        "submissions": [
            {
                "student": result.student,
                "name": result.name,
                "student_id": result.student_id,
                "file": result.file,
                "status": result.status,
                "total": result.total,
                "max": result.max,
                "flags": result.flags,
                "error": result.error,
                "sandboxed": result.sandboxed,  # the bubblewrap sandbox ran
                "confinement": result.confinement,  # what ran: "sandbox", "uid" (its own uid, no namespaces) or "none"
                "lms": result.lms,
                "lms_user_id": result.lms_user_id,
                "name_in_file": result.name_in_file,
                "late": result.late,
                "submitted_at": result.submitted_at,
                "late_deduction": result.late_deduction,  # already taken off `total`
                "late_note": result.late_note,  # how late, how it was known, what it cost (the student's words)
                # What the notebook asked of the network and got instead (a substituted crawl and with which
                # images, cached and refused URLs, skipped sleeps); null when it asked nothing.
                "offline": result.offline.model_dump() if result.offline else None,
                "items": [
                    {
                        "id": item.id,
                        "points": item.points,
                        "max_points": item.max_points,
                        "status": item.status,
                        "message": item.message,
                        "evidence": item.evidence,
                        **({"manual": _manual(item.manual)} if item.manual else {}),
                    }
                    for item in result.items
                ],
            }
            for result in results
        ],
    }


def _manual(score: ManualScore) -> dict:
    return {"points": score.points, "kind": score.kind, "by": score.by, "at": score.at,
            "automatic_points": score.automatic_points, "comment": score.comment,
            "reason_staff_only": score.reason}


def write_results_json(path: Path, rubric: RubricSummary, results: list[SubmissionResult]) -> None:
    document = json.dumps(results_document(rubric, results), ensure_ascii=False, indent=2)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(document + "\n", encoding="utf-8")
    partial.replace(path)
