"""CLS101: softmax output fed to a cross-entropy loss."""

from __future__ import annotations

from clsaudit.rule import Rule
from clsaudit.rules._activation_into_loss import activation_into_loss
from clsaudit.semantic import values


class SoftmaxBeforeCrossEntropy(Rule):
    code = "CLS101"
    name = "softmax-before-cross-entropy"
    severity = "error"
    summary = "Softmax probabilities passed to CrossEntropyLoss / F.cross_entropy, which applies log_softmax itself"
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

## References
- PyTorch docs, `torch.nn.CrossEntropyLoss`: "The input is expected to contain the unnormalized logits for each class".
- https://discuss.pytorch.org/t/do-i-need-to-use-softmax-before-nn-crossentropyloss/16739
"""

    def check(self, semantic):
        return activation_into_loss(
            semantic, values.PROBS, {"ce"},
            "CrossEntropyLoss applies log_softmax itself: pass the logits",
        )


RULE = SoftmaxBeforeCrossEntropy
