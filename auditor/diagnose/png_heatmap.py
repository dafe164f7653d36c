"""``--png FILE``: the confusion heatmap alone, as a picture for slides and issues (matplotlib).

matplotlib comes with the ``plot`` extra; without it the run stops with a
message saying how to install it, before any file is written.
"""

from __future__ import annotations

import io

from clsaudit.diagnose.errors import MissingExtraError
from clsaudit.diagnose.svg_charts import heatmap_classes

PLOT_MESSAGE = "--png needs matplotlib: pip install 'clsaudit[plot]' (or use --html, which needs nothing)"


def render_png(report: dict) -> bytes:
    """Rows: true class; columns: predicted; colour: row-normalised share; counts written in."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed, and no window opened
        from matplotlib import pyplot
    except ImportError:
        raise MissingExtraError(PLOT_MESSAGE) from None
    shown = heatmap_classes(report)
    names = [report["classes"][c] for c in shown]
    shares = [[report["confusion_matrix_normalised"][t][p] for p in shown] for t in shown]
    counts = [[report["confusion_matrix"][t][p] for p in shown] for t in shown]
    side = max(4.0, 0.45 * len(shown) + 2.5)
    figure, axes = pyplot.subplots(figsize=(side + 1.5, side))
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(shown)), names, rotation=90)
    axes.set_yticks(range(len(shown)), names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    title = f"{report.get('source', 'predictions')}: accuracy {report['accuracy']:.2%}"
    if len(shown) < report["num_classes"]:
        title += f" ({len(shown)} of {report['num_classes']} classes: most errors)"
    axes.set_title(title)
    if len(shown) <= 20:
        for t, row in enumerate(counts):
            for p, value in enumerate(row):
                if value:
                    colour = "white" if shares[t][p] > 0.5 else "black"
                    axes.text(p, t, str(value), ha="center", va="center", color=colour, fontsize=8)
    figure.colorbar(image, ax=axes, label="share of the true class")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    pyplot.close(figure)
    return buffer.getvalue()
