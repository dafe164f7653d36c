"""Edges of the issue-13 rules that whole-script fixtures do not pin down.

The fixtures under fixtures/static/{log_softmax,grad_clipping,mixup,clamp,label_aug,heads,splits} check
each rule both ways on realistic scripts; these tests pin the decisions a fixture would hide: the CLS105
fix and its idempotence, names resolved through imports rather than alias text, and the precision
guards (another dimension, exclusive branches, seeded draws, a fixed EMA decay).
"""

from __future__ import annotations

import textwrap

from clsaudit.analysis import analyze_source
from clsaudit.fixer import apply_edits
from clsaudit.rules import all_rules

HEADER = """\
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, random_split
from torchvision import datasets
"""


def findings(body: str, code: str) -> list:
    source = HEADER + textwrap.dedent(body)
    result = analyze_source("t.py", source.encode(), all_rules())
    assert result.error is None, result.error
    return [f for f in result.findings if f.code == code]


def lines(body: str, code: str) -> list[int]:
    return [f.line - HEADER.count("\n") for f in findings(body, code)]


LOOP = """\
model = nn.Linear(4, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    opt.zero_grad()
    loss = {loss}
    loss.backward()
    opt.step()
"""


def test_cls105_fix_drops_the_inline_log_softmax_and_is_idempotent() -> None:
    body = LOOP.format(loss="F.cross_entropy(F.log_softmax(model(x), dim=1), y)")
    source = HEADER + body
    found = [f for f in analyze_source("t.py", source.encode(), all_rules()).findings if f.code == "CLS105"]
    assert [f.fix for f in found] == ["F.cross_entropy(model(x), y)"]
    fixed, applied, _ = apply_edits(source, found)
    assert applied == 1 and "log_softmax" not in fixed
    again = analyze_source("t.py", fixed.encode(), all_rules()).findings
    assert not [f for f in again if f.code == "CLS105"]


def test_cls105_method_form_fix_and_no_fix_when_applied_elsewhere() -> None:
    assert [f.fix for f in findings(LOOP.format(loss="F.cross_entropy(model(x).log_softmax(-1), y)"), "CLS105")] == [
        "F.cross_entropy(model(x), y)"]
    body = LOOP.replace("    loss = {loss}", "    logp = F.log_softmax(model(x), 1)\n    loss = F.cross_entropy(logp, y)")
    assert [f.fix for f in findings(body, "CLS105")] == [None]


def test_cls105_silent_for_another_dimension_and_for_nll() -> None:
    assert not findings(LOOP.format(loss="F.cross_entropy(F.log_softmax(model(x), dim=0), y)"), "CLS105")
    assert not findings(LOOP.format(loss="F.nll_loss(F.log_softmax(model(x), dim=1), y)"), "CLS105")


def test_cls209_resolves_clip_through_imports_not_alias_text() -> None:
    body = """\
    model = nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    class utils:
        @staticmethod
        def clip_grad_norm_(params, value):
            return None
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        utils.clip_grad_norm_(model.parameters(), 1.0)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    """
    assert lines(body, "CLS209") == [12]


def test_cls307_fixed_coefficient_is_an_ema_not_a_mix() -> None:
    body = LOOP.format(loss="F.cross_entropy(model(x), y)").replace(
        "    opt.zero_grad()\n", "    opt.zero_grad()\n    x = 0.9 * x + (1 - 0.9) * x.flip(0)\n    decay = 0.99\n"
        "    x = decay * x + (1 - decay) * x.flip(0)\n")
    assert not findings(body, "CLS307")


def test_cls503_exclusive_branches_and_seeded_draws_are_silent() -> None:
    body = """\
    full = datasets.CIFAR10("data", train=True)
    if small:
        train_set, val_set = random_split(full, [45000, 5000])
    else:
        train_set, val_set = random_split(full, [40000, 10000])
    """
    assert not findings(body, "CLS503")
    body = """\
    full = datasets.CIFAR10("data", train=True)
    g = torch.Generator().manual_seed(0)
    a, _ = random_split(full, [45000, 5000], generator=g)
    _, b = random_split(full, [45000, 5000], generator=torch.Generator().manual_seed(0))
    """
    assert not findings(body, "CLS503")


def test_cls503_independent_permutations_sliced_for_train_and_val() -> None:
    body = """\
    first = np.random.permutation(50000)
    train_idx = first[:45000]
    second = np.random.permutation(50000)
    val_idx = second[45000:]
    """
    assert lines(body, "CLS503") == [3]


def test_cls402_unknown_class_count_is_silent() -> None:
    body = """\
    import torchvision
    data = datasets.ImageFolder("train")
    model = torchvision.models.resnet18()
    for x, y in DataLoader(data, shuffle=True):
        F.cross_entropy(model(x), y).backward()
    """
    assert not findings(body, "CLS402")


def test_cls307_contrast_jitter_with_a_random_factor_is_not_a_mix() -> None:
    body = LOOP.format(loss="F.cross_entropy(model(x), y)").replace(
        "    opt.zero_grad()\n", "    opt.zero_grad()\n    alpha = np.random.uniform(0.6, 1.4)\n"
        "    x = alpha * x + (1 - alpha) * x.mean()\n")
    assert not findings(body, "CLS307")
    mixed = body.replace("(1 - alpha) * x.mean()", "(1 - alpha) * x.flip(0)")
    assert lines(mixed, "CLS307") == [7]


def test_cls309_gan_on_mnist_is_silent() -> None:
    body = """\
    from torchvision import transforms as T
    tf = T.Compose([T.RandomVerticalFlip(), T.ToTensor()])
    data = datasets.MNIST("data", train=True, transform=tf)
    gen = nn.Linear(10, 784)
    opt = torch.optim.Adam(gen.parameters())
    for x, _ in DataLoader(data, shuffle=True):
        loss = F.binary_cross_entropy_with_logits(gen(torch.randn(8, 10)), x.flatten(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    """
    assert not findings(body, "CLS309")
    assert lines(body.replace("F.binary_cross_entropy_with_logits", "F.cross_entropy"), "CLS309") == [2]
