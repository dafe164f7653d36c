"""A minimal PNG writer and a 3x5 pixel font: pictures without matplotlib.

``--show-batch`` must work with only the ``torch`` extra installed, so the
probe writes its picture itself: PNG is a signature, an ``IHDR`` chunk, the
zlib-compressed scanlines (each prefixed with filter type 0) in ``IDAT``,
and ``IEND`` (the PNG specification, sections 5 and 11). Pixels arrive as
rows of RGB bytes.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Glyphs 3 pixels wide and 5 high, one string of 15 '#'/'.' per character.
_GLYPHS = {
    "0": "####.##.##.####",
    "1": ".#.##..#..#.###",
    "2": "###..#####..###",
    "3": "###..####..####",
    "4": "#.##.####..#..#",
    "5": "####..###..####",
    "6": "####..####.####",
    "7": "###..#..#..#..#",
    "8": "####.#####.####",
    "9": "####.####..####",
    "A": ".#.#.#####.##.#",
    "B": "##.#.###.#.###.",
    "C": ".###..#..#...##",
    "D": "##.#.##.##.###.",
    "E": "####..###..####",
    "F": "####..###..#...",
    "G": ".###..#.##.#.##",
    "H": "#.##.####.##.##",
    "I": "###.#..#..#.###",
    "J": "..#..#..##.#.#.",
    "K": "#.##.###.#.##.#",
    "L": "#..#..#..#..###",
    "M": "#.#####.##.##.#",
    "N": "##.#.##.##.##.#",
    "O": ".#.#.##.##.#.#.",
    "P": "##.#.###.#..#..",
    "Q": ".#.#.##.###..##",
    "R": "##.#.###.#.##.#",
    "S": ".###...#...###.",
    "T": "###.#..#..#..#.",
    "U": "#.##.##.##.####",
    "V": "#.##.##.##.#.#.",
    "W": "#.##.##.######.",
    "X": "#.##.#.#.#.##.#",
    "Y": "#.##.#.#..#..#.",
    "Z": "###..#.#.#..###",
    "-": "......###......",
    "_": "............###",
    ".": ".............#.",
    " ": "...............",
    "?": "###..#.#.....#.",
}
GLYPH_W, GLYPH_H = 3, 5


def glyph(char: str) -> list[list[bool]]:
    """The 5 rows of 3 pixels of ``char`` (upper-cased; unknown characters as '?')."""
    code = _GLYPHS.get(char.upper(), _GLYPHS["?"]).ljust(15, ".")[:15]
    return [[code[row * 3 + col] == "#" for col in range(3)] for row in range(5)]


def text_width(text: str) -> int:
    return len(text) * (GLYPH_W + 1) - 1 if text else 0


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_rgb(width: int, height: int, rows: list[bytes]) -> bytes:
    """A PNG file of 8-bit RGB pixels; ``rows`` holds ``height`` rows of ``3 * width`` bytes."""
    if len(rows) != height or any(len(r) != 3 * width for r in rows):
        raise ValueError("rows do not match the size")
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def decode_rgb(data: bytes) -> tuple[int, int, list[bytes]]:
    """Read back what :func:`encode_rgb` writes (filter 0 only): for tests and checks."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG file")
    pos, width, height, idat = len(SIGNATURE), 0, 0, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 3 * width + 1
    rows = [raw[i * stride + 1 : (i + 1) * stride] for i in range(height)]
    return width, height, rows
