from __future__ import annotations

import base64
import io
import json
import os
import pickle
import tracemalloc

import nbformat
import numpy as np
import pytest

from grader.evidence import EvidenceError, read_evidence
from grader.evidence.read import MAX_ARRAY_BYTES, MAX_EVIDENCE_BYTES
from grader.probe.protocol import FORMAT_VERSION, array_line
from grader.notebook.read import NotebookError, read_notebook


@pytest.mark.parametrize("content, message", [
    (b"", "x.ipynb is empty (0 bytes): it is not a Jupyter notebook"),
    (b"<html></html>", "x.ipynb is not a Jupyter notebook: it is not JSON (line 1, column 1: Expecting value)"),
    (b'{"hello": 1}', "x.ipynb is JSON but not a Jupyter notebook: it has no cells"),
    (b'{"cells": [\xff]}', "x.ipynb is not a Jupyter notebook: it is not UTF-8 text (byte 11)"),
    (b"[" * 100_000, "x.ipynb is not a Jupyter notebook: its JSON is nested too deeply"),
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
    nb = read_notebook(path).notebook
    assert nb.nbformat == 4 and nb.cells[0].source == "print(1)"


def test_a_file_that_cannot_be_read(tmp_path):
    (tmp_path / "folder.ipynb").mkdir()
    with pytest.raises(NotebookError) as caught:
        read_notebook(tmp_path / "folder.ipynb")
    assert str(caught.value) == "folder.ipynb could not be read: Is a directory"


def test_a_notebook_over_the_ceiling_is_refused(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_bytes(b" " * 2_500_001)
    with pytest.raises(NotebookError) as caught:
        read_notebook(path, max_bytes=1_000_000)
    assert str(caught.value) == ("x.ipynb is 2.5 MB, over the 1.0 MB limit; "
                                 "clear its outputs (Edit > Clear outputs of all cells) and resubmit")


def test_huge_stored_outputs_are_cut_when_read(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("print(big)", outputs=[nbformat.v4.new_output("stream", text="0123456789" * 3_000_000)]),
        nbformat.v4.new_markdown_cell("small outputs are kept"),
        nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
            "execute_result", execution_count=1,
            data={"text/plain": "tensor([1.])", "image/png": "iVBO" * 500, "application/json": {"a": ["b" * 1200]}})]),
        nbformat.v4.new_code_cell("fail()", outputs=[nbformat.v4.new_output(
            "error", ename="ValueError", evalue="bad", traceback=["line 1\n", "x" * 2000])]),
        nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")]),
        nbformat.v4.new_code_cell("print(c)", outputs=[nbformat.v4.new_output("stream", text="c" * 600)]),
    ]
    path = tmp_path / "big.ipynb"
    nbformat.write(nb, path)
    size = path.stat().st_size

    tracemalloc.start()
    try:
        loaded = read_notebook(path, max_output_chars=1000, max_chars_in_all=2500)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 2.5 * size  # the file's bytes, then its text, then the parsed JSON: one at a time
    assert loaded.notes == [
        "the stored outputs of cells 1, 3, 4, 6 were cut when read (over 1,000 characters in one output, "
        "or 2,500 in all); grading uses the outputs of the re-run"]
    cells = loaded.notebook.cells
    assert cells[0].outputs[0].text == "0123456789" * 100 + "\n[… 29,999,000 characters of stored output cut by the grader]"
    assert cells[2].outputs[0].data == {
        "text/plain": "tensor([1.])",  # small: kept whole
        "image/png": "[… 2,000 characters of stored output cut by the grader]",  # a cut image is no image
        "application/json": "[… 1,200 characters of stored output cut by the grader]",
    }
    error = cells[3].outputs[0]
    assert (error.ename, error.evalue) == ("ValueError", "bad")
    assert error.traceback == ["line 1\n", "x" * 993, "\n[… 1,007 characters of stored output cut by the grader]"]
    assert cells[4].outputs[0].text == "1\n"
    # 2,500 in all, 1,000 + 12 + 3 + 1,000 + 2 of them kept before: 483 left
    assert cells[5].outputs[0].text == "c" * 483 + "\n[… 117 characters of stored output cut by the grader]"


def test_stored_outputs_of_nbformat_3_are_cut_too(tmp_path):
    output = {"output_type": "stream", "stream": "stdout", "text": ["a" * 50 + "\n"] * 3}
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [
        {"cells": [{"cell_type": "markdown", "source": "# one"}]},
        {"cells": [{"cell_type": "code", "input": "print(a)", "outputs": [output], "language": "python"}]}]}
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(v3))
    loaded = read_notebook(path, max_output_chars=60)
    assert loaded.notebook.cells[1].outputs[0].text == "a" * 50 + "\n" + "a" * 9 + "\n[… 93 characters of stored output cut by the grader]"
    assert loaded.notes == ["the stored outputs of cell 2 were cut when read (over 60 characters in one output, "
                            "or 20,000,000 in all); grading uses the outputs of the re-run"]


def test_a_notebook_with_small_outputs_has_no_notes(tmp_path):
    path = tmp_path / "small.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", outputs=[
        nbformat.v4.new_output("stream", text="1\n")])]), path)
    assert read_notebook(path).notes == []


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


def test_lines_out_of_the_probes_sequence_are_ignored_and_counted(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text(HEADER + STEP.replace('"seq":2', '"seq":99') + STEP + STEP)  # forged, real, replayed
    evidence = read_evidence(path)
    assert (evidence.foreign_lines, [step.seq for step in evidence.steps]) == ([2, 4], [2])
    assert len(read_evidence(path, from_probe=False).steps) == 3  # the grader's own cache is not numbered


def recorded(tmp_path, *arrays):
    """An evidence file as the probe writes it: its header, then each array with the capture event naming it."""
    from grader.probe.recorder import Recorder

    path = tmp_path / "e.jsonl"
    recorder = Recorder(shell=None, path=str(path))
    recorder.emit({"event": "probe", "version": FORMAT_VERSION, "torch": "test"})
    recorder.run = 1
    for number, array in enumerate(arrays, start=1):
        recorder.emit({"event": "capture", "id": f"c{number}", "what": "value", "array": recorder.save_array(array)})
    os.close(recorder.fd)
    return path


def test_arrays_round_trip_through_the_evidence_file(tmp_path):
    picture = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    weights = np.array([[0.5, -1.5]], dtype=np.float32)[:, ::-1]  # a view: its values are written
    path = recorded(tmp_path, picture, weights)
    assert os.listdir(tmp_path) == ["e.jsonl"]  # one file: the arrays are lines of it
    assert [json.loads(line)["seq"] for line in path.read_bytes().splitlines()] == [1, 2, 3, 4, 5]
    evidence = read_evidence(path)
    assert [(capture.array, capture.seq) for capture in evidence.captures.values()] == [("a1", 3), ("a2", 5)]
    assert (evidence.arrays["a1"].dtype, evidence.arrays["a1"].tolist()) == (np.uint8, picture.tolist())
    assert (evidence.arrays["a2"].dtype, evidence.arrays["a2"].tolist()) == (np.float32, [[-1.5, 0.5]])


def test_the_reference_cache_is_one_evidence_file_read_by_the_same_reader(tmp_path):
    from grader.reference import ReferenceRun, load_reference, save_reference

    evidence = read_evidence(recorded(tmp_path, np.eye(2), np.arange(3)))
    cache = tmp_path / "cache"
    save_reference(ReferenceRun(evidence, nbformat.v4.new_notebook()), cache / "reference.jsonl")
    assert sorted(os.listdir(cache)) == ["reference.ipynb", "reference.jsonl"]
    loaded = load_reference(cache / "reference.jsonl").evidence
    assert loaded.captures == evidence.captures
    assert {name: array.tolist() for name, array in loaded.arrays.items()} == {"a1": np.eye(2).tolist(),
                                                                               "a2": [0, 1, 2]}


def test_a_forged_array_line_out_of_the_probes_sequence_is_ignored_and_counted(tmp_path):
    header, real, capture = recorded(tmp_path, np.zeros(3)).read_bytes().splitlines(keepends=True)
    forged = array_line("a1", 99, 1, np.ones(3))  # the probe's own name, out of its numbers
    replayed = array_line("a1", 2, 1, np.ones(3))  # the probe's name and number, again after them
    named = b'{"event":"capture","id":"c9","what":"value","array":"a9","seq":8,"run":1}\n'
    path = tmp_path / "forged.jsonl"
    path.write_bytes(header + forged + real + capture + replayed + array_line("a9", 7, 1, np.ones(3)) + named)
    evidence = read_evidence(path)
    assert evidence.foreign_lines == [2, 5, 6, 7]
    assert (list(evidence.captures), evidence.arrays["a1"].tolist()) == (["c1"], [0.0, 0.0, 0.0])


def array_of(npy_base64: bytes, seq: int = 2) -> bytes:
    """An array line as the probe lays it out, holding whatever base64 it is given."""
    return b'{"event":"array","name":"a1","seq":%d,"run":1,"npy":"%s"}\n' % (seq, npy_base64)


def npy_of(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


ZEROS = base64.b64encode(npy_of(np.zeros(4)))


def naming_a1(seq: int) -> bytes:
    return b'{"event":"capture","id":"c1","what":"value","array":"a1","seq":%d,"run":1}\n' % seq


@pytest.mark.parametrize("line, message", [
    (array_of(base64.b64encode(npy_of(np.array([{"x": 1}], dtype=object), allow_pickle=True))),
     "the probe's array a1 is malformed: Object arrays cannot be loaded when allow_pickle=False"),
    (array_of(base64.b64encode(pickle.dumps([1.0, 2.0]))),
     r"the probe's array a1 is malformed: This file contains pickled \(object\) data"),
    (array_of(base64.b64encode(npy_of(np.array(["text"])))), "the probe's array a1 holds <U4, not numbers"),
    (array_of(base64.b64encode(npy_of(np.zeros(2, dtype=[("a", "f4")])))), "the probe's array a1 holds .*, not numbers"),
    (array_of(base64.b64encode(npy_of(np.zeros(2, dtype=np.complex64)))), "the probe's array a1 holds complex64"),
    (array_of(ZEROS[:-2] + b"  "),
     r"the probe's array a1 is not valid base64 \(Only base64 data is allowed\)"),
    (array_of(ZEROS + b"QQ=="),
     r"the probe's array a1 is not valid base64 \(Excess data after padding\)"),
    (array_of(base64.b64encode(npy_of(np.zeros(4))[:-3])), "the probe's array a1 is malformed: EOF: reading array data"),
    (array_of(base64.b64encode(npy_of(np.zeros(4))[:20])), "the probe's array a1 is malformed"),
    (array_of(ZEROS) + array_of(ZEROS, seq=3),
     "the evidence file holds the probe's array a1 twice"),
    (b'{"event":"array","name":"a1","npy":"AAAA","seq":2,"run":1}\n',
     "evidence line 2 is malformed: an array line without its npy field last"),
    (b'{"seq":2,"run":1,"event":"array","name":"a1","npy":"AAAA"}\n', "evidence line 2 is malformed"),
    (array_of(b"AAAA").replace(b'"a1"', b'"a1.npy"'), "evidence line 2 is malformed: 1 validation error"),
    (b"", "an event names the probe's array a1, but the evidence file holds no such array in the probe's sequence"),
])
def test_a_damaged_array_line_gets_its_evidence_error(tmp_path, line, message):
    path = tmp_path / "e.jsonl"
    path.write_bytes(HEADER.encode() + line + naming_a1(2 + line.count(b"\n")))
    with pytest.raises(EvidenceError, match=message):
        read_evidence(path)


def test_arrays_over_their_cap_in_all_are_refused(tmp_path):
    path = recorded(tmp_path, np.zeros(100), np.zeros(100))  # 928 bytes each, with np.save's header
    assert len(read_evidence(path, max_array_bytes=1856).arrays) == 2
    with pytest.raises(EvidenceError, match="the probe's arrays are over the 1855-byte limit in all"):
        read_evidence(path, max_array_bytes=1855)


def test_the_evidence_cap_has_room_for_the_events_and_every_array_in_base64():
    assert MAX_EVIDENCE_BYTES == 64 * 2**20 + len(base64.b64encode(bytes(MAX_ARRAY_BYTES)))


def test_reading_a_large_array_holds_no_copy_of_the_whole_file(tmp_path):
    picture = np.random.default_rng(0).random(2**22)  # 32 MiB; its line is 43 MiB in base64
    path = recorded(tmp_path, picture, picture)
    tracemalloc.start()
    try:
        evidence = read_evidence(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(evidence.arrays["a2"], picture)
    # The first array, and the second's 43 MiB line as it is read (readline joins its chunks): never the 87 MiB file.
    assert peak < 4 * picture.nbytes, peak / picture.nbytes
