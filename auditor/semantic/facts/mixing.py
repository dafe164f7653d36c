"""Where a batch's inputs are blended (Mixup, CutMix), and whether the labels can follow.

An input mix is one of: a blend ``lam * x + (1 - lam) * x[idx]`` whose
``lam`` is drawn at random in the same function (Beta, uniform); a CutMix
box paste ``x[:, :, a:b, c:d] = x[idx, :, a:b, c:d]``; a torchvision
``v2.MixUp``/``v2.CutMix`` called on the images alone. The labels cannot
follow when the mix's coefficient (for a blend) or its permutation (for a
paste) is read nowhere else in that function: not in the loss, not in a
mixed target, not returned. A blend with a fixed coefficient (an EMA
update) is not a mix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst
from clsaudit.semantic import flow
from clsaudit.semantic.facts.syntax import assigned_names, descendants, number_value, syntax
from clsaudit.semantic.names import dotted

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.model import SemanticModel

RANDOM_SOURCES = {"numpy.random.beta", "numpy.random.uniform", "numpy.random.rand", "random.betavariate",
                  "random.uniform", "random.random", "torch.rand", "torch.distributions.Beta",
                  "torch.distributions.beta.Beta", "torch.distributions.Uniform"}
RANDOM_METHODS = {"beta", "betavariate"}
V2_MIXERS = {"MixUp", "CutMix"}
# Cheap text tests that a file can hold a mix: `(1 - lam) *` / `* (1 - lam)`, a box paste
# `] = x[idx, :, ...`, or torchvision's v2 mixers. Files without one are never walked.
BLEND_TEXT = re.compile(r"\(\s*1\.?0*\s*-\s*\w+\s*\)\s*\*|\*\s*\(\s*1\.?0*\s*-\s*\w+\s*\)")
PASTE_TEXT = re.compile(r"\]\s*=\s*\w+\[\s*\w+\s*,\s*:\s*,")


def may_mix(source: str) -> bool:
    return "MixUp" in source or "CutMix" in source or bool(BLEND_TEXT.search(source) or PASTE_TEXT.search(source))


@dataclass
class Mix:
    node: cst.CSTNode  # the blend, the paste or the v2 call
    scope: cst.CSTNode  # the innermost loop or function around it: one iteration's code
    kind: str  # "blend" | "paste" | "v2"


@dataclass
class UnmixedLoss:
    mix: Mix
    loss: cst.CSTNode


def unmixed_losses(model: "SemanticModel") -> list[UnmixedLoss]:
    return model.fact("unmixed_losses", lambda m: list(_unmixed(m)))


def _unmixed(model: "SemanticModel") -> Iterator[UnmixedLoss]:
    if not may_mix(model.source):
        return
    index = syntax(model)
    losses = [ev.node for ev in model.events(flow.LOSS)]
    after = index.after_end

    seen: set = set()
    for mix in _label_blind_mixes(model, index):
        loss = next((n for n in losses if index.is_inside(n, mix.scope) and index.scope(n) is index.scope(mix.node)
                     and after(n, mix.node)), None)
        if loss is None and isinstance(mix.scope, cst.FunctionDef):
            loss = _loss_in_callers(model, index, mix.scope, losses, after)
        if loss is not None and id(loss) not in seen:
            seen.add(id(loss))
            yield UnmixedLoss(mix, loss)


def _loss_in_callers(model, index, helper, losses, after) -> Optional[cst.CSTNode]:
    for fi in model.functions():
        if fi.node is not helper:
            continue
        for call_ev in fi.callers:
            scope = index.scope(call_ev.node)
            loss = next((n for n in losses if index.scope(n) is scope and after(n, call_ev.node)), None)
            if loss is not None:
                return loss
    return None


def _label_blind_mixes(model, index) -> Iterator[Mix]:
    v2_mixers = _v2_mixer_names(model, index)
    candidates = [node for node in index.parent if isinstance(node, (cst.BinaryOperation, cst.Assign))
                  or v2_mixers and isinstance(node, cst.Call)]
    for node in candidates:
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            coefficient = _blend_coefficient(node)
            scope = index.owner(node)
            if coefficient and _random_local(model, index, scope, coefficient) and (
                    not _read_elsewhere(index, scope, coefficient, node)
                    or _returned_then_dropped(model, index, scope, coefficient, node)):
                yield Mix(node, scope, "blend")
        elif isinstance(node, cst.Assign):
            perm = _pasted_permutation(node)
            scope = index.owner(node)
            if perm and _assigned_in(index, scope, perm) and not _read_elsewhere(index, scope, perm, node):
                yield Mix(node, scope, "paste")
        elif isinstance(node, cst.Call) and v2_mixers and (dotted(node.func) or "") in v2_mixers:
            if _images_only(index, node):
                yield Mix(node, index.owner(node), "v2")


def _factors(expr) -> list:
    """Operands of a product (`lam * x`, `x * lam`, `(1 - lam) * x[idx]`)."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
        return _factors(expr.left) + _factors(expr.right)
    return [expr]


def _blend_coefficient(node: cst.BinaryOperation) -> Optional[str]:
    """`lam` for `lam * x + (1 - lam) * x[idx]` (either order), when one side takes other samples of
    the batch (`x[idx]`, `x.flip(0)`, `x.roll(1, 0)`): a blend with a constant image or a grey level
    (contrast jitter) is not a mix of two examples."""
    left, right = _factors(node.left), _factors(node.right)
    if len(left) < 2 or len(right) < 2 or not any(_other_samples(f) for f in left + right):
        return None
    for one, other in ((left, right), (right, left)):
        names = {f.value for f in one if isinstance(f, cst.Name)}
        for f in other:
            if isinstance(f, cst.BinaryOperation) and isinstance(f.operator, cst.Subtract) and \
                    number_value(f.left) == 1.0 and isinstance(f.right, cst.Name) and f.right.value in names:
                return f.right.value
    return None


def _other_samples(factor) -> bool:
    if isinstance(factor, cst.Subscript) and factor.slice:
        first = factor.slice[0].slice
        return isinstance(first, cst.Index) and isinstance(first.value, cst.Name)
    return isinstance(factor, cst.Call) and isinstance(factor.func, cst.Attribute) and \
        factor.func.attr.value in {"flip", "roll"}


def _random_local(model, index, scope, name: str) -> bool:
    """`name` is assigned in ``scope`` from a random draw (Beta, uniform)."""
    for stmt in _assignments_of(index, scope, name):
        for sub in descendants(stmt.value):
            if isinstance(sub, cst.Call) and _is_random_draw(model, sub):
                return True
    return False


def _is_random_draw(model, call: cst.Call) -> bool:
    qual = model.qualified_name(call.func) or ""
    if qual in RANDOM_SOURCES or any(qual.startswith(source + ".") for source in RANDOM_SOURCES):
        return True
    return isinstance(call.func, cst.Attribute) and call.func.attr.value in RANDOM_METHODS


def _assignments_of(index, scope, name: str) -> Iterator[cst.Assign]:
    for node in index.assigns_by_name.get(name, ()):
        if index.is_inside(node, scope):
            yield node


def _assigned_in(index, scope, name: str) -> bool:
    return any(True for _ in _assignments_of(index, scope, name))


def _read_elsewhere(index, scope, name: str, mix: cst.CSTNode) -> bool:
    """``name`` is read in ``scope`` outside the mix and outside its own (re)definitions."""
    own = list(_assignments_of(index, scope, name))
    for node in index.names_by_value.get(name, ()):
        if not index.is_inside(node, scope) or index.is_inside(node, mix):
            continue
        if any(index.is_inside(node, stmt) for stmt in own):
            continue  # `lam = max(lam, 1 - lam)`, or the target of its own assignment
        return True
    return False


def _returned_then_dropped(model, index, scope, name: str, mix: cst.CSTNode) -> bool:
    """A mixup helper returns the coefficient beside the mixed batch (`return lam * x + ..., y, y[idx], lam`)
    and every caller that unpacks it never reads it again: the loss cannot be mixed with it."""
    if not isinstance(scope, cst.FunctionDef):
        return False
    reads = [n for n in index.names_by_value.get(name, ())
             if index.is_inside(n, scope) and not index.is_inside(n, mix)
             and not any(index.is_inside(n, a) for a in _assignments_of(index, scope, name))]
    position = None
    for read in reads:
        ret = index.enclosing(read, (cst.Return,))
        if ret is None or not isinstance(ret.value, cst.Tuple):
            return False  # read for something else than being returned
        for i, el in enumerate(ret.value.elements):
            if el.value is read:
                position = i
        if position is None:
            return False
    if position is None:
        return False
    callers = [fi for fi in model.functions() if fi.node is scope]
    calls = [ev.node for fi in callers for ev in fi.callers]
    if not calls:
        return False
    for call in calls:
        assign = index.enclosing(call, (cst.Assign,))
        if assign is None or assign.value is not call or len(assign.targets) != 1:
            return False
        target = assign.targets[0].target
        if not isinstance(target, (cst.Tuple, cst.List)) or position >= len(target.elements):
            return False
        got = target.elements[position].value
        if not isinstance(got, cst.Name):
            return False
        if got.value != "_" and _read_elsewhere(index, index.owner(call), got.value, assign):
            return False
    return True


def _pasted_permutation(node: cst.Assign) -> Optional[str]:
    """`idx` for `x[:, :, a:b, c:d] = x[idx, :, a:b, c:d]` (a CutMix box paste)."""
    if len(node.targets) != 1:
        return None
    target, value = node.targets[0].target, node.value
    if not isinstance(target, cst.Subscript) or not isinstance(value, cst.Subscript):
        return None
    if len(target.slice) < 3 or len(value.slice) < 3:
        return None
    bounded = [s for s in target.slice if isinstance(s.slice, cst.Slice) and s.slice.lower is not None]
    if len(bounded) < 2:
        return None
    first = value.slice[0].slice
    if isinstance(first, cst.Index) and isinstance(first.value, cst.Name):
        return first.value.value
    return None


def _v2_mixer_names(model, index) -> set[str]:
    out: set[str] = set()
    if "MixUp" not in model.source and "CutMix" not in model.source:
        return out
    for node in index.assigns:
        if len(node.targets) == 1 and isinstance(node.value, cst.Call):
            qual = model.qualified_name(node.value.func) or ""
            name = dotted(node.targets[0].target)
            if name and qual.startswith("torchvision.transforms.v2") and qual.rsplit(".", 1)[-1] in V2_MIXERS:
                out.add(name)
    for node in index.assigns:  # `cutmix_or_mixup = v2.RandomChoice([cutmix, mixup])`
        if len(node.targets) == 1 and isinstance(node.value, cst.Call):
            qual = model.qualified_name(node.value.func) or ""
            name = dotted(node.targets[0].target)
            if name and qual.startswith("torchvision.transforms.v2") and qual.endswith("RandomChoice"):
                inner = node.value.args[0].value if node.value.args else None
                if isinstance(inner, (cst.List, cst.Tuple)) and any(
                        dotted(el.value) in out for el in inner.elements):
                    out.add(name)
    return out


def _images_only(index, call: cst.Call) -> bool:
    """`images = mixup(images)` where `images` came unpacked beside its labels (`for images, labels in ...`)."""
    if len(call.args) != 1 or call.args[0].star or call.args[0].keyword is not None:
        return False
    arg = call.args[0].value
    if not isinstance(arg, cst.Name):
        return False
    stmt = index.statement(call)
    if not isinstance(stmt, cst.Assign) or stmt.value is not call or len(assigned_names(stmt)) != 1:
        return False
    scope = index.scope(call)
    for node in index.parent:
        target = None
        if isinstance(node, cst.For) and index.scope(node) is scope:
            target = node.target
        elif isinstance(node, cst.Assign) and index.scope(node) is scope and len(node.targets) == 1:
            target = node.targets[0].target
        if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) >= 2 and any(
                isinstance(el.value, cst.Name) and el.value.value == arg.value for el in target.elements):
            return True
    return False
