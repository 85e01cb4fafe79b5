"""`cam` checks: a heatmap shown over an image, and whether it is the class activation map of
the student's own final model for that image.

The probe hands over, for each image the notebook fed to a model, the final
model's body feature maps, their gradients per class and the head's last
linear weight. From these the grader makes its own maps - the CAM (last
linear weight times the feature maps: exact for a GAP + linear head, and the
fastbook chapter 18 recipe otherwise) and Grad-CAM - and compares each with
the student's heatmap resampled to the feature-map grid: Spearman rank
correlation and the overlap of the top cells. Both must clear the rubric's
thresholds for the best-matching class and method. A heatmap drawn with
transparency over the image is read as drawn; one blended into the image's
colours and shown as one picture is first separated from the image fed to
the model (grader.checks.blend).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from grader.assets.boxes import DrawnImage
from grader.checks.blend import Separation, separate
from grader.checks.context import ItemContext
from grader.checks.unverified import stored_result
from grader.evidence.model import CamInputEvent, Evidence, ImshowEvent
from grader.notebook.stored import figures
from grader.results import CheckResult
from grader.rubric.models import CamCheck

SAMPLES_PER_CELL = 8  # sample points per feature-map cell and axis when resampling a heatmap
MATCH_SIDE = 32  # images are compared at this size


@dataclass(frozen=True)
class Blend:
    """A heatmap separated from a picture shown with one imshow: the image fed to the model blended with it."""

    cam_input: CamInputEvent
    separation: Separation


@dataclass(frozen=True)
class Overlay:
    image: ImshowEvent
    heatmap: ImshowEvent  # for a blend, the picture itself: the heatmap spans its extent
    blend: Blend | None = None

    def describe(self) -> str:
        if self.blend is not None:
            return self.blend.separation.describe()
        return f"overlay, alpha {self.heatmap.alpha:g}" if self.heatmap.alpha is not None else "overlay"


@dataclass(frozen=True)
class Comparison:
    overlay: Overlay
    cam_input: CamInputEvent
    image_match: float
    method: str  # "cam" or "grad-cam"
    class_index: int
    rank_correlation: float
    top_overlap: float
    coverage: float  # share of the image the heatmap covers
    student_grid: np.ndarray
    grader_grid: np.ndarray

    def passes(self, spec: CamCheck) -> bool:
        return (self.image_match >= spec.min_image_match and self.rank_correlation >= spec.min_rank_correlation
                and self.top_overlap >= spec.min_top_overlap)

    def summary(self) -> dict:
        return {"rank_correlation": round(self.rank_correlation, 3), "top_overlap": round(self.top_overlap, 3),
                "image_match": round(self.image_match, 3), "method": self.method, "class_index": self.class_index,
                "heatmap_coverage": round(self.coverage, 3)}


def find_overlays(evidence: Evidence, runs: set[int]) -> tuple[list[Overlay], list[str]]:
    """Heatmaps drawn with transparency over an image on the same axes, in the given runs; and why
    other heatmaps drawn there do not count."""
    by_axes: dict[str, list[ImshowEvent]] = {}
    for event in evidence.imshows:
        if event.run in runs:
            by_axes.setdefault(event.axes, []).append(event)
    found, problems = [], []
    for events in by_axes.values():
        image = heatmap_below = None
        for event in events:
            see_through = event.alpha is not None and 0 < event.alpha < 1
            if len(event.shape) == 3 and event.shape[2] in (3, 4):
                if heatmap_below is not None and see_through:  # the image drawn translucent over the heatmap
                    found.append(Overlay(event, heatmap_below))
                    heatmap_below = None
                image = image or event
            elif len(event.shape) == 2:
                if image is None:
                    heatmap_below = event
                elif not see_through:
                    problems.append("a heatmap was drawn without transparency (alpha) and hides the image under it")
                else:
                    found.append(Overlay(image, event))
        if heatmap_below is not None:
            problems.append("a heatmap was shown with no image over or under it")
    return found, problems


def find_blends(evidence: Evidence, runs: set[int], drawn_over: set[str]) -> list[Overlay]:
    """Pictures shown in the given runs on axes with no overlay (`drawn_over`), read as a heatmap blended into
    an image fed to the model in the same run."""
    found = []
    for event in evidence.imshows:
        if event.run not in runs or event.axes in drawn_over or len(event.shape) != 3 or event.shape[2] not in (3, 4):
            continue
        shown = evidence.array(event.array)
        for cam_input in evidence.cam_inputs:
            if cam_input.unsupported or cam_input.run != event.run:
                continue
            separation = separate(shown, evidence.array(cam_input.arrays["input"]))
            if separation is not None:
                found.append(Overlay(event, event, Blend(cam_input, separation)))
    return found


def grader_maps(evidence: Evidence, cam_input: CamInputEvent) -> list[tuple[str, int, np.ndarray]]:
    """(method, class index, map over the feature grid) for every class."""
    features = evidence.array(cam_input.arrays["features"]).astype(np.float64)  # C × h × w
    maps = []
    if "last_linear" in cam_input.arrays:
        weight = evidence.array(cam_input.arrays["last_linear"]).astype(np.float64)  # K × C
        for k, cam in enumerate(np.einsum("kc,chw->khw", weight, features)):
            maps.append(("cam", k, cam))
    grads = evidence.array(cam_input.arrays["grads"]).astype(np.float64)  # K × C × h × w
    for k, grad in enumerate(grads):
        weights = grad.mean(axis=(1, 2))
        maps.append(("grad-cam", k, np.maximum(np.einsum("c,chw->hw", weights, features), 0)))
    return maps


def heatmap_on_grid(heatmap: np.ndarray, drawn: ImshowEvent, image: ImshowEvent,
                    grid: tuple[int, int]) -> tuple[np.ndarray, float]:
    """The heatmap averaged over each cell of a grid laid over the image (as the two were drawn on the
    same axes: extents and origins respected), and the share of the image the heatmap covers."""
    rows, cols = grid
    left, right, bottom, top = image.extent
    first_row_y, last_row_y = (top, bottom) if image.origin == "upper" else (bottom, top)
    n_y, n_x = rows * SAMPLES_PER_CELL, cols * SAMPLES_PER_CELL
    xs = left + (np.arange(n_x) + 0.5) / n_x * (right - left)
    ys = first_row_y + (np.arange(n_y) + 0.5) / n_y * (last_row_y - first_row_y)
    h_left, h_right, h_bottom, h_top = drawn.extent
    h_first = h_top if drawn.origin == "upper" else h_bottom
    h_last = h_bottom if drawn.origin == "upper" else h_top
    height, width = heatmap.shape
    col = np.floor((xs - h_left) / (h_right - h_left) * width).astype(int)
    row = np.floor((ys - h_first) / (h_last - h_first) * height).astype(int)
    inside = (row[:, None] >= 0) & (row[:, None] < height) & (col[None, :] >= 0) & (col[None, :] < width)
    values = heatmap.astype(np.float64)[np.clip(row, 0, height - 1)][:, np.clip(col, 0, width - 1)]
    values = np.where(inside & np.isfinite(values), values, np.nan)
    blocks = values.reshape(rows, SAMPLES_PER_CELL, cols, SAMPLES_PER_CELL)
    with warnings.catch_warnings():  # a cell outside the heatmap averages to NaN by design
        warnings.simplefilter("ignore", RuntimeWarning)
        grid_values = np.nanmean(blocks, axis=(1, 3))
    return grid_values, float(inside.mean())


def image_match(shown: np.ndarray, fed: np.ndarray) -> float:
    """Correlation of the image shown (H × W × 3) with the image fed to the model (3 × H × W), in grey at
    a small size: normalisation and resizing do not change it, another image does."""
    a = _small_grey(shown[..., :3].astype(np.float32).mean(axis=2))
    b = _small_grey(fed.astype(np.float32).mean(axis=0))
    return _correlation(a, b)


def agreement(student: np.ndarray, grader: np.ndarray, top_fraction: float) -> tuple[float, float]:
    """(Spearman rank correlation, overlap of the top cells) of two maps on the same grid; cells the
    heatmap does not cover count as its lowest values."""
    s = np.where(np.isfinite(student), student, np.nanmin(student) if np.isfinite(student).any() else 0.0).ravel()
    g = grader.ravel()
    if np.ptp(s) == 0 or np.ptp(g) == 0:
        return 0.0, 0.0
    from scipy.stats import spearmanr  # here: scipy.stats takes 0.6 s to import, every grader command would pay it

    rho = float(spearmanr(s, g).statistic)
    k = max(1, round(top_fraction * s.size))
    top_s = set(np.argsort(-s, kind="stable")[:k].tolist())
    top_g = set(np.argsort(-g, kind="stable")[:k].tolist())
    return (rho if math.isfinite(rho) else 0.0), len(top_s & top_g) / k


def compare(evidence: Evidence, overlays: list[Overlay], spec: CamCheck) -> Comparison | None:
    """The best agreement between any overlay and the grader's maps for the images fed before it."""
    best: Comparison | None = None
    for overlay in overlays:
        blend = overlay.blend.separation if overlay.blend else None
        heatmap = blend.heatmap if blend else evidence.array(overlay.heatmap.array)
        shown = blend.image if blend else evidence.array(overlay.image.array)
        for cam_input in evidence.cam_inputs:
            # The probe takes the images fed so far through the model at the end of a cell that drew.
            if cam_input.unsupported or cam_input.run != overlay.heatmap.run:
                continue
            if overlay.blend and overlay.blend.cam_input is not cam_input:  # separated from another image
                continue
            match = image_match(shown, evidence.array(cam_input.arrays["input"]))
            for method, k, grader_map in grader_maps(evidence, cam_input):
                grid, coverage = heatmap_on_grid(heatmap, overlay.heatmap, overlay.image, grader_map.shape)
                if heatmap.shape[0] > grader_map.shape[0] or heatmap.shape[1] > grader_map.shape[1]:
                    # An upsampled heatmap, averaged back onto the grid, is blurred: compare it with the grader's
                    # map upsampled and averaged the same way, like with like.
                    grader_map, _ = heatmap_on_grid(_resized(grader_map, heatmap.shape), overlay.heatmap,
                                                    overlay.image, grader_map.shape)
                rho, overlap = agreement(grid, grader_map, spec.top_fraction)
                found = Comparison(overlay, cam_input, match, method, k, rho, overlap, coverage, grid, grader_map)
                if best is None or _rank(found, spec) > _rank(best, spec):
                    best = found
    return best


def check(spec: CamCheck, ctx: ItemContext) -> CheckResult:
    evidence = ctx.student.evidence if ctx.student else None
    runs = {run for run, cell in ctx.student.run_cells.items() if cell in ctx.item_cells} if ctx.student else set()
    overlays, problems = find_overlays(evidence, runs) if evidence else ([], [])
    if evidence:
        overlays += find_blends(evidence, runs, {overlay.image.axes for overlay in overlays})
    if not overlays:
        shown = figures(ctx.item_outputs) if ctx.rerun_failed else 0
        if shown and spec.stored_weight > 0 and spec.require == "overlay":
            return stored_result(spec, f"{shown} figure(s) here", detail={"stored_figures": shown})
        why = problems[0] if problems else ("no heatmap was drawn over an image (imshow with alpha) in these cells, "
                                            "nor blended into the image fed to the model and shown")
        return _result(spec, False, why, {})
    if spec.require == "overlay":
        return _result(spec, True, "", {"overlays": len(overlays), "form": overlays[0].describe()})
    unsupported = [c.unsupported for c in evidence.cam_inputs if c.unsupported]
    best = compare(evidence, overlays, spec)
    if best is None:
        why = (f"the grader cannot compute this model's CAM: {unsupported[0]}" if unsupported else
               "no image was fed to the trained model in these cells, so the grader could not compute its CAM "
               "for the image shown")
        return _result(spec, False, why, {})
    detail = {**best.summary(), "thresholds": {"rank_correlation": spec.min_rank_correlation,
                                               "top_overlap": spec.min_top_overlap,
                                               "image_match": spec.min_image_match},
              "student_grid": _plain(best.student_grid), "grader_grid": _plain(best.grader_grid),
              "form": best.overlay.describe(), **_drawn(best)}
    in_box = object_box_mass(best.grader_grid, evidence.array(best.cam_input.arrays["input"]), ctx.drawn,
                             spec.min_image_match)
    if in_box is not None:
        detail["object_box"] = in_box
    read = f" (read as a {best.overlay.describe()})" if best.overlay.blend else ""
    if best.passes(spec):
        return _result(spec, True, f"agrees with the model's {_method(best)}{read}: rank correlation "
                                   f"{best.rank_correlation:.2f}, top-{spec.top_fraction:.0%} overlap "
                                   f"{best.top_overlap:.0%}", detail)
    if best.image_match < spec.min_image_match:
        message = "the image under the heatmap is not an image that was fed to the trained model"
    else:
        message = (f"the heatmap{read} does not agree with the model's class activation map (rank correlation "
                   f"{best.rank_correlation:.3f}, top-{spec.top_fraction:.0%} overlap {best.top_overlap:.0%}; "
                   f"agreement means at least {spec.min_rank_correlation:g} and {spec.min_top_overlap:.0%})"
                   + _upside_down(evidence, best, spec))
    return _result(spec, False, message, detail)


def object_box_mass(cam: np.ndarray, fed: np.ndarray, drawn: tuple[DrawnImage, ...],
                    min_match: float) -> dict | None:
    """How much of a map's mass lies inside the object's box when the image fed (3 × H × W) is one of
    the drawn images (found by its thumbnail); with the share of the image the box covers, which is what a
    uniform map would score."""
    if not drawn:
        return None
    small = _small_grey(fed.astype(np.float32).mean(axis=0))
    match, image = max(((_correlation(small, d.thumbnail), d) for d in drawn), key=lambda pair: pair[0])
    if match < min_match:
        return None
    height, width = fed.shape[1:]
    side = min(image.size)  # fastai's Resize keeps the centre square of an image that is not square
    left, top = (image.size[0] - side) / 2, (image.size[1] - side) / 2
    x0, y0, x1, y1 = image.box
    box = (max(0, round((x0 - left) * width / side)), max(0, round((y0 - top) * height / side)),
           min(width, round((x1 - left) * width / side)), min(height, round((y1 - top) * height / side)))
    # Mass as the map is shown (imshow spans min to max): a map that is negative everywhere still points somewhere.
    shown = (cam - np.nanmin(cam)).astype(np.float32)
    if not shown.any():  # a constant map is spread evenly
        shown = np.ones_like(shown)
    spread = np.asarray(Image.fromarray(shown, mode="F").resize((width, height), Image.BILINEAR), dtype=np.float64)
    total = float(spread.sum())
    if total <= 0 or box[2] <= box[0] or box[3] <= box[1]:
        return None
    inside = float(spread[box[1]:box[3], box[0]:box[2]].sum())
    return {"image": image.name, "cam_mass_inside": round(inside / total, 3),
            "box_area": round((box[2] - box[0]) * (box[3] - box[1]) / (width * height), 3)}


def _drawn(comparison: Comparison) -> dict:
    """How the student's heatmap was drawn, and the arrays the report draws it again from (a blend's heatmap
    is no array of the probe's: the report shows the picture as the student did)."""
    overlay = comparison.overlay
    arrays = {"image": overlay.image.array, "input": comparison.cam_input.arrays["input"]}
    if overlay.blend is None:
        return {"arrays": {**arrays, "heatmap": overlay.heatmap.array}, "alpha": overlay.heatmap.alpha,
                "cmap": overlay.heatmap.cmap}
    separation = overlay.blend.separation
    return {"arrays": arrays, "blend": {"image_weight": round(separation.image_weight, 3),
                                        "colour_map": separation.colour_map, "image": separation.image_form,
                                        "residual": round(separation.residual, 4)}}


def _upside_down(evidence: Evidence, comparison: Comparison, spec: CamCheck) -> str:
    """A hint when a heatmap blended in jet's colours agrees with the model's map once read upside down:
    OpenCV's jet in BGR order is its RGB jet reversed, and show_cam_on_image blends BGR colours unless told
    use_rgb=True."""
    blend = comparison.overlay.blend
    if blend is None or "jet" not in blend.separation.colour_map:
        return ""
    flipped = replace(blend, separation=replace(blend.separation, heatmap=1 - blend.separation.heatmap))
    again = compare(evidence, [replace(comparison.overlay, blend=flipped)], spec)
    if again is None or not again.passes(spec):
        return ""
    return ("; read the other way up (red for low values) it would agree: OpenCV's colours are in BGR order, "
            "and show_cam_on_image needs use_rgb=True to blend them into an RGB image")


def _rank(comparison: Comparison, spec: CamCheck) -> tuple:
    return (comparison.image_match >= spec.min_image_match, comparison.passes(spec),
            comparison.rank_correlation + comparison.top_overlap)


def _method(comparison: Comparison) -> str:
    name = "class activation map" if comparison.method == "cam" else "Grad-CAM"
    return f"{name} for class {comparison.class_index}"


def _resized(grid: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bilinear resampling, as torch's interpolate (align_corners=False) and matplotlib draw it."""
    image = Image.fromarray(grid.astype(np.float32), mode="F")
    return np.asarray(image.resize((shape[1], shape[0]), Image.BILINEAR), dtype=np.float64)


def _small_grey(grey: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(grey, mode="F").resize((MATCH_SIDE, MATCH_SIDE), Image.BOX))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denominator if denominator else 0.0


def _plain(grid: np.ndarray) -> list[list[float | None]]:
    return [[None if not math.isfinite(v) else round(float(v), 6) for v in row] for row in grid]


def _result(spec: CamCheck, passed: bool, message: str, detail: dict) -> CheckResult:
    return CheckResult(name=spec.name, points=spec.points if passed else 0.0, max_points=spec.points,
                       passed=passed, message=message, detail=detail)
