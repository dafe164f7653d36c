"""Every name heuristic in one place, matched on whole tokens (pure functions of a
string, cached: the interpreter asks them at every binding and call).

Real code rarely annotates, so names still say a lot: ``test_loader`` holds
test data, ``criterion`` a loss, ``best_acc`` a selection metric. Names are
split into tokens (``_``, digits and camelCase), and words are matched against
whole tokens or a token's known compounds (``testloader``), never as
substrings: ``offset`` holds no ``set``, ``interval`` no ``val``. A table-driven
test (``tests/test_heuristics.py``) pins each function's answers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from clsaudit.semantic.values import DATASET, LOADER, LOSS, MODEL, OPTIMIZER, SCALER, SCHEDULER

DATA_TOKENS = {
    "x", "y", "set", "sets", "data", "dataset", "datasets", "loader", "loaders", "dataloader", "dl", "ds",
    "image", "images", "img", "imgs", "label", "labels", "target", "targets", "batch", "batches", "acc",
    "accuracy", "loss", "losses", "err", "error", "top1", "top5", "score", "scores", "metric", "metrics",
    "feat", "feats", "features", "logit", "logits", "pred", "preds", "predictions", "input", "inputs",
    "sample", "samples", "split", "stats", "mean", "std", "arr", "array", "tensor", "tensors", "iter",
    "f1", "auc", "transform", "transforms", "tf", "tfs", "aug", "subset", "examples", "files", "paths",
    "dir", "root", "folder", "sampler", "idx", "indices", "df", "xs", "ys", "nll", "ece", "result", "results",
}
SPLIT_WORDS = (("test", "test"), ("valid", "val"), ("val", "val"), ("train", "train"))


def tokens(name: str) -> list[str]:
    parts = re.split(r"[_\W\d]+|(?<=[a-z])(?=[A-Z])", name)
    return [p.lower() for p in parts if p]


@lru_cache(maxsize=8192)
def split_of_name(name: str) -> Optional[str]:
    """'test' for x_test / testloader / test_set / test_acc; 'val' for val_loader; 'train' for x_train.

    The split word must come with a data or metric word, in the same token
    (`testloader`) or another one (`test_acc`): `test_id`, `runtests` or
    `disabled_test` in a test harness name no split.
    """
    toks = tokens(name.split(".")[-1])
    if not toks:
        return None
    found = None
    data_elsewhere = False
    for tok in toks:
        for word, split in SPLIT_WORDS:
            if word in tok:
                rest = tok.replace(word, "", 1)
                if rest == "" or rest in DATA_TOKENS or rest in {"ing", "ation", "ating"}:
                    if rest in DATA_TOKENS:
                        return split
                    found = found or split
                break
        else:
            if tok in DATA_TOKENS:
                data_elsewhere = True
    if found and (data_elsewhere or len(toks) == 1):
        return found
    return None


@lru_cache(maxsize=8192)
def split_of_text(text: str) -> Optional[str]:
    """Split named by a path or key string: 'test_batch', '.../val', 'train'."""
    t = text.lower()
    if re.search(r"(^|[^a-z])test", t):
        return "test"
    if re.search(r"(^|[^a-z])(val|valid|validation)([^a-z]|$)", t):
        return "val"
    if re.search(r"(^|[^a-z])train", t):
        return "train"
    return None


# --- what a name says a variable holds ---------------------------------------------

MODEL_NAMES = {"model", "net", "network", "backbone", "classifier", "student", "teacher",
               "encoder", "cnn", "resnet", "clf", "ema_model"}
OPT_NAMES = {"optimizer", "opt", "optim", "optimiser"}
LOSS_NAMES = {"criterion", "loss_fn", "loss_func", "lossfn", "loss_function", "criterion_fn",
              "loss_fcn", "criteria", "loss_module", "ce_loss", "xent"}
SCHED_NAMES = {"scheduler", "sched", "lr_scheduler", "lr_sched"}
LOADER_WORDS = ("loader", "dataloader")


@lru_cache(maxsize=8192)
def classify_name(name: str) -> Optional[str]:
    """Guess what a parameter or attribute holds from its name (helpers rarely annotate)."""
    n = name.lower()
    toks = tokens(name)
    if not toks:
        return None
    first, lastt = toks[0], toks[-1]
    if n in MODEL_NAMES or lastt in {"model", "net"} or (first == "model" and len(toks) > 1):
        return MODEL
    if n in OPT_NAMES or first == "optimizer" or lastt in {"optimizer", "opt", "optim", "optimiser"}:
        return OPTIMIZER
    if n in SCHED_NAMES or any(t.endswith("scheduler") or t == "sched" for t in toks):
        return SCHEDULER
    if n in LOSS_NAMES or first == "criterion":
        return LOSS
    if lastt == "scaler":
        return SCALER
    if any(t.endswith("loader") for t in toks) or lastt == "dl":
        return LOADER
    if lastt in {"dataset", "ds", "set", "trainset", "testset", "valset", "subset"}:
        return DATASET
    return None


# words that make an iterable data: fewer than DATA_TOKENS (`split_mod.graph.nodes` is no data)
ITERATED_DATA_TOKENS = {"loader", "dataloader", "data", "dataset", "batch", "batches", "sample", "samples",
                        "image", "images", "img", "imgs", "input", "inputs", "dl", "ds", "set", "x", "xs"}
DATA_STEMS = ("loader", "dataloader", "data", "dataset", "set", "batch", "batches", "images", "imgs", "samples")
SPLIT_STEMS = ("train", "test", "val", "valid")


@lru_cache(maxsize=8192)
def is_data_text(text: str) -> bool:
    """Does an iterable's text name data (``train_loader``, ``zip(x_train, y_train)``, ``testset``)?"""
    for tok in tokens(text):
        if tok in ITERATED_DATA_TOKENS or tok in SPLIT_STEMS:
            return True
        if tok.endswith(DATA_STEMS) and any(tok == p + stem for p in ("", *SPLIT_STEMS, "my", "full")
                                            for stem in DATA_STEMS):
            return True
    return False


STAT_WORDS = {"mean", "std", "stat", "stats", "statistics", "moments", "meanstd", "normalization",
              "normalisation", "norm"}


@lru_cache(maxsize=8192)
def names_statistics(name: str) -> bool:
    """``channel_stats``, ``compute_mean_std``: a helper that computes normalisation statistics."""
    return any(tok in STAT_WORDS for tok in tokens(name))


SAVE_TOKENS = {"save", "checkpoint", "ckpt", "copyfile", "copy2", "deepcopy", "snapshot"}
SAVE_COMPOUND = re.compile(r"save(model|checkpoint|ckpt|state|weights|best)")
STOP_TOKENS = {"patience", "stop", "stopping", "stopper"}


@lru_cache(maxsize=8192)
def selection_action(name: str) -> Optional[str]:
    """What a call or an assigned name does when it sits under a condition on a metric:
    ``save`` (torch.save, save_checkpoint, copyfile to model_best), ``best`` (best_acc = acc),
    ``stop`` (early stopping, patience counters), or None."""
    toks = tokens(name)
    if any(t in SAVE_TOKENS or SAVE_COMPOUND.fullmatch(t) for t in toks):
        return "save"
    if "best" in toks:
        return "best"
    if any(t in STOP_TOKENS for t in toks):
        return "stop"
    return None


EVAL_DATA_TOKENS = {"eval", "evaluation", "val", "valid", "validation", "test", "testing", "holdout", "dev"}


@lru_cache(maxsize=8192)
def names_evaluation_data(keyword: str) -> bool:
    """``eval_loader``, ``validation_data``, ``val_dataloaders``, ``test_dataloader``: data a
    ``fit()`` only evaluates on (Keras, Lightning, home-grown trainers)."""
    return any(t in EVAL_DATA_TOKENS for t in tokens(keyword))


TRAINING_TOKENS = {"train", "fit", "training"}


@lru_cache(maxsize=8192)
def names_training(name: str) -> bool:
    """``train_one_epoch``, ``fit``, ``engine.train``: a function that runs training steps."""
    return any(t in TRAINING_TOKENS for t in tokens(name.rsplit(".", 1)[-1]))
