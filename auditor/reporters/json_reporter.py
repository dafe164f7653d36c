"""``--format json``: one array of findings with exactly the DESIGN keys.

Notebook findings follow the notebook's own numbering: ``line`` and
``end_line`` count within the cell, and three keys are added: ``cell``
(counted from 1 over all cells, markdown included, as ruff counts),
``end_cell``, and ``joined_line`` (the line in the joined text of the
code cells that clsaudit checked). Findings in ``.py`` files have exactly
the DESIGN keys.

File errors are not findings, so they are not in the array: the CLI prints
them to stderr (``path:line:col: error: ...``) and exits 2.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from clsaudit.findings import Finding
from clsaudit.reporters import ReportOptions
from clsaudit.reporters.locations import shown

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.engine import CheckResult


def finding_object(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    data.pop("fix_span", None)  # where the fix goes is the fixer's business, not a DESIGN key
    data.pop("fix_unsafe", None)  # an unsafe fix is withheld (fix: null) unless --unsafe-fixes
    display = shown(finding)
    if display.cell is None:
        return data
    data.update(line=display.line, end_line=display.end_line, message=display.message)
    data.update(cell=display.cell, end_cell=display.end_cell, joined_line=finding.line)
    return data


def write(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    json.dump([finding_object(f) for f in result.findings], out, indent=2)
    out.write("\n")
