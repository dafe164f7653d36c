"""The HTML report's three pictures as inline SVG: no scripts, no fonts or files fetched.

Every mark carries ``data-`` attributes with the number it draws, so a
test (or a curious user with the browser's inspector) can check the
picture against the JSON: a heatmap cell is
``<rect data-cell="true,predicted" data-count="12" data-share="0.12">``.
"""

from __future__ import annotations

from html import escape

from clsaudit.metrics.counts import nonzero_cells

MAX_HEATMAP_CLASSES = 40  # more classes: the ones involved in the most errors are drawn
MAX_BAR_CLASSES = 40  # more classes: the ones with the lowest F1 are drawn
LABEL_CHARS = 24
FONT = "font-family='system-ui, -apple-system, Segoe UI, sans-serif' font-size='12'"


def _label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "\u2026"


def share_colour(share: float) -> str:
    """White to dark blue, linear in the share of the true class."""
    low, high = (247, 251, 255), (8, 48, 107)
    share = min(max(share, 0.0), 1.0)
    red, green, blue = (round(a + (b - a) * share) for a, b in zip(low, high))
    return f"rgb({red},{green},{blue})"


def heatmap_classes(report: dict) -> list[int]:
    """All classes, or the :data:`MAX_HEATMAP_CLASSES` involved in the most errors, in index order."""
    num_classes = report["num_classes"]
    if num_classes <= MAX_HEATMAP_CLASSES:
        return list(range(num_classes))
    cm = report["confusion_matrix"]
    involvement = [0] * num_classes
    for true, predicted, count in nonzero_cells(cm):
        if predicted != true:
            involvement[true] += count
            involvement[predicted] += count
    chosen = sorted(range(num_classes), key=lambda c: (-involvement[c], c))[:MAX_HEATMAP_CLASSES]
    return sorted(chosen)


def confusion_heatmap(report: dict) -> str:
    """Rows: true class; columns: predicted class; colour: row-normalised share; text: count."""
    shown = heatmap_classes(report)
    names = report["classes"]
    cm, shares = report["confusion_matrix"], report["confusion_matrix_normalised"]
    count = len(shown)
    cell = max(14, min(44, 640 // max(count, 1)))
    label_width = 8 + 7 * max(len(_label(names[c])) for c in shown)
    left, top = label_width + 24, label_width + 24
    width, height = left + cell * count + 10, top + cell * count + 10
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='heatmap' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='confusion matrix heatmap' "
        f"data-classes-shown='{count}' data-classes-total='{report['num_classes']}' {FONT}>",
        f"<text x='{left + cell * count / 2}' y='12' text-anchor='middle' font-weight='bold'>predicted class</text>",
        f"<text transform='translate(12 {top + cell * count / 2}) rotate(-90)' text-anchor='middle' "
        "font-weight='bold'>true class</text>",
    ]
    for position, c in enumerate(shown):
        x = left + position * cell + cell / 2
        y = top + position * cell + cell / 2
        name = escape(_label(names[c]))
        parts.append(
            f"<text x='{left - 6}' y='{y + 4}' text-anchor='end'><title>{escape(names[c])}</title>{name}</text>"
        )
        parts.append(
            f"<text transform='translate({x + 4} {top - 6}) rotate(-90)' text-anchor='start'>"
            f"<title>{escape(names[c])}</title>{name}</text>"
        )
    for row_position, true in enumerate(shown):
        for column_position, predicted in enumerate(shown):
            value, share = cm[true][predicted], shares[true][predicted]
            x, y = left + column_position * cell, top + row_position * cell
            tip = f"{names[true]} predicted as {names[predicted]}: {value} ({share:.1%} of {names[true]})"
            parts.append(
                f"<rect data-cell='{true},{predicted}' data-count='{value}' data-share='{share:.6f}' "
                f"x='{x}' y='{y}' width='{cell}' height='{cell}' fill='{share_colour(share)}' "
                f"stroke='#ffffff' stroke-width='1'><title>{escape(tip)}</title></rect>"
            )
            if count <= 20 and value:
                ink = "#ffffff" if share > 0.5 else "#1a1a1a"
                parts.append(
                    f"<text x='{x + cell / 2}' y='{y + cell / 2 + 4}' text-anchor='middle' "
                    f"fill='{ink}' pointer-events='none'>{value}</text>"
                )
    parts.append("</svg>")
    return "".join(parts)


BAR_COLOURS = {"precision": "#4c78a8", "recall": "#f58518", "f1": "#54a24b"}


def per_class_bars(report: dict) -> tuple[str, int]:
    """Precision, recall and F1 per class as horizontal bars; returns the SVG and the classes drawn."""
    rows = report["per_class"]
    order = list(range(len(rows)))
    if len(rows) > MAX_BAR_CLASSES:
        order = sorted(order, key=lambda c: (rows[c]["f1"], c))[:MAX_BAR_CLASSES]
    label_width = 8 + 7 * max(len(_label(rows[c]["class"])) for c in order)
    bar, gap, scale = 7, 8, 360
    group = 3 * bar + gap
    left, top = label_width + 10, 28
    width = left + scale + 60
    height = top + group * len(order) + 30
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='bars' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='per-class precision, recall and F1' {FONT}>"
    ]
    for position, metric in enumerate(("precision", "recall", "f1")):
        x = left + position * 110
        parts.append(f"<rect x='{x}' y='6' width='12' height='12' fill='{BAR_COLOURS[metric]}'/>")
        parts.append(f"<text x='{x + 16}' y='16'>{'F1' if metric == 'f1' else metric}</text>")
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * scale
        parts.append(f"<line x1='{x}' y1='{top - 4}' x2='{x}' y2='{height - 24}' stroke='#dddddd'/>")
        parts.append(f"<text x='{x}' y='{height - 10}' text-anchor='middle'>{tick:g}</text>")
    for position, c in enumerate(order):
        row = rows[c]
        y = top + position * group
        parts.append(
            f"<text x='{left - 6}' y='{y + 1.5 * bar + 4}' text-anchor='end'>"
            f"<title>{escape(row['class'])}</title>{escape(_label(row['class']))}</text>"
        )
        for offset, metric in enumerate(("precision", "recall", "f1")):
            value = row[metric]
            parts.append(
                f"<rect data-class='{c}' data-metric='{metric}' data-value='{value:.6f}' "
                f"x='{left}' y='{y + offset * bar}' width='{value * scale:.2f}' height='{bar - 1}' "
                f"fill='{BAR_COLOURS[metric]}'><title>{escape(row['class'])} {metric} {value:.3f}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts), len(order)


def reliability_diagram(calibration: dict) -> str:
    """Accuracy per confidence bin against the diagonal of perfect calibration; gaps in red."""
    size, left, top, bottom = 320, 48, 12, 40
    width, height = left + size + 16, top + size + bottom
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='reliability' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='reliability diagram' {FONT}>",
        f"<rect x='{left}' y='{top}' width='{size}' height='{size}' fill='#fafafa' stroke='#999999'/>",
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x, y = left + tick * size, top + size - tick * size
        parts.append(f"<text x='{x}' y='{top + size + 16}' text-anchor='middle'>{tick:g}</text>")
        parts.append(f"<text x='{left - 6}' y='{y + 4}' text-anchor='end'>{tick:g}</text>")
    for b in calibration["reliability"]:
        if not b["count"]:
            continue
        x = left + b["low"] * size
        bin_width = (b["high"] - b["low"]) * size
        accuracy_y = top + size - b["accuracy"] * size
        confidence_y = top + size - b["confidence"] * size
        parts.append(
            f"<rect data-bin='{b['low']:.4f}' data-count='{b['count']}' data-accuracy='{b['accuracy']:.6f}' "
            f"x='{x:.2f}' y='{accuracy_y:.2f}' width='{bin_width:.2f}' height='{top + size - accuracy_y:.2f}' "
            f"fill='#4c78a8' stroke='#ffffff'><title>confidence ({b['low']:.2f}, {b['high']:.2f}]: "
            f"{b['count']} samples, accuracy {b['accuracy']:.3f}, mean confidence {b['confidence']:.3f}"
            "</title></rect>"
        )
        gap_top, gap_height = min(accuracy_y, confidence_y), abs(accuracy_y - confidence_y)
        parts.append(
            f"<rect x='{x:.2f}' y='{gap_top:.2f}' width='{bin_width:.2f}' height='{gap_height:.2f}' "
            "fill='#e45756' fill-opacity='0.35' pointer-events='none'/>"
        )
    parts.append(
        f"<line x1='{left}' y1='{top + size}' x2='{left + size}' y2='{top}' stroke='#333333' stroke-dasharray='4 3'/>"
    )
    parts.append(f"<text x='{left + size / 2}' y='{height - 6}' text-anchor='middle'>confidence</text>")
    parts.append(
        f"<text transform='translate(12 {top + size / 2}) rotate(-90)' text-anchor='middle'>accuracy</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
