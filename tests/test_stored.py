"""Problem 1's image folders (1.1) and DataLoaders (1.2) graded from a submitted notebook's stored outputs, where
its cells did not re-run: what each printed form shows, and the points and messages the midterm's rubric gives
(`stored_weight` 0.5). Outputs are built as nbformat writes what students' cells printed."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader.checks import CHECKS, ItemContext, Trace
from grader.checks.context import item_context
from grader.checks.items import item_result
from grader.evidence.model import DataLoadersEvent, SearchEvent
from grader.execution import Execution
from grader.notebook.stored import class_counts, class_names, printed_vocab, split_sizes
from grader.results import CellRun, CheckResult
from grader.rubric import load_rubric
from grader.rubric.models import Item
from tests.conftest import RUBRIC
from tests.evidence_builder import Builder

SPEC = load_rubric(RUBRIC).spec
NOT_VERIFIED = "(not verified: 50% of the points)"
NOTHING_LOADED = ("no images were loaded with ImageDataLoaders.from_folder, so the collected images could not be "
                  "checked")
NEVER_CALLED = "ImageDataLoaders.from_folder was never called successfully"


def printed(text: str) -> nbformat.NotebookNode:
    return new_output("stream", name="stdout", text=text)


def result(text: str) -> nbformat.NotebookNode:
    return new_output("execute_result", data={"text/plain": text}, execution_count=3)


SHOW_BATCH = new_output("display_data", data={"image/png": "iVBORw0KGgoAAAANSUhEUgAAAeMAAAH3CAYAAACIMDe1",
                                              "text/plain": "<Figure size 600x600 with 4 Axes>"})
COUNTS = printed("{'cat': 40, 'dog': 38}\n")
VOCAB = result("['cat', 'dog']")
WARNING = new_output("stream", name="stderr", text="UserWarning: cat 40\n")


def grade(item_id: str, outputs: list, rerun_failed: bool = True, student: Builder | None = None,
          item: Item | None = None) -> list[tuple[float, str, str]]:
    """(points, evidence, message) of each of the item's checks; the student recorded nothing unless given."""
    item = item or SPEC.item(item_id)
    ctx = ItemContext.build(item, SPEC.tolerance, Trace.of(Builder().evidence), Trace.of((student or Builder()).evidence),
                            frozenset({0}), item_outputs=tuple(outputs), rerun_failed=rerun_failed)
    checks: list[CheckResult] = [CHECKS[check.kind](check, ctx) for check in item.checks]
    return [(check.points, check.evidence, check.message) for check in checks]


def with_dataloaders(vocab: list[str], per_class: int) -> Builder:
    b = Builder()
    b.evidence.add(DataLoadersEvent(event="dataloaders", key="d1", source="from_folder", path="images", vocab=vocab,
                                    train=48, valid=12, class_counts={c: per_class for c in vocab},
                                    item_size=[160, 160], seq=1, run=2))
    return b


# -- the readers -------------------------------------------------------------------------------------------------


def test_counts_are_read_where_a_name_is_printed_beside_them():
    outputs = [printed("{'cat': 40, 'dog': 38}\n"), result("Counter({'고양이': 25})"),
               printed("cat 41\ndog: 39\n"), printed("40\n38\n"), printed("Total images: 78\n"), WARNING]
    # The last count printed for a name wins; bare numbers name no class; stderr is no answer; "Total images: 78"
    # is two words, not a class name.
    assert class_counts(outputs) == {"cat": 41, "dog": 39, "고양이": 25}


def test_class_names_come_from_lists_counts_and_the_folders_of_printed_paths():
    outputs = [result("(#2) ['cat','dog']"), printed("{'bird': 20}\n"),
               result("(#78) [Path('images/fox/001.jpg'),Path('images/fox/002.jpg'),...]"),
               result("(#3) [Path('images/owl'),Path('images/.ipynb_checkpoints'),Path('images/labels.csv')]"),
               result("(#200) ['https://example.com/1.jpg','https://example.com/2.jpg']"),
               result("(#12) ['a','b','c','d','e','f','g','h','i','j',...]")]
    # A crawler's URLs, a hidden folder, a file that is no image and a list cut short name no class.
    assert class_names(outputs) == ["cat", "dog", "bird", "fox", "owl"]
    assert class_counts(outputs) == {"bird": 20}  # a list cut short shows only its first files: no count


def test_a_list_of_paths_shown_whole_counts_the_images_of_each_folder():
    files = ", ".join(f"PosixPath('images/elk/{n:03d}.jpg')" for n in range(22))
    outputs = [result(f"[{files}, PosixPath('images/owl/001.jpg')]"), result("[PosixPath('images/owl/001.jpg')]"),
               printed("owl: 30\n")]
    # At least that many files exist (a slice shows fewer); a count printed beside the name comes first.
    assert class_counts(outputs) == {"elk": 22, "owl": 30}
    assert class_names(outputs) == ["elk", "owl"]


def test_the_vocab_is_the_last_list_printed_whole_and_splits_the_last_pair():
    outputs = [result("['circle', 'square']"), result("(#2) ['cat','dog']"), result("(62, 16)"), printed("50 12\n")]
    assert printed_vocab(outputs) == ["cat", "dog"]
    assert split_sizes(outputs) == (50, 12)
    assert printed_vocab([SHOW_BATCH]) is None and split_sizes([COUNTS]) is None


# -- 1.1 and 1.2 from stored outputs -----------------------------------------------------------------------------


def test_counts_and_vocab_earn_half_of_1_1_and_1_2():
    assert grade("1.1", [COUNTS, VOCAB]) == [
        (2.0, "stored", f"these cells did not re-run; the submitted notebook shows 2 classes ('cat', 'dog') "
                        f"{NOT_VERIFIED}"),
        (1.5, "stored", f"these cells did not re-run; the submitted notebook shows the classes 'cat', 'dog' "
                        f"{NOT_VERIFIED}"),
        (1.5, "stored", f"these cells did not re-run; the submitted notebook shows 40 images of 'cat', 38 images "
                        f"of 'dog' {NOT_VERIFIED}"),
    ]
    assert grade("1.2", [VOCAB, SHOW_BATCH]) == [
        (5.0, "stored", f"these cells did not re-run; the submitted notebook shows the classes 'cat', 'dog' and a "
                        f"figure {NOT_VERIFIED}")]
    assert grade("1.2", [result("(#2) ['cat','dog']"), result("(62, 16)")]) == [
        (5.0, "stored", f"these cells did not re-run; the submitted notebook shows the classes 'cat', 'dog' and 62 "
                        f"training and 16 validation images {NOT_VERIFIED}")]


@pytest.mark.parametrize("outputs, names, bad", [
    ([result("['iu', 'cat']")], "'iu', 'cat'", "'iu'"),
    ([printed("{'아이유': 30, 'cat': 30}\n")], "'아이유', 'cat'", "'아이유'"),
    ([result("(#40) [Path('images/hynn_photos/001.jpg'),Path('images/hynn_photos/002.jpg'),...]"), VOCAB],
     "'hynn_photos', 'cat', 'dog'", "'hynn_photos'"),
])
def test_a_forbidden_keyword_seen_in_stored_outputs_fails_the_keywords_check(outputs, names, bad):
    assert grade("1.1", outputs)[1] == (
        0.0, "stored", f"these cells did not re-run; the submitted notebook shows the classes {names}; keywords you "
                       f"may not use: {bad}")


def test_a_forbidden_keyword_the_re_run_searched_for_fails_the_stored_keywords_check():
    student = Builder()  # the crawl stand-in answered a search for 'iu' before the cell raised
    student.evidence.add(SearchEvent(event="search", api="ddg_images", keyword="iu", asked=20, given=20, cls=0,
                                     seq=1, run=2))
    assert grade("1.1", [COUNTS], student=student)[1] == (
        0.0, "stored", "these cells did not re-run; the submitted notebook shows the classes 'cat', 'dog'; keywords "
                       "you may not use: 'iu' (searched for)")


def test_1_1_says_what_falls_short():
    assert grade("1.1", [VOCAB, printed("{'cat': 40, 'dog': 12}\n"), printed("bird 30\n")]) == [
        (0.0, "stored", "these cells did not re-run; the submitted notebook shows 3 classes ('cat', 'dog', 'bird'); "
                        "2 are asked for"),
        (1.5, "stored", f"these cells did not re-run; the submitted notebook shows the classes 'cat', 'dog', 'bird' "
                        f"{NOT_VERIFIED}"),
        (0.0, "stored", "these cells did not re-run; the submitted notebook shows 40 images of 'cat', 12 images of "
                        "'dog', 30 images of 'bird'; at least 20 images per class are needed"),
    ]
    # Bare counts (print(len(get_image_files(path/'cat')))) name no class: the classes show, their sizes do not.
    assert grade("1.1", [VOCAB, printed("40\n38\n")])[2] == (
        0.0, "stored", "these cells did not re-run; the submitted notebook shows the classes 'cat', 'dog'; no image "
                       "count is shown for 'cat', 'dog' (print how many images each class folder holds)")


def test_a_show_batch_figure_alone_does_not_show_the_classes():
    # A PNG's titles cannot be read: the figure shows that a batch was drawn, not how many classes there are.
    assert grade("1.2", [SHOW_BATCH]) == [
        (0.0, "stored", "these cells did not re-run; the submitted notebook shows a figure; the DataLoaders' classes "
                        "are not shown (print dls.vocab)")]
    assert grade("1.1", [SHOW_BATCH]) == [(0.0, "executed", NOTHING_LOADED)] * 3


def test_1_2_says_what_falls_short():
    assert grade("1.2", [VOCAB]) == [
        (0.0, "stored", "these cells did not re-run; the submitted notebook shows the classes 'cat', 'dog'; nothing "
                        "shows that the DataLoaders hold images (show a batch with dls.show_batch() or print "
                        "len(dls.train_ds), len(dls.valid_ds))")]
    assert grade("1.2", [result("['cat', 'dog', 'bird']"), SHOW_BATCH, SHOW_BATCH]) == [
        (0.0, "stored", "these cells did not re-run; the submitted notebook shows the classes 'cat', 'dog', 'bird' "
                        "and 2 figures; the DataLoaders need 2 classes")]
    assert grade("1.2", [VOCAB, result("(62, 0)"), SHOW_BATCH]) == [
        (0.0, "stored", "these cells did not re-run; the submitted notebook shows the classes 'cat', 'dog' and 62 "
                        "training and 0 validation images and a figure; both splits need images")]


def test_nothing_stored_keeps_the_messages_of_a_notebook_that_loaded_nothing():
    assert grade("1.1", []) == [(0.0, "executed", NOTHING_LOADED)] * 3
    assert grade("1.2", [printed("Downloading...\n")]) == [(0.0, "executed", NEVER_CALLED)]


def test_stored_outputs_count_only_where_the_cells_did_not_re_run_and_the_rubric_weighs_them():
    # The cells re-ran and loaded nothing: what the submitted file shows proves nothing.
    assert grade("1.1", [COUNTS, VOCAB], rerun_failed=False) == [(0.0, "executed", NOTHING_LOADED)] * 3
    assert grade("1.2", [VOCAB, SHOW_BATCH], rerun_failed=False) == [(0.0, "executed", NEVER_CALLED)]
    unweighted = SPEC.item("1.2").model_copy(
        update={"checks": [check.model_copy(update={"stored_weight": 0.0}) for check in SPEC.item("1.2").checks]})
    assert grade("1.2", [VOCAB, SHOW_BATCH], item=unweighted) == [(0.0, "executed", NEVER_CALLED)]


def test_recorded_dataloaders_are_graded_as_before_whatever_the_file_shows():
    student = with_dataloaders(["cat", "dog"], per_class=30)
    iu_shown = [printed("{'iu': 3}\n")]
    assert grade("1.1", iu_shown, student=student) == [(4.0, "executed", ""), (3.0, "executed", ""),
                                                        (3.0, "executed", "")]
    assert grade("1.2", [SHOW_BATCH], student=student) == [(10.0, "executed", "")]


def test_problem_1_of_a_notebook_whose_crawl_raised():
    """Through item_context and item_result as grading calls them, on the cells of the 2022020 sample
    (scripts/build_problem1.py): a crawler with no stand-in raised, so from_folder found no folder."""
    crawl = new_code_cell("keywords = ['circle', 'square']\npath = Path('images')\nif not path.exists():\n"
                          "    from google_images_download import google_images_download\n"
                          "print({keyword: len(get_image_files(path/keyword)) for keyword in keywords})",
                          outputs=[printed("{'circle': 20, 'square': 20}\n")])
    dataloaders = new_code_cell("dls = ImageDataLoaders.from_folder(path, valid_pct=0.2, item_tfms=Resize(160))\n"
                                "dls.show_batch(max_n=4)\nprint(dls.vocab)",
                                outputs=[printed("['circle', 'square']\n"), SHOW_BATCH])
    nb = new_notebook(cells=[crawl, dataloaders])
    execution = Execution(
        notebook=new_notebook(cells=[new_code_cell(crawl.source), new_code_cell(dataloaders.source)]),
        cells=[CellRun(cell=1, status="error", error="ModuleNotFoundError: No module named 'google_images_download'"),
               CellRun(cell=2, status="error", error="FileNotFoundError: [Errno 2] No such file or directory: 'images'")],
        evidence=Builder().evidence, evidence_error=None, stopped=None, stopped_at=None)
    graded = {}
    for index, item_id in enumerate(("1.1", "1.2")):
        item = SPEC.item(item_id)
        ctx = item_context(item, SPEC.tolerance, Trace.of(Builder().evidence), Trace.of(Builder().evidence), nb,
                           [index], execution, [], None, ())
        graded[item_id] = item_result(item, ctx, None)
    assert [(r.points, r.status, r.evidence) for r in graded.values()] == [(5.0, "partial", "stored")] * 2
    assert graded["1.1"].message == (
        f"✗ two class folders: these cells did not re-run; the submitted notebook shows 2 classes ('circle', "
        f"'square') {NOT_VERIFIED} · ✗ keywords other than iu and hynn: these cells did not re-run; the submitted "
        f"notebook shows the classes 'circle', 'square' {NOT_VERIFIED} · ✗ at least 20 images per keyword: these "
        f"cells did not re-run; the submitted notebook shows 20 images of 'circle', 20 images of 'square' "
        f"{NOT_VERIFIED}")
    assert graded["1.2"].message == (
        f"✗ dls from ImageDataLoaders.from_folder, two classes: these cells did not re-run; the submitted notebook "
        f"shows the classes 'circle', 'square' and a figure {NOT_VERIFIED}")
