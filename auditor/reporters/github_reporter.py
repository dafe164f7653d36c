"""``--format github``: GitHub Actions workflow commands, one annotation per finding."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from clsaudit.reporters import ReportOptions

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


def write(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    for f in result.findings:
        props = {"line": f.line, "col": f.column, "endLine": f.end_line, "endColumn": f.end_column}
        title = f"{f.code} {f.name}"
        out.write(annotation(LEVELS.get(f.severity, "warning"), f.path, props, title, f.message))
        out.write("\n")
    for error in result.errors:
        props = {"line": error.line, "col": error.column} if error.line else {}
        out.write(annotation("error", error.path, props, "clsaudit error", error.message) + "\n")
