"""CLS208: parameters that reach the model after its optimizer was built are never updated."""

from __future__ import annotations

from collections.abc import Iterator

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow, values
from clsaudit.semantic.heuristics import classify_name
from clsaudit.semantic.lazy import cst, dotted
from clsaudit.semantic.values import last

# layers without parameters: swapping them in after the optimizer loses nothing
PARAMETER_FREE = {"Identity", "Flatten", "Unflatten", "Softmax", "LogSoftmax", "Sigmoid", "Tanh", "ReLU",
                  "ReLU6", "LeakyReLU", "GELU", "SiLU", "Mish", "ELU", "Hardswish", "Hardsigmoid", "Upsample"}
PARAMETER_FREE_PARTS = ("Pool", "Dropout")

FULL = "full"  # model.parameters()
SUBSET = "subset"  # model.fc.parameters(), filter(lambda p: p.requires_grad, ...)


class OptimizerMissesParameters(Rule):
    code = "CLS208"
    name = "optimizer-misses-parameters"
    severity = "error"
    summary = "A layer is replaced or unfrozen after the optimizer was built, so its parameters are never updated"
    doc = """\
## What it does
Reads, in execution order, where each optimizer is built and what it was
given, and reports:

- a layer of the model replaced (`model.fc = nn.Linear(...)`,
  `model.classifier[6] = nn.Linear(...)`) after an optimizer was built from
  that model's parameters; the finding points at the replacement;
- parameters unfrozen (`p.requires_grad = True`,
  `model.layer4.requires_grad_(True)`) after an optimizer was built from a
  subset of the model (`model.fc.parameters()`,
  `filter(lambda p: p.requires_grad, model.parameters())`), when no new
  optimizer is built and no `optimizer.add_param_group(...)` follows; the
  finding points at the unfreezing.

Replacing the head before building the optimizer, rebuilding the optimizer
after unfreezing, and handing the unfrozen block over with
`add_param_group` are all fine.

## Why is this bad
An optimizer holds references to the parameter tensors it was given when
it was built. A layer assigned afterwards brings new tensors the optimizer
has never seen: they receive gradients in `backward()` but `step()` never
updates them, so a freshly initialised classifier head stays random while
the loss of the (still updated) backbone goes down a little. Parameters
unfrozen after a head-only optimizer was built likewise get gradients and
no updates: the second fine-tuning stage silently trains nothing new.

## Example
```python
model = torchvision.models.resnet18(weights="IMAGENET1K_V1")
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
model.fc = nn.Linear(model.fc.in_features, num_classes)
```

## Use instead
```python
model = torchvision.models.resnet18(weights="IMAGENET1K_V1")
model.fc = nn.Linear(model.fc.in_features, num_classes)
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

# after unfreezing, give the optimizer the new parameters
model.layer4.requires_grad_(True)
optimizer.add_param_group({"params": model.layer4.parameters(), "lr": 1e-4})
```

## References
- PyTorch docs, `torch.optim`: "To construct an Optimizer you have to give it an iterable containing the
  parameters (all should be Parameters) to optimize", and `Optimizer.add_param_group`: "This can be
  useful when fine tuning a pre-trained network as frozen layers can be made trainable and added to the
  Optimizer as training progresses."
- PyTorch tutorial "Finetuning Torchvision Models": the head is reshaped before the optimizer is created.
"""

    def check(self, semantic):
        timelines = [semantic.all_events_in(fi.body) for fi in semantic.all_functions()]
        owner = semantic.function_of_event()
        for ev in semantic.events(flow.LAYER_REPLACE):
            target = _replaced_path(ev)
            if target is None or not _brings_parameters(semantic, ev):
                continue
            found = _optimizer_before(semantic, ev, owner, timelines,
                                      lambda opt, target=target: _covers_replacement(semantic, opt, target),
                                      model_root(semantic, target))
            if found is not None:
                yield Report(ev.node, f"{target} is replaced after the optimizer was built at line "
                                      f"{semantic.line(found[0])} from {found[1]}: the new layer's parameters are "
                                      "never updated; build the optimizer after replacing the layer")
        for ev in semantic.events(flow.UNFREEZE):
            path = _unfrozen_path(semantic, ev, owner)
            if path is None:
                continue
            found = _optimizer_before(semantic, ev, owner, timelines,
                                      lambda opt, path=path: _misses_unfrozen(semantic, opt, path),
                                      model_root(semantic, path))
            if found is not None:
                yield Report(ev.node, f"parameters of {path} are unfrozen, but the optimizer built at line "
                                      f"{semantic.line(found[0])} holds only {found[1]} and none is rebuilt or given "
                                      "add_param_group() afterwards: they get gradients and are never updated")


# ---- what an optimizer was built from ------------------------------------------------------------

def optimizer_params(semantic, ev) -> tuple[str, str, str] | None:
    """(FULL or SUBSET, model path, source text) for what an OPTIMIZER_NEW was given."""
    call = ev.value.detail if ev.value is not None and isinstance(ev.value.detail, cst.Call) else ev.node
    if not isinstance(call, cst.Call):
        return None
    expr = None
    for a in call.args:
        if a.keyword is not None and a.keyword.value == "params":
            expr = a.value
    if expr is None:
        positional = [a for a in call.args if a.keyword is None and not a.star]
        expr = positional[0].value if positional else None
    if expr is None:
        return None
    receiver = _parameters_receiver(expr)
    text = semantic.code(expr, 50)
    if receiver is not None:
        root = model_root(semantic, receiver)
        if root is None:
            return None
        return (FULL if receiver == root else SUBSET), receiver, text
    if "requires_grad" in semantic.module.code_for_node(expr):
        inner = _find_parameters_call(expr)
        root = model_root(semantic, inner) if inner is not None else None
        if root is not None:
            return SUBSET, root, text
    return None


def _parameters_receiver(expr) -> str | None:
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
            expr.func.attr.value == "parameters":
        return dotted(expr.func.value)
    return None


def _find_parameters_call(expr) -> str | None:
    found: list[str] = []

    class Visitor(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Attribute) and node.func.attr.value in {"parameters", "named_parameters"}:
                name = dotted(node.func.value)
                if name:
                    found.append(name)

    expr.visit(Visitor())
    return found[0] if len(set(found)) == 1 else None


def model_root(semantic, path: str) -> str | None:
    """The shortest prefix of a dotted path that names a whole model ('self.model' of 'self.model.fc')."""
    known = {ev.ref for ev in semantic.events(flow.NEW_MODEL) if ev.ref}
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix == "self":
            continue
        if prefix in known or classify_name(parts[i - 1]) == values.MODEL:
            return prefix
    if parts[0] == "self" and len(parts) == 1:
        return "self"  # an nn.Module / LightningModule optimizing its own parameters
    return None


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


# ---- layer replacement ---------------------------------------------------------------------------

def _replaced_path(ev) -> str | None:
    stmt = ev.node
    targets = []
    if isinstance(stmt, cst.Assign):
        targets = [t.target for t in stmt.targets]
    elif isinstance(stmt, cst.AnnAssign):
        targets = [stmt.target]
    for t in targets:
        base = t.value if isinstance(t, cst.Subscript) else t
        text = dotted(base)
        if text and "." in text:
            return text
    return ev.ref if ev.ref and "." in ev.ref else None


def _brings_parameters(semantic, ev) -> bool:
    value = ev.value
    if value is None or value.kind not in (values.LAYER, values.MODEL):
        return False
    if not isinstance(getattr(ev.node, "value", None), cst.Call):
        return False  # `model.fc = head`: the head may already be in the optimizer
    name = last(value.qual) if value.qual else None
    if value.kind == values.LAYER and name is None:
        return False
    return not (name and (name in PARAMETER_FREE or any(p in name for p in PARAMETER_FREE_PARTS)))


def _covers_replacement(semantic, opt_ev, target: str):
    params = optimizer_params(semantic, opt_ev)
    if params is None:
        return None
    how, path, text = params
    root = model_root(semantic, target)
    if root is None or target == root:
        return None  # the whole model rebound, not one of its layers
    if how == FULL and _under(target, path) and target != path:
        return text
    if how == SUBSET and _under(target, path) and model_root(semantic, path) == root:
        return text
    return None


# ---- unfreezing ----------------------------------------------------------------------------------

def _unfrozen_path(semantic, ev, owner) -> str | None:
    """The model path whose parameters an UNFREEZE turns on, or None when it may not be a model's."""
    node = ev.node
    if "False" in semantic.module.code_for_node(node):
        return None
    ref = ev.ref
    if not ref:
        return None
    if "." not in ref:
        loop_source = _loop_parameters_source(owner.get(ev), ev, ref)
        if loop_source is not None:
            return loop_source
    root = model_root(semantic, ref)
    return ref if root is not None else None


def _loop_parameters_source(fi, ev, name: str) -> str | None:
    """'model' for `p` in `for p in model.parameters(): p.requires_grad = True`."""
    if fi is None:
        return None
    for loop in flow.loops(fi.body):
        if not isinstance(loop.node, cst.For) or not any(e is ev for e in flow.events(loop.body)):
            continue
        names = {n for n in _target_names(loop.node.target)}
        if name in names:
            return _find_parameters_call(loop.node.iter)
    return None


def _target_names(target) -> Iterator[str]:
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            yield from _target_names(el.value)


def _misses_unfrozen(semantic, opt_ev, path: str):
    params = optimizer_params(semantic, opt_ev)
    if params is None or params[0] != SUBSET:
        return None
    _, subset, text = params
    if model_root(semantic, subset) != model_root(semantic, path):
        return None
    if subset != model_root(semantic, subset) and _under(path, subset):
        return None  # unfreezing what the optimizer already holds
    return text


# ---- order ---------------------------------------------------------------------------------------

def _optimizer_before(semantic, ev, owner, timelines, matches, root: str | None):
    """(optimizer node, what it holds) when a matching optimizer is built before ``ev`` and none after."""
    found = None
    for timeline in timelines:
        idx = _index(timeline, ev)
        if idx is None:
            continue
        if any(e.kind in (flow.OPTIMIZER_NEW, flow.ADD_PARAM_GROUP) for e in timeline[idx + 1:]):
            return None
        latest = None
        for i, e in enumerate(timeline[:idx]):
            if e.kind == flow.OPTIMIZER_NEW:
                text = matches(e)
                latest = (i, e.node, text) if text else None  # the latest optimizer built wins
        if latest is not None and not _rebound(timeline[latest[0] + 1:idx], root):
            found = latest[1:]
    if _rebuilt_in_loop(semantic, ev):
        return None
    fi = owner.get(ev)
    if fi is not None and fi.cls is not None and fi.name != "__init__":
        # a method runs after the constructor; other methods may rebuild the optimizer at any time
        for name, method in fi.cls.methods.items():
            if method is fi or name == "__init__":
                continue
            if any(e.kind in (flow.OPTIMIZER_NEW, flow.ADD_PARAM_GROUP) for e in semantic.all_events_in(method.body)):
                return None
        init = fi.cls.methods.get("__init__")
        if found is None and init is not None:
            for e in semantic.all_events_in(init.body):
                if e.kind == flow.OPTIMIZER_NEW:
                    text = matches(e)
                    found = (e.node, text) if text else None
    return found


def _rebound(events, root: str | None) -> bool:
    """The model name bound to another model in between (a builder's local `model`, a reload)."""
    for e in events:
        if e.ref != root:
            continue
        if e.kind == flow.NEW_MODEL or (e.kind == flow.ASSIGN and e.value is not None and e.value.ref != root):
            return True
    return False


def _index(timeline, ev) -> int | None:
    for i, e in enumerate(timeline):
        if e is ev:
            return i
    return None


def _rebuilt_in_loop(semantic, ev) -> bool:
    """An optimizer rebuilt (or extended) in a loop around ``ev`` picks the parameters up next time."""
    for loop, _fi in semantic.loops():
        inside = semantic.all_events_in(loop.body)
        if _index(inside, ev) is not None and any(
                e.kind in (flow.OPTIMIZER_NEW, flow.ADD_PARAM_GROUP) for e in inside):
            return True
    return False


RULE = OptimizerMissesParameters
