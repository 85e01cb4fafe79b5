"""Where the object is in each drawn image of a submission (`draw_shapes` writes `boxes.json` beside the
images), so that a report can say how much of a CAM falls on the object: a check that the whole chain -
data, model, CAM - is right, not only self-consistent.

Read on the grader's side from the submission's files, which are untrusted: size-capped, plain files
inside the submission only, images decoded by Pillow with its decompression-bomb guard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

BOXES_FILE = "boxes.json"
MAX_BOXES_BYTES = 1024 * 1024
MAX_IMAGES = 400
MAX_IMAGE_BYTES = 5 * 1024 * 1024
THUMBNAIL = 32  # side of the grey thumbnails images are matched by


@dataclass(frozen=True)
class DrawnImage:
    name: str  # relative to the submission
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the image's pixels, x1 and y1 exclusive
    size: tuple[int, int]  # width, height
    thumbnail: np.ndarray  # grey, THUMBNAIL × THUMBNAIL


def drawn_images(folder: Path) -> list[DrawnImage]:
    """The images listed in the submission's boxes.json files (none when it has none)."""
    root = folder.resolve()
    found: list[DrawnImage] = []
    for listing in sorted(folder.rglob(BOXES_FILE)):
        if listing.is_symlink() or not listing.is_file() or listing.stat().st_size > MAX_BOXES_BYTES:
            continue
        try:
            boxes = json.loads(listing.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if not isinstance(boxes, dict):
            continue
        for relative, box in boxes.items():
            if len(found) >= MAX_IMAGES:
                return found
            image = _drawn(root, listing.parent / str(relative), box)
            if image is not None:
                found.append(image)
    return found


def _drawn(root: Path, path: Path, box: object) -> DrawnImage | None:
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) for v in box)):
        return None
    if path.is_symlink() or not path.resolve().is_relative_to(root) or not path.is_file():
        return None
    if path.stat().st_size > MAX_IMAGE_BYTES:
        return None
    try:
        with Image.open(path) as image:
            size = image.size
            grey = image.convert("L").resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX)
    except (OSError, Image.DecompressionBombError):
        return None
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1]):
        return None
    return DrawnImage(name=path.resolve().relative_to(root).as_posix(), box=(x0, y0, x1, y1), size=size,
                      thumbnail=np.asarray(grey, dtype=np.float32))
