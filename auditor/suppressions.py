"""``# clsaudit: ignore[...]`` comments.

Suppressions are read from comment tokens, not raw lines, so that the text
inside a string literal (a docstring explaining the syntax) suppresses
nothing. The tokenizer runs only for files that contain the marker at all,
which keeps the common path a single substring test.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field

from clsaudit.findings import Finding

MARKER = "clsaudit:"
_DIRECTIVE = re.compile(
    r"#\s*clsaudit:\s*(?P<kind>ignore-file|ignore)\b(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE
)


@dataclass
class Suppressions:
    """Per-line suppressed codes (``None`` = every code) and the file-wide flag."""

    whole_file: bool = False
    lines: dict[int, set[str] | None] = field(default_factory=dict)

    def covers(self, finding: Finding) -> bool:
        if self.whole_file:
            return True
        if finding.line not in self.lines:
            return False
        codes = self.lines[finding.line]
        return codes is None or any(finding.code.startswith(code) for code in codes)


def _comments(text: str) -> Iterable[tuple[int, str]]:
    """(line, comment) pairs; falls back to a line scan if tokenizing fails."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and MARKER in tok.string.lower():
                yield tok.start[0], tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        for number, line in enumerate(text.splitlines(), start=1):
            index = line.find("#")
            if index >= 0 and MARKER in line[index:].lower():
                yield number, line[index:]


def parse_suppressions(text: str) -> Suppressions:
    """Collect every directive in ``text``; cheap when there is none."""
    result = Suppressions()
    if MARKER not in text.lower():
        return result
    for line, comment in _comments(text):
        for match in _DIRECTIVE.finditer(comment):
            if match.group("kind").lower() == "ignore-file":
                result.whole_file = True
                continue
            raw = match.group("codes")
            if raw is None or not raw.strip():
                result.lines[line] = None
                continue
            codes = {c.strip().upper() for c in raw.split(",") if c.strip()}
            previous = result.lines.get(line, set())
            if previous is not None:
                result.lines[line] = previous | codes
    return result


def filter_suppressed(findings: list[Finding], text: str) -> list[Finding]:
    """The findings of one file that no comment in ``text`` suppresses."""
    if not findings:
        return findings
    suppressions = parse_suppressions(text)
    if not suppressions.whole_file and not suppressions.lines:
        return findings
    return [f for f in findings if not suppressions.covers(f)]
