"""Zipped submissions: found, unpacked privately and removed, or refused with a reason; no kernel."""

from __future__ import annotations

import random
import stat
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from grader.submission import discover
from grader.unzip import ZipLimits, ZipRefused, list_zip, unzip

IGNORED = frozenset({"__MACOSX", ".ipynb_checkpoints"})


def make_zip(path: Path, members: dict[str, bytes | int], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """members: name -> content, or name -> a Unix file mode (links, devices: content is empty)."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for number, (name, content) in enumerate(members.items()):
            info = zipfile.ZipInfo(name, date_time=(2022, 4, 20, 10, number, 0))
            if isinstance(content, int):
                info.external_attr = content << 16
                content = b""
            archive.writestr(info, content, compression)
    return path


def test_a_zipped_submission_folder_is_unpacked_privately_and_removed(tmp_path):
    zipped = make_zip(tmp_path / "신유나(2022012).zip", {
        "신유나(2022012)/": 0o040755,
        "신유나(2022012)/DL2022_midterm.ipynb": b"{}",
        "신유나(2022012)/data/a.jpg": b"jpg",
        "__MACOSX/신유나(2022012)/._DL2022_midterm.ipynb": b"resource fork",
    })
    (submission,) = discover(tmp_path, "*.ipynb")
    assert (submission.key, submission.name, submission.path, submission.error) == ("2022012", "신유나", zipped, None)
    assert submission.notebook == zipped / "DL2022_midterm.ipynb"
    assert submission.content_hash.startswith("sha256:")  # of the zip's bytes

    with submission.files() as files:
        assert files.name == "신유나(2022012)" and tmp_path not in files.parents  # not next to the students' files
        assert sorted(str(p.relative_to(files)) for p in files.rglob("*")) == ["DL2022_midterm.ipynb", "data", "data/a.jpg"]
        assert (files / submission.notebook.relative_to(submission.path)).read_bytes() == b"{}"
    assert not files.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["신유나(2022012).zip"]


def test_a_zip_of_just_the_notebook(tmp_path):
    make_zip(tmp_path / "hw_2022001.zip", {"midterm.ipynb": b"{}"})
    (submission,) = discover(tmp_path, "*.ipynb")
    assert (submission.student_id, submission.notebook.name) == ("2022001", "midterm.ipynb")
    with submission.files() as files:
        assert [p.name for p in files.iterdir()] == ["midterm.ipynb"]


def test_the_rubric_pattern_picks_the_notebook_in_a_zip(tmp_path):
    make_zip(tmp_path / "a(1).zip", {"work/scratch.ipynb": b"{}", "work/Midterm.ipynb": b"{}", "work/later.ipynb": b"{}"})
    make_zip(tmp_path / "b(2).zip", {"old.ipynb": b"{}", "new.ipynb": b"{}", "notes.txt": b""})
    matched, newest = discover(tmp_path, "midterm*.ipynb")
    assert (matched.notebook, matched.flags, matched.notes) == (tmp_path / "a(1).zip" / "Midterm.ipynb", (), ())
    assert (newest.notebook, newest.flags, newest.notes) == (
        tmp_path / "b(2).zip" / "new.ipynb", ("several-notebooks",),
        ("2 notebooks in the zip and none matches 'midterm*.ipynb'; graded the newest, new.ipynb",))


def test_a_zip_without_a_notebook(tmp_path):
    make_zip(tmp_path / "c(3).zip", {"answers.pdf": b"%PDF"})
    (submission,) = discover(tmp_path, "*.ipynb")
    assert (submission.notebook, submission.error) == (None, None)


@pytest.mark.parametrize("members, reason", [
    ({"ok.ipynb": b"{}", "../../.bashrc": b"rm -rf ~"},
     "'../../.bashrc' would land outside its folder (absolute paths and '..' are not allowed); "
     "zip the submission folder itself and resubmit"),
    ({"/etc/cron.d/x": b"x"}, "'/etc/cron.d/x' would land outside its folder (absolute paths and '..' are not allowed); "
                              "zip the submission folder itself and resubmit"),
    ({"a\\..\\..\\x.py": b"x"}, "'a\\\\..\\\\..\\\\x.py' would land outside its folder (absolute paths and '..' are not "
                                "allowed); zip the submission folder itself and resubmit"),
    ({"C:/Windows/x.ipynb": b"x"}, "'C:/Windows/x.ipynb' would land outside its folder (absolute paths and '..' are not "
                                   "allowed); zip the submission folder itself and resubmit"),
    ({"data": stat.S_IFLNK | 0o777}, "'data' is a symbolic link; zip the files themselves"),
    ({"pipe": stat.S_IFIFO | 0o644}, "'pipe' is not a regular file (a device, pipe or socket)"),
])
def test_unsafe_zips_are_refused_with_the_reason(tmp_path, members, reason):
    make_zip(tmp_path / "홍길동(2022001).zip", members)
    (submission,) = discover(tmp_path, "*.ipynb")
    assert (submission.key, submission.notebook) == ("2022001", None)
    assert submission.error == f"홍길동(2022001).zip was not unpacked: {reason}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["홍길동(2022001).zip"]  # nothing was written


def test_a_zip_bomb_is_refused_by_its_compression_ratio(tmp_path):
    path = make_zip(tmp_path / "x.zip", {"a.ipynb": b"{}", "zeros.csv": b"0" * 2_000_000})
    info = zipfile.ZipFile(path).getinfo("zeros.csv")
    with pytest.raises(ZipRefused) as caught:
        list_zip(path, IGNORED)
    assert str(caught.value) == (f"x.zip was not unpacked: 'zeros.csv' is compressed {info.file_size / info.compress_size:,.0f}"
                                 " to 1; over 200 to 1 is how zip bombs are made, not real files")
    assert 1000 < info.file_size / info.compress_size


def test_a_password_protected_member_is_refused(tmp_path):
    path = make_zip(tmp_path / "x.zip", {"nb.ipynb": b"{}"}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local header, central directory
        start = data.index(signature)
        data[start + flags_at] |= 0x1  # "encrypted" (zipfile cannot write encrypted members)
    path.write_bytes(bytes(data))
    with pytest.raises(ZipRefused) as caught:
        list_zip(path, IGNORED)
    assert str(caught.value) == "x.zip was not unpacked: 'nb.ipynb' is password-protected; zip it without a password"


@pytest.mark.parametrize("limits, reason", [
    (ZipLimits(members=2), "it holds 3 files and folders, more than the 2 the grader unpacks"),
    (ZipLimits(unpacked_bytes=1_000_000), "it unpacks to more than the 1 MB the grader unpacks; leave large data out and resubmit"),
])
def test_too_many_members_or_too_much_data(tmp_path, limits, reason):
    photo = random.Random(0).randbytes(1_500_000)  # does not compress
    path = make_zip(tmp_path / "x.zip", {"a.ipynb": b"{}", "b/": 0o040755, "b/c.jpg": photo})
    with pytest.raises(ZipRefused) as caught:
        list_zip(path, IGNORED, limits)
    assert str(caught.value) == f"x.zip was not unpacked: {reason}"


def test_not_a_zip(tmp_path):
    (tmp_path / "김민준(2022001).zip").write_bytes(b"<html>not a zip</html>")
    (submission,) = discover(tmp_path, "*.ipynb")
    assert submission.error == "김민준(2022001).zip is not a readable zip file: File is not a zip file"


def test_a_damaged_member_is_found_when_unpacking(tmp_path):
    path = make_zip(tmp_path / "x.zip", {"nb.ipynb": b'{"cells": []}'}, zipfile.ZIP_STORED)
    path.write_bytes(path.read_bytes().replace(b'{"cells": []}', b'{"cells": {}}'))  # same size, other CRC
    assert list(list_zip(path, IGNORED).files) == [PurePosixPath("nb.ipynb")]
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(ZipRefused) as caught:
        unzip(path, into, IGNORED)
    assert str(caught.value) == "x.zip could not be unpacked: 'nb.ipynb': Bad CRC-32 for file 'nb.ipynb'"
