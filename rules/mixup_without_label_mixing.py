"""CLS307: inputs blended (Mixup, CutMix) while the loss sees only the original labels."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule

WHAT = {"blend": "inputs blended", "paste": "a CutMix box pasted into the inputs",
        "v2": "MixUp/CutMix applied to the images alone"}


class MixupWithoutLabelMixing(Rule):
    code = "CLS307"
    name = "mixup-without-label-mixing"
    severity = "error"
    summary = "Inputs mixed (Mixup/CutMix) with a random coefficient while the loss sees only the original labels"
    doc = """\
## What it does
Finds a batch whose inputs are mixed, a blend `lam * x + (1 - lam) * x[idx]`
with `lam` drawn at random (`np.random.beta`, `Beta(a, a).sample()`), a
CutMix box paste `x[:, :, y1:y2, x1:x2] = x[idx, :, y1:y2, x1:x2]`, or a
torchvision `v2.MixUp`/`v2.CutMix` called on the images alone, when nothing
in that function reads the coefficient (or the permutation) again: not the
loss, not a mixed target, not a `return`. The finding points at the loss
call that then sees only the original labels (in the caller, when the mix
is done by a helper). A loss mixed with the same coefficient
(`lam * ce(out, y) + (1 - lam) * ce(out, y[idx])`), mixed soft targets,
and `v2.MixUp` applied to `(images, labels)` are not flagged.

## Why is this bad
Mixup and CutMix are label-preserving only when the labels are mixed in the
same proportion as the pixels. A picture that is 60% cat and 40% truck,
labelled 100% cat, teaches the model to ignore evidence: it is label noise
injected into every batch. Accuracy ends below the same network trained
without any mixing, and the training loss cannot approach zero, which looks
like "strong regularisation".

## Example
```python
lam = np.random.beta(1.0, 1.0)
idx = torch.randperm(x.size(0))
x = lam * x + (1 - lam) * x[idx]
loss = criterion(model(x), y)
```

## Use instead
```python
lam = np.random.beta(1.0, 1.0)
idx = torch.randperm(x.size(0))
x = lam * x + (1 - lam) * x[idx]
out = model(x)
loss = lam * criterion(out, y) + (1 - lam) * criterion(out, y[idx])
```

## References
- Zhang et al. (2018), "mixup: Beyond Empirical Risk Minimization".
- Yun et al. (2019), "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features".
- torchvision docs, "How to use CutMix and MixUp": pass images and labels together.
- No probe check confirms it yet; the evidence it would need is at the loss (hard class-index targets while the inputs are blended), and `clsaudit probe --show-batch` already shows the blended batch.
"""

    def check(self, semantic):
        # imported here: the facts need libcst, which listing the rules must not load
        from clsaudit.semantic.facts.mixing import unmixed_losses

        for found in unmixed_losses(semantic):
            yield Report(found.loss, f"{WHAT[found.mix.kind]} at line {semantic.line(found.mix.node)}, but this loss "
                                     "sees only the original labels: mix the loss (or the targets) with the same "
                                     "coefficient and permutation")


RULE = MixupWithoutLabelMixing
