"""Check one file: decode, parse once, build the semantic model once, run rules.

This is the unit of work a worker process performs; the engine around it
handles discovery, parallelism, caching, suppressions and configuration.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

import libcst as cst
from clsaudit.findings import FileError, Finding, Report
from clsaudit.rule import Rule
from clsaudit.source_text import decode_source


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    error: Optional[FileError] = None
    # Plain-data cross-file summary of this module (see clsaudit.semantic.summary).
    summary: Optional[dict[str, Any]] = None


def syntax_error_for(path: str, text: str, fallback: Exception) -> FileError:
    """libcst's error positions can be wrong; ask ``ast`` where the error is."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text, filename=path)
    except SyntaxError as exc:
        msg = exc.msg or "invalid syntax"
        return FileError(path, f"syntax error: {msg}", exc.lineno or 0, (exc.offset or 0))
    except (ValueError, RecursionError, MemoryError) as exc:
        return FileError(path, f"cannot parse: {exc}")
    first = str(fallback).strip().splitlines()[0] if str(fallback).strip() else type(fallback).__name__
    return FileError(path, f"cannot parse: {first}")


def parse_module(path: str, data: bytes) -> tuple[Optional[cst.Module], Optional[FileError], str]:
    try:
        text = decode_source(path, data)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "msg", None) or str(exc)
        return None, FileError(path, f"cannot decode file: {reason}"), ""
    try:
        module = cst.parse_module(text)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return None, syntax_error_for(path, text, exc), text
    except Exception as exc:  # libcst's native parser raises a few other types
        return None, syntax_error_for(path, text, exc), text
    return module, None, text


def _allow_deep_expressions() -> None:
    """`x = 1 + 1 + ... + 1` with 500 terms is valid Python and a 500-deep tree.

    From Python 3.11 on, Python-to-Python calls do not grow the C stack, so a
    higher recursion limit is safe for the model's recursive reading; older
    interpreters keep a moderate one.
    """
    import sys

    wanted = 20_000 if sys.version_info >= (3, 11) else 4_000
    if sys.getrecursionlimit() < wanted:
        sys.setrecursionlimit(wanted)


def analyze_source(
    path: str,
    data: bytes,
    rules: Sequence[Rule],
    summaries: Optional[Mapping[str, Any]] = None,
    module_name: Optional[str] = None,
) -> FileResult:
    """Check one file's bytes with ``rules``.

    ``summaries`` maps dotted module names of sibling files (as imported by
    this file) to their plain-data summaries; ``module_name`` is this file's
    own dotted name in the checked tree. Neither is needed for a lone file.
    """
    from clsaudit.semantic import SemanticModel

    _allow_deep_expressions()
    module, error, text = parse_module(path, data)
    if error is not None:
        return FileResult(path, error=error)
    assert module is not None
    model = SemanticModel.build(module, path=path, summaries=summaries or {}, module_name=module_name,
                                source=text)
    result = FileResult(path, summary=model.summary())
    reports: list[tuple[Rule, Report]] = []
    for rule in rules:
        for report in rule.check(model):
            reports.append((rule, report))
    if reports:
        positions = model.positions()  # computed once, only for files with findings
        seen: set[tuple] = set()
        for rule, report in reports:
            pos = positions.get(report.node)
            if pos is None:  # a node the rule synthesised; should not happen
                continue
            key = (rule.code, pos.start.line, pos.start.column)
            if key in seen:
                continue
            seen.add(key)
            result.findings.append(
                Finding(
                    path=path,
                    line=pos.start.line,
                    column=pos.start.column + 1,
                    end_line=pos.end.line,
                    end_column=pos.end.column + 1,
                    code=rule.code,
                    name=rule.name,
                    severity=rule.severity,
                    message=report.message,
                    fix=report.fix,
                    fix_span=_span(positions, report.fix_node) if report.fix is not None else None,
                    fix_unsafe=report.fix is not None and report.fix_unsafe,
                )
            )
            if report.fix is not None and report.fix_node is not None and result.findings[-1].fix_span is None:
                result.findings[-1] = replace(result.findings[-1], fix=None)  # nowhere to put it
        result.findings.sort(key=Finding.sort_key)
    return result


def _span(positions, node) -> tuple[int, int, int, int] | None:
    """1-based (line, column, end_line, end_column) of ``node``, as findings count them."""
    pos = positions.get(node) if node is not None else None
    if pos is None:
        return None
    return (pos.start.line, pos.start.column + 1, pos.end.line, pos.end.column + 1)
