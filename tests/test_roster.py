"""Rosters read from Canvas, Moodle and plain CSV files, the errors a TA sees, and matching submissions to them."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from grader.lms.roster import RosterEntry, RosterError, SubmitterKeys, match_roster, read_roster

SAMPLES = Path(__file__).resolve().parent / "lms"
CANVAS = SAMPLES / "canvas_gradebook.csv"


def csv_file(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def who(key: str, name=None, student_id=None, lms_user_id=None, lms=None) -> SubmitterKeys:
    return SubmitterKeys(key=key, name=name, student_id=student_id, lms_user_id=lms_user_id,
                         lms=lms or ("canvas" if lms_user_id else None))


def test_a_canvas_gradebook_export():
    roster = read_roster(CANVAS)
    assert (roster.path, roster.format) == (CANVAS, "canvas")
    assert roster.entries == (
        RosterEntry("김민준", "2022001", "10101", "mjkim", None, "DL2022 01", row=4, lms="canvas"),
        RosterEntry("이서연", "2022002", "10102", "sylee", None, "DL2022 01", row=5, lms="canvas"),
        RosterEntry("Park, Jiwoo", "2022003", "10103", "jwpark", None, "DL2022 02", row=6, lms="canvas"),
        RosterEntry("Choi, Yuna", "2022004", "10104", "ychoi", None, "DL2022 02", row=7, lms="canvas"),
        RosterEntry("정하은", "2022005", "10105", "hjeong", None, "DL2022 01", row=8, lms="canvas"),
    )  # not the Points Possible row (2), the read-only row (3), nor Canvas's test student (9)


def test_a_canvas_export_is_kept_as_read():
    sheet = read_roster(CANVAS).sheet
    assert (sheet.delimiter, sheet.bom, sheet.header_record.end) == (",", False, "\n")
    assert sheet.header[:7] == ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section",
                                "Assignment 1 (12001)")
    assert [(row.line, row.kind) for row in sheet.rows] == [
        (2, "points possible"), (3, "read only"), (4, "student"), (5, "student"), (6, "student"), (7, "student"),
        (8, "student"), (9, "test student")]
    assert sheet.rows[0].cells[:8] == ("    Points Possible", "", "", "", "", "", "10.00", "100.00")
    assert sheet.rows[4].cells == ("Park, Jiwoo", "10103", "2022003", "jwpark", "", "DL2022 02", "8.50", "61.00",
                                   "69.50", "69.50", "63.18", "63.18", "63.18", "63.18")


def test_a_canvas_export_without_integration_id(tmp_path):
    path = csv_file(tmp_path, "Student,ID,SIS User ID,SIS Login ID,Section,Midterm (12345)\r\n"
                              "    Points Possible,,,,,100.00\r\n"
                              "\"Kim, Minjun\",10101,,mjkim,DL2022 01,\r\n")
    roster = read_roster(path)
    assert roster.entries == (RosterEntry("Kim, Minjun", None, "10101", "mjkim", None, "DL2022 01", row=3, lms="canvas"),)
    assert [row.record.end for row in roster.sheet.rows] == ["\r\n", "\r\n"]


def test_a_moodle_participants_export():
    roster = read_roster(SAMPLES / "moodle_participants.csv")
    assert roster.format == "moodle" and roster.sheet is None
    assert roster.entries == (
        RosterEntry("민준 김", "2022001", None, None, "mjkim@univ.ac.kr", "01반", row=2),
        RosterEntry("서연 이", "2022002", None, None, "sylee@univ.ac.kr", "01반", row=3),
        RosterEntry("지우 박", "2022003", None, None, "jwpark@univ.ac.kr", "02반", row=4),
        RosterEntry("정하은", "2022005", None, None, "hjeong@univ.ac.kr", "01반", row=5),  # all in First name
        RosterEntry("Yuna Choi", "2022004", None, None, "ychoi@univ.ac.kr", None, row=6),
    )


def test_a_plain_roster_with_a_bom():
    path = SAMPLES / "plain_roster.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbfid,name")
    roster = read_roster(path)
    assert roster.format == "plain"
    assert roster.entries == (
        RosterEntry("김민준", "2022001", None, None, "mjkim@univ.ac.kr", "01", row=2),
        RosterEntry("이서연", "2022002", None, None, "sylee@univ.ac.kr", "01", row=3),
        RosterEntry("박지우", "2022003", None, None, None, "02", row=4),
        RosterEntry("최유나", "2022004", None, None, "ychoi@univ.ac.kr", "02", row=5),
    )


def test_a_plain_header_in_any_case_and_order_with_other_columns(tmp_path):
    path = csv_file(tmp_path, "Name,Memo,ID\n 김민준 ,late,2022001\n\n이서연,,\n,,\n")
    assert read_roster(path).entries == (
        RosterEntry("김민준", "2022001", None, None, None, None, row=2),
        RosterEntry("이서연", None, None, None, None, None, row=4),  # blank lines and empty rows are no one
    )


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty (expected a header row, then one row per student)"),
    ("\r\n\r\n", "the file is empty (expected a header row, then one row per student)"),
    ("학번,이름\n2022001,김민준\n",
     "line 1: the header row matches no roster format: expected a Canvas gradebook export "
     "(Student, ID, [SIS User ID,] SIS Login ID, Section, …), a Moodle participants export "
     "(First name, Last name, ID number, Email address), a Moodle grading worksheet downloaded with Moodle in "
     "English (Identifier, Full name, …, Grade, …, Last modified (grade); in another language, switch Moodle to "
     "English, download the worksheet again, and upload it in English too) or columns id,name[,email,section]; "
     "got: 학번, 이름"),
    ("id,name\n2022001,김민준\n2022002, \n", "line 3: a student row with no name (expected it in the name column)"),
    ("First name,Last name,ID number,Email address\n,,2022001,a@b.kr\n",
     "line 2: a student row with no name (expected it in First name or Last name)"),
    ("Student,ID,SIS User ID,SIS Login ID,Section\n    Points Possible,,,,\n,10101,2022001,mjkim,01\n",
     "line 3: a student row with no name (expected it in the Student column)"),
    ("id,name\n2022001,김민준\n2022002,이서연\n2022001,박지우\n",
     "lines 2 and 4 both have student id 2022001 (expected each student once)"),
    ("Student,ID,SIS User ID,SIS Login ID,Section\n김민준,10101,,,01\n이서연,10101,,,01\n",
     "lines 2 and 3 both have Canvas ID 10101 (expected each student once)"),
    ("id,name,email\n2022001,김민준,a@b.kr\n2022002,이서연\n",
     "line 3: 2 cells, expected 3 (one per header column)"),
    ("id,name\n2022001,\"김민준\n", "line 2: not valid CSV (a quoted cell is never closed (expected a closing quote))"),
    ("id,name\n2022001,\"김\"민준\n",
     "line 2: not valid CSV ('민' after a quoted cell's closing quote (expected ',' or the end of the line; a quote "
     "inside a quoted cell is written twice))"),
])
def test_a_roster_that_cannot_be_used_is_refused_with_the_line(tmp_path, text, message):
    path = csv_file(tmp_path, text)
    with pytest.raises(RosterError) as refused:
        read_roster(path)
    assert str(refused.value) == f"{path}: {message}"


def test_a_roster_that_is_not_utf8(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes("id,name\n2022001,김민준\n".encode("cp949"))
    with pytest.raises(RosterError) as refused:
        read_roster(path)
    assert str(refused.value) == f"{path}: line 2: not UTF-8 text (expected the roster saved as CSV UTF-8)"


def test_matching_by_canvas_id_student_id_then_name():
    roster = read_roster(CANVAS)
    kim, lee, park, choi, jeong = roster.entries
    result = match_roster(roster, [
        who("a", lms_user_id="10101", student_id="2022002"),  # the Canvas ID decides
        who("b", student_id="2022002"),
        who("c", lms_user_id="10103", lms="moodle", name="Park, Jiwoo"),  # a Moodle participant id is no Canvas ID
        who("d", name="  choi,   YUNA "),  # case and spaces do not matter
        who("e", name=unicodedata.normalize("NFD", "정하은")),  # as macOS writes file names
    ])
    assert result.matched == {"a": kim, "b": lee, "c": park, "d": choi, "e": jeong}
    assert result.how == {"a": "Canvas ID", "b": "student id", "c": "name", "d": "name", "e": "name"}
    assert (result.missing, result.unmatched) == ((), {})


def test_unmatched_submissions_say_why_and_the_rest_of_the_roster_is_missing():
    roster = read_roster(CANVAS)
    result = match_roster(roster, [
        who("a", student_id="2022001"),
        who("b", name="홍길동", student_id="2022099"),
        who("c", name="Jiwoo Park"),  # "Park, Jiwoo" on the roster: nothing fuzzier than the exact name
        who("d"),
    ])
    assert result.unmatched == {
        "b": "no one on the roster has student id 2022099 or the name 홍길동",
        "c": "no one on the roster has the name Jiwoo Park",
        "d": "nothing says whose it is (no LMS id, student id or name)",
    }
    assert [entry.name for entry in result.missing] == ["이서연", "Park, Jiwoo", "Choi, Yuna", "정하은"]


def test_a_name_two_students_share_matches_no_one(tmp_path):
    roster = read_roster(csv_file(tmp_path, "id,name\n2022001,김민준\n2022002,이서연\n2022003,김민준\n"))
    result = match_roster(roster, [who("a", name="김민준"), who("b", name="김민준", student_id="2022003")])
    assert result.unmatched == {"a": "2 students on the roster are named 김민준 (lines 2 and 4)"}
    assert result.matched == {"b": roster.entries[2]} and result.how == {"b": "student id"}


def test_two_submissions_claiming_one_student_are_both_left_for_a_person():
    roster = read_roster(CANVAS)
    result = match_roster(roster, [who("a", student_id="2022001"), who("b", name="김민준"), who("c", lms_user_id="10102")])
    assert result.unmatched == {
        "a": "matches 김민준 (line 4) by student id, as does b (by name)",
        "b": "matches 김민준 (line 4) by name, as does a (by student id)",
    }
    assert result.matched == {"c": roster.entries[1]}
    # 김민준 is claimed, so not missing
    assert [entry.name for entry in result.missing] == ["Park, Jiwoo", "Choi, Yuna", "정하은"]


def test_a_canvas_export_in_canvas_default_layout_separated_by_semicolons(tmp_path):
    """Without "include SIS ids" Canvas writes no SIS User ID column; some users get `;` and decimal commas."""
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeffStudent;ID;SIS Login ID;Section;Midterm (12345)\n"
                     "    Points Possible;;;;100,00\n"
                     "Kim, Minjun;10101;mjkim;DL2022 01;78,50\n".encode("utf-8"))
    roster = read_roster(path)
    assert roster.format == "canvas"
    assert roster.entries == (RosterEntry("Kim, Minjun", None, "10101", "mjkim", None, "DL2022 01", row=3, lms="canvas"),)
    assert (roster.sheet.delimiter, roster.sheet.bom, roster.sheet.rows[1].record.raw[4]) == (";", True, "78,50")


def test_a_moodle_grading_worksheet(tmp_path):
    path = csv_file(tmp_path, '\ufeffIdentifier,"Full name","Email address","ID number",Status,Grade,"Maximum Grade",'
                              '"Grade can be changed","Last modified (submission)","Last modified (grade)",'
                              '"Feedback comments"\n'
                              '"Participant 1234567","민준 김",mjkim@univ.ac.kr,2022001,"Submitted for grading",,'
                              '100.00,Yes,"Tuesday, 17 October 2023, 2:15 PM",-,\n'
                              '"Participant 1234568","김 서연",,,"No submission",70.00,100.00,No,-,-,"Makeup"\n')
    roster = read_roster(path)
    assert roster.format == "moodle-worksheet"
    assert roster.entries == (  # the names as Moodle wrote them, never re-split
        RosterEntry("민준 김", "2022001", "1234567", None, "mjkim@univ.ac.kr", None, row=2, lms="moodle"),
        RosterEntry("김 서연", None, "1234568", None, None, None, row=3, lms="moodle"))
    assert roster.sheet.bom and [row.kind for row in roster.sheet.rows] == ["student", "student"]


def test_a_blind_marking_worksheet_names_students_by_their_identifier(tmp_path):
    path = csv_file(tmp_path, "Identifier,Status,Grade,\"Last modified (grade)\"\n"
                              "\"Participant 1234567\",\"Submitted for grading\",,-\n")
    assert read_roster(path).entries == (RosterEntry("Participant 1234567", None, "1234567", None, None, None, row=2, lms="moodle"),)


@pytest.mark.parametrize("text, message", [
    ("Identifier,Grade,Last modified (grade)\nTeilnehmer/in 1,,-\n",
     "line 2: Identifier 'Teilnehmer/in 1' is not Moodle's 'Participant <number>' (expected the worksheet as Moodle "
     "wrote it, in English)"),
    ("Identifier,Grade,Last modified (grade)\nParticipant 7,,-\nParticipant 7,,-\n",
     "lines 2 and 3 both have participant id 7 (expected each student once)"),
])
def test_a_worksheet_that_cannot_be_used(tmp_path, text, message):
    path = csv_file(tmp_path, text)
    with pytest.raises(RosterError) as refused:
        read_roster(path)
    assert str(refused.value) == f"{path}: {message}"
