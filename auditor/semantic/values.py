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
CONST = "const"  # True, False or None (detail holds it)

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
    param: Optional["ParamOrigin"] = None  # the parameter of the enclosing function this value is

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



# --- typed payloads of Value.detail -------------------------------------------------


@dataclass(frozen=True, eq=False)
class ParamOrigin:
    """The value of a function's parameter (its callers say what it is)."""

    fn: Any  # FunctionInfo
    name: str


@dataclass(frozen=True, eq=False)
class FromModel:
    """The output of a model that arrived as a parameter (its callers' models say its activation)."""

    model: "Value"


@dataclass(frozen=True)
class Compare:
    """A condition built from comparisons (``acc > best``, ``a and b``, a flag holding one).

    ``split`` is the merged data split of its operands, ``ordering`` whether it orders a
    value against another (``<``, ``>=``: a selection), and ``params`` the parameters of the
    enclosing function it reads, so each call site can be judged with its own arguments.
    """

    split: Optional[str]
    ordering: bool = False
    params: frozenset = frozenset()

    def __or__(self, other: "Compare") -> "Compare":
        return Compare(merge_split([Value(split=self.split), Value(split=other.split)]),
                       self.ordering or other.ordering, self.params | other.params)


@dataclass(eq=False)
class StatOf:
    """A statistic computed over split data, and who consumed it: ``print`` only means it was
    looked at, a ``Normalize``, arithmetic, a call or a return means it may be applied."""

    event: Any  # the STAT event
    consumers: set = field(default_factory=set)

    def printed_only(self) -> bool:
        return bool(self.consumers) and all(c in {"print", "log"} for c in self.consumers)


def stat_of(value: Optional["Value"]) -> Optional[StatOf]:
    if value is None:
        return None
    if isinstance(value.detail, StatOf):
        return value.detail
    return next((i.detail for i in value.items if isinstance(i.detail, StatOf)), None)


@dataclass(frozen=True)
class Extremum:
    """``max(acc, best)`` / ``min(err, best)``: a running best (a selection when over test data)."""


class Callee:
    """A function or class of a sibling module, known through its summary: calling it gives a
    value (local functions and classes are FunctionInfo/ClassInfo, followed by the interpreter)."""

    def call_value(self, expr: Any, builder: Any, args: list, ctx: Any) -> "Value":  # pragma: no cover
        raise NotImplementedError


class Namespace:
    """A sibling module known through its summary: its attributes are symbols."""

    def symbol_attr(self, attr: str) -> "Value":  # pragma: no cover
        raise NotImplementedError


def param_origin(value: "Value") -> Optional[ParamOrigin]:
    return value.detail if isinstance(value.detail, ParamOrigin) else None
