"""A regrade from the review page runs the submission again for real: `grader grade` fills a gradebook, the
rubric is fixed, the TA regrades one student from the page, sees the change and accepts it."""

from __future__ import annotations

import copy
import re
import time

import nbformat
import pytest
import yaml
from starlette.testclient import TestClient

from grader.gradebook import Gradebook
from grader.review.app import ReviewConfig, create_app
from grader.review.regrade import Regrader
from tests.capture_exam import DATA, NET, RUBRIC, exam, write_exam
from tests.conftest import run_cli

pytestmark = pytest.mark.notebooks


def test_regrade_after_a_rubric_fix_runs_the_notebook_again(tmp_path, cache_dir):
    loose = copy.deepcopy(RUBRIC)
    loose["tolerance"] = {"rtol": 0.0, "atol": 0.1}  # the mistake: x off by 0.05 passes
    rubric = write_exam(tmp_path / "rubric", rubric=loose)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(exam(DATA.replace("reshape(6, 2)", "reshape(6, 2) + 0.05"), NET), submissions / "2023001.ipynb")
    out = tmp_path / "out"
    run_cli("grade", str(submissions), "--rubric", str(rubric), "--out", str(out), "--quiet", "--jobs", "1",
            env_cache=cache_dir)
    with Gradebook(out / "gradebook.sqlite") as book:
        before = book.result("2023001")
        sources = book.sources()
    assert (before.total, before.sandboxed) == (16.0, True)
    assert (sources.rubric, sources.submissions, sources.sandboxed) == (str(rubric), str(submissions), True)

    (rubric / "rubric.yaml").write_text(yaml.safe_dump(RUBRIC), encoding="utf-8")  # the fix: atol 1e-4
    config = ReviewConfig(gradebook=out / "gradebook.sqlite", ta="Kim", out=out, token="t",
                          regrader=Regrader(sources, cache_dir), allowed_hosts=("testserver",))
    browser = TestClient(create_app(config))
    browser.get("/?token=t")
    assert browser.post("/students/2023001/regrade", data={"csrf": "t"}).status_code == 200
    for _ in range(240):
        with Gradebook(out / "gradebook.sqlite") as book:
            if book.latest_regrade("2023001").state != "running":
                break
        time.sleep(0.5)
    page = browser.get("/students/2023001").text
    assert "failed" not in re.search(r'<section class="card" id="regrade">(.*?)</section>', page, re.S).group(1)
    changed = re.findall(r'<tr class="changed"><td>([\d.]+)</td>\s*<td class="num">([\d.]+) <span class="muted">'
                         r'(\w+)</span></td>\s*<td class="num">([\d.]+) <span class="muted">([\w-]+)</span>', page)
    assert changed == [("1.1", "6", "pass", "4", "partial")]  # "values of x" (2 points) is off now
    assert "with a changed rubric" in page
    accept = re.search(r'action="(/regrades/\d+/accept)"', page).group(1)
    assert browser.post(accept, data={"csrf": "t", "reason": "tolerance was 0.1"}).status_code == 200
    with Gradebook(out / "gradebook.sqlite") as book:
        after = book.result("2023001")
        assert (after.total, after.sandboxed, book.rubric().hash) == (14.0, True, after.rubric_hash)
        assert after.rubric_hash != before.rubric_hash
        assert [(e["kind"], e["previous"], e["points"]) for e in book.history("2023001")] == [("regrade", 16.0, 14.0)]
    executed = nbformat.read(out / "executed" / "2023001.ipynb", as_version=4)
    assert "+ 0.05" in executed.cells[2].source and executed.cells[2].outputs
    assert not list((out / "executed").glob(".regrade-*"))
