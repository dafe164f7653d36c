"""Keep pathological sources away from libcst's native parser.

libcst's Rust parser recurses on the C stack: 2,000 nested brackets
segfault it, and a chain of a few thousand operators or trailers
(``1+1+...``, ``a[0][0]...``, ``a.b.b...``) takes seconds to minutes
(quadratic) before it crashes too (LibCST issues 619, 980, 1000). A crash
in the analysing process would lose every other file's result, so each
source is screened before it is parsed:

- :func:`looks_pathological` is a cheap, C-speed over-approximation (regex
  and ``str.translate``; under 2% of a parse) that clears ordinary files;
- :func:`screen` is the precise, tokenize-level check run only on the files
  the cheap one flags: nesting deeper than Python itself accepts (200) or an
  expression chain longer than :data:`MAX_CHAIN` is refused with a reason.

A flagged file that passes the precise screen is still parsed in a child
process (see :mod:`clsaudit.isolation`), so an unforeseen crash costs only
that file. The limits follow CPython 3.11: it rejects more than 200 nested
brackets and raises RecursionError on chains of about 3,000 links.
"""

from __future__ import annotations

import io
import re
import tokenize
from itertools import accumulate

MAX_DEPTH = 200  # CPython's tokenizer refuses deeper bracket nesting
MAX_CHAIN = 2_000  # libcst needs ~2 s at 2,000 links, CPython fails near 3,000
DEFAULT_MAX_FILE_MB = 3.0  # generated code and data dumps; 2.6 MB cost libcst 1.46 GB

# Characters that may link one chain element to the next: binary and unary
# operators, attribute access, calls and subscripts.
_CHAIN_CHAR = re.compile(r"[-+*/%@&|^~.(\[<>]")
_BRACKET = re.compile(r"[()\[\]{}]")
_DEPTH_STEP = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
# Depth at which the cheap scan hands over to the precise one: strings and
# comments may hold brackets, so the rough depth can overstate the real one.
_ROUGH_DEPTH = MAX_DEPTH // 2


def looks_pathological(text: str) -> bool:
    """True when ``text`` might nest too deep or chain too long (cheap, may over-report).

    Never under-reports a bracketed chain or deep nesting: a chain of N links
    needs N link characters within one top-level bracketed region or one
    physical line, and real nesting never exceeds the rough count.
    """
    brackets = _BRACKET.findall(text)
    if brackets and max(accumulate(_DEPTH_STEP[b] for b in brackets)) > _ROUGH_DEPTH:
        return True
    if len(_CHAIN_CHAR.findall(text)) <= MAX_CHAIN:
        return False  # the whole file has too few links for one long chain
    for line in text.splitlines():
        if len(line) > MAX_CHAIN and len(_CHAIN_CHAR.findall(line)) > MAX_CHAIN:
            return True
    depth, start = 0, 0
    for match in _BRACKET.finditer(text):
        step = _DEPTH_STEP[match.group()]
        if depth == 0 and step > 0:
            start = match.start()
        depth = max(0, depth + step)
        if depth == 0 and match.start() - start > MAX_CHAIN:
            region = text[start : match.start()]
            if len(_CHAIN_CHAR.findall(region)) > MAX_CHAIN:
                return True
    if depth > 0 and len(text) - start > MAX_CHAIN:
        return True  # an unclosed bracket: let the precise screen decide
    return False


_OPEN, _CLOSE = "([{", ")]}"
_RESET = {",", ":", ";", "=", ":=", "->"} | {
    op + "=" for op in ("+", "-", "*", "/", "//", "%", "@", "&", "|", "^", ">>", "<<", "**")
}
# Binding strength of the operators that build left-deep chains: an operator
# ends the chains of the operators that bind tighter (`a*b + c*d` is a chain of
# two sums, not of three links), so only same-level repetition counts.
_LEVEL = {
    **dict.fromkeys(("<", ">", "==", "!=", "<=", ">="), 1),
    "|": 2,
    "^": 3,
    "&": 4,
    **dict.fromkeys(("<<", ">>"), 5),
    **dict.fromkeys(("+", "-"), 6),
    **dict.fromkeys(("*", "/", "//", "%", "@"), 7),
    "~": 8,
    "**": 9,
    ".": 10,
}
_TRAILER = 10  # calls and subscripts chain like attribute access


class _Level:
    """Chain lengths per binding strength inside one pair of brackets."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = [0] * (_TRAILER + 1)

    def add(self, level: int) -> int:
        counts = self.counts
        counts[level] += 1
        for tighter in range(level + 1, _TRAILER + 1):
            counts[tighter] = 0
        return counts[level]

    def reset(self) -> None:
        self.counts = [0] * (_TRAILER + 1)


def screen(text: str) -> str | None:
    """Why libcst must not parse ``text`` ("nesting too deep (...)"), or None.

    Tokenize-level: tracks bracket depth and, per bracket level and binding
    strength, the length of the current chain of operators and trailers. A
    tokenize error is not a reason: the parser reports syntax errors better,
    and the caller parses flagged files in a child process anyway.
    """
    levels = [_Level()]
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NEWLINE:
                levels = [_Level()]
                continue
            if token.type != tokenize.OP:
                continue
            op = token.string
            if op in _OPEN:
                if len(levels) > MAX_DEPTH:
                    return (
                        f"nesting too deep (more than {MAX_DEPTH} levels of brackets at line "
                        f"{token.start[0]}; Python allows {MAX_DEPTH})"
                    )
                length = levels[-1].add(_TRAILER)  # a call or subscript extends the chain
                levels.append(_Level())
            elif op in _CLOSE:
                if len(levels) > 1:
                    levels.pop()
                continue
            elif op in _RESET:
                levels[-1].reset()
                continue
            elif op in _LEVEL:
                length = levels[-1].add(_LEVEL[op])
            else:
                continue
            if length > MAX_CHAIN:
                return (
                    f"expression too long (more than {MAX_CHAIN} chained operations at line "
                    f"{token.start[0]})"
                )
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None
    return None


def too_large(size: int, limit_mb: float) -> str | None:
    """The refusal for a file of ``size`` bytes over ``limit_mb``, or None."""
    if limit_mb > 0 and size > limit_mb * 1024 * 1024:
        return (
            f"file too large ({size / (1024 * 1024):.1f} MB > {limit_mb:g} MB limit; "
            "raise it with --max-file-size)"
        )
    return None
