"""LMS bulk downloads (Canvas, Moodle; a folder or the whole download as one zip): who each submission is,
the late mark, when it was submitted, which notebook is graded and which files it runs with; no kernel."""

from __future__ import annotations

import os
import sqlite3
import struct
import tempfile
import unicodedata
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from grader.batch import follow_new_keys
from grader.cli import app
from grader.export.results_json import results_document
from grader.gradebook import Gradebook
from grader.lms.roster import SubmitterKeys, find_each, read_roster
from grader.lms.rows import ExportChoices, export_rows, match_results
from grader.report import write_reports
from grader.submission import LmsName, Submission, discover, discovered, parse_lms_name
from grader.unzip import ZipRefused, written_at
from tests.lms_names import canvas_entry, canvas_resubmitted, moodle_entry
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
    return (submission.key, submission.name, submission.student_id, submission.lms_user_id, submission.name_in_file,
            submission.late, submission.submitted_at)


def unzip_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"grader-unzip-{os.getpid()}-*"))


@pytest.mark.parametrize("name, expected", [
    ("kimminjun_12345_67890_midterm.ipynb", LmsName("canvas", "12345", "midterm.ipynb", name_in_file="kimminjun")),
    ("leeseoyeon_LATE_12346_67891_midterm-2.ipynb",
     LmsName("canvas", "12346", "midterm-2.ipynb", name_in_file="leeseoyeon", late=True)),
    ("leeseoyeon_late_12346_67891_a_b.zip",  # older Canvas downcased LATE with the rest
     LmsName("canvas", "12346", "a_b.zip", name_in_file="leeseoyeon", late=True)),
    ("김민준_48211_3301001_midterm.ipynb", LmsName("canvas", "48211", "midterm.ipynb", name_in_file="김민준")),
    ("Kim_12345_67890_midterm.ipynb", None),  # Canvas downcases its name part
    ("kim minjun_12345_67890_midterm.ipynb", None),  # and drops spaces
    ("kimminjun_12345_midterm.ipynb", None),  # no attachment id
    ("김민준(2022001).ipynb", None),
    ("midterm_202212345.ipynb", None),
])
def test_lms_names(name, expected):
    assert parse_lms_name(name) == expected


# lms-rules.md §1.3, each example made by Canvas's rules (tests/lms_names.py) and read back.
@pytest.mark.parametrize("made, entry, expected", [
    (canvas_entry("Doe, Jane", 1234, 56789, "HW 1.ipynb"), "doejane_1234_56789_HW 1.ipynb",
     LmsName("canvas", "1234", "HW 1.ipynb", name_in_file="doejane")),
    (canvas_entry("Doe, Jane", 1234, 56789, "HW 1.ipynb", late=True), "doejane_LATE_1234_56789_HW 1.ipynb",
     LmsName("canvas", "1234", "HW 1.ipynb", name_in_file="doejane", late=True)),
    (canvas_entry("O'Brien, Seán", 1234, 56789, "HW 1.ipynb"), "obrienseán_1234_56789_HW 1.ipynb",
     LmsName("canvas", "1234", "HW 1.ipynb", name_in_file="obrienseán")),
    (canvas_entry("김, 민준", 1234, 56789, "midterm.ipynb"), "김민준_1234_56789_midterm.ipynb",
     LmsName("canvas", "1234", "midterm.ipynb", name_in_file="김민준")),
    (canvas_entry("민준, 김", 1234, 56789, "midterm.ipynb"), "민준김_1234_56789_midterm.ipynb",  # `김 민준`, inferred
     LmsName("canvas", "1234", "midterm.ipynb", name_in_file="민준김")),
    (canvas_entry("Smith_Jones, Ann", 1234, 56789, "HW 1.ipynb"), "smith_jonesann_1234_56789_HW 1.ipynb",
     LmsName("canvas", "1234", "HW 1.ipynb", name_in_file="smith_jonesann")),  # the underscore survives
    (canvas_entry("some_999_, _1234_guy", 1234, 56789, "hw_2022001.ipynb"),
     "some9991234guy_1234_56789_hw_2022001.ipynb",  # digits in the name part and in the file's name
     LmsName("canvas", "1234", "hw_2022001.ipynb", name_in_file="some9991234guy")),
    (canvas_entry("Doe, Jane", 1234, 56789, "2022001_midterm.ipynb"), "doejane_1234_56789_2022001_midterm.ipynb",
     LmsName("canvas", "1234", "2022001_midterm.ipynb", name_in_file="doejane")),
    (canvas_entry("Ünicodemân, Ça", 1234, 56789, "a: b?.ipynb"), "ünicodemânça_1234_56789_a_ b_.ipynb",
     LmsName("canvas", "1234", "a_ b_.ipynb", name_in_file="ünicodemânça")),
    (canvas_entry("हिन्दी, नाम", 1234, 56789, "a.ipynb"), "हिन्दीनाम_1234_56789_a.ipynb",  # marks are word characters
     LmsName("canvas", "1234", "a.ipynb", name_in_file="हिन्दीनाम")),
    (canvas_entry(None, None, 56789, "HW 1.ipynb", anonymous_id="x7Kp2"), "anon_x7Kp2_56789_HW 1.ipynb",
     LmsName("canvas", "anon_x7Kp2", "HW 1.ipynb")),
    (canvas_entry(None, None, 56789, "HW 1.ipynb", late=True, anonymous_id="x7Kp2"),
     "LATE_anon_x7Kp2_56789_HW 1.ipynb", LmsName("canvas", "anon_x7Kp2", "HW 1.ipynb", late=True)),
    (canvas_entry("Doe, Jane", 1234, kind="text"), "doejane_1234_text.html",
     LmsName("canvas", "1234", "", name_in_file="doejane", kind="text entry")),
    (canvas_entry("Doe, Jane", 1234, kind="url"), "doejane_1234_link.html",
     LmsName("canvas", "1234", "", name_in_file="doejane", kind="website URL")),
    (canvas_entry(None, None, late=True, anonymous_id="x7Kp2", kind="text"), "LATE_anon_x7Kp2_text.html",
     LmsName("canvas", "anon_x7Kp2", "", late=True, kind="text entry")),
    (canvas_entry("Group 1", 1234, 56789, "HW 1.ipynb"), "group1_1234_56789_HW 1.ipynb",  # a group's, by a member
     LmsName("canvas", "1234", "HW 1.ipynb", name_in_file="group1")),
    (canvas_entry("Doe, Jane", 1234, 56790, canvas_resubmitted("midterm.ipynb", 1)),
     "doejane_1234_56790_midterm-1.ipynb", LmsName("canvas", "1234", "midterm-1.ipynb", name_in_file="doejane")),
    (canvas_entry("Doe, Jane", 1234, 56791, canvas_resubmitted("lab.v2.ipynb", 1)),
     "doejane_1234_56791_lab-1.v2.ipynb", LmsName("canvas", "1234", "lab-1.v2.ipynb", name_in_file="doejane")),
])
def test_canvas_names_as_canvas_writes_them(made, entry, expected):
    assert made == entry
    assert parse_lms_name(entry) == expected


# lms-rules.md §4, each case made by Moodle's rules (tests/lms_names.py) and read back.
@pytest.mark.parametrize("made, entry, expected", [
    (moodle_entry("Jane Doe", 1234567, "hw1.ipynb"), "Jane Doe_1234567_assignsubmission_file/hw1.ipynb",
     LmsName("moodle", "1234567", "", name_in_file="Jane Doe")),
    (moodle_entry("Jane Doe", 1234567, "hw1.ipynb", before_4_1=True),
     "Jane Doe_1234567_assignsubmission_file_/hw1.ipynb",
     LmsName("moodle", "1234567", "", name_in_file="Jane Doe")),
    (moodle_entry("Jane Doe", 1234567, "sub/dir/data.csv", folders=False),
     "Jane Doe_1234567_assignsubmission_file_data.csv",
     LmsName("moodle", "1234567", "data.csv", name_in_file="Jane Doe")),
    (moodle_entry("민준 김", 1234567, "midterm_v2.ipynb", folders=False),
     "민준 김_1234567_assignsubmission_file_midterm_v2.ipynb",
     LmsName("moodle", "1234567", "midterm_v2.ipynb", name_in_file="민준 김")),
    (moodle_entry("O'Brien_Seán", 1234567, "a.ipynb"), "OBrien Seán_1234567_assignsubmission_file/a.ipynb",
     LmsName("moodle", "1234567", "", name_in_file="OBrien Seán")),  # `_` became a space, `'` was dropped
    (moodle_entry("Kim, Minjun (2반)", 1234567, "a.ipynb"), "Kim, Minjun (2반)_1234567_assignsubmission_file/a.ipynb",
     LmsName("moodle", "1234567", "", name_in_file="Kim, Minjun (2반)")),
    (moodle_entry("Lee 2", 7, "a.ipynb"), "Lee 2_7_assignsubmission_file/a.ipynb",
     LmsName("moodle", "7", "", name_in_file="Lee 2")),  # the last `_<digits>` is the id
    (moodle_entry("Participant", 1234567, "hw1.ipynb"), "Participant_1234567_assignsubmission_file/hw1.ipynb",
     LmsName("moodle", "1234567", "", name_in_file="Participant")),  # blind marking
    (moodle_entry("Participante", 1234567, "hw1.ipynb", folders=False),
     "Participante_1234567_assignsubmission_file_hw1.ipynb",
     LmsName("moodle", "1234567", "hw1.ipynb", name_in_file="Participante")),
    (moodle_entry("Tom & Jerry", 45, "a.ipynb"), "Tom  Jerry_45_assignsubmission_file/a.ipynb",  # a team: group id
     LmsName("moodle", "45", "", name_in_file="Tom  Jerry")),
    (moodle_entry("Default group", None, "a.ipynb"), "Default group_assignsubmission_file/a.ipynb",
     LmsName("moodle", None, "", name_in_file="Default group")),  # a team of students in no group
    (moodle_entry("Jane Doe", 1234567, "onlinetext.html", plugin="onlinetext"),
     "Jane Doe_1234567_assignsubmission_onlinetext/onlinetext.html",
     LmsName("moodle", "1234567", "", name_in_file="Jane Doe", kind="onlinetext")),
    (moodle_entry("Jane Doe", 1234567, "onlinetext.html", folders=False, plugin="onlinetext"),
     "Jane Doe_1234567_assignsubmission_onlinetext_onlinetext.html",
     LmsName("moodle", "1234567", "onlinetext.html", name_in_file="Jane Doe", kind="onlinetext")),
    ("\u1100\u1175\u11b7 \u1106\u1175\u11ab\u110c\u116e\u11ab_301_assignsubmission_file_a.ipynb",  # macOS NFD
     "김 민준_301_assignsubmission_file_a.ipynb", LmsName("moodle", "301", "a.ipynb", name_in_file="김 민준")),
])
def test_moodle_names_as_moodle_writes_them(made, entry, expected):
    assert unicodedata.normalize("NFC", made) == entry
    assert parse_lms_name(made.split("/")[0]) == expected


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


def test_a_canvas_download_with_korean_names(tmp_path):
    """Names as Canvas writes them: a notebook and its images zip, a late resubmission, a text entry beside a file,
    a text entry alone, a refused zip; each student's entries one submission, whatever the letters of the name."""
    when = (2026, 11, 20, 14, 0, 0)
    images = images_zip(tmp_path / "scratch")
    refused = make_zip(tmp_path / "scratch" / "data.zip", {"../x": (b"x", when)}).read_bytes()
    entries = {
        canvas_entry("김, 민준", 48211, 3301001, "midterm.ipynb"): notebook("kim"),
        canvas_entry("김, 민준", 48211, 3301002, "images.zip"): images,
        canvas_entry("이서연", 48212, 3301005, canvas_resubmitted("midterm.ipynb", 1), late=True): notebook("lee"),
        canvas_entry("O'Brien, Seán", 48213, 3301007, "hw_2022003.ipynb"): notebook("obrien"),
        canvas_entry("O'Brien, Seán", 48213, kind="text"): b"<p>see my notebook</p>",
        canvas_entry("박, 지우", 48214, 3301009, "data.zip"): refused,
        canvas_entry("최, 유나", 48215, kind="url"): b"<p>This submission was a url</p>",
    }
    assert list(entries) == [
        "김민준_48211_3301001_midterm.ipynb", "김민준_48211_3301002_images.zip", "이서연_LATE_48212_3301005_midterm-1.ipynb",
        "obrienseán_48213_3301007_hw_2022003.ipynb", "obrienseán_48213_text.html", "박지우_48214_3301009_data.zip",
        "최유나_48215_link.html"]
    download = make_zip(tmp_path / "midterm submissions.zip", {name: (data, when) for name, data in entries.items()})
    with discovered(download, "midterm*.ipynb") as found:
        obrien, kim, park, lee, choi = found  # in the order of the entries' names
        folder = kim.path.parent

        assert identity(kim) == ("48211", None, None, "48211", "김민준", False, "2026-11-20T14:00:00+00:00")
        assert (kim.lms, kim.path, kim.notebook) == ("canvas", folder / "김민준_48211_3301001_midterm.ipynb", kim.path)
        assert [part.name for part in kim.parts] == ["midterm.ipynb", "images.zip"]
        assert (kim.flags, kim.notes, kim.error) == ((), (
            "2 files of the download are this student's, graded as one submission: "
            "김민준_48211_3301001_midterm.ipynb, 김민준_48211_3301002_images.zip",), None)
        assert contents(kim) == (["images", "images/cat.jpg", "images/dog.jpg", "midterm.ipynb"], notebook("kim"))

        assert identity(lee) == ("48212", None, None, "48212", "이서연", True, "2026-11-20T14:00:00+00:00")
        assert contents(lee) == (["midterm-1.ipynb"], notebook("lee"))  # graded under Canvas's name for it

        # A bare number in the student's own file name is no id; the text entry beside the file is not graded.
        assert identity(obrien) == ("48213", None, None, "48213", "obrienseán", False, "2026-11-20T14:00:00+00:00")
        assert obrien.notes == ("obrienseán_48213_text.html is not graded: it is Canvas's text entry submission, "
                                "not an uploaded file",)
        assert contents(obrien) == (["hw_2022003.ipynb"], notebook("obrien"))

        assert (park.key, park.lms_user_id, park.notebook) == ("48214", "48214", None)
        assert park.error == (
            "박지우_48214_3301009_data.zip was not unpacked: '../x' would land outside its folder (absolute paths and "
            "'..' are not allowed); zip the submission folder itself and resubmit")

        assert (choi.key, choi.path, choi.notebook, choi.error) == ("48215", folder / "최유나_48215_link.html", None, None)
        assert choi.notes == ("최유나_48215_link.html is not graded: it is Canvas's website URL submission, not an "
                              "uploaded file",)


def test_an_anonymous_canvas_download(tmp_path):
    download = write_files(tmp_path / "download", {
        canvas_entry(None, None, 56789, "midterm.ipynb", anonymous_id="x7Kp2"): notebook("one"),
        canvas_entry(None, None, 56790, "images.zip", anonymous_id="x7Kp2"): images_zip(tmp_path / "scratch"),
        canvas_entry(None, None, 56791, "김민준(2022001).ipynb", late=True, anonymous_id="Ab9zQ"): notebook("two"),
    })
    two, one = discover(download, "midterm*.ipynb")
    anonymous = ("Canvas grades this assignment anonymously: its download says only {}, which no roster has; "
                 "Canvas's gradebook import takes no grades of an anonymous assignment before they are posted: enter "
                 "them in SpeedGrader")
    assert identity(one) == ("anon_x7Kp2", None, None, "anon_x7Kp2", None, False, None)
    assert [part.name for part in one.parts] == ["midterm.ipynb", "images.zip"]
    assert one.notes == ("2 files of the download are this student's, graded as one submission: "
                         "anon_x7Kp2_56789_midterm.ipynb, anon_x7Kp2_56790_images.zip", anonymous.format("anon_x7Kp2"))
    # The student's own file name still says who it is.
    assert identity(two) == ("2022001", "김민준", "2022001", "anon_Ab9zQ", None, True, None)
    assert two.notes == (anonymous.format("anon_Ab9zQ"),)


def test_a_moodle_download_of_each_kind(tmp_path):
    """4.1's folders and 3.x's (a trailing `_`), the student's subfolders, a team with its group id, a team of
    students in no group, full names kept as Moodle wrote them."""
    write_files(tmp_path, {
        moodle_entry("민준 김", 1234567, "midterm.ipynb"): notebook("kim"),
        moodle_entry("민준 김", 1234567, "data/sub/sample.csv"): b"x,y\n",
        moodle_entry("Kim, Seo-yeon (2반)", 1234568, "midterm.ipynb", before_4_1=True): notebook("lee"),
        moodle_entry("Tom & Jerry", 45, "midterm.ipynb"): notebook("team"),
        moodle_entry("Default group", None, "midterm.ipynb"): notebook("nogroup"),
    })
    nogroup, lee, team, kim = discover(tmp_path, "midterm*.ipynb")
    assert identity(kim) == ("1234567", "민준 김", None, "1234567", "민준 김", False, None)
    assert contents(kim) == (["data", "data/sub", "data/sub/sample.csv", "midterm.ipynb"], notebook("kim"))
    assert identity(lee) == ("1234568", "Kim, Seo-yeon (2반)", None, "1234568", "Kim, Seo-yeon (2반)", False, None)
    assert lee.path == tmp_path / "Kim, Seo-yeon (2반)_1234568_assignsubmission_file_"
    # Nothing in Moodle's names tells a team from a student: the group's name and id are read as any other.
    assert identity(team) == ("45", "Tom  Jerry", None, "45", "Tom  Jerry", False, None)
    assert identity(nogroup) == ("Default_group", "Default group", None, None, "Default group", False, None)
    assert (nogroup.flags, nogroup.notes) == (("no-student-id",), (
        "Moodle's download gives 'Default group_assignsubmission_file' no id (a team of students in no group); "
        "graded as 'Default_group'",))
    assert contents(nogroup) == (["midterm.ipynb"], notebook("nogroup"))


@pytest.mark.parametrize("word, flat", [("Participant", False), ("Participante", True)])
def test_moodle_blind_marking_names_no_one(tmp_path, word, flat):
    write_files(tmp_path, {
        moodle_entry(word, 1234567, "midterm.ipynb", folders=not flat): notebook("one"),
        moodle_entry(word, 1234569, "이서연(2022002).ipynb", folders=not flat): notebook("two"),
    })
    one, two = discover(tmp_path, "*.ipynb")
    blind = ("Moodle's blind marking hides whose this is: its download calls every student {!r}; only Moodle's "
             "grading worksheet ties participant {} to a student")
    assert identity(one) == ("1234567", None, None, "1234567", word, False, None)
    assert one.notes == (blind.format(word, "1234567"),)
    assert identity(two) == ("2022002", "이서연", "2022002", "1234569", word, False, None)  # the file says who


def test_two_students_of_one_name_are_not_blind_marking_with_others_beside_them(tmp_path):
    write_files(tmp_path, {moodle_entry("김민준", 301, "a.ipynb", folders=False): notebook("a"),
                           moodle_entry("김민준", 302, "b.ipynb", folders=False): notebook("b"),
                           moodle_entry("이서연", 303, "c.ipynb", folders=False): notebook("c")})
    assert [(s.key, s.name, s.notes) for s in discover(tmp_path, "*.ipynb")] == [
        ("301", "김민준", ()), ("302", "김민준", ()), ("303", "이서연", ())]


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

        assert identity(kim) == ("301", "김 민준", None, "301", "김 민준", False, "2026-11-20T10:01:00+00:00")
        assert kim.path == folder / "김 민준_301_assignsubmission_file_"
        assert kim.notebook == kim.path / "midterm.ipynb"
        assert (kim.flags, kim.notes) == ((), ())
        assert contents(kim) == (["data", "data/sample.csv", "midterm.ipynb"], notebook("kim"))

        # Only the online text is later than the files: it is not graded, and not its time either.
        assert identity(lee) == ("302", "이 서연", None, "302", "이 서연", False, "2026-11-20T11:02:00+00:00")
        assert lee.notebook == folder / "이 서연_302_assignsubmission_file_" / "제출" / "midterm.ipynb"
        assert lee.notes == ("이 서연_302_assignsubmission_onlinetext_ is not graded: it is Moodle's onlinetext "
                             "submission, not an uploaded file",)
        assert contents(lee) == (["images", "images/cat.jpg", "images/dog.jpg", "제출", "제출/midterm.ipynb"],
                                 notebook("lee"))

        # A student whose files are one zip: graded as a zipped submission folder, in that folder.
        assert identity(park) == ("2022003", "박 지호", "2022003", "303", "박 지호", False, "2026-11-20T12:00:00+00:00")
        assert park.path == folder / "박 지호_303_assignsubmission_file_" / "박지호(2022003).zip"
        assert (park.notebook, park.parts) == (park.path / "midterm.ipynb", ())
        assert contents(park) == (["data", "data/a.csv", "midterm.ipynb"], notebook("park"))

        assert identity(choi) == ("304", "최 유나", None, "304", "최 유나", False, "2026-11-20T13:00:00+00:00")
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

    assert identity(kim) == ("301", "김 민준", None, "301", "김 민준", False, None)
    assert kim.path == kim.notebook == tmp_path / "김 민준_301_assignsubmission_file_midterm.ipynb"
    assert kim.notes == ("3 files of the download are this student's, graded as one submission: "
                         "김 민준_301_assignsubmission_file_midterm.ipynb, 김 민준_301_assignsubmission_file_sample.csv, "
                         "김 민준_301_assignsubmission_file_scratch.ipynb",)
    assert contents(kim) == (["midterm.ipynb", "sample.csv", "scratch.ipynb"], notebook("kim"))

    assert identity(lee) == ("2022002", "이 서연", "2022002", "302", "이 서연", False, None)
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
    assert identity(moodle) == ("303", "박 지호", None, "303", "박 지호", False, None)
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
        "lms": "canvas", "lms_user_id": "12346", "name_in_file": "leeseoyeon", "late": True,
        "submitted_at": "2026-11-21T00:30:02+00:00"})


def test_the_gradebook_keeps_who_the_late_mark_and_the_time(tmp_path):
    with Gradebook(tmp_path / "g.sqlite") as book:
        book.bind_rubric(SUMMARY)
        book.store(downloaded_result())
        book.store(result("2022001"))
        back = book.result("12346")
        # the rubric has no late policy: the mark is reported, nothing is deducted
        assert back == downloaded_result().model_copy(update={
            "late_note": "late: marked late by the LMS (no submission time to measure it by); the rubric deducts nothing"})
        assert (back.lms, back.lms_user_id, back.name_in_file, back.late, back.submitted_at) == (
            "canvas", "12346", "leeseoyeon", True, "2026-11-21T00:30:02+00:00")
        plain = book.result("2022001")
        assert (plain.lms, plain.lms_user_id, plain.name_in_file, plain.late, plain.submitted_at) == (
            None, None, None, False, None)


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
# ... and as they were once downloads were read, before the name part was `name_in_file` and the LMS was said.
LOGIN_COLUMNS = """
ALTER TABLE submissions ADD COLUMN sandboxed INTEGER NOT NULL DEFAULT 1;
ALTER TABLE submissions ADD COLUMN lms_user_id TEXT;
ALTER TABLE submissions ADD COLUMN login TEXT;
ALTER TABLE submissions ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE submissions ADD COLUMN submitted_at TEXT;
ALTER TABLE submissions ADD COLUMN integrity TEXT NOT NULL DEFAULT '[]';
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
        assert columns[-9:] == ["sandboxed", "lms_user_id", "name_in_file", "late", "submitted_at", "integrity", "lms",
                                "confinement", "offline"]
        old = book.result("2022001")
        assert (old.name, old.sandboxed, old.confinement, old.lms, old.lms_user_id, old.name_in_file, old.late,
                old.submitted_at) == ("홍길동", True, "sandbox", None, None, None, False, None)
        book.store(downloaded_result())
        assert book.result("12346") == downloaded_result()
    with Gradebook(path) as again:  # opening it again adds nothing twice
        assert again.result("12346") == downloaded_result()


def test_a_gradebook_with_logins_keeps_them_as_the_name_part_and_learns_the_lms(tmp_path):
    path = tmp_path / "login.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SUBMISSIONS + LOGIN_COLUMNS)
        row = "'graded', 8, '[]', '[]', NULL, 'sha256:n1', 'sha256:r1', '[]', 1.5, '2026-11-27T00:00:00+00:00', 0, 1"
        db.execute(f"INSERT INTO submissions VALUES ('12346', NULL, NULL, 'a.ipynb', {row}, '12346', 'leeseoyeon', 1,"
                   " NULL, '[]')")
        db.execute(f"INSERT INTO submissions VALUES ('301', '김 민준', NULL, 'b', {row}, '301', NULL, 0, NULL, '[]')")
        db.execute(f"INSERT INTO submissions VALUES ('2022001', '홍길동', '2022001', 'c.ipynb', {row}, NULL, NULL, 0,"
                   " NULL, '[]')")
    db.close()
    with Gradebook(path) as book:
        columns = [row[1] for row in book.db.execute("PRAGMA table_info(submissions)")]
        assert "login" not in columns and columns[-9:] == [
            "sandboxed", "lms_user_id", "name_in_file", "late", "submitted_at", "integrity", "lms", "confinement",
            "offline"]
        assert [(r.student, r.lms, r.lms_user_id, r.name_in_file, r.late) for r in book.results()] == [
            ("12346", "canvas", "12346", "leeseoyeon", True), ("2022001", None, None, None, False),
            ("301", "moodle", "301", None, False)]


def test_results_json_and_the_report_show_them(tmp_path):
    late, plain = downloaded_result(), result("2022001")
    document = results_document(SUMMARY, [late, plain])
    assert [{key: entry[key] for key in ("student", "lms", "lms_user_id", "name_in_file", "late", "submitted_at")}
            for entry in document["submissions"]] == [
        {"student": "12346", "lms": "canvas", "lms_user_id": "12346", "name_in_file": "leeseoyeon", "late": True,
         "submitted_at": "2026-11-21T00:30:02+00:00"},
        {"student": "2022001", "lms": None, "lms_user_id": None, "name_in_file": None, "late": False,
         "submitted_at": None}]
    write_reports(tmp_path, SUMMARY, [late, plain], {})
    late_page = (tmp_path / "students" / "12346.html").read_text()
    assert (' · Canvas user 12346 · submitted 2026-11-21T00:30:02+00:00 · <span class="flag">late (LMS mark)</span>'
            '</div>') in late_page
    plain_page = (tmp_path / "students" / "2022001.html").read_text()
    assert "late (LMS mark)" not in plain_page and "submitted 20" not in plain_page and "Canvas user" not in plain_page


# -- the course's roster says whose each submission is, and so its key ------------------------------------------------

LMS = Path(__file__).resolve().parent / "lms"


def test_a_canvas_download_is_keyed_by_the_rosters_sis_user_ids(tmp_path):
    download = write_files(tmp_path / "download", {
        canvas_entry("김민준", 10101, 5551, "midterm.ipynb"): notebook("kim"),
        canvas_entry("Park, Jiwoo", 10103, 5553, "midterm.ipynb", late=True): notebook("park"),
        canvas_entry("Choi, Yuna", 10104, 5554, "최유나(2022004).ipynb"): notebook("choi"),
        canvas_entry("Han, Gyeol", 10199, 5559, "midterm.ipynb"): notebook("test student"),  # no student row
        canvas_entry(None, None, 5560, "midterm.ipynb", anonymous_id="x7Kp2"): notebook("anonymous"),
    })
    found = discover(download, "*.ipynb", roster=read_roster(LMS / "canvas_gradebook.csv"))
    assert [(s.key, s.name, s.student_id, s.lms, s.lms_user_id, s.name_in_file, s.late, s.flags) for s in found] == [
        ("anon_x7Kp2", None, None, "canvas", "anon_x7Kp2", None, False, ()),
        ("2022004", "최유나", "2022004", "canvas", "10104", "choiyuna", False, ()),  # the file named her already
        ("10199", None, None, "canvas", "10199", "hangyeol", False, ()),
        ("2022003", "Park, Jiwoo", "2022003", "canvas", "10103", "parkjiwoo", True, ()),
        ("2022001", "김민준", "2022001", "canvas", "10101", "김민준", False, ())]
    anonymous, choi, unknown, park, kim = found
    assert kim.notes == ("keyed by the roster's student id 2022001, not 10101: 김민준 on line 4 of "
                         "canvas_gradebook.csv, matched by Canvas ID",)
    assert park.notes == ("keyed by the roster's student id 2022003, not 10103: Park, Jiwoo on line 6 of "
                          "canvas_gradebook.csv, matched by Canvas ID",)
    assert (choi.notes, unknown.notes) == ((), ())
    assert anonymous.notes[0].startswith("Canvas grades this assignment anonymously")


def test_without_sis_user_ids_the_key_stays_canvass(tmp_path):
    roster = tmp_path / "export.csv"  # no SIS User ID for her
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Midterm (12345)\n    Points Possible,,,,,100.00\n"
                      "\"Doe, Jane\",1234,,jdoe,01,\n", encoding="utf-8")
    download = write_files(tmp_path / "download", {canvas_entry("Doe, Jane", 1234, 5, "a.ipynb"): notebook("a")})
    (jane,) = discover(download, "*.ipynb", roster=read_roster(roster))
    assert (jane.key, jane.name, jane.student_id, jane.lms_user_id, jane.notes) == (
        "1234", "Doe, Jane", None, "1234", ())


def test_a_canvas_and_a_plain_submission_of_one_student_meet(tmp_path):
    download = write_files(tmp_path / "download", {
        canvas_entry("김민준", 10101, 5551, "midterm.ipynb"): notebook("canvas"),
        "김민준(2022001).ipynb": notebook("by mail"),
        "이서연.ipynb": notebook("no id"),
    })
    plain, canvas, no_id = discover(download, "*.ipynb", roster=read_roster(LMS / "canvas_gradebook.csv"))
    assert (plain.key, plain.student_id, plain.flags, plain.notes) == ("2022001", "2022001", (), ())
    assert (canvas.key, canvas.student_id, canvas.flags, canvas.notes) == ("2022001~2", "2022001", ("duplicate-id",), (
        "keyed by the roster's student id 2022001, not 10101: 김민준 on line 4 of canvas_gradebook.csv, matched by "
        "Canvas ID", "another submission already uses the id '2022001'; this one is graded as '2022001~2'"))
    assert (no_id.key, no_id.flags) == ("이서연", ("no-student-id",))  # a name is read only beside an id
    # Exported, neither is given the student: a person decides which one counts.
    results = [result(s.key).model_copy(update={"student_id": s.student_id, "name": s.name, "lms": s.lms,
                                                "lms_user_id": s.lms_user_id}) for s in (plain, canvas)]
    match = match_results(read_roster(LMS / "canvas_gradebook.csv"), results)
    assert (match.matched, match.unmatched) == ({}, {
        "2022001": "matches 김민준 (line 4) by student id, as does 2022001~2 (by Canvas ID)",
        "2022001~2": "matches 김민준 (line 4) by Canvas ID, as does 2022001 (by student id)"})


def test_a_moodle_download_is_keyed_by_the_id_numbers_of_the_names_it_finds(tmp_path):
    download = write_files(tmp_path / "download", {
        moodle_entry("민준 김", 501, "midterm.ipynb"): notebook("kim"),
        moodle_entry("정하은", 505, "midterm.ipynb", folders=False): notebook("jeong"),
        moodle_entry("김 민준", 509, "midterm.ipynb"): notebook("same person, other order"),
        moodle_entry("Participant", 510, "midterm.ipynb"): notebook("blind"),
    })
    # The name as Moodle wrote it, never re-split: `김 민준` is not the roster's `민준 김`.
    moodle = [(s.key, s.name, s.student_id, s.lms_user_id) for s in discover(
        download, "*.ipynb", roster=read_roster(LMS / "moodle_participants.csv"))]
    assert moodle == [("510", None, None, "510"), ("509", "김 민준", None, "509"),
                      ("2022001", "민준 김", "2022001", "501"), ("2022005", "정하은", "2022005", "505")]


def test_a_moodle_participant_id_is_never_taken_for_a_canvas_id():
    roster = read_roster(LMS / "canvas_gradebook.csv")
    moodle = SubmitterKeys.of(key="10101", name=None, student_id=None, lms="moodle", lms_user_id="10101")
    anonymous = SubmitterKeys.of(key="anon_x7Kp2", name=None, student_id=None, lms="canvas", lms_user_id="anon_x7Kp2")
    canvas = SubmitterKeys.of(key="10101", name=None, student_id=None, lms="canvas", lms_user_id="10101")
    assert [(entry and entry.row, how) for entry, how in find_each(roster, [moodle, anonymous, canvas])] == [
        (None, "no one on the roster has participant id 10101"),  # a Canvas export holds Canvas IDs only
        (None, "nothing says whose it is (no LMS id, student id or name)"), (4, "Canvas ID")]


def test_an_export_without_a_roster_gives_canvas_only_canvas_user_ids():
    canvas = result("2022001").model_copy(update={"lms": "canvas", "lms_user_id": "10101"})
    anonymous = result("anon_x7Kp2").model_copy(update={"student_id": None, "lms": "canvas",
                                                         "lms_user_id": "anon_x7Kp2"})
    moodle = result("501").model_copy(update={"student_id": None, "lms": "moodle", "lms_user_id": "501"})
    rows = export_rows([canvas, anonymous, moodle], None, ExportChoices(), lambda result: "")
    assert [(row.student_key, row.entry.lms_user_id, row.entry.student_id) for row in rows] == [
        ("2022001", "10101", "2022001"), ("anon_x7Kp2", None, None), ("501", None, None)]


def graded(book: Gradebook, submissions: list[Submission], out: Path) -> None:
    """As `grader grade` stores them: under each one's key, with who it is; its executed notebook written."""
    (out / "executed").mkdir(parents=True, exist_ok=True)
    for submission in submissions:
        book.store(result(submission.key, notebook_hash=submission.content_hash).model_copy(
            update=submission.identity()))
        (out / "executed" / f"{submission.key}.ipynb").write_text(submission.key)


def manual_scores(book: Gradebook) -> list[tuple]:
    return book.db.execute("SELECT student, item, points, comment FROM manual_scores ORDER BY id").fetchall()


def test_graded_under_canvas_ids_then_with_the_roster(tmp_path):
    """The gradebook follows each student to the roster's key: their TA scores with them, no one left twice."""
    download = write_files(tmp_path / "download", {
        canvas_entry("김민준", 10101, 5551, "midterm.ipynb"): notebook("kim"),
        canvas_entry("Park, Jiwoo", 10103, 5553, "midterm.ipynb"): notebook("park"),
        "정하은(2022005).ipynb": notebook("jeong"),
    })
    out = tmp_path / "out"
    with Gradebook(out / "gradebook.sqlite") as book:
        book.bind_rubric(SUMMARY)
        first = discover(download, "*.ipynb")
        assert [s.key for s in first] == ["10103", "10101", "2022005"]
        graded(book, first, out)
        book.set_score("10101", "2.5", 2, "잘함", "TA Lee")
        book.set_score("2022005", "2.5", 1, "", "TA Lee")

        again = discover(download, "*.ipynb", roster=read_roster(LMS / "canvas_gradebook.csv"))
        assert [s.key for s in again] == ["2022003", "2022001", "2022005"]
        assert follow_new_keys(out, book, again) == {"10103": "2022003", "10101": "2022001"}
        assert book.students() == ["2022005"]  # the moved ones are graded again, under their new keys
        assert manual_scores(book) == [("2022001", "2.5", 2.0, "잘함"), ("2022005", "2.5", 1.0, "")]
        assert sorted(path.name for path in (out / "executed").iterdir()) == ["2022005.ipynb"]
        assert [book.is_current(s.key, s.content_hash, "sha256:r1", identity=s.identity()) for s in again] == [
            False, False, True]
        graded(book, again[:2], out)
        assert book.students() == ["2022001", "2022003", "2022005"]
        kim = book.result("2022001")
        assert (kim.name, kim.student_id, kim.lms_user_id, kim.items[1].manual.comment, kim.items[1].points) == (
            "김민준", "2022001", "10101", "잘함", 2.0)
        assert follow_new_keys(out, book, again) == {}  # a third run finds everyone where they are


def test_a_student_whose_new_key_another_held(tmp_path):
    """Canvas's submission takes 2022001, the plain one held it and becomes 2022001~2: each keeps its own scores."""
    download = write_files(tmp_path / "download", {
        canvas_entry("Kim, Minjun", 10101, 5551, "midterm.ipynb"): notebook("canvas"),
        "김민준(2022001).ipynb": notebook("by mail"),
    })
    out = tmp_path / "out"
    with Gradebook(out / "gradebook.sqlite") as book:
        book.bind_rubric(SUMMARY)
        first = discover(download, "*.ipynb")
        assert [s.key for s in first] == ["10101", "2022001"]
        graded(book, first, out)
        book.set_score("10101", "2.5", 2, "canvas's", "TA Lee")
        book.set_score("2022001", "2.5", 1, "plain's", "TA Lee")
        again = discover(download, "*.ipynb", roster=read_roster(LMS / "canvas_gradebook.csv"))
        assert [(s.key, s.lms_user_id) for s in again] == [("2022001", "10101"), ("2022001~2", None)]
        assert follow_new_keys(out, book, again) == {"10101": "2022001", "2022001": "2022001~2"}
        assert (book.students(), manual_scores(book)) == (
            [], [("2022001", "2.5", 2.0, "canvas's"), ("2022001~2", "2.5", 1.0, "plain's")])
        graded(book, again, out)
        assert [(r.student, r.lms_user_id, r.items[1].manual.comment) for r in book.results()] == [
            ("2022001", "10101", "canvas's"), ("2022001~2", None, "plain's")]
