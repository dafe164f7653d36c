"""``clsaudit diagnose`` end to end: piped tables, JSON, reports, errors, and nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clsaudit.cli import main

REPO = Path(__file__).resolve().parent.parent
LONG_NAME = "a_very_long_class_name_that_a_narrow_terminal_would_wrap_over_two_lines"

PROGRAM = """
import sys
if sys.argv[1] == "no-numpy":
    sys.modules["numpy"] = None  # import numpy raises ImportError, as where it is not installed
from clsaudit.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m, module in sys.modules.items() if module and m in ("torch", "numpy", "matplotlib"))
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
print("CODE:" + str(code), file=sys.stderr)
"""


def _csv(tmp_path: Path) -> Path:
    """Three classes with probabilities; 'bee' is often taken for the long-named class."""
    rows = ["label,ant,bee," + LONG_NAME]
    for i in range(30):
        label = ["ant", "bee", LONG_NAME][i % 3]
        if label == "ant":
            rows.append("ant,0.8,0.1,0.1")
        elif label == "bee":
            rows.append("bee,0.1,0.3,0.6" if i % 2 else "bee,0.1,0.7,0.2")
        else:
            rows.append(f"{LONG_NAME},0.05,0.15,0.8")
    path = tmp_path / "preds.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _run(*args: str, mode: str = "normal") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, mode, "diagnose", *args],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "60"},  # a narrow terminal, had it been one
    )


def test_piped_tables_never_wrap_a_cell(tmp_path) -> None:
    result = _run(str(_csv(tmp_path)))
    assert "CODE:0" in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    per_class = [line for line in lines if line.startswith("│ " + LONG_NAME)]
    assert len(per_class) == 1  # one table row, on one line, with all its numbers
    assert [cell.strip() for cell in per_class[0].split("│")[2:7]] == ["0.667", "1.000", "0.800", "10", "15"]
    assert any(line.startswith("│ 2 " + LONG_NAME) for line in lines)  # the confusion matrix row
    assert "Recommendation [" in result.stdout


def test_no_torch_and_no_numpy_needed(tmp_path) -> None:
    path = str(_csv(tmp_path))
    with_numpy = _run(path, "--format", "json")
    without = _run(path, "--format", "json", mode="no-numpy")
    assert "HEAVY:numpy\n" in with_numpy.stderr  # numpy used when it is there, torch never
    assert "HEAVY:\n" in without.stderr and "CODE:0" in without.stderr, without.stderr
    a, b = json.loads(with_numpy.stdout), json.loads(without.stdout)
    assert a["confusion_matrix"] == b["confusion_matrix"]
    assert a["calibration"]["ece"] == pytest.approx(b["calibration"]["ece"], rel=1e-9)
    assert a["calibration"]["temperature"] == pytest.approx(b["calibration"]["temperature"], rel=1e-6)


def test_json_holds_every_number(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["diagnose", str(_csv(tmp_path)), "--format", "json", "--top-k", "2"])
    assert exit.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_samples"] == 30 and report["classes"][2] == LONG_NAME
    assert report["accuracy"] == pytest.approx(25 / 30)
    assert report["top_k"] == {"k": 2, "accuracy": 1.0}
    assert report["confusion_matrix"] == [[10, 0, 0], [0, 5, 5], [0, 0, 10]]
    assert report["confusion_matrix_normalised"][1] == [0.0, 0.5, 0.5]
    assert report["per_class"][1] == {
        "class": "bee", "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 10, "predicted": 5,
    }
    assert set(report["averages"]) == {"macro", "weighted"}
    assert report["most_confused"] == [{"true": "bee", "predicted": LONG_NAME, "count": 5, "share_of_true": 0.5}]
    calibration = report["calibration"]
    assert {"ece", "temperature", "ece_after_temperature", "nll", "nll_after_temperature", "reliability"} <= set(calibration)
    assert sum(b["count"] for b in calibration["reliability"]) == 30
    assert report["recommendation"]["rule"] and report["recommendation"]["evidence"]


def _main(*args: str) -> int:
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    return exit.value.code


def test_bad_input_exits_2_with_one_line_and_leaves_old_reports_alone(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("label,a,b\na,0.3,0.3\n")
    html = tmp_path / "report.html"
    html.write_text("old report")
    assert _main("diagnose", str(bad), "--html", str(html)) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}: line 2: the probabilities sum to 0.6, not 1; pass --logits if the scores are logits\n"
    assert html.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "report.html"]


def test_missing_matplotlib_stops_before_any_file_is_written(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    html, png = tmp_path / "r.html", tmp_path / "r.png"
    assert _main("diagnose", str(_csv(tmp_path)), "--html", str(html), "--png", str(png)) == 2
    assert "--png needs matplotlib: pip install 'clsaudit[plot]'" in capsys.readouterr().err
    assert not html.exists() and not png.exists()


def test_output_folder_must_exist(tmp_path, capsys) -> None:
    assert _main("diagnose", str(_csv(tmp_path)), "--html", str(tmp_path / "no" / "r.html")) == 2
    assert "does not exist" in capsys.readouterr().err


def test_html_and_png_reports(tmp_path, capsys) -> None:
    pytest.importorskip("matplotlib")
    html, png = tmp_path / "r.html", tmp_path / "r.png"
    assert _main("diagnose", str(_csv(tmp_path)), "--html", str(html), "--png", str(png), "--format", "json") == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html.read_text()
    # Self-contained: nothing is fetched (the SVG namespace is a name, not a request).
    for fetch in ("src=", "href=", "<script", "@import", "url("):
        assert fetch not in page
    # The recommendation comes before every chart.
    assert page.index("id='recommendation'") < page.index("<svg")
    assert page.count("data-cell=") == 9
    assert oct(html.stat().st_mode & 0o777) != oct(0o600)  # a new report is not private to its writer
    assert capsys.readouterr().err.endswith(f"wrote {png}\nwrote {html}\n")


def test_logits_flag_on_predicted_labels_is_noted(tmp_path, capsys) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("label,prediction\na,a\nb,a\n")
    assert _main("diagnose", str(path), "--logits", "--format", "json") == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert "--logits has no effect: the file holds predicted labels, not scores" in notes
