"""Bytes to text the way Python itself decodes a source file.

Kept apart from the parser so that reporters can show source lines from
cached results without importing libcst. Notebooks become the joined
Python text of their code cells, and IPython-only lines (magics, shell
escapes) are neutralised in place, so every consumer of a file's text
(parser, suppressions, reporters) sees the same lines.
"""

from __future__ import annotations

import io
import tokenize


def decode_source(path: str, data: bytes) -> str:
    """Decode like Python does: BOM, PEP 263 coding cookie, else UTF-8."""
    from clsaudit.notebook import is_notebook, load_notebook
    from clsaudit.notebook_magics import neutralise

    if is_notebook(path):
        return load_notebook(data).text
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    return neutralise(text)
