"""``clsaudit diagnose PREDICTIONS``: read predictions, print the diagnosis, write the reports.

Loaded lazily by the CLI, and light itself: click at import time; rich,
numpy and matplotlib only when the run needs them; torch never.

Nothing is half-written: every output (the HTML page, the PNG) is
rendered in memory first, so a missing matplotlib or a bad input stops
the run before any file is touched, and each file is then replaced
atomically.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

EXIT_ERROR = 2


@click.command("diagnose", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("predictions_path", metavar="PREDICTIONS")
@click.option(
    "--classes",
    "classes_path",
    type=click.Path(dir_okay=False),
    help="Class names, one a line, in index order (default: the file's header or 'classes').",
)
@click.option("--logits", is_flag=True, help="The scores are logits, not probabilities.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), help="Write the confusion heatmap (needs matplotlib).")
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--bins", type=click.IntRange(1, 100), default=15, show_default=True, help="Calibration bins.")
@click.option("--no-color", is_flag=True, help="Plain output even on a terminal.")
def diagnose(
    predictions_path: str,
    classes_path: str | None,
    logits: bool,
    fmt: str,
    html_path: str | None,
    png_path: str | None,
    top_k: int,
    bins: int,
    no_color: bool,
) -> None:
    """Confusion matrix, per-class metrics, calibration and one recommendation for PREDICTIONS.

    PREDICTIONS is a .csv, .json or .npz file of true labels and either
    predicted labels or per-class scores (probabilities, or logits with
    --logits). See the README's "Diagnose" section for the formats.
    """
    from clsaudit.diagnose.analysis import diagnose as build_diagnosis
    from clsaudit.diagnose.errors import DiagnoseError
    from clsaudit.diagnose.predictions import read_class_names
    from clsaudit.diagnose.readers import read_predictions

    try:
        for output in (html_path, png_path):
            if output is not None:
                _check_writable(output)
        classes = read_class_names(classes_path) if classes_path else None
        predictions = read_predictions(predictions_path, classes, logits=logits)
        if logits and predictions.scores is None:
            predictions.notes.append("--logits has no effect: the file holds predicted labels, not scores")
        report = build_diagnosis(predictions, top_k=top_k, n_bins=bins)
        report["source"] = os.path.basename(predictions_path)
        rendered = _render_files(report, html_path, png_path)
    except DiagnoseError as error:
        _fail(str(error))
    for path, data in rendered:
        _write(path, data)
    if fmt == "json":
        from clsaudit.diagnose.json_output import dumps

        sys.stdout.write(dumps(report) + "\n")
    else:
        from clsaudit.diagnose.terminal import make_console, print_diagnosis

        color = False if no_color or os.environ.get("NO_COLOR") else None
        print_diagnosis(report, make_console(color=color))
    for path, _ in rendered:
        click.echo(f"wrote {path}", err=True)


def _render_files(report: dict, html_path: str | None, png_path: str | None) -> list[tuple[str, bytes]]:
    """Every output file's bytes, before any is written."""
    rendered = []
    if png_path is not None:
        from clsaudit.diagnose.png_heatmap import render_png

        rendered.append((png_path, render_png(report)))
    if html_path is not None:
        from clsaudit.diagnose.html_report import render_html

        rendered.append((html_path, render_html(report).encode("utf-8")))
    return rendered


def _check_writable(path: str) -> None:
    from clsaudit.diagnose.errors import PredictionFileError

    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise PredictionFileError(f"{path}: cannot write: folder {folder} does not exist")
    if Path(path).is_dir():
        raise PredictionFileError(f"{path}: cannot write: it is a folder")


def _write(path: str, data: bytes) -> None:
    from clsaudit.atomic_write import atomic_write

    existed = os.path.exists(path)
    try:
        atomic_write(path, data, keep_mode_of=path if existed else None, prefix=".clsaudit-diagnose-")
        if not existed:  # a new report is readable like any file the user creates, not 0600
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(path, 0o666 & ~umask)
    except OSError as error:
        _fail(f"{path}: cannot write: {error.strerror or error}")


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)
