"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning.

Every enabled rule is listed in ``tool.driver.rules`` (code scanning shows
the rule's help next to each alert). Columns are code points, declared with
``columnKind``. ``partialFingerprints`` hashes the code, the path, the
whitespace-normalised source line and the occurrence index, so an alert
survives unrelated edits that move it to another line. File errors become
``toolExecutionNotifications`` with ``executionSuccessful: false``.
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

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.engine import CheckResult
    from clsaudit.rule import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
FINGERPRINT_KEY = "clsaudit/v1"


def artifact_uri(path: str) -> str:
    """Relative to the working directory (the repository root in CI), forward slashes."""
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, os.getcwd())
    if rel.startswith(".."):
        return Path(absolute).as_uri()
    return Path(rel).as_posix()


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


def fingerprint(finding: Finding, line_text: str, occurrence: int) -> str:
    normalised = " ".join(line_text.split())
    blob = f"{finding.code}\0{artifact_uri(finding.path)}\0{normalised}\0{occurrence}"
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def sarif_result(finding: Finding, index: int, line_text: str, occurrence: int) -> dict[str, Any]:
    return {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": LEVELS.get(finding.severity, "warning"),
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(finding.path)},
                    "region": {
                        "startLine": finding.line,
                        "startColumn": finding.column,
                        "endLine": finding.end_line,
                        "endColumn": finding.end_column,
                    },
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding, line_text, occurrence)},
    }


def notification(error: FileError) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(error.path)}}
    if error.line:
        location["region"] = {"startLine": error.line, "startColumn": max(1, error.column)}
    return {
        "level": "error",
        "message": {"text": error.message},
        "locations": [{"physicalLocation": location}],
    }


def build_log(result: CheckResult) -> dict[str, Any]:
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
        results.append(sarif_result(finding, index[finding.code], text, seen[key]))
        seen[key] += 1
    invocation = {
        "executionSuccessful": not result.errors and not result.missing,
        "toolExecutionNotifications": [notification(e) for e in result.errors],
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
