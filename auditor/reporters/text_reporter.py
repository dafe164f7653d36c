"""Human output: ``path:line:col: CODE [*] [name] message``, the source line, a caret marker.

``[*]`` marks a finding ``--fix`` can fix, as ruff marks them. Notebook
findings read ``nb.ipynb:cell 3:line 7:col 5:``. The summary line is
coloured by the exit code (green 0, red otherwise, yellow for findings
that do not fail the run). The plain path formats strings itself; rich is
imported only to colour output on a terminal (it costs more startup time
than the check of a small file).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, TextIO

from clsaudit.findings import SEVERITIES, Finding
from clsaudit.reporters import ReportOptions, plural
from clsaudit.reporters.locations import place, shown

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.engine import CheckResult

STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}
FIX_MARK = "[*]"


def where(finding: Finding) -> str:
    return place(finding.path, finding.line, finding.column)


def headline(finding: Finding) -> str:
    fixable = f" {FIX_MARK}" if finding.fix is not None else ""
    return (
        f"{where(finding)}: {finding.code}{fixable} [{finding.name}] {shown(finding).message}"
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
    shown_line = line_text.expandtabs(4).rstrip()
    return shown_line, " " * len(prefix) + "^" * max(1, len(span))


def summary_line(result: CheckResult) -> str:
    text = _findings_sentence(result)
    if result.errors:
        text += f" {plural(len({e.path for e in result.errors}), 'file')} could not be checked (see above)."
    return text


def fixable_line(result: CheckResult) -> str:
    count = sum(1 for f in result.findings if f.fix is not None)
    return f"{FIX_MARK} {count} fixable with `--fix`." if count else ""


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


def unused_lines(result: CheckResult) -> list[str]:
    lines = []
    for path, unused in result.unused_suppressions:
        what = ", ".join(unused.codes) if unused.codes else "any finding"
        lines.append(f"{place(path, unused.line)}: unused suppression {unused.text!r}: "
                     f"no {what} to suppress on {'this file' if 'file' in unused.text else 'this line'}")
    return lines


def _summary_style(result: CheckResult, options: ReportOptions) -> str:
    code = options.exit_code
    if code is None:
        code = 2 if result.errors else (1 if result.findings else 0)
    if code != 0:
        return "bold red"
    return "bold yellow" if result.findings else "bold green"


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
        shown_line, carets = marker(finding, text) if text else ("", "")
        blocks.append((finding, shown_line, carets))
    return blocks


def _tail(result: CheckResult, options: ReportOptions) -> list[str]:
    """What follows the findings: statistics, unused suppressions, fixable count."""
    lines: list[str] = []
    if options.statistics and result.findings:
        lines += [""] + statistics_lines(result)
    if options.report_unused and result.unused_suppressions:
        lines += [""] + unused_lines(result)
    return lines


def write(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    if options.color:
        _write_rich(result, out, options)
        return
    for finding, shown_line, carets in _blocks(result, options):
        out.write(headline(finding) + "\n")
        if shown_line:
            out.write(f"    {shown_line}\n    {carets}\n")
    if options.quiet:
        return
    for line in _tail(result, options):
        out.write(line + "\n")
    if result.findings:
        out.write("\n")
    out.write(summary_line(result) + "\n")
    if fixable_line(result):
        out.write(fixable_line(result) + "\n")


def _write_rich(result: CheckResult, out: TextIO, options: ReportOptions) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, force_terminal=True, highlight=False, soft_wrap=True)
    for finding, shown_line, carets in _blocks(result, options):
        style = STYLES.get(finding.severity, "")
        line = Text()
        line.append(f"{where(finding)}:", style="bold")
        line.append(" ")
        line.append(finding.code, style=style)
        if finding.fix is not None:
            line.append(f" {FIX_MARK}", style="bold cyan")
        line.append(f" [{finding.name}] ", style="dim")
        line.append(shown(finding).message)
        console.print(line)
        if shown_line:
            console.print(Text("    " + shown_line))
            console.print(Text("    " + carets, style=style))
    if options.quiet:
        return
    for entry in _tail(result, options):
        console.print(Text(entry))
    if result.findings:
        console.print()
    console.print(Text(summary_line(result), style=_summary_style(result, options)))
    if fixable_line(result):
        console.print(Text(fixable_line(result), style="cyan"))
