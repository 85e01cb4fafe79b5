"""Cached downloads: the files a course's notebooks fetch by URL (urllib, requests, `pd.read_csv(url)`), kept in
the asset cache for kernels without network, whose stand-ins read them as

    ROOT/downloads/index.json   {"urls": {url: {"sha256": hex, "file": hex, "content_type": type or ""}}}
    ROOT/downloads/<hex>        the bytes, named by their sha256

A rubric lists them (`execution.downloads`), with or without a sha256 pin; `grader assets fetch --rubric` fills the
cache. A file is in place, world-readable, before its URL enters the index, and the index is replaced whole under
the cache's lock: a kernel never reads an entry without its file, and concurrent fetches keep each other's entries.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.assets.cache import locked, staging, write_text_atomically
from grader.assets.fetch import FetchError, ProgressCallback, download, no_progress
from grader.catalog import sha256_of_file
from grader.probe.protocol import DOWNLOADS_FOLDER, DOWNLOADS_INDEX

WHO = "download"  # how a FetchError about a URL of a rubric starts


@dataclass(frozen=True)
class CachedDownload:
    """What the index says about one URL."""

    sha256: str
    file: str  # beside the index
    content_type: str  # as the server sent it, "" without one


def read_index(root: Path) -> dict[str, CachedDownload]:
    path = root / DOWNLOADS_FOLDER / DOWNLOADS_INDEX
    if not path.is_file():
        return {}
    return {url: CachedDownload(**entry) for url, entry in json.loads(path.read_text())["urls"].items()}


def cached(root: Path, url: str, sha256: str | None) -> CachedDownload | None:
    """The cache's copy of `url`, or None when it has none, its file is gone, or it is not the pinned `sha256`."""
    entry = read_index(root).get(url)
    if entry is None or not (root / DOWNLOADS_FOLDER / entry.file).is_file():
        return None
    return entry if sha256 in (None, entry.sha256) else None


def fetch_download(root: Path, url: str, sha256: str | None = None, force: bool = False,
                   on_progress: ProgressCallback | None = None) -> CachedDownload | None:
    """Download `url` into the cache at `root`, checked against `sha256` when given, and enter it in the index.
    Returns None, fetching nothing, when the cache holds it already (as pinned), unless `force`."""
    if cached(root, url, sha256) is not None and not force:
        return None
    folder = root / DOWNLOADS_FOLDER
    # Staged under a name of the URL's own, so that the leftovers of a killed fetch of it are removed.
    with staging(root, f"{DOWNLOADS_FOLDER}/{hashlib.sha256(url.encode()).hexdigest()[:16]}") as work:
        fetched = work / "download"
        content_type = download(WHO, url, fetched, on_progress or no_progress)
        got = sha256_of_file(fetched)
        if sha256 is not None and got != sha256:
            raise FetchError(f"{WHO}: {url} does not match the rubric's pin: expected sha256 {sha256}, got {got}. "
                             "Nothing was kept.")
        fetched.chmod(0o644)
        os.replace(fetched, folder / got)
    entry = CachedDownload(sha256=got, file=got, content_type=content_type)
    _update_index(root, url, entry)
    return entry


def _update_index(root: Path, url: str, entry: CachedDownload) -> None:
    with locked(root):
        entries = read_index(root) | {url: entry}
        text = json.dumps({"urls": {key: asdict(value) for key, value in sorted(entries.items())}}, indent=2)
        write_text_atomically(root / DOWNLOADS_FOLDER / DOWNLOADS_INDEX, text + "\n")
