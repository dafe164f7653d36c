"""Benchmark ``clsaudit diagnose`` on a 1,000-class, 50,000-row input (a script, not collected by pytest).

    python tests/benchmarks/bench_diagnose.py [--rows 50000] [--classes 1000] [--rounds 3]

Budget: under 5 s for the whole command (interpreter start, reading,
every metric, the report) on a 2-core machine. Inputs, each timed end to
end as a user runs it, best of ``--rounds``:

1. a CSV of labels and predicted labels (the pure-Python path; run with
   and without numpy importable);
2. an NPZ of float32 logits, 50 million scores (numpy; top-k, ECE and the
   temperature fit pass over every score several times);
3. the same NPZ with ``--html`` (the heatmap shows the 40 classes in the
   most errors, the JSON keeps the whole matrix).

The inputs are written to a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 5.0

BLOCK_NUMPY = "import sys; sys.modules['numpy'] = None; "
RUN = "from clsaudit.cli import main; main(sys.argv[1:])"


def make_inputs(folder: Path, rows: int, classes: int) -> tuple[Path, Path]:
    """70%-accurate predictions; errors go to a 'sibling' class half the time, at random otherwise."""
    import numpy

    rng = numpy.random.default_rng(0)
    labels = rng.integers(0, classes, rows)
    sibling = (labels + 1) % classes
    random_class = rng.integers(0, classes, rows)
    draw = rng.random(rows)
    predicted = numpy.where(draw < 0.7, labels, numpy.where(draw < 0.85, sibling, random_class))
    names = [f"class{c:04d}" for c in range(classes)]
    csv_path = folder / "labels.csv"
    with open(csv_path, "w") as handle:
        handle.write("label,prediction\n")
        handle.writelines(f"{names[t]},{names[p]}\n" for t, p in zip(labels.tolist(), predicted.tolist()))
    logits = rng.standard_normal((rows, classes), dtype=numpy.float32)
    logits[numpy.arange(rows), predicted] += 4.0
    npz_path = folder / "logits.npz"
    numpy.savez(npz_path, labels=labels, scores=logits, classes=numpy.array(names))
    return csv_path, npz_path


def timed(args: list[str], block_numpy: bool = False) -> tuple[float, float]:
    """Wall and CPU seconds of one ``clsaudit diagnose`` process (CPU time is what load cannot inflate)."""
    program = "import sys; " + (BLOCK_NUMPY if block_numpy else "") + RUN
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", program, "diagnose", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False,
    )
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"diagnose failed: {result.stderr[-1000:]}")
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-diagnose-") as name:
        folder = Path(name)
        csv_path, npz_path = make_inputs(folder, options.rows, options.classes)
        size = f"{options.rows:,} rows x {options.classes:,} classes"
        cases = [
            (f"labels CSV, {size}, numpy present", [str(csv_path), "--format", "json"], False),
            (f"labels CSV, {size}, no numpy", [str(csv_path), "--format", "json"], True),
            (f"labels CSV, {size}, text tables", [str(csv_path)], False),
            (f"float32 logits NPZ, {size}", [str(npz_path), "--logits", "--format", "json"], False),
            (
                f"float32 logits NPZ, {size}, + --html",
                [str(npz_path), "--logits", "--format", "json", "--html", str(folder / "r.html")],
                False,
            ),
        ]
        load = os.getloadavg()[0]
        print(f"cores: {os.cpu_count()}, load average {load:.1f}; budget {BUDGET_S:.0f} s (best of {options.rounds})")
        print("    wall      cpu")
        worst = 0.0
        for label, args, block in cases:
            best_wall, best_cpu = (min(values) for values in zip(*(timed(args, block) for _ in range(options.rounds))))
            worst = max(worst, best_wall)
            verdict = "ok  " if best_wall < BUDGET_S else "SLOW"
            print(f"  {best_wall:6.2f} s {best_cpu:6.2f} s  {verdict}  {label}")
        print(f"slowest: {worst:.2f} s wall ({worst / BUDGET_S:.0%} of the budget)")


if __name__ == "__main__":
    main()
