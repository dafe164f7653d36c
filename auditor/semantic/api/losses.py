"""Losses and activations: how clsaudit understands softmax, log_softmax, sigmoid and the losses.

Catalogue rows CLS101-CLS105 read what these handlers record: a tensor's
*activation* (probabilities, log-probabilities, sigmoid outputs) and a LOSS
event with the loss's flavour, its input and its target.
"""

from __future__ import annotations

from typing import Optional

from clsaudit.semantic import flow
from clsaudit.semantic import values as vals
from clsaudit.semantic.api.site import Site
from clsaudit.semantic.values import Value

ACTIVATIONS = {"softmax": vals.PROBS, "log_softmax": vals.LOGPROBS, "sigmoid": vals.SIGMOID}
PREDICTIONS = {"argmax", "max", "topk"}


def loss_event(s: Site, flavour: Optional[str], loss_value: Optional[Value] = None) -> Value:
    """A loss call: record its input (positional 0 or ``input=``) and target (1 or ``target=``)."""
    inp = s.arg("input", 0) or vals.UNKNOWN_VALUE
    tgt = s.arg("target", 1) or vals.UNKNOWN_VALUE
    s.emit(flow.LOSS, value=inp, other=tgt, detail=flavour,
           ref=loss_value.ref if loss_value else None, argmap={"loss": loss_value})
    return Value(vals.TENSOR, grad=True, node=s.expr, detail="loss", split=vals.merge_split((inp, tgt)))


def activated(s: Site, act: str, src: Value) -> Value:
    return Value(vals.TENSOR, act=act, origin=s.expr, grad=src.grad, node=s.expr, split=src.split)


def prediction(s: Site, src: Value) -> Value:
    """argmax/max/topk of model outputs: a prediction (or CLS104's softmax-then-argmax)."""
    if src.act == vals.PROBS:
        s.emit(flow.ARGMAX, value=src, detail=s.name)
    elif src.grad:
        s.emit(flow.PREDICT, value=src, detail=s.name)
    return Value(vals.TENSOR, grad=False, node=s.expr, split=src.split)


# ---- functions (torch.nn.functional.X, torch.X) -------------------------------------------------
def functional(s: Site) -> Optional[Value]:
    qual, fname = s.qual, vals.functional_name(s.qual)
    if fname is None:
        return None
    if fname in vals.FUNCTIONAL_LOSSES and (qual.startswith("torch.nn.functional") or qual == f"torch.{fname}"):
        return loss_event(s, vals.FUNCTIONAL_LOSSES[fname])
    if fname in ACTIVATIONS:
        return activated(s, ACTIVATIONS[fname], s.src)
    if fname == "log" and s.src.act == vals.PROBS:
        return Value(vals.TENSOR, act=vals.LOGPROBS, origin=s.src.origin, grad=s.src.grad, node=s.expr,
                     split=s.src.split)
    if fname in PREDICTIONS and qual.startswith("torch"):
        return prediction(s, s.src)
    return None


# ---- classes (torch.nn.X) -----------------------------------------------------------------------
def loss_class(s: Site, cls: str) -> Optional[Value]:
    if cls in vals.LOSS_CLASSES:
        return Value(vals.LOSS, detail=vals.LOSS_CLASSES[cls], qual=s.qual, node=s.expr, ref="<new>")
    if cls in vals.ACTIVATION_LAYERS:
        return Value(vals.LAYER, act=vals.ACTIVATION_LAYERS[cls], origin=s.expr, qual=s.qual, node=s.expr)
    return None


# ---- tensor methods ----------------------------------------------------------------------------
def tensor_method(s: Site) -> Optional[Value]:
    recv, meth = s.recv, s.meth
    if meth in ACTIVATIONS:
        return activated(s, ACTIVATIONS[meth], recv)
    if meth == "log" and recv.act == vals.PROBS:
        return recv.with_(act=vals.LOGPROBS, node=s.expr)
    if meth in PREDICTIONS:
        return prediction(s, recv)
    return None


def is_tensor_activation_call(s: Site) -> bool:
    """``x.softmax(1)`` (numbers only), not a module-like ``F.softmax(x, 1)`` on an unknown object."""
    return s.meth in ACTIVATIONS and all(
        a.kind == vals.NUMBER for a, arg in zip(s.args, s.expr.args) if arg.keyword is None)
