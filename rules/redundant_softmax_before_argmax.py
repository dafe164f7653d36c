"""CLS104: softmax computed only to take its argmax."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow
from clsaudit.semantic.lazy import cst


def _dim(call: cst.Call, position: int) -> str | None:
    for i, a in enumerate(call.args):
        if (a.keyword is not None and a.keyword.value == "dim") or (a.keyword is None and i == position):
            return a.value.value if isinstance(a.value, cst.Integer) else None
    return None


class RedundantSoftmaxBeforeArgmax(Rule):
    code = "CLS104"
    name = "redundant-softmax-before-argmax"
    severity = "info"
    summary = "softmax(...).argmax(): softmax is monotonic, take the argmax of the logits"
    fixable = True
    doc = """\
## What it does
Finds predictions computed as the argmax of a softmax whose probabilities
are used for nothing else: `F.softmax(out, 1).argmax(1)`,
`torch.argmax(torch.softmax(out, dim=1), dim=1)`, or a `probs` variable read
only by the argmax.

## Why is this bad
Softmax is strictly increasing along its dimension, so the argmax of the
probabilities is the argmax of the logits. The extra exponentials cost time
and memory, and the code suggests that probabilities matter where they do
not. Harmless to accuracy, hence severity *info*.

## Example
```python
pred = F.softmax(model(x), dim=1).argmax(dim=1)
```

## Use instead
```python
pred = model(x).argmax(dim=1)
# keep the softmax where the confidences are used:
probs = model(x).softmax(dim=1)
conf, pred = probs.max(dim=1)
```

## References
- PyTorch documentation, `torch.nn.functional.softmax` and `torch.argmax`: softmax is
  strictly increasing in each logit, so the index of the largest logit is the index of the
  largest probability.
"""

    def check(self, semantic):
        loads = {}
        for fi in semantic.all_functions():
            for ev in flow.events(fi.body):
                if ev.kind == flow.ARGMAX:
                    loads[ev] = fi
        for ev, fi in loads.items():
            if ev.detail != "argmax" or ev.value is None or ev.value.origin is None:
                continue
            call = ev.node
            functional = (semantic.builder.qual(call.func, None) or "").startswith("torch")
            if functional:
                recv = call.args[0].value if call.args else None
            else:
                recv = call.func.value if isinstance(call.func, cst.Attribute) else None
            if recv is None:
                continue
            softmax = ev.value.origin
            if recv is softmax:
                yield Report(call, f"argmax of the softmax applied at line {semantic.line(softmax)}: "
                                   "softmax does not change the argmax, take it on the logits",
                             fix=self._fix(semantic, call, softmax))
            elif isinstance(recv, cst.Name) and fi.loads.get(recv.value, 0) == 1 and ev.value.node is softmax:
                yield Report(call, f"`{recv.value}` (softmax at line {semantic.line(softmax)}) is only used "
                                   "for this argmax: take the argmax of the logits")

    @staticmethod
    def _fix(semantic, call: cst.Call, softmax: cst.CSTNode) -> str | None:
        if not isinstance(softmax, cst.Call):
            return None
        functional = (semantic.builder.qual(softmax.func, None) or "").startswith("torch")
        if isinstance(softmax.func, cst.Attribute) and softmax.func.attr.value == "softmax" and not functional:
            source, sdim = softmax.func.value, _dim(softmax, 0)
        elif softmax.args:
            source, sdim = softmax.args[0].value, _dim(softmax, 1)
        else:
            return None
        if not (semantic.builder.qual(call.func, None) or "").startswith("torch"):
            adim = _dim(call, 0)
            new = call.with_changes(func=call.func.with_changes(value=source))
        else:
            adim = _dim(call, 1)
            new = call.with_changes(args=[call.args[0].with_changes(value=source), *call.args[1:]])
        if sdim is None or sdim != adim:
            return None
        return semantic.module.code_for_node(new)


RULE = RedundantSoftmaxBeforeArgmax
