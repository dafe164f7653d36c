"""``--fix`` for notebooks: edit the affected cells' ``source``, nothing else.

Findings carry lines of the joined text (see :mod:`clsaudit.notebook`).
Each fix is moved into its cell's own coordinates and applied to that
cell alone (a fix that would span two cells is skipped), the IPython lines
the pre-pass neutralised are put back as the user wrote them, and only the
changed cells' ``source`` values are rewritten in the raw JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from clsaudit.findings import Finding
from clsaudit.fixer import FixOutcome, apply_edits
from clsaudit.notebook import Cell, NotebookError, load_notebook, replace_sources
from clsaudit.notebook_magics import split_lines


def _restore_magics(cell: Cell, fixed_python: str) -> str:
    """Put back the original form of each line the pre-pass rewrote."""
    if cell.python == cell.source:
        return fixed_python
    originals: dict[str, list[str]] = {}
    for neutral, original in zip(split_lines(cell.python), split_lines(cell.source)):
        if neutral != original:
            originals.setdefault(neutral.rstrip("\r\n"), []).append(original.rstrip("\r\n"))
    out = []
    for line in split_lines(fixed_python):
        body = line.rstrip("\r\n")
        queue = originals.get(body)
        out.append((queue.pop(0) if queue else body) + line[len(body):])
    return "".join(out)


def fix_notebook(path: str, findings: Iterable[Finding]) -> FixOutcome:
    """The notebook at ``path`` with fixes applied to its cells; never writes."""
    import libcst as cst

    with open(path, "rb") as handle:
        data = handle.read()
    raw = data.decode("utf-8-sig")
    bom = data.startswith(b"\xef\xbb\xbf")
    outcome = FixOutcome(path, raw, raw, 0, 0, encoding="utf-8", bom=bom)
    try:
        notebook = load_notebook(raw)
    except NotebookError as exc:
        outcome.error = str(exc)
        return outcome
    by_cell: dict[int, list[Finding]] = {}
    for finding in findings:
        if finding.fix is None:
            continue
        line, column, end_line, end_column = finding.fix_location()
        cell = notebook.cell_of(line)
        if cell is None or cell is not notebook.cell_of(end_line):
            outcome.skipped += 1
            continue
        shift = cell.start - 1
        moved = replace(finding, line=line - shift, column=column, end_line=end_line - shift,
                        end_column=end_column, fix_span=None)
        by_cell.setdefault(cell.index, []).append(moved)
    new_sources: dict[int, str] = {}
    pythons = {cell.index: cell.python for cell in notebook.cells}
    for cell in notebook.cells:
        if cell.index not in by_cell:
            continue
        fixed, applied, skipped = apply_edits(cell.python, by_cell[cell.index])
        outcome.applied += applied
        outcome.skipped += skipped
        if fixed != cell.python:
            pythons[cell.index] = fixed
            new_sources[cell.index] = _restore_magics(cell, fixed)
    if not new_sources:
        return outcome
    joined = "".join(t if t.endswith(("\n", "\r")) else t + "\n" for t in pythons.values() if t)
    try:
        cst.parse_module(joined)
    except Exception as exc:  # noqa: BLE001 - any parser failure refuses the fix
        outcome.error = f"fixes would not parse, notebook left unchanged ({type(exc).__name__})"
        return outcome
    outcome.fixed = replace_sources(raw, new_sources)
    return outcome
