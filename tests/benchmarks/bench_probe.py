"""Benchmark the runtime probe (a script, not collected by pytest).

    python tests/benchmarks/bench_probe.py [--steps 20] [--rounds 3] [--no-fixtures]

1. Wall time of ``clsaudit probe`` on the reference pipeline on CPU, torch
   import and child start included (budget: under 30 s).
2. Instrumentation overhead per training step: the same loop over the
   reference parts, with and without the recorder installed (hooks, loss
   mode, scheduler watch, and the per-batch item hashes of the loader
   passes), interleaved in one process so that machine load hits both alike
   (budget: under 20%).
3. ``clsaudit probe FIXTURE`` at its defaults on every script fixture: CPU
   seconds of the probe and its child (torch import included) and wall time
   (budget: under 30 s of CPU each).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "probe"


def probe_wall_time(steps: int, threads: int | None) -> tuple[float, dict]:
    command = [sys.executable, "-m", "clsaudit", "probe", "--format", "json", "--steps", str(steps)]
    if threads:
        command += ["--threads", str(threads)]
    started = time.perf_counter()
    out = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        report = {"message": out.stderr[-500:]}
    return wall, report


def paired_step_times(parts: dict, rounds: int) -> tuple[list[float], list[float]]:
    """Alternate plain and instrumented steps, batch by batch, on two copies of the model.

    Pairing each plain step with an instrumented step on the same batch, a few
    milliseconds apart, makes the ratio robust to the load of a shared machine.
    """
    from clsaudit.probe.loader_passes import item_hashes
    from clsaudit.probe.recorder import Recorder

    plain_parts = copy.deepcopy((parts["model"], parts["optimizer"]))
    probed_parts = copy.deepcopy((parts["model"], parts["optimizer"]))
    loss_fn = parts["loss_fn"]
    recorder = Recorder()

    def step(model, optimizer, x, y, hashed: bool = False) -> float:
        started = time.perf_counter()
        if hashed:
            item_hashes(x)  # what a shortened DataLoader pass adds per batch
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        return time.perf_counter() - started

    plain, probed = [], []
    for model, _ in (plain_parts, probed_parts):
        model.train()
    for _ in range(rounds):
        for x, y in parts["train_loader"]:
            plain.append(step(*plain_parts, x, y))
            recorder.install()
            try:
                probed.append(step(*probed_parts, x, y, hashed=True))
            finally:
                recorder.uninstall()
    return plain[2:], probed[2:]  # the first steps warm up allocator and kernels


def fixture_times(threads: int) -> list[tuple[str, float, float, str]]:
    """(fixture, CPU seconds, wall seconds, verdict) of ``clsaudit probe`` at its defaults."""
    rows = []
    scripts = sorted(FIXTURES.glob("clean_*.py")) + sorted(FIXTURES.glob("mutant_*.py"))
    for script in scripts:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "clsaudit",
                "probe",
                str(script),
                "--format",
                "json",
                "--threads",
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        try:
            report = json.loads(out.stdout)
            failed = [c["id"] for c in report["checks"] if c["verdict"] == "fail"]
            verdict = f"{len(report['steps'])} steps, fails {failed or 'nothing'}"
        except (json.JSONDecodeError, KeyError):
            verdict = f"no report (exit {out.returncode})"
        rows.append((script.name, cpu, wall, verdict))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-fixtures", action="store_true", help="skip the per-fixture times")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for the probe and the overhead loop [default: the cores this process may use]",
    )
    args = parser.parse_args()

    wall, report = probe_wall_time(args.steps, args.threads)
    print(
        f"clsaudit probe (reference pipeline, {args.steps} steps, CPU): {wall:.1f} s wall "
        f"(child {report.get('elapsed', '?')} s) -> {report.get('message')}"
    )
    print(f"  budget 30 s: {'ok' if wall < 30 else 'OVER'}")

    import torch
    from clsaudit.probe.launcher import available_cores
    from clsaudit.reference_pipeline.factory import make_probe_parts

    threads = args.threads or available_cores()
    torch.set_num_threads(threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"overhead loop: {threads} torch thread(s), load average {load:.1f}")
    parts = make_probe_parts(device="cpu")
    plain, probed = paired_step_times(parts, args.rounds)
    p, q = statistics.median(plain), statistics.median(probed)
    print(
        f"training step (median of {len(plain)}): {p * 1000:.1f} ms plain, "
        f"{q * 1000:.1f} ms instrumented: ratio {q / p:.3f} (overhead {100 * (q / p - 1):+.1f}%)"
    )
    print(f"  budget 20%: {'ok' if q / p < 1.2 else 'OVER'}")
    if args.no_fixtures:
        return
    print(f"clsaudit probe FIXTURE at its defaults ({threads} thread(s)):")
    rows = fixture_times(threads)
    for name, cpu, wall, verdict in rows:
        print(f"  {name:45s} {cpu:5.1f} s CPU {wall:5.1f} s wall  {verdict}")
    worst = max(rows, key=lambda row: row[1])
    print(
        f"  slowest: {worst[0]} {worst[1]:.1f} s CPU; median "
        f"{statistics.median(r[1] for r in rows):.1f} s; budget 30 s CPU: "
        f"{'ok' if worst[1] < 30 else 'OVER'}"
    )


if __name__ == "__main__":
    main()
