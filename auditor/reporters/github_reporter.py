"""``--format github``: GitHub Actions workflow commands, one annotation per finding.

GitHub resolves ``file=`` against the repository root, so paths are
relative to ``GITHUB_WORKSPACE`` when it is set (the checkout in Actions),
else to the enclosing git work tree, whatever the working directory.
Notebook findings carry the line within the cell and name the cell in
the title.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from clsaudit.reporters import ReportOptions
from clsaudit.reporters.locations import relative_posix, repository_root, shown

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.engine import CheckResult

LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, path: str, props: dict[str, object], title: str, message: str) -> str:
    fields = [f"file={escape_property(path)}"]
    fields += [f"{key}={value}" for key, value in props.items()]
    fields.append(f"title={escape_property(title)}")
    return f"::{level} {','.join(fields)}::{escape_data(message)}"


def workspace_root() -> Path:
    workspace = os.environ.get("GITHUB_WORKSPACE")
    return Path(os.path.abspath(workspace)) if workspace else repository_root()


def annotation_path(path: str, root: Path) -> str:
    return relative_posix(path, root) or Path(os.path.abspath(path)).as_posix()


def write(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    root = workspace_root()
    for f in result.findings:
        display = shown(f)
        props = {"line": display.line, "col": f.column}
        if display.end_cell == display.cell:
            props.update(endLine=display.end_line, endColumn=f.end_column)
        title = f"{f.code} {f.name}" + (f" (cell {display.cell})" if display.cell else "")
        level = LEVELS.get(f.severity, "warning")
        out.write(annotation(level, annotation_path(f.path, root), props, title, display.message))
        out.write("\n")
    for error in result.errors:
        from clsaudit.notebook import cell_location

        props: dict[str, object] = {}
        if error.line:
            cell = cell_location(error.path, error.line)
            props = {"line": cell[1] if cell else error.line, "col": error.column}
        path = annotation_path(error.path, root)
        out.write(annotation("error", path, props, "clsaudit error", error.message) + "\n")
    for missing in result.missing:
        out.write(annotation("error", annotation_path(missing, root), {}, "clsaudit error",
                             "path does not exist") + "\n")
