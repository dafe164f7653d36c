"""The rules' own autofixes: each before/after pair in ``fixtures/fixes``.

``--fix`` must turn ``clsNNN_before.py`` into ``clsNNN_after.py`` exactly; the
result must parse, no longer trigger the rule, and a second ``--fix`` must
change nothing (DESIGN: "--fix edits only what it reports ... a second run
changes nothing"). A hypothesis test then feeds generated training loops
with the buggy patterns through the same path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import libcst as cst
import pytest
from click.testing import CliRunner
from clsaudit.cli import cli

FIXES = Path(__file__).resolve().parent.parent / "fixtures" / "fixes"
PAIRS = sorted(p.name[: -len("_before.py")] for p in FIXES.glob("*_before.py"))


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def codes(path: Path, code: str) -> list[str]:
    result = invoke("--select", code, "--severity", "info", "--format", "json", str(path))
    return [f["code"] for f in json.loads(result.stdout)]


def test_every_pair_is_complete():
    assert PAIRS, "no fixture pairs found"
    for stem in PAIRS:
        assert (FIXES / f"{stem}_after.py").is_file(), stem


@pytest.mark.parametrize("stem", PAIRS)
def test_fix_turns_before_into_after(stem, tmp_path):
    code = stem.split("_")[0].upper()
    target = tmp_path / "train.py"
    shutil.copy(FIXES / f"{stem}_before.py", target)
    assert code in codes(target, code), "the before file must trigger the rule"
    invoke("--select", code, "--severity", "info", "--fix", str(target))
    fixed = target.read_text(encoding="utf-8")
    assert fixed == (FIXES / f"{stem}_after.py").read_text(encoding="utf-8")
    cst.parse_module(fixed)
    assert codes(target, code) == []
    invoke("--select", code, "--severity", "info", "--fix", str(target))
    assert target.read_text(encoding="utf-8") == fixed


@pytest.mark.parametrize("stem", PAIRS)
def test_after_files_are_clean_for_their_rule(stem):
    code = stem.split("_")[0].upper()
    assert codes(FIXES / f"{stem}_after.py", code) == []


def fixes(source: str, code: str, tmp_path: Path) -> list:
    """The `fix` field of each finding of ``code`` in ``source``."""
    path = tmp_path / "train.py"
    path.write_text(source, encoding="utf-8")
    result = invoke("--select", code, "--severity", "info", "--format", "json", str(path))
    return [f["fix"] for f in json.loads(result.stdout)]


LOOP = """\
import torch.nn as nn
from torch.utils.data import DataLoader


def main(model, optimizer, train_set):
    criterion = nn.CrossEntropyLoss({criterion})
    loader = {loader}
    for epoch in range(3):
        total = 0.0
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            {accumulate}
        print(total)
"""


def loop(criterion: str = "", loader: str = "DataLoader(train_set, batch_size=8)",
         accumulate: str = "total += loss") -> str:
    return LOOP.format(criterion=criterion, loader=loader, accumulate=accumulate)


def test_no_item_fix_where_item_could_raise_or_is_not_the_loss(tmp_path):
    assert fixes(loop(), "CLS205", tmp_path) == ["total += loss.item()"]
    assert fixes(loop(criterion='reduction="none"'), "CLS205", tmp_path) == [None]
    assert fixes(loop(accumulate="total += loss * x.size(0)"), "CLS205", tmp_path) == [None]


def test_no_shuffle_fix_where_shuffle_could_be_passed_twice(tmp_path):
    assert fixes(loop(), "CLS305", tmp_path) == ["DataLoader(train_set, batch_size=8, shuffle=True)"]
    assert fixes(loop(loader="DataLoader(train_set, 8, False)"), "CLS305", tmp_path) == [None]


def test_no_mode_fix_for_an_evaluation_inside_an_expression(tmp_path):
    source = """\
import torch


def evaluate(net, loader):
    return sum((net(x).argmax(1) == y).sum().item() for x, y in loader)


def fit(net, optimizer, train_loader, val_loader):
    for epoch in range(3):
        net.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
        with torch.no_grad():
            print(evaluate(net, val_loader))
"""
    assert fixes(source, "CLS203", tmp_path) == [None]  # reported, not fixed
