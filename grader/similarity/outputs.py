"""What a cell's outputs hold that a copy shares: distinctive numbers, pictures and errors.

Stored outputs are what the student handed in; executed ones are the grader's re-run. A stored number that some
re-execution produced again is explained (seeded, deterministic work agrees between honest students); one that no
re-execution produced was unseeded (training losses, random weights) or not produced by the code at all, and two
students sharing it share a run, not just an answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import unescape

import numpy as np
from PIL import Image

from grader.notebook.printed import output_text

MIN_SIGNIFICANT_DIGITS = 4  # 0.5, 2.5 or 0.375 are common to honest answers; 0.685751 is a run's
IMAGE_SIDE = 32  # pictures compared as 32x32 grey levels: a re-render by another matplotlib looks the same
SAME_PICTURE = 3.0  # mean grey-level difference (of 255) below which two pictures are the same
MAX_NUMBERS_PER_CELL = 2_000
MAX_PICTURE_PIXELS = 25_000_000

_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?:[eE][-+]?\d+)?(?![\w.])")
_TAG = re.compile(r"<[^>]*>")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Picture:
    digest: str  # of the encoded image: byte-identical pictures
    grey: bytes  # IMAGE_SIDE² grey levels, for pictures that look the same



class DrawnPictures:
    """Every picture the re-executions drew, to tell a stored picture that was drawn again (by anyone) from one no
    run of the code produced."""

    def __init__(self, pictures: list[Picture]) -> None:
        self.digests = {picture.digest for picture in pictures}
        greys = [np.frombuffer(picture.grey, dtype=np.uint8) for picture in pictures if picture.grey]
        self.greys = np.stack(greys).astype(np.int16) if greys else np.zeros((0, IMAGE_SIDE * IMAGE_SIDE), np.int16)

    def again(self, picture: Picture) -> bool:
        if picture.digest in self.digests:
            return True
        if not picture.grey or not len(self.greys):
            return False
        grey = np.frombuffer(picture.grey, dtype=np.uint8).astype(np.int16)
        return bool((np.abs(self.greys - grey).mean(axis=1) < SAME_PICTURE).any())


@dataclass(frozen=True)
class CellOutputs:
    numbers: frozenset[str]  # distinctive numbers as printed, trailing zeros dropped
    pictures: tuple[Picture, ...]
    errors: dict[str, bool]  # "NameError: name 'optimzr' is not defined" -> raised by the cell's own code

    @classmethod
    def of(cls, outputs: Iterable[dict]) -> CellOutputs:
        numbers: set[str] = set()
        pictures: list[Picture] = []
        errors: dict[str, bool] = {}
        for output in outputs:
            if not isinstance(output, dict):
                continue
            if output.get("output_type") == "error":
                text = error_text(str(output.get("ename", "")), str(output.get("evalue", "")))
                errors[text] = errors.get(text, False) or not _raised_in_a_library(output.get("traceback"))
                continue
            data: dict = output["data"] if isinstance(output.get("data"), dict) else {}
            picture = _picture(data)
            if picture is not None:
                pictures.append(picture)
            text = output_text(output)
            html = data.get("text/html")
            if html and "train_loss" in (html if isinstance(html, str) else "".join(html)):
                text += " " + unescape(_TAG.sub(" ", html if isinstance(html, str) else "".join(html)))
            numbers.update(distinctive_numbers(text))
            if len(numbers) > MAX_NUMBERS_PER_CELL:
                break
        return cls(frozenset(numbers), tuple(pictures), errors)


EMPTY = CellOutputs(frozenset(), (), {})


def _raised_in_a_library(traceback: object) -> bool:
    """Whether the innermost frame of a stored traceback is a library's (an installed package's file), not the
    cell's: a typo raises in the cell, a missing folder deep in fastai."""
    if not isinstance(traceback, list) or not traceback:
        return False
    frames = [_ANSI.sub("", str(frame)) for frame in traceback if "File " in _ANSI.sub("", str(frame))
              or "Cell In[" in str(frame) or "<ipython-input" in str(frame)]
    return bool(frames) and any(marker in frames[-1] for marker in ("site-packages", "dist-packages", "/lib/python"))


def distinctive_numbers(text: str) -> set[str]:
    """The numbers in a text with at least MIN_SIGNIFICANT_DIGITS significant digits, as printed less the
    trailing zeros of the fraction (`1.2500` is `1.25`, three digits: an answer anyone may print)."""
    found = set()
    for match in _NUMBER.finditer(text):
        number = match.group().lower()
        if "e" not in number:
            number = number.rstrip("0").rstrip(".")
        mantissa = number.split("e")[0].lstrip("-").replace(".", "").lstrip("0")
        if len(mantissa) >= MIN_SIGNIFICANT_DIGITS:
            found.add(number)
    return found


def near_keys(number: str) -> set[str]:
    """Keys under which a number and one within about 1e-4 of it meet: a re-run on another machine (GPU, BLAS)
    prints the same seeded value with different last digits."""
    value = float(number)
    return {f"{candidate:.4g}" for candidate in (value, value * (1 + 5e-5), value * (1 - 5e-5))}


def error_text(name: str, value: str) -> str:
    """An error as one line, without what differs between two runs of the same mistake (addresses, colours)."""
    text = _ADDRESS.sub("0x…", _ANSI.sub("", f"{name}: {value}"))
    return _SPACE.sub(" ", text).strip()[:300]


def _picture(data: dict) -> Picture | None:
    encoded = data.get("image/png") or data.get("image/jpeg")
    if not encoded:
        return None
    encoded = "".join(encoded) if isinstance(encoded, list) else str(encoded)
    digest = hashlib.blake2b(encoded.strip().encode(), digest_size=16).hexdigest()
    try:
        raw = base64.b64decode(encoded, validate=False)
        with Image.open(io.BytesIO(raw)) as image:
            # A few bytes of PNG can claim a huge canvas: such a picture is compared by its bytes alone.
            width, height = image.size
            grey = image.convert("L").resize((IMAGE_SIDE, IMAGE_SIDE)).tobytes() \
                if width * height <= MAX_PICTURE_PIXELS else b""
    except (binascii.Error, OSError, ValueError, Image.DecompressionBombError):
        grey = b""
    return Picture(digest, grey)
