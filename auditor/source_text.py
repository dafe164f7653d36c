"""Bytes to text the way Python itself decodes a source file.

Kept apart from the parser so that reporters can show source lines from
cached results without importing libcst.
"""

from __future__ import annotations

import io
import tokenize


def decode_source(path: str, data: bytes) -> str:
    """Decode like Python does: BOM, PEP 263 coding cookie, else UTF-8."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text
