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

import nbformat
import pytest

from grader.gradebook import Gradebook
from tests.conftest import problems_2_and_3_rubric, run_cli
from tests.lms_names import canvas_entry, canvas_resubmitted, moodle_entry

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
    results = [result.model_copy(update={"lms": "moodle", "lms_user_id": ids[result.student]})
               if result.student in ids else result for result in results]
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
    assert set(document) == {"score", "execution_time", "output", "output_format", "stdout_visibility", "extra_data",
                             "tests"}
    assert (document["score"], document["extra_data"]) == (totals(out)["2022004"], {"confinement": "sandbox"})
    tests = document["tests"]
    # Problem 1's checks of form are public: seen on submission; 1.4 has both kinds, so two tests; the rest after
    # grades are published. 2.5 waits for Gradescope's manual grading: informational, no score.
    assert [(test["number"], test["visibility"]) for test in tests] == [
        ("1.1", "visible"), ("1.2", "visible"), ("1.3", "visible"), ("1.4", "visible"), ("1.4", "after_published"),
        *[(f"2.{n}", "after_published") for n in range(1, 5)], ("2.5", "visible"),
        *[(f"3.{n}", "after_published") for n in range(1, 11)]]
    for test in tests:
        if test["number"] == "2.5":
            assert set(test) == {"number", "name", "output", "visibility"}
            continue
        assert set(test) == {"number", "name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"]
    assert sum(test.get("max_score", 0) for test in tests) == 94  # what the build tells the TA: 100 less 2.5's 6
    text = json.dumps(document, ensure_ascii=False)
    for number in REFERENCE_NUMBERS:
        assert number not in text


def test_feedback_pages_of_every_sample_give_nothing_away(out, cache_dir):
    done = run_cli("feedback", "--out", str(out), env_cache=cache_dir)
    pages = sorted((out / "feedback").glob("*.html"))
    assert done.stderr.strip() == f"wrote {len(pages)} feedback page(s) in {out / 'feedback'}" and len(pages) == 25
    guidance = "The last gradient is close to 0"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for secret in (*REFERENCE_NUMBERS, guidance, "integrity"):
            assert secret not in text, (page.name, secret)
        assert not re.search(r"\bkey\b", text), page.name
    first = (out / "feedback" / "2022001.html").read_text(encoding="utf-8")
    assert "김민준" in first and "정확함" in first and "50 / 100" in first


def test_a_canvas_download_graded_with_its_roster_and_a_late_policy(tmp_path, cache_dir):
    """The round trip a TA makes: Canvas's zip in, named as Canvas names its entries (Korean names, a notebook with
    its images zip, a late resubmission, a refused zip, a text entry), Canvas's gradebook export filled out."""
    rubric = problems_2_and_3_rubric(tmp_path)
    text = (rubric / "rubric.yaml").read_text(encoding="utf-8")
    (rubric / "rubric.yaml").write_text(text + "late: {rule: per_day, deduction_percent: 10, "
                                        "deadline: '2022-04-20T23:59:00+09:00'}\n", encoding="utf-8")
    samples = Path(__file__).parent.parent / "submissions" / "dl2022-midterm"
    kim = nbformat.read(samples / "김민준(2022001).ipynb", as_version=4)
    kim.cells.append(nbformat.v4.new_code_cell("import os\nprint(sorted(os.listdir('images')))"))  # its images are there
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    images, refused = scratch / "images.zip", scratch / "project.zip"
    with zipfile.ZipFile(images, "w") as archive:
        archive.writestr("images/cat.jpg", b"cat")
        archive.writestr("images/dog.jpg", b"dog")
    with zipfile.ZipFile(refused, "w") as archive:
        archive.writestr("../outside.ipynb", b"{}")
    # The roster's Student column is the sortable name that Canvas's entry names are made from.
    entries = [
        (canvas_entry("김민준", 10101, 5551, "midterm.ipynb"), nbformat.writes(kim).encode(), (2022, 4, 20, 14, 0, 0)),
        (canvas_entry("김민준", 10101, 5552, "images.zip"), images.read_bytes(), (2022, 4, 20, 14, 1, 0)),
        (canvas_entry("이서연", 10102, 5556, canvas_resubmitted("midterm.ipynb", 1), late=True),
         (samples / "이서연(2022002).ipynb").read_bytes(), (2022, 4, 21, 3, 0, 0)),
        (canvas_entry("Park, Jiwoo", 10103, 5557, "project.zip"), refused.read_bytes(), (2022, 4, 20, 12, 0, 0)),
        (canvas_entry("Choi, Yuna", 10104, 5554, "midterm.ipynb"), (samples / "최수아(2022004).ipynb").read_bytes(),
         (2022, 4, 20, 13, 0, 0)),
        (canvas_entry("정하은", 10105, kind="text"), "<p>제출합니다</p>".encode(), (2022, 4, 20, 9, 0, 0)),
    ]
    assert [name for name, _, _ in entries] == [
        "김민준_10101_5551_midterm.ipynb", "김민준_10101_5552_images.zip", "이서연_LATE_10102_5556_midterm-1.ipynb",
        "parkjiwoo_10103_5557_project.zip", "choiyuna_10104_5554_midterm.ipynb", "정하은_10105_text.html"]
    download = tmp_path / "dl2022-midterm submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for name, data, when in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=when), data)
    out = tmp_path / "out"
    done = run_cli("grade", str(download), "--rubric", str(rubric), "--out", str(out), "-q", "--jobs", "1",
                   "--roster", str(LMS / "canvas_gradebook.csv"), env_cache=cache_dir)
    assert f"roster {LMS / 'canvas_gradebook.csv'}: 5 matched, 0 without a submission, 0 submission(s) matching " \
           "no one" in done.stderr

    document = {s["student"]: s for s in json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]}
    # Keyed by the roster's SIS User IDs, named by it; Canvas's ids and name parts kept beside.
    assert [(s["student"], s["name"], s["student_id"], s["lms"], s["lms_user_id"], s["name_in_file"], s["file"],
             s["status"], s["late"], s["submitted_at"]) for s in document.values()] == [
        ("2022001", "김민준", "2022001", "canvas", "10101", "김민준", "김민준_10101_5551_midterm.ipynb", "needs-review",
         False, "2022-04-20T14:01:00+00:00"),
        ("2022002", "이서연", "2022002", "canvas", "10102", "이서연", "이서연_LATE_10102_5556_midterm-1.ipynb",
         "needs-review", True, "2022-04-21T03:00:00+00:00"),
        ("2022003", "Park, Jiwoo", "2022003", "canvas", "10103", "parkjiwoo", "parkjiwoo_10103_5557_project.zip",
         "error", False, "2022-04-20T12:00:00+00:00"),
        ("2022004", "Choi, Yuna", "2022004", "canvas", "10104", "choiyuna", "choiyuna_10104_5554_midterm.ipynb",
         "needs-review", False, "2022-04-20T13:00:00+00:00"),
        ("2022005", "정하은", "2022005", "canvas", "10105", "정하은", "정하은_10105_text.html", "error", False,
         "2022-04-20T09:00:00+00:00")]
    assert document["2022003"]["error"] == (
        "parkjiwoo_10103_5557_project.zip was not unpacked: '../outside.ipynb' would land outside its folder (absolute "
        "paths and '..' are not allowed); zip the submission folder itself and resubmit")
    assert document["2022005"]["error"] == "정하은_10105_text.html holds no .ipynb notebook"
    late = document["2022002"]
    assert (late["late_deduction"], document["2022001"]["late_deduction"], document["2022001"]["total"]) == (5.0, 0, 44)
    assert "late: submitted 2022-04-21T03:00:00+00:00, 12 h 1 min after the deadline" in \
        (out / "students" / "2022002.html").read_text(encoding="utf-8")

    # One submission of the notebook and its images, which the notebook found where it put them.
    with Gradebook(out / "gradebook.sqlite") as book:
        notes = {student: book.result(student).notes for student in document}
    assert notes["2022001"][:2] == [
        "2 files of the download are this student's, graded as one submission: 김민준_10101_5551_midterm.ipynb, "
        "김민준_10101_5552_images.zip",
        "keyed by the roster's student id 2022001, not 10101: 김민준 on line 4 of canvas_gradebook.csv, matched by "
        "Canvas ID"]
    assert notes["2022005"][0] == ("정하은_10105_text.html is not graded: it is Canvas's text entry submission, not "
                                   "an uploaded file")
    executed = nbformat.read(out / "executed" / "2022001.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "['cat.jpg', 'dog.jpg']\n"
    assert sorted(path.name for path in (out / "students").iterdir()) == [f"202200{n}.html" for n in range(1, 6)]
    summary = (out / "index.html").read_text(encoding="utf-8")
    assert "Roster (5 of 5 matched)" in summary

    run_cli("export", "--format", "canvas", "--partial", "--column", "Midterm (12345)", "--out", str(out),
            env_cache=cache_dir)  # the roster given to grade
    written = read_csv(out / "canvas-import.csv")
    column = written[0].index("Midterm (12345)")
    assert [row[column] for row in written[3:8]] == [  # Park's refused zip and 정하은's text entry: as Canvas wrote them
        "44.00", f"{late['total']:.2f}", "61.00", f"{document['2022004']['total']:.2f}", "92.00"]


def test_a_moodle_download_graded_and_returned_with_feedback_files(tmp_path, cache_dir):
    """Moodle's folders in (named as Moodle names them: Korean full names, a student's subfolder, online text beside
    the files, a `_` in a name, a broken notebook), Moodle's grade CSV and feedback zip out; students found on the
    roster by name, so keyed by its ID number."""
    rubric = problems_2_and_3_rubric(tmp_path)
    samples = Path(__file__).parent.parent / "submissions" / "dl2022-midterm"
    download = tmp_path / "moodle.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for entry, data in (
            (moodle_entry("민준 김", 501, "midterm.ipynb"), (samples / "김민준(2022001).ipynb").read_bytes()),
            (moodle_entry("민준 김", 501, "onlinetext.html", plugin="onlinetext"), b"<p>notebook attached</p>"),
            (moodle_entry("Yuna Choi", 504, "제출/midterm.ipynb"), (samples / "최수아(2022004).ipynb").read_bytes()),
            (moodle_entry("Yuna Choi", 504, "제출/data/a.csv"), b"x,y\n"),
            (moodle_entry("서연 이_", 502, "midterm.ipynb"), b"not a notebook"),  # Moodle made its `_` a space
        ):
            archive.writestr(entry, data)
    out = tmp_path / "out"
    done = run_cli("grade", str(download), "--rubric", str(rubric), "--out", str(out), "-q", "--jobs", "1",
                   "--roster", str(LMS / "moodle_participants.csv"), env_cache=cache_dir)
    assert "3 matched, 2 without a submission, 0 submission(s) matching no one" in done.stderr
    with Gradebook(out / "gradebook.sqlite") as book:
        assert book.result("2022001").notes[:2] == [
            "민준 김_501_assignsubmission_onlinetext is not graded: it is Moodle's onlinetext submission, not an "
            "uploaded file",
            "keyed by the roster's student id 2022001, not 501: 민준 김 on line 2 of moodle_participants.csv, matched "
            "by name"]
        lee = book.result("2022002")
        assert (lee.name, lee.status, lee.file) == ("서연 이", "error", "서연 이 _502_assignsubmission_file")
    total = totals(out)
    # no student id in the file names, but the roster knows the names: its ID numbers, not the participant ids
    assert set(total) == {"2022001", "2022002", "2022004"}
    document = {s["student"]: s for s in json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]}
    assert [(s["student"], s["name"], s["student_id"], s["lms"], s["lms_user_id"]) for s in document.values()] == [
        ("2022001", "민준 김", "2022001", "moodle", "501"), ("2022002", "서연 이", "2022002", "moodle", "502"),
        ("2022004", "Yuna Choi", "2022004", "moodle", "504")]
    run_cli("export", "--format", "moodle", "--partial", "--out", str(out), "--feedback-zip", str(out / "fb.zip"),
            env_cache=cache_dir)
    rows = read_csv(out / "moodle-grades.csv")
    assert rows == [["ID number", "Full name", "Grade", "Feedback"],
                    ["2022001", "민준 김", f"{total['2022001']:g}", rows[1][3]],
                    ["2022004", "Yuna Choi", f"{total['2022004']:g}", rows[2][3]]]  # 서연 이's, refused: left out
    with zipfile.ZipFile(out / "fb.zip") as archive:
        assert sorted(archive.namelist()) == ["Yuna Choi_504_assignsubmission_file_feedback.html",
                                              "민준 김_501_assignsubmission_file_feedback.html",
                                              "서연 이_502_assignsubmission_file_feedback.html"]


def test_a_download_graded_before_its_roster_is_followed_to_the_rosters_keys(tmp_path, cache_dir):
    """Graded first under Canvas's user ids, then with the roster: each student once, under the roster's id; the
    roster stays the gradebook's for the next run. (Refused zips only: no kernel runs.)"""
    rubric = problems_2_and_3_rubric(tmp_path)
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for name in (canvas_entry("김민준", 10101, 5551, "project.zip"), canvas_entry("Park, Jiwoo", 10103, 5553, "a.zip")):
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as refused:
                refused.writestr("../outside.ipynb", b"{}")
            archive.writestr(name, inner.getvalue())
    out = tmp_path / "out"
    grade = ("grade", str(download), "--rubric", str(rubric), "--out", str(out), "-q", "--cold")
    run_cli(*grade, env_cache=cache_dir)
    assert set(totals(out)) == {"10101", "10103"}
    assert sorted(path.name for path in (out / "students").iterdir()) == ["10101.html", "10103.html"]

    done = run_cli(*grade, "--roster", str(LMS / "canvas_gradebook.csv"), env_cache=cache_dir)
    assert "2 submission(s) graded before under another key, graded again under their new one (manual scores " \
           "kept): 10103 → 2022003, 10101 → 2022001" in " ".join(done.stderr.split())
    assert "graded 2, unchanged 0" in done.stderr
    assert set(totals(out)) == {"2022001", "2022003"}
    assert sorted(path.name for path in (out / "students").iterdir()) == ["2022001.html", "2022003.html"]

    again = run_cli(*grade, env_cache=cache_dir)  # no --roster: the gradebook's
    assert "graded 0, unchanged 2" in again.stderr and "another key" not in again.stderr
    assert f"roster {LMS / 'canvas_gradebook.csv'}: 2 matched" in again.stderr


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
