"""The readers of untrusted files, fuzzed: on any input they return what they document or raise the grader's own
error with a message (naming the file where their messages do), never another exception. The strategies are in
tests/fuzz_strategies.py; benchmarks/fuzz_readers.py runs them for tens of thousands of cases.

Below the properties: each crash the fuzzing found, as its smallest input and the message it now gets."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from grader.evidence import EvidenceError, read_evidence
from grader.notebook.read import NotebookError, read_notebook
from grader.submission import discovered, nothing_to_grade
from grader.unzip import ZipRefused, list_zip, unzip
from tests.fuzz_strategies import READERS, Reader

# Reproducible in CI (the same cases every run), no example database, no deadline on this slow shared machine.
settings.register_profile("fuzz-readers", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings.get_profile("fuzz-readers")


def read_or_refused(reader: Reader, data: bytes) -> None:
    """`reader.feed` in a folder of its own; it asserts the contract, and lets anything else escape."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        reader.feed(data, Path(folder))


# Cases per reader: an LMS download is a zip of notebooks, the slowest to draw and read, hence fewer.
EXAMPLES = {"notebook": 100, "evidence": 100, "roster": 100, "zip": 100, "download": 60}


@pytest.mark.parametrize("reader", READERS, ids=[reader.name for reader in READERS])
def test_a_damaged_file_is_read_or_refused_with_the_readers_own_error(reader):
    @settings(FUZZ, max_examples=EXAMPLES[reader.name])
    @given(reader.files)
    def read_each(data):
        read_or_refused(reader, data)

    read_each()


# --- found by fuzzing


def test_a_number_too_long_to_read_is_no_notebook(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_bytes(b"1" * 4301)  # Python's int() refuses more than 4,300 digits: json raised a bare ValueError
    with pytest.raises(NotebookError) as caught:
        read_notebook(path)
    assert str(caught.value) == "x.ipynb is not a Jupyter notebook: its JSON holds a number of more than 4,300 digits"


def test_a_cell_type_that_is_no_string_is_a_damaged_cell(tmp_path):
    path = tmp_path / "x.ipynb"
    # nbformat_minor 6, newer than nbformat knows: nbformat lets the notebook through unvalidated
    path.write_text('{"cells": [{"cell_type": {}, "metadata": {}, "source": ""}], "metadata": {}, "nbformat": 4, '
                    '"nbformat_minor": 6}')
    with pytest.raises(NotebookError) as caught:  # was TypeError: unhashable type: 'NotebookNode'
        read_notebook(path)
    assert str(caught.value) == "x.ipynb: cell 1 is damaged (no cell type or source)"


def test_an_evidence_line_nested_too_deeply_is_malformed(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"event":"probe","version":2,"torch":"2.14.1","seq":1,"run":0}\n' + "[" * 100_000 + "\n")
    with pytest.raises(EvidenceError) as caught:  # was RecursionError
        read_evidence(path)
    assert str(caught.value) == "evidence line 2 is malformed: its JSON is nested too deeply"


def zip_bytes(name: str, content: bytes, compression: int = zipfile.ZIP_STORED) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), content, compression)
    return bytearray(buffer.getvalue())


def test_a_member_without_a_name_is_refused(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(zip_bytes("", b"x"))
    with pytest.raises(ZipRefused) as caught:  # was IndexError, in zipfile's ZipInfo.is_dir
        list_zip(path, frozenset())
    assert str(caught.value) == ("x.zip was not unpacked: one of its members has no name (the zip is damaged); "
                                 "zip the submission folder again and resubmit")


def test_damaged_lzma_data_is_refused(tmp_path):
    path = tmp_path / "x.zip"
    data = zip_bytes("a.ipynb", b"hello world" * 50, zipfile.ZIP_LZMA)
    data[48] ^= 0xFF  # in the compressed bytes: the local header (30) and the name (7), then LZMA's header
    path.write_bytes(data)
    (tmp_path / "out").mkdir()
    with pytest.raises(ZipRefused) as caught:  # was lzma.LZMAError
        unzip(path, tmp_path / "out", frozenset())
    assert str(caught.value) == "x.zip could not be unpacked: 'a.ipynb': Corrupt input data"


def test_a_local_header_whose_name_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "x.zip"
    # zipfile sets the UTF-8 flag for the name; the local header's copy of it, read only when unpacking, is damaged
    path.write_bytes(zip_bytes("é.ipynb", b"{}").replace("é".encode(), b"\xc3\x28", 1))
    (tmp_path / "out").mkdir()
    with pytest.raises(ZipRefused) as caught:  # was UnicodeDecodeError, from zipfile's ZipFile.open
        unzip(path, tmp_path / "out", frozenset())
    assert str(caught.value) == ("x.zip could not be unpacked: 'é.ipynb': 'utf-8' codec can't decode byte 0xc3 in "
                                 "position 0: invalid continuation byte")


def test_a_zip_version_zipfile_cannot_read_is_refused(tmp_path):
    path = tmp_path / "x.zip"
    data = zip_bytes("a.ipynb", b"{}")
    central = data.index(b"PK\x01\x02")
    data[central + 6] = 213  # "version needed to extract": 21.3
    path.write_bytes(data)
    with pytest.raises(ZipRefused) as caught:  # was NotImplementedError, from zipfile.ZipFile
        list_zip(path, frozenset())
    assert str(caught.value) == "x.zip is not a readable zip file: zip file version 21.3"


def test_a_download_holding_only_its_own_folder_is_empty(tmp_path):
    path = tmp_path / "download.zip"
    path.write_bytes(zip_bytes("./", b""))
    with discovered(path, "*.ipynb") as found:
        assert found == []
        assert nothing_to_grade(path, found) == f"{path} is empty: no submissions to grade"  # was IndexError
