"""Models and layers: constructors, wrappers, ``nn.Sequential``, train/eval switches, model methods.

A value is a model when a constructor says so (an ``nn.Module`` subclass of
the file, a torchvision/timm constructor, ``nn.Sequential``) or when the code
uses it like one (``.parameters()``, ``.eval()``, see the interpreter).
"""

from __future__ import annotations

from typing import Optional

from clsaudit.semantic import flow, heuristics
from clsaudit.semantic import values as vals
from clsaudit.semantic.api.site import Site
from clsaudit.semantic.names import dotted
from clsaudit.semantic.values import Value

# methods that return the module itself (`model = model.to(device)`)
SELF_METHODS = {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "share_memory",
                "requires_grad_", "apply", "train", "eval"}
# layers that hold weights: bound to a plain name and trained, one of them is the whole model
PARAMETRIC_LAYERS = {"Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "LSTM", "GRU", "RNN", "Transformer",
                     "TransformerEncoder"}
PARAMETER_METHODS = {"parameters", "named_parameters", "children", "modules", "state_dict"}
# methods only a model has: an unknown object they are called on is a model
MODEL_ONLY_METHODS = {"parameters", "named_parameters", "state_dict", "load_state_dict", "eval",
                      "named_modules", "zero_grad"}


def sequential(s: Site) -> Value:
    """``nn.Sequential(..., nn.Softmax())``: the model's output carries its last layer's activation."""
    layers = [a for a, arg in zip(s.args, s.expr.args) if not arg.keyword and not arg.star]
    tail = layers[-1] if layers else vals.UNKNOWN_VALUE
    out = Value(vals.MODEL, qual=s.qual, node=s.expr, ref="<new>")
    if tail.kind in (vals.LAYER, vals.MODEL) and tail.act:
        out = out.with_(act=tail.act, origin=tail.origin, origin_path=tail.origin_path,
                        origin_line=tail.origin_line)
    return out


def wrapper(s: Site) -> Value:
    """DDP, DataParallel, torch.compile: the wrapped model."""
    return s.src if s.src.kind == vals.MODEL else Value(vals.MODEL, ref=s.src.ref)


def nn_class(s: Site, cls: str) -> Optional[Value]:
    if cls == "Sequential":
        return sequential(s)
    if cls in vals.MODEL_WRAPPERS:
        return wrapper(s)
    if cls[:1].isupper() and cls not in {"Parameter", "Module"}:
        return Value(vals.LAYER, qual=s.qual, node=s.expr)
    return None


def constructor(s: Site) -> Optional[Value]:
    """torchvision/timm model constructors and torch.nn.parallel wrappers."""
    if s.qual.startswith("torch.nn.parallel.") or (vals.last(s.qual) in vals.MODEL_WRAPPERS and s.qual.startswith("torch")):
        return wrapper(s)
    if vals.is_torchvision_model(s.qual):
        return Value(vals.MODEL, qual=s.qual, node=s.expr, ref="<new>", detail=s.expr)
    return None


def mode_switch(s: Site) -> Optional[Value]:
    """``model.train()``, ``model.eval()``, ``model.train(flag)``: a MODE event on the model."""
    expr, recv, meth = s.expr, s.recv, s.meth
    if meth == "train" and recv.kind == vals.OBJECT and recv.detail is not None:
        return vals.UNKNOWN_VALUE  # `trainer.train()` on an object of a local class: not nn.Module.train
    if meth == "eval" and s.args:
        return vals.UNKNOWN_VALUE  # `something.eval(expression)` is not nn.Module.eval
    mode = "eval" if meth == "eval" else "train"
    if meth == "train" and expr.args:
        flag = dotted(expr.args[0].value)
        mode = {"True": "train", "False": "eval"}.get(flag or "", "cond")
    ref = recv.ref or dotted(expr.func.value)
    if ref and ref.endswith(".module"):
        ref = ref[: -len(".module")]
    if recv.kind in (vals.MODEL, vals.UNKNOWN, vals.LAYER) or heuristics.classify_name((ref or "").split(".")[-1]) == vals.MODEL:
        s.emit(flow.MODE, ref=ref, detail=mode)
    return recv


def model_method(s: Site) -> Optional[Value]:
    recv, meth = s.recv, s.meth
    if meth in SELF_METHODS:
        return recv
    if meth in {"forward", "__call__"}:
        return s.b.model_call(s.expr, recv, s.args, s.ctx)
    if meth in PARAMETER_METHODS:
        return Value(vals.UNKNOWN, ref=recv.ref, node=s.expr, detail="parameters")
    if meth == "add_module" and len(s.args) >= 2:
        layer = s.args[1]
        if layer.kind in (vals.LAYER, vals.MODEL) and recv.ref:
            # `seq.add_module("softmax", nn.Softmax(1))`: the model now ends in the added layer
            updated = recv.with_(act=layer.act, origin=layer.origin, origin_path=layer.origin_path,
                                 origin_line=layer.origin_line)
            s.b.rebind(recv.ref, updated, s.ctx)
        return vals.UNKNOWN_VALUE
    return vals.UNKNOWN_VALUE
