"""``--show-batch``: the first training batch as the model receives it, as a PNG grid.

Loss curves do not show a flip that turns a 6 into a 9, a crop that cuts the
object out, or colours gone wrong; a look at the batch does. The images are
what the model's forward received, so they are normalised with statistics
the probe does not know: each channel is de-normalised with the mean and
standard deviation measured on the batch itself (mean +- 2.5 std mapped to
black..white). Each tile carries its label, or its class name when the
training dataset has ``classes``.
"""

from __future__ import annotations

import numpy as np
import torch
from clsaudit.probe import png_writer

SCALE_TARGET = 64  # tiles are scaled up by whole factors to about this size
SPREAD = 2.5  # standard deviations mapped to the full grey range
COLUMNS = 8
PAD = 2
FONT_SCALE = 2  # glyph pixels per font pixel, on tiles of 48 pixels or more


def _tile_images(images: torch.Tensor) -> tuple[np.ndarray, dict]:
    """(N, H, W, 3) uint8 images from an (N, C, H, W) float batch, and the stats used."""
    x = images.detach().float()
    channels = x.shape[1]
    flat = x.transpose(0, 1).reshape(channels, -1)
    mean = flat.mean(dim=1).view(1, channels, 1, 1)
    std = flat.std(dim=1).clamp_min(1e-8).view(1, channels, 1, 1)
    unit = ((x - mean) / (2 * SPREAD * std) + 0.5).clamp(0, 1)
    if channels == 1:
        unit = unit.expand(-1, 3, -1, -1)
    elif channels != 3:
        unit = unit[:, :1].expand(-1, 3, -1, -1)  # show the first channel
    pixels = (unit * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    stats = {
        "channel_mean": [round(float(v), 4) for v in mean.flatten()],
        "channel_std": [round(float(v), 4) for v in std.flatten()],
    }
    return pixels, stats


def title_height(font: int) -> int:
    return png_writer.GLYPH_H * font + 4


def _draw_text(canvas: np.ndarray, text: str, top: int, left: int, width: int, font: int) -> None:
    """Write ``text`` (cut to ``width`` pixels) in white at (top, left), ``font`` x scaled."""
    advance = (png_writer.GLYPH_W + 1) * font
    fits = max(1, (width + font) // advance)
    for i, char in enumerate(text[:fits]):
        for row, bits in enumerate(png_writer.glyph(char)):
            for col, on in enumerate(bits):
                if on:
                    y, x = top + row * font, left + i * advance + col * font
                    canvas[y : y + font, x : x + font] = 255


def label_text(label: int | None, classes: list[str] | None) -> str:
    if label is None:
        return "?"
    if classes and 0 <= label < len(classes):
        return f"{label} {classes[label]}"
    return str(label)


def render(
    images: torch.Tensor, labels: torch.Tensor | None, classes: list[str] | None
) -> tuple[bytes, dict]:
    """The PNG bytes of a titled grid, and what was drawn (for the report)."""
    if images.dim() != 4:
        raise ValueError(f"the model's input is not an image batch: shape {list(images.shape)}")
    tiles, stats = _tile_images(images)
    count, height, width = tiles.shape[:3]
    scale = max(1, SCALE_TARGET // max(height, width))
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    tile_h, tile_w = tiles.shape[1:3]
    font = FONT_SCALE if tile_w >= 48 else 1
    title_h = title_height(font)
    cell_w = max(tile_w, png_writer.text_width("0") * font) + PAD
    cell_h = tile_h + title_h + PAD
    columns = min(COLUMNS, count)
    rows = (count + columns - 1) // columns
    canvas = np.zeros((rows * cell_h + PAD, columns * cell_w + PAD, 3), dtype=np.uint8)
    canvas[:] = 32
    names = []
    for i in range(count):
        top = PAD + (i // columns) * cell_h
        left = PAD + (i % columns) * cell_w
        label = int(labels[i]) if labels is not None and i < len(labels) else None
        text = label_text(label, classes)
        names.append(text)
        _draw_text(canvas, text, top + 1, left, tile_w, font)
        canvas[top + title_h : top + title_h + tile_h, left : left + tile_w] = tiles[i]
    png = png_writer.encode_rgb(
        canvas.shape[1],
        canvas.shape[0],
        [bytes(row) for row in canvas.reshape(canvas.shape[0], -1)],
    )
    facts = dict(
        stats, samples=count, shape=list(images.shape), labels=names, scale=scale, title_h=title_h
    )
    return png, facts


def save(picture: dict | None, classes: list[str] | None, path: str) -> dict:
    """Write the picture the recorder kept; plain-data facts or the reason it could not be."""
    if picture is None:
        return {"error": "no training forward seen: nothing to show"}
    try:
        png, facts = render(picture["images"], picture.get("labels"), classes)
    except ValueError as exc:
        return {"error": str(exc)}
    try:
        with open(path, "wb") as fh:
            fh.write(png)
    except OSError as exc:
        return {"error": f"cannot write {path}: {exc.strerror}"}
    facts["path"] = path
    return facts
