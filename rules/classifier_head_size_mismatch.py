"""CLS402: a classifier head whose output size is not the dataset's number of classes."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule


class ClassifierHeadSizeMismatch(Rule):
    code = "CLS402"
    name = "classifier-head-size-mismatch"
    severity = "error"
    summary = "Final layer sized for another number of classes than the dataset has (1000 on CIFAR-10, 10 on CIFAR-100)"
    doc = """\
## What it does
Compares the output size of the classifier trained in a file with the class
count of the torchvision dataset it loads (CIFAR-10: 10, CIFAR-100: 100,
MNIST and SVHN: 10, Food101: 101, ...). The head is read where its size is a
literal: `nn.Linear(512, 10)` at the end of a module's `forward` or an
`nn.Sequential`, a new head written into a model (`model.fc =
nn.Linear(...)`), `num_classes=10` passed to a model constructor, or a
torchvision/timm constructor left at its 1000 ImageNet classes with no head
replaced. The finding points at that layer or constructor. A head sized
from `len(dataset.classes)`, a config value or an argument is not flagged,
nor a file whose datasets disagree or have a class count clsaudit cannot
know (`ImageFolder`, EMNIST, a local dataset class).

## Why is this bad
With more outputs than classes (an ImageNet head on CIFAR-10), training
runs without error: the spare 990 logits are pushed down forever, the first
loss is ln(1000) instead of ln(10), and the softmax spreads probability
mass over classes that do not exist, which hurts calibration and, with
pretrained weights, the transfer itself. With fewer outputs than classes
(10 on CIFAR-100), labels 10-99 index past the logits: a device-side assert
on the GPU, an index error on the CPU, or a model that can never predict
nine tenths of the classes if the labels were remapped to fit.

## Example
```python
train = datasets.CIFAR100("data", train=True, transform=tf)
model = torchvision.models.resnet18(num_classes=10)
```

## Use instead
```python
train = datasets.CIFAR100("data", train=True, transform=tf)
model = torchvision.models.resnet18(num_classes=len(train.classes))
```

## References
- torchvision models docs: every classification constructor takes `num_classes` (default 1000).
- The runtime probe confirms a head that is too small: its label check (PRB012) fails when labels reach past the logits. A head that is too large is invisible to it today (the probe reads the class count from the logits' width).
"""

    def check(self, semantic):
        from clsaudit.semantic.facts import datasets as D  # libcst only when a file is checked
        from clsaudit.semantic.facts.heads import heads

        known = D.file_class_count(semantic)
        if known is None:
            return
        classes, dataset = known
        if not D.trains_a_classifier(semantic):
            return
        for head in heads(semantic):
            if head.outputs != classes:
                yield Report(head.node, f"{head.how} gives {head.outputs} outputs, but {D.class_name(dataset)} "
                                        f"(line {semantic.line(dataset.node)}) has {classes} classes: size the head "
                                        "from the data")


RULE = ClassifierHeadSizeMismatch
