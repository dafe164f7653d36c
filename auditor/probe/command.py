"""``clsaudit probe [TARGET] [-- ARGS]``: the click command.

Imported by the CLI lazily; it must not import torch (the static linter never
does). Torch is imported only by the child process that runs the pipeline.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import click
from clsaudit.probe import launcher, report

REFERENCE_FACTORY = "clsaudit.reference_pipeline.factory:make_probe_parts"
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


@click.command("probe", context_settings={"ignore_unknown_options": False})
@click.argument("target", required=False)
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--steps",
    default=20,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Optimizer steps to observe.",
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
def probe(target, script_args, steps, timeout, device, threads, fmt, plot_path):
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
    spec = {
        "mode": mode,
        "steps": steps,
        "threads": threads or launcher.available_cores(),
        "device": device,
    }
    if mode == "script":
        if not os.path.isfile(resolved):
            click.echo(f"clsaudit probe: no such file: {resolved}", err=True)
            sys.exit(2)
        spec.update(script=resolved, args=list(script_args))
    else:
        spec.update(target=resolved, reference=target is None)
    result = launcher.run_child(spec, timeout=timeout)
    rep = report.build(result, target or "(reference pipeline)", steps)
    if fmt == "json":
        click.echo(report.to_json(rep))
    else:
        report.render(rep, Console(highlight=False, soft_wrap=False))
    if plot_path:
        problem = report.plot(rep, plot_path) if rep["steps"] else "--plot: no step to plot"
        if problem:
            click.echo(problem, err=True)
    sys.exit(rep["exit_code"])
