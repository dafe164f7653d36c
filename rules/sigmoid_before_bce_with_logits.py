"""CLS102: sigmoid output fed to BCEWithLogitsLoss."""

from __future__ import annotations

from clsaudit.rule import Rule
from clsaudit.rules._activation_into_loss import activation_into_loss
from clsaudit.semantic import values


class SigmoidBeforeBceWithLogits(Rule):
    code = "CLS102"
    name = "sigmoid-before-bce-with-logits"
    severity = "error"
    summary = "Sigmoid outputs passed to BCEWithLogitsLoss, which applies the sigmoid itself"
    doc = """\
## What it does
Finds `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` whose
input already went through `torch.sigmoid`, `x.sigmoid()`, `nn.Sigmoid()` or
a model ending in one.

## Why is this bad
The "with logits" losses apply the sigmoid internally (in a numerically
stable log-sum-exp form). A second sigmoid maps every prediction into
(0.5, 0.73): the loss cannot approach zero, gradients vanish, and
multi-label or binary classifiers train to a fraction of their accuracy.

## Example
```python
criterion = nn.BCEWithLogitsLoss()
loss = criterion(torch.sigmoid(model(x)), y)
```

## Use instead
```python
loss = criterion(model(x), y)           # logits
preds = torch.sigmoid(model(x)) > 0.5   # sigmoid only for predictions
```
or keep the sigmoid and use `nn.BCELoss` (less stable).

## References
- PyTorch docs, `torch.nn.BCEWithLogitsLoss`: "This loss combines a Sigmoid layer and the BCELoss in one single class".
"""

    def check(self, semantic):
        return activation_into_loss(
            semantic, values.SIGMOID, {"bcelogits"},
            "BCEWithLogitsLoss applies the sigmoid itself: pass the logits",
        )


RULE = SigmoidBeforeBceWithLogits
