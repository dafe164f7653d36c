"""``clsaudit probe [TARGET] [-- ARGS]``: the click command.

Imported by the CLI lazily; it must not import torch (the static linter never
does). Torch is imported only by the child process that runs the pipeline.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys

import click
from clsaudit.probe import launcher, report

REFERENCE_FACTORY = "clsaudit.reference_pipeline.factory:make_probe_parts"
# Optimizer steps by default: with passes of 4 batches, 16 short epochs.
DEFAULT_STEPS = 64
DEFAULT_LIMIT_BATCHES = 4
# Factories: the probe drives the loop itself, so no epoch needs to end.
DEFAULT_FACTORY_STEPS = 20
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
TORCH_MISSING = "the probe needs the torch extra: pip install 'clsaudit[torch]'"


def classify_target(target: str | None) -> tuple[str, str]:
    """``(mode, target)``: ``factory`` for ``X:name`` and no target, ``script`` for a file."""
    if not target:
        return "factory", REFERENCE_FACTORY
    where, sep, name = target.rpartition(":")
    if sep and name.isidentifier() and where and not os.path.isfile(target):
        return "factory", target
    if target.endswith(".py") or os.path.isfile(target):
        return "script", target
    raise click.UsageError(
        f"{target!r} is neither a script (train.py) nor a factory (module:function)"
    )


def parse_size(text: str | None) -> int | None:
    """Bytes from ``4G``/``512M``/``1.5`` (GB); ``none``/``0`` is no limit; ``None`` the default."""
    if text is None:
        return launcher.default_max_memory()
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    if cleaned in ("NONE", "0", "OFF"):
        return None
    unit = cleaned[-1] if cleaned and cleaned[-1] in _UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)] if unit else cleaned
    try:
        value = float(number) * _UNITS[unit or "G"]  # a bare number is in GB
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected a size such as 4G, 512M or 'none'", param_hint="--max-memory"
        ) from None
    if value < 64 * 2**20:
        raise click.BadParameter(
            f"{text!r} is under 64 MB: torch alone needs more", param_hint="--max-memory"
        )
    return int(value)


@click.command("probe", context_settings={"ignore_unknown_options": False})
@click.argument("target", required=False)
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--steps",
    default=None,
    type=click.IntRange(1, 100_000),
    help=f"Optimizer steps to observe [default: scripts {DEFAULT_STEPS} and at least two "
    f"epochs of a DataLoader-fed script; factories {DEFAULT_FACTORY_STEPS}].",
)
@click.option(
    "--limit-batches",
    default=DEFAULT_LIMIT_BATCHES,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Scripts: end each pass over a DataLoader after this many batches, so that "
    "epoch ends, evaluation and later phases are seen quickly.",
)
@click.option(
    "--no-limit",
    is_flag=True,
    help="Scripts: whole passes over each DataLoader (no --limit-batches).",
)
@click.option(
    "--max-memory",
    default=None,
    metavar="SIZE",
    help="Memory the pipeline may use, e.g. 4G, 512M, or 'none' [default: half the "
    "machine's memory].",
)
@click.option(
    "--show-batch",
    "show_batch",
    default=None,
    type=click.Path(dir_okay=False),
    help="Save the first training batch, as the model receives it, as a labelled PNG grid.",
)
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds before the pipeline is killed.",
)
@click.option(
    "--device",
    default=None,
    help="Device for factory targets (cpu, cuda, ...); 'cpu' hides GPUs from scripts.",
)
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1, 1024),
    help="Torch threads in the child [default: the cores this process may use].",
)
@click.option(
    "--format", "fmt", default="text", type=click.Choice(["text", "json"]), show_default=True
)
@click.option(
    "--plot",
    "plot_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Save the loss curve and gradient norms as a PNG (needs matplotlib).",
)
def probe(
    target,
    script_args,
    steps,
    limit_batches,
    no_limit,
    max_memory,
    show_batch,
    timeout,
    device,
    threads,
    fmt,
    plot_path,
):
    """Run a training pipeline for a few steps under instrumentation and check it.

    \b
    clsaudit probe                      the reference pipeline (a self-test)
    clsaudit probe pkg.mod:factory      your parts, driven by the probe (+ active checks)
    clsaudit probe train.py -- ARGS     your script, unmodified, in a child process

    Exit codes: 0 all checks pass, 1 a check failed, 2 the pipeline could not run.
    """
    from rich.console import Console

    if importlib.util.find_spec("torch") is None:
        click.echo(TORCH_MISSING, err=True)
        sys.exit(2)
    mode, resolved = classify_target(target)
    if mode == "factory" and script_args:
        raise click.UsageError("arguments after -- are for scripts, not factories")
    memory = parse_size(max_memory)
    spec = {
        "mode": mode,
        "steps": steps or (DEFAULT_STEPS if mode == "script" else DEFAULT_FACTORY_STEPS),
        "soft_budget": steps is None,
        "limit_batches": None if no_limit else limit_batches,
        "threads": threads or launcher.available_cores(),
        "device": device,
        "show_batch": os.path.abspath(show_batch) if show_batch else None,
    }
    if mode == "script":
        if not os.path.isfile(resolved):
            click.echo(f"clsaudit probe: no such file: {resolved}", err=True)
            sys.exit(2)
        spec.update(script=resolved, args=list(script_args))
    else:
        spec.update(target=resolved, reference=target is None)
    try:
        result = launcher.run_child(spec, timeout=timeout, max_memory=memory)
    except launcher.Interrupted as stop:
        name = signal.Signals(stop.signum).name
        click.echo(f"clsaudit probe: stopped by {name}; the pipeline was killed", err=True)
        sys.exit(128 + stop.signum)
    rep = report.build(result, target or "(reference pipeline)", spec["steps"])
    if fmt == "json":
        click.echo(report.to_json(rep))
    else:
        console = Console(highlight=False, soft_wrap=False)
        if console.is_terminal and console.width >= report.TABLE_MIN_WIDTH:
            report.render(rep, console)
        else:
            click.echo(
                report.render_lines(rep, width=console.width if console.is_terminal else 100)
            )
    if plot_path:
        problem = report.plot(rep, plot_path) if rep["steps"] else "--plot: no step to plot"
        if problem:
            click.echo(problem, err=True)
    sys.exit(rep["exit_code"])
