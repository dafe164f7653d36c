"""Models: ResNet-18 with the CIFAR stem, and a small ResNet that trains on a CPU.

Why the CIFAR stem differs from ImageNet's: the ImageNet ResNet opens with a
7x7 stride-2 convolution and a stride-2 max-pool, shrinking a 224x224 image
to 56x56 before the first residual block. On a 32x32 CIFAR image the same stem
leaves 8x8 feature maps after two layers and throws away most of the spatial
detail; accuracy drops by several points. The CIFAR stem is one 3x3 stride-1
convolution and no max-pool, so the first stage sees the full 32x32 image.

Both models return raw logits (no softmax): the loss applies log-softmax
itself, and predictions are the argmax of the logits.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (He et al., 2016)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        # Zero-init the last BN's scale: each block starts as the identity,
        # which makes the early steps of training stable at a high learning rate.
        nn.init.zeros_(self.bn2.weight)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            # A 1x1 projection when the shape changes, so the sum is well defined.
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """A ResNet for 32x32 inputs: CIFAR stem, residual stages, global pool, linear head.

    ``widths[i]`` channels and ``blocks[i]`` blocks in stage ``i``; every stage
    after the first halves the resolution.
    """

    def __init__(self, widths: tuple[int, ...], blocks: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        # The CIFAR stem: 3x3, stride 1, no max-pool (see the module docstring).
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages = []
        in_channels = widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks)):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(in_channels, width, stride)]
            layers += [BasicBlock(width, width) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            in_channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(torch.flatten(self.pool(x), 1))  # logits


def resnet18(num_classes: int = 10) -> CifarResNet:
    """ResNet-18 (11.2M parameters) with the CIFAR stem: ~95% on CIFAR-10 with this recipe."""
    return CifarResNet(widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), num_classes=num_classes)


def small_resnet(num_classes: int = 10) -> CifarResNet:
    """A ResNet-8 (78k parameters): one block per stage, widths 16-32-64. Trains in seconds."""
    return CifarResNet(widths=(16, 32, 64), blocks=(1, 1, 1), num_classes=num_classes)


MODELS = {"small": small_resnet, "resnet18": resnet18}


def build_model(name: str, num_classes: int) -> CifarResNet:
    """Build a model by its CLI name (``small`` or ``resnet18``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](num_classes)
