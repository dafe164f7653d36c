"""The diagnosis as rich tables, readable in a terminal and when piped.

Cells never wrap: a wrapped class name or number splits one row over two
lines and a pipe into ``grep`` or a CI log loses the row. Columns are
``no_wrap`` and, when the output is not a terminal, the console is as
wide as the widest table needs (a long line is easier to read than a
broken one). Matrices wider than :data:`MAX_MATRIX_CLASSES` are left to
``--format json`` and ``--html``: a 1,000-column table helps nobody.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

MAX_MATRIX_CLASSES = 20
PIPED_WIDTH = 4000


def make_console(file: Any = None, color: bool | None = None) -> Console:
    """A console for ``file`` (stdout by default): as wide as needed when not a terminal."""
    console = Console(file=file, no_color=color is False, highlight=False)
    if not console.is_terminal:
        console = Console(file=file, width=PIPED_WIDTH, no_color=color is False, highlight=False)
    return console


def _table(title: str, columns: list[tuple[str, str]]) -> Table:
    table = Table(title=title)
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    return table


def _print(console: Console, table: Table) -> None:
    """The title on a line of its own: rich wraps a title to the table's width, even piped."""
    console.print(Text(str(table.title), style="bold"))
    table.title = None
    console.print(table)


def _percent(value: float) -> str:
    return f"{value:.2%}"


def print_diagnosis(report: dict, console: Console) -> None:
    """Summary, recommendation, per-class table, confusion matrix, pairs, calibration, notes."""
    _print(console, _summary(report))
    for warning in report["warnings"]:
        console.print(Text("warning: " + warning, style="yellow"))
    recommendation = report["recommendation"]
    console.print(
        Text.assemble(
            ("Recommendation", "bold"),
            f" [{recommendation['rule']}]: ",
            (recommendation["title"], "bold green"),
        )
    )
    console.print(Text("  " + recommendation["message"]))
    _print(console, _per_class(report))
    if report["num_classes"] <= MAX_MATRIX_CLASSES:
        _print(console, _matrix(report, counts=True))
        _print(console, _matrix(report, counts=False))
    else:
        console.print(
            f"Confusion matrix: {report['num_classes']} x {report['num_classes']}, too wide for a "
            "terminal: use --format json or --html (most-confused pairs below)."
        )
    if report["most_confused"]:
        _print(console, _pairs(report))
    if report["calibration"] is not None:
        _print(console, _reliability(report["calibration"]))
    for note in report["notes"]:
        console.print(Text("note: " + note, style="dim"))


def _summary(report: dict) -> Table:
    columns = ["samples", "classes", "accuracy", "balanced acc.", "macro F1", "weighted F1"]
    values = [
        str(report["num_samples"]),
        str(report["num_classes"]),
        _percent(report["accuracy"]),
        _percent(report["balanced_accuracy"]),
        f"{report['averages']['macro']['f1']:.3f}",
        f"{report['averages']['weighted']['f1']:.3f}",
    ]
    if report["top_k"] is not None:
        columns.insert(3, f"top-{report['top_k']['k']}")
        values.insert(3, _percent(report["top_k"]["accuracy"]))
    calibration = report["calibration"]
    if calibration is not None:
        columns += ["ECE", "T", "ECE after T"]
        values += [
            f"{calibration['ece']:.4f}",
            f"{calibration['temperature']:.3f}",
            f"{calibration['ece_after_temperature']:.4f}",
        ]
    table = _table("Summary", [(name, "right") for name in columns])
    table.add_row(*values)
    return table


def _per_class(report: dict) -> Table:
    table = _table(
        "Per class",
        [("class", "left"), ("precision", "right"), ("recall", "right"), ("F1", "right"),
         ("support", "right"), ("predicted", "right")],
    )
    for row in report["per_class"]:
        table.add_row(
            Text(row["class"]), f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
            str(row["support"]), str(row["predicted"]),
        )
    total = str(report["num_samples"])
    for name in ("macro", "weighted"):
        average = report["averages"][name]
        table.add_row(
            Text(f"{name} avg", style="italic"), f"{average['precision']:.3f}",
            f"{average['recall']:.3f}", f"{average['f1']:.3f}", total, total,
        )
    return table


def _matrix(report: dict, counts: bool) -> Table:
    classes = report["classes"]
    title = (
        "Confusion matrix, counts (rows: true class, columns: predicted)"
        if counts
        else "Confusion matrix, row-normalised (share of each true class)"
    )
    table = _table(title, [("true \\ predicted", "left")] + [(str(c), "right") for c in range(len(classes))])
    matrix = report["confusion_matrix"] if counts else report["confusion_matrix_normalised"]
    for c, row in enumerate(matrix):
        cells = [str(v) for v in row] if counts else [f"{v:.2f}" for v in row]
        cells[c] = f"[bold]{cells[c]}[/bold]"
        table.add_row(Text(f"{c} {classes[c]}"), *cells)
    return table


def _pairs(report: dict) -> Table:
    table = _table(
        "Most confused pairs",
        [("true", "left"), ("predicted as", "left"), ("count", "right"), ("of true class", "right")],
    )
    for pair in report["most_confused"]:
        table.add_row(Text(pair["true"]), Text(pair["predicted"]), str(pair["count"]), _percent(pair["share_of_true"]))
    return table


def _reliability(calibration: dict) -> Table:
    table = _table(
        f"Calibration (ECE {calibration['ece']:.4f}, NLL {calibration['nll']:.4f}; "
        f"after T = {calibration['temperature']:.3f}: ECE {calibration['ece_after_temperature']:.4f}, "
        f"NLL {calibration['nll_after_temperature']:.4f})",
        [("confidence bin", "left"), ("samples", "right"), ("mean confidence", "right"),
         ("accuracy", "right"), ("gap", "right")],
    )
    for row in calibration["reliability"]:
        if row["count"]:
            table.add_row(
                f"({row['low']:.2f}, {row['high']:.2f}]", str(row["count"]),
                f"{row['confidence']:.3f}", f"{row['accuracy']:.3f}",
                f"{row['accuracy'] - row['confidence']:+.3f}",
            )
    return table
