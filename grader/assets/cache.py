"""The asset cache on disk: its layout, its manifest, and atomic replacement of one asset.

    ROOT/torch/              TORCH_HOME of the kernels (torch/hub/checkpoints/*.pth)
    ROOT/fastai/             FASTAI_HOME of the kernels (config.ini, data/mnist_sample/)
    ROOT/shapes/             drawn images and boxes.json
    ROOT/crawl/              the images the probe's crawl stand-ins hand out, a folder per class (two)
    ROOT/manifest.json       per asset: status (real or synthetic), sha256, source, written_at

The root is later mounted read-only into every kernel, at whatever path `kernel_env` is given. Every file is
world-readable because each kernel runs as its own uid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Literal
from uuid import uuid4

from grader.catalog import CATALOG, Asset, sha256_of_file
from grader.owners import held_lock
from grader.paths import default_cache
from grader.probe.protocol import ASSETS_ENV, MANIFEST_FILE

FASTAI_SCRATCH = "/tmp/grader-fastai"  # fastdownload writes a .lock beside the archives even when data exists
FASTAI_CONFIG = f"""\
# Written by `grader assets`. `data` is relative to this file's folder, so the cache may be mounted anywhere;
# the others must be writable, and the cache is mounted read-only.
[DEFAULT]
data = data
archive = {FASTAI_SCRATCH}/archive
model = {FASTAI_SCRATCH}/models
storage = {FASTAI_SCRATCH}/tmp
"""
LAYOUT_FOLDERS = ("torch", "fastai")
TEMP_MARK = ".tmp-"  # staging folders are named .<final name>.tmp-<random> beside the final path
LOCK_FILE = ".manifest.lock"  # for the downloads' index too

Status = Literal["real", "synthetic"]


@dataclass(frozen=True)
class Record:
    """What the manifest says about one asset."""

    status: Status
    sha256: str  # of the file, or of a folder: see `sha256_of_path`
    source: str  # the URL it came from, or "synthetic"
    written_at: str  # ISO 8601, UTC


def default_root() -> Path:
    """The cache every `grader assets` command uses by default: `<grader cache>/assets`."""
    return assets_root(default_cache())


def assets_root(grader_cache: Path) -> Path:
    return grader_cache / "assets"


def kernel_env(root_as_kernel_sees_it: str) -> dict[str, str]:
    """The environment variables that point torch, fastai and the probe's crawl and download stand-ins at the
    cache, mounted at that path in the kernel."""
    root = PurePosixPath(root_as_kernel_sees_it)
    return {"TORCH_HOME": str(root / "torch"), "FASTAI_HOME": str(root / "fastai"), ASSETS_ENV: str(root)}


def sha256_of_path(path: Path) -> str:
    """A file's sha256; for a folder, the sha256 of the `sha256sum`-style listing of its files sorted by relative
    path: `cd FOLDER && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs sha256sum | sha256sum`."""
    if not path.is_dir():
        return sha256_of_file(path)
    files = sorted((file.relative_to(path).as_posix(), file) for file in path.rglob("*") if file.is_file())
    listing = "".join(f"{sha256_of_file(file)}  {relative}\n" for relative, file in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def write_layout(root: Path) -> None:
    """Create the cache's folders and fastai's config.ini (idempotent)."""
    for name in LAYOUT_FOLDERS:
        _make_folders(root, root / name)
    config = root / "fastai" / "config.ini"
    if not config.is_file() or config.read_text() != FASTAI_CONFIG:
        write_text_atomically(config, FASTAI_CONFIG)


def read_manifest(root: Path) -> dict[str, Record]:
    path = root / MANIFEST_FILE
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text())["assets"]
    return {name: Record(**entry) for name, entry in entries.items()}


def present(root: Path, asset: Asset) -> Record | None:
    """The asset's record if the manifest has one and its file or folder is in place, else None (missing)."""
    record = read_manifest(root).get(asset.name)
    return record if record is not None and (root / asset.path).exists() else None


def catalog_states(root: Path) -> dict[Asset, Record | None]:
    """Each catalogued asset's record, or None where it is missing."""
    return {asset: present(root, asset) for asset in CATALOG.values()}


def describe(root: Path) -> str:
    """One line for reports, e.g. "assets: resnet34 real, mnist_sample synthetic (scikit-learn digits), crawl real
    (Caltech-101, CC BY 4.0), …"."""
    return "assets: " + ", ".join(f"{asset.name} {state(asset, record)}"
                                  for asset, record in catalog_states(root).items())


def state(asset: Asset, record: Record | None) -> str:
    """"missing", "synthetic (its stand-in)", or "real", with the source and licence where the catalog has them."""
    if record is None:
        return "missing"
    if record.status == "synthetic":
        return f"synthetic ({asset.stand_in})"
    return f"real ({asset.credit})" if asset.credit else "real"


@contextmanager
def staging(root: Path, path: str) -> Iterator[Path]:
    """An empty folder beside `path`'s final place in the cache (same file system, so `commit` can rename),
    removed afterwards with whatever was not committed. Leftovers of a killed earlier run are removed first."""
    final = root / path
    _make_folders(root, final.parent)
    for leftover in final.parent.glob(f".{final.name}{TEMP_MARK}*"):
        _remove(leftover)
    work = final.with_name(f".{final.name}{TEMP_MARK}{uuid4().hex[:12]}")
    work.mkdir()
    try:
        yield work
    finally:
        _remove(work)


def commit(root: Path, asset: Asset, content: Path, status: Status, source: str) -> Record:
    """Move `content` (inside a `staging` folder) to the asset's place and record it.

    The manifest forgets the asset before its files are replaced and records it after, so an interruption at
    any point leaves the asset missing, never present with the wrong files."""
    _make_world_readable(content)
    record = Record(status=status, sha256=sha256_of_path(content), source=source,
                    written_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _update_manifest(root, asset.name, None)
    final = root / asset.path
    if final.is_dir():
        # A folder cannot be renamed over a non-empty one: move the old one into the staging folder first.
        final.rename(content.parent / f"replaced-{uuid4().hex[:12]}")
    os.replace(content, final)
    _update_manifest(root, asset.name, record)
    return record


def _update_manifest(root: Path, name: str, record: Record | None) -> None:
    """Set (or, with None, remove) one asset's entry."""
    with locked(root):
        entries = {key: asdict(value) for key, value in read_manifest(root).items() if key != name}
        if record is not None:
            entries[name] = asdict(record)
        write_text_atomically(root / MANIFEST_FILE, json.dumps({"assets": dict(sorted(entries.items()))},
                                                               indent=2) + "\n")


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """The cache's lock, held while the manifest or the downloads' index is read and replaced, so that concurrent
    commands do not lose each other's entries."""
    with held_lock(root / LOCK_FILE):
        yield


def write_text_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a part of it; world-readable."""
    temp = path.with_name(f".{path.name}{TEMP_MARK}{uuid4().hex[:12]}")
    try:
        temp.write_text(text)
        temp.chmod(0o644)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _make_folders(root: Path, folder: Path) -> None:
    """`root`, `folder` and the folders between them, each world-readable whatever the umask."""
    root.mkdir(parents=True, exist_ok=True)  # the root's own parents are the user's business
    root.chmod(0o755)
    path = root
    for part in folder.relative_to(root).parts:
        path = path / part
        path.mkdir(exist_ok=True)
        path.chmod(0o755)


def _make_world_readable(path: Path) -> None:
    """Kernels run as their own uids; also drops whatever modes an archive carried (setuid, group-writable)."""
    if not path.is_dir():
        path.chmod(0o644)
        return
    path.chmod(0o755)
    for item in path.rglob("*"):
        item.chmod(0o755 if item.is_dir() else 0o644)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
