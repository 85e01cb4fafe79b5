"""Figures a result carries, drawn from a run's evidence while grading, when the evidence is at hand, and kept as
inline PNG (data URLs) in the gradebook for the reports.

matplotlib is imported on first draw, not with this module: grading imports it, and most rubrics draw nothing.
"""

from __future__ import annotations

import base64
import functools
import io
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from grader.evidence.model import Evidence
from grader.results import CheckResult, Figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure as Drawing


@functools.cache
def pyplot() -> ModuleType:
    """matplotlib's pyplot, drawing off screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_data_url(figure: Drawing) -> str:
    """The figure as a PNG data URL; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot().close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def cam_figures(checks: list[CheckResult], evidence: Evidence) -> list[Figure]:
    """For each CAM comparison: the student's overlay as drawn, beside the grader's CAM for the same image."""
    found = []
    for check in checks:
        arrays = check.detail.get("arrays")
        if not arrays or "grader_grid" not in check.detail:
            continue
        image = _displayable(evidence.array(arrays["image"]))
        # A heatmap the student blended into the picture is no array of its own: the picture is shown as drawn,
        # and the grader's map goes over the image fed to the model.
        heatmap = evidence.array(arrays["heatmap"]).astype(np.float64) if "heatmap" in arrays else None
        under = image if heatmap is not None else _displayable(evidence.array(arrays["input"]).transpose(1, 2, 0))
        grader_grid = np.array(check.detail["grader_grid"], dtype=np.float64)
        figure, (left, right) = pyplot().subplots(1, 2, figsize=(6, 3), dpi=100)
        for axes, title, base, overlay, alpha, cmap in (
            (left, "student's heatmap", image, heatmap, check.detail.get("alpha") or 0.5,
             check.detail.get("cmap") or "jet"),
            (right, "grader's " + ("CAM" if check.detail["method"] == "cam" else "Grad-CAM"), under, grader_grid, 0.5,
             "jet"),
        ):
            extent = (0, base.shape[1], base.shape[0], 0)
            axes.imshow(base, extent=extent)
            if overlay is not None:
                axes.imshow(overlay, alpha=alpha, cmap=cmap, extent=extent, interpolation="bilinear")
            axes.set_title(title, fontsize=9)
            axes.axis("off")
        figure.tight_layout()
        found.append(Figure(
            title="CAM: the student's overlay and the grader's map of the same model and image",
            png=png_data_url(figure),
            caption=(f"rank correlation {check.detail['rank_correlation']:.2f}, top overlap "
                     f"{check.detail['top_overlap']:.0%}, class {check.detail['class_index']}" + _box_caption(check)),
        ))
    return found


def _box_caption(check: CheckResult) -> str:
    box = check.detail.get("object_box")
    if not box:
        return ""
    return (f"; {box['cam_mass_inside']:.0%} of the grader's map lies inside the object's box in {box['image']} "
            f"(the box is {box['box_area']:.0%} of the image: a map that ignores the object scores about that)")


def _displayable(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    low, high = float(np.nanmin(image)), float(np.nanmax(image))
    return np.clip(image, 0, 1) if 0 <= low and high <= 1 else (image - low) / ((high - low) or 1)
