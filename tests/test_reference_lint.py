"""The reference pipeline is the example users copy: clsaudit must have nothing to say about it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_clsaudit_reports_nothing_on_the_reference_pipeline() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "clsaudit",
            "--no-cache",
            "--format",
            "json",
            str(REPO / "reference_pipeline"),
            str(REPO / "tests" / "benchmarks" / "bench_reference.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    findings = json.loads(completed.stdout)
    assert findings == [], "\n".join(
        f"{f['path']}:{f['line']}: {f['code']} {f['message']}" for f in findings
    )
    assert completed.returncode == 0, completed.stderr
