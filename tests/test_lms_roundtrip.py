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

from tests.conftest import problems_2_and_3_rubric, run_cli

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
    refused = run_cli("export", "--format", "canvas", "--roster", str(LMS / "canvas_gradebook.csv"),
                      "--out", str(out), env_cache=cache_dir, check=False)
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"error: {LMS / 'canvas_gradebook.csv'}: line 1: 2 assignment columns ('Assignment 1 (12001)', "
        "'Midterm (12345)'); name the exam's column (--column)")
    done = run_cli("export", "--format", "canvas", "--roster", str(LMS / "canvas_gradebook.csv"),
                   "--column", "Midterm (12345)", "--out", str(out), env_cache=cache_dir)
    written, given = read_csv(out / "canvas-import.csv"), read_csv(LMS / "canvas_gradebook.csv")
    column = given[0].index("Midterm (12345)")
    total = totals(out)
    assert total["2022001"] == 50 and total["2022002"] == 48.5  # the TA's 6 and 4.5 for 2.5 included
    # 2022003-2022005 still wait for a TA: their cells as Canvas wrote them (Park's 61.00, 정하은's 92.00)
    assert [row[column] for row in written] == ["Midterm (12345)", "100.00", "Manual Posting", "50.00", "48.50",
                                                 "61.00", "", "92.00", ""]
    # every other cell as Canvas wrote it
    assert [row[:column] + row[column + 1:] for row in written] == [row[:column] + row[column + 1:] for row in given]
    assert "left out 2022003 (Park, Jiwoo): no score: its cell is left as it was, so the LMS keeps the grade it " \
           "has" in done.stderr
    assert "left out 2022006 (강하은): matched no one on the roster" in done.stderr
    assert done.stderr.startswith(f"wrote {out / 'canvas-import.csv'}: 2 student(s)")


def test_partial_totals_and_missing_students_as_the_ta_asks(out, cache_dir):
    run_cli("export", "--format", "canvas", "--roster", str(LMS / "canvas_gradebook.csv"), "--partial",
            "--column", "Midterm (12345)", "--out", str(out), "--to", str(out / "partial.csv"), env_cache=cache_dir)
    total = totals(out)
    written = read_csv(out / "partial.csv")
    column = written[0].index("Midterm (12345)")
    assert [row[column] for row in written[3:8]] == [f"{total[f'202200{n}']:.2f}" for n in range(1, 6)]

    roster = out.parent / "roster.csv"
    shutil.copy2(LMS / "plain_roster.csv", roster)
    with roster.open("a", encoding="utf-8", newline="") as stream:
        stream.write("2022099,한결석,absent@univ.ac.kr,02\r\n")
    for args, last in (([], ["이서연", "", "2022002", "", "01", "48.5"]),  # the others wait for a TA: left out
                       (["--missing-zero"], ["한결석", "", "2022099", "", "02", "0"])):
        run_cli("export", "--format", "canvas", "--roster", str(roster), *args, "--column", "Midterm",
                "--out", str(out), "--to", str(out / "minimal.csv"), env_cache=cache_dir)
        rows = read_csv(out / "minimal.csv")
        assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Midterm"]
        assert rows[1] == ["    Points Possible", "", "", "", "", "100"]
        assert rows[2] == ["김민준", "", "2022001", "", "01", "50"]
        assert rows[-1] == last  # without --missing-zero 한결석 is left out: an empty cell would clear a grade


def test_moodle_grades_and_feedback_files(out, cache_dir):
    done = run_cli("export", "--format", "moodle", "--roster", str(LMS / "moodle_participants.csv"), "--bom",
                   "--out", str(out), "--feedback-zip", str(out / "feedback.zip"), env_cache=cache_dir)
    assert (out / "moodle-grades.csv").read_bytes().startswith("\ufeff".encode())
    rows = read_csv(out / "moodle-grades.csv", encoding="utf-8-sig")
    assert rows[0] == ["ID number", "Full name", "Grade", "Feedback"]
    # Moodle's full name is "First Last", as its participants export splits it
    assert [row[:3] for row in rows[1:]] == [["2022001", "민준 김", "50"], ["2022002", "서연 이", "48.5"]]
    assert "2.5 (6/6)" in rows[1][3] and "Total: 50/100" in rows[1][3]
    for number in REFERENCE_NUMBERS:
        assert number not in rows[1][3] + rows[2][3]
    # the samples came as plain files, not from a Moodle download: no participant ids to name feedback files by
    assert f"wrote {out / 'feedback.zip'}: 0 student(s)\n  left out 2022001 (민준 김): not in the Moodle download " \
           "(no participant id)" in done.stderr


def test_moodle_feedback_files_for_a_moodle_download(out, tmp_path):
    from grader.export.formats import ExportOptions, export
    from grader.gradebook import Gradebook

    with Gradebook(out / "gradebook.sqlite") as book:
        rubric, results = book.rubric(), book.results()
    # as if 2022001 and 2022002 came from Moodle's download, as participants 501 and 502
    ids = {"2022001": "501", "2022002": "502"}
    results = [result.model_copy(update={"lms_user_id": ids.get(result.student)}) for result in results]
    lines = export("moodle", tmp_path / "grades.csv", rubric, results, ExportOptions(
        roster=LMS / "moodle_participants.csv", feedback_zip=tmp_path / "feedback.zip"))
    assert f"wrote {tmp_path / 'feedback.zip'}: 2 student(s)" in lines
    with zipfile.ZipFile(tmp_path / "feedback.zip") as archive:
        names = sorted(archive.namelist())
        # named as the submission names its author (a real Moodle download: Moodle's full name); Moodle reads the
        # participant id after the first "_"
        assert names == ["김민준_501_assignsubmission_file_feedback.html",
                         "이서연_502_assignsubmission_file_feedback.html"]
        page = archive.read(names[0]).decode("utf-8")
    assert "정확함" in page and "50 / 100" in page
    for number in REFERENCE_NUMBERS:
        assert number not in page


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


def test_a_canvas_download_graded_with_its_roster_and_a_late_policy(tmp_path, cache_dir):
    """The round trip a TA makes: Canvas's zip in, Canvas's gradebook export filled out."""
    rubric = problems_2_and_3_rubric(tmp_path)
    text = (rubric / "rubric.yaml").read_text(encoding="utf-8")
    (rubric / "rubric.yaml").write_text(text + "late: {rule: per_day, deduction_percent: 10, "
                                        "deadline: '2022-04-20T23:59:00+09:00'}\n", encoding="utf-8")
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for name, sample, when in (
            ("mjkim_10101_5551_김민준(2022001).ipynb", "김민준(2022001).ipynb", (2022, 4, 20, 14, 0, 0)),
            ("ychoi_LATE_10104_5554_최수아(2022004).ipynb", "최수아(2022004).ipynb", (2022, 4, 21, 3, 0, 0)),
        ):
            member = zipfile.ZipInfo(name, date_time=when)
            archive.writestr(member, (Path(__file__).parent.parent / "submissions" / "dl2022-midterm" / sample).read_bytes())
    out = tmp_path / "out"
    done = run_cli("grade", str(download), "--rubric", str(rubric), "--out", str(out), "-q", "--jobs", "1",
                   "--roster", str(LMS / "canvas_gradebook.csv"), env_cache=cache_dir)
    assert f"roster {LMS / 'canvas_gradebook.csv'}: 2 matched, 3 without a submission, 0 submission(s) matching " \
           "no one" in done.stderr
    assert "  no submission: 이서연 (2022002), line 5: exported without a score" in done.stderr
    document = {s["student"]: s for s in json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]}
    late = document["2022004"]
    assert (late["lms_user_id"], late["late"], late["submitted_at"], late["late_deduction"]) == (
        "10104", True, "2022-04-21T03:00:00+00:00", 5.0)
    assert document["2022001"]["late_deduction"] == 0 and document["2022001"]["total"] == 44
    assert "late: submitted 2022-04-21T03:00:00+00:00, 12 h 1 min after the deadline" in \
        (out / "students" / "2022004.html").read_text(encoding="utf-8")
    summary = (out / "index.html").read_text(encoding="utf-8")
    assert "Roster (2 of 5 matched)" in summary and "On the roster, no submission (3)" in summary

    run_cli("export", "--format", "canvas", "--partial", "--column", "Midterm (12345)", "--out", str(out),
            env_cache=cache_dir)  # the roster given to grade
    written = read_csv(out / "canvas-import.csv")
    column = written[0].index("Midterm (12345)")
    # 이서연 and 정하은 have no submission: as Canvas wrote them, Park's 61.00 and 정하은's 92.00 included
    assert [row[column] for row in written[3:8]] == ["44.00", "", "61.00", f"{late['total']:.2f}", "92.00"]


def test_a_moodle_download_graded_and_returned_with_feedback_files(tmp_path, cache_dir):
    """Moodle's folders in, Moodle's grade CSV and feedback zip out; students found by name, then keyed by ID number."""
    rubric = problems_2_and_3_rubric(tmp_path)
    download = tmp_path / "moodle.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for folder, sample in (("민준 김_501_assignsubmission_file_", "김민준(2022001).ipynb"),
                               ("Yuna Choi_504_assignsubmission_file_", "최수아(2022004).ipynb")):
            archive.writestr(f"{folder}/midterm.ipynb",
                             (Path(__file__).parent.parent / "submissions" / "dl2022-midterm" / sample).read_bytes())
    out = tmp_path / "out"
    done = run_cli("grade", str(download), "--rubric", str(rubric), "--out", str(out), "-q", "--jobs", "1",
                   "--roster", str(LMS / "moodle_participants.csv"), env_cache=cache_dir)
    assert "2 matched, 3 without a submission, 0 submission(s) matching no one" in done.stderr
    total = totals(out)
    assert set(total) == {"501", "504"}  # no student id in the file names: Moodle's participant ids
    run_cli("export", "--format", "moodle", "--partial", "--out", str(out), "--feedback-zip", str(out / "fb.zip"),
            env_cache=cache_dir)
    rows = read_csv(out / "moodle-grades.csv")
    assert rows == [["ID number", "Full name", "Grade", "Feedback"],
                    ["2022001", "민준 김", f"{total['501']:g}", rows[1][3]],
                    ["2022004", "Yuna Choi", f"{total['504']:g}", rows[2][3]]]
    with zipfile.ZipFile(out / "fb.zip") as archive:
        assert sorted(archive.namelist()) == ["Yuna Choi_504_assignsubmission_file_feedback.html",
                                              "민준 김_501_assignsubmission_file_feedback.html"]


def test_a_moodle_download_graded_against_its_grading_worksheet_and_the_worksheet_filled(tmp_path, cache_dir):
    """Moodle's download and "Download grading worksheet" in; the worksheet out, for "Upload grading worksheet"."""
    from tests.moodle_worksheet import Assignment, Participant, UploadPreview, download_worksheet, upload_preview

    rubric = problems_2_and_3_rubric(tmp_path)
    minjun = Participant(1234567, "민준", "김", "mjkim@univ.ac.kr")
    seoyeon = Participant(1234568, "김", "서연", "sylee@univ.ac.kr")  # family name entered first: "김 서연"
    zoe = Participant(1234569, "Zoë", "O'Brien", "zobrien@univ.ac.kr", status="No submission", grade=70.0,
                      feedback="Makeup exam, graded on paper")
    participants = [minjun, seoyeon, zoe]
    worksheet = tmp_path / "Grades-DL2022-Midterm-42.csv"
    worksheet.write_bytes(download_worksheet(Assignment(max_grade=50.0), participants))
    download = tmp_path / "moodle.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for folder, sample in (("민준 김_1234567_assignsubmission_file_", "김민준(2022001).ipynb"),
                               ("김 서연_1234568_assignsubmission_file_", None)):
            if sample:
                archive.writestr(f"{folder}/midterm.ipynb",
                                 (Path(__file__).parent.parent / "submissions" / "dl2022-midterm" / sample).read_bytes())
            else:  # a scan of the exam, not a notebook: the grader refuses it
                archive.writestr(f"{folder}/midterm.pdf", b"%PDF-1.4\n")
    out = tmp_path / "out"
    done = run_cli("grade", str(download), "--rubric", str(rubric), "--out", str(out), "-q", "--jobs", "1",
                   "--roster", str(worksheet), env_cache=cache_dir)
    assert f"roster {worksheet}: 2 matched, 1 without a submission, 0 submission(s) matching no one" in done.stderr
    assert "  no submission: Zoë O'Brien, line 4: exported without a score" in done.stderr
    assert "needs attention (1): exported without a score, so the LMS keeps what it has (`grader export " \
           "--refused-zero` gives a refused one 0 where it has none)\n  1234568: the grader refused it: " in done.stderr
    summary = (out / "index.html").read_text(encoding="utf-8")
    assert "Needs attention (1)" in summary and "김 서연" in summary

    done = run_cli("export", "--format", "moodle", "--partial", "--out", str(out), env_cache=cache_dir)
    total = totals(out)["1234567"]
    assert done.stderr.splitlines()[:4] == [
        f"wrote {out / 'moodle-grades.csv'}: 1 student(s)",
        "  left out roster line 4 (Zoë O'Brien): no score: its cell is left as it was, so the LMS keeps the grade "
        "it has",
        "needs attention (1):",
        f"  1234568 (김 서연): the grader refused it: {totals_error(out, '1234568')}; no score: its cell is left as "
        "it was, so the LMS keeps the grade it has"]
    assert (out / "moodle-grades.log").read_text(encoding="utf-8") == done.stderr
    written = read_csv(out / "moodle-grades.csv", encoding="utf-8-sig")
    given = read_csv(worksheet, encoding="utf-8-sig")
    assert written[1][4] == f"{total:.2f}" and written[1][-1].endswith(f"<br>Total: {total:g}/50")
    assert [row[:4] + row[5:-1] for row in written] == [row[:4] + row[5:-1] for row in given]
    assert written[2:] == given[2:]  # the refused one and the makeup exam: as downloaded
    assert upload_preview(Assignment(max_grade=50.0), participants, (out / "moodle-grades.csv").read_bytes()) == \
        UploadPreview(grades={1234567: (None, total)}, feedback={1234567: ("", written[1][-1])})


def totals_error(out: Path, student: str) -> str:
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return next(s["error"] for s in document["submissions"] if s["student"] == student)
