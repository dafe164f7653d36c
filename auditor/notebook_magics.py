"""IPython syntax made parseable without moving a line.

Notebook cells and the ``.py`` files exported from them carry lines that
are not Python: line magics (``%matplotlib inline``), shell escapes
(``!pip install timm``, ``files = !ls``), help (``model?``) and cell magics
(``%%bash``). Old training scripts also carry ``x.cuda(async=True)``, a
keyword that has been reserved since Python 3.7. Each such line is
rewritten in place, on the same line and at the same indentation, so that
every finding's line number is the user's own. The rewrite is attempted
only when the text does not parse as it is, so valid Python (a docstring
line that ends in ``?``, a ``%`` continuation line) is never touched.

ruff parses IPython syntax in its own grammar; libcst cannot, so we
neutralise instead (the idea, not the code, is ruff's).
"""

from __future__ import annotations

import ast
import re
import warnings

# Cell magics whose body is Python: only the ``%%`` line is neutralised.
PYTHON_CELL_MAGICS = frozenset(
    {"time", "timeit", "capture", "prun", "debug", "memit", "mprun", "python", "python3", "pypy"}
)
# Lines that may be IPython: only files with one pay for a trial parse.
_CANDIDATE = re.compile(
    r"^[ \t]*[!%?]|=[ \t]*[!%][^=]|^[ \t]*[A-Za-z_][\w.]*(?:\(\))?[ \t]*\?\??[ \t]*$"
    r"|\basync[ \t]*=[^=]",
    re.MULTILINE,
)
_ESCAPE = re.compile(r"^([ \t]*)([!%?].*)$")
_ASSIGN = re.compile(r"^([ \t]*)([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*[ \t]*=)[ \t]*([!%].*)$")
_HELP = re.compile(r"^([ \t]*)([A-Za-z_][\w.]*(?:\(\))?[ \t]*\?\??)[ \t]*$")
_ASYNC_KEYWORD = re.compile(r"([(,][ \t]*)async(?=[ \t]*=(?!=))")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split only at ``\\n``, ``\\r\\n`` and ``\\r`` as Python does."""
    return _LINE.findall(text)


def parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _ending(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body):]


def _neutral_line(body: str) -> str:
    """One IPython line as Python at the same indentation, or ``body`` unchanged."""
    match = _ASSIGN.match(body)
    if match:
        return f"{match.group(1)}{match.group(2)} None  # {match.group(3)}"
    match = _ESCAPE.match(body) or _HELP.match(body)
    if match:
        return f"{match.group(1)}pass  # {match.group(2)}"
    return _ASYNC_KEYWORD.sub(r"\1Async", body)


def neutralise(text: str, *, cell: bool = False) -> str:
    """``text`` with IPython-only lines made Python; unchanged when it already parses.

    ``cell`` says ``text`` is a whole notebook cell, where a first line
    ``%%bash`` makes the rest of the cell another language (commented out).
    """
    if not _CANDIDATE.search(text) or parses(text):
        return text
    lines = split_lines(text)
    out = []
    foreign = False
    for index, line in enumerate(lines):
        body, end = _ending(line)
        if foreign:
            out.append(("# " + body if body.strip() else body) + end)
            continue
        stripped = body.lstrip()
        if cell and stripped.startswith("%%") and not any(x.strip() for x in lines[:index]):
            name = stripped[2:].split(maxsplit=1)[0] if stripped[2:].strip() else ""
            foreign = name not in PYTHON_CELL_MAGICS
            out.append(f"{body[:len(body) - len(stripped)]}pass  # {stripped}{end}")
            continue
        out.append(_neutral_line(body) + end)
    return "".join(out)
