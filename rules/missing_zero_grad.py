"""CLS201: a training loop steps the optimizer without zeroing gradients."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.rules._fix_text import DOTTED, indent_of, insert_before, newline_of
from clsaudit.semantic import flow
from clsaudit.semantic.lazy import cst


class MissingZeroGrad(Rule):
    code = "CLS201"
    name = "missing-zero-grad"
    severity = "error"
    summary = "Optimizer stepped in a loop that never zeroes gradients, so they accumulate across steps"
    fixable = True
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

## Fix safety
Safe. `optimizer.zero_grad()` for every optimizer stepped in the loop (as
the step names it, e.g. `opt` in `opt.step()` or `scaler.step(opt)`) is
inserted as the first statement of the loop body, with the body's
indentation; zeroing before the forward pass is the documented idiom. No
fix when the body shares the loop's line (`for b in data: ...`) or an
optimizer is not a plain dotted name.

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
            fix, first = self._fix(semantic, loop, steps)
            for ev in steps:
                how = "stepped every few iterations" if ev.conditional else "stepped every iteration"
                yield Report(ev.node, f"optimizer {how} but gradients are never zeroed "
                                      f"in this loop (line {semantic.line(loop.node)}){outer}: call "
                                      "optimizer.zero_grad() each step", fix=fix, fix_node=first)

    @staticmethod
    def _fix(semantic, loop, steps):
        """`opt.zero_grad()` for every optimizer stepped here, above the loop body's first statement.

        Every finding of the loop carries the same edit (the first one applied
        zeroes them all: once one `zero_grad()` is in the loop the rule is
        silent, so a second optimizer must not be left for a later pass).
        """
        body = getattr(loop.node, "body", None)
        if not isinstance(body, cst.IndentedBlock) or not body.body:
            return None, None
        names = []
        for ev in steps:
            if not ev.ref or not DOTTED.match(ev.ref):
                return None, None
            if ev.ref not in names:
                names.append(ev.ref)
        first = body.body[0]
        indent = indent_of(semantic, first)
        if indent is None:
            return None, None
        statements = (newline_of(semantic) + indent).join(f"{name}.zero_grad()" for name in names)
        fix = insert_before(semantic, first, statements)
        return (fix, first) if fix is not None else (None, None)

    @staticmethod
    def _zeroed_outside(semantic, loop) -> bool:
        return any(ev.kind == flow.ZERO_GRAD for ev in semantic.events())


RULE = MissingZeroGrad
