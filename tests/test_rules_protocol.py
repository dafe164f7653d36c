"""Tricky cases of the protocol rules: CLS207 (scheduler), CLS208 (optimizer params), CLS401 (ResNet stem).

Each case is a small inline script; whole-script fixtures live under
``fixtures/static/protocol``. The non-findings matter as much as the findings.
"""

from __future__ import annotations

import textwrap

import pytest
from clsaudit.analysis import analyze_source
from clsaudit.rules.optimizer_misses_parameters import OptimizerMissesParameters
from clsaudit.rules.scheduler_misuse import SchedulerMisuse
from clsaudit.rules.stock_resnet_stem_on_small_images import StockResnetStemOnSmallImages


def lines(rule, source: str) -> list[int]:
    code = textwrap.dedent(source)
    result = analyze_source("case.py", code.encode(), [rule])
    assert result.error is None, result.error
    return sorted(f.line for f in result.findings)


def marked(source: str) -> list[int]:
    return [no for no, line in enumerate(textwrap.dedent(source).splitlines(), 1) if "# here" in line]


def messages(rule, source: str) -> list[str]:
    result = analyze_source("case.py", textwrap.dedent(source).encode(), [rule])
    return [f.message for f in result.findings]


HEAD = """\
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR, StepLR, MultiStepLR, LambdaLR
"""

# ---- CLS207 --------------------------------------------------------------------------------------

CLS207_CASES = {
    "multistep_literal_per_batch": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = MultiStepLR(optimizer, milestones=[100, 150])
for epoch in range(200):
    for x, y in train_loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        scheduler.step()  # here
""",
    "cosine_epoch_expression_per_batch": HEAD + """
def train(model, loader, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs - 5)
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            scheduler.step()  # here
""",
    "cosine_steps_per_epoch": HEAD + """
def train(model, loader, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        scheduler.step()  # here
""",
    "scheduler_passed_to_helper_before_step": HEAD + """
def train_step(model, batch, optimizer, scheduler):
    x, y = batch
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    scheduler.step()  # here
    optimizer.step()

def main(model, loader):
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = OneCycleLR(optimizer, max_lr=1e-3, total_steps=10 * len(loader))
    for epoch in range(10):
        for batch in loader:
            train_step(model, batch, optimizer, scheduler)
""",
    "epoch_start_before_helper_training": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = StepLR(optimizer, step_size=30)
for epoch in range(90):
    scheduler.step()  # here
    train_one_epoch(model, train_loader, optimizer)

def train_one_epoch(model, loader, optimizer):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
""",
}

CLS207_CLEAN = {
    "full_batch_epoch_loop": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = StepLR(optimizer, step_size=30)
for epoch in range(300):
    optimizer.zero_grad()
    F.cross_entropy(model(X), Y).backward()
    optimizer.step()
    scheduler.step()
""",
    "explicit_epoch_argument": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = CosineAnnealingLR(optimizer, T_max=100)
for epoch in range(100):
    for i, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        scheduler.step(epoch + i / len(loader))
""",
    "stepped_at_epoch_end_inside_batch_loop": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = CosineAnnealingLR(optimizer, T_max=100)
for epoch in range(100):
    for i, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if i == len(loader) - 1:
            scheduler.step()
""",
    "unknown_size": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = StepLR(optimizer, step_size=args.lr_step)
for epoch in range(100):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        scheduler.step()
""",
    "guarded_epoch_start": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = MultiStepLR(optimizer, milestones=[30, 60])
for epoch in range(90):
    if epoch > 0:
        scheduler.step()
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
""",
    "onecycle_one_step_per_epoch": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = OneCycleLR(optimizer, max_lr=0.1, epochs=30, steps_per_epoch=1)
for epoch in range(30):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    scheduler.step()
""",
    "plateau_per_epoch_with_metric": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
for epoch in range(30):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    scheduler.step(val_loss)
""",
    "lambda_warmup_per_batch": HEAD + """
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 500))
for epoch in range(30):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        scheduler.step()
""",
}


@pytest.mark.parametrize("name", sorted(CLS207_CASES))
def test_cls207_finds(name: str) -> None:
    source = CLS207_CASES[name]
    assert lines(SchedulerMisuse(), source) == marked(source)


@pytest.mark.parametrize("name", sorted(CLS207_CLEAN))
def test_cls207_stays_silent(name: str) -> None:
    assert lines(SchedulerMisuse(), CLS207_CLEAN[name]) == []


def test_cls207_message_names_the_schedule_and_the_optimizer_step() -> None:
    (msg,) = messages(SchedulerMisuse(), CLS207_CASES["multistep_literal_per_batch"])
    assert "MultiStepLR built at line 8" in msg and "milestones=[100, 150]" in msg and "line 13" in msg


# ---- CLS208 --------------------------------------------------------------------------------------

CLS208_CASES = {
    "head_replaced_in_helper_after_optimizer": """
import torch
import torch.nn as nn
import torchvision

def set_head(model, n):
    model.fc = nn.Linear(512, n)  # here

model = torchvision.models.resnet18(weights="DEFAULT")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
set_head(model, 10)
""",
    "self_model_head_replaced_in_method": """
import torch
import torch.nn as nn
import torchvision

class Trainer:
    def __init__(self):
        self.model = torchvision.models.resnet18(weights="DEFAULT")
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01)

    def adapt(self, n):
        self.model.fc = nn.Linear(512, n)  # here
""",
    "requires_grad_after_head_only_optimizer": """
import torch
import torch.nn as nn
import torchvision

model = torchvision.models.resnet18(weights="DEFAULT")
model.requires_grad_(False)
model.fc = nn.Linear(512, 10)
optimizer = torch.optim.Adam(model.fc.parameters())
train(model, optimizer)
model.requires_grad_(True)  # here
train(model, optimizer)
""",
}

CLS208_CLEAN = {
    "parameter_free_layer_swapped": """
import torch
import torch.nn as nn
import torchvision

model = torchvision.models.resnet18(weights="DEFAULT")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
model.fc = nn.Identity()
model.maxpool = nn.Identity()
""",
    "optimizer_rebuilt_after_replacement": """
import torch
import torch.nn as nn
import torchvision

model = torchvision.models.resnet18(weights="DEFAULT")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
model.fc = nn.Linear(512, 10)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
""",
    "input_requires_grad_for_saliency": """
import torch
import torchvision

model = torchvision.models.resnet18(weights="DEFAULT")
optimizer = torch.optim.Adam(model.fc.parameters())
images.requires_grad_(True)
x.requires_grad = True
""",
    "unfreeze_then_new_optimizer_in_helper": """
import torch
import torchvision

def make_optimizer(model):
    return torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.01)

model = torchvision.models.resnet18(weights="DEFAULT")
optimizer = torch.optim.Adam(model.fc.parameters())
for p in model.parameters():
    p.requires_grad = True
optimizer = make_optimizer(model)
""",
    "stage_loop_rebuilds_optimizer": """
import torch
import torchvision

model = torchvision.models.resnet18(weights="DEFAULT")
for stage in range(3):
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.01)
    train(model, optimizer)
    for p in model.parameters():
        p.requires_grad = True
""",
    "unfreezing_what_the_optimizer_holds": """
import torch
import torchvision

model = torchvision.models.resnet18(weights="DEFAULT")
optimizer = torch.optim.Adam(model.fc.parameters())
for p in model.fc.parameters():
    p.requires_grad = True
""",
    "full_optimizer_then_unfreeze": """
import torch
import torchvision

model = torchvision.models.resnet18(weights="DEFAULT")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for p in model.parameters():
    p.requires_grad = True
""",
    "builder_with_its_own_model_after_optimizer": """
import torch
import torch.nn as nn
import torchvision

def make_student():
    model = torchvision.models.resnet18()
    model.fc = nn.Linear(512, 10)
    return model

model = torchvision.models.resnet50(weights="DEFAULT")
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
student = make_student()
""",
}


@pytest.mark.parametrize("name", sorted(CLS208_CASES))
def test_cls208_finds(name: str) -> None:
    source = CLS208_CASES[name]
    assert lines(OptimizerMissesParameters(), source) == marked(source)


@pytest.mark.parametrize("name", sorted(CLS208_CLEAN))
def test_cls208_stays_silent(name: str) -> None:
    assert lines(OptimizerMissesParameters(), CLS208_CLEAN[name]) == []


def test_cls208_message_names_the_optimizer() -> None:
    (msg,) = messages(OptimizerMissesParameters(), CLS208_CASES["head_replaced_in_helper_after_optimizer"])
    assert "line 10" in msg and "model.parameters()" in msg


# ---- CLS401 --------------------------------------------------------------------------------------

CLS401_CASES = {
    "returned_by_builder_reshape_32": """
import numpy as np
import torch
import torchvision

def build():
    return torchvision.models.resnet18(num_classes=10)  # here

x = torch.from_numpy(np.load("x.npy")).reshape(-1, 3, 32, 32)
model = build()
""",
    "svhn_wide_resnet": """
import torchvision
from torchvision.models import wide_resnet50_2

model = wide_resnet50_2(num_classes=10)  # here
data = torchvision.datasets.SVHN("data", split="train")
""",
    "timm_keyword_name": """
import timm
from torchvision import datasets

model = timm.create_model(model_name="resnet50d", num_classes=100)  # here
train = datasets.CIFAR100("data", train=True)
""",
}

CLS401_CLEAN = {
    "stem_replaced_on_self_model": """
import torch.nn as nn
import torchvision

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torchvision.models.resnet18(num_classes=10)
        self.backbone.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.backbone.maxpool = nn.Identity()

data = torchvision.datasets.CIFAR10("data")
""",
    "interpolated_in_forward": """
import torch.nn as nn
import torch.nn.functional as F
import torchvision

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torchvision.models.resnet50(weights="DEFAULT")

    def forward(self, x):
        return self.backbone(F.interpolate(x, size=224, mode="bilinear"))

data = torchvision.datasets.CIFAR10("data")
""",
    "not_a_resnet": """
import torchvision

model = torchvision.models.mobilenet_v3_small(num_classes=10)
data = torchvision.datasets.CIFAR10("data")
""",
    "no_small_image_evidence": """
import torchvision

model = torchvision.models.resnet18(num_classes=10)
data = torchvision.datasets.ImageFolder("data/train")
""",
}


@pytest.mark.parametrize("name", sorted(CLS401_CASES))
def test_cls401_finds(name: str) -> None:
    source = CLS401_CASES[name]
    assert lines(StockResnetStemOnSmallImages(), source) == marked(source)


@pytest.mark.parametrize("name", sorted(CLS401_CLEAN))
def test_cls401_stays_silent(name: str) -> None:
    assert lines(StockResnetStemOnSmallImages(), CLS401_CLEAN[name]) == []
