"""CLS205: a loss or output tensor accumulated across iterations with its graph."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.rules._fix_text import replace_inside, text_of
from clsaudit.semantic import flow
from clsaudit.semantic.lazy import cst


class MetricKeepsGraph(Rule):
    code = "CLS205"
    name = "metric-keeps-graph"
    severity = "warning"
    summary = "Loss/output tensor accumulated across iterations without .item()/.detach(): keeps every graph alive"
    fixable = True
    doc = """\
## What it does
Finds `total += loss` (or `total = total + loss`) inside a loop, where the
added value is a loss or model output that carries an autograd graph, the
total lives across iterations, autograd is on, and the total is not itself
back-propagated later (summing losses for one `backward()` is fine).

## Why is this bad
The running total becomes a tensor that references every iteration's
graph, so no activation is ever freed: memory grows each step until an
out-of-memory error, or the epoch slows down as the graph grows.

## Example
```python
running_loss = 0.0
for x, y in loader:
    loss = criterion(model(x), y)
    ...
    running_loss += loss
```

## Use instead
```python
    running_loss += loss.item()
```

## Fix safety
Safe. `total += loss` becomes `total += loss.item()` (and `total = total + loss`
likewise; an operand that is not a name, attribute, call or subscript is
parenthesised first). Offered only when the added value is the loss tensor
itself, which is a scalar, and not in a file that mentions `reduction`
(a `reduction="none"` loss is a vector and `.item()` would raise). Scaled
sums such as `loss * x.size(0)` are reported without a fix.

## References
- PyTorch FAQ, "My model reports cuda runtime error(2): out of memory": "Don't accumulate history across your training loop".
"""

    def check(self, semantic):
        for fact in semantic.state.accums.values():
            if fact.grad != "on":
                continue
            ev, loop = fact.event, fact.loop
            if self._fresh_in_iteration(ev, loop) or self._backpropagated(semantic, ev.ref):
                continue
            yield Report(ev.node, f"`{ev.ref}` accumulates a tensor that carries its autograd graph across "
                                  f"iterations of the loop at line {semantic.line(loop.node)}: add `.item()` "
                                  "(or `.detach()`)", fix=self._fix(semantic, ev))

    @staticmethod
    def _fix(semantic, ev) -> str | None:
        """`total += loss` -> `total += loss.item()`; `total = total + loss` likewise.

        Only for a loss tensor (a scalar), and not in a file that mentions
        `reduction` (a `reduction="none"` loss is a vector, `.item()` would raise).
        """
        node, value = ev.node, ev.value
        if value is None or value.detail != "loss" or "reduction" in semantic.source:
            return None
        if isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.AddAssign):
            added = node.value
        elif (isinstance(node, cst.Assign) and isinstance(node.value, cst.BinaryOperation)
              and isinstance(node.value.operator, cst.Add)
              and semantic.module.code_for_node(node.value.left).strip() == ev.ref):
            added = node.value.right
        else:
            return None
        text = text_of(semantic, added)
        if text is None:
            return None
        # `.item()` binds tighter than any operator: append it to an atom, else parenthesise first
        # (the span of a parenthesised expression is inside its parentheses)
        atom = isinstance(added, (cst.Name, cst.Attribute, cst.Call, cst.Subscript))
        return replace_inside(semantic, node, added, f"{text}.item()" if atom else f"({text}).item()")

    @staticmethod
    def _fresh_in_iteration(ev, loop) -> bool:
        """`loss = 0` earlier in the same iteration: a per-step sum, not a running total."""
        for other in flow.events(loop.body, into_loops=False):
            if other is ev:
                return False
            if other.kind == flow.ASSIGN and other.ref == ev.ref:
                return True
        return False

    @staticmethod
    def _backpropagated(semantic, ref) -> bool:
        for ev in semantic.events(flow.BACKWARD):
            if ev.ref == ref or (ev.value is not None and ev.value.node is not None and
                                 semantic.module.code_for_node(ev.value.node).strip() == ref):
                return True
        return False


RULE = MetricKeepsGraph
