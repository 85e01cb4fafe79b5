"""LMS bulk downloads (Canvas, Moodle; a folder or the whole download as one zip): who each submission is,
the late mark, when it was submitted, which notebook is graded and which files it runs with; no kernel."""

from __future__ import annotations

import os
import sqlite3
import struct
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.export.results_json import results_document
from grader.gradebook import Gradebook
from grader.report import write_reports
from grader.submission import LmsName, Submission, discover, discovered, parse_lms_name
from grader.unzip import ZipRefused, written_at
from tests.test_gradebook import SUMMARY, result

RUBRIC = Path(__file__).resolve().parents[1] / "rubrics" / "dl2022-midterm"


def notebook(source: str) -> bytes:
    """A small valid notebook whose one cell is `source` (so each file's content says which it is)."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(source, id="cell-1"))
    return nbformat.writes(nb).encode()


def make_zip(path: Path, members: dict[str, tuple[bytes, tuple[int, ...]]]) -> Path:
    """members: name -> (content, date_time); a name ending in / is a folder."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (content, date_time) in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=date_time), content)
    return path


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def images_zip(scratch: Path) -> bytes:
    """What a student zips next to the notebook: a folder of images (written in `scratch`, apart from the download)."""
    scratch.mkdir(exist_ok=True)
    path = scratch / "images.zip"
    zipped = (2026, 11, 19, 9, 0, 0)
    make_zip(path, {"images/cat.jpg": (b"cat", zipped), "images/dog.jpg": (b"dog", zipped)})
    return path.read_bytes()


def contents(submission: Submission) -> tuple[list[str], bytes]:
    """The files the submission runs with, and its graded notebook's bytes there."""
    with submission.files() as files:
        listed = sorted(str(path.relative_to(files)) for path in files.rglob("*"))
        return listed, submission.notebook_at(files).read_bytes()


def identity(submission: Submission) -> tuple:
    return (submission.key, submission.name, submission.student_id, submission.lms_user_id, submission.login,
            submission.late, submission.submitted_at)


def unzip_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"grader-unzip-{os.getpid()}-*"))


@pytest.mark.parametrize("name, expected", [
    ("kimminjun_12345_67890_midterm.ipynb", LmsName("canvas", "12345", "midterm.ipynb", login="kimminjun")),
    ("leeseoyeon_LATE_12346_67891_midterm-2.ipynb",
     LmsName("canvas", "12346", "midterm-2.ipynb", login="leeseoyeon", late=True)),
    ("leeseoyeon_late_12346_67891_a_b.zip", LmsName("canvas", "12346", "a_b.zip", login="leeseoyeon", late=True)),
    ("김 민준_301_assignsubmission_file_", LmsName("moodle", "301", "", full_name="김 민준")),
    ("Kim Min Jun_301_assignsubmission_file_midterm_v2.ipynb",
     LmsName("moodle", "301", "midterm_v2.ipynb", full_name="Kim Min Jun")),
    ("김 민준_301_assignsubmission_onlinetext_onlinetext.html",
     LmsName("moodle", "301", "onlinetext.html", full_name="김 민준", plugin="onlinetext")),
    ("\u1100\u1175\u11b7 \u1106\u1175\u11ab\u110c\u116e\u11ab_301_assignsubmission_file_a.ipynb",  # macOS NFD
     LmsName("moodle", "301", "a.ipynb", full_name="김 민준")),
    ("김민준(2022001).ipynb", None),
    ("midterm_202212345.ipynb", None),
    ("Kim_12345_67890_midterm.ipynb", None),  # Canvas writes the login in lower case
    ("kimminjun_12345_midterm.ipynb", None),
])
def test_lms_names(name, expected):
    assert parse_lms_name(name) == expected


def test_a_canvas_download_zip(tmp_path):
    download = make_zip(tmp_path / "submissions.zip", {
        "kimminjun_12345_67890_midterm.ipynb": (notebook("kim"), (2026, 11, 20, 14, 3, 0)),
        "kimminjun_12345_67899_images.zip": (images_zip(tmp_path / "scratch"), (2026, 11, 20, 14, 5, 10)),
        "leeseoyeon_LATE_12346_67891_이서연(2022002).ipynb": (notebook("lee"), (2026, 11, 21, 0, 30, 2)),
        "parkjiho_12347_67893_midterm-1.ipynb": (notebook("park"), (2026, 11, 20, 23, 59, 58)),
    })
    before = unzip_folders()
    with discovered(download, "midterm*.ipynb") as found:
        kim, lee, park = found
        folder = kim.path.parent
        assert tmp_path not in folder.parents and folder in unzip_folders() - before  # never next to the download

        assert identity(kim) == ("12345", None, None, "12345", "kimminjun", False, "2026-11-20T14:05:10+00:00")
        assert kim.path == kim.notebook == folder / "kimminjun_12345_67890_midterm.ipynb"
        assert [part.name for part in kim.parts] == ["midterm.ipynb", "images.zip"]
        assert (kim.flags, kim.notes, kim.error) == ((), (
            "2 files of the download are this student's, graded as one submission: "
            "kimminjun_12345_67890_midterm.ipynb, kimminjun_12345_67899_images.zip",), None)
        assert contents(kim) == (["images", "images/cat.jpg", "images/dog.jpg", "midterm.ipynb"], notebook("kim"))

        assert identity(lee) == (
            "2022002", "이서연", "2022002", "12346", "leeseoyeon", True, "2026-11-21T00:30:02+00:00")
        assert lee.notebook == folder / "leeseoyeon_LATE_12346_67891_이서연(2022002).ipynb"
        assert (lee.flags, lee.notes) == ((), ())
        assert contents(lee) == (["이서연(2022002).ipynb"], notebook("lee"))

        assert identity(park) == ("12347", None, None, "12347", "parkjiho", False, "2026-11-20T23:59:58+00:00")
        assert park.notebook == folder / "parkjiho_12347_67893_midterm-1.ipynb"
        assert contents(park) == (["midterm-1.ipynb"], notebook("park"))  # Canvas's name for the resubmission
    assert not folder.exists()
    assert unzip_folders() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch", "submissions.zip"]


def test_the_same_download_extracted_has_no_submission_times(tmp_path):
    download = write_files(tmp_path / "download", {"kimminjun_12345_67890_midterm.ipynb": notebook("kim"),
                                                   "kimminjun_12345_67899_images.zip": images_zip(tmp_path / "scratch")})
    (kim,) = discover(download, "*.ipynb")
    assert identity(kim) == ("12345", None, None, "12345", "kimminjun", False, None)
    assert contents(kim) == (["images", "images/cat.jpg", "images/dog.jpg", "midterm.ipynb"], notebook("kim"))
    (again,) = discover(download, "*.ipynb")
    assert again.content_hash == kim.content_hash
    (download / "kimminjun_12345_67899_images.zip").write_bytes(b"other images")
    (changed,) = discover(download, "*.ipynb")
    assert changed.content_hash != kim.content_hash  # new data in any of the student's files regrades


def test_a_moodle_download_in_folders(tmp_path):
    (tmp_path / "scratch").mkdir()
    download = make_zip(tmp_path / "moodle.zip", {
        "김 민준_301_assignsubmission_file_/": (b"", (2026, 11, 20, 10, 0, 0)),
        "김 민준_301_assignsubmission_file_/midterm.ipynb": (notebook("kim"), (2026, 11, 20, 10, 0, 0)),
        "김 민준_301_assignsubmission_file_/data/sample.csv": (b"x,y\n", (2026, 11, 20, 10, 1, 0)),
        "이 서연_302_assignsubmission_file_/제출/midterm.ipynb": (notebook("lee"), (2026, 11, 20, 11, 0, 0)),
        "이 서연_302_assignsubmission_file_/images.zip": (images_zip(tmp_path / "scratch"), (2026, 11, 20, 11, 2, 0)),
        "이 서연_302_assignsubmission_onlinetext_/onlinetext.html": (b"<p>see notebook</p>", (2026, 11, 20, 11, 3, 0)),
        "박 지호_303_assignsubmission_file_/박지호(2022003).zip": (make_zip(tmp_path / "scratch" / "park.zip", {
            "박지호(2022003)/midterm.ipynb": (notebook("park"), (2026, 11, 19, 8, 0, 0)),
            "박지호(2022003)/data/a.csv": (b"1", (2026, 11, 19, 8, 0, 0))}).read_bytes(), (2026, 11, 20, 12, 0, 0)),
        "최 유나_304_assignsubmission_onlinetext_/onlinetext.html": (b"<p>forgot the file</p>", (2026, 11, 20, 13, 0, 0)),
    })
    with discovered(download, "midterm*.ipynb") as found:
        kim, park, lee, choi = found  # in the order of the folders' names
        folder = kim.path.parent

        assert identity(kim) == ("301", "김 민준", None, "301", None, False, "2026-11-20T10:01:00+00:00")
        assert kim.path == folder / "김 민준_301_assignsubmission_file_"
        assert kim.notebook == kim.path / "midterm.ipynb"
        assert (kim.flags, kim.notes) == ((), ())
        assert contents(kim) == (["data", "data/sample.csv", "midterm.ipynb"], notebook("kim"))

        # Only the online text is later than the files: it is not graded, and not its time either.
        assert identity(lee) == ("302", "이 서연", None, "302", None, False, "2026-11-20T11:02:00+00:00")
        assert lee.notebook == folder / "이 서연_302_assignsubmission_file_" / "제출" / "midterm.ipynb"
        assert lee.notes == ("이 서연_302_assignsubmission_onlinetext_ is not graded: it is Moodle's onlinetext "
                             "submission, not an uploaded file",)
        assert contents(lee) == (["images", "images/cat.jpg", "images/dog.jpg", "제출", "제출/midterm.ipynb"],
                                 notebook("lee"))

        # A student whose files are one zip: graded as a zipped submission folder, in that folder.
        assert identity(park) == ("2022003", "박 지호", "2022003", "303", None, False, "2026-11-20T12:00:00+00:00")
        assert park.path == folder / "박 지호_303_assignsubmission_file_" / "박지호(2022003).zip"
        assert (park.notebook, park.parts) == (park.path / "midterm.ipynb", ())
        assert contents(park) == (["data", "data/a.csv", "midterm.ipynb"], notebook("park"))

        assert identity(choi) == ("304", "최 유나", None, "304", None, False, "2026-11-20T13:00:00+00:00")
        assert (choi.path, choi.notebook, choi.error) == (
            folder / "최 유나_304_assignsubmission_onlinetext_", None, None)
        assert choi.notes == ("최 유나_304_assignsubmission_onlinetext_ is not graded: it is Moodle's onlinetext "
                              "submission, not an uploaded file",)


def test_a_moodle_flat_download(tmp_path):
    write_files(tmp_path, {
        "김 민준_301_assignsubmission_file_midterm.ipynb": notebook("kim"),
        "김 민준_301_assignsubmission_file_scratch.ipynb": notebook("scratch"),
        "김 민준_301_assignsubmission_file_sample.csv": b"x,y\n",
        "이 서연_302_assignsubmission_file_이서연(2022002).ipynb": notebook("lee"),
        "이 서연_302_assignsubmission_onlinetext_onlinetext.html": b"<p>hi</p>",
    })
    kim, lee = discover(tmp_path, "midterm*.ipynb")

    assert identity(kim) == ("301", "김 민준", None, "301", None, False, None)
    assert kim.path == kim.notebook == tmp_path / "김 민준_301_assignsubmission_file_midterm.ipynb"
    assert kim.notes == ("3 files of the download are this student's, graded as one submission: "
                         "김 민준_301_assignsubmission_file_midterm.ipynb, 김 민준_301_assignsubmission_file_sample.csv, "
                         "김 민준_301_assignsubmission_file_scratch.ipynb",)
    assert contents(kim) == (["midterm.ipynb", "sample.csv", "scratch.ipynb"], notebook("kim"))

    assert identity(lee) == ("2022002", "이 서연", "2022002", "302", None, False, None)
    assert lee.notebook == tmp_path / "이 서연_302_assignsubmission_file_이서연(2022002).ipynb"
    assert lee.notes == ("이 서연_302_assignsubmission_onlinetext_onlinetext.html is not graded: it is Moodle's "
                         "onlinetext submission, not an uploaded file",)
    assert contents(lee) == (["이서연(2022002).ipynb"], notebook("lee"))


def test_a_folder_that_mixes_plain_canvas_and_moodle_names(tmp_path):
    write_files(tmp_path, {
        "김민준(2022001).ipynb": notebook("plain"),
        "kimminjun_12345_67890_김민준(2022001).ipynb": notebook("canvas"),
        "leeseoyeon_LATE_12346_67891_midterm.ipynb": notebook("late"),
        "박 지호_303_assignsubmission_file_midterm.ipynb": notebook("moodle"),
        "final.ipynb": notebook("final"),
    })
    final, canvas, late, plain, moodle = discover(tmp_path, "*.ipynb")

    assert identity(final) == ("final", None, None, None, None, False, None)
    assert (final.path, final.notebook, final.parts, final.flags) == (
        tmp_path / "final.ipynb", tmp_path / "final.ipynb", (), ("no-student-id",))
    assert identity(canvas) == ("2022001", "김민준", "2022001", "12345", "kimminjun", False, None)
    assert contents(canvas) == (["김민준(2022001).ipynb"], notebook("canvas"))
    assert identity(late) == ("12346", None, None, "12346", "leeseoyeon", True, None)
    # The same student id twice: the second is graded apart, flagged, as for any two submissions.
    assert identity(plain) == ("2022001~2", "김민준", "2022001", None, None, False, None)
    assert (plain.path, plain.notebook, plain.flags, plain.notes) == (
        tmp_path / "김민준(2022001).ipynb", tmp_path / "김민준(2022001).ipynb", ("duplicate-id",),
        ("another submission already uses the id '2022001'; this one is graded as '2022001~2'",))
    assert identity(moodle) == ("303", "박 지호", None, "303", None, False, None)
    assert contents(moodle) == (["midterm.ipynb"], notebook("moodle"))


def test_a_download_reads_the_last_group_of_digits_of_an_original_name(tmp_path):
    write_files(tmp_path, {
        "kimminjun_12345_67890_김민준(2반)(2022001) (1).ipynb": notebook("canvas"),
        "leeseoyeon_12346_67891_midterm_2022002.ipynb": notebook("bare"),  # a bare number may be a date: not read
        "parkjiho_12347_67892_midterm (1).ipynb": notebook("copy"),  # nor a browser's copy number
    })
    kim, lee, park = discover(tmp_path, "*.ipynb")
    assert identity(kim) == ("2022001", "김민준(2반)", "2022001", "12345", "kimminjun", False, None)
    assert (kim.flags, kim.notes) == ((), (
        "student id '2022001' read from '김민준(2반)(2022001) (1).ipynb'; not taken as the id: (2반), (1)",))
    assert identity(lee) == ("12346", None, None, "12346", "leeseoyeon", False, None)
    assert (lee.flags, lee.notes) == ((), ())
    assert identity(park) == ("12347", None, None, "12347", "parkjiho", False, None)
    assert (park.flags, park.notes) == ((), ())


def test_a_refused_zip_among_a_students_files(tmp_path):
    write_files(tmp_path, {"kimminjun_12345_67890_midterm.ipynb": notebook("kim")})
    make_zip(tmp_path / "kimminjun_12345_67899_data.zip", {"../x": (b"x", (2026, 11, 20, 0, 0, 0))})
    (kim,) = discover(tmp_path, "*.ipynb")
    assert (kim.key, kim.notebook) == ("12345", None)
    assert kim.error == ("kimminjun_12345_67899_data.zip was not unpacked: '../x' would land outside its folder "
                         "(absolute paths and '..' are not allowed); zip the submission folder itself and resubmit")


def test_a_download_zip_that_traverses_is_refused_as_a_whole(tmp_path):
    download = make_zip(tmp_path / "canvas_download.zip", {
        "kimminjun_12345_67890_midterm.ipynb": (notebook("kim"), (2026, 11, 20, 14, 3, 0)),
        "../x": (b"x", (2026, 11, 20, 14, 3, 0)),
    })
    before = unzip_folders()
    with pytest.raises(ZipRefused) as refused:
        with discovered(download, "*.ipynb"):
            pytest.fail("a refused download is never discovered")
    assert str(refused.value) == (
        "canvas_download.zip was not unpacked: '../x' would land outside its folder (absolute paths and '..' are not "
        "allowed); nothing was graded. Check that this is the zip the LMS gave, or unpack it yourself and grade that "
        "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["canvas_download.zip"]
    assert unzip_folders() == before


def test_grade_refuses_such_a_download_before_grading(tmp_path):
    download = make_zip(tmp_path / "canvas_download.zip", {"../x": (b"x", (2026, 11, 20, 14, 3, 0))})
    outcome = CliRunner().invoke(app, ["grade", str(download), "--rubric", str(RUBRIC), "--out", str(tmp_path / "out")])
    assert outcome.exit_code == 2
    said = " ".join(outcome.output.split())  # the console wraps long lines
    assert "error: canvas_download.zip was not unpacked: '../x' would land outside its folder" in said
    assert not (tmp_path / "out").exists()


def test_an_extended_timestamp_is_the_true_utc_time():
    info = zipfile.ZipInfo("a.ipynb", date_time=(2026, 11, 20, 23, 0, 0))  # the writer's local time
    assert written_at(info) == datetime(2026, 11, 20, 23, 0, 0, tzinfo=timezone.utc)
    moment = int(datetime(2026, 11, 20, 14, 0, 0, tzinfo=timezone.utc).timestamp())
    unix = struct.pack("<HHHH", 0x7875, 4, 0, 0)  # another extra field first: skipped
    info.extra = unix + struct.pack("<HHBi", 0x5455, 5, 0x1, moment)
    assert written_at(info) == datetime(2026, 11, 20, 14, 0, 0, tzinfo=timezone.utc)


def test_a_member_without_a_date_has_no_time():
    assert written_at(zipfile.ZipInfo("a.ipynb", date_time=(1980, 0, 0, 0, 0, 0))) is None  # DOS date 0, as read


def downloaded_result(student: str = "12346"):
    return result(student).model_copy(update={
        "lms_user_id": "12346", "login": "leeseoyeon", "late": True, "submitted_at": "2026-11-21T00:30:02+00:00"})


def test_the_gradebook_keeps_who_the_late_mark_and_the_time(tmp_path):
    with Gradebook(tmp_path / "g.sqlite") as book:
        book.bind_rubric(SUMMARY)
        book.store(downloaded_result())
        book.store(result("2022001"))
        back = book.result("12346")
        # the rubric has no late policy: the mark is reported, nothing is deducted
        assert back == downloaded_result().model_copy(update={
            "late_note": "late: marked late by the LMS (no submission time to measure it by); the rubric deducts nothing"})
        assert (back.lms_user_id, back.login, back.late, back.submitted_at) == (
            "12346", "leeseoyeon", True, "2026-11-21T00:30:02+00:00")
        plain = book.result("2022001")
        assert (plain.lms_user_id, plain.login, plain.late, plain.submitted_at) == (None, None, False, None)


# The submissions table as gradebooks were written before the sandbox and LMS downloads.
OLD_SUBMISSIONS = """
CREATE TABLE submissions (
    student TEXT PRIMARY KEY,
    name TEXT, student_id TEXT, file TEXT NOT NULL,
    status TEXT NOT NULL, max_points REAL NOT NULL,
    flags TEXT NOT NULL, notes TEXT NOT NULL, error TEXT,
    notebook_hash TEXT NOT NULL, rubric_hash TEXT NOT NULL,
    cells TEXT NOT NULL, seconds REAL NOT NULL, graded_at TEXT NOT NULL, retry INTEGER NOT NULL
);
"""


def test_an_old_gradebook_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SUBMISSIONS)
        db.execute("INSERT INTO submissions VALUES ('2022001', '홍길동', '2022001', '홍길동(2022001).ipynb', 'graded', 8,"
                   " '[]', '[]', NULL, 'sha256:n1', 'sha256:r1', '[]', 1.5, '2026-11-27T00:00:00+00:00', 0)")
    db.close()
    with Gradebook(path) as book:
        columns = [row[1] for row in book.db.execute("PRAGMA table_info(submissions)")]
        assert columns[-7:] == ["sandboxed", "lms_user_id", "login", "late", "submitted_at", "integrity",
                                "confinement"]
        old = book.result("2022001")
        assert (old.name, old.sandboxed, old.confinement, old.lms_user_id, old.login, old.late, old.submitted_at) == (
            "홍길동", True, "sandbox", None, None, False, None)
        book.store(downloaded_result())
        assert book.result("12346") == downloaded_result()
    with Gradebook(path) as again:  # opening it again adds nothing twice
        assert again.result("12346") == downloaded_result()


def test_results_json_and_the_report_show_them(tmp_path):
    late, plain = downloaded_result(), result("2022001")
    document = results_document(SUMMARY, [late, plain])
    assert [{key: entry[key] for key in ("student", "lms_user_id", "login", "late", "submitted_at")}
            for entry in document["submissions"]] == [
        {"student": "12346", "lms_user_id": "12346", "login": "leeseoyeon", "late": True,
         "submitted_at": "2026-11-21T00:30:02+00:00"},
        {"student": "2022001", "lms_user_id": None, "login": None, "late": False, "submitted_at": None}]
    write_reports(tmp_path, SUMMARY, [late, plain], {})
    late_page = (tmp_path / "students" / "12346.html").read_text()
    assert ' · submitted 2026-11-21T00:30:02+00:00 · <span class="flag">late (LMS mark)</span></div>' in late_page
    plain_page = (tmp_path / "students" / "2022001.html").read_text()
    assert "late (LMS mark)" not in plain_page and "submitted 20" not in plain_page
