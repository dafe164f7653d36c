"""``.gitignore``, ``.ignore`` and ``.git/info/exclude`` are respected by default in walks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from clsaudit.cli import cli
from clsaudit.gitignore import GitIgnore, parse_line


def invoke(*args: str):
    return CliRunner().invoke(cli, ["--no-cache", *args], catch_exceptions=False)


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git" / "info").mkdir(parents=True)
    (tmp_path / "train.py").write_text("print(1)\n")
    code = tmp_path / "wandb" / "run-20240101_000000-abc" / "files" / "code"
    code.mkdir(parents=True)
    (code / "train.py").write_text("print(1)\n")
    (tmp_path / ".gitignore").write_text("# wandb's saved code copies\nwandb/\n")
    return tmp_path


def test_wandb_copies_are_skipped_by_default(repo, test_rules):
    result = invoke(".")
    assert "wandb" not in result.stdout and "train.py:1:1: CLS901" in result.stdout
    assert "in 1 file" in result.stdout
    everything = invoke("--no-respect-gitignore", ".")
    assert "wandb/run-20240101_000000-abc/files/code/train.py:1:1" in everything.stdout


def test_a_named_file_is_checked_even_if_ignored(repo, test_rules):
    result = invoke("wandb/run-20240101_000000-abc/files/code/train.py")
    assert result.exit_code == 1 and "CLS901" in result.stdout


def test_dot_ignore_info_exclude_negation_and_nesting(repo, test_rules):
    for name in ("keep.py", "scratch.py", "gen_1.py", "gen_keep.py"):
        (repo / name).write_text("print(1)\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "scratch.py").write_text("print(1)\n")
    (repo / "sub" / "local.py").write_text("print(1)\n")
    (repo / ".ignore").write_text("/scratch.py\n")  # anchored: only the top-level one
    (repo / ".git" / "info" / "exclude").write_text("gen_*.py\n!gen_keep.py\n")
    (repo / "sub" / ".gitignore").write_text("local.py\n")
    out = invoke(".").stdout
    checked = {line.split(":")[0] for line in out.splitlines() if ": CLS901" in line}
    assert checked == {"train.py", "keep.py", "gen_keep.py", "sub/scratch.py"}


@pytest.mark.parametrize(
    "pattern, path, is_dir, expected",
    [
        ("*.pt", "a/b/model.pt", False, True),
        ("build/", "build", False, False),
        ("build/", "build", True, True),
        ("doc/*.py", "doc/x.py", False, True),
        ("doc/*.py", "doc/sub/x.py", False, False),
        ("**/logs", "a/b/logs", True, True),
        ("a/**/z.py", "a/b/c/z.py", False, True),
        ("\\#x.py", "#x.py", False, True),
        ("ckpt[0-9].py", "ckpt7.py", False, True),
    ],
)
def test_patterns_follow_gitignore(tmp_path, pattern, path, is_dir, expected):
    (tmp_path / ".gitignore").write_text(pattern + "\n")
    ignore = GitIgnore(tmp_path)
    assert ignore.ignored(str(tmp_path / path), is_dir) is expected


def test_comments_and_blanks_are_not_patterns():
    assert parse_line("# comment") is None and parse_line("   ") is None
    assert parse_line("!keep.py").negated
