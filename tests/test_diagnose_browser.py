"""The HTML report in a real headless Chromium: the DOM it builds and the pixels it paints.

``.ci/run`` installs Chromium from Debian's packages; where no browser
can be installed the test skips and says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from clsaudit.diagnose.analysis import diagnose
from clsaudit.diagnose.html_report import render_html
from clsaudit.diagnose.predictions import Predictions
from clsaudit.diagnose.svg_charts import share_colour

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog"]


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no headless Chromium on this machine: install it with `apt-get install chromium` "
        "(Debian's package; .ci/run does this)"
    )


def _headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, timeout=120, check=False,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[dict, Path]:
    """Seven classes with logits: class i is taken for class i+1 (i + 1) times in 40."""
    labels, scores = [], []
    for true in range(7):
        for sample in range(40):
            predicted = (true + 1) % 7 if sample <= true else true
            row = [0.0] * 7
            row[predicted] = 3.0 + (sample % 5) * 0.5
            labels.append(true)
            scores.append(row)
    report = diagnose(Predictions(list(CLASSES), labels, scores=scores, scores_given="logits"))
    report["source"] = "browser-test.csv"
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(report))
    return report, path


def test_heatmap_has_one_cell_per_matrix_entry_in_the_browsers_dom(page, tmp_path) -> None:
    report, path = page
    result = _headless(_browser(), tmp_path / "profile", "--dump-dom", path.as_uri())
    dom = result.stdout.decode()
    assert result.returncode == 0 and "</html>" in dom, result.stderr.decode()[-2000:]
    cells = re.findall(r'<rect data-cell="(\d+),(\d+)" data-count="(\d+)"', dom)
    assert len(cells) == 7 * 7
    seen = {(int(t), int(p)): int(count) for t, p, count in cells}
    assert seen == {(t, p): report["confusion_matrix"][t][p] for t in range(7) for p in range(7)}
    for name in CLASSES:  # class names on the axes
        assert dom.count(f">{name}</text>") >= 2
    assert dom.index('id="recommendation"') < dom.index("<svg")
    assert dom.count('data-metric="recall"') == 7
    assert dom.count("data-bin=") == sum(1 for b in report["calibration"]["reliability"] if b["count"])


def test_screenshot_paints_the_heatmap(page, tmp_path) -> None:
    report, path = page
    shot = tmp_path / "report.png"
    result = _headless(_browser(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1100,1500", path.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, result.stderr.decode()[-2000:]
    numpy = pytest.importorskip("numpy")
    image = pytest.importorskip("matplotlib.image").imread(str(shot))
    painted = numpy.round(image[..., :3] * 255).astype(int)
    # Each diagonal cell has its own share (40 - i - 1) / 40, hence its own colour: all seven are
    # painted as solid squares (a 44-pixel cell less its count label and border).
    for true in range(7):
        colour = share_colour(report["confusion_matrix_normalised"][true][true])
        rgb = numpy.array([int(v) for v in re.findall(r"\d+", colour)])
        assert (painted == rgb).all(axis=-1).sum() >= 1000, f"cell ({true}, {true}) {colour} not painted"
