"""Skipping files that cannot matter changes no finding (issue 12, item 5).

A file is skipped only when it names none of the rules' vocabulary and no
file that does imports it (see clsaudit.relevance). The fixtures are
the rules' specification: every fixture file must be kept, and the
multi-file fixtures, with unrelated modules added around them, must give
the same findings with and without the skip.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from clsaudit.config import load_config
from clsaudit.engine import check_paths
from clsaudit.relevance import mentions_training, needed_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "static"
MULTI = sorted(p for p in (FIXTURES / "multi").iterdir() if p.is_dir())

NEUTRAL = '''"""String helpers: nothing a training rule could care about."""

import re


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
'''


def keys(result) -> list[tuple]:
    return sorted((Path(f.path).name, f.line, f.column, f.code, f.message) for f in result.findings)


def test_every_fixture_file_is_kept():
    """No fixture is skipped (but empty package markers), so every fixture finding survives the skip."""
    files = sorted(str(p) for p in FIXTURES.rglob("*.py") if p.read_text(encoding="utf-8").strip())
    relevant = [f for f in files if mentions_training(Path(f).read_text(encoding="utf-8", errors="replace"))]
    assert len(files) >= 200
    assert relevant == files


@pytest.mark.parametrize("fixture", MULTI, ids=[p.name for p in MULTI])
def test_same_findings_with_and_without_the_skip(tmp_path, fixture):
    tree = tmp_path / fixture.name
    shutil.copytree(fixture, tree)
    (tree / "text_tools.py").write_text(NEUTRAL)  # imported by nobody: skipped
    config = load_config(tree)
    kept = check_paths([str(tree)], config, use_cache=False, jobs=1, skip_irrelevant=False)
    skipped = check_paths([str(tree)], config, use_cache=False, jobs=1, skip_irrelevant=True)
    empty = sum(1 for p in tree.rglob("*.py") if not p.read_text(encoding="utf-8").strip())
    assert skipped.skipped == 1 + empty and skipped.analyzed == kept.analyzed - 1 - empty
    assert keys(skipped) == keys(kept)
    assert skipped.errors == kept.errors


def test_imports_of_relevant_files_are_kept():
    files = ["train.py", "helper.py", "deep.py", "caller.py", "alone.py"]
    deps = {
        "train.py": {"helper.py"},  # its summaries feed train.py
        "helper.py": {"deep.py"},  # and what feeds helper.py
        "caller.py": {"train.py"},  # no vocabulary of its own: nothing to report there
        "alone.py": set(),
        "deep.py": set(),
    }
    assert needed_files(files, deps, {"train.py"}) == {"train.py", "helper.py", "deep.py"}


def test_unrelated_helper_imported_by_a_training_script_is_parsed(tmp_path):
    (tmp_path / "train.py").write_text("import torch\nfrom text_tools import slug\n")
    (tmp_path / "text_tools.py").write_text(NEUTRAL)
    (tmp_path / "other.py").write_text(NEUTRAL)
    result = check_paths([str(tmp_path)], load_config(tmp_path), use_cache=False, jobs=1)
    assert (result.analyzed, result.skipped) == (2, 1)


def test_vocabulary():
    assert mentions_training("import torch\n")
    assert mentions_training("def step(model, opt):\n    loss.backward()\n")
    assert mentions_training("for x, y in train_loader:\n    pass\n")
    assert mentions_training("criterion = nn.CrossEntropyLoss()\n")
    assert not mentions_training("loader = importlib.machinery.SourceFileLoader(name, path)\n")
    assert mentions_training("mean = x_test.mean(axis=0)\n")  # CLS301 needs no torch
    assert mentions_training("clf.fit(x_test, y_test)\n")
    assert not mentions_training(NEUTRAL)
    assert not mentions_training("import os\nprint(os.stat('.'))\n")


def test_skipped_file_still_reports_syntax_errors(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n")
    result = check_paths([str(tmp_path / "broken.py")], load_config(tmp_path), use_cache=False)
    assert result.skipped == 1
    assert [e.render().split(": error: ")[1] for e in result.errors] == ["syntax error: invalid syntax"]
