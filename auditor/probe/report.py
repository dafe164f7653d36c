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
        if status == "exited":
            ran += f" (the script exited with code {result.get('exit_code')} first)"
        elif (
            status == "finished"
            and result.get("mode") == "script"
            and len(seen_steps) < steps_asked
        ):
            ran += " (the script finished first)"
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
        "elapsed": result.get("elapsed"),
        "wall_time": result.get("wall_time"),
    }
    return _clean(report)


def _total(layers: dict) -> float | None:
    vals = [v for v in layers.values() if isinstance(v, (int, float)) and math.isfinite(v)]
    return round(math.sqrt(sum(v * v for v in vals)), 6) if vals else None


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2)


def _fmt_numbers(numbers: dict) -> str:
    parts = []
    for key, value in numbers.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, list):
            value = (
                "["
                + ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value[:4])
                + (", ..." if len(value) > 4 else "]")
            )
        elif isinstance(value, dict):
            value = "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
        parts.append(f"{key}={value}")
    return " ".join(parts)


def render(report: dict, console) -> None:
    """Print the report with rich: header, checks, steps, layers, the user's traceback."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    env = report.get("environment") or {}
    head = f"clsaudit probe {report['target']}  ({report.get('mode') or '?'} mode"
    if env:
        head += f"; torch {env.get('torch')}, {env.get('threads')} thread(s)"
        head += f", cuda: {env.get('cuda_device', 'no')}" if env.get("cuda_available") else ""
    head += ")"
    console.print(Text(head, style="bold"))
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
    colour = {EXIT_OK: "green", EXIT_FAILED: "red", EXIT_NOT_RUN: "yellow"}[report["exit_code"]]
    console.print(Text(report["message"], style=f"bold {colour}"))


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
