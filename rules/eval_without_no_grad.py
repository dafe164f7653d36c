"""CLS204: evaluation loop runs with autograd recording."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule


class EvalWithoutNoGrad(Rule):
    code = "CLS204"
    name = "eval-without-no-grad"
    severity = "warning"
    summary = "Evaluation loop without torch.no_grad()/inference_mode(): autograd records every forward"
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
                                      "or `torch.inference_mode()`")


RULE = EvalWithoutNoGrad
