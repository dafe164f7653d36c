"""CLS105: log_softmax output fed to a cross-entropy loss, which applies log_softmax itself."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow, values
from clsaudit.semantic.lazy import cst

CLASS_DIMS = {1, -1}


class RedundantLogSoftmaxBeforeCrossEntropy(Rule):
    code = "CLS105"
    name = "redundant-log-softmax-before-cross-entropy"
    severity = "info"
    summary = "log_softmax output passed to CrossEntropyLoss / F.cross_entropy, which applies log_softmax itself"
    fixable = True
    doc = """\
## What it does
Finds a cross-entropy loss (`nn.CrossEntropyLoss`, `F.cross_entropy`) whose
input already went through `log_softmax` over the class dimension:
`F.log_softmax(z, dim=1)`, `z.log_softmax(-1)`, an `nn.LogSoftmax` layer, or
a model whose `forward` (or `nn.Sequential`) ends in one, including a model
defined in another checked file. The finding points at the loss call.

## Why is this bad
It is harmless but wasted: `CrossEntropyLoss` applies `log_softmax` itself,
and `log_softmax` is idempotent (its outputs already log-sum-exp to zero), so
the loss and its gradient are exactly those of the logits. The extra op costs
a kernel and memory per step, and it hides the intent: a reader cannot tell
whether `NLLLoss` was meant. A log_softmax over another dimension is not
flagged: that one changes the loss.

## Example
```python
loss = F.cross_entropy(F.log_softmax(logits, dim=1), y)
```

## Use instead
```python
loss = F.cross_entropy(logits, y)
# or keep the log-probabilities and use the loss made for them:
loss = F.nll_loss(F.log_softmax(logits, dim=1), y)
```

## Fix safety
The fix is offered where the `log_softmax` is written inside the loss call's
input (`criterion(F.log_softmax(z, 1), y)`, `criterion(z.log_softmax(-1), y)`)
and removes it. It is safe: the loss value and the gradients are unchanged
bit for bit up to float rounding. A `log_softmax` elsewhere (in `forward`,
on another line) is reported without a fix, since other code may read it.

## References
- PyTorch docs, `torch.nn.CrossEntropyLoss`: "equivalent to applying LogSoftmax on an input, followed by NLLLoss".
- The runtime probe notes log-probabilities at the loss (PRB008, a note, not a failure).
"""

    def check(self, semantic):
        for ev in semantic.events(flow.LOSS):
            if ev.value is None or not any(f == "ce" for f, _ in semantic.resolve_loss_flavour(ev)):
                continue
            for source in semantic.resolve_activation(ev.value):
                if source.act != values.LOGPROBS or not _over_classes(semantic, source.origin):
                    continue
                via = ""
                if source.kind == values.MODEL:
                    via = " (the model's output ends in it)"
                yield Report(ev.node, f"cross-entropy receives log_softmax output from {semantic.where(source)}{via}: "
                                      "CrossEntropyLoss applies log_softmax itself, the extra one is redundant",
                             fix=_fix(semantic, ev.node, source.origin))
                break


def _dim(call, position: int):
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "dim":
            return arg.value
    positional = [a for a in call.args if a.keyword is None]
    return positional[position].value if len(positional) > position else None


def _is_method(semantic, call) -> bool:
    """`z.log_softmax(1)` (a tensor method), as opposed to `F.log_softmax(z, 1)`."""
    return isinstance(call.func, cst.Attribute) and not (semantic.qualified_name(call.func) or "").startswith("torch")


def _over_classes(semantic, origin) -> bool:
    """True when the log_softmax runs over dim 1 or -1 (or the implicit dim), the classes of (N, C) logits."""
    if not isinstance(origin, cst.Call):
        return True  # the activation came from another file's summary: its dim is not known here
    qual = semantic.qualified_name(origin.func) or ""
    if qual.startswith("torch.nn.") and qual.rsplit(".", 1)[-1] == "LogSoftmax":
        dim = _dim(origin, 0)
    elif qual.rsplit(".", 1)[-1] in {"softmax", "log_softmax"} and qual.startswith("torch"):
        dim = _dim(origin, 1)
    else:
        dim = _dim(origin, 0)
    if dim is None:
        return True
    if isinstance(dim, cst.UnaryOperation) and isinstance(dim.operator, cst.Minus) and isinstance(dim.expression, cst.Integer):
        return -int(dim.expression.value) in CLASS_DIMS
    return isinstance(dim, cst.Integer) and int(dim.value) in CLASS_DIMS


def _fix(semantic, loss_call, origin):
    """The loss call with the inline log_softmax removed, or None when it is not inline."""
    if not isinstance(origin, cst.Call) or not isinstance(loss_call, cst.Call):
        return None
    if _is_method(semantic, origin):
        if origin.func.attr.value != "log_softmax":
            return None
        inner = origin.func.value
    else:
        if (semantic.qualified_name(origin.func) or "").rsplit(".", 1)[-1] != "log_softmax":
            return None
        positional = [a for a in origin.args if a.keyword is None]
        inner = positional[0].value if positional else None
    if inner is None:
        return None
    args = list(loss_call.args)
    for i, arg in enumerate(args):
        if arg.value is origin and (arg.keyword is None or arg.keyword.value == "input"):
            args[i] = arg.with_changes(value=inner)
            return semantic.module.code_for_node(loss_call.with_changes(args=args))
    return None


RULE = RedundantLogSoftmaxBeforeCrossEntropy
