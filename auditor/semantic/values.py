"""Abstract values: what an expression is, as far as the rules care.

The semantic model evaluates expressions to :class:`Value` objects. A value
has a *kind* (model, loss, optimizer, tensor, ...) and, for tensors, an
*activation*: whether it already holds probabilities (``probs``),
log-probabilities (``logprobs``), sigmoid outputs (``sigmoid``) or raw
logits (None). ``ref`` names the object an expression denotes (``model``,
``self.model``) so that ``net = model`` and ``model.to(device)`` still name
the same model whose train/eval mode is tracked.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    import libcst as cst

TORCH_ROOTS = {"torch", "torchvision", "timm", "lightning", "pytorch_lightning", "torchmetrics"}


def is_torch_name(qual: Optional[str]) -> bool:
    return bool(qual) and qual.split(".")[0] in TORCH_ROOTS


def last(qual: Optional[str]) -> str:
    return qual.rsplit(".", 1)[-1] if qual else ""

# kinds
UNKNOWN = "unknown"
SYMBOL = "symbol"  # a qualified name (module, class or function) not yet called
MODEL = "model"
LAYER = "layer"  # an activation layer instance: nn.Softmax(), nn.Sigmoid() ...
LOSS = "loss"
OPTIMIZER = "optimizer"
SCHEDULER = "scheduler"
SCALER = "scaler"
LOADER = "loader"
DATASET = "dataset"
TRANSFORM = "transform"
TENSOR = "tensor"
NUMBER = "number"
OBJECT = "object"  # instance of a local non-Module class
FUNCTION = "function"  # a local function
STRING = "string"
SEQUENCE = "sequence"
DICT = "dict"
SAMPLER = "sampler"

PROBS = "probs"
LOGPROBS = "logprobs"
SIGMOID = "sigmoid"


@dataclass
class Value:
    kind: str = UNKNOWN
    act: Optional[str] = None  # tensors and models: activation of the output
    origin: Optional[cst.CSTNode] = None  # where the activation was applied
    origin_path: Optional[str] = None  # another file, when the activation lives there
    origin_line: Optional[int] = None
    grad: bool = False  # tensor that carries an autograd graph
    qual: Optional[str] = None  # SYMBOL: qualified name; MODEL/LOSS/...: constructor's
    ref: Optional[str] = None  # the name of the object (for mode tracking)
    detail: Any = None  # kind-specific: loss flavour, class name, call node ...
    node: Optional[cst.CSTNode] = None  # the expression that made the value
    split: Optional[str] = None  # data provenance: train / val / test (issue-6 rules)
    items: tuple = field(default=())  # SEQUENCE elements
    layout: Optional[str] = None  # image arrays: "nhwc" | "nchw"
    layout_at: Optional[cst.CSTNode] = None  # where that layout was made (reshape, transpose, PIL)
    randoms: tuple = field(default=())  # TRANSFORM: the random transform nodes it contains

    def with_(self, **changes: Any) -> "Value":
        return replace(self, **changes)


UNKNOWN_VALUE = Value()


def tensor(act: Optional[str] = None, origin: Optional[cst.CSTNode] = None, grad: bool = False,
           node: Optional[cst.CSTNode] = None, **kw: Any) -> Value:
    return Value(TENSOR, act=act, origin=origin, grad=grad, node=node, **kw)


# --- the catalogue of torch names -------------------------------------------------

SOFTMAX_FUNCS = {"softmax"}
LOG_SOFTMAX_FUNCS = {"log_softmax"}
SIGMOID_FUNCS = {"sigmoid"}

LOSS_CLASSES = {
    "CrossEntropyLoss": "ce",
    "NLLLoss": "nll",
    "BCEWithLogitsLoss": "bcelogits",
    "BCELoss": "bce",
    "KLDivLoss": "kl",
    "MSELoss": "mse",
    "L1Loss": "l1",
    "SmoothL1Loss": "l1",
    "MultiLabelSoftMarginLoss": "mlsm",
    "SoftTargetCrossEntropy": "ce",  # timm
    "LabelSmoothingCrossEntropy": "ce",  # timm
}
FUNCTIONAL_LOSSES = {
    "cross_entropy": "ce",
    "nll_loss": "nll",
    "binary_cross_entropy_with_logits": "bcelogits",
    "binary_cross_entropy": "bce",
    "kl_div": "kl",
    "mse_loss": "mse",
}
ACTIVATION_LAYERS = {"Softmax": PROBS, "LogSoftmax": LOGPROBS, "Sigmoid": SIGMOID, "Softmax2d": PROBS}

OPTIMIZERS = {
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
    "LBFGS", "SparseAdam", "ASGD", "Rprop", "Lion", "LARS", "LAMB", "Lamb", "Adafactor",
}
SCALERS = {"GradScaler"}
LOADERS = {"DataLoader"}
MODEL_WRAPPERS = {"DistributedDataParallel", "DataParallel", "compile", "FullyShardedDataParallel"}


def is_nn_module_qual(qual: Optional[str]) -> bool:
    if not qual:
        return False
    return qual in {"torch.nn.Module", "torch.nn.modules.module.Module"} or (
        is_torch_name(qual) and last(qual) in {"Module", "LightningModule"}
    )


def is_lightning_qual(qual: Optional[str]) -> bool:
    return bool(qual) and last(qual) == "LightningModule"


def torch_nn_class(qual: Optional[str]) -> Optional[str]:
    """'CrossEntropyLoss' for torch.nn.CrossEntropyLoss / torch.nn.modules.loss.X, else None."""
    if not qual or not qual.startswith("torch.nn.") or qual.startswith("torch.nn.functional"):
        return None
    return last(qual)


def functional_name(qual: Optional[str]) -> Optional[str]:
    """'softmax' for torch.nn.functional.softmax, torch.softmax, torch.special.softmax."""
    if not qual:
        return None
    head, _, name = qual.rpartition(".")
    if head in {"torch.nn.functional", "torch", "torch.special", "torch.Tensor"}:
        return name
    return None


def is_torchvision_model(qual: Optional[str]) -> bool:
    if not qual:
        return False
    return qual.startswith("torchvision.models.") or qual in {"timm.create_model", "torch.hub.load"}


def is_scheduler_qual(qual: Optional[str]) -> bool:
    return bool(qual) and qual.startswith("torch.optim.lr_scheduler.") and last(qual)[0].isupper()


def is_optimizer_qual(qual: Optional[str]) -> bool:
    if not qual:
        return False
    name = last(qual)
    if qual.startswith("torch.optim.") and name in OPTIMIZERS:
        return True
    return is_torch_name(qual) and name in OPTIMIZERS or qual in {
        "timm.optim.create_optimizer_v2", "timm.optim.create_optimizer"}


RANDOM_TRANSFORMS = {"ColorJitter", "RandAugment", "AutoAugment", "TrivialAugmentWide", "AugMix",
                     "GaussianBlur", "ElasticTransform", "RandomErasing"}


def is_random_transform(name: str) -> bool:
    return name.startswith("Random") or name in RANDOM_TRANSFORMS


def merge_split(values) -> Optional[str]:
    splits = {v.split for v in values if v is not None and v.split}
    if not splits:
        return None
    if len(splits) == 1:
        return splits.pop()
    if any("test" in s for s in splits):
        return "train+test" if any("train" in s for s in splits) else "test"
    return "train" if "train" in splits else sorted(splits)[0]


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


def _tokens(name: str) -> list[str]:
    import re

    parts = re.split(r"[_\W\d]+|(?<=[a-z])(?=[A-Z])", name)
    return [p.lower() for p in parts if p]


def split_of_name(name: str) -> Optional[str]:
    """'test' for x_test / testloader / test_set / test_acc; 'val' for val_loader; 'train' for x_train.

    The split word must come with a data or metric word, in the same token
    (`testloader`) or another one (`test_acc`): `test_id`, `runtests` or
    `disabled_test` in a test harness name no split.
    """
    tokens = _tokens(name.split(".")[-1])
    if not tokens:
        return None
    found = None
    data_elsewhere = False
    for tok in tokens:
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
    if found and (data_elsewhere or len(tokens) == 1):
        return found
    return None


def split_of_text(text: str) -> Optional[str]:
    """Split named by a path or key string: 'test_batch', '.../val', 'train'."""
    import re

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


def classify_name(name: str) -> Optional[str]:
    """Guess what a parameter or attribute holds from its name (helpers rarely annotate)."""
    n = name.lower()
    if n in MODEL_NAMES or n.endswith("_model") or n.startswith("model_") or n.endswith("_net"):
        return MODEL
    if n in OPT_NAMES or n.startswith("optimizer") or n.endswith("_optimizer") or n.endswith("_opt"):
        return OPTIMIZER
    if n in SCHED_NAMES or "scheduler" in n:
        return SCHEDULER
    if n in LOSS_NAMES or n.startswith("criterion"):
        return LOSS
    if n == "scaler" or n.endswith("_scaler"):
        return SCALER
    if any(w in n for w in LOADER_WORDS) or n in {"dl", "train_dl", "val_dl", "test_dl"}:
        return LOADER
    if n.endswith(("dataset", "_ds", "_set", "trainset", "testset", "valset", "subset")):
        return DATASET
    return None
