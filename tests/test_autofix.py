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
    """``clsNNN_unsafe_*`` pairs are fixed only with ``--unsafe-fixes``; plain ``--fix`` leaves them."""
    code = stem.split("_")[0].upper()
    unsafe = stem.endswith("_unsafe")
    flags = ["--unsafe-fixes"] if unsafe else []
    target = tmp_path / "train.py"
    shutil.copy(FIXES / f"{stem}_before.py", target)
    assert code in codes(target, code), "the before file must trigger the rule"
    if unsafe:
        invoke("--select", code, "--severity", "info", "--fix", str(target))
        assert target.read_bytes() == (FIXES / f"{stem}_before.py").read_bytes()
    invoke("--select", code, "--severity", "info", "--fix", *flags, str(target))
    fixed = target.read_text(encoding="utf-8")
    assert fixed == (FIXES / f"{stem}_after.py").read_text(encoding="utf-8")
    cst.parse_module(fixed)
    assert codes(target, code) == []
    invoke("--select", code, "--severity", "info", "--fix", *flags, str(target))
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
    beside_sampler = loop(loader="DataLoader(train_set, batch_size=8, shuffle=False, sampler=None)")
    assert fixes(beside_sampler, "CLS305", tmp_path) == ["DataLoader(train_set, batch_size=8, shuffle=True, sampler=None)"]
    named = loop(loader="DataLoader(train_set, batch_size=8, sampler=train_sampler)").replace(
        "    loader =", "    train_sampler = None\n    loader =")
    assert fixes(named, "CLS305", tmp_path) == [None]  # a sampler on another path would make it raise


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


# ---- property: generated loops with the buggy patterns ---------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

IDENTS = st.sampled_from(["model", "net", "self.model", "classifier"])
NAMES = st.sampled_from(["total", "running_loss", "epoch_loss", "acc_loss"])
INDENTS = st.sampled_from(["    ", "  ", "\t", "        "])


@st.composite
def training_scripts(draw) -> str:
    """A script with several of the fixable bugs, in varied spellings and nesting."""
    unit = draw(INDENTS)
    model = draw(IDENTS)
    total = draw(NAMES)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    comment = draw(st.booleans())
    lines: list[tuple[int, str]] = []

    def add(depth: int, text: str) -> None:
        if comment and draw(st.booleans()):
            lines.append((depth, "# a comment the fix must keep"))
        lines.append((depth, text))

    shuffle = draw(st.sampled_from(["", ", shuffle=False", ",\n        shuffle=False,\n    "]))
    accumulate = draw(st.sampled_from([f"{total} += loss", f"{total} = {total} + loss",
                                       f"{total} += criterion(out, y)"]))
    as_method = model.startswith("self.")
    base = 1 if as_method else 0
    head = ["import torch", "import torch.nn as nn", "from torch.utils.data import DataLoader", ""]
    if as_method:
        lines.append((0, "class Trainer:"))
        add(base, "def fit(self, optimizer, train_set, val_loader):")
    else:
        add(0, f"def fit({model}, optimizer, train_set, val_loader):")
    add(base + 1, "criterion = nn.CrossEntropyLoss()")
    add(base + 1, f"train_loader = DataLoader(train_set, batch_size=8{shuffle})")
    wrap = draw(st.booleans())
    depth = base + 1
    if wrap:
        add(depth, "if True:")
        depth += 1
    add(depth, "for epoch in range(3):")
    add(depth + 1, f"{total} = 0.0")
    if draw(st.booleans()):
        add(depth + 1, f"{model}.train()")
    add(depth + 1, "for x, y in train_loader:")
    if draw(st.booleans()):
        add(depth + 2, "optimizer.zero_grad()")
    add(depth + 2, f"out = {model}(x)")
    add(depth + 2, draw(st.sampled_from(["loss = criterion(out, y)",
                                         "loss = criterion(torch.softmax(out, dim=1), y)",
                                         "loss = criterion(out.softmax(1), y)"])))
    add(depth + 2, "loss.backward()")
    add(depth + 2, "optimizer.step()")
    add(depth + 2, accumulate)
    if draw(st.booleans()):
        add(depth + 1, "with torch.no_grad():")
        add(depth + 2, "for x, y in val_loader:")
        add(depth + 3, f"print({model}(x).argmax(1))")
    else:
        add(depth + 1, "for x, y in val_loader:")
        add(depth + 2, f"print({model}(x).argmax(1))")
    add(depth + 1, f"print(epoch, {total})")
    body = [unit * d + t.replace("\n", newline + unit * d) for d, t in lines]
    return newline.join(head + body) + newline


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=training_scripts(), unsafe=st.booleans())
def test_fixing_generated_loops_parses_and_converges(source, unsafe, tmp_path_factory):
    flags = ["--unsafe-fixes"] if unsafe else []
    path = tmp_path_factory.mktemp("gen") / "train.py"
    path.write_bytes(source.encode("utf-8"))
    cst.parse_module(source)  # the generator writes valid Python
    invoke("--severity", "info", "--fix", *flags, str(path))
    fixed = path.read_bytes()
    assert fixed != source.encode("utf-8"), "the training loader never shuffles: CLS305 always fixes"
    assert b"shuffle=True" in fixed and b"shuffle=False" not in fixed
    cst.parse_module(fixed.decode("utf-8"))
    assert ("\r\n" in source) == (b"\r\n" in fixed)  # line endings kept
    invoke("--severity", "info", "--fix", *flags, str(path))
    assert path.read_bytes() == fixed, "a second --fix changed the file"
    if unsafe:
        assert b"softmax" not in fixed  # the softmax in the loss call is the only one
    remaining = json.loads(invoke("--severity", "info", "--format", "json", *flags, str(path)).stdout)
    assert [f for f in remaining if f["fix"] is not None] == []


EVAL = """\
{imports}


def evaluate(model, loader):
    model.eval()
    correct = 0
    for x, y in loader:
        correct += (model(x).argmax(1) == y).sum().item()
    return correct
"""


def test_no_grad_fix_only_where_torch_is_the_module_name(tmp_path):
    wrapped = fixes(EVAL.format(imports="import torch"), "CLS204", tmp_path)
    assert wrapped == ["with torch.no_grad():\n        for x, y in loader:\n"
                       "            correct += (model(x).argmax(1) == y).sum().item()"]
    assert fixes(EVAL.format(imports="import torch as T"), "CLS204", tmp_path) == [None]


def test_no_grad_fix_withheld_when_the_loop_builds_a_tensor_that_is_backpropagated(tmp_path):
    source = """\
import torch
import torch.nn.functional as F


def accumulate(model, loader, optimizer):
    model.eval()
    total = 0
    for x, y in loader:
        total = total + F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
"""
    assert fixes(source, "CLS204", tmp_path) == [None]  # wrapping would break total.backward()


def test_fixer_applies_a_fix_at_its_own_span():
    """`fix_span`: the edit goes where the rule says, not over the reported node."""
    from clsaudit.findings import Finding
    from clsaudit.fixer import apply_edits

    text = "for b in data:\n    loss(b).backward()\n    opt.step()\n"
    finding = Finding("p", 3, 5, 3, 15, "CLS201", "n", "error", "m",
                      fix="opt.zero_grad()\n    loss(b).backward()", fix_span=(2, 5, 2, 23))
    fixed, applied, skipped = apply_edits(text, [finding])
    assert (applied, skipped) == (1, 0)
    assert fixed == "for b in data:\n    opt.zero_grad()\n    loss(b).backward()\n    opt.step()\n"
    assert Finding.from_dict(finding.to_dict()) == finding  # the cache round trip keeps the span


def test_json_output_keeps_the_design_keys_for_a_relocated_fix():
    result = invoke("--select", "CLS201", "--format", "json", str(FIXES / "cls201_before.py"))
    data = json.loads(result.stdout)
    assert data and all("fix_span" not in item for item in data)
    assert data[0]["fix"].startswith("backbone_opt.zero_grad()")


def test_relocated_fix_in_a_notebook_edits_only_that_cell(tmp_path):
    """The zero_grad() insertion lands in the loop's cell; magics and other cells stay as written."""
    notebook = Path(__file__).resolve().parent.parent / "fixtures" / "static" / "notebooks" / "buggy_mnist_colab.ipynb"
    path = tmp_path / "nb.ipynb"
    shutil.copy(notebook, path)
    before = json.loads(path.read_text(encoding="utf-8"))
    invoke("--select", "CLS201", "--fix", str(path))
    after = json.loads(path.read_text(encoding="utf-8"))
    changed = [i for i, (a, b) in enumerate(zip(before["cells"], after["cells"])) if a != b]
    assert changed == [6]
    source = "".join(after["cells"][6]["source"])
    assert source.startswith("%%time\n")
    assert "    for x, y in train_loader:\n        optimizer.zero_grad()\n        x, y = " in source
    assert invoke("--select", "CLS201", "--format", "json", str(path)).stdout.strip() == "[]"


def test_no_mode_fix_when_the_model_is_named_by_a_helper_parameter(tmp_path):
    source = """\
import torch


def forward(net, x):
    return net(x)


def fit(model, optimizer, train_loader, val_loader):
    for epoch in range(3):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        with torch.no_grad():
            for x, y in val_loader:
                print(forward(model, x).argmax(1))
"""
    assert fixes(source, "CLS203", tmp_path) == [None]  # `net.eval()` here would be a NameError


DDP = """\
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler


def loaders(train_set):
    {sampler_line}
    return DataLoader(train_set, batch_size=8, sampler={sampler_arg})


def main(model, optimizer, train_set):
    train_loader = loaders(train_set)
    for epoch in range(3):
        for x, y in train_loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
"""


def test_no_set_epoch_fix_when_the_epoch_loop_is_elsewhere_or_the_sampler_unnamed(tmp_path):
    elsewhere = DDP.format(sampler_line="sampler = DistributedSampler(train_set)", sampler_arg="sampler")
    assert fixes(elsewhere, "CLS306", tmp_path) == [None]
    inline = DDP.format(sampler_line="pass", sampler_arg="DistributedSampler(train_set)")
    assert fixes(inline, "CLS306", tmp_path) == [None]


def test_unsafe_fixes_are_withheld_everywhere_without_the_flag(tmp_path):
    """No `[*]`, no JSON fix, no diff for an unsafe fix unless --unsafe-fixes is given."""
    before = FIXES / "cls101_unsafe_before.py"
    text = invoke("--select", "CLS101", str(before)).stdout
    assert "CLS101" in text and "[*]" not in text
    assert fixes(before.read_text(encoding="utf-8"), "CLS101", tmp_path) == [None, None, None]
    assert invoke("--select", "CLS101", "--diff", str(before)).stdout == ""
    shown = invoke("--select", "CLS101", "--unsafe-fixes", "--diff", str(before))
    assert "+        loss = criterion(logits, labels)" in shown.stdout
    marked = invoke("--select", "CLS101", "--unsafe-fixes", str(before)).stdout
    assert marked.count("CLS101 [*]") == 3


def test_unsafe_fixes_through_standard_input():
    source = (FIXES / "cls101_unsafe_before.py").read_text(encoding="utf-8")
    plain = CliRunner().invoke(cli, ["--select", "CLS101", "--fix", "-"], input=source)
    assert plain.stdout == source
    fixed = CliRunner().invoke(cli, ["--select", "CLS101", "--fix", "--unsafe-fixes", "-"], input=source)
    assert fixed.stdout == (FIXES / "cls101_unsafe_after.py").read_text(encoding="utf-8")
