"""`grader similarity`: code fingerprints, what outputs hold, pair scores on fixed works, and the ranking of the
graded samples (two copies among them, scripts/build_copies.py), its pages, CSV and a TA's decision."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import pytest
from starlette.testclient import TestClient

from grader.gradebook import Gradebook, GradebookError
from grader.review.app import ReviewConfig, create_app
from grader.similarity.code import cell_tokens, fingerprints
from grader.similarity.outputs import CellOutputs, distinctive_numbers, error_text
from grader.similarity.pairs import FLAG_AT, CodeCell, Template, Work, rank
from tests.conftest import run_cli

LOOP = """optimizr = torch.optim.Adam(net.parameters(), lr=0.1)
for epoc in range(5):
    yhat = net(X)  # forward
    loss = torch.mean((y - yhat) ** 2)
    loss.backward()
    print(net.weight.grad)
    optimizr.step()
    optimizr.zero_grad()
"""
# The same loop as a copier hands it in: names changed, comments and spacing changed.
DISGUISED = """opt_mine   = torch.optim.Adam(model_mine.parameters(), lr=0.1)
# 학습
for i in range(5):
    pred = model_mine(X)
    l = torch.mean((y-pred)**2)

    l.backward()   # 미분
    print(model_mine.weight.grad)
    opt_mine.step()
    opt_mine.zero_grad()
"""


def hashes(source: str, level: int = 0) -> set[int]:
    return {found.hash for found in fingerprints(cell_tokens(source, 0), level)}


def test_fingerprints_ignore_names_comments_and_spacing_but_not_what_the_code_calls():
    assert hashes(LOOP) == hashes(DISGUISED) and len(hashes(LOOP)) >= 5
    assert hashes(LOOP, level=2) & hashes(DISGUISED, level=2) == set()  # as written, nothing is alike
    other_call = LOOP.replace("zero_grad()", "step()").replace("optimizr.step()\n", "optimizr.zero_grad()\n", 1)
    assert hashes(other_call) != hashes(LOOP)  # attribute names are the library's: they stay
    # A cell Python cannot tokenize (an unclosed bracket) is still fingerprinted, word by word.
    assert hashes("print(net.weight.grad\n" + LOOP)


def test_distinctive_numbers_and_errors():
    text = "tensor([[-4.9000,  9.9000]]) 0.685751 0.375000 00:27 -15.7290 3.14159e-05 2.5"
    assert distinctive_numbers(text) == {"0.685751", "-15.729", "3.14159e-05"}
    assert error_text("AttributeError", "'Foo' object at 0x7f3a2b1c has no attribute\n  'bar'") == \
        "AttributeError: 'Foo' object at 0x… has no attribute 'bar'"
    fastai_table = {"output_type": "display_data", "data": {"text/html": (
        "<table><tr><th>epoch</th><th>train_loss</th><th>valid_loss</th></tr>"
        "<tr><td>0</td><td>0.685751</td><td>0.552861</td></tr></table>")}}
    in_a_library = {"output_type": "error", "ename": "TypeError", "evalue": "'NoneType' object is not iterable",
                    "traceback": ["Cell In[3], line 1\n----> 1 dls = ImageDataLoaders.from_folder(path)",
                                  "File /venv/lib/python3.11/site-packages/fastai/data/core.py:120, in setup"]}
    typo = {"output_type": "error", "ename": "NameError", "evalue": "name 'optimzr' is not defined",
            "traceback": ["Cell In[5], line 7\n----> 7 optimzr.step()"]}
    outputs = CellOutputs.of([fastai_table, in_a_library, typo])
    assert outputs.numbers == {"0.685751", "0.552861"}
    assert outputs.errors == {"TypeError: 'NoneType' object is not iterable": False,
                              "NameError: name 'optimzr' is not defined": True}


def _work(student: str, cells: list[str], stored: tuple[dict, ...] = (), executed: tuple[dict, ...] = (),
          wrong: dict[str, str] | None = None) -> Work:
    """A notebook of `cells` (items 2.1, 2.2, …); its first cell's outputs are `stored` and `executed`."""
    return Work(student, student, tuple(CodeCell(at, f"2.{at + 1}", code) for at, code in enumerate(cells)),
                {0: CellOutputs.of(stored)}, {0: CellOutputs.of(executed)},
                CellOutputs.of(stored + executed).errors, wrong or {})


def _printed(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


HONEST = [  # five ways students write (2)'s loop, each with its own habits
    LOOP,
    "opt = torch.optim.Adam(params=net.parameters(), lr=1e-1)\nfor _ in range(5):\n    opt.zero_grad()\n"
    "    out = net.forward(X)\n    loss = ((y - out)**2).mean()\n    loss.backward()\n    opt.step()\n"
    "    print(f'loss={loss.item():.4f}', net.weight.data)\n",
    "adam = torch.optim.Adam(net.parameters(), 0.1)\nloss_fn = torch.nn.MSELoss()\nk = 0\nwhile k < 5:\n"
    "    loss_fn(net(X), y).backward()\n    adam.step()\n    adam.zero_grad()\n    k += 1\nnet.weight\n",
    "optimizer = torch.optim.Adam(net.parameters(), lr=0.1)\nfor epoch in range(1, 5 + 1):\n"
    "    loss = torch.nn.functional.mse_loss(net(X), y)\n    optimizer.zero_grad()\n    loss.backward()\n"
    "    optimizer.step()\n    print(epoch, loss.item())\n",
    "o = torch.optim.Adam(net.parameters(), lr=0.1)\nfor t in range(5):\n    yh = net(X)\n"
    "    cost = torch.sum((y - yh)**2) / len(y)\n    cost.backward()\n    with torch.no_grad():\n"
    "        o.step()\n    o.zero_grad()\nprint(net.weight.detach().numpy())\n",
]


def notebook(student: int) -> list[str]:
    """Student `student`'s five cells: the loops of HONEST in their own order, with their own constants."""
    return [HONEST[(student + at) % 5].replace("5", str(student + 6)) for at in range(5)]


def disguised(cells: list[str]) -> list[str]:
    """A copier's: every name of the original made theirs, comments added, blank lines and spacing changed."""
    names = {"optimizr": "opt_mine", "net": "model_mine", "yhat": "pred", "loss": "l", "opt": "o2", "out": "o3",
             "adam": "a2", "loss_fn": "crit", "optimizer": "o4", "epoch": "e", "yh": "p2", "cost": "c2"}
    copied = []
    for cell in cells:
        for old, new in names.items():
            cell = re.sub(rf"(?<![.\w]){old}\b", new, cell)
        copied.append("# 학습\n" + cell.replace(" = ", "   =  ").replace("\n", "\n\n", 1))
    return copied


def test_a_disguised_copy_ranks_first_and_seeded_numbers_are_no_evidence():
    seeded = _printed("tensor([[-15.7290,  14.7198]])\ntensor([[-4.5006,  9.5008]])\n")  # everyone's, when right
    unseeded = _printed("tensor([-0.3654, 1.2287, 0.0521]) 0.685751\n")
    works = [_work(f"s{n}", notebook(n), (seeded,), (seeded,)) for n in range(5)]
    works.append(_work("copier", disguised(notebook(0)), (seeded,), (seeded,)))
    # s2 and s3 handed in the same unseeded run (a notebook passed on with its outputs); their re-runs differ.
    for at, rerun in ((2, "tensor([0.9133, -0.2211, 1.5508]) 0.612240\n"), (3, "tensor([1.0, 2.0, 3.0]) 0.5\n")):
        works[at] = _work(f"s{at}", notebook(at), (seeded, unseeded), (seeded, _printed(rerun)))
    ranking = rank(works, Template())
    first, second, *rest = ranking.pairs
    assert (first.a, first.b, first.flagged, first.code) == ("copier", "s0", True, 1.0)
    assert [e.kind for e in first.evidence] == ["code"]
    assert first.items == {"2.1": 1.0, "2.2": 1.0, "2.3": 1.0, "2.4": 1.0, "2.5": 1.0}
    # s0's first cell: the lines around its own constant; the rest every student writes, so it is not marked
    assert first.lines_b[0] == [1, 2, 3, 4]
    assert (second.a, second.b, second.code, second.flagged) == ("s2", "s3", 0.0, False)
    [outputs] = second.evidence
    assert (outputs.kind, outputs.weight, outputs.cells_a, outputs.cells_b) == ("outputs", 0.3, [1], [1])
    assert outputs.summary == ("3 stored number(s) that neither re-execution produced, in both notebooks: "
                               "-0.3654, 0.685751, 1.2287")  # 0.0521: too few digits to tell a run
    # Every pair prints the same seeded numbers: explained by the re-runs, no evidence at all; no honest pair is
    # flagged.
    assert all(e.kind != "outputs" for pair in rest for e in pair.evidence)
    assert not any(pair.flagged for pair in rest)


def test_shared_errors_and_wrong_answers_count_by_rarity():
    typo = {"output_type": "error", "ename": "NameError", "evalue": "name 'optimzr' is not defined",
            "traceback": ["Cell In[5], line 7"]}
    missing = {"output_type": "error", "ename": "ModuleNotFoundError", "evalue": "No module named 'icrawler'",
               "traceback": ["Cell In[2], line 1"]}
    works = [_work("a", notebook(0), executed=(typo, missing), wrong={"3.4": "answered False"}),
             _work("b", notebook(1), executed=(typo, missing), wrong={"3.4": "answered False"}),
             _work("c", notebook(2), executed=(typo,)),
             *(_work(f"d{n}", notebook(3 + n)) for n in range(2))]
    pairs = {(pair.a, pair.b): pair for pair in rank(works).pairs}
    assert set(pairs) == {("a", "b"), ("a", "c"), ("b", "c")}
    errors = next(e for e in pairs[("a", "b")].evidence if e.kind == "errors")
    # the typo 0.3 / (3 - 1); the missing module a third of 0.3, as two only have it
    assert errors.weight == 0.25
    assert errors.summary == ("the same errors: ModuleNotFoundError: No module named 'icrawler' (2 students); "
                              "NameError: name 'optimzr' is not defined (3 students)")
    wrong = next(e for e in pairs[("a", "b")].evidence if e.kind == "wrong-answers")
    assert (wrong.weight, wrong.summary) == (0.1, "the same wrong answer: 3.4: answered False (2 students)")
    assert [(e.kind, e.weight) for e in pairs[("a", "c")].evidence] == [("errors", 0.15)]


@pytest.fixture(scope="module")
def compared(graded, tmp_path_factory, cache_dir):
    """The graded samples compared with the CLI, in a copy of their folder (the shared one is only read)."""
    out = tmp_path_factory.mktemp("similarity") / "out"
    shutil.copytree(graded, out)
    done = run_cli("similarity", "--out", str(out), "--top", "3", env_cache=cache_dir)
    return out, done, json.loads((out / "similarity" / "similarity.json").read_text(encoding="utf-8"))


def test_the_samples_two_copies_rank_first_and_no_honest_pair_is_flagged(compared):
    out, done, report = compared
    pairs = report["ranking"]["pairs"]
    assert [(pair["a"], pair["b"], pair["flagged"]) for pair in pairs[:2]] == [
        ("2022014", "2022025", True),  # 한예린's outputs handed in by 민하진: her unseeded run's numbers and pictures
        ("2022002", "2022024", True)]  # 이서연's code renamed, re-commented, cells merged, run again
    assert not any(pair["flagged"] for pair in pairs[2:])
    assert max(pair["score"] for pair in pairs[2:]) < min(pair["score"] for pair in pairs[:2])
    first, second = pairs[0], pairs[1]
    kinds = {e["kind"]: e for e in first["evidence"]}
    assert set(kinds) == {"outputs", "pictures"} and first["code"] == 0.0  # the copier changed every name
    assert kinds["pictures"]["summary"] == "2 identical stored picture(s) that neither re-execution drew again"
    assert kinds["pictures"]["cells_a"] == kinds["pictures"]["cells_b"] == [7, 11]
    assert kinds["outputs"]["cells_a"] == [9, 11] and kinds["outputs"]["weight"] >= 0.5
    assert [e["kind"] for e in second["evidence"]] == ["code"] and second["code"] >= FLAG_AT
    assert set(second["items"]) == {"2.1", "2.2", "2.3", "2.4"}
    # Honest samples print the exam's correct numbers: seeded, explained by re-execution, never evidence.
    assert all(e["kind"] != "outputs" for pair in pairs[2:] for e in pair["evidence"])
    assert report["notes"] == ["한지민 (2022010): no notebook to compare (한지민(2022010).ipynb is not a Jupyter "
                               "notebook: it is not JSON (line 1, column 1: Expecting value))"]
    assert report["ranking"]["students"] == 24
    assert "24 submissions compared in" in done.stderr and "2 flagged" in done.stderr


def test_pages_csv_and_a_decision_that_changes_no_score(compared, cache_dir, tmp_path):
    out, _, report = compared
    shutil.copytree(out, tmp_path / "out")
    out = tmp_path / "out"
    folder = out / "similarity"
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert "한예린 (2022014) · 민하진 (2022025)" in index and "not looked at" in index
    page = (folder / "pairs" / "2022002--2022024.html").read_text(encoding="utf-8")
    assert page.count('class="line matched"') >= 10 and "item 2.2" in page
    rows = list(csv.DictReader(io.StringIO((folder / "pairs.csv").read_text(encoding="utf-8"))))
    assert len(rows) == len(report["ranking"]["pairs"])
    assert (rows[0]["student_a"], rows[0]["name_b"], rows[0]["flagged"], rows[0]["decision"]) == \
        ("2022014", "민하진", "yes", "")
    before = json.loads((out / "results.json").read_text(encoding="utf-8"))

    done = run_cli("similarity", "decide", "2022025", "2022014", "--decision", "refer", "--by", "TA <Kim>",
                   "--note", "same pictures", "--out", str(out), env_cache=cache_dir)
    assert done.stderr.strip() == "2022014 · 2022025: refer to the instructor by TA <Kim>"
    rows = list(csv.DictReader(io.StringIO((folder / "pairs.csv").read_text(encoding="utf-8"))))
    assert (rows[0]["decision"], rows[0]["decided_by"]) == ("refer", "TA <Kim>")
    assert "refer to the instructor <span class=\"muted\">(TA &lt;Kim&gt;)</span>" in \
        (folder / "index.html").read_text(encoding="utf-8")
    with Gradebook(out / "gradebook.sqlite") as book:
        [review] = book.pair_reviews()
        assert (review.first, review.second, review.decision, review.note, review.score) == \
            ("2022014", "2022025", "refer", "same pictures", report["ranking"]["pairs"][0]["score"])
        with pytest.raises(GradebookError, match="no submission 2099999 in this gradebook"):
            book.review_pair("2022014", "2099999", "refer", "", "Kim")
    refused = run_cli("similarity", "decide", "2022014", "2022025", "--decision", "copied", "--by", "Kim",
                      "--out", str(out), env_cache=cache_dir, check=False)
    assert refused.returncode == 2
    assert "unknown decision 'copied'; one of: no-concern, undecided, refer" in refused.stderr
    run_cli("report", "--out", str(out), env_cache=cache_dir)
    assert '<a href="similarity/index.html">Similar submissions</a>' in (out / "index.html").read_text(encoding="utf-8")
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"] == before["submissions"]
    run_cli("feedback", "--out", str(out), env_cache=cache_dir)
    assert "similar" not in (out / "feedback" / "2022025.html").read_text(encoding="utf-8").lower()


def test_the_review_pages_show_the_pairs_and_record_a_decision(compared, tmp_path):
    out, _, _ = compared
    mine = tmp_path / "out"
    shutil.copytree(out, mine)
    config = ReviewConfig(gradebook=mine / "gradebook.sqlite", ta="TA <Lee>", out=mine, token="secret",
                          allowed_hosts=("testserver",))
    browser = TestClient(create_app(config))
    listing = browser.get("/similarity?token=secret")
    assert listing.status_code == 200
    assert listing.text.index('data-pair="2022014--2022025"') < listing.text.index('data-pair="2022002--2022024"')
    page = browser.get("/similarity/2022024/2022002")  # either order
    assert page.status_code == 200 and 'id="pair-score"' in page.text and 'name="decision"' in page.text
    assert browser.post("/similarity/2022002/2022024/decide", data={"decision": "refer"}).status_code == 403
    saved = browser.post("/similarity/2022002/2022024/decide",
                         data={"csrf": "secret", "decision": "no-concern", "note": "<b>same lecture notes</b>"})
    assert saved.status_code == 200 and 'id="pair-history"' in saved.text
    assert "&lt;b&gt;same lecture notes&lt;/b&gt;" in saved.text and "TA &lt;Lee&gt;" in saved.text
    refused = browser.post("/similarity/2022002/2022024/decide", data={"csrf": "secret", "decision": "guilty"})
    assert refused.status_code == 400 and "unknown decision &#39;guilty&#39;" in refused.text
    assert browser.get("/similarity/2022001/2099999").status_code == 404
    with Gradebook(mine / "gradebook.sqlite") as book:
        assert [(r.first, r.second, r.decision, r.by) for r in book.pair_reviews()] == [
            ("2022002", "2022024", "no-concern", "TA <Lee>")]
    assert "looked at, no concern" in (mine / "similarity" / "index.html").read_text(encoding="utf-8")


def test_hostile_outputs_are_read_without_harm():
    """A picture claiming a huge canvas, undecodable base64, outputs that are no dicts, a cell of null bytes."""
    import base64
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")
    outputs = CellOutputs.of([
        {"output_type": "display_data", "data": {"image/png": base64.b64encode(bomb).decode()}},
        {"output_type": "display_data", "data": {"image/png": "not base64 at all %%%"}},
        "a string", None, {"output_type": "stream", "text": ["0.123456 ", "7.654321\n"]},
    ])
    assert [picture.grey for picture in outputs.pictures] == [b"", b""]
    assert outputs.numbers == {"0.123456", "7.654321"}
    assert cell_tokens("a = 1\x00\nb = [", 0)  # no exception: tokenized word by word
