"""Turn a child result into the probe's report: verdicts, exit code, table, JSON, plot.

No torch here: the parent process only reads the child's plain-data result.
"""

from __future__ import annotations

import json
import math
from typing import Any

from clsaudit.probe import passive_checks
from clsaudit.probe.catalogue import FAIL, NA, PASS

EXIT_OK, EXIT_FAILED, EXIT_NOT_RUN = 0, 1, 2
# Narrower than this (or piped), the report prints one line per check.
TABLE_MIN_WIDTH = 120
_MEMORY_ERRORS = ("can't allocate memory", "cannot allocate memory", "out of memory")
TOP_LAYERS = 8
OUTPUT_TAIL_LINES = 30
# Checks whose failure can explain why a pipeline crashed before its first step.
CRASH_EXPLAINING = {"PRB002", "PRB008", "PRB012"}


def _clean(value: Any) -> Any:
    """NaN and infinities as strings, so that ``--format json`` is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _top_layers(steps: list[dict], k: int = TOP_LAYERS) -> list[dict]:
    sums: dict[str, list[float]] = {}
    for step in steps:
        for layer, norm in (step.get("layer_grad_norms") or {}).items():
            if isinstance(norm, (int, float)) and math.isfinite(norm):
                sums.setdefault(layer, []).append(norm)
    rows = [
        {
            "layer": layer,
            "mean_grad_norm": round(sum(v) / len(v), 6),
            "last_grad_norm": round(v[-1], 6),
        }
        for layer, v in sums.items()
    ]
    rows.sort(key=lambda r: -r["mean_grad_norm"])
    return rows[:k]


def build(result: dict, target: str, steps_asked: int) -> dict:
    """The report as plain data; ``exit_code`` follows DESIGN.md (0 pass, 1 fail, 2 not run)."""
    status = result.get("status", "crashed")
    obs = result.get("observations") or {}
    seen_steps = obs.get("steps", [])
    checks: list[dict] = []
    if seen_steps:
        checks = [c.to_dict() for c in passive_checks.run_all(result)]
        checks += result.get("active") or []
    elif obs:
        # No step completed: keep only failures that explain a crash.
        checks = [
            c.to_dict()
            for c in passive_checks.run_all(result)
            if c.id in CRASH_EXPLAINING and c.verdict == FAIL
        ]
    message = ""
    exit_code = EXIT_OK
    if status == "timeout":
        exit_code = EXIT_NOT_RUN
        message = (
            f"timed out after {result.get('timeout')} s: the pipeline hangs or is far "
            "slower than expected; the process group was killed"
        )
    elif status in ("error", "probe_error", "crashed"):
        exit_code = EXIT_NOT_RUN
        err = result.get("error") or {}
        whose = "the probe itself failed" if status == "probe_error" else "the pipeline raised"
        message = f"{whose}: {err.get('type', '?')}: {err.get('message', '')}"
        labels = next((c for c in checks if c["id"] == "PRB012" and c["verdict"] == FAIL), None)
        if status == "error" and _out_of_memory(err) and result.get("max_memory"):
            limit = result["max_memory"] / 2**30
            message = (
                f"the script exceeded the memory limit ({limit:.1f} GB; raise it with "
                f"--max-memory): {err.get('type')}: {err.get('message', '')[:200]}"
            )
        elif labels is not None:
            message = (
                f"labels out of range crashed the script: {labels['message']} "
                f"({err.get('type', '?')}: {err.get('message', '')[:160]})"
            )
    elif not seen_steps:
        exit_code = EXIT_NOT_RUN
        how = (
            ("exited with code " + str(result.get("exit_code")))
            if status == "exited"
            else "finished"
        )
        message = f"no optimizer step observed: the script {how} before training"
    else:
        failed = [c for c in checks if c["verdict"] == FAIL]
        exit_code = EXIT_FAILED if failed else EXIT_OK
        ran = f"{len(seen_steps)} steps observed"
        if result.get("timed_out"):
            ran += f" (the script was stopped at the --timeout of {result.get('timeout')} s)"
        elif status == "exited":
            ran += f" (the script exited with code {result.get('exit_code')} first)"
        elif status == "finished" and result.get("mode") == "script":
            ran += " (the script ran to its end)"
        message = f"{len(failed)} check(s) failed; {ran}" if failed else f"all checks passed; {ran}"
    top = _top_layers(seen_steps)
    top_names = [row["layer"] for row in top]
    output = result.get("script_output", "")
    tail = "\n".join(output.rstrip("\n").splitlines()[-OUTPUT_TAIL_LINES:]) if output else ""
    report = {
        "target": target,
        "mode": result.get("mode"),
        "status": status,
        "exit_code": exit_code,
        "message": message,
        "environment": result.get("environment", {}),
        "checks": checks,
        "steps": [
            {
                "step": s["step"],
                "loss": s.get("loss"),
                "lr": (s.get("lrs") or [None])[0],
                "grad_norm": _total(s.get("layer_grad_norms") or {}),
                "backwards": s.get("backwards"),
                "layers": {k: (s.get("layer_grad_norms") or {}).get(k) for k in top_names},
            }
            for s in seen_steps
        ],
        "top_layers": top,
        "error": result.get("error"),
        "script_output_tail": tail,
        "warnings": obs.get("warnings", []),
        "internal_errors": obs.get("internal_errors", []),
        "shortened": _shortened(obs),
        "show_batch": result.get("show_batch"),
        "detached_helpers": result.get("detached_helpers", []),
        "script_output_bytes": result.get("script_output_bytes"),
        "max_memory": result.get("max_memory"),
        "elapsed": result.get("elapsed"),
        "wall_time": result.get("wall_time"),
    }
    return _clean(report)


def _out_of_memory(err: dict) -> bool:
    text = f"{err.get('type', '')}: {err.get('message', '')}".lower()
    return err.get("type") == "MemoryError" or any(m in text for m in _MEMORY_ERRORS)


def _shortened(obs: dict) -> dict | None:
    """What the loop shortening cut, for the report's note (None when nothing was)."""
    passes = obs.get("loader_passes")
    if not passes:
        return None
    loaders = passes.get("loaders", [])
    cut = [entry for entry in loaders if entry["shortened_passes"]]
    return {
        "limit": passes.get("limit"),
        "epochs_seen": len(passes.get("training_boundaries", [])),
        "loaders": loaders,
        "shortened": bool(cut),
        "stop_reason": obs.get("stop_reason"),
    }


def shortening_note(report: dict) -> str | None:
    info = report.get("shortened")
    if not info or not info["loaders"]:
        return None
    if not info["shortened"]:
        return f"whole DataLoader passes; {info['epochs_seen']} training epoch(s) seen"
    parts = []
    for entry in info["loaders"]:
        kind = "training" if entry["training_passes"] else "evaluation"
        length = entry["len"] if entry["len"] is not None else "?"
        if entry["shortened_passes"]:
            what = f"{entry['passes']} pass(es) of {info['limit']} of {length} batches"
        else:
            what = f"{entry['passes']} whole pass(es) of {length} batches"
        parts.append(f"{kind} loader {entry['index']}: {what}")
    note = (
        f"shortened: each DataLoader pass ended after {info['limit']} batches "
        f"({'; '.join(parts)}); {info['epochs_seen']} training epoch(s) seen"
    )
    return note + "; --no-limit for whole epochs"


def _total(layers: dict) -> float | None:
    vals = [v for v in layers.values() if isinstance(v, (int, float)) and math.isfinite(v)]
    return round(math.sqrt(sum(v * v for v in vals)), 6) if vals else None


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2)


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_fmt_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _fmt_numbers(numbers: dict) -> str:
    parts = []
    for key, value in numbers.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, list):
            value = (
                "["
                + ", ".join(_fmt_value(v) for v in value[:4])
                + (", ..." if len(value) > 4 else "]")
            )
        elif isinstance(value, dict):
            value = _fmt_value(value)
        parts.append(f"{key}={value}")
    return " ".join(parts)


def render(report: dict, console) -> None:
    """Print the report with rich: header, checks, steps, layers, the user's traceback."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    console.print(Text(_header(report), style="bold"))
    if report["checks"]:
        table = Table(show_lines=False, header_style="bold")
        for col in ("id", "check", "verdict", "confirms"):
            table.add_column(col, no_wrap=True)
        table.add_column("details", overflow="fold", ratio=1)
        style = {PASS: "green", FAIL: "bold red", NA: "dim"}
        for c in report["checks"]:
            details = c["message"]
            if c.get("numbers"):
                details += f"\n[dim]{_escape(_fmt_numbers(c['numbers']))}[/dim]"
            table.add_row(
                c["id"],
                c["name"],
                f"[{style[c['verdict']]}]{c['verdict']}[/]",
                c.get("rule") or "-",
                details,
            )
        console.print(table)
    if report["steps"]:
        steps = Table(title="loss per step", header_style="bold")
        for col in ("step", "loss", "lr", "grad norm"):
            steps.add_column(col, justify="right")
        for s in report["steps"]:
            steps.add_row(str(s["step"]), _num(s["loss"]), _num(s["lr"]), _num(s["grad_norm"]))
        layers = Table(title=f"top {TOP_LAYERS} layers by gradient norm", header_style="bold")
        for col in ("layer", "mean", "last"):
            layers.add_column(col, justify="right" if col != "layer" else "left")
        for row in report["top_layers"]:
            layers.add_row(row["layer"], _num(row["mean_grad_norm"]), _num(row["last_grad_norm"]))
        console.print(steps)
        console.print(layers)
    err = report.get("error")
    if err and err.get("traceback"):
        title = (
            "the probe's own error (please report it)"
            if report["status"] == "probe_error"
            else "your script raised (its traceback, probe frames removed)"
        )
        console.print(Panel(Text(err["traceback"].rstrip()), title=title, border_style="red"))
    if report.get("script_output_tail") and report["exit_code"] == EXIT_NOT_RUN:
        console.print(
            Panel(
                Text(report["script_output_tail"]), title="script output (tail)", border_style="dim"
            )
        )
    for line in _footer_lines(report):
        console.print(Text(line, style="dim"))
    colour = {EXIT_OK: "green", EXIT_FAILED: "red", EXIT_NOT_RUN: "yellow"}[report["exit_code"]]
    console.print(Text(report["message"], style=f"bold {colour}"))


def render_lines(report: dict, width: int = 100) -> str:
    """The report for pipes and narrow terminals: one line per check, details indented."""
    import textwrap

    width = max(60, width)
    lines = [_header(report)]
    indent = "    "
    for c in report["checks"]:
        rule = f" ({c['rule']})" if c.get("rule") else ""
        lines.append(f"{c['id']} {c['verdict']} {c['name']}{rule}: {c['message']}")
        if c.get("numbers"):
            lines += textwrap.wrap(
                _fmt_numbers(c["numbers"]), width, initial_indent=indent, subsequent_indent=indent
            )
    if report["steps"]:
        shown = (
            report["steps"]
            if len(report["steps"]) <= 12
            else (report["steps"][:6] + report["steps"][-6:])
        )
        lines.append("loss per step (step loss lr grad-norm):")
        for s in shown:
            lines.append(
                f"{indent}{s['step']} {_num(s['loss'])} {_num(s['lr'])} {_num(s['grad_norm'])}"
            )
    if report["top_layers"]:
        lines.append(f"top {TOP_LAYERS} layers by gradient norm (layer mean last):")
        for row in report["top_layers"]:
            lines.append(
                f"{indent}{row['layer']} {_num(row['mean_grad_norm'])} {_num(row['last_grad_norm'])}"
            )
    lines += _footer_lines(report)
    err = report.get("error")
    if err and err.get("traceback"):
        lines.append(
            "your script raised (its traceback, probe frames removed):"
            if report["status"] != "probe_error"
            else "the probe's own error (please report it):"
        )
        lines += [indent + line for line in err["traceback"].rstrip().splitlines()]
    if report.get("script_output_tail") and report["exit_code"] == EXIT_NOT_RUN:
        lines.append("script output (tail):")
        lines += [indent + line for line in report["script_output_tail"].splitlines()]
    lines.append(report["message"])
    return "\n".join(lines)


def _header(report: dict) -> str:
    env = report.get("environment") or {}
    head = f"clsaudit probe {report['target']}  ({report.get('mode') or '?'} mode"
    if env:
        head += f"; torch {env.get('torch')}, {env.get('threads')} thread(s)"
        head += f", cuda: {env.get('cuda_device', 'no')}" if env.get("cuda_available") else ""
    return head + ")"


def _footer_lines(report: dict) -> list[str]:
    lines = []
    note = shortening_note(report)
    if note:
        lines.append(note)
    picture = report.get("show_batch")
    if picture:
        if picture.get("error"):
            lines.append(f"--show-batch: {picture['error']}")
        else:
            lines.append(
                f"first training batch ({picture['samples']} samples, de-normalised with the "
                f"measured channel mean {picture['channel_mean']} and std "
                f"{picture['channel_std']}) saved to {picture['path']}"
            )
    for helper in report.get("detached_helpers") or []:
        lines.append(f"a process the script detached still holds its output: {helper}")
    return lines


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def plot(report: dict, path: str) -> str | None:
    """Save the loss curve and top layers' gradient norms; the error text if matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "--plot needs matplotlib: pip install 'clsaudit[plot]'"
    steps = report["steps"]
    fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(11, 4))
    xs = [s["step"] for s in steps if isinstance(s["loss"], (int, float))]
    ax_loss.plot(xs, [s["loss"] for s in steps if isinstance(s["loss"], (int, float))], marker="o")
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title("loss per step")
    names = [r["layer"] for r in report["top_layers"]]
    for name in names:
        ys = [(s.get("layers") or {}).get(name) for s in steps]
        ax_grad.plot(range(len(ys)), ys, label=name)
    ax_grad.set_yscale("log")
    ax_grad.set_xlabel("optimizer step")
    ax_grad.set_title("gradient norm per layer (top)")
    if names:
        ax_grad.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
