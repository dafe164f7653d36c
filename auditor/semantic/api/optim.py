"""Optimisation: optimizers, schedulers, gradient scalers, backward passes and gradient modes.

What CLS201/CLS206-CLS208 and the state analysis read: BACKWARD, STEP,
ZERO_GRAD and SCHED_STEP events, where each optimizer is created and with
which parameters (OPTIMIZER_NEW), and which parameters are unfrozen.
How a scheduler counts (per batch or per epoch) is read by CLS207 from the
scheduler's constructor arguments recorded here.
"""

from __future__ import annotations

from typing import Optional

from clsaudit.semantic import flow
from clsaudit.semantic import values as vals
from clsaudit.semantic.api.site import Site
from clsaudit.semantic.names import dotted
from clsaudit.semantic.values import Value


def constructor(s: Site) -> Optional[Value]:
    qual = s.qual
    if vals.is_optimizer_qual(qual):
        v = Value(vals.OPTIMIZER, qual=qual, node=s.expr, ref="<new>", detail=s.expr)
        s.emit(flow.OPTIMIZER_NEW, value=v, argmap={"params": s.src if s.args else None})
        return v
    if vals.is_scheduler_qual(qual):
        return Value(vals.SCHEDULER, qual=qual, node=s.expr, ref="<new>", detail=s.expr)
    if vals.last(qual) in vals.SCALERS and qual.startswith("torch"):
        return Value(vals.SCALER, qual=qual, node=s.expr, ref="<new>")
    return None


def autograd(s: Site) -> Optional[Value]:
    """torch.autograd.backward / torch.autograd.grad both run a backward pass."""
    s.emit(flow.BACKWARD, value=s.src)
    return vals.UNKNOWN_VALUE


def set_grad_enabled(s: Site) -> Optional[Value]:
    s.emit(flow.GRAD_SET, detail=s.b.grad_context(s.expr, s.ctx))
    return vals.UNKNOWN_VALUE


# ---- methods ----------------------------------------------------------------------------------
def backward(s: Site) -> Value:
    value = s.recv if s.recv.kind == vals.TENSOR or not s.args else s.args[0]
    name = dotted(s.expr.func.value)
    s.emit(flow.BACKWARD, value=value, ref=name)
    if name is not None and not s.args and not s.recv.grad:
        # `total.backward()` proves `total` carries a graph, whatever helper returned it
        s.b.rebind(name, s.recv.with_(kind=vals.TENSOR, grad=True), s.ctx)
    return vals.UNKNOWN_VALUE


def zero_grad(s: Site) -> Value:
    s.emit(flow.ZERO_GRAD, ref=s.recv.ref)
    return vals.UNKNOWN_VALUE


def grad_zero_(s: Site) -> Optional[Value]:
    """``p.grad.zero_()`` zeroes a gradient by hand."""
    recv_node = s.expr.func.value
    if getattr(recv_node, "attr", None) is not None and recv_node.attr.value == "grad":
        s.emit(flow.ZERO_GRAD, ref=None)
        return vals.UNKNOWN_VALUE
    return None


def step(s: Site) -> Value:
    recv = s.recv
    if recv.kind == vals.SCALER or (recv.kind == vals.UNKNOWN and (recv.ref or "").endswith("scaler")):
        opt = s.src
        ref = opt.ref or (dotted(s.expr.args[0].value) if s.expr.args else None)
        s.emit(flow.STEP, ref=ref, value=opt)
    elif recv.kind == vals.OPTIMIZER:
        s.emit(flow.STEP, ref=recv.ref, value=recv, detail="closure" if s.expr.args else None)
    elif recv.kind == vals.SCHEDULER:
        s.emit(flow.SCHED_STEP, ref=recv.ref, value=recv, other=s.src if s.args else None)
    return vals.UNKNOWN_VALUE


def scale(s: Site) -> Optional[Value]:
    """``scaler.scale(loss)`` is the loss (its graph included)."""
    if s.recv.kind == vals.SCALER:
        return s.src
    return None


def add_param_group(s: Site) -> Value:
    s.emit(flow.ADD_PARAM_GROUP, ref=s.recv.ref or dotted(s.expr.func.value))
    return vals.UNKNOWN_VALUE


def requires_grad_(s: Site) -> Value:
    a = s.expr.args[0].value if s.expr.args else None
    if a is None or dotted(a) == "True":
        s.emit(flow.UNFREEZE, ref=dotted(s.expr.func.value))
    return s.recv
