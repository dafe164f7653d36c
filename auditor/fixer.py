"""``--fix`` and ``--diff``: apply the replacement text findings carry.

A fix replaces the exact span ``[line:column, end_line:end_column)`` of
its finding (1-based, end exclusive, columns in characters), or the span in
its ``fix_span`` when the edit lies elsewhere (a statement inserted above
another one, e.g. ``optimizer.zero_grad()`` at the top of a loop body). Edits are
applied only if they do not overlap an earlier one, the result must parse,
and the file is rewritten atomically with its original encoding, byte
order mark and line endings, so that ``--fix`` edits only what it reports.

A fix must never lose the user's work. Offsets are only valid for the
bytes that were analysed, so the file is re-read and compared with their
digest before fixing and again just before writing; a file edited in the
meantime is left alone ("changed since it was checked"). The write goes
through a symlink to its target, keeps mode, owner and group, writes a
hard-linked file in place (every link sees the fix), and refuses a
read-only file; a read-only folder is a per-file error, not a crash.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import io
import os
import re
import stat
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, replace

from clsaudit.atomic_write import OwnershipLost, atomic_write, write_in_place
from clsaudit.findings import Finding

STALE = "file changed since it was checked; not fixed (run clsaudit again)"

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
    stale: bool = False  # edited since it was analysed: skipped, exit 1
    data: bytes = b""  # the bytes the fix was computed from
    target: str = ""  # the file written: a symlink's target

    @property
    def changed(self) -> bool:
        return self.error is None and self.fixed != self.original


def withhold_unsafe(result, unsafe_fixes: bool):
    """Without ``--unsafe-fixes``, findings whose fix may change behaviour carry no fix at all.

    Done on the result, before any reporter or the fixer sees it, so that the
    ``[*]`` marks, the "fixable" count, ``--diff``, ``--fix`` and the JSON
    ``fix`` field all agree on what would be applied.
    """
    if unsafe_fixes:
        return result
    if any(f.fix_unsafe for f in result.findings):
        result.findings = [
            replace(f, fix=None, fix_span=None, fix_unsafe=False) if f.fix_unsafe else f
            for f in result.findings
        ]
    return result


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
        line, column, end_line, end_column = finding.fix_location()
        start = _offset(starts, lines, line, column)
        end = _offset(starts, lines, end_line, end_column)
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


def fix_file(path: str, findings: Iterable[Finding], expected_digest: str | None = None) -> FixOutcome:
    """Compute the fixed text of ``path``; never writes (see :func:`write_fixed`).

    ``expected_digest`` is the sha256 of the bytes the findings were
    computed from: other bytes make the outcome ``stale`` and unchanged.
    """
    import libcst as cst
    from clsaudit.notebook import is_notebook
    from clsaudit.notebook_magics import neutralise
    from clsaudit.safe_read import SourceError, read_source

    target = os.path.realpath(path)
    try:
        data = read_source(target)
    except SourceError as exc:
        return FixOutcome(path, "", "", 0, 0, error=str(exc), target=target)
    if expected_digest and hashlib.sha256(data).hexdigest() != expected_digest:
        return FixOutcome(path, "", "", 0, 0, error=STALE, stale=True, data=data, target=target)
    if is_notebook(path):
        from clsaudit.notebook_fix import fix_notebook

        outcome = fix_notebook(path, findings)
        outcome.data, outcome.target = data, target  # written only over the bytes analysed
        return outcome
    try:
        encoding, bom = _encoding_of(data)
        text = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return FixOutcome(path, "", "", 0, 0, error="cannot decode file; not fixed", target=target)
    if bom and text.startswith("\ufeff"):
        text = text[1:]
    fixed, applied, skipped = apply_edits(text, findings)
    outcome = FixOutcome(
        path, text, fixed, applied, skipped, encoding=encoding, bom=bom, data=data, target=target
    )
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


def write_fixed(outcome: FixOutcome) -> str | None:
    """Write the fixed bytes; returns why the file was left alone, or None when written.

    Sets ``outcome.stale`` when the file changed since the fix was computed.
    """
    data = outcome.fixed.encode(outcome.encoding)
    if outcome.bom:
        data = codecs.BOM_UTF8 + data
    target = outcome.target or os.path.realpath(outcome.path)
    try:
        info = os.stat(target)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file any more; not fixed"
        if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            return "file is read-only; not fixed"
        with open(target, "rb") as handle:
            current = handle.read()
    except OSError as exc:
        return f"cannot fix: {exc.strerror or exc}"
    if current != outcome.data:
        outcome.stale = True
        return STALE
    try:
        if info.st_nlink > 1:
            write_in_place(target, data)  # every hard link sees the fix
            return None
        try:
            atomic_write(target, data, keep_mode_of=target, keep_owner=True,
                         prefix=".clsaudit-fix-")
        except OwnershipLost:
            write_in_place(target, data)  # another user's file stays theirs
    except PermissionError as exc:
        where = "folder" if not os.access(os.path.dirname(target) or ".", os.W_OK) else "file"
        return f"cannot write fixes: {where} is not writable ({exc.strerror})"
    except OSError as exc:
        return f"cannot write fixes: {exc.strerror or exc}"
    return None


def unified_diff(outcome: FixOutcome) -> str:
    return "".join(
        difflib.unified_diff(
            outcome.original.splitlines(keepends=True),
            outcome.fixed.splitlines(keepends=True),
            fromfile=f"a/{outcome.path}",
            tofile=f"b/{outcome.path}",
        )
    )
