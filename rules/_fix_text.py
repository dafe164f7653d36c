"""Source text for the fixes that rewrite a reported node's span.

A fix replaces exactly the span of the node a finding points at (see
``clsaudit.fixer``). Rules that insert a statement, or change one part of a
statement, build the replacement from the original text of that span, so
comments, spacing and string contents inside it are kept byte for byte;
regenerating the node with libcst would drop the comments above it.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from clsaudit.fixer import split_lines


def _offsets(semantic: Any, node: Any) -> Optional[tuple[int, int]]:
    """Character offsets of ``node``'s span in the file, or None if it has no position."""
    pos = semantic.positions().get(node)
    if pos is None:
        return None
    lines = split_lines(semantic.source)
    starts, total = [], 0
    for line in lines:
        starts.append(total)
        total += len(line)
    starts.append(total)
    if pos.start.line > len(lines) or pos.end.line > len(lines) + 1:
        return None
    return starts[pos.start.line - 1] + pos.start.column, starts[pos.end.line - 1] + pos.end.column


def text_of(semantic: Any, node: Any) -> Optional[str]:
    """The original text of ``node``'s span."""
    where = _offsets(semantic, node)
    return None if where is None else semantic.source[where[0]:where[1]]


def replace_inside(semantic: Any, outer: Any, inner: Any, new_inner: str) -> Optional[str]:
    """``outer``'s original text with ``inner``'s span (inside it) replaced by ``new_inner``."""
    whole, part = _offsets(semantic, outer), _offsets(semantic, inner)
    if whole is None or part is None or not (whole[0] <= part[0] <= part[1] <= whole[1]):
        return None
    source = semantic.source
    return source[whole[0]:part[0]] + new_inner + source[part[1]:whole[1]]


def indent_of(semantic: Any, node: Any) -> Optional[str]:
    """The whitespace before ``node`` on its line; None when code precedes it (``a; b``)."""
    where = _offsets(semantic, node)
    if where is None:
        return None
    source = semantic.source
    line_start = max(source.rfind("\n", 0, where[0]), source.rfind("\r", 0, where[0])) + 1
    prefix = source[line_start:where[0]]
    return prefix if prefix.strip(" \t") == "" else None


def newline_of(semantic: Any) -> str:
    """The file's line ending, so an inserted line matches its neighbours."""
    return semantic.module.default_newline


def insert_before(semantic: Any, statement_node: Any, statement: str) -> Optional[str]:
    """Replacement text for ``statement_node``'s span that puts ``statement`` on a line above it."""
    indent, text = indent_of(semantic, statement_node), text_of(semantic, statement_node)
    if indent is None or text is None:
        return None
    return f"{statement}{newline_of(semantic)}{indent}{text}"


DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\Z")


def mode_fix(semantic: Any, anchor: Any, ref: Optional[str], mode: str, call: Any) -> Optional[str]:
    """CLS202/CLS203: `ref.train()` / `ref.eval()` on the line above the reported loop.

    Only when the finding points at a whole loop statement, the model is a
    plain (dotted) name, and the model ``call`` is written inside that loop:
    a call in a helper names the model by the helper's parameter, which the
    loop's function may not have. An evaluation call inside an expression
    has no line of its own to go above.
    """
    from clsaudit.semantic.lazy import cst

    if ref is None or not DOTTED.match(ref) or not isinstance(anchor, (cst.For, cst.While)):
        return None
    outer, inner = _offsets(semantic, anchor), _offsets(semantic, call)
    if outer is None or inner is None or not (outer[0] <= inner[0] <= inner[1] <= outer[1]):
        return None
    return insert_before(semantic, anchor, f"{ref}.{mode}()")


def _string_interior_rows(text: str) -> Optional[set[int]]:
    """1-based rows of ``text`` that lie inside a multi-line string (their bytes are the string's).

    None when ``text`` does not tokenize: the caller then offers no fix.
    """
    import io
    import tokenize

    starts = {tokenize.STRING}
    fstring_start = getattr(tokenize, "FSTRING_START", None)  # 3.12+: f-strings are token runs
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    rows: set[int] = set()
    open_fstrings: list[int] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == fstring_start:
                open_fstrings.append(token.start[0])
                continue
            if token.type == fstring_end and open_fstrings:
                first = open_fstrings.pop()
                rows.update(range(first + 1, token.end[0] + 1))
                continue
            if token.type in starts and token.end[0] > token.start[0]:
                rows.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return None
    return rows


def wrap_in_with(semantic: Any, statement_node: Any, header: str) -> Optional[str]:
    """Replacement text for ``statement_node``'s span that nests it under ``header``.

    Every line of the statement gains one indentation unit (the file's own),
    except blank lines and lines inside multi-line strings, whose text is
    data and must not change.
    """
    indent, text = indent_of(semantic, statement_node), text_of(semantic, statement_node)
    if indent is None or text is None:
        return None
    interior = _string_interior_rows(indent + text)
    if interior is None:
        return None
    unit, newline = semantic.module.default_indent, newline_of(semantic)
    lines = split_lines(text)
    shifted = [lines[0]]
    for row, line in enumerate(lines[1:], start=2):
        keep = row in interior or line.strip() == ""
        shifted.append(line if keep else unit + line)
    return f"{header}{newline}{indent}{unit}" + "".join(shifted)
