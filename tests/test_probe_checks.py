"""Unit tests of the probe's pieces: the recorder observes without changing the
run, and the passive checks decide correctly on hand-made observations."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")
import torch
from clsaudit.probe import passive_checks
from clsaudit.probe.recorder import ProbeStop, Recorder
from clsaudit.probe.tensor_stats import image_stats, label_stats, loss_input_stats
from torch import nn
from torch.nn import functional as F


def _train(steps: int, recorder: Recorder | None = None, zero_grad: bool = True):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(4 * 6 * 6, 5),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    if recorder is not None:
        recorder.install()
    try:
        for _ in range(steps):
            x = torch.randn(8, 3, 8, 8)
            y = torch.randint(0, 5, (8,))
            if zero_grad:
                opt.zero_grad()
            nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), y).backward()
            opt.step()
            sched.step()
    finally:
        if recorder is not None:
            recorder.uninstall()
    return model, opt


def test_recorder_changes_nothing_the_run_computes():
    plain_model, plain_opt = _train(5)
    recorder = Recorder()
    probed_model, probed_opt = _train(5, recorder)
    for a, b in zip(plain_model.state_dict().values(), probed_model.state_dict().values()):
        assert torch.equal(a, b)
    # Momentum buffers intact: the hooks never touch optimizer state.
    for p, q in zip(plain_model.parameters(), probed_model.parameters()):
        assert torch.equal(
            plain_opt.state[p]["momentum_buffer"], probed_opt.state[q]["momentum_buffer"]
        )
    assert recorder.optimizer_steps == 5
    assert [s["lrs"][0] for s in recorder.steps] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    assert recorder.loss_samples[0]["label_smoothing"] == 0.1


def test_recorder_sees_gradients_carried_over():
    recorder = Recorder()
    _train(3, recorder, zero_grad=False)
    obs = recorder.observations()
    assert obs["grad_carry"] and all(c["grad_norm"] > 0 for c in obs["grad_carry"])
    assert passive_checks.gradients_carried_over(obs).verdict == "fail"


def test_recorder_stops_after_the_step_budget():
    recorder = Recorder(max_steps=2, stop=True)
    with pytest.raises(ProbeStop):
        _train(10, recorder)
    assert recorder.optimizer_steps == 2


def test_hooks_are_removed_after_uninstall():
    recorder = Recorder()
    _train(2, recorder)
    _train(2)
    assert recorder.optimizer_steps == 2


def test_loss_input_stats_tell_logits_probabilities_and_log_probabilities_apart():
    logits = torch.randn(16, 10)
    assert not loss_input_stats(logits)["is_probabilities"]
    assert loss_input_stats(logits.softmax(1))["is_probabilities"]
    assert loss_input_stats(F.log_softmax(logits, 1))["is_log_probabilities"]
    assert not loss_input_stats(logits)["is_log_probabilities"]


def test_label_stats_flag_range_and_order():
    stats = label_stats(torch.tensor([0, 0, 1, 3]), num_classes=3)
    assert stats["out_of_range"] and stats["sorted"] and stats["distinct"] == 3
    assert not label_stats(torch.tensor([2, 0, 1]), num_classes=3)["sorted"]


def _layout(x: torch.Tensor):
    return passive_checks.scrambled_spatial_structure({"input_samples": [image_stats(x)]})


def test_layout_check_fails_only_on_the_interleave_of_a_wrong_view():
    torch.manual_seed(0)
    smooth = F.interpolate(torch.randn(32, 3, 4, 4), size=16, mode="bicubic")
    assert image_stats(smooth)["corr_h"] > 0.6
    assert _layout(smooth).verdict == "pass"
    scrambled = _layout(smooth.permute(0, 2, 3, 1).contiguous().view(32, 3, 16, 16))
    assert scrambled.verdict == "fail"
    assert "period-3 interleave" in scrambled.message and scrambled.numbers["interleave"] >= 0.3
    # Channels that share one picture (as photographs' do) scramble the same way.
    shared = smooth[:, :1].expand(-1, 3, -1, -1) + 0.1 * torch.randn(32, 3, 16, 16)
    assert _layout(shared).verdict == "pass"
    assert _layout(shared.permute(0, 2, 3, 1).contiguous().view(32, 3, 16, 16)).verdict == "fail"


def test_layout_check_is_not_applicable_to_noise_even_when_scrambled():
    noise = torch.randn(32, 3, 16, 16)
    result = _layout(noise)
    assert result.verdict == "n/a" and "no spatial structure" in result.message
    assert _layout(noise.permute(0, 2, 3, 1).contiguous().view(32, 3, 16, 16)).verdict == "n/a"
    # One smooth direction is structure: the check still judges it.
    stripes = torch.randn(32, 3, 16, 1).expand(-1, -1, -1, 16).contiguous()
    assert _layout(stripes).verdict == "pass"


def _loss_sample(fn="cross_entropy", value=2.3, **input_stats):
    stats = {
        "num_classes": 10,
        "finite": True,
        "is_probabilities": False,
        "is_log_probabilities": False,
        **input_stats,
    }
    return {
        "fn": fn,
        "value": value,
        "input": stats,
        "reduction": "mean",
        "label_smoothing": 0.0,
        "step": 0,
    }


def test_initial_loss_band():
    ok = {"loss_samples": [_loss_sample(value=math.log(10) * 1.3)]}
    assert passive_checks.initial_loss(ok, {}).verdict == "pass"
    high = {"loss_samples": [_loss_sample(value=math.log(10) * 4)]}
    assert passive_checks.initial_loss(high, {}).verdict == "fail"
    assert passive_checks.initial_loss({}, {}).verdict == "n/a"


def test_log_probabilities_into_cross_entropy_are_only_a_note_but_probabilities_into_nll_fail():
    note = passive_checks.probabilities_into_loss(
        {"loss_samples": [_loss_sample(is_log_probabilities=True)]}
    )
    assert note.verdict == "pass" and note.message.startswith("note")
    nll = passive_checks.probabilities_into_loss(
        {"loss_samples": [_loss_sample("nll_loss", is_probabilities=True)]}
    )
    assert nll.verdict == "fail" and nll.rule == "CLS103"


def _lr_obs(lrs, boundaries=()):
    return {
        "steps": [{"step": i, "lrs": [lr], "optimizer": "SGD#1"} for i, lr in enumerate(lrs)],
        "loader_passes": {"training_boundaries": list(boundaries)},
    }


def test_schedule_ending_with_the_run_passes_but_a_collapse_mid_run_fails():
    cosine_to_end = [0.05 * 0.5 * (1 + math.cos(math.pi * k / 19)) for k in range(20)]
    assert passive_checks.learning_rate_trajectory(_lr_obs(cosine_to_end), {}).verdict == "pass"
    ended = passive_checks.learning_rate_trajectory(_lr_obs(cosine_to_end, [10, 20]), {})
    assert ended.verdict == "pass" and "at the end of the observed run" in ended.message
    warmup = [0.1 * (k + 1) / 10 for k in range(10)] + [0.1] * 10
    assert passive_checks.learning_rate_trajectory(_lr_obs(warmup), {}).verdict == "pass"
    per_batch_epoch_cosine = [
        0.05 * 0.5 * (1 + math.cos(math.pi * min(k, 3) / 3)) for k in range(12)
    ]
    result = passive_checks.learning_rate_trajectory(_lr_obs(per_batch_epoch_cosine, [4, 8]), {})
    assert result.verdict == "fail" and result.rule == "CLS207"
    assert result.numbers["threshold"] == 0.02 and "later epoch" in result.message
    # Without epoch ends (hand-built batches) a low lr alone is no evidence.
    alone = passive_checks.learning_rate_trajectory(_lr_obs(per_batch_epoch_cosine), {})
    assert alone.verdict == "pass"


def test_a_second_phase_optimizer_is_its_own_lr_series():
    obs = _lr_obs([0.1] * 8, [4, 8, 12])
    obs["steps"] += [{"step": 8 + i, "lrs": [1e-3], "optimizer": "Adam#2"} for i in range(8)]
    assert passive_checks.learning_rate_trajectory(obs, {}).verdict == "pass"


def _params(**extra):
    base = {
        "optimizers": 1,
        "not_in_optimizer": [],
        "output_layer_outside": [],
        "optimizer_params_outside_models": 0,
        "optimizer_facts": [],
    }
    return {"parameters": {**base, **extra}}


def test_parameters_left_out_of_the_optimizer_fail_only_with_evidence():
    frozen = passive_checks.gradients_outside_optimizer(
        _params(not_in_optimizer=["features.0.weight"])
    )
    assert frozen.verdict == "pass" and frozen.message.startswith("note")
    head = passive_checks.gradients_outside_optimizer(
        _params(not_in_optimizer=["fc.weight"], output_layer_outside=["fc.weight"])
    )
    assert head.verdict == "fail" and "output layer" in head.message
    idle = {"name": "Adam#2", "params": 2, "steps": 5, "steps_with_grads": 0, "first_step": 8}
    stale = passive_checks.gradients_outside_optimizer(_params(optimizer_facts=[idle]))
    assert stale.verdict == "fail" and "Adam#2 stepped 5 times" in stale.message


def test_scheduler_warning_fails_the_lr_check():
    obs = {
        "warnings": [
            ("UserWarning: Detected call of `lr_scheduler.step()` before `optimizer.step()`.")
        ],
        **_lr_obs([0.1, 0.1]),
    }
    assert passive_checks.learning_rate_trajectory(obs, {}).verdict == "fail"


def test_inputs_in_unit_range_pass_with_a_note_and_raw_pixels_fail():
    unit = {
        "input_samples": [
            {
                "min": 0.0,
                "max": 1.0,
                "mean": 0.45,
                "std": 0.25,
                "channel_mean": [0.4, 0.45, 0.5],
                "channel_std": [0.25, 0.25, 0.26],
            }
        ]
    }
    assert passive_checks.unnormalised_inputs(unit).verdict == "pass"
    raw = {"input_samples": [{"min": 0.0, "max": 255.0, "mean": 120.0, "std": 60.0}]}
    assert passive_checks.unnormalised_inputs(raw).verdict == "fail"


def test_evaluation_with_grad_enabled_is_not_taken_for_eval_mode_training():
    """An eval-mode forward without no_grad (CLS204, not CLS202) before a correct train step."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    recorder = Recorder().install()
    try:
        for _ in range(3):
            model.eval()
            model(torch.randn(4, 3, 2, 2))  # evaluation, grad still enabled
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(torch.randn(4, 3, 2, 2)), torch.tensor([0, 1, 2, 0])).backward()
            opt.step()
    finally:
        recorder.uninstall()
    obs = recorder.observations()
    assert passive_checks.eval_mode_training(obs).verdict == "pass"
    # ... while training in eval mode is caught.
    recorder = Recorder().install()
    try:
        model.eval()
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(torch.randn(4, 3, 2, 2)), torch.tensor([0, 1, 2, 0])).backward()
            opt.step()
    finally:
        recorder.uninstall()
    assert passive_checks.eval_mode_training(recorder.observations()).verdict == "fail"


def test_cgroup_cpu_quota_caps_the_child_threads(tmp_path):
    from clsaudit.probe import launcher

    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert launcher._cgroup_cpu_quota(str(tmp_path)) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert launcher._cgroup_cpu_quota(str(tmp_path)) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert launcher._cgroup_cpu_quota(str(tmp_path)) == 1
    assert launcher.available_cores() >= 1


def test_cyclic_schedules_dipping_to_zero_pass():
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    recorder = Recorder().install()
    try:
        sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=1e-4, max_lr=0.1, step_size_up=3)
        for _ in range(12):
            opt.zero_grad()
            F.cross_entropy(model(torch.randn(8, 4)), torch.randint(0, 2, (8,))).backward()
            opt.step()
            sched.step()
    finally:
        recorder.uninstall()
    obs = recorder.observations()
    assert [s["class"] for s in obs["schedulers"]] == ["CyclicLR"]
    assert len(obs["schedulers"][0]["calls"]) == 12  # the initial step in __init__ not counted
    assert passive_checks.learning_rate_trajectory(obs, {}).verdict == "pass"
    # The scheduler class is restored.
    assert not hasattr(torch.optim.lr_scheduler.LRScheduler.__init__, "__wrapped__")
    assert not hasattr(torch.optim.lr_scheduler.LRScheduler.step, "__wrapped__")


def test_non_finite_inputs_loss_and_gradients_are_caught():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    recorder = Recorder().install()
    try:
        for _ in range(2):
            x = torch.randn(4, 3, 2, 2)
            x[0, 0, 0, 0] = float("nan")
            opt.zero_grad()
            F.cross_entropy(model(x), torch.tensor([0, 1, 2, 0])).backward()
            opt.step()
    finally:
        recorder.uninstall()
    result = passive_checks.non_finite(recorder.observations())
    assert result.verdict == "fail"
    assert result.numbers["losses"] and result.numbers["steps_with_bad_grads"]


class _Standardise(nn.Module):
    def forward(self, x):
        return (x / 255.0 - 0.5) / 0.25


def _input_verdict(model: nn.Module) -> str:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    smooth = F.interpolate(torch.rand(8, 3, 2, 2), size=8, mode="bilinear") * 255
    recorder = Recorder().install()
    try:
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(smooth), torch.randint(0, 4, (8,))).backward()
            opt.step()
    finally:
        recorder.uninstall()
    return passive_checks.unnormalised_inputs(recorder.observations()).verdict


def test_input_checks_read_what_the_first_layer_sees():
    head = [nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 4)]
    assert _input_verdict(nn.Sequential(*head)) == "fail"  # raw 0..255 into the conv
    assert _input_verdict(nn.Sequential(_Standardise(), *head)) == "pass"  # standardised inside


def test_label_batches_count_only_losses_that_are_backpropagated():
    """A grad-enabled evaluation over sorted validation data is not a training batch."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    recorder = Recorder().install()
    try:
        for _ in range(3):
            model.eval()
            F.cross_entropy(model(torch.randn(8, 3, 2, 2)), torch.zeros(8, dtype=torch.long))
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(torch.randn(8, 3, 2, 2)), torch.arange(8) % 3).backward()
            opt.step()
    finally:
        recorder.uninstall()
    obs = recorder.observations()
    assert [b["distinct"] for b in obs["label_batches"]] == [3, 3, 3]
    assert passive_checks.single_class_batches(obs).verdict == "pass"
