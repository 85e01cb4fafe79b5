"""`grader assets`: fill and inspect the asset cache that is mounted read-only into the grading kernels."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from grader.assets.cache import assets_root, catalog_states, default_root, state
from grader.assets.downloads import fetch_download, read_index
from grader.catalog import CATALOG, Asset
from grader.assets.fetch import FetchError, asset_url, fetch_asset
from grader.assets.synth import synth_asset
from grader.cli.common import error, fail
from grader.probe.protocol import DOWNLOADS_FOLDER
from grader.rubric import RubricError, load_rubric
from grader.rubric.load import RUBRIC_FILE

assets_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)  # text; markup only where asked

CacheOption = Annotated[Optional[Path], typer.Option(
    "--cache-dir", "--cache", help="Grader cache; the assets are in its assets/ folder \\[default: $GRADER_CACHE "
                                   "or ~/.cache/grader].")]  # "\\[": text, not Rich markup
OnlyOption = Annotated[Optional[str], typer.Option("--only", help=f"Just this asset: one of {', '.join(CATALOG)}.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace real assets too.")]
T = TypeVar("T")


def _root(cache_dir: Path | None) -> Path:
    return assets_root(cache_dir) if cache_dir is not None else default_root()


def _selected(only: str | None) -> list[Asset]:
    if only is None:
        return list(CATALOG.values())
    if only not in CATALOG:
        raise fail(f"--only {only}: no such asset; choose one of: {', '.join(CATALOG)}")
    return [CATALOG[only]]


def _parse_urls(pairs: list[str]) -> dict[str, str]:
    urls = {}
    for pair in pairs:
        name, separator, url = pair.partition("=")
        if not separator or not url:
            raise fail(f"--url {pair}: expected NAME=URL, e.g. resnet34=http://mirror.example/resnet34-b627a593.pth")
        if name not in CATALOG or CATALOG[name].url is None:
            fetchable = [asset.name for asset in CATALOG.values() if asset.url is not None]
            raise fail(f"--url {pair}: {name!r} is not an asset to fetch; choose one of: {', '.join(fetchable)}")
        urls[name] = url
    return urls


@assets_app.command()
def synth(cache_dir: CacheOption = None, only: OnlyOption = None, force: ForceOption = False) -> None:
    """Write offline stand-ins: random weights, scikit-learn digits for mnist_sample, drawn shapes."""
    root = _root(cache_dir)
    for asset in _selected(only):
        with console.status(f"{asset.name}: writing {asset.stand_in}…"):
            record = synth_asset(root, asset, force=force)
        if record is None:
            console.print(f"{asset.name}: real, kept (--force replaces it with {asset.stand_in})", highlight=False)
        else:
            console.print(f"{asset.name}: synthetic ({asset.stand_in}) · sha256 {record.sha256[:12]}",
                          highlight=False)
    console.print(f"cache: {root}", highlight=False)


@assets_app.command()
def fetch(
    cache_dir: CacheOption = None,
    only: OnlyOption = None,
    url: Annotated[Optional[list[str]], typer.Option(
        "--url", help="NAME=URL: download NAME from URL instead (a mirror); also $GRADER_ASSET_URL_<NAME>.")] = None,
    rubric: Annotated[Optional[Path], typer.Option(
        "--rubric", help="Rubric folder (rubric.yaml, template, solution): download the URLs its "
                         "execution.downloads lists instead of the assets, and print the sha256 of each the rubric "
                         "does not pin.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Download what is in the cache already again.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Download the real assets, checked against their published hashes (shapes are drawn: `synth`), or a
    rubric's downloads."""
    root = _root(cache_dir)
    if rubric is not None:
        if only is not None or url:
            raise fail("--rubric fetches the rubric's execution.downloads, not assets: give it without --only "
                       "and --url")
        _fetch_downloads(root, rubric, force, quiet)
        return
    urls = _parse_urls(url or [])
    failed = []
    for asset in _selected(only):
        if asset.url is None:
            console.print(f"{asset.name}: drawn by the grader, nothing to fetch (`grader assets synth`)",
                          highlight=False)
            continue
        try:
            record = _with_progress(asset.name, quiet, partial(fetch_asset, root, asset, asset_url(asset, urls),
                                                               force))
        except FetchError as err:
            error(str(err))
            failed.append(asset.name)
            continue
        if record is None:
            console.print(f"{asset.name}: real already (--force downloads it again)", highlight=False)
        else:
            console.print(f"{asset.name}: real · sha256 {record.sha256[:12]} · from {record.source}", highlight=False)
    if failed:
        raise fail(f"not fetched: {', '.join(failed)}")


def _fetch_downloads(root: Path, folder: Path, force: bool, quiet: bool) -> None:
    """Each URL of the rubric's execution.downloads into the cache, checked against its pin; the entries to pin
    the others with."""
    try:
        downloads = load_rubric(folder).spec.execution.downloads
    except RubricError as err:
        raise fail(str(err)) from None
    rubric_file = folder / RUBRIC_FILE
    if not downloads:
        console.print(f"{rubric_file}: execution.downloads lists no URL, nothing to fetch", highlight=False)
        return
    failed, unpinned = [], []
    for download in downloads:
        try:
            entry = _with_progress(download.url, quiet, partial(fetch_download, root, download.url, download.sha256,
                                                                force))
        except FetchError as err:
            error(str(err))
            failed.append(download.url)
            continue
        if entry is None:
            entry = read_index(root)[download.url]
            console.print(f"{download.url}: cached already (--force downloads it again) · sha256 {entry.sha256[:12]}",
                          highlight=False)
        else:
            console.print(f"{download.url}: cached · sha256 {entry.sha256[:12]}", highlight=False)
        if download.sha256 is None:
            unpinned.append(f"- {{url: {json.dumps(download.url)}, sha256: \"{entry.sha256}\"}}")
    if unpinned:
        console.print(f"not pinned in {rubric_file}: to pin them, write these entries in its execution.downloads "
                      "instead", highlight=False)
        for line in unpinned:
            console.print(f"  {line}", highlight=False)
    console.print(f"cache: {root / DOWNLOADS_FOLDER}", highlight=False)
    if failed:
        raise fail(f"not fetched: {', '.join(failed)}")


def _with_progress(label: str, quiet: bool, fetch_one: Callable[..., T]) -> T:
    """`fetch_one(on_progress=…)`, under a progress bar of its bytes unless `quiet`."""
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=console, disable=quiet, transient=True) as progress:
        task = progress.add_task(label, total=None)
        return fetch_one(on_progress=lambda received, expected: progress.update(
            task, completed=received, total=expected))


@assets_app.command()
def status(cache_dir: CacheOption = None) -> None:
    """Show whether each asset is real, synthetic or missing; exit code 1 when one is missing."""
    root = _root(cache_dir)
    table = Table(title=escape(f"assets in {root}"), title_justify="left")
    for column in ("asset", "state", "path", "sha256"):
        table.add_column(column, overflow="fold")
    missing = []
    for asset, record in catalog_states(root).items():
        if record is None:
            missing.append(asset.name)
        said = "[red]missing[/]" if record is None else escape(state(asset, record))
        table.add_row(asset.name, said, asset.path, record.sha256[:12] if record else "")
    Console(emoji=False).print(table)  # stdout: the command's output
    if missing:
        console.print(f"missing: {', '.join(missing)}. `grader assets synth` writes stand-ins, "
                      "`grader assets fetch` downloads the real ones.", highlight=False)
        raise typer.Exit(code=1)
