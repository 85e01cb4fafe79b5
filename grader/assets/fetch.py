"""Download the real assets: stream to a staging folder, check the published hash, extract archives safely, and
only then replace what the cache held."""

from __future__ import annotations

import http.client
import os
import tarfile
from collections.abc import Callable, Mapping
from functools import partial
from itertools import islice
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from PIL import Image

from grader.assets.cache import Record, commit, present, staging, write_layout
from grader.catalog import CHUNK_BYTES, ArchiveSelection, Asset

URL_ENV_PREFIX = "GRADER_ASSET_URL_"  # + the asset's name in capitals, e.g. GRADER_ASSET_URL_RESNET34
TIMEOUT_S = 60  # per connection attempt and per read: a stalled server fails instead of hanging
SELECTION_DEPTH = 2  # folders above a selected one: fastai's top-level folder, and one more of the publisher's

ProgressCallback = Callable[[int, int | None], None]  # (bytes received so far, bytes expected if known)


def no_progress(received: int, expected: int | None) -> None:
    """A ProgressCallback that shows nothing."""


class FetchError(Exception):
    """A download that failed or did not match; the message names the asset and URL, and says what was
    expected. Nothing of it is left in the cache."""


def asset_url(asset: Asset, overrides: Mapping[str, str] | None = None) -> str:
    """Where to download the asset from: `overrides[name]`, else $GRADER_ASSET_URL_<NAME>, else the catalog's."""
    url = (overrides or {}).get(asset.name) or os.environ.get(URL_ENV_PREFIX + asset.name.upper()) or asset.url
    if url is None:
        raise FetchError(f"{asset.name}: nothing to fetch, the grader draws it (`grader assets synth`)")
    return url


def fetch_asset(root: Path, asset: Asset, url: str | None = None, force: bool = False,
                on_progress: ProgressCallback | None = None) -> Record | None:
    """Download the asset (from `url`, default `asset_url(asset)`), check it against `asset.published` and put
    it in the cache at `root` as `real`, replacing what was there only once it passed. Returns None, fetching
    nothing, when the cache holds the real asset already, unless `force`."""
    url = url or asset_url(asset)
    existing = present(root, asset)
    if existing is not None and existing.status == "real" and not force:
        return None
    write_layout(root)
    with staging(root, asset.path) as work:
        fetched = work / "download"
        download(asset.name, url, fetched, on_progress or no_progress)
        if asset.published is not None and (mismatch := asset.published.mismatch(fetched)) is not None:
            raise FetchError(f"{asset.name}: {url} does not match what is published: {mismatch}. "
                             "Nothing was kept.")
        if not asset.is_folder:
            content = fetched
        elif asset.keeps is None:
            content = _extract(asset, url, fetched, work / "extracted")
        else:
            content = _extract_selection(asset, asset.keeps, url, fetched, work)
        return commit(root, asset, content, status="real", source=url)


def download(who: str, url: str, dest: Path, on_progress: ProgressCallback) -> str:
    """Stream `url` into `dest` and return the Content-Type it was served with ("" without one); raise FetchError,
    its message starting with `who`, unless all the bytes the server announced arrived."""
    received = 0
    expected = None
    try:
        with urlopen(Request(url, headers={"User-Agent": "grader-assets"}), timeout=TIMEOUT_S) as response, \
                dest.open("wb") as out:
            length = response.headers.get("Content-Length")
            expected = int(length) if length is not None else None
            content_type = response.headers.get("Content-Type", "")
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
                on_progress(received, expected)
    except HTTPError as err:
        raise FetchError(f"{who}: {url} answered HTTP {err.code} {err.reason}. Nothing was kept.") from None
    except (URLError, http.client.HTTPException, OSError) as err:
        raise FetchError(f"{who}: downloading {url} failed after {received} bytes: {err}. "
                         "Nothing was kept.") from None
    # http.client ends a body cut short like a complete one; only the announced length tells them apart.
    if expected is not None and received != expected:
        raise FetchError(f"{who}: the download from {url} was cut short: expected {expected} bytes, "
                         f"got {received}. Nothing was kept.")
    return content_type


def _extract(asset: Asset, url: str, archive: Path, into: Path) -> Path:
    """Extract the archive into `into` and return the asset's folder: the archive's one top-level folder if it
    has exactly one (as fastai's untar_data does), else `into` itself."""
    _extract_members(asset, url, archive, into, lambda member: True)
    top_level = list(into.iterdir())
    return top_level[0] if len(top_level) == 1 and top_level[0].is_dir() else into


def _extract_selection(asset: Asset, selection: ArchiveSelection, url: str, archive: Path, work: Path) -> Path:
    """The selection's folders of the archive, each cut down to the images it keeps, in `work/kept`. Only the
    files of folders named as the selection's are extracted, not the whole archive."""
    extracted, kept = work / "extracted", work / "kept"
    _extract_members(asset, url, archive, extracted, partial(_in_selection, selection))
    for name in selection.folders:
        _keep_images(asset, selection, url, _selected_folder(asset, url, extracted, name), kept / name)
    return kept


def _extract_members(asset: Asset, url: str, archive: Path, into: Path,
                     wanted: Callable[[tarfile.TarInfo], bool]) -> None:
    """Extract the members `wanted` says, once every member of the archive passed `_check_member`."""
    into.mkdir()
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(asset, url, member)
            members = [member for member in members if wanted(member)]
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, members=members, filter="data")
            else:  # Python < 3.11.4 has no extraction filters; `_check_member` refuses everything "data" would
                tar.extractall(into, members=members)
    except tarfile.TarError as err:
        raise FetchError(f"{asset.name}: {url} is not a readable tar archive ({err}). Nothing was kept.") from None


def _in_selection(selection: ArchiveSelection, member: tarfile.TarInfo) -> bool:
    """A file right inside a folder the selection names, at most SELECTION_DEPTH folders below the top."""
    folder = PurePosixPath(member.name).parent
    return member.isfile() and folder.name in selection.folders and len(folder.parts) <= SELECTION_DEPTH + 1


def _selected_folder(asset: Asset, url: str, extracted: Path, name: str) -> Path:
    """Where the selection's folder `name` was extracted; a FetchError unless there is exactly one."""
    levels = [[extracted]]
    for _ in range(SELECTION_DEPTH):
        levels.append([child for parent in levels[-1] for child in parent.iterdir() if child.is_dir()])
    found = sorted(folder / name for level in levels for folder in level if (folder / name).is_dir())
    if len(found) != 1:
        where = ("none" if not found else
                 "several: " + ", ".join(folder.relative_to(extracted).as_posix() for folder in found))
        raise FetchError(f"{asset.name}: the archive from {url} should hold one folder {name!r} of files at its top "
                         f"or up to {SELECTION_DEPTH} folders down; it holds {where}. Nothing was kept.")
    return found[0]


def _keep_images(asset: Asset, selection: ArchiveSelection, url: str, folder: Path, dest: Path) -> None:
    """Move the first `per_folder` files of `folder`, in sorted order, that are usable images into `dest`."""
    usable = (file for file in sorted(folder.iterdir()) if _usable_image(file, selection.min_short_side))
    kept = list(islice(usable, selection.per_folder))
    if not kept:
        raise FetchError(f"{asset.name}: the archive from {url} has no RGB JPEG image with a short side of at least "
                         f"{selection.min_short_side} px in {folder.name}/. Nothing was kept.")
    dest.mkdir(parents=True)
    for file in kept:
        file.rename(dest / file.name)


def _usable_image(file: Path, min_short_side: int) -> bool:
    """An RGB JPEG whose short side has at least `min_short_side` pixels; Pillow reads only its header."""
    try:
        with Image.open(file) as image:
            return image.format == "JPEG" and image.mode == "RGB" and min(image.size) >= min_short_side
    except (OSError, Image.DecompressionBombError):  # not an image Pillow reads, or an absurdly large one
        return False


def _check_member(asset: Asset, url: str, member: tarfile.TarInfo) -> None:
    """Only plain files and folders, at relative paths that stay inside the extraction folder."""
    path = PurePosixPath(member.name)
    if not (member.isfile() or member.isdir()):
        why = "a link or special file"
    elif path.is_absolute() or ".." in path.parts:
        why = "a path outside the archive's folder"
    else:
        return
    raise FetchError(f"{asset.name}: the archive from {url} holds {member.name!r}, {why}; refused, "
                     "nothing was extracted or kept.")
