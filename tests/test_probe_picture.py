"""``--show-batch``: the PNG is valid, tiles keep orientation, carry their labels, and the
batch shown is the one the model received (de-normalised with the measured statistics)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from clsaudit.probe import batch_picture, child, png_writer
from clsaudit.probe.command import DEFAULT_LIMIT_BATCHES, DEFAULT_STEPS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probe"


def _pixel(rows: list[bytes], x: int, y: int) -> tuple[int, int, int]:
    return tuple(rows[y][3 * x : 3 * x + 3])


def test_png_round_trip():
    rows = [bytes([10 * y, 20, 7]) for y in range(4)]
    png = png_writer.encode_rgb(1, 4, rows)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_writer.decode_rgb(png) == (1, 4, rows)
    with pytest.raises(ValueError):
        png_writer.encode_rgb(2, 4, rows)


def test_digits_are_told_apart():
    glyphs = [
        "".join("#" if on else "." for row in png_writer.glyph(digit) for on in row)
        for digit in "0123456789"
    ]
    assert len(set(glyphs)) == 10
    assert png_writer.glyph("6") != png_writer.glyph("9")


def test_grid_keeps_orientation_and_titles_each_tile():
    # Left half dark, right half bright: a flip would swap them.
    images = torch.zeros(3, 3, 8, 8)
    images[:, :, :, 4:] = 1.0
    classes = ["zero"] * 6 + ["six", "?", "?", "nine"]
    png, facts = batch_picture.render(images, torch.tensor([6, 9, 1]), classes)
    width, height, rows = png_writer.decode_rgb(png)
    assert facts["labels"] == ["6 six", "9 nine", "1 zero"]
    scale = facts["scale"]
    top = batch_picture.PAD + facts["title_h"]
    left = batch_picture.PAD
    dark = _pixel(rows, left + 1, top + 1)
    bright = _pixel(rows, left + 8 * scale - 2, top + 1)
    assert max(dark) < 100 < min(bright)
    # The title band holds white glyph pixels above each tile.
    title = rows[batch_picture.PAD + 1 : batch_picture.PAD + facts["title_h"]]
    assert any(b"\xff\xff\xff" in row for row in title)
    assert width >= 3 * 8 * scale and height >= 8 * scale + facts["title_h"]


def test_show_batch_saves_the_first_training_batch(tmp_path):
    path = tmp_path / "batch.png"
    spec = {
        "mode": "script",
        "script": str(FIXTURES / "clean_functional.py"),
        "args": [],
        "steps": DEFAULT_STEPS,
        "soft_budget": True,
        "limit_batches": DEFAULT_LIMIT_BATCHES,
        "threads": 1,
        "show_batch": str(path),
    }
    result = child.collect(spec)
    facts = result["show_batch"]
    assert facts["path"] == str(path) and facts["samples"] == 32
    assert facts["shape"] == [32, 3, 16, 16]
    # De-normalised with the statistics the probe measured on the same batch.
    first_input = result["observations"]["input_samples"][0]
    assert facts["channel_mean"] == pytest.approx(first_input["channel_mean"], abs=1e-3)
    first_labels = result["observations"]["loss_samples"][0]["target"]["first"]
    assert facts["labels"][:16] == [str(v) for v in first_labels]
    width, height, rows = png_writer.decode_rgb(path.read_bytes())
    assert (width, height) == (
        batch_picture.COLUMNS * (16 * facts["scale"] + batch_picture.PAD) + batch_picture.PAD,
        4 * (16 * facts["scale"] + facts["title_h"] + batch_picture.PAD) + batch_picture.PAD,
    )


def test_show_batch_on_a_non_image_model_says_why(tmp_path):
    kept = {"images": torch.randn(4, 10), "labels": None}
    facts = batch_picture.save(kept, None, str(tmp_path / "x.png"))
    assert "not an image batch" in facts["error"]
    assert not (tmp_path / "x.png").exists()
