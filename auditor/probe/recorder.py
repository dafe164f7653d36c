"""Instrumentation that watches a training run without changing it.

Installed before the user's code starts, the :class:`Recorder` sees

* every module call, through the global forward (pre-)hooks: which module is
  the top-level model, its mode, whether gradients are on, and its inputs;
* every optimizer step, through the global step pre/post hooks: learning
  rates, gradient norms per layer, parameters that got gradients;
* loss calls and ``backward``, through a ``TorchFunctionMode``: loss inputs
  and targets, the loss value, and the gradients that are already present
  when the first backward of a step starts (a missing ``zero_grad``).

It only reads. It never replaces ``optimizer.step``, never touches optimizer
state and never runs an extra forward pass; the only side effect is the
:class:`ProbeStop` raised after the last step when asked to stop the script.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from clsaudit.probe import tensor_stats
from clsaudit.probe.loader_passes import LoaderPasses
from clsaudit.probe.schedule_watch import ScheduleWatch
from torch import nn
from torch.nn.modules import module as module_hooks
from torch.optim import optimizer as optimizer_hooks
from torch.overrides import TorchFunctionMode

# How many detailed samples of loss calls and model inputs to keep.
DETAILED_SAMPLES = 5
# Label summaries (distinct classes per batch) kept for PRB011.
LABEL_BATCHES_KEPT = 400
# Samples of the first training batch kept for ``--show-batch``.
PICTURE_SAMPLES = 32
# Training epochs to see before a soft step budget may stop the script.
MIN_EPOCH_BOUNDARIES = 2
# ... but never past this many times the budget (whole epochs of a big data set).
SOFT_BUDGET_CAP = 10

# The input checks read what the first of these sees: a model that
# standardises its input itself (or starts with BatchNorm) is not flagged.
_FIRST_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_MODE_SENSITIVE = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)

_CLASS_LOSSES = {F.cross_entropy: "cross_entropy", F.nll_loss: "nll_loss"}
_BINARY_LOSSES = {
    F.binary_cross_entropy: "binary_cross_entropy",
    F.binary_cross_entropy_with_logits: "binary_cross_entropy_with_logits",
}
_BACKWARDS = (torch.Tensor.backward, torch.autograd.backward)


class ProbeStop(BaseException):
    """Raised from the optimizer step post-hook once the step budget is spent.

    A ``BaseException`` so that the script's ``except Exception`` blocks let it
    through to the probe's own handler at the top of the child process.
    """


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


class _LossMode(TorchFunctionMode):
    """Routes loss functions and backward calls to the recorder, then runs them unchanged."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        rec = self.recorder
        if func in _BACKWARDS:
            rec.on_backward(_arg(args, kwargs, 0, "tensors"))
            return func(*args, **kwargs)
        if func in _CLASS_LOSSES or func in _BINARY_LOSSES:
            # Inputs are summarised before the call: a loss that raises (labels
            # out of range) is then explained by the report.
            sample = None
            try:
                sample = rec.before_loss(func, args, kwargs)
            except Exception as exc:  # noqa: BLE001 (an observer must never break the run)
                rec.internal_errors.append(f"loss hook: {exc!r}")
            result = func(*args, **kwargs)
            try:
                rec.after_loss(sample, result)
            except Exception as exc:  # noqa: BLE001 (an observer must never break the run)
                rec.internal_errors.append(f"loss hook: {exc!r}")
            return result
        return func(*args, **kwargs)


class Recorder:
    """Collects observations of a training run as plain, JSON-able data."""

    def __init__(
        self,
        max_steps: int | None = None,
        stop: bool = False,
        soft_budget: bool = False,
        limit_batches: int | None = None,
        watch_loaders: bool = False,
    ) -> None:
        """``soft_budget``: ``max_steps`` may stop the run only after two training epochs
        ended (or when no DataLoader feeds training); ``limit_batches`` shortens each pass
        over a DataLoader (script mode, see ``loader_passes.py``)."""
        self.max_steps = max_steps
        self.stop = stop
        self.soft_budget = soft_budget
        self.loader_passes = LoaderPasses(self, limit_batches) if watch_loaders else None
        self.schedule_watch = ScheduleWatch(self)
        self.label_batches: list[dict] = []
        self.picture: dict | None = None
        self.optimizer_facts: dict[int, dict] = {}
        self._pending_carry: dict | None = None
        self._pending_labels: dict | None = None
        self._stepped_this_iteration: list[int] = []
        self.started = time.perf_counter()
        self.steps: list[dict] = []
        self.loss_samples: list[dict] = []  # detailed, training losses
        self.eval_loss_calls = 0
        self.input_samples: list[dict] = []  # detailed, training-forward inputs
        self.forward_counts = {"train": 0, "no_grad": 0}
        self.eval_mode_training: list[dict] = []
        self.train_mode_eval: dict[int, dict] = {}  # module id -> first event
        self.grad_carry: list[dict] = []
        self.warnings: list[str] = []
        self.internal_errors: list[str] = []
        self.backwards = 0
        self.optimizer_steps = 0
        self._backwards_since_step = 0
        self._losses_since_step: list[float] = []
        # The last grad-enabled forward of each top-level module since the
        # last backward: the one that produced the loss being backpropagated.
        self._pending_forwards: dict[int, tuple] = {}
        self._depth = 0
        # Set (to the model's args) while looking for the first conv/linear layer.
        self._awaiting_first_layer: tuple | None = None
        # Strong references: the report is built after the script's namespace is gone.
        self._models: dict[int, nn.Module] = {}
        self._trained_models: set[int] = set()
        self._optimizers: dict[int, torch.optim.Optimizer] = {}
        self._sensitive: dict[int, bool] = {}
        self._param_names: dict[int, str] = {}
        self._got_grad: set[int] = set()
        self._scanned_this_step = False
        self._handles: list = []
        self._mode: _LossMode | None = None
        self._showwarning = None
        self.stop_reason: str | None = None

    # ------------------------------------------------------------ install
    def install(self) -> Recorder:
        self._handles = [
            module_hooks.register_module_forward_pre_hook(self._forward_pre),
            module_hooks.register_module_forward_hook(self._forward_post, always_call=True),
            optimizer_hooks.register_optimizer_step_pre_hook(self._step_pre),
            optimizer_hooks.register_optimizer_step_post_hook(self._step_post),
        ]
        self._mode = _LossMode(self)
        self._mode.__enter__()
        self.schedule_watch.install()
        if self.loader_passes is not None:
            self.loader_passes.install()
        self._showwarning = warnings.showwarning
        warnings.showwarning = self._on_warning
        # torch warns once about scheduler.step() before optimizer.step(); make
        # sure a filter set earlier does not hide it from us.
        warnings.filterwarnings("default", message=r"Detected call of `lr_scheduler\.step\(\)`")
        return self

    def uninstall(self) -> None:
        self.schedule_watch.uninstall()
        if self.loader_passes is not None:
            self.loader_passes.uninstall()
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._mode is not None:
            try:
                self._mode.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001 (the script left the mode stack unbalanced)
                self.internal_errors.append(f"mode exit: {exc!r}")
            self._mode = None
        if self._showwarning is not None:
            warnings.showwarning = self._showwarning
            self._showwarning = None

    def _on_warning(self, message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if "lr_scheduler" in text or "torch" in str(filename):
            self.warnings.append(f"{category.__name__}: {text}")
        assert self._showwarning is not None
        self._showwarning(message, category, filename, lineno, file, line)

    # ------------------------------------------------------------ modules
    def _is_sensitive(self, module: nn.Module) -> bool:
        key = id(module)
        if key not in self._sensitive:
            self._sensitive[key] = any(isinstance(m, _MODE_SENSITIVE) for m in module.modules())
        return self._sensitive[key]

    def _forward_pre(self, module: nn.Module, args: tuple) -> None:
        self._depth += 1
        try:
            if self._depth == 1:
                if not isinstance(module, nn.modules.loss._Loss):
                    self._top_level_forward(module, args)
            elif self._awaiting_first_layer is not None and isinstance(module, _FIRST_LAYERS):
                self._sample_input(args, type(module).__name__)
        except Exception as exc:  # noqa: BLE001 (observers never break the run)
            self.internal_errors.append(f"forward hook: {exc!r}")

    def _forward_post(self, module: nn.Module, args: tuple, output: Any) -> None:
        self._depth = max(0, self._depth - 1)
        if self._depth == 0 and self._awaiting_first_layer is not None:
            # No conv or linear layer inside: fall back to the model's own input.
            self._sample_input(self._awaiting_first_layer, "model input")

    def _sample_input(self, args: tuple, layer: str) -> None:
        """Statistics of what the first weighted layer sees (after any in-model normalisation)."""
        self._awaiting_first_layer = None
        if args and torch.is_tensor(args[0]):
            stats = tensor_stats.image_stats(args[0])
            stats["step"] = self.optimizer_steps
            stats["layer"] = layer
            self.input_samples.append(stats)

    def _top_level_forward(self, module: nn.Module, args: tuple) -> None:
        trainable = any(p.requires_grad for p in module.parameters())
        if not trainable:
            return
        key = id(module)
        if key not in self._models:
            self._models[key] = module
        grad_on = torch.is_grad_enabled()
        sensitive = self._is_sensitive(module)
        if grad_on:
            self.forward_counts["train"] += 1
            if self.picture is None and module.training and args and torch.is_tensor(args[0]):
                self._keep_picture(args[0])
            self._pending_forwards[key] = (module.training, sensitive, type(module).__name__)
            if len(self.input_samples) < DETAILED_SAMPLES:
                if isinstance(module, _FIRST_LAYERS):
                    self._sample_input(args, type(module).__name__)
                else:
                    self._awaiting_first_layer = args
        else:
            self.forward_counts["no_grad"] += 1
            if module.training and sensitive and key not in self.train_mode_eval:
                self.train_mode_eval[key] = {
                    "step": self.optimizer_steps,
                    "module": type(module).__name__,
                }

    def _keep_picture(self, x: torch.Tensor) -> None:
        """The first training batch as the model receives it (for ``--show-batch``)."""
        self.picture = {"images": x.detach()[:PICTURE_SAMPLES].to("cpu", copy=True), "labels": None}

    # ------------------------------------------------------------ losses
    def before_loss(self, func, args: tuple, kwargs: dict) -> dict | None:
        """Summarise a training loss call's inputs (the first few calls only)."""
        if not torch.is_grad_enabled():
            self.eval_loss_calls += 1
            return None
        sample: dict[str, Any] = {"value": None, "step": self.optimizer_steps}
        inp = _arg(args, kwargs, 0, "input")
        target = _arg(args, kwargs, 1, "target")
        if func in _CLASS_LOSSES and torch.is_tensor(target):
            self._note_labels(target, inp)
        if len(self.loss_samples) >= DETAILED_SAMPLES:
            return sample  # not stored unless its value turns out non-finite
        if func in _CLASS_LOSSES:
            # Positions as in F.cross_entropy / F.nll_loss: ignore_index 4, reduction 6.
            sample["fn"] = _CLASS_LOSSES[func]
            sample["input"] = tensor_stats.loss_input_stats(inp)
            sample["reduction"] = _arg(args, kwargs, 6, "reduction", "mean")
            smoothing = _arg(args, kwargs, 7, "label_smoothing", 0.0)
            sample["label_smoothing"] = float(smoothing or 0.0) if func is F.cross_entropy else 0.0
            ignore = _arg(args, kwargs, 4, "ignore_index", -100)
            if torch.is_tensor(target):
                sample["target"] = tensor_stats.label_stats(
                    target, sample["input"].get("num_classes"), ignore
                )
        else:
            sample["fn"] = _BINARY_LOSSES[func]
            sample["input"] = tensor_stats.binary_input_stats(inp)
        self.loss_samples.append(sample)
        return sample

    def _note_labels(self, target: torch.Tensor, inp: Any) -> None:
        """Classes in each training batch, at the loss call (hand-built batches included)."""
        if self.picture is not None and self.picture["labels"] is None and target.dim() == 1:
            self.picture["labels"] = target.detach()[:PICTURE_SAMPLES].to("cpu", copy=True)
        if len(self.label_batches) >= LABEL_BATCHES_KEPT or target.is_floating_point():
            return
        valid = target.detach().reshape(-1)
        valid = valid[valid >= 0]
        if valid.numel() < 2:
            return
        distinct = int(valid.unique().numel())
        ordered = bool((valid[1:] >= valid[:-1]).all())
        # Kept when this loss is backpropagated: a grad-enabled evaluation
        # (unshuffled, sorted validation data) never reaches a backward.
        self._pending_labels = {
            "step": self.optimizer_steps,
            "size": int(valid.numel()),
            "distinct": distinct,
            "sorted": ordered,
        }

    def after_loss(self, sample: dict | None, result: Any) -> None:
        if sample is None or not (torch.is_tensor(result) and result.numel() == 1):
            return
        value = float(result.detach())
        self._losses_since_step.append(value)
        if "fn" in sample:
            sample["value"] = value
        elif not math.isfinite(value):
            sample["fn"] = "?"
            sample["value"] = value
            self.loss_samples.append(sample)

    # ------------------------------------------------------------ backward
    def on_backward(self, tensors: Any) -> None:
        try:
            self._before_backward(tensors)
        except Exception as exc:  # noqa: BLE001 (observers never break the run)
            self.internal_errors.append(f"backward hook: {exc!r}")

    def _before_backward(self, tensors: Any) -> None:
        self.backwards += 1
        if self._backwards_since_step == 0 and self.optimizer_steps > 0:
            # The first backward of a step: the gradients of the parameters the
            # coming step updates should be empty. Which optimizer steps is
            # known only at the step, so norms are kept per parameter until then.
            self._finish_carry()
            params = {id(p): p for p in self._optimizer_params() if p.grad is not None}
            norms = _norms([p.grad for p in params.values()])
            self._pending_carry = {
                "step": self.optimizer_steps,
                "norms": dict(zip(params, norms)),
            }
        self._backwards_since_step += 1
        if self._pending_labels is not None:
            self.label_batches.append(self._pending_labels)
            self._pending_labels = None
        if not self._losses_since_step and torch.is_tensor(tensors) and tensors.numel() == 1:
            self._losses_since_step.append(float(tensors.detach()))
        for key, (training, sensitive, name) in self._pending_forwards.items():
            self._trained_models.add(key)
            if not training and sensitive and len(self.eval_mode_training) < 5:
                self.eval_mode_training.append({"step": self.optimizer_steps, "module": name})
        self._pending_forwards = {}

    # ------------------------------------------------------------ optimizer
    def _optimizer_params(self, keys: Any = None) -> list:
        params = []
        for key, opt in self._optimizers.items():
            if keys is not None and key not in keys:
                continue
            for group in opt.param_groups:
                params.extend(group["params"])
        return params

    def _finish_carry(self) -> None:
        """Judge the pending first-backward gradients against the optimizers that then stepped.

        Gradients left on parameters that no optimizer stepped in that
        iteration (a frozen backbone after a first training phase, a dropped
        optimizer's parameters) are stale but harmless: noted, not failed.
        """
        pending, self._pending_carry = self._pending_carry, None
        stepped, self._stepped_this_iteration = self._stepped_this_iteration, []
        if pending is None or not stepped:
            return
        live = {id(p) for p in self._optimizer_params(set(stepped))}
        carried = [n for k, n in pending["norms"].items() if k in live]
        stale = [n for k, n in pending["norms"].items() if k not in live]
        self.grad_carry.append(
            {
                "step": pending["step"],
                "grad_norm": _root_sum_squares(carried),
                "grads_present": sum(1 for n in carried if n > 0),
                "stale_elsewhere": _root_sum_squares(stale),
                "stale_params": sum(1 for n in stale if n > 0),
                "optimizers": [self.optimizer_facts[k]["name"] for k in stepped],
            }
        )

    def _step_pre(self, opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        try:
            self._optimizers.setdefault(id(opt), opt)
            self._note_optimizer_step(opt)
            if not self._scanned_this_step:
                self._scanned_this_step = True
                self._scan_gradients(opt)
        except Exception as exc:  # noqa: BLE001 (observers never break the run)
            self.internal_errors.append(f"step pre-hook: {exc!r}")

    def _note_optimizer_step(self, opt: torch.optim.Optimizer) -> None:
        """Which optimizer stepped, and whether any of its parameters had a gradient."""
        key = id(opt)
        facts = self.optimizer_facts.get(key)
        if facts is None:
            count = sum(len(g["params"]) for g in opt.param_groups)
            facts = {
                "name": f"{type(opt).__name__}#{len(self.optimizer_facts) + 1}",
                "params": count,
                "first_step": self.optimizer_steps,
                "steps": 0,
                "steps_with_grads": 0,
            }
            self.optimizer_facts[key] = facts
        facts["steps"] += 1
        facts["last_step"] = self.optimizer_steps
        if any(p.grad is not None for g in opt.param_groups for p in g["params"]):
            facts["steps_with_grads"] += 1
        if key not in self._stepped_this_iteration:
            self._stepped_this_iteration.append(key)

    def _scan_gradients(self, opt: torch.optim.Optimizer) -> None:
        """Per-layer gradient norms of the model(s) and the optimizer's parameters."""
        seen: dict[int, Any] = {}
        for key in self._trained_models or self._models:
            for name, p in self._models[key].named_parameters():
                seen[id(p)] = p
                self._param_names[id(p)] = name
        for p in self._optimizer_params():
            seen.setdefault(id(p), p)
            self._param_names.setdefault(id(p), f"<optimizer param {len(self._param_names)}>")
        with_grad = [(k, p) for k, p in seen.items() if p.grad is not None]
        norms = torch._foreach_norm([p.grad.detach() for _, p in with_grad]) if with_grad else []
        values = torch.stack([n.float().cpu() for n in norms]).tolist() if with_grad else []
        layers: dict[str, float] = {}
        nonfinite = []
        for (key, _), value in zip(with_grad, values):
            name = self._param_names.get(key, "?")
            if not math.isfinite(value):
                nonfinite.append(name)
            elif value > 0:
                self._got_grad.add(key)
            layer = name.rsplit(".", 1)[0] if "." in name else name
            layers[layer] = layers.get(layer, 0.0) + value * value
        lrs = []
        for group in opt.param_groups:
            lr = group.get("lr")
            lrs.append(float(lr) if lr is not None else None)
        self._current = {
            "lrs": lrs,
            "layer_grad_norms": {
                k: round(math.sqrt(v), 6) if math.isfinite(v) else v for k, v in layers.items()
            },
            "nonfinite_grads": nonfinite[:10],
            "optimizer": self.optimizer_facts[id(opt)]["name"],
        }

    def _step_post(self, opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        if not self._scanned_this_step:
            return  # a second optimizer stepping in the same iteration
        self._scanned_this_step = False
        losses = self._losses_since_step
        record = getattr(self, "_current", {})
        record.update(
            {
                "step": self.optimizer_steps,
                "loss": (sum(losses) / len(losses)) if losses else None,
                "backwards": self._backwards_since_step,
                "time": round(time.perf_counter() - self.started, 4),
            }
        )
        self.steps.append(record)
        self._current = {}
        self.optimizer_steps += 1
        self._backwards_since_step = 0
        self._losses_since_step = []
        if self.stop and self._budget_spent():
            raise ProbeStop()

    def epoch_boundaries(self) -> list[int]:
        return self.loader_passes.training_boundaries if self.loader_passes is not None else []

    def _budget_spent(self) -> bool:
        if self.max_steps is None or self.optimizer_steps < self.max_steps:
            return False
        if self.soft_budget and self.loader_passes is not None:
            fed_by_loader = any(p["training"] for p in self.loader_passes.passes) or any(
                p.steps_at_start < self.optimizer_steps for p in self.loader_passes._open
            )
            waiting = len(self.epoch_boundaries()) < MIN_EPOCH_BOUNDARIES
            if (
                fed_by_loader
                and waiting
                and self.optimizer_steps < SOFT_BUDGET_CAP * self.max_steps
            ):
                return False
        self.stop_reason = f"step budget ({self.max_steps}) reached"
        return True

    # ------------------------------------------------------------ result
    def parameter_report(self) -> dict:
        """Parameters that never got a gradient, ones outside every optimizer, and
        optimizer parameters that are in no trained model (built before a layer was replaced)."""
        in_optimizer = {id(p) for p in self._optimizer_params()}
        in_models: set[int] = set()
        never, outside, output_layer = [], [], []
        for key in self._trained_models:
            named = list(self._models[key].named_parameters())
            in_models.update(id(p) for _, p in named)
            trainable = [(n, p) for n, p in named if p.requires_grad]
            last_layer = trainable[-1][0].rsplit(".", 1)[0] if trainable else None
            for name, p in trainable:
                if id(p) not in self._got_grad:
                    never.append(name)
                elif self._optimizers and id(p) not in in_optimizer:
                    outside.append(name)
                    if last_layer is not None and name.rsplit(".", 1)[0] == last_layer:
                        output_layer.append(name)
        orphans = sum(1 for p in self._optimizer_params() if id(p) not in in_models)
        optimizers = [{k: v for k, v in facts.items()} for facts in self.optimizer_facts.values()]
        return {
            "never_grad": never,
            "not_in_optimizer": outside,
            "output_layer_outside": output_layer,
            "optimizer_params_outside_models": orphans if self._trained_models else 0,
            "optimizers": len(self._optimizers),
            "optimizer_facts": optimizers,
        }

    def observations(self) -> dict:
        self._finish_carry()
        passes = self.loader_passes.summary() if self.loader_passes is not None else None
        epoch_length = None
        if passes:
            training = [p for p in passes["passes"] if p["training"] and p["len"]]
            epoch_length = training[0]["len"] if training else None
        trained = self._trained_models
        train_mode_eval = [ev for key, ev in self.train_mode_eval.items() if key in trained]
        return {
            "steps": self.steps,
            "optimizer_steps": self.optimizer_steps,
            "backwards": self.backwards,
            "loss_samples": self.loss_samples,
            "eval_loss_calls": self.eval_loss_calls,
            "input_samples": self.input_samples,
            "forward_counts": self.forward_counts,
            "eval_mode_training": self.eval_mode_training,
            "train_mode_eval": train_mode_eval,
            "grad_carry": self.grad_carry,
            "parameters": self.parameter_report(),
            "warnings": self.warnings,
            "schedulers": self.schedule_watch.summary(epoch_length),
            "epoch_length": epoch_length,
            "loader_passes": passes,
            "label_batches": self.label_batches,
            "stop_reason": self.stop_reason,
            "internal_errors": self.internal_errors[:10],
        }


def _norms(grads: list) -> list[float]:
    if not grads:
        return []
    norms = torch._foreach_norm([g.detach() for g in grads])
    return torch.stack([n.float().cpu() for n in norms]).tolist()


def _root_sum_squares(values: list[float]) -> float:
    return math.sqrt(sum(v * v for v in values))
