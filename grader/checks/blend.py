"""A heatmap read back out of an image the student blended it into and showed with one `imshow`:
pytorch-grad-cam's `show_cam_on_image`, `0.6 * img + 0.4 * plt.cm.jet(cam)[..., :3]`, `cv2.addWeighted`.
Nothing on the axes says which part of such a picture is heatmap; the grader knows the image, though: the one
the student fed the model, which they show denormalised.

A blend is, per pixel, `scale × (w × image + (1 − w) × colour_map(heat))`: with the image known, the fit has
two numbers (scale × w, scale × (1 − w)) and one colour-map entry per pixel. It alternates between the nearest
entry per pixel and least squares for the two numbers, for each colour map and each way the image may have
been brought to display form, and keeps the best. What it leaves unexplained (the residual, as a share of the
blend's scale) tells a blend from another picture and from a colour map it does not know; the image shown
alone is told by the heatmap's part explaining next to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from grader.checks.colormaps import LEVELS, matplotlib_jet, opencv_jet, viridis

# fastai's Normalize.from_stats(*imagenet_stats), which vision_learner adds for a pretrained model.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])
# OpenCV's jet is its own mirror image with red and blue swapped, so its BGR colours (show_cam_on_image
# without use_rgb=True) read as the RGB jet of the heatmap upside down: no table of their own.
COLOUR_MAPS = {"jet": matplotlib_jet(), "OpenCV's jet": opencv_jet(), "viridis": viridis()}
FIT_PIXELS = 1024  # the fit samples this many pixels; the heatmap is then read at every pixel
START_WEIGHT = 0.5  # the image weight the fit starts from; it settles from there for weights 0.15 to 0.85
ITERATIONS = 15
MAX_RESIDUAL = 0.03  # of the blend's scale, root mean square over pixels and channels
MIN_SHARE = 0.1  # the image and the heatmap each make at least this much of a blend
MAX_UNEXPLAINED = 0.5  # the blend leaves at most this share of what the image alone leaves unexplained


@dataclass(frozen=True)
class Separation:
    image_weight: float  # w: the image's share of the blend (pytorch-grad-cam's image_weight)
    colour_map: str
    image_form: str  # how the image fed to the model was brought to the form shown
    residual: float
    heatmap: np.ndarray  # the colour-map value, 0 to 1, over the picture shown
    image: np.ndarray  # h × w × 3: the picture shown less its heatmap part

    def describe(self) -> str:
        return f"blended overlay, image weight {self.image_weight:.2f}, {self.colour_map}"


@dataclass(frozen=True)
class _Fit:
    image_part: float  # scale × w
    heat_part: float  # scale × (1 − w)
    residual: float

    @property
    def image_weight(self) -> float:
        return self.image_part / (self.image_part + self.heat_part)


def separate(shown: np.ndarray, fed: np.ndarray) -> Separation | None:
    """The heatmap blended into `shown` (H × W × 3 or 4, as imshow was given it) over `fed` (3 × h × w, the
    model's input), or None when no blend of that image with a known colour map explains the picture.

    The two are compared at the smaller one's size: an image shown at its own, larger size has detail
    that the model's input lost, which would count against the fit."""
    fed_shape = fed.shape[1:]
    shape = shown.shape[:2] if shown.shape[0] * shown.shape[1] <= fed_shape[0] * fed_shape[1] else fed_shape
    picture = np.stack([_resized(shown[..., c].astype(np.float32), shape) for c in range(3)], axis=2)
    if not np.isfinite(picture).all():  # imshow leaves NaN pixels blank: no blend of an image
        return None
    pixels = picture.reshape(-1, 3)
    sample = np.linspace(0, len(pixels) - 1, min(FIT_PIXELS, len(pixels))).astype(int)
    forms, fits = display_forms(fed, shape), []
    for form, image in forms.items():
        flat = image.reshape(-1, 3)
        for name, table in COLOUR_MAPS.items():
            fit = _fit(pixels[sample], flat[sample], table)
            if fit is not None:
                fits.append((fit.residual, form, name, fit))
    if not fits:
        return None
    _, form, name, fit = min(fits, key=lambda found: found[0])
    flat, table = forms[form].reshape(-1, 3), COLOUR_MAPS[name]
    entries = _nearest(pixels - fit.image_part * flat, fit.heat_part * table)
    heat_colours = fit.heat_part * table[entries]
    residual = _residual(pixels, fit.image_part * flat + heat_colours, fit.image_part + fit.heat_part)
    if (residual > MAX_RESIDUAL or not MIN_SHARE <= fit.image_weight <= 1 - MIN_SHARE
            or residual > MAX_UNEXPLAINED * _image_alone_residual(pixels, flat)):
        return None
    return Separation(
        image_weight=fit.image_weight, colour_map=name, image_form=form, residual=residual,
        heatmap=(entries / (LEVELS - 1)).reshape(shape), image=((pixels - heat_colours) / fit.image_part).reshape(
            *shape, 3))


def display_forms(fed: np.ndarray, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The image fed to the model (3 × h × w) as a student would show it (h × w × 3, 0 to 1), at `shape`:
    denormalised with ImageNet's statistics (fastai's decode), or as fed when the model was fed it
    unnormalised."""
    image = np.stack([_resized(channel, shape) for channel in fed.astype(np.float32)], axis=2)
    return {"the input denormalised with ImageNet statistics": image * IMAGENET_STD + IMAGENET_MEAN,
            "the input as fed": image}


def _fit(pixels: np.ndarray, image: np.ndarray, table: np.ndarray) -> _Fit | None:
    """Alternately the nearest colour-map entries for the two parts and the two parts by least squares for
    those entries (N × 3 pixels shown, the image's N × 3 pixels), until the entries settle; None when a part
    turns negative (no blend of these two)."""
    scale = float(pixels.max()) or 1.0
    image_part, heat_part = START_WEIGHT * scale, (1 - START_WEIGHT) * scale
    entries = np.full(len(pixels), -1)
    for _ in range(ITERATIONS):
        found = _nearest(pixels - image_part * image, heat_part * table)
        if np.array_equal(found, entries):
            break
        entries = found
        design = np.stack([image.ravel(), table[entries].ravel()], axis=1)
        (image_part, heat_part), *_ = np.linalg.lstsq(design, pixels.ravel(), rcond=None)
        if image_part <= 0 or heat_part <= 0:
            return None
    blend = image_part * image + heat_part * table[entries]
    return _Fit(float(image_part), float(heat_part), _residual(pixels, blend, image_part + heat_part))


def _image_alone_residual(pixels: np.ndarray, image: np.ndarray) -> float:
    """What the image alone, scaled by least squares, leaves unexplained of the picture."""
    scale = float(image.ravel() @ pixels.ravel()) / (float(image.ravel() @ image.ravel()) or 1.0)
    return _residual(pixels, scale * image, scale) if scale > 0 else float("inf")


def _nearest(rest: np.ndarray, colours: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """For each row of `rest` (N × 3), the row of `colours` (levels × 3) nearest to it; in chunks, since the
    distances of every pixel to every level do not fit in memory at once for large pictures."""
    norms = (colours**2).sum(axis=1)
    by_column = np.ascontiguousarray(colours.T)  # numpy multiplies by a transposed view many times slower
    return np.concatenate([np.argmin(norms - 2 * np.dot(rest[i:i + chunk], by_column), axis=1)
                           for i in range(0, len(rest), chunk)])


def _residual(pixels: np.ndarray, blend: np.ndarray, scale: float) -> float:
    return float(np.sqrt(np.mean((pixels - blend) ** 2)) / scale)


def _resized(channel: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bilinear, antialiased when shrinking (PIL's, as fastai's Resize does it)."""
    if channel.shape == tuple(shape):
        return channel.astype(np.float64)
    image = Image.fromarray(channel, mode="F").resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float64)
