"""Every clean fixture passes and every single-bug twin fails with its check, at the defaults.

The probe's child logic (``child.collect``) runs in this process, so the
whole matrix costs no process start or torch import per script; the
launcher around it is tested end to end in ``test_probe.py`` and
``test_probe_isolation.py``. The settings are the command's defaults
(``--steps`` 64 with at least two epochs, passes of 4 batches).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
from clsaudit.probe import child, report
from clsaudit.probe.command import DEFAULT_LIMIT_BATCHES, DEFAULT_STEPS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probe"

# Twin -> the one check that must fail on it (every other check passes or is n/a).
TWINS = {
    # flat script, random-tensor smoke test
    "mutant_flat_missing_train": "PRB006",
    "mutant_flat_missing_eval": "PRB007",
    "mutant_flat_scheduler_per_batch": "PRB013",
    # helper functions, Gaussian-noise dataset
    "mutant_helpers_missing_train": "PRB006",
    "mutant_helpers_missing_eval": "PRB007",
    "mutant_helpers_scheduler_per_batch": "PRB013",
    # trainer class
    "mutant_trainer_missing_train": "PRB006",
    "mutant_trainer_missing_eval": "PRB007",
    "mutant_trainer_scheduler_per_batch": "PRB013",
    # argparse main()
    "mutant_missing_train": "PRB006",
    "mutant_missing_eval": "PRB007",
    "mutant_scheduler_per_batch": "PRB013",
    "mutant_onecycle_per_epoch": "PRB013",
    "mutant_val_in_train": "PRB105",
    # two-phase fine-tune
    "mutant_finetune_wrong_params": "PRB005",
    "mutant_finetune_missing_train": "PRB006",
    "mutant_finetune_missing_eval": "PRB007",
    "mutant_finetune_scheduler_per_batch": "PRB013",
    # hand-built batches
    "mutant_manual_unshuffled": "PRB011",
    # the first round's mutants of clean_functional.py (argparse main)
    "mutant_softmax_ce": "PRB008",
    "mutant_missing_zero_grad": "PRB003",
    "mutant_unnormalised": "PRB009",
    "mutant_nhwc_view": "PRB010",
    "mutant_sorted_labels": "PRB011",
    "mutant_optimizer_before_head": "PRB005",
    "mutant_scheduler_before_optimizer": "PRB013",
}
# The static rule each failing check names.
CHECK_RULE = {
    "PRB003": "CLS201",
    "PRB005": "CLS208",
    "PRB006": "CLS202",
    "PRB007": "CLS203",
    "PRB008": "CLS101",
    "PRB009": None,
    "PRB010": "CLS303",
    "PRB011": "CLS305",
    "PRB013": "CLS207",
    "PRB105": "CLS502",
}
CLEAN = sorted(p.stem for p in FIXTURES.glob("clean_*.py"))


def probe_in_process(
    name: str, steps: int | None = None, limit: int | None = DEFAULT_LIMIT_BATCHES
):
    spec = {
        "mode": "script",
        "script": str(FIXTURES / f"{name}.py"),
        "args": [],
        "steps": steps or DEFAULT_STEPS,
        "soft_budget": steps is None,
        "limit_batches": limit,
        "threads": 1,
    }
    result = child.collect(spec)
    return report.build(result, name, spec["steps"])


def failed(rep: dict) -> set[str]:
    return {c["id"] for c in rep["checks"] if c["verdict"] == "fail"}


def test_every_style_has_its_fixtures():
    for name in [*TWINS, *CLEAN]:
        assert (FIXTURES / f"{name}.py").is_file(), name
    assert len(CLEAN) >= 8


@pytest.mark.parametrize("steps", [None, 1000], ids=["defaults", "steps-1000"])
@pytest.mark.parametrize("name", CLEAN)
def test_clean_script_passes_at_the_defaults_and_at_1000_steps(name, steps):
    rep = probe_in_process(name, steps=steps)
    assert failed(rep) == set(), [c for c in rep["checks"] if c["verdict"] == "fail"]
    assert rep["exit_code"] == 0
    assert rep["status"] in ("finished", "stopped")


@pytest.mark.parametrize("name", ["clean_finetune", "clean_helpers_noise", "clean_onecycle"])
def test_clean_script_passes_with_whole_epochs(name):
    """--no-limit: whole epochs, so OneCycle runs to its planned end."""
    rep = probe_in_process(name, steps=1000, limit=None)
    assert failed(rep) == set(), [c for c in rep["checks"] if c["verdict"] == "fail"]
    if name == "clean_onecycle":
        assert rep["status"] == "finished"
        assert rep["steps"][-1]["lr"] < 0.001  # the floor, reached at the planned end


@pytest.mark.parametrize("twin", sorted(TWINS))
def test_twin_fails_exactly_its_check_at_the_defaults(twin):
    rep = probe_in_process(twin)
    assert failed(rep) == {TWINS[twin]}, [c for c in rep["checks"] if c["verdict"] != "pass"]
    check = next(c for c in rep["checks"] if c["verdict"] == "fail")
    assert check["numbers"], check  # every failure states its numbers
    assert check["rule"] == CHECK_RULE[check["id"]]
    assert rep["exit_code"] == 1


def test_defaults_shorten_passes_and_see_two_epochs():
    rep = probe_in_process("clean_functional")
    info = rep["shortened"]
    assert info["limit"] == DEFAULT_LIMIT_BATCHES and info["shortened"]
    assert info["epochs_seen"] >= 2
    assert "--no-limit" in report.shortening_note(rep)
    train = next(entry for entry in info["loaders"] if entry["training_passes"])
    assert train["len"] == 16 and train["batches_seen"] == train["passes"] * 4


def test_random_tensors_make_the_layout_check_not_applicable():
    rep = probe_in_process("clean_flat_randn")
    layout = next(c for c in rep["checks"] if c["id"] == "PRB010")
    assert layout["verdict"] == "n/a"
    assert "no spatial structure" in layout["message"]


def test_stale_gradients_of_a_frozen_backbone_are_a_note():
    rep = probe_in_process("clean_finetune")
    carry = next(c for c in rep["checks"] if c["id"] == "PRB003")
    assert carry["verdict"] == "pass"
    assert "stale gradients" in carry["message"] and carry["numbers"]["stale_params"] > 0


def test_schedule_reaching_its_floor_at_its_end_passes():
    rep = probe_in_process("clean_warmup_cosine_manual")
    schedule = next(c for c in rep["checks"] if c["id"] == "PRB013")
    assert schedule["verdict"] == "pass"
    assert "at the end of the observed run" in schedule["message"]
