"""``--format json``: one array of findings with exactly the DESIGN keys.

File errors are not findings, so they are not in the array: the CLI prints
them to stderr (``path:line:col: error: ...``) and exits 2.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

from clsaudit.reporters import ReportOptions

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.engine import CheckResult


def write(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    json.dump([f.to_dict() for f in result.findings], out, indent=2)
    out.write("\n")
