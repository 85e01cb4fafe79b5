"""Plots embedded in reports as inline PNG (self-contained files)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)


def score_histogram(totals: list[float], maximum: float) -> str:
    """A data: URL of the score distribution."""
    figure, axes = plt.subplots(figsize=(6, 2.6), dpi=120)
    bins = [maximum * i / 10 for i in range(11)]
    axes.hist(totals, bins=bins, color="#3b6ea5", edgecolor="white")
    axes.set_xlim(0, maximum)
    axes.set_xlabel("total points")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
