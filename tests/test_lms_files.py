"""Round trips with files as Canvas and Moodle write them, checked cell by cell and by the LMSs' own import rules.

The downloads are written by tests/canvas_gradebook.py and tests/moodle_worksheet.py, which follow Canvas's exporter
and Moodle's grading table; the files the grader writes back are read by the same modules' importers, which follow
Canvas's and Moodle's import code. Results are built directly (no kernel): what a run would have stored.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from grader.export.formats import ExportOptions, export
from grader.gradebook import RubricSummary
from grader.lms.export import comment_html, write_canvas_import, write_moodle_worksheet
from grader.lms.roster import read_roster
from grader.lms.rows import ExportChoices, export_rows
from grader.report.feedback import feedback_text
from grader.results import CheckResult, ItemResult, ManualScore, SubmissionResult
from tests.canvas_gradebook import (Assignment, Course, ExportSettings, ImportPreview, Student, excel_resaved,
                                    export_gradebook, gradebook_table, import_preview, write_table)
from tests.moodle_worksheet import Assignment as MoodleAssignment
from tests.moodle_worksheet import (Participant, UploadPreview, download_worksheet, upload_preview, with_grade,
                                    worksheet_table, write_worksheet)

RUBRIC = RubricSummary(id="dl2022-midterm", title="Midterm", hash="sha256:5f1e", total=100, items=[
    {"id": "1.1", "title": "Training loop", "points": 60, "visibility": "hidden", "kinds": ["optimizer"]},
    {"id": "1.2", "title": "Why SGD", "points": 40, "visibility": "hidden", "kinds": ["manual"]}])
REFUSED = "the notebook could not be read: it is not valid JSON (line 1, column 1)"
MIDTERM = "Midterm (12345)"

# -- Canvas ---------------------------------------------------------------------------------------------------------

KIM = Student(10101, "김민준", "김, 민준", "2022001", "mjkim", sections=("DL2022 01",))
OBRIEN = Student(10102, "Seán O'Brien", "O'Brien, Seán", "2022002", "sobrien", "SSO-2", ("DL2022 02", "DL2022 01"))
PARK = Student(10103, "Jiwoo Park", "Park, Jiwoo", "2022003", "jwpark")
LEE = Student(10104, "이서연", "이서연", "2022004", "sylee")
CHOI = Student(10105, "Yuna Choi", "Choi, Yuna", "2022005", "ychoi")
MULLER = Student(10106, "Zoë Müller-Lüdenscheidt", "Müller-Lüdenscheidt, Zoë", "2022006", "zmuller")
JEONG = Student(10107, "정하은", "정, 하은", "2022007", "hjeong")
EQUALS = Student(10108, "=cmd", "=Cmd, Evil", "2022008", "evil")
HAN = Student(10109, "한결", "한, 결", "2022009", "ghan")
TEST = Student(10199, "Test Student", "Student, Test", test_student=True)
COURSE = Course(
    students=(KIM, OBRIEN, PARK, LEE, CHOI, MULLER, JEONG, EQUALS, HAN, TEST),
    assignments=(Assignment(12001, "Assignment 1", 10), Assignment(12345, "Midterm", 100, post_manually=True,
                                                                   not_assigned_to=frozenset({JEONG.id}))),
    scores={(KIM.id, 12001): 9.0, (KIM.id, 12345): 78.5,  # the exam's cell already filled: this run replaces it
            (OBRIEN.id, 12001): 8.5, (PARK.id, 12345): 61.0,  # Park's makeup exam, entered by hand
            (LEE.id, 12345): "EX", (MULLER.id, 12001): 7.25, (JEONG.id, 12001): 10.0},
    include_sis_id=True, show_integration_id=True)
# What this run graded, as a Canvas download names its authors (Canvas's user id), and one it refused.
GRADED = {KIM: 81.5, OBRIEN: 92.0, MULLER: 77.255, JEONG: 88.0, EQUALS: 50.0}
# The exam's cells Canvas should see change, as Canvas's exporter would have written them.
WRITTEN = {KIM: "81.50", OBRIEN: "92.00", MULLER: "77.26", EQUALS: "50.00"}


def result(student: str, total: float, name: str | None = None, lms_user_id: str | None = None,
           status: str = "graded", error: str | None = None, items: list[ItemResult] | None = None,
           student_id: str | None = None, lms: str = "canvas") -> SubmissionResult:
    return SubmissionResult(
        student=student, name=name, student_id=student_id, file=f"{student}.ipynb", status=status, total=total,
        max=100, error=error, lms=lms if lms_user_id else None, lms_user_id=lms_user_id, notebook_hash="sha256:0",
        rubric_hash=RUBRIC.hash,
        items=items or [ItemResult(id="1.1", points=total * 0.6, max_points=60, status="pass", message="ok",
                                   evidence="executed"),
                        ItemResult(id="1.2", points=total * 0.4, max_points=40, status="pass", message="ok",
                                   evidence="executed")])


def canvas_results() -> list[SubmissionResult]:
    graded = [result(str(student.id), total, student.name, str(student.id)) for student, total in GRADED.items()]
    refused = result(str(CHOI.id), 0.0, CHOI.name, str(CHOI.id), status="error", error=REFUSED)
    stray = result("99999", 40.0, "Someone Else", "99999")
    return [*graded, refused, stray]


def expected_canvas_file(settings: ExportSettings, cells: dict[Student, str], course: Course = COURSE) -> bytes:
    """Canvas's export with the exam's cells of `cells` as given (in the export's decimal mark): every other cell,
    the totals included, as downloaded."""
    table = gradebook_table(course, settings)
    column = table[0].index(MIDTERM)
    for row in table:
        for student, cell in cells.items():
            if row[1] == str(student.id):
                row[column] = cell.replace(".", ",") if settings.decimal_comma else cell
    return write_table(table, settings)


def fill(download: Path, out: Path, choices: ExportChoices = ExportChoices()):
    roster = read_roster(download)
    rows = export_rows(canvas_results(), roster, choices, lambda result: "")
    return write_canvas_import(out, roster, MIDTERM, rows, points_possible=100, bom=False)


EXCEL = "excel"  # the export re-saved by a spreadsheet: BOM and CRLF
QUOTED = "quote all"  # …with every cell quoted
VARIANTS = {
    "as Canvas writes it": (COURSE, ExportSettings(), None),
    "BOM, ; and decimal commas": (COURSE, ExportSettings(bom=True, semicolon=True, decimal_comma=True), None),
    ", with decimal commas (quoted)": (COURSE, ExportSettings(decimal_comma=True), None),
    "re-saved by Excel: BOM and CRLF": (COURSE, ExportSettings(), EXCEL),
    "every cell quoted": (COURSE, ExportSettings(), QUOTED),
    "no SIS User ID (Canvas's default)": (replace(COURSE, include_sis_id=False), ExportSettings(), None),
}


def downloaded(course: Course, settings: ExportSettings, resaved: str | None) -> bytes:
    data = export_gradebook(course, settings)
    return data if resaved is None else excel_resaved(data, quote_all=resaved == QUOTED)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_canvas_export_comes_back_with_only_the_graded_students_exam_cells_changed(tmp_path, variant):
    course, settings, resaved = VARIANTS[variant]
    download = tmp_path / "export.csv"
    download.write_bytes(downloaded(course, settings, resaved))
    out = tmp_path / "import.csv"
    summary = fill(download, out)

    expected = expected_canvas_file(settings, WRITTEN, course)
    if resaved is not None:
        expected = excel_resaved(expected, quote_all=resaved == QUOTED)
    assert out.read_bytes() == expected  # every cell, quote, line ending and the BOM as downloaded, bar four
    assert summary.written == ("10108", "10106", "10102", "10101")  # in the file's order
    # Canvas's importer (which reads 81,50 as 81.50): the exam's cells of the four graded students change, only them
    assert import_preview(course, out.read_bytes()) == ImportPreview(
        changes={(KIM.id, MIDTERM): ("78.5", "81.50"),
                 (OBRIEN.id, MIDTERM): ("", "92.00"), (MULLER.id, MIDTERM): ("", "77.26"),
                 (EQUALS.id, MIDTERM): ("", "50.00")},
        points_possible={}, new_assignments=(), unmatched_rows=())
    assert import_preview(course, download.read_bytes()).changes == {}  # Canvas's own export changes nothing


def test_what_is_left_as_it_was_and_what_needs_attention(tmp_path):
    download = tmp_path / "export.csv"
    download.write_bytes(export_gradebook(COURSE))
    summary = fill(download, tmp_path / "import.csv")
    assert summary.skipped == {
        "99999": "matched no one on the roster",
        "roster line 8": "no score: its cell is left as it was, so the LMS keeps the grade it has",  # Park
        "roster line 10": "no score: its cell is left as it was, so the LMS keeps the grade it has",  # 이서연
        "roster line 12": "no score: its cell is left as it was, so the LMS keeps the grade it has",  # 한결
    }
    assert summary.attention == {
        "10107": "the exam is not assigned to them in Canvas (N/A), so Canvas would not import their 88: its cell is "
                 "left as it was; assign it to them in Canvas and export the gradebook again",
        "10105": f"the grader refused it: {REFUSED}; no score: its cell is left as it was, so the LMS keeps the "
                 "grade it has",
    }
    lines = download.read_text(encoding="utf-8").splitlines()
    assert [lines[7][:13], lines[9][:9], lines[11][:12]] == ['"Park, Jiwoo"', "이서연,10104", '"한, 결",10109']


def test_zeros_asked_for_go_only_where_canvas_has_no_grade(tmp_path):
    download = tmp_path / "export.csv"
    download.write_bytes(export_gradebook(COURSE))
    out = tmp_path / "import.csv"
    summary = fill(download, out, ExportChoices(missing_zero=True, refused_zero=True))
    # Choi (refused) and 한결 (no submission) had nothing: 0; Park's makeup 61.00 and 이서연's EX stay
    assert out.read_bytes() == expected_canvas_file(ExportSettings(), {**WRITTEN, CHOI: "0.00", HAN: "0.00"})
    assert summary.skipped["roster line 8"] == "a 0 goes only where Canvas has no grade, and it has '61.00': its " \
                                              "cell is left as it was"
    assert summary.skipped["roster line 10"] == "excused in Canvas (EX): its cell is left as it was"
    assert summary.attention["10105"] == f"the grader refused it: {REFUSED}; exported as 0"
    assert import_preview(COURSE, out.read_bytes()).changes == {
        (KIM.id, MIDTERM): ("78.5", "81.50"), (OBRIEN.id, MIDTERM): ("", "92.00"), (CHOI.id, MIDTERM): ("", "0.00"),
        (MULLER.id, MIDTERM): ("", "77.26"), (EQUALS.id, MIDTERM): ("", "50.00"), (HAN.id, MIDTERM): ("", "0.00")}


def test_the_importer_check_sees_a_blanked_grade_as_a_change():
    """What the grader used to write: a student without a submission got an empty cell, and Canvas cleared it."""
    blanked = expected_canvas_file(ExportSettings(), {PARK: "", LEE: ""})
    assert import_preview(COURSE, blanked).changes == {(PARK.id, MIDTERM): ("61.0", None),
                                                       (LEE.id, MIDTERM): ("EX", None)}


def test_an_excused_student_who_was_graded_stays_excused(tmp_path):
    download = tmp_path / "export.csv"
    download.write_bytes(export_gradebook(COURSE))
    roster = read_roster(download)
    rows = export_rows([result(str(LEE.id), 70.0, LEE.name, str(LEE.id))], roster, ExportChoices(), lambda r: "")
    out = tmp_path / "import.csv"
    summary = write_canvas_import(out, roster, MIDTERM, rows, 100, bom=False)
    assert out.read_bytes() == download.read_bytes()
    assert summary.attention == {"10104": "excused in Canvas (EX): its cell is left as it was, not replaced by their "
                                          "score 70; to import it, remove the excuse in Canvas and export the "
                                          "gradebook again"}


def test_the_export_log_and_the_console_say_the_same(tmp_path):
    download = tmp_path / "export.csv"
    download.write_bytes(export_gradebook(COURSE))
    target = tmp_path / "canvas-import.csv"
    lines = export("canvas", target, RUBRIC, canvas_results(), ExportOptions(roster=download, column=MIDTERM))
    assert lines == [
        f"wrote {target}: 4 student(s)",
        "  left out 99999 (Someone Else): matched no one on the roster",
        "  left out roster line 8 (Park, Jiwoo): no score: its cell is left as it was, so the LMS keeps the grade it has",
        "  left out roster line 10 (이서연): no score: its cell is left as it was, so the LMS keeps the grade it has",
        "  left out roster line 12 (한, 결): no score: its cell is left as it was, so the LMS keeps the grade it has",
        "needs attention (2):",
        f"  10105 (Choi, Yuna): the grader refused it: {REFUSED}; no score: its cell is left as it was, so the LMS "
        "keeps the grade it has",
        "  10107 (정, 하은): the exam is not assigned to them in Canvas (N/A), so Canvas would not import their 88: its "
        "cell is left as it was; assign it to them in Canvas and export the gradebook again",
        f"this report is kept in {tmp_path / 'canvas-import.log'}",
    ]
    assert (tmp_path / "canvas-import.log").read_text(encoding="utf-8") == "\n".join(lines) + "\n"


# -- Moodle ---------------------------------------------------------------------------------------------------------

WHEN = datetime(2023, 10, 17, 14, 15)
MINJUN = Participant(1234567, "민준", "김", "mjkim@univ.ac.kr", submitted=WHEN)  # "First Last": 민준 김
SEOYEON = Participant(1234568, "김", "서연", "sylee@univ.ac.kr", submitted=WHEN,  # entered family name first: 김 서연
                      grade=55.0, feedback="<p>Resubmit, please</p>", graded=WHEN)
ZOE = Participant(1234569, "Zoë", "O'Brien", "zobrien@univ.ac.kr", status="No submission", grade=70.0,
                  feedback="Makeup exam, graded on paper", graded=WHEN)
YUNA = Participant(1234570, "Yuna", "Choi", "ychoi@univ.ac.kr", submitted=WHEN)
JIWOO = Participant(1234571, "지우", "박", "jwpark@univ.ac.kr", submitted=WHEN, grade=90.0, graded=WHEN,
                    grade_can_be_changed=False)
HAEUN = Participant(1234572, "하은", "정", "hjeong@univ.ac.kr", status="No submission")
PARTICIPANTS = [MINJUN, SEOYEON, ZOE, YUNA, JIWOO, HAEUN]


def moodle_results() -> list[SubmissionResult]:
    """As a Moodle download names its authors: `{Full name}_{participant id}_assignsubmission_file_`."""
    return [
        result("1234567", 81.5, "민준 김", "1234567", lms="moodle"),
        result("1234568", 64.25, "김 서연", "1234568", lms="moodle"),
        result("1234570", 0.0, "Yuna Choi", "1234570", status="error", error=REFUSED, lms="moodle"),
        result("1234571", 95.0, "지우 박", "1234571", lms="moodle"),
    ]


@pytest.mark.parametrize("assignment", [MoodleAssignment(), MoodleAssignment(decsep=",", online_text=True)],
                         ids=["as Moodle writes it", "decimal commas, an Online text column"])
def test_a_moodle_grading_worksheet_comes_back_filled(tmp_path, assignment):
    download = tmp_path / "worksheet.csv"
    download.write_bytes(download_worksheet(assignment, PARTICIPANTS))
    roster = read_roster(download)
    assert (roster.format, [(entry.name, entry.lms_user_id) for entry in roster.entries]) == ("moodle-worksheet", [
        ("민준 김", "1234567"), ("김 서연", "1234568"), ("Zoë O'Brien", "1234569"), ("Yuna Choi", "1234570"),
        ("지우 박", "1234571"), ("하은 정", "1234572")])  # the names as the worksheet has them, never re-split
    results = moodle_results()
    out = tmp_path / "filled.csv"
    summary = write_moodle_worksheet(out, roster, export_rows(
        results, roster, ExportChoices(), lambda result: feedback_text(RUBRIC, result)), bom=False)

    minjun, seoyeon = (comment_html(feedback_text(RUBRIC, result)) for result in results[:2])
    assert minjun == "1.1 (48.9/60) ok<br>1.2 (32.6/40) ok<br>Total: 81.5/100"
    filled = [with_grade(MINJUN, 81.5, minjun), with_grade(SEOYEON, 64.25, seoyeon), ZOE, YUNA, JIWOO, HAEUN]
    assert out.read_bytes() == download_worksheet(assignment, filled)  # as Moodle would write it, dates untouched
    assert summary.written == ("1234567", "1234568")
    assert summary.skipped == {
        "1234571": "Moodle does not let their grade be changed (Grade can be changed: No: locked or overridden in "
                   "the gradebook): its cell is left as it was",
        "roster line 4": "no score: its cell is left as it was, so the LMS keeps the grade it has",
        "roster line 7": "no score: its cell is left as it was, so the LMS keeps the grade it has"}
    assert summary.attention == {
        "1234570": f"the grader refused it: {REFUSED}; no score: its cell is left as it was, so the LMS keeps the "
                   "grade it has"}
    # Moodle's upload: two grades and two feedback comments set; Zoë's makeup grade and comment stay
    assert upload_preview(assignment, PARTICIPANTS, out.read_bytes()) == UploadPreview(
        grades={1234567: (None, 81.5), 1234568: (55.0, 64.25)},
        feedback={1234567: ("", minjun), 1234568: ("<p>Resubmit, please</p>", seoyeon)})
    assert upload_preview(assignment, PARTICIPANTS, download.read_bytes()) == UploadPreview(grades={}, feedback={})


def test_the_moodle_upload_check_sees_a_blanked_comment_as_a_change(tmp_path):
    table = worksheet_table(MoodleAssignment(), PARTICIPANTS)
    table[3][-1] = ""  # Zoë's comment emptied, as a writer that blanks rows it has nothing for would
    assert upload_preview(MoodleAssignment(), PARTICIPANTS, write_worksheet(table)) == UploadPreview(
        grades={}, feedback={1234569: ("Makeup exam, graded on paper", "")})


def test_moodle_feedback_comments_hold_only_what_the_student_may_see(tmp_path):
    download = tmp_path / "worksheet.csv"
    download.write_bytes(download_worksheet(MoodleAssignment(), PARTICIPANTS))
    roster = read_roster(download)
    checked = ItemResult(id="1.1", points=30, max_points=60, status="partial", message="학습률이 다릅니다 <lr>",
                         evidence="executed", checks=[CheckResult(
                             name="lr", points=30, max_points=60, passed=False, message="학습률이 다릅니다",
                             detail={"expected": 0.1234567, "tolerance": 1e-4})])
    by_ta = ItemResult(id="1.2", points=35, max_points=40, status="pass", message="graded by TA Lee",
                       evidence="executed", manual=ManualScore(
                           points=35, comment='정확함, "볼록성" 언급', reason="staff only: compared with 2022003's",
                           by="TA Lee", at="2023-10-18T09:00:00+00:00", kind="manual"))
    graded = result("1234567", 65.0, "민준 김", "1234567", items=[checked, by_ta], lms="moodle")
    out = tmp_path / "filled.csv"
    write_moodle_worksheet(out, roster, export_rows([graded], roster, ExportChoices(),
                                                    lambda result: feedback_text(RUBRIC, result)), bom=False)
    cell = read_roster(out).sheet.rows[0].cells[-1]
    assert cell == ("1.1 (30/60) 학습률이 다릅니다 &lt;lr&gt;<br>1.2 (35/40) Graded by a TA: 정확함, &quot;볼록성&quot; "
                    "언급<br>Total: 65/100")
    for secret in ("0.1234567", "tolerance", "staff only", "2022003", "TA Lee"):
        assert secret not in out.read_text(encoding="utf-8")


def test_a_grade_above_the_worksheets_maximum_is_left_for_a_person(tmp_path):
    download = tmp_path / "worksheet.csv"
    download.write_bytes(download_worksheet(MoodleAssignment(max_grade=10.0), [MINJUN]))
    roster = read_roster(download)
    out = tmp_path / "filled.csv"
    summary = write_moodle_worksheet(out, roster, export_rows(
        [result("1234567", 81.5, "민준 김", "1234567", lms="moodle")], roster, ExportChoices(), lambda result: ""), bom=False)
    assert out.read_bytes() == download.read_bytes()
    assert summary.attention == {"1234567": "their score 81.5 is above the worksheet's Maximum Grade 10.00, which "
                                            "Moodle skips: its cell is left as it was; set the assignment's maximum "
                                            "grade in Moodle and download the worksheet again"}


def test_a_worksheet_graded_with_a_scale_is_refused(tmp_path):
    download = tmp_path / "worksheet.csv"
    download.write_bytes("\ufeffIdentifier,\"Full name\",Grade,Scale,\"Last modified (grade)\"\n"
                         "\"Participant 1\",\"민준 김\",,\"Poor,Good\",-\n".encode("utf-8"))
    roster = read_roster(download)
    from grader.lms.export import ExportError
    with pytest.raises(ExportError) as refused:
        write_moodle_worksheet(tmp_path / "filled.csv", roster, [], bom=False)
    assert str(refused.value) == (f"{download}: line 1: the assignment is graded with a scale (a Scale column, no "
                                  "Maximum Grade); the grader gives points: set the assignment's grade type to Point "
                                  "in Moodle and download the worksheet again")


def test_the_summary_page_lists_what_needs_attention(tmp_path):
    from grader.report.render import write_reports

    refused = result("2022005", 0.0, "Yuna Choi", status="error", error=REFUSED, student_id="2022005")
    failed = result("2022006", 0.0, "김 <b>", status="error", error="the grader failed on this submission (not the "
                    "student's fault); it is graded again on the next run").model_copy(update={"retry": True})
    write_reports(tmp_path, RUBRIC, [result("2022001", 80.0, "김민준"), refused, failed], {})
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert ('<h2>Needs attention (2)</h2>\n<div class="card">\n<p>The grader refused these submissions or failed on '
            "them. <code>grader export</code> gives them no score, so the LMS\nkeeps what it has, and lists them "
            "again. With <code>--refused-zero</code> a refused one gets 0 where the LMS has no\ngrade; one the grader "
            "failed on is graded again on the next run.</p>\n"
            '<ul class="notes"><li><a href="students/2022005.html">Yuna Choi</a> (2022005): the grader refused it: '
            f"{REFUSED}</li>"
            '<li><a href="students/2022006.html">김 &lt;b&gt;</a>: the grader failed on this submission (not the '
            "student&#39;s fault); it is graded again on the next run</li></ul>\n</div>") in page


def test_a_grading_worksheet_is_no_canvas_roster(tmp_path):
    from grader.lms.export import ExportError

    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_bytes(download_worksheet(MoodleAssignment(), [MINJUN]))
    with pytest.raises(ExportError) as refused:
        export("canvas", tmp_path / "canvas.csv", RUBRIC, moodle_results()[:1], ExportOptions(roster=worksheet))
    assert str(refused.value) == (f"{worksheet}: a Moodle grading worksheet: its ids are Moodle's participant ids, "
                                  "which Canvas would take for its own; export it with --format moodle, or give "
                                  "Canvas's gradebook export (--roster)")
    assert not (tmp_path / "canvas.csv").exists()
