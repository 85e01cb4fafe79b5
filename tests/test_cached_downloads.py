"""Cached downloads: the URLs a rubric's execution.downloads lists, fetched into the asset cache (from a local
HTTP server here), found missing before grading, and proposed by the master's code."""

from __future__ import annotations

import hashlib
import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from typer.testing import CliRunner

from grader.assets.downloads import CachedDownload, cached, fetch_download, read_index
from grader.assets.fetch import FetchError
from grader.assets.needs import downloads_used_by, missing_assets
from grader.cli import app
from grader.export.gradescope_build import setup_script
from grader.rubric import RubricError, load_rubric
from tests.conftest import RUBRIC

CSV = b"x,y\n1,2\n3,4\n"
CSV_SHA256 = hashlib.sha256(CSV).hexdigest()


def rubric_with(tmp_path, **execution) -> object:
    """The midterm's rubric folder with these execution settings (its assets: none, unless given)."""
    folder = shutil.copytree(RUBRIC, tmp_path / "rubric")
    document = yaml.safe_load((folder / "rubric.yaml").read_text(encoding="utf-8"))
    document.setdefault("execution", {}).update({"assets": []} | execution)
    (folder / "rubric.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return folder


def said(done) -> str:
    return " ".join(done.output.split())


# --- the rubric's field ----------------------------------------------------------------------------------------

def test_a_rubric_lists_downloads_with_optional_pins(tmp_path):
    loaded = load_rubric(rubric_with(tmp_path, downloads=[
        {"url": "https://example.com/data.csv", "sha256": CSV_SHA256.upper()}, {"url": "http://example.com/a?b=1"}]))
    assert [(download.url, download.sha256) for download in loaded.spec.execution.downloads] == [
        ("https://example.com/data.csv", CSV_SHA256), ("http://example.com/a?b=1", None)]
    assert load_rubric(RUBRIC).spec.execution.downloads == []


@pytest.mark.parametrize("entry, where, problem", [
    ({"url": "ftp://example.com/data.csv"}, "[0].url",
     "expected an http:// or https:// URL with a host, e.g. https://example.com/data.csv (got 'ftp://example.com/data.csv')"),
    ({"url": "https:///data.csv"}, "[0].url",
     "expected an http:// or https:// URL with a host, e.g. https://example.com/data.csv (got 'https:///data.csv')"),
    ({"url": "https://example.com/my data.csv"}, "[0].url",
     "a URL has no spaces or line breaks (write a space as %20) (got 'https://example.com/my data.csv')"),
    ({"url": "https://example.com/data.csv", "sha256": "3a7b"}, "[0].sha256",
     "a sha256 is 64 hex digits, as `sha256sum` or `grader assets fetch --rubric` prints it (got '3a7b')"),
])
def test_a_download_that_cannot_be_cached_is_a_located_rubric_error(tmp_path, entry, where, problem):
    folder = rubric_with(tmp_path, downloads=[entry])
    with pytest.raises(RubricError) as caught:
        load_rubric(folder)
    assert str(caught.value) == (f"{folder / 'rubric.yaml'}: 1 problem(s)\n"
                                 f"  at execution.downloads{where}: Value error, {problem}")


def test_a_url_listed_twice_is_a_rubric_error(tmp_path):
    folder = rubric_with(tmp_path, downloads=[{"url": "https://example.com/a.csv"}] * 2)
    with pytest.raises(RubricError) as caught:
        load_rubric(folder)
    assert str(caught.value) == (f"{folder / 'rubric.yaml'}: 1 problem(s)\n  at execution.downloads: Value error, "
                                 "each URL once: https://example.com/a.csv is listed more than once")


# --- fetching into the cache -------------------------------------------------------------------------------------

def test_fetch_keeps_the_file_under_its_sha256_and_indexes_the_url(serve, tmp_path):
    url = serve("/data.csv", CSV, content_type="text/csv; charset=utf-8")
    entry = fetch_download(tmp_path, url)
    assert entry == CachedDownload(sha256=CSV_SHA256, file=CSV_SHA256, content_type="text/csv; charset=utf-8")
    folder = tmp_path / "downloads"
    assert (folder / CSV_SHA256).read_bytes() == CSV
    assert json.loads((folder / "index.json").read_text()) == {"urls": {url: {
        "sha256": CSV_SHA256, "file": CSV_SHA256, "content_type": "text/csv; charset=utf-8"}}}
    modes = {path.name: oct(path.stat().st_mode & 0o777) for path in [tmp_path, *tmp_path.rglob("*")]
             if path.name != ".manifest.lock"}
    assert modes == {tmp_path.name: "0o755", "downloads": "0o755", "index.json": "0o644", CSV_SHA256: "0o644"}
    # Cached: not downloaded again, pinned or not, unless forced.
    assert fetch_download(tmp_path, url) is None
    assert fetch_download(tmp_path, url, CSV_SHA256) is None
    assert serve.asked == ["/data.csv"]
    assert fetch_download(tmp_path, url, force=True) == entry
    assert serve.asked == ["/data.csv"] * 2


def test_the_probe_reads_what_fetch_writes(serve, tmp_path):
    from grader.probe.offline import _cached_downloads  # the kernel's side of the contract

    url = serve("/data.csv", CSV, content_type="text/csv")
    fetch_download(tmp_path, url)
    assert _cached_downloads(tmp_path) == {url: (tmp_path / "downloads" / CSV_SHA256, "text/csv")}


def test_a_download_without_content_type_has_an_empty_one(serve, tmp_path):
    assert fetch_download(tmp_path, serve("/data.csv", CSV)).content_type == ""


def test_fetch_refuses_bytes_other_than_the_pin_and_keeps_nothing(serve, tmp_path):
    url = serve("/data.csv", CSV)
    pin = "0" * 64
    with pytest.raises(FetchError) as raised:
        fetch_download(tmp_path, url, pin)
    assert str(raised.value) == (f"download: {url} does not match the rubric's pin: expected sha256 {pin}, got "
                                 f"{CSV_SHA256}. Nothing was kept.")
    assert [path.name for path in tmp_path.rglob("*")] == ["downloads"]  # empty


def test_fetch_cut_short_keeps_nothing(serve, tmp_path):
    url = serve("/data.csv", CSV, announced=1000)
    with pytest.raises(FetchError) as raised:
        fetch_download(tmp_path, url)
    assert str(raised.value) == (f"download: the download from {url} was cut short: expected 1000 bytes, got "
                                 f"{len(CSV)}. Nothing was kept.")
    assert [path.name for path in tmp_path.rglob("*")] == ["downloads"]


def test_a_new_pin_downloads_again_and_a_stale_copy_is_not_cached(serve, tmp_path):
    url = serve("/data.csv", CSV)
    fetch_download(tmp_path, url)
    assert cached(tmp_path, url, None) == cached(tmp_path, url, CSV_SHA256) == read_index(tmp_path)[url]
    assert cached(tmp_path, url, "1" * 64) is None
    (tmp_path / "downloads" / CSV_SHA256).unlink()
    assert cached(tmp_path, url, None) is None


def test_concurrent_fetches_keep_every_url_and_share_identical_files(serve, tmp_path):
    urls = [serve(f"/{index}.csv", CSV if index % 2 else f"file {index}\n".encode()) for index in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        entries = list(pool.map(lambda url: fetch_download(tmp_path, url), urls))
    assert read_index(tmp_path) == dict(zip(urls, entries))
    files = sorted(path.name for path in (tmp_path / "downloads").iterdir())
    assert files == sorted({entry.file for entry in entries} | {"index.json"})
    assert len(files) == 1 + 4 + 1  # the odd ones are the same bytes


# --- what grading says ---------------------------------------------------------------------------------------

def test_grading_refuses_a_rubric_whose_downloads_are_not_cached(serve, tmp_path):
    good, other = serve("/data.csv", CSV), serve("/other.csv", b"other\n")
    folder = rubric_with(tmp_path, downloads=[{"url": good, "sha256": CSV_SHA256}, {"url": other}])
    loaded, cache = load_rubric(folder), tmp_path / "cache"
    root = cache / "assets"
    assert missing_assets(loaded, cache, " --cache-dir c") == (
        f"the rubric's execution.downloads lists {good}, {other}, which are not in the asset cache {root} as "
        f"pinned: run `grader assets fetch --rubric {folder} --cache-dir c` on a machine with internet")
    fetch_download(root, good)  # the bytes the rubric pins
    assert missing_assets(loaded, cache) == (
        f"the rubric's execution.downloads lists {other}, which is not in the asset cache {root}: run "
        f"`grader assets fetch --rubric {folder}` on a machine with internet")
    fetch_download(root, other)
    assert missing_assets(loaded, cache) is None


def test_missing_assets_and_downloads_make_one_message(tmp_path):
    folder = rubric_with(tmp_path, assets=["shapes"], downloads=[{"url": "https://example.com/data.csv"}])
    cache = tmp_path / "cache"
    assert missing_assets(load_rubric(folder), cache) == (
        "the rubric's execution.assets names shapes (two classes of drawn shapes (circle, square) with boxes.json), "
        f"which is not in the asset cache {cache / 'assets'}: run `grader assets synth` (offline stand-ins); and the "
        "rubric's execution.downloads lists https://example.com/data.csv, which is not in the asset cache "
        f"{cache / 'assets'}: run `grader assets fetch --rubric {folder}` on a machine with internet")


# --- grader assets fetch --rubric ------------------------------------------------------------------------------

def test_cli_fetches_a_rubrics_downloads_and_prints_the_pins_it_lacks(serve, tmp_path):
    pinned, unpinned = serve("/data.csv", CSV), serve("/other.csv", b"other\n")
    other_sha256 = hashlib.sha256(b"other\n").hexdigest()
    folder = rubric_with(tmp_path, downloads=[{"url": pinned, "sha256": CSV_SHA256}, {"url": unpinned}])
    cache = tmp_path / "cache"
    command = ["assets", "fetch", "--rubric", str(folder), "--cache-dir", str(cache), "--quiet"]
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 0, done.output
    pin_lines = [f"not pinned in {folder / 'rubric.yaml'}: to pin them, write these entries in its "
                 "execution.downloads instead",
                 f'  - {{url: "{unpinned}", sha256: "{other_sha256}"}}', f"cache: {cache / 'assets' / 'downloads'}"]
    assert done.output.splitlines() == [f"{pinned}: cached · sha256 {CSV_SHA256[:12]}",
                                        f"{unpinned}: cached · sha256 {other_sha256[:12]}", *pin_lines]
    again = CliRunner().invoke(app, command)
    assert again.exit_code == 0, again.output
    assert again.output.splitlines() == [
        f"{pinned}: cached already (--force downloads it again) · sha256 {CSV_SHA256[:12]}",
        f"{unpinned}: cached already (--force downloads it again) · sha256 {other_sha256[:12]}", *pin_lines]
    assert serve.asked == ["/data.csv", "/other.csv"]
    assert missing_assets(load_rubric(folder), cache) is None


def test_cli_names_a_download_that_fails_and_exits_2(serve, tmp_path):
    url = serve("/data.csv", CSV)
    missing = url.replace("data", "gone")
    folder = rubric_with(tmp_path, downloads=[{"url": missing}, {"url": url, "sha256": "0" * 64}])
    done = CliRunner().invoke(app, ["assets", "fetch", "--rubric", str(folder), "--cache-dir", str(tmp_path / "c")])
    assert done.exit_code == 2
    assert said(done) == (
        f"error: download: {missing} answered HTTP 404 Not Found. Nothing was kept. "
        f"error: download: {url} does not match the rubric's pin: expected sha256 {'0' * 64}, got {CSV_SHA256}. "
        f"Nothing was kept. cache: {tmp_path / 'c' / 'assets' / 'downloads'} error: not fetched: {missing}, {url}")


def test_cli_fetch_rubric_takes_neither_only_nor_url(tmp_path):
    done = CliRunner().invoke(app, ["assets", "fetch", "--rubric", str(RUBRIC), "--only", "resnet34"])
    assert done.exit_code == 2
    assert said(done) == ("error: --rubric fetches the rubric's execution.downloads, not assets: give it without "
                          "--only and --url")
    done = CliRunner().invoke(app, ["assets", "fetch", "--rubric", str(RUBRIC), "--cache-dir", str(tmp_path)])
    assert done.exit_code == 0
    assert said(done) == f"{RUBRIC / 'rubric.yaml'}: execution.downloads lists no URL, nothing to fetch"


def test_gradescopes_image_build_fetches_the_downloads():
    assert ("/autograder/venv/bin/grader assets fetch --rubric /autograder/source/rubric\n"
            "/autograder/venv/bin/grader rubric reference /autograder/source/rubric") in setup_script(
        "/g", downloads=True, versions={"torch": "2.5.1", "torchvision": "0.20.1", "fastai": "2.7.18"})


# --- what the master's code downloads --------------------------------------------------------------------------

@pytest.mark.parametrize("sources, expected", [
    (["import pandas as pd\ndf = pd.read_csv('https://example.com/data.csv')",
      "urllib.request.urlretrieve(\"http://example.com/a.zip?raw=1\", 'a.zip')"],
     ["https://example.com/data.csv", "http://example.com/a.zip?raw=1"]),
    (["a = 'https://example.com/b'; b = 'https://example.com/a'", "c = 'https://example.com/b'"],  # first appearance
     ["https://example.com/b", "https://example.com/a"]),
    (["x = f'https://example.com/whole.csv'", "name = 'a'\ny = f'https://example.com/{name}.csv'",
      "z = f'{BASE}/data.csv'"], ["https://example.com/whole.csv"]),
    (["print('see https://example.com for more')", "u = 'ftp://example.com/x'", "# 'https://example.com/c'",
      "s = 'https://'", "def broken(:\n    'https://example.com/d'"], []),
    (["%matplotlib inline\nr = requests.get('https://example.com/api.json')", "!wget https://example.com/e"],
     ["https://example.com/api.json"]),  # a shell escape is not Python
])
def test_the_urls_a_notebooks_code_writes(sources, expected):
    notebook = new_notebook(cells=[new_markdown_cell("Data: 'https://example.com/in-the-question.csv'")]
                            + [new_code_cell(source) for source in sources])
    assert downloads_used_by(notebook) == expected
