"""``--format json``: every number, indented for reading, with lists of numbers kept on one line.

Fully indented, a 1,000-class report puts each of its two million matrix
cells on a line of its own (14 MB, and seconds to write); compact, a
10-class report is one unreadable line. A matrix row per line is both
small and readable, and is still plain JSON for ``jq`` or ``json.load``.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any, indent: int = 1, level: int = 0) -> str:
    """``json.dumps`` with ``indent``, except that a list of numbers or strings stays on one line.

    The report's lists are uniform (all numbers, all rows, all records), so
    the first item says what a list holds.
    """
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(key))}: {dumps(item, indent, level + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and isinstance(value[0], (list, dict)):  # lists are uniform
        items = [inner + dumps(item, indent, level + 1) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value)
