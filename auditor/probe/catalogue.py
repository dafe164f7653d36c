"""The probe's checks: stable ids, names, and the static rule each confirms.

Ids are stable like the static rule codes: tests, docs and users depend on
them. ``PRB0xx`` checks are passive (they watch a run), ``PRB1xx`` checks are
active (the probe experiments on copies of a factory's parts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, NA = "pass", "fail", "n/a"


@dataclass(frozen=True)
class CheckSpec:
    id: str
    name: str
    what: str
    rule: str | None = None
    active: bool = False


CHECKS = [
    CheckSpec("PRB001", "initial-loss", "first training loss close to ln(C) (a uniform guess)"),
    CheckSpec("PRB002", "non-finite-values", "loss, gradients and model inputs are finite"),
    CheckSpec(
        "PRB003",
        "gradients-carried-over",
        "gradients are empty when the first backward of a step starts",
        "CLS201",
    ),
    CheckSpec(
        "PRB004",
        "parameters-without-gradient",
        "every trainable parameter of the model receives a gradient",
    ),
    CheckSpec(
        "PRB005",
        "gradients-outside-optimizer",
        "every parameter that receives a gradient is in an optimizer",
        "CLS208",
    ),
    CheckSpec(
        "PRB006",
        "eval-mode-training",
        "the model is in train mode when its forward leads to a backward",
        "CLS202",
    ),
    CheckSpec(
        "PRB007",
        "train-mode-evaluation",
        "no-grad forwards of the trained model run in eval mode",
        "CLS203",
    ),
    CheckSpec(
        "PRB008",
        "probabilities-into-loss",
        "the loss receives logits (log-probabilities for NLL)",
        "CLS101",
    ),
    CheckSpec(
        "PRB009", "unnormalised-inputs", "model inputs are standardised (not raw 0..255 values)"
    ),
    CheckSpec(
        "PRB010",
        "scrambled-spatial-structure",
        "neighbouring pixels of model inputs are correlated",
        "CLS303",
    ),
    CheckSpec(
        "PRB011", "single-class-batches", "training batches mix classes (shuffled data)", "CLS305"
    ),
    CheckSpec("PRB012", "labels-out-of-range", "labels lie in [0, C)"),
    CheckSpec(
        "PRB013",
        "learning-rate-trajectory",
        "the learning rate follows a plausible schedule",
        "CLS207",
    ),
    CheckSpec(
        "PRB101",
        "overfit-one-batch",
        "a copy of the model fits one small batch to near-zero loss",
        active=True,
    ),
    CheckSpec(
        "PRB102",
        "batch-independence",
        "sample i's output does not depend on sample j's input (eval mode)",
        active=True,
    ),
    CheckSpec(
        "PRB103",
        "every-layer-gets-gradient",
        "one backward reaches every layer with trainable parameters",
        active=True,
    ),
    CheckSpec(
        "PRB104",
        "real-beats-zeroed-inputs",
        "the trained copy does better on real inputs than on zeroed ones",
        active=True,
    ),
    CheckSpec(
        "PRB105",
        "train-test-overlap",
        "no test/eval image also appears in the training data",
        "CLS502",
        active=True,
    ),
]
BY_ID = {spec.id: spec for spec in CHECKS}


@dataclass
class CheckResult:
    id: str
    verdict: str
    message: str
    numbers: dict[str, Any] = field(default_factory=dict)
    rule: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        spec = BY_ID[self.id]
        self.name = self.name or spec.name
        if self.rule is None:
            self.rule = spec.rule

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
