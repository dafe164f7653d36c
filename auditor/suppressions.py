"""Suppression comments: ``# clsaudit: ignore[...]``, ``# noqa: CLS...``, ``ignore-file``.

Suppressions are read from comment tokens, not raw lines, so that the text
inside a string literal (a docstring explaining the syntax) suppresses
nothing. The tokenizer runs only for files that contain a marker at all,
which keeps the common path a substring test.

A gate must not open by accident, so the forms are strict:

- ``# clsaudit: ignore[CLS101,CLS2]`` and ``# noqa: CLS101`` suppress those
  codes (or prefixes) on their line; ``# noqa`` without codes, and codes of
  other tools in a ``noqa``, are left to those tools;
- ``# clsaudit: ignore`` suppresses everything on its line only when
  written exactly so (nothing after it but another comment);
- ``# clsaudit: ignore-file[CODES]`` suppresses those codes in the whole
  file, a bare ``# clsaudit: ignore-file`` everything;
- any other spelling (``ignore CLS205``, ``ignore: CLS205``) and any code
  that names no rule is an error that names the nearest valid form.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from clsaudit.findings import Finding

MARKERS = ("clsaudit:", "noqa")
_DIRECTIVE = re.compile(
    r"#\s*clsaudit:\s*(?P<kind>ignore-file|ignore)(?![\w-])(?:\[(?P<codes>[^\]]*)\])?(?P<rest>[^#]*)",
    re.IGNORECASE,
)
_NOQA = re.compile(r"#\s*noqa\s*:\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*)", re.I)
_CODE_SHAPE = re.compile(r"^CLS\d{0,3}$")


@dataclass
class Directive:
    """One suppression comment: its line, its text, and the codes it names (None = all)."""

    line: int
    text: str
    codes: tuple[str, ...] | None
    whole_file: bool = False
    used: set[str] = field(default_factory=set)  # codes (or "*") that suppressed something


@dataclass
class Suppressions:
    directives: list[Directive] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)

    def covering(self, finding: Finding) -> tuple[Directive, str] | None:
        """The directive and code (``*`` for all) that suppress ``finding``, if any."""
        for directive in self.directives:
            if not directive.whole_file and directive.line != finding.line:
                continue
            if directive.codes is None:
                return directive, "*"
            for code in directive.codes:
                if finding.code.startswith(code):
                    return directive, code
        return None

    def covers(self, finding: Finding) -> bool:
        return self.covering(finding) is not None


@dataclass(frozen=True)
class Unused:
    """A suppression that suppressed nothing in this run."""

    line: int
    text: str
    codes: tuple[str, ...]  # the unused codes; empty for a bare ignore


def _comments(text: str) -> list[tuple[int, str]]:
    """(line, comment) pairs; a line scan instead if tokenizing fails anywhere."""
    found = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and any(m in tok.string.lower() for m in MARKERS):
                found.append((tok.start[0], tok.string))
        return found
    except (tokenize.TokenError, IndentationError, SyntaxError):
        found = []
        for number, line in enumerate(text.splitlines(), start=1):
            index = line.find("#")
            if index >= 0 and any(m in line[index:].lower() for m in MARKERS):
                found.append((number, line[index:]))
        return found


def _check_codes(raw: Iterable[str], line: int, result: Suppressions) -> tuple[str, ...] | None:
    from clsaudit.config import unknown_code_problem

    codes = []
    for item in raw:
        code = item.strip().upper()
        if not code:
            continue
        problem = (
            f"{item.strip()!r} is not a rule code or prefix (like CLS101 or CLS2)"
            if not _CODE_SHAPE.match(code)
            else unknown_code_problem(code)
        )
        if problem:
            result.errors.append((line, f"suppression: {problem}"))
            return None
        codes.append(code)
    return tuple(codes)


def _directive(match: re.Match, line: int, result: Suppressions) -> None:
    kind = match.group("kind").lower()
    raw, rest = match.group("codes"), match.group("rest").strip()
    text = match.group(0).strip()
    if (raw is None and rest) or (raw is not None and not raw.strip()):
        example = f"# clsaudit: {kind}[CLS101]"
        result.errors.append(
            (line, f"suppression {text!r} is not understood: write {example!r} "
                   f"(codes in brackets) or a bare '# clsaudit: {kind}'")
        )
        return
    codes = None if raw is None else _check_codes(raw.split(","), line, result)
    if raw is not None and codes is None:
        return
    result.directives.append(Directive(line, text, codes, whole_file=kind == "ignore-file"))


def parse_suppressions(text: str) -> Suppressions:
    """Collect every directive in ``text``; cheap when there is none."""
    result = Suppressions()
    lowered = text.lower()
    if not any(marker in lowered for marker in MARKERS):
        return result
    for line, comment in _comments(text):
        for match in _DIRECTIVE.finditer(comment):
            _directive(match, line, result)
        for match in _NOQA.finditer(comment):
            ours = [c for c in re.split(r"[\s,]+", match.group("codes")) if c.upper().startswith("CLS")]
            if ours:
                codes = _check_codes(ours, line, result)
                if codes:
                    result.directives.append(Directive(line, match.group(0).strip(), codes))
    return result


def apply_suppressions(
    findings: list[Finding], suppressions: Suppressions
) -> list[Finding]:
    """The findings no directive covers; marks what each directive used."""
    kept = []
    for finding in findings:
        hit = suppressions.covering(finding)
        if hit is None:
            kept.append(finding)
        else:
            hit[0].used.add(hit[1])
    return kept


def unused_suppressions(
    suppressions: Suppressions, enabled: Callable[[str], bool]
) -> list[Unused]:
    """Directives (or codes in them) that suppressed nothing; disabled codes are not counted."""
    unused = []
    for directive in suppressions.directives:
        if directive.codes is None:
            if "*" not in directive.used:
                unused.append(Unused(directive.line, directive.text, ()))
            continue
        idle = tuple(c for c in directive.codes if c not in directive.used and enabled(c))
        if idle:
            unused.append(Unused(directive.line, directive.text, idle))
    return unused


def filter_suppressed(findings: list[Finding], text: str) -> list[Finding]:
    """The findings of one file that no comment in ``text`` suppresses."""
    if not findings:
        return findings
    return apply_suppressions(findings, parse_suppressions(text))
