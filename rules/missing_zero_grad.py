"""CLS201: a training loop steps the optimizer without zeroing gradients."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow


class MissingZeroGrad(Rule):
    code = "CLS201"
    name = "missing-zero-grad"
    severity = "error"
    summary = "Optimizer stepped in a loop that never zeroes gradients, so they accumulate across steps"
    doc = """\
## What it does
Finds a loop that calls `backward()` and `optimizer.step()` (or
`scaler.step(optimizer)`) every iteration but never clears gradients inside
the loop: no `optimizer.zero_grad()`, `model.zero_grad()`,
`p.grad = None` or `p.grad.zero_()`, directly or in a helper it calls.
Gradient accumulation that zeroes every k steps is fine: any zeroing inside
the loop counts.

## Why is this bad
PyTorch *adds* each backward's gradients into `.grad`. Without zeroing,
step k applies the sum of all gradients since the start: the effective
learning rate grows every step, momentum compounds it, and training
diverges or wanders while the loss still falls for a while.

## Example
```python
optimizer.zero_grad()
for x, y in loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## Use instead
```python
for x, y in loader:
    optimizer.zero_grad(set_to_none=True)
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## References
- PyTorch docs, `torch.optim.Optimizer.zero_grad`; "Zeroing out gradients in PyTorch" recipe.
"""

    def check(self, semantic):
        for loop, _fi in semantic.loops():
            level = semantic.level_events(loop.body)
            steps = [ev for ev in level if ev.kind == flow.STEP and ev.detail != "closure"]
            if not steps or not any(ev.kind == flow.BACKWARD for ev in level):
                continue
            if any(ev.kind == flow.ZERO_GRAD for ev in semantic.all_events_in(loop.body)):
                continue
            outer = " (gradients are zeroed only outside this loop)" if self._zeroed_outside(semantic, loop) else ""
            for ev in steps:
                how = "stepped every few iterations" if ev.conditional else "stepped every iteration"
                yield Report(ev.node, f"optimizer {how} but gradients are never zeroed "
                                      f"in this loop (line {semantic.line(loop.node)}){outer}: call "
                                      "optimizer.zero_grad() after each step")

    @staticmethod
    def _zeroed_outside(semantic, loop) -> bool:
        return any(ev.kind == flow.ZERO_GRAD for ev in semantic.events())


RULE = MissingZeroGrad
