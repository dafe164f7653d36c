"""[tool.clsaudit] discovery, validation and precedence against CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from clsaudit.cli import cli
from clsaudit.config import Config, ConfigError, apply_cli, load_config, path_matches


def write_project(root: Path, table: str) -> None:
    (root / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.clsaudit]\n{table}\n")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("print(1)\nxrange(2)\n")
    return tmp_path


def test_defaults_without_config(tmp_path):
    config = load_config(tmp_path)
    assert config.severity == "warning"
    assert config.is_enabled("CLS101") and config.is_enabled("CLS502")


def test_select_and_ignore_prefixes_most_specific_wins():
    config = Config(root=Path("."), select=("CLS1",), ignore=("CLS101",))
    assert not config.is_enabled("CLS101")
    assert config.is_enabled("CLS102")
    assert not config.is_enabled("CLS201")
    narrow = Config(root=Path("."), select=("CLS101",), ignore=("CLS1",))
    assert narrow.is_enabled("CLS101") and not narrow.is_enabled("CLS102")


def test_config_file_found_upward_from_the_checked_path(tmp_path):
    write_project(tmp_path, 'ignore = ["CLS2"]\nseverity = "error"')
    sub = tmp_path / "src" / "deep"
    sub.mkdir(parents=True)
    config = load_config(sub)
    assert config.root == tmp_path
    assert config.ignore == ("CLS2",) and config.severity == "error"


def test_config_ignore_applies(project, test_rules):
    write_project(project, 'ignore = ["CLS901"]')
    result = invoke("--severity", "info", "train.py")
    assert "CLS901" not in result.stdout and "CLS902" in result.stdout


def test_cli_select_overrides_config_select(project, test_rules):
    write_project(project, 'select = ["CLS902"]')
    assert "CLS901" not in invoke("train.py").stdout
    result = invoke("--select", "CLS901", "train.py")
    assert "CLS901" in result.stdout and "CLS902" not in result.stdout


def test_cli_severity_overrides_config(project, test_rules):
    write_project(project, 'severity = "error"')
    assert invoke("train.py").exit_code == 0  # warning + info only
    assert invoke("--severity", "warning", "train.py").exit_code == 1


def test_per_file_ignores_are_globs_relative_to_the_root(project, test_rules):
    write_project(project, '[tool.clsaudit.per-file-ignores]\n"scripts/*.py" = ["CLS9"]')
    (project / "scripts").mkdir()
    (project / "scripts" / "tool.py").write_text("print(1)\n")
    result = invoke(".")
    assert "scripts/tool.py" not in result.stdout
    assert "train.py:1:1: CLS901" in result.stdout


def test_exclude_from_config_and_cli(project, test_rules):
    write_project(project, 'exclude = ["legacy"]')
    (project / "legacy").mkdir()
    (project / "legacy" / "old.py").write_text("print(1)\n")
    (project / "gen_pb2.py").write_text("print(1)\n")
    result = invoke("--exclude", "*_pb2.py", ".")
    assert "legacy" not in result.stdout and "gen_pb2" not in result.stdout
    assert "train.py" in result.stdout


def test_explicit_config_path(project, test_rules):
    other = project / "other.toml"
    other.write_text('[tool.clsaudit]\nignore = ["CLS901"]\n')
    assert "CLS901" not in invoke("--config", str(other), "train.py").stdout
    assert invoke("--config", "missing.toml", "train.py").exit_code == 2


def test_unknown_key_warns(project, test_rules):
    write_project(project, 'selekt = ["CLS1"]\nper_file_ignores = {}')
    result = invoke("train.py")
    assert "unknown key 'selekt'" in result.stderr
    assert "did you mean 'per-file-ignores'" in result.stderr
    assert result.exit_code == 1  # still checked


@pytest.mark.parametrize(
    "table, message",
    [
        ('severity = "fatal"', "expected one of info, warning, error"),
        ('select = "CLS1x"', "is not a rule code"),
        ("select = [1]", "expected a list of rule codes"),
        ('exclude = "build"', "expected a list of glob strings"),
        ('per-file-ignores = ["x"]', "expected a table"),
    ],
)
def test_bad_values_are_usage_errors(project, test_rules, table, message):
    write_project(project, table)
    result = invoke("train.py")
    assert result.exit_code == 2
    assert message in result.output


def test_invalid_toml_is_a_usage_error(project, test_rules):
    (project / "pyproject.toml").write_text("[tool.clsaudit\nselect=")
    result = invoke("train.py")
    assert result.exit_code == 2
    assert "cannot read configuration" in result.output


def test_apply_cli_ignore_adds_to_config():
    config = apply_cli(Config(root=Path("."), ignore=("CLS1",)), ignore="CLS2")
    assert config.ignore == ("CLS1", "CLS2")
    with pytest.raises(ConfigError):
        apply_cli(config, severity="loud")


@pytest.mark.parametrize(
    "path, pattern, expected",
    [
        ("a/build/x.py", "build", True),
        ("a/x_pb2.py", "*_pb2.py", True),
        ("legacy/sub/x.py", "legacy/", True),
        ("scripts/old_a.py", "scripts/old_*.py", True),
        ("src/scripts/old_a.py", "scripts/old_*.py", False),
        ("a/b.py", "c", False),
    ],
)
def test_path_matches(path, pattern, expected):
    assert path_matches(path, pattern) is expected
