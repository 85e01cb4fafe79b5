"""Tensors as plain data for the evidence file: full values when small, a summary when large (kernel side)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import torch

FULL_TENSOR_LIMIT = 4096  # elements; larger tensors are summarised


def encode_tensor(tensor: torch.Tensor) -> dict[str, Any]:
    """A tensor as plain data: full values when small, a summary when large."""
    tensor = tensor.detach()
    encoded: dict[str, Any] = {"shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch.")}
    if tensor.is_complex():
        return encoded
    values = tensor.to("cpu", torch.float64)
    if tensor.numel() <= FULL_TENSOR_LIMIT:
        encoded["data"] = [encode_float(v) for v in values.flatten().tolist()]
        return encoded
    finite = values[torch.isfinite(values)]
    encoded["summary"] = {
        "norm": encode_float(torch.linalg.vector_norm(values).item()),
        "mean": encode_float(values.mean().item()),
        "min": encode_float(finite.min().item()) if finite.numel() else None,
        "max": encode_float(finite.max().item()) if finite.numel() else None,
        "sha256": hashlib.sha256(tensor.cpu().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest(),
    }
    return encoded


def encode_float(value: float) -> float | str:
    # Strict JSON has no NaN/Infinity; the grader decodes these strings back.
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
