"""Summaries of the tensors the probe sees, reduced to plain numbers.

Every function here reads a detached copy and returns JSON-able data: the
child process sends these numbers to the parent, which decides the verdicts
(see ``checks.py``). Nothing here changes the tensors it is given.
"""

from __future__ import annotations

import math
from typing import Any

import torch

# Loss inputs whose rows are within this of summing to one are probabilities.
PROB_TOL = 1e-3


def _f(value: Any) -> float:
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return value  # json.dumps writes NaN/Infinity; the parent reads them back
    return round(value, 6)


def loss_input_stats(logits: torch.Tensor) -> dict:
    """Whether a classification loss input looks like logits, probabilities or log-probabilities.

    Class scores sit on dim 1 (``(N, C)`` or ``(N, C, d1, ...)``), as in
    ``F.cross_entropy``.
    """
    x = logits.detach().float()
    out: dict[str, Any] = {"shape": list(x.shape), "finite": bool(torch.isfinite(x).all())}
    if x.dim() < 2 or x.shape[1] < 2 or not out["finite"]:
        out.update(is_probabilities=False, is_log_probabilities=False, num_classes=None)
        return out
    out["num_classes"] = int(x.shape[1])
    row_sums = x.sum(dim=1)
    lse = torch.logsumexp(x, dim=1)
    out["min"] = _f(x.min())
    out["max"] = _f(x.max())
    out["row_sum_max_dev"] = _f((row_sums - 1).abs().max())
    out["logsumexp_max_abs"] = _f(lse.abs().max())
    out["is_probabilities"] = bool(out["min"] >= 0 and out["row_sum_max_dev"] < PROB_TOL)
    out["is_log_probabilities"] = bool(out["max"] <= 1e-6 and out["logsumexp_max_abs"] < PROB_TOL)
    return out


def binary_input_stats(x: torch.Tensor) -> dict:
    """For BCE inputs: are they confined to [0, 1] (sigmoid outputs)?"""
    x = x.detach().float()
    finite = bool(torch.isfinite(x).all())
    out = {"shape": list(x.shape), "finite": finite, "numel": int(x.numel())}
    if finite and x.numel():
        out["min"] = _f(x.min())
        out["max"] = _f(x.max())
        out["in_unit_interval"] = bool(out["min"] >= 0 and out["max"] <= 1)
    return out


def label_stats(target: torch.Tensor, num_classes: int | None, ignore_index: int = -100) -> dict:
    """Class-index targets: range, distinct classes and whether the batch is sorted."""
    t = target.detach().reshape(-1)
    if t.is_floating_point() or t.numel() == 0:
        return {"kind": "soft" if t.is_floating_point() else "empty", "size": int(t.numel())}
    t = t.to("cpu", torch.int64)
    valid = t[t != ignore_index]
    out: dict[str, Any] = {"kind": "index", "size": int(t.numel())}
    if valid.numel() == 0:
        return out
    out["min"] = int(valid.min())
    out["max"] = int(valid.max())
    out["distinct"] = int(valid.unique().numel())
    out["sorted"] = bool((valid[1:] >= valid[:-1]).all()) if valid.numel() > 1 else True
    out["out_of_range"] = bool(
        num_classes is not None and (out["min"] < 0 or out["max"] >= num_classes)
    )
    out["first"] = [int(v) for v in valid[:16]]
    return out


def _neighbour_corr(a: torch.Tensor, dim: int, lag: int = 1) -> float | None:
    """Pooled correlation of each pixel with its neighbour ``lag`` away along ``dim``."""
    n = a.shape[dim]
    if n <= lag + 1:
        return None
    left = a.narrow(dim, 0, n - lag)
    right = a.narrow(dim, lag, n - lag)
    num = (left * right).sum()
    den = torch.sqrt((left * left).sum() * (right * right).sum())
    if float(den) == 0.0:
        return None
    return _f(num / den)


def image_stats(x: torch.Tensor) -> dict:
    """Range, per-channel moments and spatial smoothness of a model input batch."""
    x = x.detach()
    out: dict[str, Any] = {"shape": list(x.shape), "dtype": str(x.dtype).replace("torch.", "")}
    if not (x.is_floating_point() or x.dtype == torch.uint8) or x.numel() == 0:
        return out
    x = x[:64].float()
    out["finite"] = bool(torch.isfinite(x).all())
    if not out["finite"]:
        return out
    out["min"] = _f(x.min())
    out["max"] = _f(x.max())
    out["mean"] = _f(x.mean())
    out["std"] = _f(x.std()) if x.numel() > 1 else 0.0
    if x.dim() == 4 and x.shape[1] <= 4 and x.shape[2] >= 4 and x.shape[3] >= 4:
        channels = x.transpose(0, 1).reshape(x.shape[1], -1)
        out["channel_mean"] = [_f(v) for v in channels.mean(dim=1)]
        out["channel_std"] = [_f(v) for v in channels.std(dim=1)]
        # Centre each image and channel, then correlate neighbouring pixels.
        centred = x - x.mean(dim=(2, 3), keepdim=True)
        out["corr_h"] = _neighbour_corr(centred, 3)
        out["corr_v"] = _neighbour_corr(centred, 2)
        # Correlation at lags 1..C (at least 3): NHWC memory read as NCHW puts
        # the same channel of neighbouring pixels C elements apart, so the
        # correlation peaks at lag C instead of decaying with distance.
        lags = range(1, max(3, int(x.shape[1])) + 1)
        out["corr_h_lags"] = [_neighbour_corr(centred, 3, lag) for lag in lags]
        out["corr_v_lags"] = [_neighbour_corr(centred, 2, lag) for lag in lags]
    return out
