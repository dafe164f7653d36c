"""CLS101: softmax output fed to a cross-entropy loss."""

from __future__ import annotations

from dataclasses import replace

from clsaudit.rule import Rule
from clsaudit.rules._activation_into_loss import activation_into_loss
from clsaudit.rules._fix_text import replace_inside, text_of
from clsaudit.semantic import values
from clsaudit.semantic.lazy import cst


class SoftmaxBeforeCrossEntropy(Rule):
    code = "CLS101"
    name = "softmax-before-cross-entropy"
    severity = "error"
    summary = "Softmax probabilities passed to CrossEntropyLoss / F.cross_entropy, which applies log_softmax itself"
    fixable = True
    doc = """\
## What it does
Finds a cross-entropy loss (`nn.CrossEntropyLoss`, `F.cross_entropy`) whose
input went through a softmax first: `F.softmax`, `torch.softmax`,
`x.softmax(dim)`, an `nn.Softmax()` layer, or a model whose `forward` (or
`nn.Sequential`) ends in one, including a model defined in another checked
file or passed into a training helper.

## Why is this bad
`CrossEntropyLoss` expects raw logits and applies `log_softmax` internally.
Fed probabilities, it computes `log_softmax(softmax(z))`: its inputs are
squashed into [0, 1], so even a perfect prediction scores
`ln(e + C - 1) - 1` (1.46 nats for 10 classes instead of 0), the gradient
with respect to the logits shrinks as the model becomes confident, and
training stalls short of the accuracy the same network reaches on logits,
while the loss curve still looks plausible.

## Example
```python
class Net(nn.Module):
    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)

loss = nn.CrossEntropyLoss()(Net()(x), y)
```

## Use instead
```python
class Net(nn.Module):
    def forward(self, x):
        return self.fc(x)          # logits

loss = nn.CrossEntropyLoss()(Net()(x), y)
probs = logits.softmax(dim=1)      # only where probabilities are reported
```

## Fix safety
Unsafe: applied only with `--unsafe-fixes` (and hidden from `[*]`, `--diff`
and the JSON `fix` field without it). When the softmax call is written as
the loss call's input (`criterion(F.softmax(z, dim=1), y)`,
`F.cross_entropy(z.softmax(1), y)`), the call is dropped and its input kept:
`criterion(z, y)`. This changes the loss values, the gradients and so the
trained model (that is the point, but it is a change of behaviour, and a
softmax over another dimension than the classes was a different bug). A
softmax elsewhere (kept in a variable, or in the model's `forward`, whose
other callers may want probabilities) is reported without a fix: move it
out of `forward` by hand and apply it where probabilities are needed.

## References
- PyTorch docs, `torch.nn.CrossEntropyLoss`: "The input is expected to contain the unnormalized logits for each class".
- https://discuss.pytorch.org/t/do-i-need-to-use-softmax-before-nn-crossentropyloss/16739
"""

    def check(self, semantic):
        for report in activation_into_loss(
            semantic, values.PROBS, {"ce"},
            "CrossEntropyLoss applies log_softmax itself: pass the logits",
        ):
            fix = _fix(semantic, report.node)
            yield replace(report, fix=fix, fix_unsafe=True) if fix is not None else report


_SOFTMAX = {"torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"}


def _fix(semantic, loss_call) -> str | None:
    """The loss call with the softmax written as its input dropped: `loss(F.softmax(z, 1), y)` -> `loss(z, y)`.

    Only when the softmax call is the loss call's first argument; a softmax
    elsewhere (a variable, the model's `forward`) is reported without a fix.
    """
    if not isinstance(loss_call, cst.Call) or not loss_call.args:
        return None
    first = loss_call.args[0]
    if first.keyword is not None and first.keyword.value != "input":
        return None
    softmax = first.value
    if not isinstance(softmax, cst.Call) or not isinstance(softmax.func, (cst.Attribute, cst.Name)):
        return None
    qual = semantic.builder.qual(softmax.func, None) or ""
    if qual in _SOFTMAX - {"torch.Tensor.softmax"}:
        if not softmax.args or softmax.args[0].keyword is not None or softmax.args[0].star:
            return None
        logits = softmax.args[0].value
    elif (not qual.startswith("torch") and isinstance(softmax.func, cst.Attribute)
          and softmax.func.attr.value == "softmax"):
        logits = softmax.func.value  # `z.softmax(dim=1)`
    else:
        return None
    text = text_of(semantic, logits)
    return None if text is None else replace_inside(semantic, loss_call, softmax, text)


RULE = SoftmaxBeforeCrossEntropy
