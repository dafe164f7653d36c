"""The PyTorch API as tables of small handlers, one topic a file.

``torch_call`` handles a call whose callee resolves to a qualified name
(``torch.nn.CrossEntropyLoss``, ``torchvision.datasets.CIFAR10``,
``numpy.mean``); ``method_call`` handles ``obj.meth(...)`` on a value of known
kind. To learn how clsaudit understands an API, look it up here:

- :mod:`.losses`: losses, softmax/log_softmax/sigmoid, argmax predictions;
- :mod:`.models`: nn.Sequential, layers, wrappers, model constructors, train/eval;
- :mod:`.optim`: optimizers, schedulers, scalers, backward, step, zero_grad;
- :mod:`.data`: datasets, splits, loaders, samplers, transforms, arrays, statistics;
- :mod:`.tensors`: tensor methods and what each keeps of a value.
"""

from __future__ import annotations

from typing import Callable, Optional

from clsaudit.semantic import values as vals
from clsaudit.semantic.api import data, losses, models, optim, tensors
from clsaudit.semantic.api.site import Site
from clsaudit.semantic.values import Value

Handler = Callable[[Site], Optional[Value]]

# Exact qualified names.
QUALIFIED: dict[str, Handler] = {
    **{q: data.random_split for q in data.RANDOM_SPLIT},
    **{q: data.upsample for q in data.UPSAMPLERS},
    **{q: data.to_tensor for q in data.TO_TENSOR},
    **{q: data.torch_statistic for q in ("torch.mean", "torch.std", "torch.var", "torch.std_mean", "torch.var_mean")},
    **{q: data.array for q in ("torch.cat", "torch.stack", "torch.concat", "torch.vstack")},
    "PIL.Image.open": data.pil_open,
    "torch.autograd.Variable": tensors.variable,
    "torch.autograd.variable.Variable": tensors.variable,
    "torch.autograd.backward": optim.autograd,
    "torch.autograd.grad": optim.autograd,
    "torch.set_grad_enabled": optim.set_grad_enabled,
}


def _by_prefix(s: Site) -> Optional[Value]:
    """Families of names: torchvision.datasets.*, torch.utils.data.*, torchvision.transforms.*, torch.nn.*."""
    qual, name = s.qual, s.name
    if qual.startswith("torchvision.datasets.") and name[:1].isupper():
        return data.dataset(s, name)
    if qual.startswith("torch.utils.data"):
        return data.utils_data(s, name)
    if qual.startswith("torchvision.transforms"):
        return data.transform(s)
    if qual.startswith("numpy."):
        return data.array(s)
    cls = vals.torch_nn_class(qual)
    if cls is not None:
        return losses.loss_class(s, cls) or models.nn_class(s, cls)
    return None


# Tried in order once no exact name matched.
GENERAL: tuple[Handler, ...] = (_by_prefix, losses.functional, models.constructor, optim.constructor)

# Methods, by name (the receiver's kind is checked by the handler).
METHODS: dict[str, Handler] = {
    "backward": optim.backward,
    "eval": models.mode_switch,
    "train": models.mode_switch,
    "zero_grad": optim.zero_grad,
    "zero_": optim.grad_zero_,
    "step": optim.step,
    "scale": optim.scale,
    "set_epoch": data.set_epoch,
    "add_param_group": optim.add_param_group,
    "requires_grad_": optim.requires_grad_,
}


def _first(handlers, s: Site) -> Optional[Value]:
    """The answer of the first handler that has one (a handler returns None to pass)."""
    for handler in handlers:
        out = handler(s) if handler is not None else None
        if out is not None:
            return out
    return None


def torch_call(s: Site) -> Value:
    return _first((QUALIFIED.get(s.qual), *GENERAL), s) or vals.UNKNOWN_VALUE


def method_call(s: Site) -> Value:
    out = _first((METHODS.get(s.meth), tensors.method), s)
    if out is not None:
        return out
    recv = s.recv
    if recv.kind == vals.LOSS and s.meth in {"forward", "__call__"}:
        return s.b.loss_call(s.expr, recv.detail if isinstance(recv.detail, str) else None, s.args, s.ctx, recv)
    if recv.kind == vals.MODEL:
        return models.model_method(s)
    if recv.kind in (vals.LAYER, vals.LOSS, vals.UNKNOWN) and s.meth in {"to", "cuda", "cpu", "float"}:
        return recv
    if recv.kind == vals.LAYER and s.meth in models.SELF_METHODS:
        return recv
    return vals.UNKNOWN_VALUE
