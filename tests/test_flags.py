"""Flags are one vocabulary (grader/results.py): every flag a module raises is in it, with what it tells the student."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from grader.results import (
    FLAG_STUDENT_WORDING,
    Flag,
    SubmissionResult,
    student_flag_lines,
)

GRADER = Path(__file__).resolve().parent.parent / "grader"


def raised_flags() -> dict[str, set[str]]:
    """Each flag the grader's code appends to a list named `flags` -> the modules that do."""
    raised: dict[str, set[str]] = {}
    for path in GRADER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "flags"):
                (flag,) = node.args
                assert isinstance(flag, ast.Constant), f"{path}:{node.lineno}: a flag that is not a literal"
                raised.setdefault(flag.value, set()).add(str(path.relative_to(GRADER)))
    return raised


def test_the_vocabulary_is_every_flag_the_code_raises():
    assert raised_flags() == {
        "timeout": {"grading.py"}, "kernel-died": {"grading.py"}, "memory-limit": {"grading.py"},
        "process-limit": {"grading.py"}, "disk-limit": {"grading.py"}, "cpu-fallback": {"grading.py"},
        "crawl-substituted": {"grading.py"},
        "integrity": {"grading.py"}, "evidence-error": {"grading.py"}, "no-sandbox": {"grading.py"},
        "uid-only": {"grading.py"}, "several-notebooks": {"submission.py"}, "no-student-id": {"submission.py"},
        "ambiguous-student-id": {"submission.py"}, "duplicate-id": {"submission.py"},
    }
    assert set(get_args(Flag)) == set(raised_flags()) == set(FLAG_STUDENT_WORDING)


def test_a_result_with_a_flag_outside_the_vocabulary_is_refused():
    fields = {"student": "1", "file": "a.ipynb", "status": "graded", "total": 0, "max": 10, "items": [],
              "notebook_hash": "sha256:n", "rubric_hash": "sha256:r"}
    assert SubmissionResult(**fields, flags=list(get_args(Flag))).flags == list(get_args(Flag))
    with pytest.raises(ValidationError, match="flags.0"):
        SubmissionResult(**fields, flags=["late"])


def test_what_each_flag_tells_the_student():
    assert {flag: wording for flag, wording in FLAG_STUDENT_WORDING.items() if wording is not None} == {
        "timeout": "A cell ran past its time limit and was stopped.",
        "kernel-died": "Python stopped (the kernel died) before the end of the notebook; the cells after that did not "
                       "run.",
        "memory-limit": "The notebook used more memory than it is allowed; a process was stopped.",
        "process-limit": "The notebook started more processes or threads than it is allowed; the extra ones were "
                         "refused.",
        "disk-limit": "The notebook wrote more to disk than it is allowed.",
        "cpu-fallback": "This grader has no GPU: the notebook's .cuda() and .to('cuda') calls ran on the CPU instead.",
        "crawl-substituted": "The grader runs notebooks without internet access: your image searches and downloads "
                             "were answered with the grader's own images, one class per keyword, and your code ran on "
                             "those.",
        "several-notebooks": "The submission holds several notebooks; the newest one was graded.",
    }
    # In the flags' order, each once, and nothing of the staff's flags.
    assert student_flag_lines(["integrity", "several-notebooks", "timeout", "no-sandbox", "several-notebooks"]) == [
        "The submission holds several notebooks; the newest one was graded.",
        "A cell ran past its time limit and was stopped.",
    ]
