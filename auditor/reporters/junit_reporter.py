"""``--format junit``: JUnit XML for CI systems that show test reports.

One ``<testsuite>`` per checked file, one failing ``<testcase>`` per
finding (named ``CODE at line:col``, or ``cell N, line L`` in a
notebook), a single passing test case for a clean file, and an
``<error>`` test case for a file that could not be checked. The layout is
the one ruff's JUnit output uses, so the same CI report viewers read it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, TextIO
from xml.etree import ElementTree

from clsaudit.reporters import ReportOptions
from clsaudit.reporters.locations import place, shown

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.engine import CheckResult


def _suite(parent: ElementTree.Element, name: str, tests: int, failures: int, errors: int):
    return ElementTree.SubElement(
        parent, "testsuite",
        name=name, tests=str(tests), failures=str(failures), errors=str(errors),
    )


def build(result: CheckResult) -> ElementTree.Element:
    by_path = defaultdict(list)
    for finding in result.findings:
        by_path[finding.path].append(finding)
    errors = defaultdict(list)
    for error in result.errors:
        errors[error.path].append(error)
    paths = list(dict.fromkeys([*result.files, *by_path, *errors, *result.missing]))
    root = ElementTree.Element(
        "testsuites", name="clsaudit",
        tests=str(sum(max(1, len(by_path[p]) + len(errors[p])) for p in paths)),
        failures=str(len(result.findings)),
        errors=str(len(result.errors) + len(result.missing)),
    )
    classname = "clsaudit"
    for path in paths:
        findings, problems = by_path[path], errors[path]
        missing = path in result.missing
        suite = _suite(root, path, max(1, len(findings) + len(problems)), len(findings),
                       len(problems) + int(missing))
        for finding in findings:
            display = shown(finding)
            where = place(path, finding.line, finding.column).split(":", 1)[1] if path else ""
            case = ElementTree.SubElement(
                suite, "testcase", name=f"{finding.code} at {where}", classname=path,
                file=path, line=str(display.line),
            )
            failure = ElementTree.SubElement(
                case, "failure", message=display.message, type=finding.code,
            )
            failure.text = f"{place(path, finding.line, finding.column)}: {finding.code} " \
                           f"[{finding.name}] {display.message}"
        for problem in problems:
            case = ElementTree.SubElement(suite, "testcase", name="not checked", classname=path, file=path)
            ElementTree.SubElement(case, "error", message=problem.message, type="clsaudit-error")
        if missing:
            case = ElementTree.SubElement(suite, "testcase", name="not checked", classname=path)
            ElementTree.SubElement(case, "error", message="path does not exist", type="clsaudit-error")
        elif not findings and not problems:
            ElementTree.SubElement(suite, "testcase", name="no findings", classname=classname, file=path)
    return root


def write(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    tree = build(result)
    ElementTree.indent(tree)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ElementTree.tostring(tree, encoding="unicode"))
    out.write("\n")
