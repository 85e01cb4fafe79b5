"""Grade files for Canvas and Moodle: the Canvas export written back with one column filled, a minimal Canvas import,
Moodle's grade CSV and its feedback zip."""

from __future__ import annotations

import csv
import dataclasses
import zipfile
from pathlib import Path

import pytest

from grader.lms.export import (ExportError, ExportRow, ExportSummary, write_canvas_import, write_canvas_minimal,
                               write_moodle_feedback_zip, write_moodle_grades)
from grader.lms.roster import read_roster

SAMPLES = Path(__file__).resolve().parent / "lms"
CANVAS = SAMPLES / "canvas_gradebook.csv"
NO_SCORE = "no score: its cell is left as it was, so the LMS keeps the grade it has"
FEEDBACK = '2.3: 학습률이 다릅니다, "lr=0.1"\n3.1: 정답'


def row(entry, key: str, score: float | None, feedback: str = "") -> ExportRow:
    name = entry.name if entry else key
    return ExportRow(entry=entry, student_key=key, name=name, student_id=entry and entry.student_id, score=score,
                     feedback=feedback)


def cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.reader(stream))


def test_the_canvas_export_comes_back_with_the_exam_column_filled(tmp_path):
    roster = read_roster(CANVAS)
    kim, lee, park, _, _ = roster.entries
    out = tmp_path / "import.csv"
    summary = write_canvas_import(out, roster, "Midterm (12345)", [
        row(kim, "2022001", 81.5), row(lee, "2022002", None), row(park, "2022003", 100.0), row(None, "stray", 50.0),
    ], points_possible=100, bom=False)

    assert summary == ExportSummary(written=("2022001", "2022003"),
                                    skipped={"2022002": NO_SCORE, "stray": "matched no one on the roster"})
    given = CANVAS.read_text(encoding="utf-8").splitlines(keepends=True)
    expected = [*given[:3],
                "김민준,10101,2022001,mjkim,,DL2022 01,9.00,81.50,87.50,87.50,79.55,79.55,79.55,79.55\n",
                given[4],  # 이서연: no score, her cell as it was
                '"Park, Jiwoo",10103,2022003,jwpark,,DL2022 02,8.50,100.00,69.50,69.50,63.18,63.18,63.18,63.18\n',
                *given[6:]]  # 최유나, 정하은 and the test student keep theirs
    assert out.read_text(encoding="utf-8").splitlines(keepends=True) == expected
    assert not out.read_bytes().startswith(b"\xef\xbb\xbf")  # none read, none asked for


def test_a_column_the_export_lacks_is_added_with_its_points(tmp_path):
    roster = read_roster(CANVAS)
    out = tmp_path / "import.csv"
    write_canvas_import(out, roster, "Final exam", [row(roster.entries[4], "2022005", 12.25)], points_possible=40,
                        bom=True)
    added = [line[14:] for line in cells(out)]
    assert added == [["Final exam"], ["40.00"], [""], [""], [""], [""], [""], ["12.25"], [""]]
    assert [line[:14] for line in cells(out)] == cells(CANVAS)
    assert out.read_bytes().startswith(b"\xef\xbb\xbfStudent,ID,")


def test_the_only_assignment_column_is_found_and_the_line_ending_kept(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Midterm (12345),Current Score\r\n"
                      "    Points Possible,,,,,100.00,(read only)\r\n"
                      "김민준,10101,2022001,mjkim,01,,\r\n", encoding="utf-8", newline="")
    roster = read_roster(export)
    out = tmp_path / "import.csv"
    write_canvas_import(out, roster, None, [row(roster.entries[0], "2022001", 1234567)], 100, bom=False)
    assert out.read_bytes().decode() == ("Student,ID,SIS User ID,SIS Login ID,Section,Midterm (12345),Current Score\r\n"
                                         "    Points Possible,,,,,100.00,(read only)\r\n"
                                         "김민준,10101,2022001,mjkim,01,1234567.00,\r\n")


@pytest.mark.parametrize("column, message", [
    (None, "line 1: 2 assignment columns ('Assignment 1 (12001)', 'Midterm (12345)'); name the exam's column (--column)"),
    ("Midterm", "line 1: has 'Midterm (12345)': name it to fill that column; "
                "'Midterm' alone would add a second assignment named Midterm"),
    ("Current Score", "line 1: column 'Current Score' is not an assignment Canvas imports into "
                      "(it identifies the student or Canvas computes it); expected e.g. 'Midterm (12345)'"),
    ("SIS User ID", "line 1: column 'SIS User ID' is not an assignment Canvas imports into "
                    "(it identifies the student or Canvas computes it); expected e.g. 'Midterm (12345)'"),
    ("Midterm(12345)", "line 1: no column 'Midterm(12345)' to fill, and it cannot be added: 'Midterm(12345)' is not "
                       "a Canvas column name: expected 'Title' or 'Title (assignment id)', e.g. 'Midterm' or "
                       "'Midterm (12345)', without 'Final Grade', 'Current Score' and the like, which Canvas's "
                       "importer drops"),
    ("Midterm Final Grade", "line 1: no column 'Midterm Final Grade' to fill, and it cannot be added: 'Midterm Final "
                            "Grade' is not a Canvas column name: expected 'Title' or 'Title (assignment id)', e.g. "
                            "'Midterm' or 'Midterm (12345)', without 'Final Grade', 'Current Score' and the like, "
                            "which Canvas's importer drops"),
])
def test_a_canvas_column_that_cannot_be_filled(tmp_path, column, message):
    with pytest.raises(ExportError) as refused:
        write_canvas_import(tmp_path / "import.csv", read_roster(CANVAS), column, [], 100, bom=False)
    assert str(refused.value) == f"{CANVAS}: {message}"
    assert not (tmp_path / "import.csv").exists()


def test_no_assignment_column_to_find(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Final Score\n    Points Possible,,,,,(read only)\n",
                      encoding="utf-8")
    with pytest.raises(ExportError) as refused:
        write_canvas_import(tmp_path / "import.csv", read_roster(export), None, [], 100, bom=False)
    assert str(refused.value) == (f"{export}: line 1: no assignment column (expected a header like 'Midterm (12345)'); "
                                  "name the exam's column (--column) to add it")


def test_filling_a_canvas_import_needs_a_canvas_export(tmp_path):
    plain = SAMPLES / "plain_roster.csv"
    with pytest.raises(ExportError) as refused:
        write_canvas_import(tmp_path / "import.csv", read_roster(plain), "Midterm", [], 100, bom=False)
    assert str(refused.value) == (f"{plain}: a plain roster, not a Canvas gradebook export: export the gradebook "
                                  "from Canvas, or write the minimal Canvas import instead")


def test_a_minimal_canvas_import(tmp_path):
    kim, lee, park, choi = read_roster(SAMPLES / "plain_roster.csv").entries
    canvas_kim = read_roster(CANVAS).entries[0]
    out = tmp_path / "import.csv"
    summary = write_canvas_minimal(out, [
        row(canvas_kim, "a", 43.5), row(lee, "b", 100.0), row(park, "c", 0.1 + 0.2), row(choi, "d", None),
        row(None, "e", 10.0), row(dataclasses.replace(kim, student_id=None), "f", 1.0),
    ], "Midterm (12345)", 100, bom=False)
    assert out.read_bytes().decode() == (
        "Student,ID,SIS User ID,SIS Login ID,Section,Midterm (12345)\r\n"
        "    Points Possible,,,,,100\r\n"
        "김민준,10101,2022001,mjkim,DL2022 01,43.5\r\n"
        "이서연,,2022002,,01,100\r\n"
        "박지우,,2022003,,02,0.3\r\n")  # 최유나 has no score: left out, as an empty cell would clear her grade
    assert summary == ExportSummary(written=("a", "b", "c"), skipped={
        "d": "no score: left out of the file, so Canvas keeps the grade it has", "e": "matched no one on the roster",
        "f": "the roster (line 2) has no Canvas ID, SIS User ID or SIS Login ID for Canvas to find them by"})


@pytest.mark.parametrize("score, cell", [(43.5, "43.5"), (100, "100"), (12.25, "12.25"), (12.257, "12.26"),
                                         (1e-7, "0"), (-1e-7, "0"), (1234567.0, "1234567"), (2.5e6, "2500000")])
def test_canvas_scores_are_plain_decimals(tmp_path, score, cell):
    entry = read_roster(CANVAS).entries[0]
    out = tmp_path / "import.csv"
    write_canvas_minimal(out, [row(entry, "a", score)], "Midterm", 100, bom=False)
    assert cells(out)[2][5] == cell


def test_a_minimal_canvas_import_refuses_a_column_canvas_would_misread(tmp_path):
    with pytest.raises(ExportError) as refused:
        write_canvas_minimal(tmp_path / "import.csv", [], "Midterm (final)", 100, bom=False)
    assert str(refused.value) == ("'Midterm (final)' is not a Canvas column name: expected 'Title' or "
                                  "'Title (assignment id)', e.g. 'Midterm' or 'Midterm (12345)', without 'Final "
                                  "Grade', 'Current Score' and the like, which Canvas's importer drops")


def test_moodle_grades_by_id_number_with_multiline_korean_feedback(tmp_path):
    kim, lee, park, choi = read_roster(SAMPLES / "plain_roster.csv").entries
    out = tmp_path / "grades.csv"
    summary = write_moodle_grades(out, [
        row(kim, "a", 87.5, FEEDBACK), row(lee, "b", None, "pending"), row(None, "c", 3.0),
        row(dataclasses.replace(park, student_id=None), "d", 1.0), row(choi, "e", 100, ""),
    ], key="idnumber", bom=True)
    assert out.read_bytes().decode("utf-8") == (
        "\ufeffID number,Full name,Grade,Feedback\r\n"
        '2022001,김민준,87.5,"2.3: 학습률이 다릅니다, ""lr=0.1""\n3.1: 정답"\r\n'
        "2022004,최유나,100,\r\n")
    assert summary == ExportSummary(written=("a", "e"), skipped={
        "b": "no score: the row is left out, so Moodle keeps the grade it has",
        "c": "matched no one on the roster", "d": "no ID number on the roster (line 4)"})


def test_moodle_grades_by_email(tmp_path):
    kim, lee, park, choi = read_roster(SAMPLES / "plain_roster.csv").entries
    out = tmp_path / "grades.csv"
    summary = write_moodle_grades(out, [row(kim, "a", 1.0, "좋음"), row(park, "c", 2.0)], key="email", bom=False)
    assert out.read_bytes().decode("utf-8") == ("Email address,Full name,Grade,Feedback\r\n"
                                                "mjkim@univ.ac.kr,김민준,1,좋음\r\n")
    assert summary.skipped == {"c": "no Email address on the roster (line 4)"}


def test_the_moodle_feedback_zip(tmp_path):
    rows = [ExportRow(None, key, name, None, 1.0, "") for key, name in [
        ("a", "김민준"), ("b", "../../etc/passwd_x"), ("c", "이서연"), ("d", "박지우"), ("e", "최유나")]]
    out = tmp_path / "feedback.zip"
    participant_ids = {"a": "1201", "b": "1202", "d": "1204", "e": "1201"}
    files = {"a": "<p>잘했어요</p>", "b": "<p>b</p>", "c": "<p>c</p>", "e": "<p>e</p>"}
    summary = write_moodle_feedback_zip(out, rows, participant_ids, files)
    assert summary == ExportSummary(written=("a", "b"), skipped={
        "c": "not in the Moodle download (no participant id)", "d": "no feedback file",
        "e": "participant id 1201 is a's too"})
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["김민준_1201_assignsubmission_file_feedback.html",
                                      "etc passwd x_1202_assignsubmission_file_feedback.html"]
        assert archive.read("김민준_1201_assignsubmission_file_feedback.html").decode() == "<p>잘했어요</p>"
        assert archive.infolist()[0].flag_bits & 0x800  # the name is flagged UTF-8


def test_a_participant_id_that_is_not_a_number_is_a_bug(tmp_path):
    with pytest.raises(ValueError, match="Moodle participant ids are numbers, got '../1'"):
        write_moodle_feedback_zip(tmp_path / "f.zip", [ExportRow(None, "a", "김민준", None, 1.0, "")], {"a": "../1"},
                                  {"a": "<p></p>"})
