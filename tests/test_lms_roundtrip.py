"""From the graded samples to the files Canvas, Moodle and Gradescope import, and feedback students may keep.

Uses the session's graded copy of the sample submissions and the realistic LMS files in tests/lms/ (a Canvas
gradebook export, a Moodle participants export, a plain roster): ids 2022001-2022005 are on the rosters.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_cli

LMS = Path(__file__).parent / "lms"
REFERENCE_NUMBERS = ["15.7290", "15.729", "14.7198", "4.9000", "9.9000", "4.5006", "9.5008", "2.4925", "3.9607"]


@pytest.fixture(scope="module")
def out(tmp_path_factory, graded, cache_dir) -> Path:
    """The graded samples, with 2.5 scored by a TA for 2022001 and 2022002 (the others still wait)."""
    folder = tmp_path_factory.mktemp("lms") / "out"
    shutil.copytree(graded, folder)
    run_cli("set", "2022001", "2.5", "6", "--by", "TA Lee", "--comment", "정확함", "--out", str(folder),
            env_cache=cache_dir)
    run_cli("set", "2022002", "2.5", "4.5", "--by", "TA Lee", "--comment", "볼록성 언급 없음", "--out", str(folder),
            env_cache=cache_dir)
    return folder


def totals(out: Path) -> dict[str, float]:
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {s["student"]: s["total"] for s in document["submissions"]}


def read_csv(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding=encoding), newline="")))


def test_canvas_gradebook_export_comes_back_with_the_exam_column_filled(out, cache_dir):
    done = run_cli("export", "--format", "canvas", "--roster", str(LMS / "canvas_gradebook.csv"), "--out", str(out),
                   env_cache=cache_dir)
    written, given = read_csv(out / "canvas-import.csv"), read_csv(LMS / "canvas_gradebook.csv")
    column = given[0].index("Midterm (12345)")
    total = totals(out)
    assert total["2022001"] == 50 and total["2022002"] == 36.5
    assert [row[column] for row in written] == ["Midterm (12345)", "100.00", "Manual Posting", "50", "36.5", "", "", "",
                                                 ""]
    # every other cell as Canvas wrote it
    assert [row[:column] + row[column + 1:] for row in written] == [row[:column] + row[column + 1:] for row in given]
    assert "left out 2022003: no score: its cell is left empty, so Canvas keeps the grade it has" in done.stderr
    assert "left out 2022006: matched no one on the roster" in done.stderr
    assert done.stderr.startswith(f"wrote {out / 'canvas-import.csv'}: 2 student(s)")


def test_partial_totals_and_missing_students_as_the_ta_asks(out, cache_dir):
    run_cli("export", "--format", "canvas", "--roster", str(LMS / "canvas_gradebook.csv"), "--partial",
            "--out", str(out), "--to", str(out / "partial.csv"), env_cache=cache_dir)
    total = totals(out)
    written = read_csv(out / "partial.csv")
    column = written[0].index("Midterm (12345)")
    assert [row[column] for row in written[3:8]] == [f"{total[f'202200{n}']:g}" for n in range(1, 6)]

    roster = out.parent / "roster.csv"
    shutil.copy2(LMS / "plain_roster.csv", roster)
    with roster.open("a", encoding="utf-8", newline="") as stream:
        stream.write("2022099,한결석,absent@univ.ac.kr,02\r\n")
    for args, cell in (([], ""), (["--missing-zero"], "0")):
        run_cli("export", "--format", "canvas", "--roster", str(roster), *args, "--column", "Midterm",
                "--out", str(out), "--to", str(out / "minimal.csv"), env_cache=cache_dir)
        rows = read_csv(out / "minimal.csv")
        assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Midterm"]
        assert rows[1] == ["    Points Possible", "", "", "", "", "100"]
        assert rows[2] == ["김민준", "", "2022001", "", "01", "50"]
        assert rows[-1] == ["한결석", "", "2022099", "", "02", cell]


def test_moodle_grades_and_feedback_files(out, cache_dir):
    done = run_cli("export", "--format", "moodle", "--roster", str(LMS / "moodle_participants.csv"), "--bom",
                   "--out", str(out), "--feedback-zip", str(out / "feedback.zip"), env_cache=cache_dir)
    assert (out / "moodle-grades.csv").read_bytes().startswith("\ufeff".encode())
    rows = read_csv(out / "moodle-grades.csv", encoding="utf-8-sig")
    assert rows[0] == ["ID number", "Full name", "Grade", "Feedback"]
    assert [row[:3] for row in rows[1:]] == [["2022001", "김민준", "50"], ["2022002", "이서연", "36.5"]]
    assert "2.5 (6/6)" in rows[1][3] and "Total: 50/100" in rows[1][3]
    for number in REFERENCE_NUMBERS:
        assert number not in rows[1][3] + rows[2][3]
    # the samples came as plain files, not from a Moodle download: no participant ids to name feedback files by
    assert "feedback.zip" in done.stderr


def test_gradescope_results_follow_the_spec(out, cache_dir):
    run_cli("export", "--format", "gradescope", "--out", str(out), env_cache=cache_dir)
    document = json.loads((out / "gradescope" / "2022004.json").read_text(encoding="utf-8"))
    assert set(document) == {"score", "execution_time", "output", "output_format", "stdout_visibility", "tests"}
    assert document["score"] == totals(out)["2022004"]
    tests = {test["number"]: test for test in document["tests"]}
    assert list(tests) == ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "2.5",
                           *[f"3.{n}" for n in range(1, 11)]]
    for test in tests.values():
        assert set(test) == {"number", "name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] == "after_published"  # every midterm item is hidden
    text = json.dumps(document, ensure_ascii=False)
    for number in REFERENCE_NUMBERS:
        assert number not in text


def test_feedback_pages_of_every_sample_give_nothing_away(out, cache_dir):
    done = run_cli("feedback", "--out", str(out), env_cache=cache_dir)
    pages = sorted((out / "feedback").glob("*.html"))
    assert done.stderr.strip() == f"wrote {len(pages)} feedback page(s) in {out / 'feedback'}" and len(pages) == 20
    guidance = "The last gradient is close to 0"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for secret in (*REFERENCE_NUMBERS, guidance, "integrity"):
            assert secret not in text, (page.name, secret)
        assert not re.search(r"\bkey\b", text), page.name
    first = (out / "feedback" / "2022001.html").read_text(encoding="utf-8")
    assert "김민준" in first and "정확함" in first and "50 / 100" in first
