"""CLS309: flips or large rotations in the training transform of a digit or character dataset."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic.lazy import cst

FLIPS = {"RandomVerticalFlip": "a vertical flip", "RandomHorizontalFlip": "a horizontal flip"}
ROTATIONS = {"RandomRotation", "RandomAffine"}
CONTAINERS = {"RandomApply", "RandomChoice", "RandomOrder", "Compose"}
MAX_SAFE_DEGREES = 30.0


class LabelChangingAugmentation(Rule):
    code = "CLS309"
    name = "label-changing-augmentation"
    severity = "error"
    summary = "Flips or large rotations on digit/character data (MNIST, SVHN, EMNIST...), where they change the label"
    doc = """\
## What it does
Finds random transforms that mirror or turn an image past recognition,
`RandomVerticalFlip`, `RandomHorizontalFlip`, `RandomRotation(d)` or
`RandomAffine(degrees=d)` with `d` above 30 degrees, in the transform given
to a dataset of digits or characters: MNIST, EMNIST, KMNIST, QMNIST, SVHN,
USPS, Omniglot, SEMEION. The finding points at the transform. Small
rotations, crops and affine jitter are not flagged, nor is any flip on
natural images (CIFAR, ImageNet), where a mirrored cat is still a cat, nor
a file whose losses are all something else than cross-entropy or NLL (a GAN
or an autoencoder on MNIST has no labels to change).

## Why is this bad
Augmentation must keep the label true. A 6 turned upside down is a 9; a
mirrored 2, 3, 7 or a mirrored letter is not a glyph of its class at all.
The model is trained on examples whose labels are wrong for a fixed
fraction of every batch, so it learns to hedge between 6 and 9 (and b/d,
p/q): accuracy drops by points, and the loss curve just looks a little
noisier.

## Example
```python
tf = T.Compose([T.RandomHorizontalFlip(), T.RandomRotation(180), T.ToTensor()])
train = datasets.MNIST("data", train=True, transform=tf)
```

## Use instead
```python
tf = T.Compose([T.RandomAffine(degrees=10, translate=(0.1, 0.1)), T.ToTensor()])
train = datasets.MNIST("data", train=True, transform=tf)
```

## References
- Simard, Steinkraus, Platt (2003), "Best Practices for Convolutional Neural Networks Applied to Visual Document Analysis": small affine and elastic distortions for digits.
- The probe's `--show-batch FILE.png` saves the first training batch with its labels: a flipped 6 labelled 6 is visible there.
"""

    def check(self, semantic):
        from clsaudit.semantic.facts import datasets as D  # libcst only when a file is checked

        if D.trains_something_else(semantic):
            return  # a GAN or an autoencoder on MNIST has no labels for a flip to change
        for ev in D.dataset_events(semantic):
            dataset = D.class_name(ev)
            if dataset not in D.GLYPH_DATASETS or not D.is_transform(ev.other):
                continue
            for node in ev.other.randoms:
                for call, what in _label_changers(semantic, node):
                    yield Report(call, f"{what} in the transform of {dataset} (line {semantic.line(ev.node)}): "
                                       "on digits and characters it changes the label (a flipped 6 is a 9)")


def _label_changers(semantic, node):
    from clsaudit.semantic.facts.syntax import argument

    if not isinstance(node, cst.Call):
        return
    qual = semantic.qualified_name(node.func) or ""
    if not qual.startswith("torchvision.transforms"):
        return
    name = qual.rsplit(".", 1)[-1]
    if name in FLIPS:
        yield node, FLIPS[name]
    elif name in ROTATIONS:
        degrees = _max_degrees(argument(node, "degrees", 0))
        if degrees is not None and degrees > MAX_SAFE_DEGREES:
            yield node, f"a rotation of up to {degrees:g} degrees"
    elif name in CONTAINERS:
        inner = argument(node, "transforms", 0)
        if isinstance(inner, (cst.List, cst.Tuple)):
            for element in inner.elements:
                yield from _label_changers(semantic, element.value)


def _max_degrees(node):
    from clsaudit.semantic.facts.syntax import number_value

    if isinstance(node, (cst.Tuple, cst.List)):
        values = [number_value(el.value) for el in node.elements]
        return None if not values or None in values else max(abs(v) for v in values)
    value = number_value(node)
    return abs(value) if value is not None else None


RULE = LabelChangingAugmentation
