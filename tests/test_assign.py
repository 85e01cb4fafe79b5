"""`grader assign`: one master notebook into the template, the solution and a rubric skeleton.

No kernel runs here: everything is read from and written to notebook and YAML text.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from typer.testing import CliRunner

from grader.author.assign import AssignError, assign
from grader.author.skeleton import RUBRIC_ID
from grader.notebook.locate import item_ids
from grader.rubric import Rubric

CODE_ITEM = """\
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

### BEGIN SOLUTION
X = torch.ones(3)
w0, w1 = 1, 2
net = double(X)
### END SOLUTION"""


def master_notebook() -> nbformat.NotebookNode:
    """Two problems found by their headings: code with an indented solution, a True/False answered inline in its
    question, a "choose all" item, a written answer; a solution-only check; outputs of the author's run."""
    return new_notebook(cells=[
        new_markdown_cell("# Quiz 1: tensors\n\nAnswer under each question."),
        new_code_cell("import torch", execution_count=1, outputs=[new_output("stream", text="loaded\n")]),
        new_markdown_cell("## 1. Tensors"),
        new_markdown_cell("(1) Build `net` and its input `X`."),
        new_code_cell(CODE_ITEM, execution_count=2, outputs=[new_output("execute_result", data={"text/plain": "6"})],
                      metadata={"collapsed": True}),
        new_code_cell("assert net.sum() == 6", metadata={"tags": ["solution-only"]}),
        new_markdown_cell("(2) `X` has shape (2, 3).\n\n### BEGIN SOLUTION\nFalse\n### END SOLUTION"),
        new_markdown_cell("## 2. Choose and explain"),
        new_markdown_cell("(1) Which statements are correct? Choose all that apply."),
        new_markdown_cell("### BEGIN SOLUTION\n2, 4\n### END SOLUTION"),
        new_markdown_cell("(2) Why did the training converge?"),
        new_markdown_cell("### BEGIN SOLUTION\nThe last gradient is close to 0.\n### END SOLUTION"),
    ])


def write_master(folder: Path, nb: nbformat.NotebookNode) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "master.ipynb")
    return folder / "master.ipynb"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


SKELETON_ITEMS = [
    {"id": "1.1", "title": "Build `net` and its input `X`.",
     "checks": [{"kind": "value", "name": "value of net", "expression": "net", "points": 1}]},
    {"id": "1.2", "title": "`X` has shape (2, 3).",
     "checks": [{"kind": "true_false", "name": "true or false", "answer": False, "points": 1}]},
    {"id": "2.1", "title": "Which statements are correct? Choose all that apply.",
     "checks": [{"kind": "multiple_choice", "name": "choose all that apply", "answer": [2, 4], "points": 1}]},
    {"id": "2.2", "title": "Why did the training converge?",
     "checks": [{"kind": "manual", "name": "written answer", "guidance": "The last gradient is close to 0.",
                 "points": 1}]},
]


# -- the notebooks ----------------------------------------------------------------------------------------------


def test_template_replaces_solutions_tags_the_items_and_drops_solution_only_cells(tmp_path):
    master = write_master(tmp_path, master_notebook())
    report = assign(master, tmp_path / "quiz1")
    template = read(report.template)
    assert [cell.source for cell in template.cells] == [
        "# Quiz 1: tensors\n\nAnswer under each question.",
        "import torch",
        "## 1. Tensors",
        "(1) Build `net` and its input `X`.",
        "def double(x):\n    # YOUR CODE HERE\n\n# YOUR CODE HERE",
        "(2) `X` has shape (2, 3).\n\nYOUR ANSWER HERE",
        "## 2. Choose and explain",
        "(1) Which statements are correct? Choose all that apply.",
        "YOUR ANSWER HERE",
        "(2) Why did the training converge?",
        "YOUR ANSWER HERE",
    ]
    assert [cell.metadata.get("tags") for cell in template.cells] == [
        None, None, None, ["question:1.1"], ["answer:1.1"], ["question:1.2"], None, ["question:2.1"],
        ["answer:2.1"], ["question:2.2"], ["answer:2.2"]]
    master_cells = read(master).cells
    assert [cell.id for cell in template.cells] == [cell.id for index, cell in enumerate(master_cells) if index != 5]
    assert [(cell.outputs, cell.execution_count) for cell in template.cells if cell.cell_type == "code"] == [
        ([], None), ([], None)]
    assert template.cells[4].metadata["collapsed"] is True  # other metadata kept


def test_solution_keeps_the_solutions_without_markers_and_the_solution_only_cells(tmp_path):
    master = write_master(tmp_path, master_notebook())
    solution = read(assign(master, tmp_path / "quiz1").solution)
    assert [cell.source for cell in solution.cells] == [
        "# Quiz 1: tensors\n\nAnswer under each question.",
        "import torch",
        "## 1. Tensors",
        "(1) Build `net` and its input `X`.",
        "def double(x):\n    return 2 * x\n\nX = torch.ones(3)\nw0, w1 = 1, 2\nnet = double(X)",
        "assert net.sum() == 6",
        "(2) `X` has shape (2, 3).\n\nFalse",
        "## 2. Choose and explain",
        "(1) Which statements are correct? Choose all that apply.",
        "2, 4",
        "(2) Why did the training converge?",
        "The last gradient is close to 0.",
    ]
    assert [cell.metadata.get("tags") for cell in solution.cells] == [
        None, None, None, ["question:1.1"], ["answer:1.1"], ["solution-only"], ["question:1.2"], None,
        ["question:2.1"], ["answer:2.1"], ["question:2.2"], ["answer:2.2"]]
    assert [cell.id for cell in solution.cells] == [cell.id for cell in read(master).cells]
    assert all(cell.outputs == [] and cell.execution_count is None
               for cell in solution.cells if cell.cell_type == "code")


def test_tagged_items_are_found_by_their_tags_and_keep_them(tmp_path):
    nb = new_notebook(cells=[
        new_markdown_cell("Statement: a Linear(4, 1) layer has 4 weights.", metadata={"tags": ["question:3.1"]}),
        new_code_cell("### BEGIN SOLUTION\nTrue\n### END SOLUTION", metadata={"tags": ["answer:3.1", "keep"]}),
        new_markdown_cell("Compute the loss.", metadata={"tags": ["question:3.2"]}),
        new_code_cell("### BEGIN SOLUTION\nloss\n### END SOLUTION"),
    ])
    assert item_ids(nb) == ["3.1", "3.2"]
    report = assign(write_master(tmp_path, nb), tmp_path / "quiz")
    assert [cell.metadata["tags"] for cell in read(report.template).cells] == [
        ["question:3.1"], ["answer:3.1", "keep"], ["question:3.2"], ["answer:3.2"]]
    assert [(item.id, item.check.kind, item.check.fields) for item in report.items] == [
        ("3.1", "true_false", {"answer": True}), ("3.2", "value", {"expression": "loss"})]


def test_headings_give_the_item_ids_in_order():
    assert item_ids(master_notebook()) == ["1.1", "1.2", "2.1", "2.2"]


# -- the rubric skeleton ----------------------------------------------------------------------------------------


def test_skeleton_has_one_guessed_check_per_item(tmp_path):
    master = write_master(tmp_path, master_notebook())
    report = assign(master, tmp_path / "quiz1")
    text = report.rubric.read_text(encoding="utf-8")
    assert yaml.safe_load(text) == {
        "id": "quiz1", "title": "Quiz 1: tensors", "total": 4, "template": "template.ipynb",
        "solution": "solution.ipynb", "master": "../master.ipynb", "tolerance": {"rtol": 1.0e-5, "atol": 1.0e-4},
        "items": SKELETON_ITEMS}
    assert '        expression: "net"  # other candidates: X, w0, w1\n' in text
    assert text.startswith("# Rubric skeleton written by `grader assign` from master.ipynb: complete it before "
                           "grading.\n")
    assert "# `grader rubric lint` checks it." in text
    assert (report.rubric_status, report.new, report.kept, report.missing, report.warnings) == (
        "new", ["1.1", "1.2", "2.1", "2.2"], [], [], [])


@pytest.mark.parametrize(("solution", "check"), [
    ("a, (b, c) = 1, (2, 3)", {"kind": "value", "name": "value of c", "expression": "c", "points": 1}),
    ("net.weight.data = w\nlosses += [1]", {"kind": "value", "name": "value of losses", "expression": "losses",
                                             "points": 1}),
    ("model(X)[0]", {"kind": "value", "name": "value of model(X)[0]", "expression": "model(X)[0]", "points": 1}),
    ("ans = 'O'", {"kind": "true_false", "name": "true or false", "answer": True, "points": 1}),
    ("sizes = [64, 32]", {"kind": "value", "name": "value of sizes", "expression": "sizes", "points": 1}),
    ("[1, 3]", {"kind": "multiple_choice", "name": "choose all that apply", "answer": [1, 3], "points": 1}),
    ("def relu(x):\n    return x", {"kind": "manual", "name": "written answer", "guidance": "def relu(x):\n    return x",
                                    "points": 1}),
])
def test_code_solutions_guess_their_check(tmp_path, solution, check):
    nb = new_notebook(cells=[new_markdown_cell("## 1"), new_markdown_cell("(1) Do it."),
                             new_code_cell(f"### BEGIN SOLUTION\n{solution}\n### END SOLUTION")])
    report = assign(write_master(tmp_path, nb), tmp_path / "quiz")
    assert yaml.safe_load(report.rubric.read_text(encoding="utf-8"))["items"][0]["checks"] == [check]


def test_long_guidance_and_titles_are_trimmed(tmp_path):
    nb = new_notebook(cells=[
        new_markdown_cell("## 1"), new_markdown_cell("(1) " + "why " * 30),
        new_markdown_cell("### BEGIN SOLUTION\n" + "because " * 50 + "\n### END SOLUTION")])
    report = assign(write_master(tmp_path, nb), tmp_path / "quiz")
    item = yaml.safe_load(report.rubric.read_text(encoding="utf-8"))["items"][0]
    assert item["title"] == ("why " * 20)[:79] + "…"
    assert item["checks"][0]["guidance"] == ("because " * 50)[:299] + "…"


DATA_URL = "https://example.com/quiz/data.csv"
WEIGHTS_URL = "https://example.com/quiz/net.pt"


def downloading_master() -> nbformat.NotebookNode:
    """The quiz, its code downloading a CSV (outside any solution) and weights (inside item 1.1's)."""
    nb = master_notebook()
    nb.cells[1] = new_code_cell(f"import torch, pandas as pd\ndf = pd.read_csv({DATA_URL!r})")
    nb.cells[4].source = nb.cells[4].source.replace(
        "net = double(X)", f"net = double(X)\nstate = torch.hub.load_state_dict_from_url(f'{WEIGHTS_URL}')")
    return nb


def test_skeleton_lists_the_urls_the_master_downloads_unpinned(tmp_path):
    report = assign(write_master(tmp_path, downloading_master()), tmp_path / "quiz1")
    text = report.rubric.read_text(encoding="utf-8")
    assert ('tolerance: {rtol: 1.0e-5, atol: 1.0e-4}\n'
            "# The URLs the master's code downloads. Grading kernels have no network: they get the asset cache's "
            "copies.\n"
            "# Run `grader assets fetch --rubric FOLDER` (this rubric's folder) on a machine with internet: it caches "
            "them and\n"
            "# prints each one's sha256, to add here as `sha256: \"…\"` so that grading uses those bytes and no "
            "others.\n"
            "execution:\n"
            "  downloads:\n"
            f'    - {{url: "{DATA_URL}"}}\n'
            f'    - {{url: "{WEIGHTS_URL}"}}\n'
            "\nitems:\n") in text
    document = yaml.safe_load(text)
    assert document["execution"] == {"downloads": [{"url": DATA_URL}, {"url": WEIGHTS_URL}]}
    assert Rubric.model_validate(document).execution.downloads[1].sha256 is None
    assert (report.downloads, report.warnings) == ([DATA_URL, WEIGHTS_URL], [])


def test_rerun_keeps_the_authors_downloads_and_reports_urls_they_lack(tmp_path):
    out = tmp_path / "quiz1"
    first = assign(write_master(tmp_path, downloading_master()), out).rubric.read_text(encoding="utf-8")
    pinned = first.replace(f'{{url: "{DATA_URL}"}}', f'{{url: "{DATA_URL}", sha256: "{"a" * 64}"}}')
    (out / "rubric.yaml").write_text(pinned, encoding="utf-8")
    report = assign(write_master(tmp_path, downloading_master()), out)
    assert (report.rubric_status, report.downloads, report.warnings) == ("unchanged", [], [])
    nb = downloading_master()
    nb.cells[5].source = "assert net.sum() == 6\nraw = urllib.request.urlopen('http://example.com/more.txt')"
    report = assign(write_master(tmp_path, nb), out)
    assert (out / "rubric.yaml").read_text(encoding="utf-8") == pinned
    assert report.warnings == [
        "master.ipynb's code downloads http://example.com/more.txt, which rubric.yaml's execution.downloads does not "
        "list: grading kernels have no network. Add each as `- {url: …}` and run `grader assets fetch --rubric "
        f"{out}` to cache and pin them"]


# -- a rerun ----------------------------------------------------------------------------------------------------


def test_rerun_keeps_the_authors_edits_inserts_new_items_in_place_and_reports_missing_ones(tmp_path):
    master = write_master(tmp_path, master_notebook())
    out = tmp_path / "quiz1"
    first = assign(master, out).rubric.read_text(encoding="utf-8")
    edited = (first.replace("total: 4", "total: 8  # the exam is worth 8")
              .replace('expression: "net"  # other candidates: X, w0, w1\n        points: 1',
                       'expression: "net"\n        points: 5     # most of the quiz')
              .replace('  - id: "2.1"', '  # Problem 2 is graded by hand.\n  - id: "2.1"'))
    (out / "rubric.yaml").write_text(edited, encoding="utf-8")
    nb = master_notebook()
    nb.cells[7:7] = [new_markdown_cell("(3) Add one to `X`."),
                     new_code_cell("### BEGIN SOLUTION\ny = X + 1\n### END SOLUTION")]
    del nb.cells[-2:]  # 2.2 is gone
    report = assign(write_master(tmp_path, nb), out)

    new_item = ('  - id: "1.3"\n'
                '    title: "Add one to `X`."\n'
                '    checks:\n'
                '      - kind: value\n'
                '        name: "value of y"\n'
                '        expression: "y"\n'
                '        points: 1\n')
    position = edited.index("  # Problem 2 is graded by hand.")
    assert report.rubric.read_text(encoding="utf-8") == edited[:position] + new_item + edited[position:]
    assert (report.rubric_status, report.new, report.kept, report.missing) == (
        "updated", ["1.3"], ["1.1", "1.2", "2.1"], ["2.2"])
    assert report.warnings == [
        "item 2.2 is in rubric.yaml but not in master.ipynb: remove it or add it back",
        "the items' points add up to 9 but `total` says 8: make them agree in rubric.yaml"]
    assert [cell.metadata.get("tags") for cell in read(report.template).cells][6:8] == [
        ["question:1.3"], ["answer:1.3"]]


def test_rerun_counts_new_items_in_a_total_still_the_skeletons(tmp_path):
    out = tmp_path / "quiz1"
    first = assign(write_master(tmp_path, master_notebook()), out).rubric.read_text(encoding="utf-8")
    nb = master_notebook()
    nb.cells.append(new_markdown_cell("(3) Name a loss.\n\n### BEGIN SOLUTION\nMSE\n### END SOLUTION"))
    report = assign(write_master(tmp_path, nb), out)
    text = report.rubric.read_text(encoding="utf-8")
    assert text.startswith(first.replace("total: 4", "total: 5"))  # 2.3 goes at the end
    assert yaml.safe_load(text)["items"][-1] == {
        "id": "2.3", "title": "Name a loss.",
        "checks": [{"kind": "manual", "name": "written answer", "guidance": "MSE", "points": 1}]}
    assert report.warnings == []


def test_rerun_of_an_unchanged_master_leaves_the_rubric_untouched(tmp_path):
    master = write_master(tmp_path, master_notebook())
    out = tmp_path / "quiz1"
    assign(master, out)
    edited = (out / "rubric.yaml").read_text(encoding="utf-8").replace("points: 1", "points:   2")
    (out / "rubric.yaml").write_text(edited, encoding="utf-8")
    report = assign(master, out)
    assert (out / "rubric.yaml").read_text(encoding="utf-8") == edited
    assert (report.rubric_status, report.new, report.kept, report.missing) == (
        "unchanged", [], ["1.1", "1.2", "2.1", "2.2"], [])
    assert report.warnings == ["the items' points add up to 8 but `total` says 4: make them agree in rubric.yaml"]


# -- errors -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "problem"), [
    ("x = 1\n### BEGIN SOLUTION\ny = 2", "line 2: `### BEGIN SOLUTION` is not closed: expected `### END SOLUTION` "
                                        "later in the same cell"),
    ("x = 1\n### END SOLUTION", "line 2: `### END SOLUTION` without a `### BEGIN SOLUTION` before it"),
    ("### BEGIN SOLUTION\n  ### BEGIN SOLUTION\n### END SOLUTION",
     "line 2: `### BEGIN SOLUTION` inside the solution opened on line 1: expected `### END SOLUTION` first"),
])
def test_unpaired_markers_are_errors_naming_the_cell_and_line(tmp_path, source, problem):
    nb = new_notebook(cells=[new_markdown_cell("## 1\n(1) Do it."), new_code_cell(source)])
    master = write_master(tmp_path, nb)
    with pytest.raises(AssignError) as raised:
        assign(master, tmp_path / "quiz")
    assert str(raised.value) == f"{master}: cell 2 (code), {problem}"
    assert not (tmp_path / "quiz").exists()


def test_a_master_that_would_be_overwritten_is_refused(tmp_path):
    master = write_master(tmp_path / "quiz", master_notebook()).rename(tmp_path / "quiz" / "template.ipynb")
    with pytest.raises(AssignError) as raised:
        assign(master, tmp_path / "quiz")
    assert str(raised.value) == (f"{master}: the master would be overwritten by the template.ipynb written from it; "
                                 "give another --out folder, or rename the master")


def test_an_out_folder_that_is_no_rubric_id_is_refused(tmp_path):
    with pytest.raises(AssignError) as raised:
        assign(write_master(tmp_path, master_notebook()), tmp_path / "Quiz 1")
    assert str(raised.value) == (f"{tmp_path / 'Quiz 1'}: the rubric's id is its folder's name, which must be "
                                 "lowercase letters, digits, '.', '_' and '-', starting with a letter or digit "
                                 "(got 'Quiz 1')")


def test_a_master_without_items_is_refused(tmp_path):
    master = write_master(tmp_path, new_notebook(cells=[new_markdown_cell("# Notes"), new_code_cell("x = 1")]))
    with pytest.raises(AssignError) as raised:
        assign(master, tmp_path / "quiz")
    assert str(raised.value) == (f"{master}: no items found: tag each question's cell `question:P.N` (e.g. "
                                 "question:4.2), or head each problem `## 2` and its sub-items `(1)`, `(2)` in markdown")


# -- the command ------------------------------------------------------------------------------------------------


def test_command_prints_what_it_wrote_and_fails_with_a_message(tmp_path):
    from grader.cli import app

    master = write_master(tmp_path, master_notebook())
    out = tmp_path / "quiz1"
    done = CliRunner().invoke(app, ["assign", str(master), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert done.stderr.splitlines() == [
        f"wrote {out / 'template.ipynb'}, {out / 'solution.ipynb'}; {out / 'rubric.yaml'}: a new skeleton",
        "4 item(s) in master.ipynb:",
        "  1.1  new   value: net                        Build `net` and its input `X`.",
        "  1.2  new   true_false: False                 `X` has shape (2, 3).",
        "  2.1  new   multiple_choice: 2, 4             Which statements are correct? Choose all that apply.",
        "  2.2  new   manual                            Why did the training converge?",
    ]
    downloading = CliRunner().invoke(app, ["assign", str(write_master(tmp_path / "d", downloading_master())),
                                           "--out", str(tmp_path / "quiz2")])
    assert downloading.stderr.splitlines()[-1] == (
        "2 URL(s) master.ipynb downloads are in execution.downloads, unpinned: run `grader assets fetch --rubric "
        f"{tmp_path / 'quiz2'}` on a machine with internet to cache them, and add the sha256 it prints")
    broken = new_notebook(cells=[new_markdown_cell("## 1\n(1) [x]\n### END SOLUTION")])
    failed = CliRunner().invoke(app, ["assign", str(write_master(tmp_path / "broken", broken)), "--out", str(out)])
    assert failed.exit_code == 1
    assert failed.stderr == (f"error: {tmp_path / 'broken' / 'master.ipynb'}: cell 1 (markdown), line 3: "
                             "`### END SOLUTION` without a `### BEGIN SOLUTION` before it\n")
    assert failed.exception is None or isinstance(failed.exception, SystemExit)


def test_solutions_outside_items_and_items_without_solutions_are_reported(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("### BEGIN SOLUTION\nseed = 7\n### END SOLUTION"),
        new_markdown_cell("## 1"), new_markdown_cell("(1) Explain."), new_markdown_cell("(2) Compute."),
        new_code_cell("### BEGIN SOLUTION\nz = 1\n### END SOLUTION")])
    report = assign(write_master(tmp_path, nb), tmp_path / "quiz")
    assert report.warnings == [
        "master.ipynb: cell 1 holds a solution but belongs to no item: students get the placeholder, and no check "
        "grades it",
        "item 1.1 has no solution between markers: its skeleton check is manual, without guidance"]
    assert yaml.safe_load(report.rubric.read_text(encoding="utf-8"))["items"][0]["checks"] == [
        {"kind": "manual", "name": "written answer", "points": 1}]


def test_a_rubric_that_is_not_yaml_is_named_with_its_line(tmp_path):
    out = tmp_path / "quiz1"
    out.mkdir()
    (out / "rubric.yaml").write_text("id: quiz1\nitems: [\n", encoding="utf-8")
    with pytest.raises(AssignError) as raised:
        assign(write_master(tmp_path, master_notebook()), out)
    assert str(raised.value).startswith(f"{out / 'rubric.yaml'}: line 3, column 1: not valid YAML: ")


def test_rubric_ids_are_checked_as_the_schema_checks_them():
    assert RUBRIC_ID.pattern == Rubric.model_json_schema()["properties"]["id"]["pattern"]


def test_rerun_keeps_a_void_item_void_and_counts_its_removed_points_out(tmp_path):
    master = write_master(tmp_path, master_notebook())
    out = tmp_path / "quiz1"
    first = assign(master, out).rubric.read_text(encoding="utf-8")
    voided = first.replace("total: 4", "total: 3").replace(
        '    title: "`X` has shape (2, 3)."\n', '    title: "`X` has shape (2, 3)."\n    void: true  # a typo\n'
                                            '    void_points: removed\n')
    (out / "rubric.yaml").write_text(voided, encoding="utf-8")
    nb = master_notebook()
    nb.cells.append(new_markdown_cell("(3) Name a loss.\n\n### BEGIN SOLUTION\nMSE\n### END SOLUTION"))
    report = assign(write_master(tmp_path, nb), out)
    text = report.rubric.read_text(encoding="utf-8")
    assert text.startswith(voided.split("\n  - id: \"2.1\"")[0])  # 1.2 is void as the author wrote it
    assert (report.new, report.warnings) == (["2.3"], [
        "the items' points add up to 4 but `total` says 3: make them agree in rubric.yaml"])
    rubric = Rubric.model_validate(yaml.safe_load(text.replace("total: 3", "total: 4")))
    assert [(item.id, item.void, item.points) for item in rubric.items] == [
        ("1.1", False, 1), ("1.2", True, 0), ("2.1", False, 1), ("2.2", False, 1), ("2.3", False, 1)]
    with pytest.raises(ValueError, match=r"items add up to 4 points but `total` says 5 \(void items' removed points "
                                         r"are not counted: 1.2's 1\)"):
        Rubric.model_validate(yaml.safe_load(text.replace("total: 3", "total: 5")))
