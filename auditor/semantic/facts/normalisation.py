"""Which tensors are normalised, and where a normalised tensor is clipped back to [0, 1].

Read per scope (a function or the module body) in source order: a name is
normalised when it is assigned ``(x - mean) / std``, ``x.sub(m).div(s)``,
``TF.normalize(x, ...)`` or the result of a callable bound to a
``Normalize`` (or a ``Compose`` holding one); a de-normalised copy
(``x * std + mean``) or any other assignment clears it. A clamp matters only
when its result goes on to a model call or is returned by a data function
(``__getitem__``, a transform), not to a plot or a file. Inside a
``Compose`` list, a ``Lambda`` that clamps after a ``Normalize`` is the same
bug in pipeline form; a ``Normalize`` with negated means is an inverse
(for display) and does not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst
from clsaudit.semantic import flow
from clsaudit.semantic.facts.syntax import argument, assigned_names, names_in, number_value, syntax
from clsaudit.semantic.names import dotted

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.model import SemanticModel

CLAMP_METHODS = {"clamp", "clamp_", "clip", "clip_"}
CLAMP_FUNCTIONS = {"torch.clamp", "torch.clip", "numpy.clip"}
NORMALIZE_FUNCTIONS = {"torchvision.transforms.functional.normalize", "torchvision.transforms.v2.functional.normalize"}
PASSTHROUGH = {"to", "cuda", "cpu", "float", "half", "double", "contiguous", "unsqueeze", "permute", "clone",
               "detach", "requires_grad_", "type", "view", "reshape"}
DISPLAY_WORDS = {"show", "imshow", "plot", "display", "visualize", "visualise", "vis", "save", "denorm",
                 "denormalize", "denormalise", "unnormalize", "unnormalise", "inverse", "grid", "render", "log",
                 "image", "img", "draw", "preview", "export"}


# A file can normalise only if its text says so: `Normalize(`/`normalize(`, `.sub(...).div(`, or
# `(x - mean) / std`-like text. Files without one are never walked.
NORMALISE_TEXT = re.compile(r"[Nn]ormali[sz]e|\.sub_?\(|-\s*[\w.\[\]]*(?:mean|mu|MEAN|avg)[\w.\[\]]*\s*\)\s*/")


@dataclass
class Clamp:
    node: cst.Call
    normalised_at: cst.CSTNode


def clamps(model: "SemanticModel") -> list[Clamp]:
    return model.fact("normalised_clamps", lambda m: list(_clamps(m)))


def _clamps(model: "SemanticModel") -> Iterator[Clamp]:
    source = model.source
    if ("clamp" not in source and "clip" not in source) or not NORMALISE_TEXT.search(source):
        return
    index = syntax(model)
    clamped = [(call, name) for call in index.calls for name in [_clamped_name(model, call)] if name]
    if not clamped:
        return
    yield from _pipeline_clamps(model, index)
    by_statement: dict = {}
    for call, name in clamped:
        by_statement.setdefault(index.statement(call), []).append((call, name))
    scopes_with_clamps = {index.scope(call) for call, _ in clamped}
    normalisers = _normalisers(model, index)
    model_calls = [ev.node for ev in model.events(flow.MODEL_CALL) if isinstance(ev.node, cst.Call)]
    scopes: dict = {}
    for node in index.statements:  # source order
        scope = index.scope(node)
        if scope in scopes_with_clamps:
            scopes.setdefault(scope, []).append(node)
    for scope, statements in scopes.items():
        yield from _scope_clamps(model, index, scope, statements, normalisers, model_calls, by_statement)


def _scope_clamps(model, index, scope, statements, normalisers, model_calls, by_statement) -> Iterator[Clamp]:
    normalised: dict[str, cst.CSTNode] = {}
    display = isinstance(scope, cst.FunctionDef) and _is_display(scope.name.value)
    for i, stmt in enumerate(statements):
        for call, name in by_statement.get(stmt, ()):
            if name not in normalised:
                continue
            result = _result_name(stmt, call)
            if _reaches_model(index, stmt, call, result, statements[i + 1:], model_calls, display):
                yield Clamp(call, normalised[name])
        if isinstance(stmt, cst.Assign):
            targets = assigned_names(stmt)
            if len(targets) != 1 or len(stmt.targets) != 1:
                for t in targets:
                    normalised.pop(t, None)
                continue
            target = targets[0]
            source = _normalised_source(model, stmt.value, normalised, normalisers)
            if source is not None:
                normalised[target] = source
            else:
                normalised.pop(target, None)


def _normalised_source(model, value, normalised, normalisers) -> Optional[cst.CSTNode]:
    """Where ``value`` was normalised, if it is a normalised tensor."""
    if _is_standardisation(value):
        return value
    if isinstance(value, cst.Call):
        qual = model.qualified_name(value.func) or ""
        if qual in NORMALIZE_FUNCTIONS or (dotted(value.func) or "") in normalisers:
            return value
        func = value.func
        if isinstance(func, cst.Attribute):
            if func.attr.value in {"div", "div_"} and isinstance(func.value, cst.Call) and \
                    isinstance(func.value.func, cst.Attribute) and func.value.func.attr.value in {"sub", "sub_"}:
                return value
            if func.attr.value in PASSTHROUGH and isinstance(func.value, cst.Name) and func.value.value in normalised:
                return normalised[func.value.value]
            if func.attr.value in PASSTHROUGH and isinstance(func.value, cst.Call):
                return _normalised_source(model, func.value, normalised, normalisers)
    if isinstance(value, cst.Name) and value.value in normalised:
        return normalised[value.value]
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, (cst.Add, cst.Subtract)):
        for side in (value.left, value.right):  # `x + noise` stays normalised; `x * std + mean` does not
            if isinstance(side, cst.Name) and side.value in normalised:
                return normalised[side.value]
    return None


def _is_standardisation(value) -> bool:
    """`(x - mean) / std`, but not min-max scaling `(x - x.min()) / (x.max() - x.min())`."""
    if not isinstance(value, cst.BinaryOperation) or not isinstance(value.operator, cst.Divide):
        return False
    left = value.left
    if not isinstance(left, cst.BinaryOperation) or not isinstance(left.operator, cst.Subtract):
        return False
    if isinstance(value.right, cst.BinaryOperation) and isinstance(value.right.operator, cst.Subtract):
        return False
    for part in (left.right, value.right):
        text = cst.Module([]).code_for_node(part)
        if re.search(r"\b(min|max|amin|amax|ptp|range)\b", text):
            return False
    return True


def _clamped_name(model, call: cst.Call) -> Optional[str]:
    """The name a `clamp(0, 1)` / `np.clip(x, 0, 1)` call clips to [0, 1], else None."""
    func = call.func
    qual = model.qualified_name(func) or ""
    if qual in CLAMP_FUNCTIONS:
        subject = argument(call, "input", 0) or argument(call, "a", 0)
        low, high = argument(call, "min", 1), argument(call, "max", 2)
        if qual == "numpy.clip":
            low, high = argument(call, "a_min", 1), argument(call, "a_max", 2)
    elif isinstance(func, cst.Attribute) and func.attr.value in CLAMP_METHODS and not qual:
        subject = func.value
        low, high = argument(call, "min", 0), argument(call, "max", 1)
    else:
        return None
    if number_value(low) != 0.0 or number_value(high) != 1.0 or not isinstance(subject, cst.Name):
        return None
    return subject.value


def _result_name(stmt, call) -> Optional[str]:
    if isinstance(stmt, cst.Assign) and stmt.value is call:
        names = assigned_names(stmt)
        return names[0] if len(names) == 1 else None
    if isinstance(stmt, cst.Expr) and stmt.value is call and isinstance(call.func, cst.Attribute) and \
            call.func.attr.value.endswith("_"):
        return call.func.value.value if isinstance(call.func.value, cst.Name) else None
    return None


def _reaches_model(index, stmt, call, result, later, model_calls, display) -> bool:
    """The clamped tensor is handed to a model, or returned by a data function."""
    if any(index.is_inside(call, mc) and mc is not call for mc in model_calls):
        return True
    if isinstance(stmt, cst.Return):
        return not display and stmt.value is call
    if result is None:
        return False
    for follower in later:
        if isinstance(follower, cst.Return) and follower.value is not None and not display and \
                result in names_in(follower.value):
            return True
        for mc in model_calls:
            if index.is_inside(mc, follower) and any(
                    isinstance(a.value, cst.Name) and a.value.value == result for a in mc.args):
                return True
        if isinstance(follower, cst.Assign) and result in assigned_names(follower):
            return False  # rebound before use
    return False


def _is_display(name: str) -> bool:
    tokens = {t.lower() for t in re.split(r"[_\W\d]+|(?<=[a-z])(?=[A-Z])", name) if t}
    return bool(tokens & DISPLAY_WORDS)


def _normalize_call(model, node) -> bool:
    """A forward `Normalize(mean, std)` (not the inverse built with negated means for display)."""
    if not isinstance(node, cst.Call):
        return False
    qual = model.qualified_name(node.func) or ""
    if not (qual.startswith("torchvision.transforms") and qual.endswith(".Normalize")):
        return False
    mean = argument(node, "mean", 0)
    return mean is not None and "-" not in model.module.code_for_node(mean)


def _compose_items(model, node) -> Optional[list]:
    if not isinstance(node, cst.Call):
        return None
    qual = model.qualified_name(node.func) or ""
    if not (qual.startswith("torchvision.transforms") and qual.rsplit(".", 1)[-1] in {"Compose", "Sequential"}):
        return None
    items = argument(node, "transforms", 0)
    return [el.value for el in items.elements] if isinstance(items, (cst.List, cst.Tuple)) else None


def _normalisers(model, index) -> set[str]:
    """Names bound to a Normalize, or to a Compose that normalises (`normalize = T.Normalize(...)`)."""
    out: set[str] = set()
    for node in index.assigns:
        if len(node.targets) == 1:
            name = dotted(node.targets[0].target)
            items = _compose_items(model, node.value)
            if name and (_normalize_call(model, node.value) or items and any(_normalize_call(model, i) for i in items)):
                out.add(name)
    return out


def _pipeline_clamps(model, index) -> Iterator[Clamp]:
    """`Compose([..., Normalize(m, s), Lambda(lambda t: t.clamp(0, 1))])`."""
    for call in index.calls:
        items = _compose_items(model, call)
        if not items:
            continue
        normalize = next((i for i in items if _normalize_call(model, i)), None)
        if normalize is None:
            continue
        for item in items[items.index(normalize) + 1:]:
            if isinstance(item, cst.Call) and (model.qualified_name(item.func) or "").endswith(".Lambda"):
                fn = argument(item, "lambd", 0)
                if isinstance(fn, cst.Lambda) and isinstance(fn.body, cst.Call) and _clamped_name(model, fn.body):
                    yield Clamp(fn.body, normalize)
