"""Offline stand-ins for every asset, byte-reproducible: random weights under the real file names, a small
mnist_sample from scikit-learn's bundled digits, and drawn shapes (the `shapes` asset, and the `crawl` images in
place of real photos)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageDraw

from grader.assets.boxes import BOXES_FILE
from grader.assets.cache import Record, commit, present, staging, write_layout
from grader.catalog import Asset

SHAPE_CLASSES = ("circle", "square")
MNIST_DIGITS = ("3", "7")  # fastai's labels.csv labels them 0 and 1
MNIST_VALID_FRACTION = 0.15  # fastai's mnist_sample keeps 14% of its images for validation
CRAWL_PER_CLASS = 40
CRAWL_SEED = 1  # other images than the `shapes` asset's (seed 0)


def draw_shapes(out_dir: Path, per_class: int = 30, size: int = 192, seed: int = 0) -> dict[str, list[int]]:
    """Draw `per_class` RGB JPEGs of size×size pixels per class into `out_dir/<class>/<nnn>.jpg`, each a filled
    shape of random colour, size and position on a noisy textured background, and write `out_dir/boxes.json`.

    Returns what boxes.json holds: each image's path relative to `out_dir` → the shape's box [x0, y0, x1, y1] in
    pixels, x1 and y1 exclusive (`pixels[y0:y1, x0:x1]` is the shape's bounding square). The same arguments
    give the same bytes. Files already in `out_dir` under other names are left alone."""
    rng = np.random.default_rng(seed)
    boxes: dict[str, list[int]] = {}
    for shape in SHAPE_CLASSES:
        (out_dir / shape).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            image, box = _draw_shape(shape, size, rng)
            relative = f"{shape}/{index:03d}.jpg"
            image.save(out_dir / relative, format="JPEG", quality=90)
            boxes[relative] = box
    lines = ",\n".join(f"  {json.dumps(relative)}: {json.dumps(box)}" for relative, box in boxes.items())
    (out_dir / "boxes.json").write_text(f"{{\n{lines}\n}}\n")  # one image a line
    return boxes


def _draw_shape(shape: str, size: int, rng: np.random.Generator) -> tuple[Image.Image, list[int]]:
    background_colour = rng.uniform(60, 200, size=3)
    image = _textured_background(background_colour, size, rng)
    # Half the colour wheel away from the background in every channel, so the shape always stands out.
    colour = tuple(int(value) for value in (background_colour + 128 + rng.uniform(-40, 40, size=3)) % 256)
    side = int(rng.integers(size // 5, size * 3 // 5 + 1))
    x0, y0 = (int(value) for value in rng.integers(0, size - side + 1, size=2))
    outline = (x0, y0, x0 + side - 1, y0 + side - 1)  # Pillow's corners are inclusive
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse(outline, fill=colour)
    else:
        draw.rectangle(outline, fill=colour)
    return image, [x0, y0, x0 + side, y0 + side]


def _textured_background(colour: np.ndarray, size: int, rng: np.random.Generator) -> Image.Image:
    """A flat colour, mottled by a smooth random pattern and sprinkled with per-pixel noise."""
    coarse = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    mottle = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
    pixels = 0.6 * colour + 0.4 * mottle + rng.normal(0, 12, size=(size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_random_weights(dest: Path, architecture: str, seed: int = 0) -> None:
    """torchvision's own random initialisation of the architecture, saved as its pretrained file would be."""
    import torch  # heavy imports, needed only here
    import torchvision

    with torch.random.fork_rng(devices=[]):  # leaves the caller's random state alone
        torch.manual_seed(seed)
        model = getattr(torchvision.models, architecture)()
    torch.save(model.state_dict(), dest)


def write_digits_sample(dest: Path) -> None:
    """fastai's mnist_sample layout (train/3, train/7, valid/3, valid/7, labels.csv with `name,label`, label 0
    for 3 and 1 for 7) filled with scikit-learn's 8×8 digits, drawn as MNIST draws its digits: grayscale 28×28,
    the digit scaled into the central 20×20."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: nothing to download

    digits = load_digits()
    rows = ["name,label"]
    for split, digit, index in _split_digits(digits.target):
        name = f"{split}/{digit}/{index}.png"
        (dest / split / digit).mkdir(parents=True, exist_ok=True)
        _mnist_like(digits.images[index]).save(dest / name, format="PNG")
        rows.append(f"{name},{MNIST_DIGITS.index(digit)}")
    (dest / "labels.csv").write_text("\n".join(rows) + "\n")


def _split_digits(targets: np.ndarray) -> Iterator[tuple[str, str, int]]:
    """(split, digit, index into the digits) in labels.csv's order: train 3s, train 7s, valid 3s, valid 7s."""
    indices = {digit: np.flatnonzero(targets == int(digit)) for digit in MNIST_DIGITS}
    train_counts = {digit: len(found) - round(len(found) * MNIST_VALID_FRACTION) for digit, found in indices.items()}
    for split in ("train", "valid"):
        for digit in MNIST_DIGITS:
            chosen = indices[digit][:train_counts[digit]] if split == "train" else indices[digit][train_counts[digit]:]
            yield from ((split, digit, int(index)) for index in chosen)


def _mnist_like(digit: np.ndarray) -> Image.Image:
    ink = Image.fromarray(np.round(digit * 255 / 16).astype(np.uint8))
    canvas = Image.new("L", (28, 28))
    canvas.paste(ink.resize((20, 20), Image.Resampling.BILINEAR), (4, 4))
    return canvas


def draw_crawl(dest: Path) -> None:
    """The crawl asset's stand-in: drawn shapes in its layout, a folder of images per class and nothing else (the
    probe's stand-ins copy the images under names of their own, which no boxes.json would follow)."""
    draw_shapes(dest, per_class=CRAWL_PER_CLASS, seed=CRAWL_SEED)
    (dest / BOXES_FILE).unlink()


STAND_IN_WRITERS: dict[str, Callable[[Path], object]] = {  # what a writer returns is not used
    "resnet34": partial(write_random_weights, architecture="resnet34"),
    "resnet18": partial(write_random_weights, architecture="resnet18"),
    "mnist_sample": write_digits_sample,
    "shapes": draw_shapes,
    "crawl": draw_crawl,
}


def synth_asset(root: Path, asset: Asset, force: bool = False) -> Record | None:
    """Write the asset's stand-in into the cache at `root`, replacing a synthetic one. Returns None, writing
    nothing, when the cache holds the real asset, unless `force`."""
    existing = present(root, asset)
    if existing is not None and existing.status == "real" and not force:
        return None
    write_layout(root)
    with staging(root, asset.path) as work:
        content = work / PurePosixPath(asset.path).name
        STAND_IN_WRITERS[asset.name](content)
        return commit(root, asset, content, status="synthetic", source="synthetic")
