"""The assets the grader knows (pretrained weights, datasets): each one's place in the asset cache, where it is
published, and how to check it. Plain data, below the rubric, which names them; the cache is `grader.assets`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1 << 20


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Sha256Prefix:
    """torchvision's published check: the file name carries the first hex digits of the file's sha256, which
    torch.hub compares when it downloads (`download_url_to_file(..., hash_prefix)`)."""

    prefix: str

    def mismatch(self, path: Path) -> str | None:
        """None if the file passes, else what was expected and what was found."""
        got = sha256_of_file(path)
        if got.startswith(self.prefix):
            return None
        return f"expected a sha256 starting with {self.prefix}, got {got}"


@dataclass(frozen=True)
class FastaiArchiveCheck:
    """fastai's published check (fastai/data/download_checks.py, compared by fastdownload): the archive's size in
    bytes and the md5 of its first MiB."""

    size: int
    head_md5: str

    def mismatch(self, path: Path) -> str | None:
        """None if the archive passes, else what was expected and what was found."""
        size = path.stat().st_size
        with path.open("rb") as file:
            head_md5 = hashlib.md5(file.read(CHUNK_BYTES)).hexdigest()
        if (size, head_md5) == (self.size, self.head_md5):
            return None
        return (f"expected {self.size} bytes with md5 {self.head_md5} over the first MiB, "
                f"got {size} bytes with md5 {head_md5}")


PublishedCheck = Sha256Prefix | FastaiArchiveCheck


@dataclass(frozen=True)
class ArchiveSelection:
    """The part of an archive an asset keeps, when the archive is far larger than what the kernels need: from
    each of `folders`, the first `per_folder` files in sorted order that are RGB JPEG images whose short side is
    at least `min_short_side` pixels, kept as `<folder>/<file>`. A folder is looked for at the archive's top and
    up to two folders down (`caltech_101/101_ObjectCategories/airplanes/`), so that a publisher's wrapping
    folders do not matter."""

    folders: tuple[str, ...]
    per_folder: int
    min_short_side: int


@dataclass(frozen=True)
class Asset:
    """One thing a student's notebook expects to download, which the cache provides instead."""

    name: str
    description: str
    path: str  # inside the cache root, "/"-separated
    is_folder: bool
    stand_in: str  # what `synth` writes in its place, for reports
    url: str | None = None  # None: the grader draws it, nothing to fetch; a folder's URL is a .tgz archive
    published: PublishedCheck | None = None
    keeps: ArchiveSelection | None = None  # None: a folder is the whole archive
    credit: str = ""  # the real asset's source and licence, where reports should name them
    # Names whose use in a notebook's code downloads it (`vision_learner(dls, resnet34)`, `models.resnet34(...)`,
    # `untar_data(URLs.MNIST_SAMPLE)`): how a rubric's needs are told from its solution.
    used_by: tuple[str, ...] = ()


RESNET34 = Asset(
    name="resnet34", description="torchvision ResNet-34 ImageNet weights (IMAGENET1K_V1)",
    path="torch/hub/checkpoints/resnet34-b627a593.pth", is_folder=False, stand_in="random weights",
    url="https://download.pytorch.org/models/resnet34-b627a593.pth", published=Sha256Prefix("b627a593"),
    used_by=("resnet34",))
RESNET18 = Asset(
    name="resnet18", description="torchvision ResNet-18 ImageNet weights (IMAGENET1K_V1)",
    path="torch/hub/checkpoints/resnet18-f37072fd.pth", is_folder=False, stand_in="random weights",
    url="https://download.pytorch.org/models/resnet18-f37072fd.pth", published=Sha256Prefix("f37072fd"),
    used_by=("resnet18",))
MNIST_SAMPLE = Asset(
    name="mnist_sample", description="fastai URLs.MNIST_SAMPLE: 3s and 7s, train/ valid/ labels.csv",
    path="fastai/data/mnist_sample", is_folder=True, stand_in="scikit-learn digits",
    url="https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz",
    published=FastaiArchiveCheck(size=3214948, head_md5="2dbc7ec6f9259b583af0072c55816a88"),
    used_by=("MNIST_SAMPLE",))
SHAPES = Asset(
    name="shapes", description="two classes of drawn shapes (circle, square) with boxes.json",
    path="shapes", is_folder=True, stand_in="drawn")

# The images a notebook's image search or crawl gets in a kernel without network (the probe's stand-ins for
# duckduckgo_search, fastai's download_images, icrawler, …): two class folders, named as grader.probe.protocol's
# CRAWL_ASSET says (the catalog, on the same floor, cannot import it).
CRAWL = Asset(
    name="crawl", description="two classes of photos an image crawl gets offline: Caltech-101's airplanes and "
                              "Motorbikes (L. Fei-Fei, R. Fergus, P. Perona; CC BY 4.0; fastai's URLs.CALTECH_101), "
                              "the first 100 of each at least 160 px",
    path="crawl", is_folder=True, stand_in="drawn shapes", credit="Caltech-101, CC BY 4.0",
    url="https://s3.amazonaws.com/fast-ai-imageclas/caltech_101.tgz",
    published=FastaiArchiveCheck(size=131740031, head_md5="d673425306e98ee4619fcdeef8a0e876"),
    keeps=ArchiveSelection(folders=("airplanes", "Motorbikes"), per_folder=100, min_short_side=160))

CATALOG: dict[str, Asset] = {asset.name: asset for asset in (RESNET34, RESNET18, MNIST_SAMPLE, SHAPES, CRAWL)}
