"""Human output: ``path:line:col: CODE [name] message``, the source line, a caret marker.

The plain path formats strings itself; rich is imported only to colour
output on a terminal (it costs more startup time than the check of a
small file).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, TextIO

from clsaudit.findings import SEVERITIES, Finding
from clsaudit.reporters import ReportOptions, plural

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.engine import CheckResult

STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def headline(finding: Finding) -> str:
    return (
        f"{finding.path}:{finding.line}:{finding.column}: "
        f"{finding.code} [{finding.name}] {finding.message}"
    )


def marker(finding: Finding, line_text: str) -> tuple[str, str]:
    """The source line (tabs expanded) and a ``^`` run under the finding's span."""
    start = max(0, finding.column - 1)
    if finding.end_line == finding.line:
        end = max(start + 1, finding.end_column - 1)
    else:
        end = max(start + 1, len(line_text.rstrip()))
    prefix = line_text[:start].expandtabs(4)
    span = line_text[start:end].expandtabs(4)
    shown = line_text.expandtabs(4).rstrip()
    return shown, " " * len(prefix) + "^" * max(1, len(span))


def summary_line(result: CheckResult) -> str:
    text = _findings_sentence(result)
    if result.errors:
        text += f" {plural(len(result.errors), 'file')} could not be checked."
    return text


def _findings_sentence(result: CheckResult) -> str:
    findings = result.findings
    if not findings:
        return f"No findings in {plural(len(result.files), 'file')}."
    counts = Counter(f.severity for f in findings)
    parts = [plural(counts[s], s) for s in reversed(SEVERITIES) if counts[s]]
    files = len({f.path for f in findings})
    return (
        f"Found {plural(len(findings), 'finding')} ({', '.join(parts)}) "
        f"in {plural(files, 'file')}."
    )


def statistics_lines(result: CheckResult) -> list[str]:
    counts = Counter((f.code, f.name) for f in result.findings)
    width = max((len(str(n)) for n in counts.values()), default=1)
    return [
        f"{count:>{width}}  {code}  {name}"
        for (code, name), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _blocks(result: CheckResult, options: ReportOptions) -> list[tuple[Finding, str, str]]:
    blocks = []
    cache: dict[str, list[str]] = {}
    for finding in result.findings:
        if options.quiet:
            blocks.append((finding, "", ""))
            continue
        if finding.path not in cache:
            cache[finding.path] = result.source_lines(finding.path)
        lines = cache[finding.path]
        text = lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""
        shown, carets = marker(finding, text) if text else ("", "")
        blocks.append((finding, shown, carets))
    return blocks


def write(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    if options.color:
        _write_rich(result, out, options)
        return
    for finding, shown, carets in _blocks(result, options):
        out.write(headline(finding) + "\n")
        if shown:
            out.write(f"    {shown}\n    {carets}\n")
    if options.quiet:
        return
    if options.statistics and result.findings:
        out.write("\n" + "\n".join(statistics_lines(result)) + "\n")
    if result.findings:
        out.write("\n")
    out.write(summary_line(result) + "\n")


def _write_rich(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, force_terminal=True, highlight=False, soft_wrap=True)
    for finding, shown, carets in _blocks(result, options):
        style = STYLES.get(finding.severity, "")
        line = Text()
        line.append(f"{finding.path}:{finding.line}:{finding.column}:", style="bold")
        line.append(" ")
        line.append(finding.code, style=style)
        line.append(f" [{finding.name}] ", style="dim")
        line.append(finding.message)
        console.print(line)
        if shown:
            console.print(Text("    " + shown))
            console.print(Text("    " + carets, style=style))
    if options.quiet:
        return
    if options.statistics and result.findings:
        console.print()
        for entry in statistics_lines(result):
            console.print(Text(entry))
    if result.findings:
        console.print()
    style = "bold red" if result.findings else "bold green"
    console.print(Text(summary_line(result), style=style))
