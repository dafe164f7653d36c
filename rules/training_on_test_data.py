"""CLS502: test data reaches training."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.rules._loaders import is_training_loader
from clsaudit.semantic import flow


class TrainingOnTestData(Rule):
    code = "CLS502"
    name = "training-on-test-data"
    severity = "error"
    summary = "Test split (or train+test concatenated) used to build a training loader or passed to fit()"
    doc = """\
## What it does
Follows the test split (`train=False`, `split="test"`, `x_test`,
`test_batch`, ...) through `ConcatDataset`, `np.concatenate`, `torch.cat`,
`TensorDataset` and `Subset`, and flags the `DataLoader` that a training
loop iterates (or that is bound to a training name) when it contains test
data, and `fit(...)` calls that receive test data.

## Why is this bad
A model trained on its test set reports memorised accuracy: the number is
meaningless, and often the mistake is a copy-pasted `train=False` in the
training dataset, which also silently trains on 10k instead of 50k images.

## Example
```python
train_set = datasets.CIFAR10(root, train=False, transform=train_tf)
train_loader = DataLoader(train_set, batch_size=128, shuffle=True)
```

## Use instead
```python
train_set = datasets.CIFAR10(root, train=True, transform=train_tf)
```

## References
- Kaufman et al., "Leakage in Data Mining", TKDD 2012.
"""

    def check(self, semantic):
        trained = semantic.training_loader_nodes()
        for ev in semantic.events(flow.LOADER_NEW):
            split = ev.value.split
            if not split or "test" not in split:
                continue
            if not is_training_loader(semantic, ev, trained, allow_test_names=True):
                continue
            what = "train and test data" if split == "train+test" else "the test split"
            yield Report(ev.node, f"this training DataLoader is built on {what}: the model trains on test data")
        for ev in semantic.events(flow.FIT):
            items = ev.value.items if ev.value is not None else ()
            if any(v.split and "test" in v.split for v in items):
                yield Report(ev.node, "fit() receives test data: train on the training split only")


RULE = TrainingOnTestData
