"""The asset cache: synthetic stand-ins, downloads checked against published hashes, and kernels that load
pretrained weights and fastai datasets from it without network."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from grader.assets import (CATALOG, FetchError, catalog_states, describe, draw_shapes, fetch_asset, kernel_env,
                           present, sha256_of_path, synth_asset)
from grader.assets.cache import FASTAI_CONFIG, read_manifest
from grader.catalog import CRAWL, MNIST_SAMPLE, RESNET18, RESNET34, FastaiArchiveCheck, Sha256Prefix
from grader.probe.protocol import CRAWL_ASSET
from grader.assets.fetch import asset_url

ALL_SYNTHETIC = ("assets: resnet34 synthetic (random weights), resnet18 synthetic (random weights), "
                 "mnist_sample synthetic (scikit-learn digits), shapes synthetic (drawn), crawl synthetic (drawn "
                 "shapes)")
# scikit-learn's digits hold 183 threes and 179 sevens; 15% of each (rounded) go to valid/.
MNIST_COUNTS = {"train/3": 156, "train/7": 152, "valid/3": 27, "valid/7": 27}


@pytest.fixture(scope="module")
def synthetic_root() -> Iterator[Path]:
    """A cache filled by `synth`, in a folder other uids may enter (pytest's own tmp folders are private)."""
    parent = Path(tempfile.mkdtemp(prefix="grader-assets-test-"))
    parent.chmod(0o755)
    root = parent / "assets"
    for asset in CATALOG.values():
        synth_asset(root, asset)
    yield root
    shutil.rmtree(parent)


@pytest.fixture(scope="module")
def cli_synthesized_cache(tmp_path_factory) -> Path:
    """A grader cache whose assets `grader assets synth --cache` wrote, after `status` found them missing."""
    from grader.cli import app

    cache = tmp_path_factory.mktemp("grader-cache")
    runner = CliRunner()
    before = runner.invoke(app, ["assets", "status", "--cache", str(cache)])
    assert before.exit_code == 1, before.output
    assert "missing: resnet34, resnet18, mnist_sample, shapes, crawl." in " ".join(before.output.split())
    done = runner.invoke(app, ["assets", "synth", "--cache", str(cache)])
    assert done.exit_code == 0, done.output
    return cache


def files_under(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


# --- synth ---------------------------------------------------------------------------------------------------

def test_synth_writes_every_asset_as_synthetic_with_its_hash_in_the_manifest(synthetic_root):
    records = catalog_states(synthetic_root)
    assert {asset.name: record.status for asset, record in records.items()} == dict.fromkeys(CATALOG, "synthetic")
    assert {asset.name: record.source for asset, record in records.items()} == dict.fromkeys(CATALOG, "synthetic")
    for asset, record in records.items():
        assert record.sha256 == sha256_of_path(synthetic_root / asset.path), asset.name
    assert describe(synthetic_root) == ALL_SYNTHETIC
    assert (synthetic_root / "fastai" / "config.ini").read_text() == FASTAI_CONFIG


def test_synthetic_mnist_sample_has_fastais_layout(synthetic_root):
    folder = synthetic_root / MNIST_SAMPLE.path
    counts = {f"{split}/{digit}": len(list((folder / split / digit).glob("*.png")))
              for split in ("train", "valid") for digit in ("3", "7")}
    assert counts == MNIST_COUNTS
    labels = (folder / "labels.csv").read_text().splitlines()
    assert labels[:2] == ["name,label", "train/3/3.png,0"]
    assert len(labels) == 1 + sum(MNIST_COUNTS.values())
    assert {line.rsplit(",", 1)[1] for line in labels[1:] if "/7/" in line} == {"1"}
    with Image.open(folder / "train" / "7" / "7.png") as image:
        assert (image.size, image.mode) == ((28, 28), "L")


def test_synthetic_crawl_is_two_class_folders_of_drawn_rgb_jpegs(synthetic_root):
    folder = synthetic_root / CRAWL.path
    assert sorted(path.name for path in folder.iterdir()) == ["circle", "square"]  # no boxes.json
    for shape in ("circle", "square"):
        images = sorted((folder / shape).iterdir())
        assert [image.name for image in images] == [f"{index:03d}.jpg" for index in range(40)]
        for path in images:
            with Image.open(path) as image:
                assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (192, 192)), path
    # Other images than the shapes asset's.
    assert (folder / "circle" / "000.jpg").read_bytes() != (synthetic_root / "shapes" / "circle" / "000.jpg").read_bytes()


def test_cache_is_readable_by_every_uid(synthetic_root):
    modes = {oct(path.stat().st_mode & 0o7777) for path in synthetic_root.rglob("*") if path.name != ".manifest.lock"}
    assert modes == {"0o755", "0o644"}


def test_synth_twice_gives_identical_bytes(synthetic_root, cli_synthesized_cache):
    again = cli_synthesized_cache / "assets"
    assert files_under(again) == files_under(synthetic_root)
    assert ({name: record.sha256 for name, record in read_manifest(again).items()}
            == {name: record.sha256 for name, record in read_manifest(synthetic_root).items()})


def test_cli_status_exit_codes(cli_synthesized_cache):
    from grader.cli import app

    done = CliRunner().invoke(app, ["assets", "status", "--cache-dir", str(cli_synthesized_cache)])
    assert done.exit_code == 0, done.output
    assert "missing" not in done.output
    assert done.output.count("synthetic") == 5
    (cli_synthesized_cache / "assets" / RESNET18.path).unlink()
    done = CliRunner().invoke(app, ["assets", "status", "--cache", str(cli_synthesized_cache)])
    assert done.exit_code == 1, done.output
    assert "missing: resnet18." in " ".join(done.output.split())


# --- what a kernel sees --------------------------------------------------------------------------------------

KERNEL_SCRIPT = """
import json, os, sys, torch, torchvision
from fastai.vision.all import ImageDataLoaders, URLs, resnet34, untar_data, vision_learner

saved = torch.load(os.path.join(os.environ["TORCH_HOME"], "hub/checkpoints/resnet34-b627a593.pth"), weights_only=True)
model = torchvision.models.resnet34(weights="IMAGENET1K_V1")
path = untar_data(URLs.MNIST_SAMPLE)
dls = ImageDataLoaders.from_folder(path, train="train", valid="valid", num_workers=0)
learn = vision_learner(dls, resnet34)
print(json.dumps({"torchvision_conv1_is_saved": torch.equal(model.conv1.weight, saved["conv1.weight"]),
                  "fastai_conv1_is_saved": torch.equal(learn.model[0][0].weight, saved["conv1.weight"]),
                  "path": str(path), "vocab": list(dls.vocab), "train": len(dls.train_ds),
                  "valid": len(dls.valid_ds), "cache_writable": os.access(path, os.W_OK)}))
"""


def test_kernel_loads_weights_and_mnist_sample_from_the_cache(synthetic_root):
    """Where it can (root, bubblewrap), like a grading kernel: the cache mounted read-only at another path, a
    private /tmp and no network. Elsewhere the same script reads the cache where it is."""
    read_only = os.geteuid() == 0 and shutil.which("bwrap") is not None
    kernel_root = "/tmp/grader-assets" if read_only else str(synthetic_root)
    # The private /tmp hides whatever lives there on the host: the Python environment is bound back (a clean
    # clone in /tmp/ci has its venv there).
    python_env = [arg for prefix in {sys.prefix, sys.base_prefix} if prefix.startswith("/tmp/")
                  for arg in ("--ro-bind", prefix, prefix)]
    wrapper = ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", *python_env,
               "--ro-bind", str(synthetic_root), kernel_root, "--unshare-net", "--die-with-parent",
               "--chdir", "/tmp", "--"] if read_only else []
    env = {key: value for key, value in os.environ.items() if key not in ("TORCH_HOME", "FASTAI_HOME")}
    env |= kernel_env(kernel_root) | {"MPLCONFIGDIR": "/tmp/grader-assets-test-mpl"}
    done = subprocess.run([*wrapper, sys.executable, "-c", KERNEL_SCRIPT], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "torchvision_conv1_is_saved": True, "fastai_conv1_is_saved": True,
        "path": f"{kernel_root}/fastai/data/mnist_sample", "vocab": ["3", "7"],
        "train": MNIST_COUNTS["train/3"] + MNIST_COUNTS["train/7"],
        "valid": MNIST_COUNTS["valid/3"] + MNIST_COUNTS["valid/7"], "cache_writable": not read_only}


def test_kernel_env_points_torch_and_fastai_into_the_mounted_cache():
    assert kernel_env("/opt/assets/") == {"TORCH_HOME": "/opt/assets/torch", "FASTAI_HOME": "/opt/assets/fastai",
                                          "GRADER_ASSETS": "/opt/assets"}


# --- draw_shapes ---------------------------------------------------------------------------------------------

def test_draw_shapes_draws_two_classes_of_192px_images_with_boxes_inside(tmp_path):
    boxes = draw_shapes(tmp_path, per_class=5)
    assert files_under(tmp_path) == {*boxes, "boxes.json"}
    assert sorted(boxes) == [f"{shape}/{index:03d}.jpg" for shape in ("circle", "square") for index in range(5)]
    assert json.loads((tmp_path / "boxes.json").read_text()) == boxes
    for relative, (x0, y0, x1, y1) in boxes.items():
        with Image.open(tmp_path / relative) as image:
            assert (image.size, image.mode) == ((192, 192), "RGB")
            pixels = np.asarray(image, dtype=np.float64)
        assert 0 <= x0 < x1 <= 192 and 0 <= y0 < y1 <= 192
        assert x1 - x0 == y1 - y0 and 192 // 5 <= x1 - x0 <= 192 * 3 // 5
        # The shape fills its box: the middle of it (for a circle, inside the inscribed square) is one colour.
        inset = 4 if relative.startswith("square") else (x1 - x0) * 3 // 20 + 4
        middle = pixels[y0 + inset:y1 - inset, x0 + inset:x1 - inset].reshape(-1, 3)
        assert middle.std(axis=0).max() < 8, relative


def test_draw_shapes_is_reproducible_for_a_seed(tmp_path):
    first, second, other = (draw_shapes(tmp_path / name, per_class=3, seed=seed)
                            for name, seed in (("first", 7), ("second", 7), ("other", 8)))
    assert first == second != other
    hashes = [sha256_of_path(tmp_path / name) for name in ("first", "second", "other")]
    assert hashes[0] == hashes[1] != hashes[2]


# --- the catalog matches what torchvision and fastai publish ---------------------------------------------------

def test_catalog_matches_torchvision_and_fastai():
    import torch.hub
    import torchvision.models

    for asset, weights in ((RESNET34, torchvision.models.ResNet34_Weights.IMAGENET1K_V1),
                           (RESNET18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1)):
        file_name = asset.url.rsplit("/", 1)[1]
        assert (asset.url, asset.path) == (weights.url, f"torch/hub/checkpoints/{file_name}")
        assert asset.published == Sha256Prefix(torch.hub.HASH_REGEX.search(file_name).group(1))
    fastai_data = Path(importlib.util.find_spec("fastai").submodule_search_locations[0]) / "data"
    checks = ast.literal_eval((fastai_data / "download_checks.py").read_text())
    assert "MNIST_SAMPLE        = f'{URL}mnist_sample.tgz'" in (fastai_data / "external.py").read_text()
    assert MNIST_SAMPLE.published == FastaiArchiveCheck(*checks[MNIST_SAMPLE.url])
    assert "CALTECH_101  = f'{S3_IMAGE}caltech_101.tgz'" in (fastai_data / "external.py").read_text()
    assert CRAWL.url == "https://s3.amazonaws.com/fast-ai-imageclas/caltech_101.tgz"
    assert CRAWL.published == FastaiArchiveCheck(*checks[CRAWL.url])


def test_the_crawl_asset_is_where_the_probe_looks():
    assert (CRAWL.name, CRAWL.path) == (CRAWL_ASSET, CRAWL_ASSET)
    assert CATALOG[CRAWL_ASSET] is CRAWL


# --- fetch ---------------------------------------------------------------------------------------------------

def weights_asset(body: bytes):
    """resnet18 with the published hash of `body`, as torchvision would publish it."""
    return replace(RESNET18, published=Sha256Prefix(hashlib.sha256(body).hexdigest()[:8]))


def fastai_archive(members: dict[str, bytes]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return data.getvalue()


def test_fetch_with_the_published_hash_makes_the_asset_real(serve, tmp_path):
    body = b"pretend weights " * 5000
    url = serve("/resnet18-f37072fd.pth", body)
    asset = weights_asset(body)
    record = fetch_asset(tmp_path, asset, url)
    assert (record.status, record.source, record.sha256) == ("real", url, hashlib.sha256(body).hexdigest())
    assert (tmp_path / RESNET18.path).read_bytes() == body
    assert read_manifest(tmp_path) == {"resnet18": record}
    assert describe(tmp_path) == ("assets: resnet34 missing, resnet18 real, mnist_sample missing, shapes missing, "
                                  "crawl missing")
    # Neither synth nor a second fetch replaces a real asset unless forced.
    assert synth_asset(tmp_path, RESNET18) is None
    assert fetch_asset(tmp_path, asset, url) is None
    assert (tmp_path / RESNET18.path).read_bytes() == body
    assert synth_asset(tmp_path, RESNET18, force=True).status == "synthetic"
    assert fetch_asset(tmp_path, asset, url).status == "real"


def test_fetch_extracts_a_checked_archive_into_fastais_data_folder(serve, tmp_path):
    archive = fastai_archive({"mnist_sample/labels.csv": b"name,label\n", "mnist_sample/train/3/1.png": b"png"})
    url = serve("/mnist_sample.tgz", archive)
    with tempfile.NamedTemporaryFile() as file:
        file.write(archive)
        file.flush()
        published = FastaiArchiveCheck(len(archive), hashlib.md5(archive[:1 << 20]).hexdigest())
        assert published.mismatch(Path(file.name)) is None
    record = fetch_asset(tmp_path, replace(MNIST_SAMPLE, published=published), url)
    assert record.status == "real"
    assert files_under(tmp_path / MNIST_SAMPLE.path) == {"labels.csv", "train/3/1.png"}
    assert present(tmp_path, MNIST_SAMPLE) == record


def jpeg(size: tuple[int, int], mode: str = "RGB", format: str = "JPEG") -> bytes:
    data = io.BytesIO()
    Image.new(mode, size, color=120).save(data, format=format)
    return data.getvalue()


def fastai_check(archive: bytes) -> FastaiArchiveCheck:
    """fastai's published check, as download_checks.py would list it for `archive`."""
    return FastaiArchiveCheck(len(archive), hashlib.md5(archive[:1 << 20]).hexdigest())


def crawl_asset(archive: bytes):
    """The crawl asset published as `archive`, keeping 2 images per class."""
    return replace(CRAWL, published=fastai_check(archive), keeps=replace(CRAWL.keeps, per_folder=2))


CALTECH_LIKE = {  # file in a class folder → its bytes, and whether the crawl asset keeps it
    "airplanes/image_0001.jpg": (jpeg((200, 160)), True),
    "airplanes/image_0002.jpg": (jpeg((300, 120)), False),  # its short side is under 160 px
    "airplanes/image_0003.jpg": (jpeg((170, 170), mode="L"), False),  # grey
    "airplanes/image_0004.jpg": (jpeg((240, 180)), True),
    "airplanes/image_0005.jpg": (jpeg((240, 181)), False),  # a third: 2 per class are kept
    "airplanes/notes.txt": (b"not an image", False),
    "Motorbikes/image_0001.png": (jpeg((200, 200), format="PNG"), False),
    "Motorbikes/image_0002.jpg": (jpeg((160, 200)), True),
    "Faces/image_0001.jpg": (jpeg((200, 200)), False),  # a class the asset does not keep
}


@pytest.mark.parametrize("top", ["caltech_101/101_ObjectCategories/", "caltech_101/", ""])
def test_fetch_keeps_the_first_usable_images_of_two_caltech_classes(serve, tmp_path, top):
    archive = fastai_archive({top + name: content for name, (content, _) in CALTECH_LIKE.items()})
    url = serve("/caltech_101.tgz", archive)
    record = fetch_asset(tmp_path, crawl_asset(archive), url)
    assert (record.status, record.source) == ("real", url)
    kept = {name for name, (_, keep) in CALTECH_LIKE.items() if keep}
    assert files_under(tmp_path / CRAWL.path) == kept
    assert all((tmp_path / CRAWL.path / name).read_bytes() == CALTECH_LIKE[name][0] for name in kept)
    assert present(tmp_path, CRAWL) == record
    assert describe(tmp_path).endswith(", crawl real (Caltech-101, CC BY 4.0)")
    assert files_under(tmp_path) == {"fastai/config.ini", "manifest.json", ".manifest.lock",
                                     *(f"crawl/{name}" for name in kept)}  # no staging left


@pytest.mark.parametrize("members, found", [
    ({"deep/a/b/airplanes/image_0001.jpg": jpeg((200, 200))}, "it holds none"),
    ({"x/airplanes/image_0001.jpg": jpeg((200, 200)), "y/airplanes/image_0001.jpg": jpeg((200, 200))},
     "it holds several: x/airplanes, y/airplanes"),
])
def test_fetch_names_a_selected_folder_it_cannot_find_once(serve, tmp_path, members, found):
    archive = fastai_archive({**members, "caltech_101/Motorbikes/image_0001.jpg": jpeg((200, 200))})
    url = serve("/caltech_101.tgz", archive)
    with pytest.raises(FetchError) as raised:
        fetch_asset(tmp_path, crawl_asset(archive), url)
    assert str(raised.value) == (f"crawl: the archive from {url} should hold one folder 'airplanes' of files at its "
                                 f"top or up to 2 folders down; {found}. Nothing was kept.")
    assert_nothing_kept(tmp_path)


def test_fetch_refuses_a_selected_folder_without_usable_images(serve, tmp_path):
    archive = fastai_archive({"caltech_101/airplanes/image_0001.jpg": jpeg((200, 200)),
                              "caltech_101/Motorbikes/image_0001.jpg": jpeg((300, 100))})
    url = serve("/caltech_101.tgz", archive)
    with pytest.raises(FetchError) as raised:
        fetch_asset(tmp_path, crawl_asset(archive), url)
    assert str(raised.value) == (f"crawl: the archive from {url} has no RGB JPEG image with a short side of at least "
                                 "160 px in Motorbikes/. Nothing was kept.")
    assert_nothing_kept(tmp_path)


def assert_nothing_kept(root: Path) -> None:
    assert files_under(root) == {"fastai/config.ini"}  # the layout, written before the download
    assert all(record is None for record in catalog_states(root).values())


def test_fetch_with_a_wrong_hash_names_both_hashes_and_keeps_nothing(serve, tmp_path):
    body = b"not the published weights"
    digest = hashlib.sha256(body).hexdigest()
    url = serve("/resnet18-f37072fd.pth", body)
    with pytest.raises(FetchError) as raised:
        fetch_asset(tmp_path, replace(RESNET18, published=Sha256Prefix("f37072fd")), url)
    assert str(raised.value) == (f"resnet18: {url} does not match what is published: expected a sha256 starting "
                                 f"with f37072fd, got {digest}. Nothing was kept.")
    assert_nothing_kept(tmp_path)


def test_fetch_cut_short_says_how_many_bytes_and_keeps_nothing(serve, tmp_path):
    body = b"x" * 1000
    url = serve("/resnet18-f37072fd.pth", body, announced=50_000)
    with pytest.raises(FetchError) as raised:
        fetch_asset(tmp_path, weights_asset(body), url)
    assert str(raised.value) == (f"resnet18: the download from {url} was cut short: expected 50000 bytes, got 1000. "
                                 "Nothing was kept.")
    assert_nothing_kept(tmp_path)


@pytest.mark.parametrize("member, why", [("mnist_sample/../../escaped.txt", "a path outside the archive's folder"),
                                          ("/tmp/escaped.txt", "a path outside the archive's folder"),
                                          ("mnist_sample/link", "a link or special file")])
def test_fetch_refuses_an_archive_that_escapes_its_folder(serve, tmp_path, member, why):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("mnist_sample/ok.txt"), io.BytesIO())
        info = tarfile.TarInfo(member)
        if member.endswith("link"):
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info, io.BytesIO())
    url = serve("/mnist_sample.tgz", data.getvalue())
    root = tmp_path / "cache"
    with pytest.raises(FetchError) as raised:
        fetch_asset(root, replace(MNIST_SAMPLE, published=None), url)
    assert str(raised.value) == (f"mnist_sample: the archive from {url} holds {member!r}, {why}; refused, nothing "
                                 "was extracted or kept.")
    assert_nothing_kept(root)
    assert files_under(tmp_path) == {"cache/fastai/config.ini"}


def test_asset_url_prefers_the_option_then_the_environment(monkeypatch):
    assert asset_url(RESNET34) == "https://download.pytorch.org/models/resnet34-b627a593.pth"
    monkeypatch.setenv("GRADER_ASSET_URL_RESNET34", "http://mirror.test/env.pth")
    assert asset_url(RESNET34) == "http://mirror.test/env.pth"
    assert asset_url(RESNET34, {"resnet34": "http://mirror.test/option.pth"}) == "http://mirror.test/option.pth"
    with pytest.raises(FetchError, match="^shapes: nothing to fetch"):
        asset_url(CATALOG["shapes"])

