"""The ``clsaudit`` command line.

Startup time is part of the product (a pre-commit hook runs on every
commit), so this module imports only click and clsaudit's light modules at
load time: libcst when a file is parsed, rich only to colour a terminal,
the json/SARIF reporters only when chosen, torch never (the probe commands
are loaded lazily, on invocation).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from clsaudit import __version__
from clsaudit.stop_signals import Stopped

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
FIX_PASSES = 5  # a fix may expose another; stop long before any loop matters

TORCH_MESSAGE = "the probe needs the torch extra: pip install 'clsaudit[torch]'"

# Commands loaded only when invoked: their modules import torch, numpy or rich.
LAZY_COMMANDS = {
    "probe": (
        "clsaudit.probe.command",
        "probe",
        "Run a training pipeline for a few steps under instrumentation.",
    ),
    "diagnose": (
        "clsaudit.diagnose.command",
        "diagnose",
        "Per-class metrics, calibration, one recommendation.",
    ),
    "train-reference": (
        "clsaudit.reference_pipeline.cli",
        "train_reference",
        "Train the correct reference CIFAR pipeline.",
    ),
}


def _err(message: str) -> None:
    click.echo(message, err=True)


def _missing_command(name: str, message: str) -> click.Command:
    """A stand-in that explains why ``name`` cannot run, and exits 2."""

    def explain(args: Sequence[str]) -> None:
        _err(f"error: {message}")
        sys.exit(EXIT_ERROR)

    return click.Command(
        name,
        callback=explain,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
        help=LAZY_COMMANDS[name][2],
    )


def _load_lazy(name: str) -> click.Command:
    import importlib
    import importlib.util

    module_name, attribute, _ = LAZY_COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
        command = getattr(module, attribute)
    except ImportError as exc:
        missing = getattr(exc, "name", "") or ""
        if missing == "torch" or missing.startswith("torch.") or not importlib.util.find_spec("torch"):
            message = TORCH_MESSAGE if name == "probe" else (
                f"`clsaudit {name}` needs the torch extra: pip install 'clsaudit[torch]'"
            )
            return _missing_command(name, message)
        return _missing_command(name, f"`clsaudit {name}` is unavailable: {exc}")
    except AttributeError:
        return _missing_command(name, f"`clsaudit {name}` is unavailable in this installation")
    return command


class ClsauditGroup(click.Group):
    """Routes ``clsaudit train.py`` to ``check`` and loads torch commands lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            command = _load_lazy(cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List lazy commands from their static help: ``--help`` must not import torch."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit=60)))
            else:
                rows.append((name, LAZY_COMMANDS[name][2]))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = ("--help", "-h", "--version")
        if args and args[0] not in options and args[0] not in self.list_commands(ctx):
            args = ["check", *args]
        return super().parse_args(ctx, args)


@click.group(
    cls=ClsauditGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)
@click.version_option(__version__, "--version", prog_name="clsaudit", message="%(prog)s %(version)s")
def cli() -> None:
    """Audit PyTorch image-classification training scripts.

    `clsaudit train.py` (the `check` command) finds pipeline bugs statically,
    without importing torch or running the script.
    """


def _severity_choice() -> click.Choice:
    return click.Choice(["info", "warning", "error"], case_sensitive=False)


@cli.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", help="Comma-separated codes or prefixes to enable (replaces config).")
@click.option("--extend-select", help="Codes or prefixes to enable in addition.")
@click.option("--ignore", help="Comma-separated codes or prefixes to disable.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github", "junit"]),
    default="text",
    show_default=True,
)
@click.option("--fix", is_flag=True, help="Apply safe fixes in place (stdin: print the fixed source).")
@click.option("--diff", is_flag=True, help="Print the fixes as a diff; write nothing.")
@click.option("--unsafe-fixes", "unsafe_fixes", is_flag=True,
              help="Also offer and apply fixes that may change behaviour (marked unsafe in the rule docs).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--statistics", is_flag=True, help="Count findings per rule (and report unused suppressions).")
@click.option("--no-color", is_flag=True, help="Plain output even on a terminal.")
@click.option("-q", "--quiet", is_flag=True, help="Only the finding lines.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the cache.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: all cores).")
@click.option("--exclude", multiple=True, help="Glob of paths to skip (repeatable).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Read settings from this file instead of the nearest pyproject.toml.",
)
@click.option("--severity", type=_severity_choice(), help="Lowest severity that fails (exit 1).")
@click.option("--output-file", "output_file", type=click.Path(dir_okay=False),
              help="Write the report to this file instead of standard output.")
@click.option("--stdin-filename", "stdin_filename",
              help="With '-': the path standard input stands for (config and per-file ignores).")
@click.option("--no-respect-gitignore", "no_respect_gitignore", is_flag=True,
              help="Also check files that .gitignore, .ignore or .git/info/exclude exclude.")
@click.option("--report-unused-suppressions", "report_unused", is_flag=True,
              help="List suppression comments that suppress nothing.")
@click.option(
    "--max-file-size",
    "max_file_mb",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Refuse files larger than this many MB (0: no limit).",
)
def check(paths: tuple[str, ...], **options: Any) -> None:
    """Check PATHS (files, directories, notebooks, or '-' for standard input)."""
    from clsaudit.stop_signals import stop_on_signals

    with stop_on_signals():  # SIGTERM/SIGHUP unwind: workers stopped, no half-written fix
        try:
            code = run_check(list(paths) or ["."], **options)
        except BrokenPipeError:
            code = _reader_went_away()
    sys.exit(code)


def _reader_went_away() -> int:
    """``clsaudit . | head -1``: the reader left; not an error, and no traceback at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def run_check(
    paths: list[str],
    *,
    select: str | None,
    extend_select: str | None,
    ignore: str | None,
    fmt: str,
    fix: bool,
    diff: bool,
    exit_zero: bool,
    statistics: bool,
    no_color: bool,
    quiet: bool,
    no_cache: bool,
    jobs: int | None,
    exclude: tuple[str, ...],
    config_path: str | None,
    severity: str | None,
    output_file: str | None = None,
    stdin_filename: str | None = None,
    no_respect_gitignore: bool = False,
    report_unused: bool = False,
    max_file_mb: float = 3.0,
    unsafe_fixes: bool = False,
) -> int:
    """The check command's body; returns the exit code."""
    from clsaudit.config import ConfigError, ConfigResolver
    from clsaudit.discovery import discover_with_configs
    from clsaudit.engine import check_paths
    from clsaudit.fixer import withhold_unsafe

    resolver = ConfigResolver(
        Path(config_path) if config_path else None,
        select=select,
        extend_select=extend_select,
        ignore=ignore,
        exclude=exclude,
        severity=severity,
    )
    from_stdin = paths == ["-"]
    if "-" in paths and not from_stdin:
        raise click.UsageError("'-' (standard input) cannot be combined with other paths")
    if stdin_filename and not from_stdin:
        raise click.UsageError("--stdin-filename needs '-' as the only path")
    try:
        config = resolver.for_path(stdin_filename or "." if from_stdin else paths[0])
        if from_stdin:
            found = None
        else:
            found = discover_with_configs(paths, resolver.for_path, not no_respect_gitignore)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    for warning in resolver.warnings:
        _err(f"warning: {warning}")
    report_unused = report_unused or statistics

    if from_stdin:
        return _check_stdin(stdin_filename or "-", config, fmt=fmt, fix=fix, diff=diff,
                            unsafe_fixes=unsafe_fixes, exit_zero=exit_zero, quiet=quiet, statistics=statistics,
                            no_color=no_color, output_file=output_file, report_unused=report_unused)
    assert found is not None
    for missing in found.missing:
        _err(f"{missing}: error: path does not exist")
    if not found.files:
        for path, reason in found.refused:
            _err(f"{path}: error: {reason}")
        if not found.missing and not found.refused:
            _err(f"warning: no Python files found in {', '.join(paths)} (looked for .py and .ipynb)")
        elif fmt != "text":  # CI formats still get a report that says why nothing was checked
            from clsaudit.engine import CheckResult

            _finish(CheckResult(missing=list(found.missing)), resolver.for_path, fmt=fmt,
                    exit_zero=exit_zero, quiet=quiet, statistics=statistics, no_color=True,
                    output_file=output_file, report_unused=False)
        return EXIT_ERROR if found.missing or found.refused else EXIT_OK

    run = {"use_cache": not no_cache, "jobs": jobs, "discovery": found,
           "config_for": resolver.for_path, "max_file_mb": max_file_mb}
    try:
        result = withhold_unsafe(check_paths(paths, config, **run), unsafe_fixes)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if diff:
        return _show_diff(result, fmt, exit_zero)
    if fix:
        result = _apply_fixes(paths, config, result, run, unsafe_fixes)
    return _finish(result, resolver.for_path, fmt=fmt, exit_zero=exit_zero, quiet=quiet,
                   statistics=statistics, no_color=no_color, output_file=output_file,
                   report_unused=report_unused)


def exit_code_for(result: Any, config_for: Any, exit_zero: bool) -> int:
    """2 for files not checked, else 1 when a finding reaches its own file's failing severity."""
    from clsaudit.findings import severity_rank

    if result.errors or result.missing or result.fix_failed:
        return EXIT_ERROR
    if exit_zero:
        return EXIT_OK
    if result.stale:  # edited during the run: not fixed, and the user must know
        return EXIT_FINDINGS
    for finding in result.findings:
        if severity_rank(finding.severity) >= severity_rank(config_for(finding.path).severity):
            return EXIT_FINDINGS
    return EXIT_OK


def _finish(result: Any, config_for: Any, *, fmt: str, exit_zero: bool, quiet: bool,
            statistics: bool, no_color: bool, output_file: str | None, report_unused: bool) -> int:
    """Report ``result`` and return the exit code the report's colour follows."""
    for error in result.errors:
        _err(_render_error(error))
    code = exit_code_for(result, config_for, exit_zero)
    color = _use_color(fmt, no_color) and output_file is None
    options = {"color": color, "quiet": quiet, "statistics": statistics,
               "exit_code": code, "report_unused": report_unused}
    if output_file is None:
        _report(result, fmt, sys.stdout, **options)
        return code
    try:
        with open(output_file, "w", encoding="utf-8", newline="") as handle:
            _report(result, fmt, handle, **options)
    except OSError as exc:
        _err(f"{output_file}: error: cannot write the report: {exc.strerror or exc}")
        return EXIT_ERROR
    return code


def _render_error(error: Any) -> str:
    from clsaudit.reporters.locations import place

    if not error.line:
        return error.render()
    return f"{place(error.path, error.line, error.column)}: error: {error.message}"


def _check_stdin(name: str, config: Any, *, fmt: str, fix: bool, diff: bool, exit_zero: bool,
                 unsafe_fixes: bool = False, **report: Any) -> int:
    """``clsaudit - --stdin-filename PATH``: lint (or fix) standard input as if it were PATH."""
    from clsaudit.notebook import forget

    try:
        return _check_stdin_data(sys.stdin.buffer.read(), name, config, fmt=fmt, fix=fix,
                                 diff=diff, exit_zero=exit_zero, unsafe_fixes=unsafe_fixes, **report)
    finally:
        forget(name)


def _check_stdin_data(data: bytes, name: str, config: Any, *, fmt: str, fix: bool, diff: bool,
                      exit_zero: bool, unsafe_fixes: bool = False, **report: Any) -> int:
    from clsaudit.fixer import withhold_unsafe
    from clsaudit.stdin_input import check_stdin, fix_stdin

    result = withhold_unsafe(check_stdin(data, name, config), unsafe_fixes)
    if fix or diff:
        fixed, outcome_error = fix_stdin(data, name, result)
        if outcome_error:
            _err(f"{name}: error: {outcome_error}")
        if diff:
            from clsaudit.fixer import unified_diff

            sys.stdout.write(unified_diff(fixed))
            sys.stdout.flush()
            if result.errors or outcome_error:
                return EXIT_ERROR
            return EXIT_OK if exit_zero or not fixed.changed else EXIT_FINDINGS
        # Editors replace the buffer with stdout: print the source, the report goes to stderr.
        sys.stdout.write(fixed.fixed)
        sys.stdout.flush()
        result = withhold_unsafe(check_stdin(fixed.fixed.encode("utf-8"), name, config), unsafe_fixes)
        for error in result.errors:
            _err(_render_error(error))
        code = exit_code_for(result, lambda _: config, exit_zero)
        if result.findings:
            from clsaudit.reporters import ReportOptions, write_report

            write_report(result, "text", sys.stderr, ReportOptions(quiet=True, exit_code=code))
        return code
    return _finish(result, lambda _: config, fmt=fmt, exit_zero=exit_zero, **report)


def _use_color(fmt: str, no_color: bool) -> bool:
    if fmt != "text" or no_color or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


def _report(result: Any, fmt: str, out: Any, **options: Any) -> None:
    from clsaudit.reporters import ReportOptions, write_report

    write_report(result, fmt, out, ReportOptions(**options))
    out.flush()


def _fixable_by_path(result: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for finding in result.findings:
        if finding.fix is not None:
            grouped.setdefault(finding.path, []).append(finding)
    return grouped


def _fix_outcomes(result: Any) -> Any:
    """The files whose fixable findings change them, fixed in memory; fix errors are reported."""
    from clsaudit.fixer import fix_file

    for path, findings in sorted(_fixable_by_path(result).items()):
        outcome = fix_file(path, findings, result.digests.get(path))
        if outcome.error:
            _err(f"{path}: error: {outcome.error}")
            if outcome.stale:
                result.stale.append(path)
        elif outcome.changed:
            yield outcome


def _show_diff(result: Any, fmt: str, exit_zero: bool = False) -> int:
    """``--diff``: print what ``--fix`` would change; exit 1 if anything (0 with --exit-zero)."""
    from clsaudit.fixer import unified_diff

    for error in result.errors:
        _err(_render_error(error))
    changed = 0
    count = 0
    for outcome in _fix_outcomes(result):
        changed += 1
        count += outcome.applied
        sys.stdout.write(unified_diff(outcome))
    sys.stdout.flush()
    if changed:
        noun = "fix" if count == 1 else "fixes"
        _err(f"Would apply {count} {noun} in {changed} file{'s' if changed != 1 else ''}.")
    if result.errors or result.missing:
        return EXIT_ERROR
    if exit_zero:
        return EXIT_OK
    return EXIT_FINDINGS if changed else EXIT_OK


def _apply_fixes(paths: list[str], config: Any, result: Any, run: dict[str, Any],
                 unsafe_fixes: bool = False) -> Any:
    """``--fix``: apply, re-check, repeat while fixes apply; return the final result."""
    from clsaudit.engine import check_paths
    from clsaudit.fixer import withhold_unsafe, write_fixed

    total = 0
    files: set[str] = set()
    stale: list[str] = []
    failed: list[str] = []
    for _ in range(FIX_PASSES):
        applied = 0
        for outcome in _fix_outcomes(result):
            problem = write_fixed(outcome)
            if problem is not None:  # left alone, never half-written
                _err(f"{outcome.path}: error: {problem}")
                (stale if outcome.stale else failed).append(outcome.path)
                continue
            applied += outcome.applied
            files.add(outcome.path)
        stale += result.stale
        if not applied:
            break
        total += applied
        result = withhold_unsafe(check_paths(paths, config, **run), unsafe_fixes)
    result.stale = sorted(set(stale))
    result.fix_failed = sorted(set(failed))
    if total:
        noun = "finding" if total == 1 else "findings"
        _err(f"Fixed {total} {noun} in {len(files)} file{'s' if len(files) != 1 else ''}.")
    return result


@cli.command("rules")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def rules_command(fmt: str) -> None:
    """List the rules: code, name, severity, summary, fixable."""
    from clsaudit.rules import all_rules

    rules = all_rules()
    if fmt == "json":
        import json

        rows = [
            {
                "code": r.code,
                "name": r.name,
                "severity": r.severity,
                "summary": r.summary,
                "fixable": bool(r.fixable),
            }
            for r in rules
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        from rich.console import Console
        from rich.table import Table

        table = Table("code", "name", "severity", "summary", "fixable")
        for r in rules:
            table.add_row(r.code, r.name, r.severity, r.summary, "yes" if r.fixable else "")
        Console().print(table)
        return
    for r in rules:
        fixable = "fixable" if r.fixable else "-"
        click.echo(f"{r.code}\t{r.name}\t{r.severity}\t{fixable}\t{r.summary}")


@cli.command("explain")
@click.argument("code")
def explain(code: str) -> None:
    """Print the documentation of rule CODE (or its name)."""
    import difflib

    from clsaudit.rules import all_rules

    rules = all_rules()
    wanted = code.strip()
    for rule in rules:
        if wanted.upper() == rule.code or wanted.lower() == rule.name:
            fixable = ", fixable" if rule.fixable else ""
            click.echo(f"{rule.code} {rule.name} ({rule.severity}{fixable})\n")
            click.echo(rule.summary + "\n")
            click.echo(rule.doc.strip())
            return
    choices = [r.code for r in rules] + [r.name for r in rules]
    close = difflib.get_close_matches(wanted.upper(), [r.code for r in rules], n=5, cutoff=0.5)
    close += difflib.get_close_matches(wanted.lower(), [r.name for r in rules], n=3, cutoff=0.5)
    _err(f"error: unknown rule {wanted!r}")
    if close:
        _err("did you mean: " + ", ".join(close))
    elif choices:
        _err("known rules: " + ", ".join(r.code for r in rules))
    sys.exit(EXIT_ERROR)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: exit codes 0/1/2, 130 on Ctrl-C, no tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = cli.main(args=args, prog_name="clsaudit", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _err("interrupted")
        code = EXIT_INTERRUPTED
    except Stopped as exc:  # SIGTERM/SIGHUP: workers already stopped by the engine
        _err(f"stopped by {exc.name}")
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except BrokenPipeError:
        # The reader went away (`clsaudit . | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_OK
    except Exception as exc:
        if os.environ.get("CLSAUDIT_DEBUG"):
            raise
        _err(f"error: internal error: {type(exc).__name__}: {exc}")
        _err("please report this bug (set CLSAUDIT_DEBUG=1 for the traceback)")
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
