"""CLS302: the well-known statistics of another dataset than the one loaded."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow, values

KNOWN_MEANS = {
    "ImageNet": [(0.485, 0.456, 0.406)],
    "CIFAR-10": [(0.4914, 0.4822, 0.4465), (0.4914, 0.4821, 0.4465), (0.4919, 0.4827, 0.4472)],
    "CIFAR-100": [(0.5071, 0.4865, 0.4409), (0.5071, 0.4867, 0.4408), (0.5070, 0.4865, 0.4409)],
    "MNIST": [(0.1307,)],
    "Fashion-MNIST": [(0.2860,), (0.2861,)],
    "SVHN": [(0.4377, 0.4438, 0.4728)],
}
DATASET_FAMILY = {
    "CIFAR10": "CIFAR-10", "CIFAR100": "CIFAR-100", "MNIST": "MNIST", "FashionMNIST": "Fashion-MNIST",
    "SVHN": "SVHN", "ImageNet": "ImageNet", "KMNIST": "KMNIST", "EMNIST": "EMNIST", "STL10": "STL10",
}


def numbers(value) -> tuple | None:
    if value is None:
        return None
    if value.kind == values.SEQUENCE and value.items and all(
        i.kind == values.NUMBER and isinstance(i.detail, float) for i in value.items
    ):
        return tuple(i.detail for i in value.items)
    return None


def family_of(mean: tuple) -> str | None:
    for family, candidates in KNOWN_MEANS.items():
        for cand in candidates:
            if len(cand) == len(mean) and all(abs(a - b) < 0.0015 for a, b in zip(cand, mean)):
                return family
    return None


class ForeignNormalisationStats(Rule):
    code = "CLS302"
    name = "foreign-normalisation-stats"
    severity = "warning"
    summary = "Normalize() uses the statistics of another dataset than the one loaded (e.g. ImageNet's on CIFAR)"
    doc = """\
## What it does
Recognises the published per-channel means of ImageNet, CIFAR-10,
CIFAR-100, MNIST, Fashion-MNIST and SVHN in a `Normalize(mean, std)` call
(literal or through a variable or config dict) and compares them with the
dataset the script loads (`datasets.CIFAR10`, `datasets.MNIST`, ...).
ImageNet statistics are accepted whenever pretrained weights are loaded:
the backbone expects its inputs normalised the way it was trained.

## Why is this bad
Normalisation is meant to give the network zero-mean, unit-variance inputs.
Another dataset's statistics leave each channel shifted and scaled: CIFAR-10
normalised with ImageNet's statistics has per-channel std 1.08-1.16 instead
of 1; MNIST normalised with CIFAR-10's has mean -1.46 and std 1.25. That
slows training and, with a from-scratch recipe tuned for standardised
inputs, usually costs accuracy. It is also the classic sign of a transform block copied from
another project.

## Example
```python
train_set = datasets.CIFAR10(root, train=True, transform=T.Compose([
    T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]))
```

## Use instead
```python
T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # CIFAR-10's own
# or statistics computed on your training split
```

## References
- torchvision model docs: pretrained ImageNet weights expect mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
- CIFAR-10 channel statistics as computed on its 50,000 training images.
"""

    def check(self, semantic):
        loaded = set()
        owner = semantic.function_of_event()
        loaders_fns = set()
        own_dataset = {}  # Normalize node -> the dataset whose transform argument writes it inline
        for ev in semantic.events(flow.DATASET_NEW):
            fam = DATASET_FAMILY.get(str(ev.value.detail))
            if fam:
                loaded.add(fam)
                loaders_fns.add(owner.get(ev))
                for node in _inline_transform_calls(ev.node):
                    own_dataset[node] = fam
            elif ev.value.detail in {"ImageFolder", "DatasetFolder"}:
                return  # a folder of images: any statistics may be right
        for ev in semantic.events(flow.NORMALIZE):
            # `CIFAR100(..., transform=Compose([..., Normalize(<CIFAR-10 stats>)]))` in one branch of a
            # script that loads either dataset: the statistics meet the dataset right there
            dataset = own_dataset.get(ev.node) or (next(iter(loaded)) if len(loaded) == 1 else None)
            if dataset is None:
                continue
            mean = numbers(ev.value)
            fam = family_of(mean) if mean else None
            if fam is None or fam == dataset:
                continue
            if fam == "ImageNet" and self._pretrained(semantic):
                continue
            if not _related(semantic, owner.get(ev), loaders_fns):
                continue  # a library: the statistics serve another function than the one loading data
            yield Report(ev.node, f"these are {fam}'s normalisation statistics but the script loads {dataset}: "
                                  f"use {dataset}'s own (or the training split's) mean and std")

    @staticmethod
    def _pretrained(semantic) -> bool:
        for ev in semantic.events(flow.NEW_MODEL):
            call = ev.node
            for arg in getattr(call, "args", ()):
                if arg.keyword is None:
                    continue
                key = arg.keyword.value
                text = semantic.module.code_for_node(arg.value)
                if key == "weights" and text != "None":
                    return True
                if key == "pretrained" and text not in {"False", "None"}:
                    return True
        return "load_state_dict_from_url" in semantic.source or ".from_pretrained(" in semantic.source


def _inline_transform_calls(dataset_call) -> list:
    """The calls written inside a dataset constructor's `transform=` argument."""
    from clsaudit.semantic.facts.syntax import argument, descendants
    from clsaudit.semantic.lazy import cst

    transform = argument(dataset_call, "transform") if isinstance(dataset_call, cst.Call) else None
    return [] if transform is None else [n for n in descendants(transform) if isinstance(n, cst.Call)]


def _related(semantic, fn, loaders_fns: set) -> bool:
    """The Normalize runs in the script that loads the dataset: the same function, the module
    body, or a function called from where the dataset is loaded."""
    if fn is None or fn.node is None or fn in loaders_fns or any(f is None or f.node is None for f in loaders_fns):
        return True
    owner = semantic.function_of_event()
    return any(owner.get(call) in loaders_fns for call in fn.callers)


RULE = ForeignNormalisationStats
