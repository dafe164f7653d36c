"""Augmentation and losses, on whole batches of tensors on the device.

Everything here takes a normalised float NCHW batch and returns one: no PIL,
no per-image Python loop, so augmentation runs on the GPU at the speed of a
few tensor ops. Used only on training batches; evaluation sees the images
as they are.

Targets are probability vectors (``smooth_labels``): label smoothing, Mixup
and CutMix all become "mix the target distributions", and one loss,
``soft_target_cross_entropy``, covers every combination.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def random_crop(images: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Pad each side by ``padding`` pixels with reflection, then crop back at a random offset.

    Why reflect padding: zero padding paints black borders into the training
    images (after normalisation, a flat slab at an odd value) that test images
    never have; reflecting the edge keeps the border statistics natural.
    """
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding), mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (n,), device=images.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=images.device)
    # One offset per image, done for the whole batch with two gathers.
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    padded = padded.gather(2, rows.expand(n, c, h, padded.shape[3]))
    return padded.gather(3, cols.expand(n, c, h, w))


def random_flip(images: torch.Tensor) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2 (dim 3 is width in NCHW)."""
    flip = torch.rand(images.shape[0], device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def cutout(images: torch.Tensor, size: int = 8) -> torch.Tensor:
    """Zero one ``size`` x ``size`` square per image (DeVries & Taylor, 2017).

    The centre is uniform over the image, so the square may be clipped at an
    edge, as in the paper. The images are normalised, so zero is the dataset's
    mean colour rather than black.
    """
    n, _, h, w = images.shape
    cy = torch.randint(0, h, (n, 1), device=images.device)
    cx = torch.randint(0, w, (n, 1), device=images.device)
    ys = torch.arange(h, device=images.device)[None, :]
    xs = torch.arange(w, device=images.device)[None, :]
    in_rows = (ys >= cy - size // 2) & (ys < cy - size // 2 + size)  # (n, h)
    in_cols = (xs >= cx - size // 2) & (xs < cx - size // 2 + size)  # (n, w)
    square = in_rows[:, :, None] & in_cols[:, None, :]  # (n, h, w)
    return images.masked_fill(square[:, None], 0.0)


def smooth_labels(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Integer labels -> target distributions: ``1 - smoothing`` on the label, the rest uniform.

    Same convention as ``F.cross_entropy(label_smoothing=...)``: the uniform
    part ``smoothing / num_classes`` goes to every class, the true one included.
    """
    one_hot = F.one_hot(labels, num_classes).float()
    return one_hot * (1.0 - smoothing) + smoothing / num_classes


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against target distributions, averaged over the batch.

    Takes raw logits: ``log_softmax`` is applied here, once, in a numerically
    stable way. Never pass probabilities.
    """
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def _sample_lambda(alpha: float) -> float:
    return float(torch.distributions.Beta(alpha, alpha).sample())


def mixup(
    images: torch.Tensor, targets: torch.Tensor, alpha: float = 0.2, lam: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Blend each image with another from the batch (Zhang et al., 2018).

    ``lam ~ Beta(alpha, alpha)`` once per batch; images and targets are mixed
    with the same ``lam``, otherwise the loss would teach the wrong label.
    Returns the mixed images, the mixed targets and ``lam``.
    """
    lam = _sample_lambda(alpha) if lam is None else lam
    partner = torch.randperm(images.shape[0], device=images.device)
    mixed = lam * images + (1.0 - lam) * images[partner]
    return mixed, lam * targets + (1.0 - lam) * targets[partner], lam


def cutmix(
    images: torch.Tensor, targets: torch.Tensor, alpha: float = 1.0, lam: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Paste a box from another image of the batch (Yun et al., 2019).

    The box is sized for an area of ``1 - lam`` but clipped at the image
    edges, so ``lam`` is recomputed from the box actually pasted: the target
    weights must match the pixel areas the model sees. Returns the mixed
    images, the mixed targets and that area-corrected ``lam``.
    """
    lam = _sample_lambda(alpha) if lam is None else lam
    n, _, h, w = images.shape
    cut_h, cut_w = int(h * math.sqrt(1.0 - lam)), int(w * math.sqrt(1.0 - lam))
    cy, cx = int(torch.randint(0, h, ())), int(torch.randint(0, w, ()))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, h)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, w)
    partner = torch.randperm(n, device=images.device)
    mixed = images.clone()
    mixed[:, :, top:bottom, left:right] = images[partner, :, top:bottom, left:right]
    lam = 1.0 - (bottom - top) * (right - left) / (h * w)
    return mixed, lam * targets + (1.0 - lam) * targets[partner], lam


@dataclass
class AugmentConfig:
    """Which augmentations the training loop applies; all off is the plain baseline."""

    crop: bool = True
    flip: bool = True
    cutout: int = 0  # square side in pixels; 0 = off
    mixup: float = 0.0  # Beta alpha; 0 = off
    cutmix: float = 0.0  # Beta alpha; 0 = off
    label_smoothing: float = 0.0


def augment_batch(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int, config: AugmentConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch -> (augmented images, target distributions)."""
    if config.crop:
        images = random_crop(images)
    if config.flip:
        images = random_flip(images)
    if config.cutout:
        images = cutout(images, config.cutout)
    targets = smooth_labels(labels, num_classes, config.label_smoothing)
    use_mixup, use_cutmix = config.mixup > 0, config.cutmix > 0
    if use_mixup and use_cutmix:
        # Both on: pick one per batch, as timm does.
        use_mixup = bool(torch.rand(()) < 0.5)
        use_cutmix = not use_mixup
    if use_mixup:
        images, targets, _ = mixup(images, targets, config.mixup)
    elif use_cutmix:
        images, targets, _ = cutmix(images, targets, config.cutmix)
    return images, targets
