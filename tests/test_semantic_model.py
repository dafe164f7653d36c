"""The semantic model's answers, asked directly (rules are tested through fixtures)."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from clsaudit.rules import all_rules
from clsaudit.semantic import SemanticModel, flow, values
from clsaudit.semantic.heuristics import split_of_name

ROOT = Path(__file__).resolve().parent.parent


def build(source: str) -> SemanticModel:
    return SemanticModel.build(cst.parse_module(source), "t.py", source=source)


def test_import_aliases_resolve_and_local_names_shadow_them() -> None:
    model = build(
        "import torch.nn.functional as F\n"
        "from torch.nn import CrossEntropyLoss as CE\n"
        "def f(x, y):\n"
        "    return CE()(F.softmax(x, 1), y)\n"
        "def g(F, x, y):\n"
        "    return CE()(F.softmax(x, 1), y)\n"
    )
    losses = list(model.events(flow.LOSS))
    assert [ev.detail for ev in losses] == ["ce", "ce"]
    assert losses[0].value.act == values.PROBS  # torch's softmax
    assert losses[1].value.act is None  # `F` is a parameter of g, not torch.nn.functional


def test_forward_output_of_module_classes_and_sequential() -> None:
    model = build(
        "import torch.nn as nn\n"
        "class A(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.head = nn.Sequential(nn.Linear(4, 2), nn.LogSoftmax(dim=1))\n"
        "    def forward(self, x):\n"
        "        return self.head(x)\n"
        "class B(A):\n"
        "    pass\n"
    )
    classes = {c.name: c for c in model.classes()}
    assert classes["A"].output().act == values.LOGPROBS
    assert classes["B"].output().act == values.LOGPROBS  # inherited forward


def test_mode_follows_the_loop_back_edge_and_helper_calls() -> None:
    model = build(
        "import torch\n"
        "def validate(model, loader):\n"
        "    model.eval()\n"
        "    with torch.no_grad():\n"
        "        for x, y in loader:\n"
        "            model(x).argmax(1)\n"
        "def main(model, opt, train_loader, val_loader):\n"
        "    model.train()\n"
        "    for epoch in range(3):\n"
        "        for x, y in train_loader:\n"
        "            opt.zero_grad()\n"
        "            model(x).sum().backward()\n"
        "            opt.step()\n"
        "        validate(model, val_loader)\n"
    )
    training = [f for f in model.state.model_calls.values() if f.role == "train"]
    assert len(training) == 1
    assert model.line(training[0].loop.node) == 10  # the batch loop, reached again in the second epoch
    assert set(training[0].modes) == {"train", "eval"}  # train on the first epoch, eval after validate()
    assert model.line(training[0].modes["eval"]) == 3  # the eval() inside the helper


@pytest.mark.parametrize(
    "name, split",
    [("x_test", "test"), ("testloader", "test"), ("val_acc", "val"), ("train_set", "train"),
     ("test_id", None), ("runtests", None), ("value", None), ("interval", None)],
)
def test_split_names_need_a_data_word(name: str, split: str | None) -> None:
    assert split_of_name(name) == split


def test_layout_and_split_flow_through_arrays() -> None:
    model = build(
        "import numpy as np\n"
        "import torch\n"
        "x_train = np.load('a.npy').reshape(-1, 32, 32, 3)\n"
        "x_test = np.load('b.npy')\n"
        "both = np.concatenate([x_train, x_test])\n"
        "mean = both.mean(axis=(0, 1, 2))\n"
        "t = torch.from_numpy(x_train).view(-1, 3, 32, 32)\n"
    )
    (stat,) = model.events(flow.STAT)
    assert stat.value.split == "train+test"
    (scramble,) = model.events(flow.LAYOUT_SCRAMBLE)
    assert model.line(scramble.node) == 7


def test_clean_files_never_pay_for_positions() -> None:
    """Line numbers need a second pass over the tree; only a finding may ask for it."""
    for path in sorted((ROOT / "fixtures" / "static" / "clean").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        model = SemanticModel.build(cst.parse_module(source), str(path), source=source)
        for rule in all_rules():
            assert list(rule.check(model)) == [], (path.name, rule.code)
        assert model._positions is None, path.name


HELPER = """
import torch
best = 0.0
def maybe_save(model, metric):
    if metric > best:
        torch.save(model.state_dict(), "best.pt")
def run(model, evaluate, val_loader, test_loader):
    val_acc = evaluate(model, val_loader)
    test_acc = evaluate(model, test_loader)
    {calls}
"""


@pytest.mark.parametrize(
    "calls, flagged",
    [(["maybe_save(model, test_acc)"], [10]),
     (["maybe_save(model, val_acc)"], []),
     (["maybe_save(model, val_acc)", "maybe_save(model, test_acc)"], [11]),
     (["maybe_save(model, test_acc)", "maybe_save(model, val_acc)"], [10])],
)
def test_a_helper_is_judged_at_each_call_site_whatever_the_order(calls: list, flagged: list) -> None:
    """The helper selects on its parameter; the call that passes a test metric is the one reported."""
    from clsaudit.rules.model_selection_on_test import ModelSelectionOnTest

    model = build(HELPER.format(calls="\n    ".join(calls)))
    found = [model.line(r.node) for r in ModelSelectionOnTest().check(model)]
    assert found == flagged
