"""Which injected bug does each half of clsaudit catch? (a script, not collected)

    python tests/benchmarks/bug_matrix.py [--steps N]   (default: the probe's defaults)

For every mutant under fixtures/probe/ it runs the static analyser
(``python -m clsaudit --format json FILE``) and the runtime probe
(``python -m clsaudit probe FILE --format json``; the factory form for bugs
only an active check can see) and prints a markdown matrix bug x {static,
runtime}. Clean fixtures are listed too: any finding or failed check on them
is a false alarm. When the static side cannot run yet, the matrix says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "probe"

# bug -> (static rule it should trigger or None, probe check, probe target if not the script)
BUGS = {
    "softmax_ce": ("CLS101", "PRB008", None),
    "missing_zero_grad": ("CLS201", "PRB003", None),
    "missing_train": ("CLS202", "PRB006", None),
    "missing_eval": ("CLS203", "PRB007", None),
    "unnormalised": (None, "PRB009", None),
    "nhwc_view": ("CLS303", "PRB010", None),
    "sorted_labels": ("CLS305", "PRB011", None),
    "optimizer_before_head": ("CLS208", "PRB005", None),
    "test_in_train": ("CLS502", "PRB105", "factories.py:make_test_in_train"),
    "scheduler_per_batch": ("CLS207", "PRB013", None),
    "scheduler_before_optimizer": ("CLS207", "PRB013", None),
    "batch_mixing": (None, "PRB102", "factories.py:make_batch_mixing"),
    # Probe v2: the same bugs in other styles, seen at the probe's defaults.
    "val_in_train": ("CLS502", "PRB105", None),
    "flat_missing_train": ("CLS202", "PRB006", None),
    "flat_missing_eval": ("CLS203", "PRB007", None),
    "flat_scheduler_per_batch": ("CLS207", "PRB013", None),
    "helpers_missing_train": ("CLS202", "PRB006", None),
    "helpers_missing_eval": ("CLS203", "PRB007", None),
    "helpers_scheduler_per_batch": ("CLS207", "PRB013", None),
    "trainer_missing_train": ("CLS202", "PRB006", None),
    "trainer_missing_eval": ("CLS203", "PRB007", None),
    "trainer_scheduler_per_batch": ("CLS207", "PRB013", None),
    "onecycle_per_epoch": ("CLS207", "PRB013", None),
    "finetune_wrong_params": ("CLS208", "PRB005", None),
    "finetune_missing_train": ("CLS202", "PRB006", None),
    "finetune_missing_eval": ("CLS203", "PRB007", None),
    "finetune_scheduler_per_batch": ("CLS207", "PRB013", None),
    "manual_unshuffled": ("CLS305", "PRB011", None),
}

# Bugs only the static half checks today (issue 13): bug -> (rule, a fixture under fixtures/static that has
# it, how the runtime half could confirm it). The probe is not run on these: their fixtures load real
# datasets; the third column says which probe evidence would confirm the rule.
STATIC_ONLY = {
    "log_softmax_into_ce": ("CLS105", "log_softmax/cls105_bug_functional_inline.py",
                            "PRB008 notes log-probabilities at the loss (a note, not a failure)"),
    "clip_after_step": ("CLS209", "grad_clipping/cls209_bug_clip_after_step_functional.py", "no probe check"),
    "clip_scaled_gradients": ("CLS209", "grad_clipping/cls209_bug_amp_no_unscale_trainer.py", "no probe check"),
    "mixup_hard_labels": ("CLS307", "mixup/cls307_bug_inline_mixup_functional.py",
                          "could confirm: hard-label targets at the loss while inputs are blended (--show-batch)"),
    "clamp_after_normalise": ("CLS308", "clamp/cls308_bug_noise_clamp_functional.py",
                              "PRB009 notes inputs in [0, 1], not standardised, though the code normalises"),
    "vflip_on_digits": ("CLS309", "label_aug/cls309_bug_mnist_vflip_functional.py",
                        "--show-batch shows flipped digits with their labels (by eye)"),
    "head_1000_on_cifar10": ("CLS402", "heads/cls402_bug_torchvision_default_1000.py",
                             "PRB012 when the head is too small; a 1000-way head is invisible to the probe"),
    "overlapping_val_split": ("CLS503", "splits/cls503_bug_two_random_splits_functional.py",
                              "PRB105 (train/val overlap by image hash, factory mode, given both loaders)"),
}
STATIC_FIXTURES = ROOT / "fixtures" / "static"


def run_static(path: Path) -> tuple[set[str] | None, str]:
    """Codes the static analyser reports, or None and why it could not run."""
    out = subprocess.run(
        [sys.executable, "-m", "clsaudit", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    try:
        findings = json.loads(out.stdout)
    except json.JSONDecodeError:
        why = (out.stderr.strip().splitlines() or ["no JSON output"])[-1]
        return None, f"static side not ready (exit {out.returncode}: {why[:80]})"
    if not isinstance(findings, list):
        return None, "static side not ready (unexpected JSON)"
    return {f.get("code") for f in findings if isinstance(f, dict)}, ""


def run_probe(target: str, steps: int | None) -> tuple[set[str] | None, str]:
    out = subprocess.run(
        [sys.executable, "-m", "clsaudit", "probe", target, "--format", "json"]
        + (["--steps", str(steps)] if steps else []),
        capture_output=True,
        text=True,
        cwd=FIXTURES,
        check=False,
    )
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        return None, f"probe did not run (exit {out.returncode})"
    if report["exit_code"] == 2:
        return None, report["message"][:80]
    return {c["id"] for c in report["checks"] if c["verdict"] == "fail"}, ""


def cell(found: set[str] | None, why: str, expected: str | None) -> str:
    if found is None:
        return why
    if expected is None:
        return "- (no rule)" if not found else "- (no rule); also " + ", ".join(sorted(found))
    mark = f"yes {expected}" if expected in found else f"**missed** ({expected})"
    extra = sorted(found - {expected})
    return mark + (f"; also {', '.join(extra)}" if extra else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    rows = ["| bug | static (`clsaudit`) | runtime (`clsaudit probe`) |", "|---|---|---|"]
    static_ready = True
    for bug, (rule, check, factory) in BUGS.items():
        script = FIXTURES / f"mutant_{bug}.py"
        if script.exists():
            found, why = run_static(script)
            static_ready = static_ready and found is not None
            static = cell(found, why, rule)
        else:
            static = "n/a (factory only)"
        target = factory or script.name
        probe_found, why = run_probe(target, args.steps)
        runtime = cell(probe_found, why, check) + (" (factory)" if factory else "")
        rows.append(f"| {bug} | {static} | {runtime} |")
        print(rows[-1], file=sys.stderr)
    for bug, (rule, fixture, confirm) in STATIC_ONLY.items():
        found, why = run_static(STATIC_FIXTURES / fixture)
        static_ready = static_ready and found is not None
        rows.append(f"| {bug} | {cell(found, why, rule)} | not run ({confirm}) |")
        print(rows[-1], file=sys.stderr)
    for clean in sorted(FIXTURES.glob("clean_*.py")):
        found, why = run_static(clean)
        static = (
            why
            if found is None
            else ("clean" if not found else "false alarm: " + ", ".join(sorted(found)))
        )
        probe_found, pwhy = run_probe(clean.name, args.steps)
        runtime = (
            pwhy
            if probe_found is None
            else (
                "all pass" if not probe_found else "false alarm: " + ", ".join(sorted(probe_found))
            )
        )
        rows.append(f"| {clean.stem} (correct) | {static} | {runtime} |")
        print(rows[-1], file=sys.stderr)
    print("\n".join(rows))
    if not static_ready:
        print("\nNote: the static analyser is not ready yet; its column shows why.")


if __name__ == "__main__":
    main()
