"""CLS401: an ImageNet ResNet stem (7x7 stride-2 conv + maxpool) used on 32x32 images."""

from __future__ import annotations

import re
from collections.abc import Iterator

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow, values
from clsaudit.semantic.lazy import cst
from clsaudit.semantic.values import last

SMALL_DATASETS = {"CIFAR10", "CIFAR100", "SVHN"}
SMALL_SIZE = 32
TORCHVISION_RESNET = re.compile(r"^(resnet\d+|wide_resnet\d+_\d+|resnext\d+_\d+x\d+d)$")
TIMM_RESNET = re.compile(r"^(resnet|resnext|wide_resnet|seresnet|seresnext)\d")
STEM_LAYERS = ("conv1", "maxpool")
STEM_EDIT = re.compile(r"(?<!self)\.(conv1|maxpool)\s*=[^=]|setattr\([^)]*['\"](conv1|maxpool)['\"]")


class StockResnetStemOnSmallImages(Rule):
    code = "CLS401"
    name = "stock-resnet-stem-on-small-images"
    severity = "warning"
    summary = "torchvision/timm ResNet with the ImageNet stem (7x7 stride-2 conv + maxpool) trained on 32x32 images"
    doc = """\
## What it does
Finds a torchvision `resnet*`, `wide_resnet*` or `resnext*` constructor,
or `timm.create_model("resnet...")`, in a file whose data is 32x32
(CIFAR-10, CIFAR-100 or SVHN datasets, `RandomCrop(32)`, `Resize(32)`,
`reshape(-1, 3, 32, 32)`), when the stem is left as it is: no assignment
to `model.conv1` or `model.maxpool`, and no upsampling of the inputs
(`Resize(224)`, `F.interpolate`, `nn.Upsample`).

## Why is this bad
The ImageNet ResNet stem, a 7x7 convolution with stride 2 followed by a
3x3 max-pool with stride 2, reduces the input 4x in each direction before
the first residual block: designed for 224x224 images (56x56 after the
stem), it leaves a 32x32 image at 8x8, and the last stage works on 1x1
maps. The network trains and reaches a plausible accuracy, typically
several points below the same ResNet with the CIFAR stem that He et al.
used for their CIFAR-10 experiments (a 3x3 convolution, stride 1, no
max-pool).

## Example
```python
model = torchvision.models.resnet18(num_classes=10)
train_set = torchvision.datasets.CIFAR10("data", train=True, transform=T.Compose(
    [T.RandomCrop(32, padding=4), T.ToTensor()]))
```

## Use instead
```python
model = torchvision.models.resnet18(num_classes=10)
model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
model.maxpool = nn.Identity()
# or keep the stem of ImageNet-pretrained weights and feed them ImageNet-sized inputs:
# T.Resize(224)
```

## References
- He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016: section 3.4 and
  Table 1 (ImageNet stem: 7x7 conv stride 2, 3x3 max pool stride 2) and section 4.2 (CIFAR-10: the first
  layer is a 3x3 convolution on 32x32 images, feature maps of sizes 32, 16 and 8).
- torchvision `models/resnet.py`: `self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)` and
  `self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)`.
"""

    def check(self, semantic):
        constructors = list(resnet_constructors(semantic))
        if not constructors:
            return
        evidence = small_image_evidence(semantic)
        if evidence is None or _inputs_upsampled(semantic) or _stem_replaced(semantic):
            return
        seen: set[int] = set()
        for node, arch in constructors:
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield Report(node, f"{arch} keeps the ImageNet stem (7x7 stride-2 conv + maxpool) but the data is "
                               f"32x32 ({evidence()}): a 32x32 image is 8x8 before the first block; replace "
                               "conv1 with a 3x3 stride-1 conv and maxpool with nn.Identity()")


def small_image_evidence(semantic):
    """Why the file's images are 32x32, as a function that words it ('CIFAR10 at line 18'), or None.

    The wording needs line numbers, which cost a pass over the tree: only pay it for a finding.
    """
    for ev in semantic.events(flow.DATASET_NEW):
        name = _dataset_name(ev)
        if name in SMALL_DATASETS:
            return lambda ev=ev, name=name: f"{name} at line {semantic.line(ev.node)}"
    for ev in semantic.events(flow.IMAGE_SIZE):
        if isinstance(ev.detail, int) and ev.detail == SMALL_SIZE:
            return lambda ev=ev: f"{semantic.code(ev.node, 30)} at line {semantic.line(ev.node)}"
    return None


def _dataset_name(ev) -> str | None:
    value = ev.value
    if value is None:
        return None
    if isinstance(value.detail, str):
        return value.detail
    return last(value.qual) if value.qual else None


def _inputs_upsampled(semantic) -> bool:
    if any(True for _ in semantic.events(flow.UPSAMPLE)):
        return True
    return any(isinstance(ev.detail, int) and ev.detail >= 64 for ev in semantic.events(flow.IMAGE_SIZE))


def _stem_replaced(semantic) -> bool:
    for ev in semantic.events(flow.LAYER_REPLACE):
        if ev.ref and ev.ref.split(".")[-1] in STEM_LAYERS:
            return True
    return bool(STEM_EDIT.search(semantic.source))


def resnet_constructors(semantic) -> Iterator[tuple[cst.Call, str]]:
    """Constructor calls of ImageNet-stem ResNets: bound to a name, or returned by a builder."""
    made = [ev.value for ev in semantic.events(flow.NEW_MODEL) if ev.value is not None]
    made += [fi.returns for fi in semantic.all_functions() if fi.returns.kind == values.MODEL]
    for value in made:
        node = value.node
        if not isinstance(node, cst.Call):
            continue
        arch = resnet_arch(value.qual, node)
        if arch is not None:
            yield node, arch


def resnet_arch(qual: str | None, call: cst.Call) -> str | None:
    if not qual:
        return None
    if qual.startswith("torchvision.models.") and TORCHVISION_RESNET.match(last(qual)):
        return f"torchvision {last(qual)}"
    if qual == "timm.create_model":
        name = _string_arg(call, "model_name", 0)
        if name and TIMM_RESNET.match(name.split(".")[0]):
            return f"timm {name}"
    if qual == "torch.hub.load":
        name = _string_arg(call, "model", 1)
        if name and TORCHVISION_RESNET.match(name):
            return f"torch.hub {name}"
    return None


def _string_arg(call: cst.Call, keyword: str, position: int) -> str | None:
    positional = [a for a in call.args if a.keyword is None and not a.star]
    expr = None
    for a in call.args:
        if a.keyword is not None and a.keyword.value == keyword:
            expr = a.value
    if expr is None and position < len(positional):
        expr = positional[position].value
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


RULE = StockResnetStemOnSmallImages
