"""The probe's offline stand-ins in real kernels: image searches, crawlers and downloads answered from the asset
cache, the student's own images kept, other URLs refused with their address, and the virtual clock."""

from __future__ import annotations

import json
import shutil
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.assets.synth import draw_shapes
from grader.evidence.offline import crawl_keywords, offline_notes, offline_run
from grader.results import CrawlSearch, OfflineRun
from grader.run import NotebookRunner
from tests.conftest import SUBMISSIONS

pytestmark = pytest.mark.notebooks

# The course's crawl cell as the sample 오하람(2022021) hands it in: duckduckgo_search (not installed here), fastai's
# download_images, ten seconds' sleep after every search; timed around it, and what it wrote counted after it.
COURSE_CRAWL = "\n".join([
    "import time\nstarted = time.time()",
    next(cell.source for cell in nbformat.read(SUBMISSIONS / "오하람(2022021)" / "midterm.ipynb", as_version=4).cells
         if "ddg_images" in cell.source),
    "print(len(bad_images), round(time.time() - started), "
    "sorted((f.name, len(get_image_files(f))) for f in path.iterdir()))"])
OTHER_CRAWLERS = """from bing_image_downloader import downloader
downloader.download('tiger', limit=5, output_dir='bing')
from icrawler.builtin import GoogleImageCrawler
GoogleImageCrawler(storage={'root_dir': 'icrawler/lion'}).crawl(keyword='lion', max_num=3)
from fastbook import *
urls = search_images_ddg('tiger cub', max_images=7)
print(len(urls), search_images_bing('key', 'lion').attrgot('contentUrl')[0])
import os
print(sorted(os.listdir('bing/tiger')), sorted(os.listdir('icrawler/lion')))"""
DOWNLOADS = """import requests, urllib.request, pandas as pd
print(pd.read_csv('https://data.example.org/scores.csv').to_dict('list'))
print(requests.get('https://data.example.org/scores.csv').text.splitlines()[0])
for read in (lambda: urllib.request.urlopen('https://elsewhere.example.com/x.csv'),
             lambda: requests.get('https://elsewhere.example.com/y.csv')):
    try:
        read()
    except Exception as err:
        print(type(err).__name__, err)"""
OWN_IMAGES = """download_images(Path('mine/cat'), urls=search_images('cat'))
print(sorted(p.name for p in Path('mine/cat').iterdir()))"""


@pytest.fixture(scope="module")
def asset_cache(tmp_path_factory):
    """A grader cache whose assets hold crawl images (two drawn classes) and one cached download."""
    cache = tmp_path_factory.mktemp("offline-cache")
    root = cache / "assets"
    draw_shapes(root / "crawl", per_class=25, size=160, seed=3)
    (root / "crawl" / "boxes.json").unlink()
    downloads = root / "downloads"
    downloads.mkdir()
    (downloads / "f00d").write_text("name,score\nkim,90\nlee,85\n")
    (downloads / "index.json").write_text(json.dumps({"urls": {"https://data.example.org/scores.csv": {
        "sha256": "f00d", "file": "f00d", "content_type": "text/csv"}}}))
    (root / "manifest.json").write_text(json.dumps({"assets": {"crawl": {
        "status": "synthetic", "sha256": "-", "source": "synthetic", "written_at": "-"}}}))
    return cache


def run(tmp_path, cache, sources, sandbox=None, virtual_clock=True, with_own_images=False):
    nb = new_notebook(cells=[new_code_cell("from fastai.vision.all import *")] +
                      [new_code_cell(source) for source in sources])
    folder = tmp_path / "submission"
    folder.mkdir(parents=True)
    if with_own_images:
        draw_shapes(folder / "mine", per_class=3, size=160, seed=9)
        shutil.move(folder / "mine" / "circle", folder / "mine" / "cat")
    nbformat.write(nb, folder / "nb.ipynb")
    runner = NotebookRunner(cell_timeout_s=120, notebook_timeout_s=600, cache_dir=cache, sandbox=sandbox,
                            virtual_clock=virtual_clock)
    return runner.run(nb, folder)


def text(execution, cell):
    return "".join(output.get("text", "") for output in execution.notebook.cells[cell].outputs)


def test_the_courses_crawl_runs_offline_with_its_sleeps_skipped_and_other_crawlers_too(tmp_path, asset_cache):
    from grader.run.sandbox import Limits, SandboxHost

    sandbox = SandboxHost.prepare(sys.executable, Limits(memory_mb=4096, processes=128, file_size_mb=64, tmp_mb=256),
                                  asset_cache)  # its kernels see this cache's assets
    execution = run(tmp_path, asset_cache, [COURSE_CRAWL, OTHER_CRAWLERS, DOWNLOADS], sandbox=sandbox)
    assert [cell.status for cell in execution.cells] == ["ok", "ok", "ok", "ok"]
    # Two searches per folder, 20 images each; 40 virtual seconds that time.time saw pass.
    assert text(execution, 1) == "0 40 [('cat', 40), ('dog', 40)]\n"
    assert text(execution, 2) == (
        "7 https://crawl.grader.invalid/1/lion/00043.jpg\n"
        "['Image_1.jpg', 'Image_2.jpg', 'Image_3.jpg', 'Image_4.jpg', 'Image_5.jpg'] "
        "['000001.jpg', '000002.jpg', '000003.jpg']\n")
    refusal = "the grader runs notebooks without network access, and {} is not among the downloads cached for this exam"
    assert text(execution, 3) == (
        "{'name': ['kim', 'lee'], 'score': [90, 85]}\nname,score\n"
        f"URLError <urlopen error {refusal.format('https://elsewhere.example.com/x.csv')}>\n"
        f"ConnectionError {refusal.format('https://elsewhere.example.com/y.csv')}\n")
    evidence = execution.evidence
    assert crawl_keywords(evidence) == ["dog", "cat", "dog photo", "cat photo", "tiger", "lion", "tiger cub"]
    offline = offline_run(evidence)
    assert offline == OfflineRun(
        crawl_images="synthetic",
        searches=[CrawlSearch(api="ddg_images", keyword="dog", images=20, image_class="circle"),
                  CrawlSearch(api="ddg_images", keyword="cat", images=20, image_class="square"),
                  CrawlSearch(api="ddg_images", keyword="dog photo", images=20, image_class="circle"),
                  CrawlSearch(api="ddg_images", keyword="cat photo", images=20, image_class="square"),
                  CrawlSearch(api="bing_image_downloader", keyword="tiger", images=5, image_class="circle"),
                  CrawlSearch(api="icrawler.GoogleImageCrawler", keyword="lion", images=3, image_class="square"),
                  CrawlSearch(api="search_images_ddg", keyword="tiger cub", images=7, image_class="circle"),
                  CrawlSearch(api="search_images_bing", keyword="lion", images=20, image_class="square")],
        folders={"images/dog": 40, "images/cat": 40, "bing/tiger": 5, "icrawler/lion": 3},
        cached_urls=["https://data.example.org/scores.csv"],
        refused_urls=["https://elsewhere.example.com/x.csv", "https://elsewhere.example.com/y.csv"],
        sleeps=4, slept_s=40.0)
    assert offline_notes(offline) == [
        "the crawl was substituted: searches for 'dog', 'cat', 'dog photo', 'cat photo', 'tiger', 'lion', "
        "'tiger cub', 'lion' were answered with the asset cache's synthetic crawl images (classes circle, square); "
        "images written: images/dog (40), images/cat (40), bing/tiger (5), icrawler/lion (3)",
        "offline, these URLs failed (not in the download cache): https://elsewhere.example.com/x.csv, "
        "https://elsewhere.example.com/y.csv",
        "the notebook's 4 time.sleep call(s), 40 s in all, were skipped on the grader's virtual clock "
        "(time.time moved on with it)"]


def test_without_the_virtual_clock_sleeps_wait(tmp_path):
    timed = "import time\nstarted = time.time()\ntime.sleep(1.5)\nprint(1.5 <= time.time() - started < 60)"
    skipped = run(tmp_path / "virtual", tmp_path / "cache", [timed])
    waited = run(tmp_path / "real", tmp_path / "cache", [timed], virtual_clock=False)
    assert text(skipped, 1) == text(waited, 1) == "True\n"
    assert skipped.cells[1].seconds < 1.5 <= waited.cells[1].seconds
    assert (offline_run(skipped.evidence).sleeps, offline_run(waited.evidence)) == (1, None)


def test_a_folder_of_the_students_own_images_is_left_alone(tmp_path, asset_cache):
    crawl = COURSE_CRAWL.split("path = Path")[0]
    execution = run(tmp_path, asset_cache, [crawl, OWN_IMAGES], with_own_images=True)
    assert text(execution, 2) == "['000.jpg', '001.jpg', '002.jpg']\n"
    offline = offline_run(execution.evidence)
    assert offline.own_images_kept == ["mine/cat"] and offline.folders == {}
    assert offline_notes(offline)[1] == ("the student's own images were used in mine/cat (the crawl stand-in left "
                                         "those folders alone)")


def test_without_crawl_images_searches_find_nothing_and_say_why(tmp_path):
    execution = run(tmp_path, tmp_path / "empty-cache", ["from duckduckgo_search import DDGS\n"
                                                         "with DDGS() as ddgs:\n"
                                                         "    print(list(ddgs.images('cat', max_results=5)))"])
    assert text(execution, 1) == "[]\n"
    offline = offline_run(execution.evidence)
    assert offline.searches == [CrawlSearch(api="DDGS.images", keyword="cat", images=0, image_class=None)]
    assert offline_notes(offline) == [
        "the crawl was substituted: searches for 'cat' were answered with nothing: the asset cache has no crawl "
        "images (`grader assets synth` or `fetch`); images written: no folder"]
