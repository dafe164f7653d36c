"""Where a finding is, as the user names it: repository paths and notebook cells.

Findings carry lines of the text the rules saw; for a notebook that is the
joined text of its code cells. Every reporter shows notebook findings in
the notebook's own numbering, the cell (counted from 1 over all cells, as
ruff does) and the line inside that cell; the message's "line N"
references are rewritten the same way. JSON adds ``cell``/``end_cell``
and keeps the joined lines as ``joined_line``/``joined_end_line``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from clsaudit.findings import Finding
from clsaudit.notebook import cell_location, is_notebook

_LINE_REFERENCE = re.compile(r"\bline (\d+)\b")


@dataclass(frozen=True)
class Shown:
    """A finding's position for display; ``cell`` is None outside notebooks."""

    line: int
    end_line: int
    cell: int | None = None
    end_cell: int | None = None
    message: str = ""


def shown(finding: Finding) -> Shown:
    if not is_notebook(finding.path):
        return Shown(finding.line, finding.end_line, message=finding.message)
    start = cell_location(finding.path, finding.line)
    end = cell_location(finding.path, finding.end_line) or start
    if start is None or end is None:
        return Shown(finding.line, finding.end_line, message=finding.message)

    def relocate(match: re.Match) -> str:
        where = cell_location(finding.path, int(match.group(1)))
        return f"cell {where[0]}, line {where[1]}" if where else match.group(0)

    message = _LINE_REFERENCE.sub(relocate, finding.message)
    return Shown(start[1], end[1], start[0], end[0], message)


def place(path: str, line: int, column: int | None = None) -> str:
    """``path:line:col`` or, in a notebook, ``path:cell 3:line 7:col 5``."""
    where = cell_location(path, line) if line else None
    if where is None:
        return f"{path}:{line}:{column}" if column is not None else f"{path}:{line}"
    text = f"{path}:cell {where[0]}:line {where[1]}"
    return f"{text}:col {column}" if column is not None else text


def repository_root(start: str | None = None) -> Path:
    """The enclosing git work tree (a ``.git`` entry), else the project root, else ``start``.

    CI tools resolve annotation paths against the repository root, never
    against the directory clsaudit happened to run in.
    """
    from clsaudit.config import find_project_root

    here = Path(os.path.abspath(start or os.getcwd()))
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory
    return find_project_root(here)


def relative_posix(path: str, root: Path) -> str | None:
    """``path`` relative to ``root`` with forward slashes, or None when outside it."""
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, root)
    except ValueError:  # another drive on Windows
        return None
    if rel == ".." or rel.startswith(".." + os.sep):
        return None
    return Path(rel).as_posix()


def encode_uri_path(posix_path: str) -> str:
    """Percent-encode a relative path for a URI reference (spaces, ``%``, ``#``, non-ASCII)."""
    return quote(posix_path, safe="/-._~!$&'()*+,;=@")
