"""``--fix`` and ``--diff``: apply the replacement text findings carry.

A fix replaces the exact span ``[line:column, end_line:end_column)`` of
its finding (1-based, end exclusive, columns in characters). Edits are
applied only if they do not overlap an earlier one, the result must parse,
and the file is rewritten atomically with its original encoding, byte
order mark and line endings, so that ``--fix`` edits only what it reports.
"""

from __future__ import annotations

import codecs
import difflib
import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass

from clsaudit.atomic_write import atomic_write
from clsaudit.findings import Finding

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@dataclass
class FixOutcome:
    path: str
    original: str
    fixed: str
    applied: int
    skipped: int
    error: str | None = None
    encoding: str = "utf-8"
    bom: bool = False

    @property
    def changed(self) -> bool:
        return self.error is None and self.fixed != self.original


def split_lines(text: str) -> list[str]:
    """Lines with their own endings, split only where Python's tokenizer would."""
    return _LINE.findall(text)


def _offsets(lines: list[str]) -> list[int]:
    starts, total = [], 0
    for line in lines:
        starts.append(total)
        total += len(line)
    starts.append(total)
    return starts


def _offset(starts: list[int], lines: list[str], line: int, column: int) -> int | None:
    if line < 1 or line > len(lines) + 1:
        return None
    if line == len(lines) + 1:
        return starts[-1] if column == 1 else None
    limit = len(lines[line - 1])
    col = column - 1
    if col < 0 or col > limit:
        return None
    return starts[line - 1] + col


def apply_edits(text: str, findings: Iterable[Finding]) -> tuple[str, int, int]:
    """Apply non-overlapping fixes in position order; returns (text, applied, skipped)."""
    lines = split_lines(text)
    starts = _offsets(lines)
    edits = []
    skipped = 0
    for finding in sorted(findings, key=Finding.sort_key):
        if finding.fix is None:
            continue
        start = _offset(starts, lines, finding.line, finding.column)
        end = _offset(starts, lines, finding.end_line, finding.end_column)
        if start is None or end is None or end < start:
            skipped += 1
            continue
        edits.append((start, end, finding.fix))
    edits.sort(key=lambda e: (e[0], e[1]))
    pieces, cursor, applied = [], 0, 0
    for start, end, replacement in edits:
        if start < cursor:  # overlaps an edit already taken
            skipped += 1
            continue
        pieces.append(text[cursor:start])
        pieces.append(replacement)
        cursor = end
        applied += 1
    pieces.append(text[cursor:])
    return "".join(pieces), applied, skipped


def _encoding_of(data: bytes) -> tuple[str, bool]:
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    bom = data.startswith(codecs.BOM_UTF8)
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    return encoding, bom


def fix_file(path: str, findings: Iterable[Finding]) -> FixOutcome:
    """Compute the fixed text of ``path``; never writes (see :func:`write_fixed`)."""
    import libcst as cst
    from clsaudit.notebook import is_notebook
    from clsaudit.notebook_magics import neutralise

    if is_notebook(path):
        from clsaudit.notebook_fix import fix_notebook

        return fix_notebook(path, findings)
    with open(path, "rb") as handle:
        data = handle.read()
    encoding, bom = _encoding_of(data)
    text = data.decode(encoding)
    if bom and text.startswith("\ufeff"):
        text = text[1:]
    fixed, applied, skipped = apply_edits(text, findings)
    outcome = FixOutcome(path, text, fixed, applied, skipped, encoding=encoding, bom=bom)
    if fixed != text:
        try:
            cst.parse_module(neutralise(fixed))  # IPython lines as the parser saw them
        except Exception as exc:  # noqa: BLE001 - any parser failure refuses the fix
            outcome.error = f"fixes would not parse, file left unchanged ({type(exc).__name__})"
            outcome.fixed = text
            return outcome
        try:
            fixed.encode(encoding)
        except UnicodeEncodeError:
            outcome.error = f"fixed text cannot be encoded as {encoding}, file left unchanged"
            outcome.fixed = text
    return outcome


def write_fixed(outcome: FixOutcome) -> None:
    """Replace the file atomically, keeping encoding, BOM and permissions."""
    data = outcome.fixed.encode(outcome.encoding)
    if outcome.bom:
        data = codecs.BOM_UTF8 + data
    atomic_write(outcome.path, data, keep_mode_of=outcome.path, prefix=".clsaudit-fix-")


def unified_diff(outcome: FixOutcome) -> str:
    return "".join(
        difflib.unified_diff(
            outcome.original.splitlines(keepends=True),
            outcome.fixed.splitlines(keepends=True),
            fromfile=f"a/{outcome.path}",
            tofile=f"b/{outcome.path}",
        )
    )
