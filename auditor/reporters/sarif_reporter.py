"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning.

Every enabled rule is listed in ``tool.driver.rules`` (code scanning shows
the rule's help next to each alert). Columns are code points, declared with
``columnKind``. Locations are relative to the repository root (the folder
with ``.git``, else the project root) with ``uriBaseId: "%SRCROOT%"``,
which ``originalUriBaseIds`` resolves to an absolute ``file:`` URI; paths
are percent-encoded. ``partialFingerprints`` hashes the code, the
repository-relative path, the whitespace-normalised source line and the
occurrence index, so an alert survives unrelated edits that move it and a
change of working directory. Every file that could not be checked (not
found, unreadable, unparsable, a bad suppression) gets a
``toolExecutionNotification`` and ``executionSuccessful`` is false.

Notebooks: ``region`` lines are lines within the cell, and the location's
``properties`` carry ``cell`` (counted from 1 over all cells); the
fingerprint includes the cell.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from clsaudit import __version__
from clsaudit.findings import FileError, Finding
from clsaudit.reporters import HOMEPAGE, ReportOptions
from clsaudit.reporters.locations import encode_uri_path, relative_posix, repository_root, shown

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.engine import CheckResult
    from clsaudit.rule import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
FINGERPRINT_KEY = "clsaudit/v1"


SOURCE_ROOT = "%SRCROOT%"


def artifact_location(path: str, root: Path) -> dict[str, Any]:
    """A percent-encoded URI relative to ``root`` (with its base id), else an absolute file URI."""
    rel = relative_posix(path, root)
    if rel is None:
        return {"uri": Path(os.path.abspath(path)).as_uri()}
    return {"uri": encode_uri_path(rel), "uriBaseId": SOURCE_ROOT}


def artifact_uri(path: str, root: Path | None = None) -> str:
    return artifact_location(path, root or repository_root())["uri"]


def first_paragraph(doc: str, section: str) -> str:
    match = re.search(rf"^##+\s*{re.escape(section)}\??\s*$(.*?)(?=^##|\Z)", doc, re.MULTILINE | re.DOTALL)
    text = match.group(1).strip() if match else ""
    return text.split("\n\n")[0].replace("\n", " ").strip()


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    doc = getattr(rule, "doc", "") or ""
    full = first_paragraph(doc, "What it does") or rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": full},
        "help": {"text": doc or rule.summary, "markdown": doc or rule.summary},
        "defaultConfiguration": {"level": LEVELS.get(rule.severity, "warning")},
        "properties": {
            "tags": ["pytorch", "image-classification", "correctness"],
            "precision": "high",
            "fixable": bool(getattr(rule, "fixable", False)),
        },
    }


def fingerprint(finding: Finding, line_text: str, occurrence: int, root: Path | None = None) -> str:
    """Independent of the working directory: the path is taken from the repository root."""
    normalised = " ".join(line_text.split())
    where = artifact_uri(finding.path, root)
    cell = shown(finding).cell
    if cell is not None:
        where += f"#cell{cell}"
    blob = f"{finding.code}\0{where}\0{normalised}\0{occurrence}"
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def sarif_result(
    finding: Finding, index: int, line_text: str, occurrence: int, root: Path | None = None
) -> dict[str, Any]:
    root = root or repository_root()
    display = shown(finding)
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": artifact_location(finding.path, root),
            "region": {
                "startLine": display.line,
                "startColumn": finding.column,
                "endLine": display.end_line if display.end_cell == display.cell else display.line,
                "endColumn": finding.end_column if display.end_cell == display.cell else finding.column + 1,
            },
        }
    }
    if display.cell is not None:
        location["properties"] = {"cell": display.cell}
    return {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": LEVELS.get(finding.severity, "warning"),
        "message": {"text": display.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding, line_text, occurrence, root)},
    }


def notification(error: FileError, root: Path | None = None) -> dict[str, Any]:
    from clsaudit.notebook import cell_location

    location: dict[str, Any] = {"artifactLocation": artifact_location(error.path, root or repository_root())}
    if error.line:
        cell = cell_location(error.path, error.line)
        line = cell[1] if cell else error.line
        location["region"] = {"startLine": line, "startColumn": max(1, error.column)}
        if cell:
            location["properties"] = {"cell": cell[0]}
    return {
        "level": "error",
        "message": {"text": f"{error.path}: not checked: {error.message}"},
        "locations": [{"physicalLocation": location}],
    }


def missing_notification(path: str, root: Path) -> dict[str, Any]:
    return {
        "level": "error",
        "message": {"text": f"{path}: not checked: path does not exist"},
        "locations": [{"physicalLocation": {"artifactLocation": artifact_location(path, root)}}],
    }


def build_log(result: CheckResult) -> dict[str, Any]:
    root = repository_root()
    rules = list(result.rules)
    known = {rule.code for rule in rules}
    # A finding from a rule outside the run's list (should not happen) still gets a descriptor.
    for finding in result.findings:
        if finding.code not in known:
            known.add(finding.code)
            rules.append(_StubRule(finding))
    index = {rule.code: i for i, rule in enumerate(rules)}
    seen: Counter = Counter()
    lines_cache: dict[str, list[str]] = {}
    results = []
    for finding in result.findings:
        if finding.path not in lines_cache:
            lines_cache[finding.path] = result.source_lines(finding.path)
        lines = lines_cache[finding.path]
        text = lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""
        key = (finding.code, finding.path, " ".join(text.split()))
        results.append(sarif_result(finding, index[finding.code], text, seen[key], root))
        seen[key] += 1
    invocation = {
        "executionSuccessful": not result.errors and not result.missing,
        "toolExecutionNotifications": [notification(e, root) for e in result.errors]
        + [missing_notification(path, root) for path in result.missing],
    }
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "clsaudit",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": HOMEPAGE,
                        "rules": [rule_descriptor(rule) for rule in rules],
                    }
                },
                "originalUriBaseIds": {SOURCE_ROOT: {"uri": root.as_uri().rstrip("/") + "/"}},
                "invocations": [invocation],
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


class _StubRule:
    def __init__(self, finding: Finding) -> None:
        self.code = finding.code
        self.name = finding.name
        self.severity = finding.severity
        self.summary = finding.name
        self.doc = ""
        self.fixable = False


def write(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    json.dump(build_log(result), out, indent=2)
    out.write("\n")
