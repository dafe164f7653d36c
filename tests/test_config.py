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


# --- a gate that cannot be opened by accident (issue 15) -------------------


@pytest.mark.parametrize(
    "args, table, message",
    [
        (("--select", "CLS110"), "", "--select: unknown rule code 'CLS110' (nearest valid code: CLS90"),
        (("--ignore", "CLS8"), "", "--ignore: unknown rule code 'CLS8'"),
        (("--extend-select", "CLS9011"), "", "is not a rule code"),
        ((), 'select = ["CLS999"]', "select: unknown rule code 'CLS999' (nearest valid code: CLS90"),
        ((), 'ignore = ["CLS199"]', "unknown rule code 'CLS199'"),
        ((), '[tool.clsaudit.per-file-ignores]\n"t*.py" = ["CLS7"]', "unknown rule code 'CLS7'"),
    ],
)
def test_unknown_codes_anywhere_are_usage_errors(project, test_rules, args, table, message):
    if table:
        write_project(project, table)
    result = invoke(*args, "train.py")
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_code_against_the_real_catalogue_names_the_nearest():
    from clsaudit.config import parse_codes

    with pytest.raises(ConfigError, match=r"'CLS110' \(nearest valid code: CLS10\d\)"):
        parse_codes("CLS110", "--select")
    assert parse_codes("cls2, CLS101,ALL", "x") == ("CLS2", "CLS101", "CLS")


def _two_configs(root: Path) -> None:
    write_project(root, 'ignore = ["CLS902"]')
    (root / "pkg").mkdir()
    (root / "pkg" / "pyproject.toml").write_text('[tool.clsaudit]\nignore = ["CLS901"]\n')
    (root / "pkg" / "train.py").write_text("print(1)\nxrange(2)\n")
    (root / "scripts").mkdir()
    (root / "scripts" / "train.py").write_text("print(1)\nxrange(2)\n")


def test_each_file_gets_its_nearest_config_whatever_the_argument_order(project, test_rules):
    _two_configs(project)
    one = invoke("--no-cache", "pkg/train.py", "scripts/train.py")
    other = invoke("--no-cache", "scripts/train.py", "pkg/train.py")
    assert one.stdout == other.stdout and one.exit_code == other.exit_code == 1
    assert "pkg/train.py:2:1: CLS902" in one.stdout and "pkg/train.py:1:1: CLS901" not in one.stdout
    assert "scripts/train.py:1:1: CLS901" in one.stdout and "scripts/train.py:2:1: CLS902" not in one.stdout


def test_extend_inherits_the_parent_settings(project, test_rules):
    _two_configs(project)
    (project / "pkg" / "pyproject.toml").write_text(
        '[tool.clsaudit]\nextend = "../pyproject.toml"\nseverity = "error"\n'
    )
    result = invoke("--no-cache", "pkg/train.py")
    assert "CLS902" not in result.stdout  # ignore inherited
    assert "pkg/train.py:1:1: CLS901" in result.stdout
    assert result.exit_code == 0  # its own severity: a warning does not fail


def test_extend_cycles_and_missing_targets_are_usage_errors(project, test_rules):
    write_project(project, 'extend = "pyproject.toml"')
    assert "cycle" in invoke("train.py").output
    write_project(project, 'extend = "../nope/pyproject.toml"')
    result = invoke("train.py")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_nested_config_exclude_applies_to_its_files(project, test_rules):
    _two_configs(project)
    (project / "pkg" / "pyproject.toml").write_text('[tool.clsaudit]\nexclude = ["train.py"]\n')
    result = invoke("--no-cache", ".")
    assert "pkg/train.py" not in result.stdout and "scripts/train.py" in result.stdout


def test_sarif_rules_do_not_depend_on_argument_order(project, test_rules):
    import json

    _two_configs(project)
    (project / "pyproject.toml").write_text('[tool.clsaudit]\nselect = ["CLS902"]\n')
    (project / "pkg" / "pyproject.toml").write_text('[tool.clsaudit]\nselect = ["CLS901"]\n')

    def rules(*paths):
        log = json.loads(invoke("--no-cache", "--format", "sarif", *paths).stdout)
        return [rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]]

    assert rules("pkg/train.py", "scripts/train.py") == rules("scripts/train.py", "pkg/train.py")
    assert rules("scripts/train.py", "pkg/train.py") == ["CLS901", "CLS902"]
