"""``--html FILE``: the diagnosis as one self-contained page.

The recommendation and the numbers behind it come first (the one thing
to act on), then the summary, the confusion heatmap, the per-class bars,
the reliability diagram, and the tables. Everything is inline (CSS and
SVG, no script), so the page opens from a mail attachment or a CI
artifact with no network.
"""

from __future__ import annotations

from html import escape

from clsaudit import __version__
from clsaudit.diagnose.svg_charts import (
    MAX_BAR_CLASSES,
    MAX_HEATMAP_CLASSES,
    confusion_heatmap,
    per_class_bars,
    reliability_diagram,
)

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px auto;
       max-width: 1100px; color: #1a1a1a; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.source { color: #666666; margin-top: 0; }
.recommendation { border-left: 6px solid #2e7d32; background: #f1f8e9; padding: 12px 18px; }
.recommendation h2 { margin-top: 4px; }
.warning { border-left: 6px solid #f9a825; background: #fffde7; padding: 8px 18px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #dddddd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card b { display: block; font-size: 20px; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border-bottom: 1px solid #e5e5e5; padding: 3px 10px; text-align: right; white-space: nowrap; }
td:first-child, th:first-child { text-align: left; }
.note { color: #555555; font-size: 13px; }
.chart { overflow-x: auto; }
.row { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
.row > div { flex: 0 0 auto; } .row p { max-width: 400px; }
"""


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_number(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _recommendation(report: dict) -> str:
    recommendation = report["recommendation"]
    evidence = _table(["evidence", "value"], [[k, v] for k, v in recommendation["evidence"].items()])
    return (
        "<section class='recommendation' id='recommendation'>"
        f"<h2>Recommendation: {escape(recommendation['title'])}</h2>"
        f"<p>{escape(recommendation['message'])}</p>{evidence}"
        f"<p class='note'>rule <code>{escape(recommendation['rule'])}</code> "
        "(the rules and their thresholds: README, \"Diagnose\")</p></section>"
    )


def _cards(report: dict) -> str:
    cards = [
        ("samples", str(report["num_samples"])),
        ("classes", str(report["num_classes"])),
        ("accuracy", f"{report['accuracy']:.2%}"),
        ("balanced accuracy", f"{report['balanced_accuracy']:.2%}"),
        ("macro F1", f"{report['averages']['macro']['f1']:.3f}"),
        ("weighted F1", f"{report['averages']['weighted']['f1']:.3f}"),
    ]
    if report["top_k"] is not None:
        cards.insert(3, (f"top-{report['top_k']['k']}", f"{report['top_k']['accuracy']:.2%}"))
    calibration = report["calibration"]
    if calibration is not None:
        cards += [
            ("ECE", f"{calibration['ece']:.4f}"),
            ("temperature", f"{calibration['temperature']:.3f}"),
            ("ECE after T", f"{calibration['ece_after_temperature']:.4f}"),
        ]
    inner = "".join(f"<div class='card'>{escape(name)}<b>{escape(value)}</b></div>" for name, value in cards)
    return f"<div class='cards'>{inner}</div>"


def _heatmap_section(report: dict) -> str:
    total = report["num_classes"]
    caption = "Rows: true class; columns: predicted class; colour: share of the true class; text: count."
    if total > MAX_HEATMAP_CLASSES:
        caption += (
            f" Showing {MAX_HEATMAP_CLASSES} of {total} classes: those involved in the most errors"
            " (the full matrix is in --format json)."
        )
    return (
        f"<h2>Confusion matrix</h2><p class='note'>{escape(caption)}</p>"
        f"<div class='chart'>{confusion_heatmap(report)}</div>"
    )


def _bars_section(report: dict) -> str:
    svg, drawn = per_class_bars(report)
    caption = ""
    if drawn < report["num_classes"]:
        caption = f"<p class='note'>The {MAX_BAR_CLASSES} classes with the lowest F1 of {report['num_classes']}.</p>"
    return f"<h2>Per class</h2>{caption}<div class='chart'>{svg}</div>"


def _reliability_section(report: dict) -> str:
    calibration = report["calibration"]
    if calibration is None:
        return (
            "<h2>Calibration</h2><p class='note'>The file holds predicted labels only: calibration "
            "needs per-class scores (probabilities or logits).</p>"
        )
    caption = (
        f"ECE {calibration['ece']:.4f} over {calibration['bins']} bins (blue: accuracy, red: gap to "
        f"the diagonal); after T = {calibration['temperature']:.3f}: ECE "
        f"{calibration['ece_after_temperature']:.4f}, NLL {calibration['nll']:.4f} -> "
        f"{calibration['nll_after_temperature']:.4f}."
    )
    return (
        f"<h2>Calibration</h2><p class='note'>{escape(caption)}</p>"
        f"<div class='chart'>{reliability_diagram(calibration)}</div>"
    )


def _tables(report: dict) -> str:
    rows = [
        [row["class"], row["precision"], row["recall"], row["f1"], row["support"], row["predicted"]]
        for row in report["per_class"]
    ]
    for name in ("macro", "weighted"):
        average = report["averages"][name]
        rows.append([f"{name} avg", average["precision"], average["recall"], average["f1"], "", ""])
    per_class = _table(["class", "precision", "recall", "F1", "support", "predicted"], rows)
    pairs = _table(
        ["true", "predicted as", "count", "share of true class"],
        [[p["true"], p["predicted"], p["count"], f"{p['share_of_true']:.1%}"] for p in report["most_confused"]],
    )
    return f"<h2>Per-class table</h2>{per_class}<h2>Most confused pairs</h2>{pairs}"


def render_html(report: dict) -> str:
    """The whole page as a string (the caller writes it atomically)."""
    source = escape(report.get("source", "predictions"))
    warnings = "".join(f"<p class='warning'>{escape(w)}</p>" for w in report["warnings"])
    notes = "".join(f"<li>{escape(n)}</li>" for n in report["notes"])
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>clsaudit diagnose: {source}</title><style>{STYLE}</style></head><body>"
        f"<h1>clsaudit diagnose</h1><p class='source'>{source} &middot; clsaudit {escape(__version__)}</p>"
        f"{_recommendation(report)}{warnings}<h2>Summary</h2>{_cards(report)}"
        f"{_heatmap_section(report)}"
        f"<div class='row'><div>{_bars_section(report)}</div><div>{_reliability_section(report)}</div></div>"
        f"{_tables(report)}"
        + (f"<h2>Notes</h2><ul class='note'>{notes}</ul>" if notes else "")
        + "</body></html>\n"
    )
