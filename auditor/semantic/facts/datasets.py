"""What clsaudit knows about torchvision's dataset classes: class counts, and which hold glyphs.

Only datasets whose class count does not depend on a constructor argument
are listed (EMNIST's depends on ``split``, so it has no entry): a rule that
compares a head with a class count must be sure of the count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from clsaudit.semantic import flow, values

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.model import SemanticModel

CLASS_COUNTS = {
    "MNIST": 10, "FashionMNIST": 10, "KMNIST": 10, "QMNIST": 10, "USPS": 10, "SVHN": 10,
    "CIFAR10": 10, "CIFAR100": 100, "STL10": 10, "EuroSAT": 10, "GTSRB": 43, "DTD": 47,
    "Food101": 101, "Flowers102": 102, "OxfordIIITPet": 37, "StanfordCars": 196, "Country211": 211,
    "Caltech101": 101, "Imagenette": 10, "PCAM": 2, "RenderedSST2": 2, "FER2013": 7,
}

# Digits, characters and text: a mirrored or upside-down glyph is another glyph (6 and 9, b and d)
# or none at all, so flips and large rotations change (or destroy) the label.
GLYPH_DATASETS = {"MNIST", "EMNIST", "KMNIST", "QMNIST", "SVHN", "USPS", "Omniglot", "SEMEION"}


def dataset_events(model: "SemanticModel") -> list[flow.Event]:
    """Constructions of torchvision dataset classes in the file (the model's DATASET_NEW events)."""
    return [ev for ev in model.events(flow.DATASET_NEW) if ev.value is not None and isinstance(ev.value.detail, str)]


def class_name(ev: flow.Event) -> str:
    return ev.value.detail if ev.value is not None and isinstance(ev.value.detail, str) else ""


def file_class_count(model: "SemanticModel") -> Optional[tuple[int, flow.Event]]:
    """The one class count every dataset built in this file agrees on, with the first such dataset.

    None when the file builds no dataset, a dataset whose count is not known
    (``ImageFolder``, EMNIST, a local class), or datasets of different counts
    (a script that switches between CIFAR-10 and CIFAR-100).
    """
    events = dataset_events(model)
    if not events:
        return None
    if any(_filtered(model, ev) for ev in events):
        return None  # `[(x, remap[y]) for x, y in cifar10 if y in (0, 2)]`: the classes trained are a subset
    counts = {CLASS_COUNTS.get(class_name(ev)) for ev in events}
    if len(counts) != 1 or None in counts:
        return None
    return counts.pop(), events[0]


def _filtered(model: "SemanticModel", ev: flow.Event) -> bool:
    """The dataset is read through a filtering comprehension, so its class count is not the one trained."""
    import re

    return any(re.search(rf"\bin\s+{re.escape(name)}\s+if\b", model.source) for name in model.names_of(ev.node))


def is_transform(value) -> bool:
    return value is not None and value.kind == values.TRANSFORM


def trains_a_classifier(model: "SemanticModel") -> bool:
    """The file computes a cross-entropy or NLL loss somewhere (the labels matter)."""
    return any(f in {"ce", "nll"} for ev in model.events(flow.LOSS) for f, _ in model.resolve_loss_flavour(ev))


def trains_something_else(model: "SemanticModel") -> bool:
    """The file computes losses, none of them cross-entropy or NLL (a GAN, an autoencoder).
    A file with no loss at all (a data module) is not evidence either way."""
    flavours = {f for ev in model.events(flow.LOSS) for f, _ in model.resolve_loss_flavour(ev)}
    has_loss = any(True for _ in model.events(flow.LOSS))
    return has_loss and not flavours & {"ce", "nll"}
