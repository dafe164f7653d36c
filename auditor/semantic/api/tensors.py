"""Tensor methods: what ``.view``, ``.item()``, ``.detach()``, ``.float()`` ... keep of a value.

Facts flow by default: a method this table does not know keeps the
receiver's split, layout and activation (``x.unsqueeze(1).bmm(w)`` is still
probabilities). Only methods that clearly change the meaning drop them:
reductions and element-wise maths drop the activation, ``detach``/``item``
drop the graph, comparisons make booleans.
"""

from __future__ import annotations

from typing import Optional

from clsaudit.semantic import flow
from clsaudit.semantic import values as vals
from clsaudit.semantic.api import data, losses
from clsaudit.semantic.api.site import Site
from clsaudit.semantic.values import Value

# keep what the tensor means (probabilities stay probabilities)
SHAPE_ONLY = {"to", "cuda", "cpu", "float", "double", "half", "contiguous", "clone", "squeeze", "unsqueeze",
              "bfloat16", "type", "view_as", "expand", "expand_as", "repeat", "bmm", "matmul", "index_select",
              "gather", "narrow", "chunk", "split", "roll", "flip", "requires_grad_", "T", "permute", "transpose",
              "reshape", "view", "flatten", "t"}
# change what it means (an average of probabilities is not a distribution over the batch)
MEANING_CHANGING = {"mean", "sum", "mul", "div", "add", "sub", "pow", "exp", "clamp", "clip", "abs", "norm",
                    "std", "var", "prod", "cumsum", "masked_fill", "fill_", "zero_", "log1p", "sqrt"}
COMPARISONS = {"eq", "ne", "lt", "gt", "le", "ge", "isnan", "isinf"}
TO_NUMBER = {"item", "tolist"}
DETACHING = {"detach", "detach_", "data"}


def method(s: Site) -> Optional[Value]:
    """A method on a known tensor (or on an unknown object that carries a split or a layout)."""
    recv, meth, expr = s.recv, s.meth, s.expr
    if recv.kind == vals.UNKNOWN and (recv.split or recv.layout or losses.is_tensor_activation_call(s)):
        recv = recv.with_(kind=vals.TENSOR)
        s.recv = recv
    if meth in {"reshape", "view"} and data.views_hw_as_chw(s):
        s.emit(flow.LAYOUT_SCRAMBLE, value=recv)
        return Value(vals.TENSOR, node=expr, split=recv.split, layout="nchw", grad=recv.grad)
    if recv.kind == vals.TENSOR and meth in {"reshape", "view", "transpose", "permute"}:
        return data.relayout(s, recv, data.int_list(expr.args), meth)
    if recv.kind == vals.TENSOR and meth in {"mean", "std", "var"} and recv.split:
        return data.statistic(s, recv)
    if meth in TO_NUMBER or meth == "numpy" and recv.kind != vals.TENSOR:
        return Value(vals.NUMBER, node=expr, split=recv.split)
    if recv.kind != vals.TENSOR:
        return None
    if meth == "numpy":
        return recv.with_(node=expr, grad=False)
    known = losses.tensor_method(s)
    if known is not None:
        return known
    if meth in DETACHING:
        return recv.with_(grad=False, node=expr)
    if meth in COMPARISONS:
        return Value(vals.TENSOR, grad=False, node=expr, split=recv.split)
    if meth in MEANING_CHANGING:
        return recv.with_(act=None, node=expr)
    if meth in SHAPE_ONLY:
        return recv.with_(node=expr)
    # an unknown method: keep everything the tensor carries
    return recv.with_(node=expr)


def variable(s: Site) -> Value:
    """``Variable(x)``, the pre-0.4 autograd wrapper, is its tensor."""
    return s.src
