"""CLS308: normalised data clipped back to [0, 1] before it reaches the model."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule


class ClampAfterNormalisation(Rule):
    code = "CLS308"
    name = "clamp-after-normalisation"
    severity = "error"
    summary = "Normalised tensor clamped to [0, 1] (clamp(0, 1), np.clip) before the model: negative values erased"
    doc = """\
## What it does
Finds `x.clamp(0, 1)`, `x.clamp_(0, 1)`, `torch.clamp(x, 0, 1)`,
`torch.clip` or `np.clip(x, 0, 1)` applied to a tensor that was normalised
first (`(x - mean) / std`, `x.sub(m).div(s)`, `TF.normalize`, a
`Normalize` transform or a `Compose` holding one) when the clamped tensor
then goes to a model call or is returned by a data function (a dataset's
`__getitem__`, a transform); and a `Lambda` that clamps after `Normalize`
inside a `Compose`. The finding points at the clamp. Clamping before
normalising, and clamping a de-normalised copy (`x * std + mean`) for a
plot or a saved image, are not flagged.

## Why is this bad
Standardised pixels are centred on zero: about half of them are negative,
and the bright ones exceed 1. `clamp(0, 1)` sets every negative value to 0
and caps the rest, so dark regions become one flat value, contrast and
colour information are destroyed, and the inputs are no longer centred.
The network still trains, on a damaged image, and loses accuracy that no
amount of tuning brings back. The usual origin is a `clamp(0, 1)` written
for [0, 1] images (after adding noise, after an augmentation) that stayed
in place when normalisation was moved earlier.

## Example
```python
x = (images - mean) / std
x = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
logits = model(x)
```

## Use instead
```python
x = (images + 0.1 * torch.randn_like(images)).clamp(0, 1)   # clamp in pixel space
x = (x - mean) / std                                          # then normalise
logits = model(x)
```

## References
- torchvision `transforms.Normalize`: outputs `(input - mean) / std`, not bounded to [0, 1].
- The runtime probe shows it where it sees the model's inputs: PRB009 notes "inputs in [0, 1], not standardised" (with their min, max and per-channel mean/std) for a pipeline whose code normalises.
"""

    def check(self, semantic):
        # imported here: the facts need libcst, which listing the rules must not load
        from clsaudit.semantic.facts.normalisation import clamps

        for clamp in clamps(semantic):
            yield Report(clamp.node, f"clamps data normalised at line {semantic.line(clamp.normalised_at)} to [0, 1]: "
                                     "that erases every negative (below-mean) value; clamp before normalising")


RULE = ClampAfterNormalisation
