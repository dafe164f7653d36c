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

# Commands whose modules import torch: loaded only when invoked.
LAZY_COMMANDS = {
    "probe": (
        "clsaudit.probe.command",
        "probe",
        "Run a training pipeline for a few steps under instrumentation.",
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
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
)
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option("--diff", is_flag=True, help="Print the fixes as a diff; write nothing.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--statistics", is_flag=True, help="Count findings per rule.")
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
@click.option(
    "--max-file-size",
    "max_file_mb",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Refuse files larger than this many MB (0: no limit).",
)
def check(paths: tuple[str, ...], **options: Any) -> None:
    """Check PATHS (files or directories; default: the current directory)."""
    from clsaudit.stop_signals import stop_on_signals

    with stop_on_signals():  # SIGTERM/SIGHUP unwind: workers stopped, no half-written fix
        code = run_check(list(paths) or ["."], **options)
    sys.exit(code)


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
    max_file_mb: float = 3.0,
) -> int:
    """The check command's body; returns the exit code."""
    from clsaudit.config import ConfigError, apply_cli, load_config
    from clsaudit.discovery import discover
    from clsaudit.engine import check_paths

    try:
        config = load_config(Path(paths[0]), Path(config_path) if config_path else None)
        config = apply_cli(
            config,
            select=select,
            extend_select=extend_select,
            ignore=ignore,
            exclude=exclude,
            severity=severity,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    for warning in config.warnings:
        _err(f"warning: {warning}")

    found = discover(paths, config.root, config.exclude)
    for missing in found.missing:
        _err(f"{missing}: error: path does not exist")
    if not found.files:
        for path, reason in found.refused:
            _err(f"{path}: error: {reason}")
        if not found.missing and not found.refused:
            _err(f"warning: no Python files found in {', '.join(paths)}")
        return EXIT_ERROR if found.missing or found.refused else EXIT_OK

    run = {"use_cache": not no_cache, "jobs": jobs, "discovery": found, "max_file_mb": max_file_mb}
    result = check_paths(paths, config, **run)
    if diff:
        return _show_diff(result, fmt)
    if fix:
        result = _apply_fixes(paths, config, result, run)

    for error in result.errors:
        _err(error.render())
    _report(result, fmt, color=_use_color(fmt, no_color), quiet=quiet, statistics=statistics,
            severity=config.severity)

    if result.errors or result.missing or result.fix_failed:
        return EXIT_ERROR
    if exit_zero:
        return EXIT_OK
    if result.stale:  # edited during the run: not fixed, and the user must know
        return EXIT_FINDINGS
    from clsaudit.findings import severity_rank

    threshold = severity_rank(config.severity)
    failing = [f for f in result.findings if severity_rank(f.severity) >= threshold]
    return EXIT_FINDINGS if failing else EXIT_OK


def _use_color(fmt: str, no_color: bool) -> bool:
    if fmt != "text" or no_color or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


def _report(result: Any, fmt: str, **options: Any) -> None:
    from clsaudit.reporters import ReportOptions, write_report

    write_report(result, fmt, sys.stdout, ReportOptions(**options))
    sys.stdout.flush()


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


def _show_diff(result: Any, fmt: str) -> int:
    """``--diff``: print what ``--fix`` would change; exit 1 if anything."""
    from clsaudit.fixer import unified_diff

    for error in result.errors:
        _err(error.render())
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
    return EXIT_FINDINGS if changed else EXIT_OK


def _apply_fixes(paths: list[str], config: Any, result: Any, run: dict[str, Any]) -> Any:
    """``--fix``: apply, re-check, repeat while fixes apply; return the final result."""
    from clsaudit.engine import check_paths
    from clsaudit.fixer import write_fixed

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
        result = check_paths(paths, config, **run)
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
