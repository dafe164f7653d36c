"""Where gradients are clipped and unscaled, in the order one training iteration runs them.

The flow tree knows backward, optimizer steps and scaler steps; clipping and
``scaler.unscale_`` are not events, so this module places them among those
events by source position, per iteration block (a loop body or a step
function), following calls to helpers defined in the file one level deep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst
from clsaudit.semantic import flow
from clsaudit.semantic.facts.syntax import syntax

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.model import SemanticModel

CLIP_FUNCTIONS = {
    "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_value_", "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.clip_grad.clip_grad_norm_", "torch.nn.utils.clip_grad.clip_grad_value_",
    "torch.nn.utils.clip_grad.clip_grad_norm",
}
TEXT_HINT = "clip_grad"

BACKWARD, STEP, SCALER_STEP, CLIP, UNSCALE = "backward", "step", "scaler_step", "clip", "unscale"


@dataclass
class Mark:
    """One thing an iteration does, anchored at a node of the iteration's own code."""

    kind: str
    anchor: cst.CSTNode  # where it happens in this block (the call of a helper, for helper work)
    node: cst.CSTNode  # the call itself (the clip inside the helper, for a helper's clip)


def clip_calls(model: "SemanticModel") -> list[cst.Call]:
    return model.fact("clip_calls", _clip_calls)


def _clip_calls(model: "SemanticModel") -> list[cst.Call]:
    if TEXT_HINT not in model.source:
        return []
    return [c for c in syntax(model).calls if model.qualified_name(c.func) in CLIP_FUNCTIONS]


def unscale_calls(model: "SemanticModel") -> list[cst.Call]:
    return [c for c in syntax(model).calls
            if isinstance(c.func, cst.Attribute) and c.func.attr.value == "unscale_"]


def is_scaler_step(ev: flow.Event) -> bool:
    """`scaler.step(optimizer)`: a STEP event whose call passes the optimizer (an optimizer's own
    step with an argument is a closure step, marked as such by the model)."""
    return ev.kind == flow.STEP and ev.detail != "closure" and isinstance(ev.node, cst.Call) and bool(ev.node.args)


def _owned(model: "SemanticModel", calls: list[cst.Call], owner: cst.CSTNode) -> list[cst.Call]:
    index = syntax(model)
    return [c for c in calls if index.owner(c) is owner]


def iteration_marks(model: "SemanticModel", body: flow.Block, owner: cst.CSTNode) -> list[Mark]:
    """Backward, steps, clips and unscales of one iteration, in execution order."""
    clips = clip_calls(model)
    unscales = unscale_calls(model)
    marks: list[Mark] = []
    for call in _owned(model, clips, owner):
        marks.append(Mark(CLIP, call, call))
    for call in _owned(model, unscales, owner):
        marks.append(Mark(UNSCALE, call, call))
    for ev in flow.events(body, into_loops=False):
        if ev.kind == flow.BACKWARD:
            marks.append(Mark(BACKWARD, ev.node, ev.node))
        elif ev.kind == flow.STEP and ev.detail != "closure":
            marks.append(Mark(SCALER_STEP if is_scaler_step(ev) else STEP, ev.node, ev.node))
        elif ev.kind == flow.CALL and ev.detail is not None and getattr(ev.detail, "node", None) is not None:
            marks.extend(_helper_marks(model, ev, clips, unscales))
    order = syntax(model).order
    return sorted(marks, key=lambda mark: order.get(id(mark.anchor), -1))


def _helper_marks(model: "SemanticModel", ev: flow.Event, clips: list, unscales: list) -> Iterator[Mark]:
    """What a helper called from the iteration does, anchored at the call (one level deep)."""
    helper = ev.detail
    inner: list[tuple] = []
    for call in _owned(model, clips, helper.node):
        inner.append((CLIP, call))
    for call in _owned(model, unscales, helper.node):
        inner.append((UNSCALE, call))
    for item in flow.events(helper.body, into_loops=False):
        if item.kind == flow.BACKWARD:
            inner.append((BACKWARD, item.node))
        elif item.kind == flow.STEP and item.detail != "closure":
            inner.append((SCALER_STEP if is_scaler_step(item) else STEP, item.node))
    order = syntax(model).order
    inner.sort(key=lambda pair: order.get(id(pair[1]), -1))
    for kind, node in inner:
        yield Mark(kind, ev.node, node)


def previous(marks: list[Mark], i: int, kinds: set) -> Optional[Mark]:
    for mark in reversed(marks[:i]):
        if mark.kind in kinds:
            return mark
    return None


def following(marks: list[Mark], i: int, kinds: set) -> Optional[Mark]:
    for mark in marks[i + 1:]:
        if mark.kind in kinds:
            return mark
    return None
