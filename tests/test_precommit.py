"""The README's pre-commit snippet, run by the real ``pre-commit`` against a local clone.

The clone is this working tree committed into a scratch repository (so
the test checks the code under test, not the last commit). The hook
environment is built offline: virtualenv may see the already installed
dependencies (libcst, click, rich) and pip may not reach an index, which
is also how the test stays free of the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "auditor", "rules", "reference_pipeline")
GIT = ["git", "-c", "user.name=clsaudit-test", "-c", "user.email=test@invalid", "-c", "commit.gpgsign=false"]


def readme_snippet() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Pre-commit", 1)[1]
    return re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)


def make_clone(target: Path) -> str:
    target.mkdir()
    for name in SHIPPED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
    subprocess.run([*GIT, "commit", "-qm", "clsaudit under test"], cwd=target, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=target, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_readme_snippet_runs_both_hooks_on_a_staged_notebook(tmp_path):
    pytest.importorskip("pre_commit", reason="pre-commit is not installed (pip install pre-commit)")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    rev = make_clone(tmp_path / "clsaudit")
    snippet = readme_snippet()
    assert re.search(r"^\s+rev: [0-9a-f]{40}\b", snippet, re.MULTILINE), "document rev as a commit"
    config = re.sub(r"(repo: )\S+", lambda m: m.group(1) + str(tmp_path / "clsaudit"), snippet, count=1)
    config = re.sub(r"(rev: )\S+", lambda m: m.group(1) + rev, config, count=1)
    config = config.replace("# - id: clsaudit-fix", "- id: clsaudit-fix")
    user = tmp_path / "user"
    user.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=user, check=True)
    (user / ".pre-commit-config.yaml").write_text(config)
    notebook = user / "train.ipynb"
    shutil.copy(REPO / "fixtures/static/notebooks/buggy_mnist_colab.ipynb", notebook)
    subprocess.run([*GIT, "add", "-A"], cwd=user, check=True)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "VIRTUALENV_SYSTEM_SITE_PACKAGES": "1",  # reuse the installed libcst/click/rich
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip reads "0" as "do not isolate"
    }
    run = subprocess.run([sys.executable, "-m", "pre_commit", "run"], cwd=user, env=env,
                         capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "files were modified by this hook" in output  # clsaudit-fix fixed CLS104
    assert "train.ipynb:cell 7:line 7:col 16: CLS101" in output
    assert "train.ipynb:cell 7:line 9:col 9: CLS201" in output
    assert "pred = model(x.to(device)).argmax(1)" in notebook.read_text()
