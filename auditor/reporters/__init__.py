"""Output formats. Each lives in its own module, imported only when chosen,
so that the plain-text path never pays for json, SARIF or rich.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.engine import CheckResult

FORMATS = ("text", "json", "sarif", "github", "junit")
HOMEPAGE = "https://pypi.org/project/clsaudit/"


@dataclass(frozen=True)
class ReportOptions:
    color: bool = False
    quiet: bool = False
    statistics: bool = False
    severity: str = "warning"  # the failing threshold, for the summary line
    exit_code: int | None = None  # the run's exit code: the summary's colour follows it
    report_unused: bool = False  # list suppressions that suppressed nothing


def write_report(result: CheckResult, fmt: str, out: TextIO, options: ReportOptions) -> None:
    """Write ``result`` to ``out`` in ``fmt``; file errors go to the reporter too."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    module = importlib.import_module(f"clsaudit.reporters.{fmt}_reporter")
    module.write(result, out, options)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
