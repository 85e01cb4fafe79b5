from __future__ import annotations

import json

import nbformat
import pytest

from grader.evidence import EvidenceError, read_evidence
from grader.notebook.read import NotebookError, read_notebook


@pytest.mark.parametrize("content, message", [
    (b"", "x.ipynb is empty (0 bytes): it is not a Jupyter notebook"),
    (b"<html></html>", "x.ipynb is not a Jupyter notebook: it is not JSON (line 1, column 1: Expecting value)"),
    (b'{"hello": 1}', "x.ipynb is JSON but not a Jupyter notebook: it has no cells"),
    (b'{"cells": [\xff]}', "x.ipynb is not a Jupyter notebook: it is not UTF-8 text (byte 11)"),
    (b'{"cells": [], "nbformat": 4, "nbformat_minor": 5}',
     "x.ipynb is not a readable Jupyter notebook: The notebook is invalid and is missing an expected key: metadata"),
    (b'{"cells": [{"cell_type": "code", "source": 5, "metadata": {}, "outputs": [], "execution_count": null}],'
     b' "metadata": {}, "nbformat": 4, "nbformat_minor": 4}', "x.ipynb: cell 1 is damaged (no cell type or source)"),
])
def test_unreadable_notebooks_get_a_message_for_the_student(tmp_path, content, message):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError) as caught:
        read_notebook(path)
    assert str(caught.value) == message


def test_nbformat_3_is_converted(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "print(1)", "outputs": [], "language": "python"}]}]}
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(v3))
    nb = read_notebook(path)
    assert nb.nbformat == 4 and nb.cells[0].source == "print(1)"


def test_a_non_ipynb_name_gets_a_hint(tmp_path):
    path = tmp_path / "answers.pdf"
    path.write_bytes(b"%PDF-1.4")
    with pytest.raises(NotebookError, match=r"save it from Jupyter or Colab as \.ipynb"):
        read_notebook(path)


HEADER = '{"event":"probe","version":2,"torch":"2.14.1","seq":1,"run":0}\n'
STEP = ('{"event":"step","optimizer":"o1","class":"SGD","hyper":{"lr":0.2},"seq":2,"run":1,"params":[{"key":"p1",'
        '"shape":[1,2],"before":{"shape":[1,2],"dtype":"float32","data":[1.0,2.0]},"grad":null,'
        '"after":{"shape":[1,2],"dtype":"float32","data":["nan","inf"]},"state_step":null}]}\n')


def test_evidence_round_trip_and_a_cut_last_line(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text(HEADER + STEP + '{"event":"step","opti')  # the kernel died mid-write
    evidence = read_evidence(path)
    assert len(evidence.steps) == 1
    after = evidence.steps[0].params[0].after.array()
    assert after.shape == (1, 2) and str(after.tolist()) == "[[nan, inf]]"
    assert read_evidence_text(tmp_path, evidence.to_jsonl()).steps == evidence.steps


def read_evidence_text(tmp_path, text):
    path = tmp_path / "again.jsonl"
    path.write_text(text)
    return read_evidence(path)


@pytest.mark.parametrize("text, message", [
    (STEP, "the evidence file does not start with the probe's header"),
    (HEADER + '{"event":"step","seq":2,"run":1,"x":NaN}\n', "evidence line 2 is malformed"),
    (HEADER + '{"event":"pickle","seq":2,"run":1}\n', "evidence line 2 is malformed"),
    (HEADER + STEP.replace('"data":[1.0,2.0]', '"data":[1.0]'), None),
])
def test_malformed_evidence_is_refused(tmp_path, text, message):
    path = tmp_path / "e.jsonl"
    path.write_text(text)
    if message is None:  # well-formed JSON whose tensor does not fit its shape
        with pytest.raises(EvidenceError, match="1 values for shape"):
            read_evidence(path).steps[0].params[0].before.array()
        return
    with pytest.raises(EvidenceError, match=message):
        read_evidence(path)


def test_oversized_evidence_is_refused(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text(HEADER * 100)
    with pytest.raises(EvidenceError, match="over the 1000-byte limit"):
        read_evidence(path, max_bytes=1000)


def test_missing_evidence(tmp_path):
    with pytest.raises(EvidenceError, match="wrote no evidence file"):
        read_evidence(tmp_path / "none.jsonl")


def test_notebook_fixture_is_valid():
    nbformat.validate(nbformat.v4.new_notebook())
