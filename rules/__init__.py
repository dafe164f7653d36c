"""The rule catalogue: one module per rule, listed here in code order.

Modules are listed explicitly (not discovered) so that loading the catalogue
is a handful of cheap imports on the pre-commit path.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from clsaudit.rule import Rule

RULE_MODULES = (
    "softmax_before_cross_entropy",
    "sigmoid_before_bce_with_logits",
    "probabilities_into_nll",
    "redundant_softmax_before_argmax",
    "redundant_log_softmax_before_cross_entropy",
    "missing_zero_grad",
    "missing_train_mode",
    "missing_eval_mode",
    "eval_without_no_grad",
    "metric_keeps_graph",
    "step_before_backward",
    "misplaced_gradient_clipping",
    "test_set_statistics",
    "foreign_normalisation_stats",
    "channels_last_input",
    "augmented_eval_transform",
    "clamp_after_normalisation",
    "label_changing_augmentation",
    "unshuffled_train_loader",
    "sampler_without_set_epoch",
    "mixup_without_label_mixing",
    "model_selection_on_test",
    "training_on_test_data",
    "validation_overlaps_training",
    "scheduler_misuse",
    "optimizer_misses_parameters",
    "stock_resnet_stem_on_small_images",
    "classifier_head_size_mismatch",
)


@lru_cache(maxsize=1)
def all_rules() -> tuple[Rule, ...]:
    """One instance of every rule, ordered by code."""
    found = []
    for name in RULE_MODULES:
        module = importlib.import_module(f"clsaudit.rules.{name}")
        found.append(module.RULE())
    return tuple(sorted(found, key=lambda r: r.code))


def rule_by_code(code: str) -> Rule | None:
    for rule in all_rules():
        if rule.code == code.upper():
            return rule
    return None
