"""How many outputs a classifier's final layer has, and which node sizes it.

Only sizes written as integer literals count (``nn.Linear(512, 10)``,
``num_classes=100``, a torchvision constructor left at its 1000 ImageNet
classes): a head sized from ``len(dataset.classes)``, a config value or an
argument is sized by the data, which is what the rule wants to see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst
from clsaudit.semantic import flow
from clsaudit.semantic.facts.syntax import argument, int_value, syntax
from clsaudit.semantic.names import dotted

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.model import SemanticModel

CLASS_KEYWORDS = ("num_classes", "n_classes", "num_class", "nclasses", "num_labels")
IMAGENET_CLASSES = 1000
NOT_MODELS = ("torchmetrics", "torch.", "torchvision.transforms", "torchvision.datasets", "torchvision.ops",
              "sklearn", "numpy", "timm.data", "timm.loss")
WRAPPERS = {"DataParallel", "DistributedDataParallel", "DDP", "compile"}


@dataclass
class Head:
    outputs: int
    node: cst.CSTNode  # the final layer, or the constructor call that sizes it
    how: str  # words for the message: "nn.Linear(512, 10)", "resnet18() at its default 1000 classes"


def heads(model: "SemanticModel") -> list[Head]:
    """Every classifier head of a model used in this file whose size is a literal."""
    return model.fact("heads", lambda m: list(_heads(m)))


def _heads(model: "SemanticModel") -> Iterator[Head]:
    index = syntax(model)
    fed = _feeds_classification_loss(model, index)
    if not fed:
        return
    classes = {ci.name: ci for ci in model.classes()}
    local_sizes = {name: _class_head(model, ci) for name, ci in classes.items() if ci.is_module}
    for call in index.calls:
        qual = model.qualified_name(call.func) or ""
        callee = call.func.value if isinstance(call.func, cst.Name) else None
        local = callee in local_sizes and not qual
        if not (local or _is_zoo(qual) or _is_sequential(qual) or _keyword(call)):
            continue
        target = _target(index, call)
        if target is None or not _is_fed(model, index, call, target, fed, classes) or \
                _inside_plain_module(model, index, call, classes):
            continue  # not the model whose logits meet the labels (a backbone, a projector, a block)
        if local and local_sizes[callee] is not None:
            yield from _local_instance(call, classes[callee], local_sizes[callee])
            continue
        size = _keyword_size(call)
        replaced = _head_replaced(model, index, target)
        if size is not None and (local or _is_model_constructor(qual, callee)):
            if size > 0 and not replaced:
                yield Head(size, call, f"{model.code(call.func)}({_keyword(call)}={size})")
        elif _is_zoo(qual) and size is None:
            if argument(call, "features_only") is None and not replaced:
                yield Head(IMAGENET_CLASSES, call, f"{model.code(call.func)}() at its default 1000 ImageNet classes")
        elif _is_sequential(qual):
            linear = _final_linear(model, call)
            if linear is not None:
                yield linear
    yield from _replaced_heads(model, index, fed, classes)


def _is_fed(model: "SemanticModel", index, site: cst.CSTNode, target: str, fed: set, classes: dict) -> bool:
    """The model bound to ``target`` at ``site`` is one whose logits meet the labels: in the same
    function, through a parameter of a helper or of a trainer class's ``__init__`` it is passed to,
    or as ``self.model`` of a Lightning module whose own output (``self(x)``) goes to the loss."""
    if target.startswith("self."):
        owner = index.enclosing(site, (cst.ClassDef,))
        if owner is None:
            return False
        if (owner, target) in fed:
            return True
        ci = classes.get(owner.name.value)
        return (owner, "self") in fed and ci is not None and ci.is_lightning and target.count(".") == 1
    scope = index.scope(site)
    if (scope, target) in fed:
        return True
    functions = {fi.name: fi for fi in model.functions() if fi.cls is None and fi.node is not None}
    for call in index.calls:
        if index.scope(call) is not scope:
            continue
        callee = dotted(call.func) or ""
        for position, arg in enumerate(a for a in call.args if not a.star):
            if dotted(arg.value) != target:
                continue
            if callee in functions:
                fn = functions[callee].node
                param = _param(fn, arg, position, skip_self=False)
                if param and (fn, param) in fed:
                    return True
            elif callee in classes and "__init__" in classes[callee].methods:
                init = classes[callee].methods["__init__"].node
                param = _param(init, arg, position, skip_self=True) if init is not None else None
                attr = _stored_as(init, param) if param else None
                if attr and (classes[callee].node, attr) in fed:
                    return True
    return False


def _param(fn: cst.FunctionDef, arg: cst.Arg, position: int, skip_self: bool) -> Optional[str]:
    names = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
    if arg.keyword is not None:
        return arg.keyword.value
    index = position + (1 if skip_self else 0)
    return names[index] if index < len(names) else None


def _stored_as(init: cst.FunctionDef, param: str) -> Optional[str]:
    """`self.model` for `self.model = model` in ``__init__``."""
    for stmt in _statements(init):
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and isinstance(stmt.value, cst.Name) \
                and stmt.value.value == param:
            return dotted(stmt.targets[0].target)
    return None


def _feeds_classification_loss(model: "SemanticModel", index) -> set[tuple]:
    """(where, ref) of the models whose output is a cross-entropy/NLL loss's input:
    `criterion(model(x), y)`, or `out = self.net(x); loss = criterion(out, y)` in one function.
    ``where`` is the function holding the loss, or the class for `self...` refs."""
    calls = {ev.node: ev.ref for ev in model.events(flow.MODEL_CALL) if ev.ref}
    out: set[tuple] = set()
    for ev in model.events(flow.LOSS):
        if not isinstance(ev.node, cst.Call) or not any(
                f in {"ce", "nll"} for f, _ in model.resolve_loss_flavour(ev)):
            continue
        for site, expr in _loss_inputs(model, index, ev.node):
            ref = calls.get(expr)
            if not ref:
                continue
            if ref == "self" or ref.startswith("self."):
                owner = index.enclosing(site, (cst.ClassDef,))
                if owner is not None:
                    out.add((owner, ref))
            else:
                out.add((index.scope(site), ref))
    return out


def _loss_inputs(model: "SemanticModel", index, loss: cst.Call) -> Iterator[tuple]:
    """(site, expression) pairs that are the loss's input: the argument itself, the value last
    assigned to it, or, for a parameter of a helper (`def compute_loss(self, y_hat, y)`), what each
    call site of the helper passes for it (one level)."""
    first = argument(loss, "input", 0)
    if not isinstance(first, cst.Name):
        yield loss, first
        return
    assigned = _last_assigned(index, loss, first.value)
    if assigned is not None:
        yield loss, assigned
        return
    scope = index.scope(loss)
    if not isinstance(scope, cst.FunctionDef):
        return
    for fi in model.functions():
        if fi.node is not scope or first.value not in fi.params:
            continue
        position = fi.params.index(first.value) - (1 if fi.is_method else 0)
        for caller in fi.callers:
            call = caller.node
            if not isinstance(call, cst.Call):
                continue
            passed = argument(call, first.value, position if position >= 0 else None)
            if isinstance(passed, cst.Name):
                passed = _last_assigned(index, call, passed.value)
            if passed is not None:
                yield call, passed


def _last_assigned(index, use: cst.CSTNode, name: str):
    scope = index.scope(use)
    found = None
    for node in index.assigns:  # source order
        if index.is_inside(use, node) or index.before(use, node):
            break
        if isinstance(node, cst.Assign) and len(node.targets) == 1 and dotted(node.targets[0].target) == name \
                and index.scope(node) is scope:
            found = node.value
    return found


def _is_zoo(qual: str) -> bool:
    return (qual.startswith("torchvision.models.") and qual.rsplit(".", 1)[-1][:1].islower()
            and qual.count(".") == 2) or qual == "timm.create_model"


def _is_sequential(qual: str) -> bool:
    return qual in {"torch.nn.Sequential", "torch.nn.modules.container.Sequential"}


def _is_model_constructor(qual: str, callee: Optional[str]) -> bool:
    if _is_zoo(qual):
        return True
    if not qual:
        return False
    return not qual.startswith(NOT_MODELS) and qual.split(".")[0] not in {"torch", "torchvision", "timm"}


def _keyword(call: cst.Call) -> Optional[str]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in CLASS_KEYWORDS:
            return arg.keyword.value
    return None


def _keyword_size(call: cst.Call) -> Optional[int]:
    name = _keyword(call)
    return int_value(argument(call, name)) if name else None


def _target(index, call: cst.Call) -> Optional[str]:
    """`model` for `model = resnet18(...)` or `model = resnet18(...).to(device)`; `self.net` likewise."""
    node: cst.CSTNode = call
    parent = index.parent.get(node)
    while isinstance(parent, cst.Attribute) and isinstance(index.parent.get(parent), cst.Call):
        node = index.parent[parent]  # .to(device), .cuda()
        parent = index.parent.get(node)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and parent.value is node:
        return dotted(parent.targets[0].target)
    return None


def _head_replaced(model: "SemanticModel", index, target: str) -> bool:
    """`model.fc = ...`, `model.classifier[6] = ...`, `model.reset_classifier(n)`, or the model wrapped."""
    for stmt in _assignments(model):
        for tgt in stmt.targets:
            base = tgt.target
            while isinstance(base, cst.Subscript):
                base = base.value
            text = dotted(base) or ""
            if text.startswith(target + "."):
                return True
    for call in index.calls:
        func = call.func
        if isinstance(func, cst.Attribute) and dotted(func.value) == target and func.attr.value in {
            "reset_classifier", "add_module", "register_module"}:
            return True
        if any(dotted(arg.value) == target for arg in call.args):
            name = (dotted(func) or "").rsplit(".", 1)[-1]
            if name[:1].isupper() and name not in WRAPPERS:
                return True  # `nn.Sequential(backbone, head)`, `Classifier(backbone)`: another head
    return False


def _assignments(model: "SemanticModel") -> list[cst.Assign]:
    index = syntax(model)
    return index.assigns


def _linear_size(model: "SemanticModel", node) -> Optional[tuple[cst.Call, cst.BaseExpression]]:
    """(call, out_features expression) for `nn.Linear(a, b)`."""
    if not isinstance(node, cst.Call):
        return None
    qual = model.qualified_name(node.func) or ""
    if qual not in {"torch.nn.Linear", "torch.nn.modules.linear.Linear", "torch.nn.LazyLinear"}:
        return None
    out = argument(node, "out_features", 0 if qual.endswith("LazyLinear") else 1)
    return (node, out) if out is not None else None


def _final_linear(model: "SemanticModel", node) -> Optional[Head]:
    """The head of `nn.Linear(a, 10)` or of `nn.Sequential(..., nn.Linear(a, 10))`, when literal."""
    found = _final_layer(model, node)
    if found is None:
        return None
    call, out = found
    size = int_value(out)
    if size is None:
        return None
    return Head(size, call, model.code(call))


def _final_layer(model: "SemanticModel", node):
    linear = _linear_size(model, node)
    if linear is not None:
        return linear
    if isinstance(node, cst.Call) and _is_sequential(model.qualified_name(node.func) or ""):
        layers = [a.value for a in node.args if a.keyword is None and not a.star]
        return _linear_size(model, layers[-1]) if layers else None
    return None


def _replaced_heads(model: "SemanticModel", index, fed: set, classes: dict) -> Iterator[Head]:
    """`model.fc = nn.Linear(512, 10)`: a new head written into a model used in this file."""
    for stmt in _assignments(model):
        if len(stmt.targets) != 1:
            continue
        base = stmt.targets[0].target
        while isinstance(base, cst.Subscript):
            base = base.value
        if not isinstance(base, cst.Attribute):
            continue
        owner = dotted(base.value) or ""
        if owner == "self" or not _is_fed(model, index, stmt, owner, fed, classes):
            continue
        if base.attr.value not in {"fc", "classifier", "head", "heads", "last_linear", "linear", "_fc", "output"}:
            continue
        head = _final_linear(model, stmt.value)
        if head is not None:
            yield head


# ---- module classes defined in the file -------------------------------------------------
def _class_head(model: "SemanticModel", ci) -> Optional[tuple]:
    """(Linear call, out expression, __init__ node) of the layer a class's forward returns."""
    forward = ci.methods.get("forward")
    init = ci.methods.get("__init__")
    if forward is None or init is None or forward.node is None or init.node is None:
        return None
    attr = _returned_attr(forward.node)
    if attr is None:
        return None
    layers = {}
    for stmt in _statements(init.node):
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            text = dotted(stmt.targets[0].target)
            if text and text.startswith("self."):
                layers[text[5:]] = stmt.value
    found = _final_layer(model, layers.get(attr))
    return (found[0], found[1], init.node) if found is not None else None


def _returned_attr(fn: cst.FunctionDef) -> Optional[str]:
    """`fc` when forward ends in `return self.fc(x)` or `x = self.fc(x); return x`."""
    stmts = list(_statements(fn))
    if not stmts or not isinstance(stmts[-1], cst.Return) or stmts[-1].value is None:
        return None
    value = stmts[-1].value
    if isinstance(value, cst.Name):
        for stmt in reversed(stmts[:-1]):
            if isinstance(stmt, cst.Assign) and any(dotted(t.target) == value.value for t in stmt.targets):
                value = stmt.value
                break
        else:
            return None
    if isinstance(value, cst.Call):
        text = dotted(value.func) or ""
        if text.startswith("self.") and text.count(".") == 1:
            return text[5:]
    return None


def _statements(fn: cst.FunctionDef) -> Iterator[cst.CSTNode]:
    """The small statements of a function's top-level body, in order."""
    body = fn.body
    if not isinstance(body, cst.IndentedBlock):
        return
    for stmt in body.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            yield from stmt.body


def _local_instance(call: cst.Call, ci, found) -> Iterator[Head]:
    if found is None:
        return
    linear, out, init = found
    size = int_value(out)
    if size is not None:
        yield Head(size, linear, f"nn.Linear(..., {size}) in {ci.name}")
        return
    if not isinstance(out, cst.Name):
        return
    params = [p for p in (*init.params.posonly_params, *init.params.params, *init.params.kwonly_params)]
    names = [p.name.value for p in params]
    if out.value not in names:
        return
    position = names.index(out.value) - 1  # without self
    passed = argument(call, out.value, position if position >= 0 else None)
    if passed is None and any(a.star for a in call.args):
        return
    if passed is not None:
        size = int_value(passed)
        how = f"{ci.name}({out.value}={size})"
    else:
        default = params[names.index(out.value)].default
        size = int_value(default)
        how = f"{ci.name}() with its default {out.value}={size}"
    if size is not None and size > 0:
        yield Head(size, call, how)


def _inside_plain_module(model: "SemanticModel", index, call: cst.Call, classes: dict) -> bool:
    owner = index.enclosing(call, (cst.ClassDef,))
    if owner is None:
        return False
    ci = classes.get(owner.name.value)
    return ci is not None and ci.is_module and not ci.is_lightning
