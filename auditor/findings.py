"""The records that flow from rules to reporters.

A rule reports a :class:`Report` (a libcst node plus a message); the engine
turns it into a :class:`Finding` with a path and 1-based positions. Findings
are plain data so that they cross process boundaries and the cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

SEVERITIES = ("info", "warning", "error")


def severity_rank(severity: str) -> int:
    """Order severities so that ``--severity warning`` means warning and up."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int  # 1-based, as every reporter prints it
    end_line: int
    end_column: int  # 1-based, exclusive like ruff's
    code: str
    name: str
    severity: str
    message: str
    fix: Optional[str] = None
    # (line, column, end_line, end_column) that ``fix`` replaces when it is not the
    # finding's own span: a statement inserted above another one. Not part of the JSON output.
    fix_span: Optional[tuple] = None
    # The fix may change what the program computes: applied only with --unsafe-fixes (ruff's
    # "unsafe" applicability). Not part of the JSON output either.
    fix_unsafe: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        span = data.get("fix_span")
        return cls(**{**data, "fix_span": tuple(span) if span else None})

    def fix_location(self) -> tuple[int, int, int, int]:
        """The span ``fix`` replaces."""
        return self.fix_span or (self.line, self.column, self.end_line, self.end_column)

    def sort_key(self) -> tuple:
        return (self.path, self.line, self.column, self.code)


@dataclass(frozen=True)
class Report:
    """What a rule hands back: the node the finding points at and its message.

    ``fix`` is the replacement source text for ``node`` when the edit is
    mechanical and safe, else None. ``fix_node``, when given, is the node whose
    span ``fix`` replaces instead (a statement inserted above another one).
    ``fix_unsafe`` marks a fix that may change behaviour (``--unsafe-fixes``).
    """

    node: Any  # libcst.CSTNode; typed loosely to keep this module import-free
    message: str
    fix: Optional[str] = None
    extra: dict = field(default_factory=dict, compare=False)
    fix_node: Any = None
    fix_unsafe: bool = False


@dataclass(frozen=True)
class FileError:
    """A file that could not be checked: unreadable, undecodable or unparsable."""

    path: str
    message: str
    line: int = 0
    column: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}:{self.column}"
        return f"{where}: error: {self.message}"
