"""CLS204: evaluation loop runs with autograd recording."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.rules._fix_text import wrap_in_with
from clsaudit.semantic import flow
from clsaudit.semantic.lazy import cst


class EvalWithoutNoGrad(Rule):
    code = "CLS204"
    name = "eval-without-no-grad"
    severity = "warning"
    summary = "Evaluation loop without torch.no_grad()/inference_mode(): autograd records every forward"
    fixable = True
    doc = """\
## What it does
Finds a loop that evaluates a model (forward passes over data, no
backward, no optimizer step) that runs with gradient recording on: not
inside `with torch.no_grad()`, `torch.inference_mode()` or
`torch.set_grad_enabled(False)`, and not in a function decorated with
`@torch.no_grad()` / `@torch.inference_mode()`, counting the caller's
context for evaluation helpers.

## Why is this bad
Every forward builds an autograd graph that keeps all activations alive:
evaluation needs several times the memory, runs slower, and any metric
accumulated from outputs keeps whole graphs alive (out-of-memory on the
test set after a training run that fit).

## Example
```python
model.eval()
for x, y in test_loader:
    correct += (model(x).argmax(1) == y).sum().item()
```

## Use instead
```python
model.eval()
with torch.no_grad():
    for x, y in test_loader:
        correct += (model(x).argmax(1) == y).sum().item()
```

## Fix safety
Safe. The reported loop is nested under `with torch.no_grad():` on the line
above it; every line of the loop gains one indentation unit (the file's
own), except blank lines and lines inside multi-line strings. Offered only
when the finding is a whole loop statement, `import torch` binds the name
`torch`, and no name bound in the loop is back-propagated anywhere in the
file (a loop that builds a tensor for a later `backward()` needs its graph).
With CLS203 on the same loop, `--fix` inserts `model.eval()` first and wraps
the loop on its next pass, so `model.eval()` stays outside the `with`.

## References
- PyTorch docs, `torch.no_grad`, `torch.inference_mode`.
"""

    def check(self, semantic):
        seen = set()
        for fact in semantic.state.model_calls.values():
            if fact.role != "eval" or fact.grad != "on" or fact.anchor in seen:
                continue
            seen.add(fact.anchor)
            what = "evaluation loop" if fact.loop is not None else "evaluation"
            yield Report(fact.anchor, f"{what} runs with autograd on: wrap it in `torch.no_grad()` "
                                      "or `torch.inference_mode()`", fix=_fix(semantic, fact.anchor, fact.loop))


def _torch_imported(semantic) -> bool:
    """`import torch` (or `import torch.nn`) at the top of the module binds the name `torch`."""
    for statement in semantic.module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import) and any(
                alias.asname is None and semantic.module.code_for_node(alias.name).split(".")[0] == "torch"
                for alias in small.names
            ):
                return True
    return False


def _fix(semantic, anchor, loop) -> str | None:
    """Wrap the reported loop in `with torch.no_grad():`.

    Only for a whole loop statement, when `torch` names the module, and when
    no name bound inside the loop is back-propagated anywhere in the file (a
    loop that builds a tensor for a later `backward()` needs its graph).
    """
    if loop is None or loop.node is not anchor or not isinstance(anchor, (cst.For, cst.While)):
        return None
    if not _torch_imported(semantic):
        return None
    bound = {ev.ref for ev in flow.events(loop.body) if ev.kind in (flow.ASSIGN, flow.ACCUM) and ev.ref}
    if any(ev.ref in bound for ev in semantic.events(flow.BACKWARD)):
        return None
    return wrap_in_with(semantic, anchor, "with torch.no_grad():")


RULE = EvalWithoutNoGrad
