"""CLS206: optimizer.step() before loss.backward(), or zero_grad() between them."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow
from clsaudit.semantic.heuristics import classify_name


class StepBeforeBackward(Rule):
    code = "CLS206"
    name = "step-before-backward"
    severity = "error"
    summary = "optimizer.step() runs before backward(), or zero_grad() wipes gradients between backward() and step()"
    doc = """\
## What it does
Reads the calls of one training iteration in order and finds an
unconditional `optimizer.step()` that comes before the iteration's
`loss.backward()`, or a `zero_grad()` that sits between `backward()` and
`step()`.

## Why is this bad
`step()` uses whatever is in `.grad` at that moment. Before `backward()`
those are last iteration's gradients (or none); after a `zero_grad()` they
are zeros (or `None`, and the step is skipped). Either the model trains on
stale gradients one step late, or it does not train at all while the loss
is printed as usual.

## Example
```python
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    optimizer.step()
    loss.backward()
```

## Use instead
```python
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## References
- PyTorch docs, "Optimizing Model Parameters" tutorial: zero_grad, backward, step.
"""

    def check(self, semantic):
        for body, _node, _fi in semantic.iterations():
            seq = semantic.level_events(body)
            kinds = [ev.kind for ev in seq]
            if flow.BACKWARD not in kinds or flow.STEP not in kinds:
                continue
            first_backward = kinds.index(flow.BACKWARD)
            for i, ev in enumerate(seq):
                if ev.kind == flow.STEP and ev.detail != "closure" and i < first_backward and not ev.conditional:
                    yield Report(ev.node, "optimizer.step() runs before loss.backward() at line "
                                          f"{semantic.line(seq[first_backward].node)} in the same iteration: "
                                          "it applies stale (or no) gradients")
                    break
            last_backward = None
            for i, ev in enumerate(seq):
                if ev.kind == flow.BACKWARD:
                    last_backward = ev
                elif ev.kind == flow.ZERO_GRAD and last_backward is not None and not ev.conditional:
                    later = [s for s in seq[i + 1:] if s.kind in (flow.STEP, flow.BACKWARD)]
                    if later and later[0].kind == flow.STEP and self._same_optimizer(ev, later[0]):
                        yield Report(ev.node, f"zero_grad() between backward() at line {semantic.line(last_backward.node)} "
                                              f"and step() at line {semantic.line(later[0].node)}: the step sees "
                                              "zeroed gradients")
                elif ev.kind == flow.STEP:
                    last_backward = None

    @staticmethod
    def _same_optimizer(zero, step) -> bool:
        if zero.ref is None or step.ref is None:
            return True
        if zero.ref == step.ref:
            return True
        # model.zero_grad() clears the gradients of whatever optimizer steps next
        return classify_name(zero.ref.split(".")[-1]) == "model"


RULE = StepBeforeBackward
