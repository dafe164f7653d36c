"""CLS103: softmax (not log-softmax) output fed to NLLLoss."""

from __future__ import annotations

from clsaudit.rule import Rule
from clsaudit.rules._activation_into_loss import activation_into_loss
from clsaudit.semantic import values


class ProbabilitiesIntoNll(Rule):
    code = "CLS103"
    name = "probabilities-into-nll"
    severity = "error"
    summary = "Softmax probabilities passed to NLLLoss, which expects log-probabilities"
    doc = """\
## What it does
Finds `nn.NLLLoss` / `F.nll_loss` whose input is softmax probabilities
rather than log-probabilities.

## Why is this bad
`NLLLoss` just picks `-input[y]`. With probabilities that is `-p_y`, a loss
bounded in [-1, 0] whose gradient does not grow for confident mistakes:
it trains, slowly and to a worse optimum, and the printed loss is negative.

## Example
```python
loss = F.nll_loss(F.softmax(logits, dim=1), y)
```

## Use instead
```python
loss = F.nll_loss(F.log_softmax(logits, dim=1), y)
# or simply
loss = F.cross_entropy(logits, y)
```

## References
- PyTorch docs, `torch.nn.NLLLoss`: "The input given through a forward call is expected to contain log-probabilities of each class".
"""

    def check(self, semantic):
        return activation_into_loss(
            semantic, values.PROBS, {"nll"},
            "NLLLoss expects log-probabilities: use log_softmax (or cross_entropy on the logits)",
        )


RULE = ProbabilitiesIntoNll
