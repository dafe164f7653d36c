"""Jupyter notebooks (``.ipynb``) as one Python text, and back.

The code cells, in order, are joined into one text (each cell's lines
neutralised by :mod:`clsaudit.notebook_magics`), so the engine, the rules
and the suppressions see an ordinary module. A :class:`Notebook` keeps
where each cell starts in that text, so a finding at line 41 of the joined
text is reported as ``cell 3, line 7``. Cells are numbered as the notebook
shows them: every cell counts (markdown and raw too), from 1, which is
ruff's convention.

For ``--fix`` the raw JSON is scanned once more to find the exact span of
each cell's ``source`` value; a fix rewrites only those spans, so outputs,
metadata, key order, indentation and escapes stay byte for byte.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache

from clsaudit.notebook_magics import neutralise, split_lines

SUFFIX = ".ipynb"
_WS = re.compile(r"[ \t\n\r]*")


class NotebookError(SyntaxError):
    """Not a notebook we can read (bad JSON, no cell list).

    A ``SyntaxError`` so that every caller that already reports an
    undecodable file reports this one the same way, with its path.
    """


def is_notebook(path: str) -> bool:
    return path.lower().endswith(SUFFIX)


@dataclass(frozen=True)
class Cell:
    number: int  # 1-based position among all cells
    index: int  # 0-based position in the ``cells`` list
    source: str  # as written in the notebook
    python: str  # with IPython lines neutralised, same line count
    start: int  # 1-based line of its first line in the joined text
    lines: int


@dataclass
class Notebook:
    cells: list[Cell] = field(default_factory=list)
    text: str = ""  # the joined, neutralised Python text

    def locate(self, line: int) -> tuple[int, int] | None:
        """(cell number, line within the cell) of a line of the joined text."""
        for cell in self.cells:
            if cell.start <= line < cell.start + cell.lines:
                return cell.number, line - cell.start + 1
        return None

    def cell_of(self, line: int) -> Cell | None:
        for cell in self.cells:
            if cell.start <= line < cell.start + cell.lines:
                return cell
        return None


def _source_text(value: object) -> str:
    if isinstance(value, list):
        return "".join(part for part in value if isinstance(part, str))
    return value if isinstance(value, str) else ""


def _is_python(document: dict) -> bool:
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        return True
    for key in ("language_info", "kernelspec"):
        info = metadata.get(key)
        if isinstance(info, dict):
            language = info.get("name" if key == "language_info" else "language")
            if isinstance(language, str) and language:
                return language.lower().startswith("python")
    return True


def load_notebook(data: bytes | str) -> Notebook:
    """Parse a notebook's bytes; raises :class:`NotebookError` when it is not one."""
    try:
        raw = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotebookError(f"not a valid notebook: {exc}") from None
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise NotebookError("not a valid notebook: no 'cells' list (nbformat 4 is supported)")
    notebook = Notebook()
    if not _is_python(document):
        return notebook
    pieces: list[str] = []
    line = 1
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _source_text(cell.get("source"))
        python = neutralise(source, cell=True)
        count = len(split_lines(python))
        notebook.cells.append(Cell(index + 1, index, source, python, line, count))
        if count:
            pieces.append(python if python.endswith(("\n", "\r")) else python + "\n")
        line += count
    notebook.text = "".join(pieces)
    return notebook


@lru_cache(maxsize=64)
def _load_cached(path: str, stamp: tuple[int, int]) -> Notebook | None:
    try:
        with open(path, "rb") as handle:
            return load_notebook(handle.read())
    except (OSError, NotebookError):
        return None


_REMEMBERED: dict[str, Notebook] = {}


def remember(path: str, data: bytes) -> None:
    """Register a notebook that is not on disk (standard input) under ``path``."""
    try:
        _REMEMBERED[path] = load_notebook(data)
    except NotebookError:
        _REMEMBERED.pop(path, None)


def forget(path: str) -> None:
    """Drop a notebook registered with :func:`remember` (the run that read stdin is over)."""
    _REMEMBERED.pop(path, None)


def notebook_at(path: str) -> Notebook | None:
    """The notebook at ``path`` (cached while the file is unchanged), or None."""
    if path in _REMEMBERED:
        return _REMEMBERED[path]
    try:
        status = os.stat(path)
    except OSError:
        return None
    return _load_cached(os.path.abspath(path), (status.st_mtime_ns, status.st_size))


def cell_location(path: str, line: int) -> tuple[int, int] | None:
    """(cell, line in cell) for a finding at ``line`` of a notebook, else None."""
    if not is_notebook(path):
        return None
    notebook = notebook_at(path)
    return notebook.locate(line) if notebook is not None else None


# --- writing cell sources back ---------------------------------------------


def _skip(raw: str, index: int) -> int:
    return _WS.match(raw, index).end()


def _value_end(raw: str, index: int, decoder: json.JSONDecoder) -> int:
    return decoder.raw_decode(raw, index)[1]


def source_spans(raw: str) -> dict[int, tuple[int, int]]:
    """Character span of each cell's ``source`` value in the raw JSON, by cell index."""
    decoder = json.JSONDecoder()
    spans: dict[int, tuple[int, int]] = {}
    i = _skip(raw, 0)
    if raw[i:i + 1] != "{":
        raise NotebookError("not a valid notebook: top level is not an object")
    i += 1
    while True:
        i = _skip(raw, i)
        if raw[i] == "}":
            return spans
        key, i = json.decoder.scanstring(raw, i + 1)
        i = _skip(raw, _skip(raw, i) + 1)  # past ':'
        if key != "cells":
            i = _skip(raw, _value_end(raw, i, decoder))
        else:
            i = _cells(raw, i, decoder, spans)
        if raw[i] == ",":
            i += 1


def _cells(raw: str, i: int, decoder: json.JSONDecoder, spans: dict[int, tuple[int, int]]) -> int:
    i = _skip(raw, i + 1)  # past '['
    index = 0
    while raw[i] != "]":
        if raw[i] == "{":
            i = _skip(raw, i + 1)
            while raw[i] != "}":
                key, i = json.decoder.scanstring(raw, i + 1)
                i = _skip(raw, _skip(raw, i) + 1)
                end = _value_end(raw, i, decoder)
                if key == "source":
                    spans[index] = (i, end)
                i = _skip(raw, end)
                if raw[i] == ",":
                    i = _skip(raw, i + 1)
            i += 1
        else:
            i = _value_end(raw, i, decoder)
        i = _skip(raw, i)
        if raw[i] == ",":
            i = _skip(raw, i + 1)
        index += 1
    return _skip(raw, i + 1)


def render_source(raw: str, span: tuple[int, int], text: str) -> str:
    """``text`` as a ``source`` value written in the style of the original value."""
    original = raw[span[0]:span[1]]
    ascii_only = not any(ord(ch) > 127 for ch in raw) and "\\u" in raw
    if not original.startswith("["):
        return json.dumps(text, ensure_ascii=ascii_only)
    lines = split_lines(text)
    if not lines:
        return "[]"
    opening = re.match(r"\[([ \t\r\n]*)", original)
    closing = re.search(r"([ \t\r\n]*)\]$", original)
    separator = opening.group(1) if opening and original != "[]" else ""
    if not separator:
        line_start = raw.rfind("\n", 0, span[0]) + 1
        indent = re.match(r"[ \t]*", raw[line_start:]).group(0)
        separator, tail = "\n" + indent + " ", "\n" + indent
    else:
        tail = closing.group(1) if closing else ""
    items = [json.dumps(line, ensure_ascii=ascii_only) for line in lines]
    return "[" + separator + ("," + separator).join(items) + tail + "]"


def replace_sources(raw: str, new_sources: dict[int, str]) -> str:
    """``raw`` with the ``source`` of the given cells (by index) replaced, all else kept."""
    spans = source_spans(raw)
    pieces, cursor = [], 0
    for index in sorted(new_sources):
        if index not in spans:
            continue
        start, end = spans[index]
        pieces.append(raw[cursor:start])
        pieces.append(render_source(raw, spans[index], new_sources[index]))
        cursor = end
    pieces.append(raw[cursor:])
    return "".join(pieces)
