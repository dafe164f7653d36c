"""Benchmark the runtime probe (a script, not collected by pytest).

    python tests/benchmarks/bench_probe.py [--steps 20] [--rounds 3]

1. Wall time of ``clsaudit probe`` on the reference pipeline on CPU, torch
   import and child start included (budget: under 30 s).
2. Instrumentation overhead per training step: the same loop over the
   reference parts, with and without the recorder installed, interleaved in
   one process so that machine load hits both alike (budget: under 20%).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time


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
    from clsaudit.probe.recorder import Recorder

    plain_parts = copy.deepcopy((parts["model"], parts["optimizer"]))
    probed_parts = copy.deepcopy((parts["model"], parts["optimizer"]))
    loss_fn = parts["loss_fn"]
    recorder = Recorder()

    def step(model, optimizer, x, y) -> float:
        started = time.perf_counter()
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
                probed.append(step(*probed_parts, x, y))
            finally:
                recorder.uninstall()
    return plain[2:], probed[2:]  # the first steps warm up allocator and kernels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
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


if __name__ == "__main__":
    main()
