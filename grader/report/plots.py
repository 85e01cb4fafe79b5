"""Plots of the class drawn for reports, as inline PNG (self-contained files)."""

from __future__ import annotations

from grader.figures import png_data_url, pyplot


def score_histogram(totals: list[float], maximum: float) -> str:
    """A data: URL of the score distribution."""
    figure, axes = pyplot().subplots(figsize=(6, 2.6), dpi=120)
    bins = [maximum * i / 10 for i in range(11)]
    axes.hist(totals, bins=bins, color="#3b6ea5", edgecolor="white")
    axes.set_xlim(0, maximum)
    axes.set_xlabel("total points")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    return png_data_url(figure)
