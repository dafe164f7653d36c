"""The check command end to end: routing, options, exit codes, engine, cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from clsaudit import analysis, engine
from clsaudit.cli import cli
from clsaudit.config import Config

REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "train.py").write_text("x = 1\nprint(x)\n")
    (tmp_path / "clean.py").write_text("x = 1\n")
    return tmp_path


def test_paths_route_to_check_by_default(project, test_rules):
    implicit = invoke("train.py", "--no-cache")
    explicit = invoke("check", "train.py", "--no-cache")
    assert implicit.exit_code == explicit.exit_code == 1
    assert implicit.stdout == explicit.stdout
    assert "train.py:2:1: CLS901 [print-call] print called" in implicit.stdout


def test_options_before_paths_also_route_to_check(project, test_rules):
    result = invoke("--select", "CLS901", "train.py")
    assert result.exit_code == 1
    assert "CLS901" in result.stdout


def test_clean_file_exits_zero(project, test_rules):
    result = invoke("clean.py")
    assert result.exit_code == 0
    assert "No findings in 1 file." in result.stdout


def test_exit_zero_keeps_findings_but_exits_zero(project, test_rules):
    result = invoke("--exit-zero", "train.py")
    assert result.exit_code == 0
    assert "CLS901" in result.stdout


def test_select_and_ignore_on_the_command_line(project, test_rules):
    assert invoke("--select", "CLS902", "train.py").exit_code == 0
    assert invoke("--ignore", "CLS9", "train.py").exit_code == 0
    assert invoke("--ignore", "cls902", "train.py").exit_code == 1


def test_bad_code_is_a_usage_error(project, test_rules):
    result = invoke("--select", "banana", "train.py")
    assert result.exit_code == 2
    assert "not a rule code" in result.output


def test_severity_threshold(project, test_rules):
    (project / "old.py").write_text("for i in xrange(3):\n    pass\n")
    info_only = invoke("old.py")
    assert info_only.exit_code == 0  # info findings are reported, not failing
    assert "CLS902" in info_only.stdout
    assert invoke("--severity", "info", "old.py").exit_code == 1
    assert invoke("--severity", "error", "train.py").exit_code == 0


def test_quiet_prints_only_finding_lines(project, test_rules):
    result = invoke("-q", "train.py")
    assert result.stdout.splitlines() == ["train.py:2:1: CLS901 [print-call] print called"]


def test_text_output_shows_source_and_marker(project, test_rules):
    result = invoke("train.py")
    lines = result.stdout.splitlines()
    assert lines[1] == "    print(x)"
    assert lines[2] == "    ^^^^^^^^"
    assert lines[-1] == "Found 1 finding (1 warning) in 1 file."


def test_statistics_counts_per_code(project, test_rules):
    (project / "more.py").write_text("print(1)\nprint(2)\nxrange(1)\n")
    result = invoke("--statistics", "more.py")
    assert "2  CLS901  print-call" in result.stdout
    assert "1  CLS902  xrange-name" in result.stdout


def test_missing_path_is_reported_and_others_still_checked(project, test_rules):
    result = invoke("nope.py", "train.py")
    assert result.exit_code == 2
    assert "nope.py: error: path does not exist" in result.stderr
    assert "CLS901" in result.stdout


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("clsaudit ")


def test_rules_lists_catalogue_plain_and_json():
    from clsaudit.rules import all_rules

    plain = invoke("rules")
    assert plain.exit_code == 0
    data = json.loads(invoke("rules", "--format", "json").stdout)
    assert [row["code"] for row in data] == [rule.code for rule in all_rules()]
    for row in data:
        assert set(row) == {"code", "name", "severity", "summary", "fixable"}
        assert row["code"] in plain.stdout


def test_explain_unknown_code_exits_2_with_suggestions():
    result = invoke("explain", "CLS9999")
    assert result.exit_code == 2
    assert "unknown rule 'CLS9999'" in result.stderr


def test_explain_prints_documentation():
    from clsaudit.rules import all_rules

    rules = all_rules()
    if not rules:
        pytest.skip("the catalogue is empty")
    result = invoke("explain", rules[0].code.lower())
    assert result.exit_code == 0
    assert rules[0].name in result.stdout
    assert "## What it does" in result.stdout


def test_help_lists_lazy_commands_without_importing_torch():
    code = (
        "import sys\n"
        "from clsaudit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "probe" in out.stdout and "train-reference" in out.stdout


def test_lazy_command_that_cannot_load_exits_2(monkeypatch):
    from clsaudit import cli as cli_module

    monkeypatch.setitem(
        cli_module.LAZY_COMMANDS, "probe", ("clsaudit.no_such_module", "probe", "Probe.")
    )
    result = invoke("probe", "train.py")
    assert result.exit_code == 2
    assert "error:" in result.stderr


def test_subprocess_exit_codes(tmp_path, run_cli):
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "bad.py").write_text("def f(:\n    pass\n")
    ok = run_cli("ok.py", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = run_cli("bad.py", cwd=tmp_path)
    assert bad.returncode == 2
    assert "bad.py:1:7: error: syntax error" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = run_cli("missing.py", cwd=tmp_path)
    assert missing.returncode == 2
    assert "path does not exist" in missing.stderr


def test_subprocess_buggy_example_fails(run_cli):
    from clsaudit.rules import all_rules

    if not all_rules():
        pytest.skip("the catalogue is empty")
    result = run_cli("--no-cache", "fixtures/examples/buggy_train.py", cwd=REPO)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CLS101" in result.stdout


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    from clsaudit import cli as cli_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "run_check", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main(["x.py"])
    assert exit_info.value.code == 130
    assert "Traceback" not in capsys.readouterr().err


# --- engine ----------------------------------------------------------------


def _write_package(root: Path) -> None:
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text("import torch\nVALUE = 1\n")
    (pkg / "train.py").write_text("from pkg import models\nfrom .models import VALUE\nprint(1)\n")
    (pkg / "evaluate.py").write_text("from . import train\nprint(2)\n")
    for i in range(6):  # enough files for the process pool
        (root / f"script{i}.py").write_text(f"import utils\nprint({i})\n")
    (root / "utils.py").write_text("xrange(3)\n")


def test_summaries_follow_local_imports(tmp_path, test_rules):
    _write_package(tmp_path)
    config = Config(root=tmp_path)
    result = engine.check_paths([str(tmp_path)], config, use_cache=False, jobs=1)
    seen = {Path(f.path).name: f.message for f in result.findings if f.code == "CLS903"}
    assert seen["train.py"] == "summaries: pkg,pkg.models"  # the package too
    assert seen["evaluate.py"] == "summaries: pkg,pkg.train"
    assert seen["script0.py"] == "summaries: utils"
    assert "models.py" not in seen and "utils.py" not in seen


def test_parallel_and_serial_results_are_identical(tmp_path, test_rules):
    _write_package(tmp_path)
    config = Config(root=tmp_path)
    serial = engine.check_paths([str(tmp_path)], config, use_cache=False, jobs=1)
    parallel = engine.check_paths([str(tmp_path)], config, use_cache=False, jobs=2)
    assert serial.findings == parallel.findings
    assert parallel.analyzed == len(parallel.files) == 11


def test_warm_cache_parses_nothing(tmp_path, test_rules, monkeypatch):
    _write_package(tmp_path)
    config = Config(root=tmp_path)
    cold = engine.check_paths([str(tmp_path)], config, jobs=1)
    calls = []
    real = analysis.analyze_source
    monkeypatch.setattr(analysis, "analyze_source", lambda *a, **k: calls.append(a) or real(*a, **k))
    warm = engine.check_paths([str(tmp_path)], config, jobs=1)
    assert calls == [] and warm.analyzed == 0
    assert warm.findings == cold.findings
    # A changed dependency re-checks it and the files whose summaries changed.
    (tmp_path / "utils.py").write_text("xrange(4)\nVALUE = 2\n")
    again = engine.check_paths([str(tmp_path)], config, jobs=1)
    assert 1 <= again.analyzed < len(again.files)


def test_corrupt_cache_entry_is_ignored(tmp_path, test_rules, isolated_cache):
    (tmp_path / "a.py").write_text("print(1)\n")
    config = Config(root=tmp_path)
    first = engine.check_paths([str(tmp_path / "a.py")], config)
    entries = [p for p in isolated_cache.rglob("*.json")]
    assert len(entries) == 1
    entries[0].write_text("{not json")
    second = engine.check_paths([str(tmp_path / "a.py")], config)
    assert second.analyzed == 1 and second.findings == first.findings


def test_cache_dir_defaults_to_project_root(project, test_rules, monkeypatch):
    monkeypatch.delenv("CLSAUDIT_CACHE_DIR")
    assert invoke("train.py").exit_code == 1
    assert (project / ".clsaudit_cache" / ".gitignore").is_file()
    assert invoke("--no-cache", "clean.py").exit_code == 0


def test_a_crashing_rule_becomes_an_error_not_a_traceback(tmp_path, monkeypatch):
    from clsaudit.rule import Rule

    class Broken(Rule):
        code, name, severity, summary, doc = "CLS999", "broken", "error", "x", ""

        def check(self, model):
            raise RuntimeError("boom")

    (tmp_path / "a.py").write_text("x = 1\n")
    result = engine.check_paths(
        [str(tmp_path / "a.py")], Config(root=tmp_path), rules=[Broken()], use_cache=False
    )
    assert len(result.errors) == 1
    assert "internal error: RuntimeError: boom" in result.errors[0].message


# --- editor and fix conventions (issue 15) ---------------------------------


def test_stdin_is_checked_as_the_named_path(project, test_rules):
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.clsaudit.per-file-ignores]\n"scripts/*" = ["CLS901"]\n'
    )
    source = "print(1)\nxrange(2)\n"
    runner = CliRunner()
    plain = runner.invoke(cli, ["-", "--stdin-filename", "train.py"], input=source)
    assert plain.exit_code == 1
    assert "train.py:1:1: CLS901 [print-call] print called" in plain.stdout
    assert "    print(1)" in plain.stdout  # the buffer's own lines, not the file on disk
    ignored = runner.invoke(cli, ["-", "--stdin-filename", "scripts/new.py"], input=source)
    assert "CLS901" not in ignored.stdout and "scripts/new.py:2:1: CLS902" in ignored.stdout
    assert not (project / "scripts").exists()


def test_stdin_fix_prints_the_fixed_source(project, test_rules):
    result = CliRunner().invoke(cli, ["-", "--fix", "--stdin-filename", "a.py"], input="n = xrange(3)\n")
    assert result.stdout == "n = range(3)\n"
    assert result.exit_code == 0


def test_stdin_notebook(project, test_rules):
    notebook = (REPO / "fixtures/static/notebooks/clean_mnist_colab.ipynb").read_text()
    result = CliRunner().invoke(cli, ["-", "--stdin-filename", "nb.ipynb"], input=notebook)
    assert "nb.ipynb:cell 6:line 7:col 1: CLS901" in result.stdout


def test_dash_cannot_be_mixed_with_paths(project, test_rules):
    assert invoke("-", "train.py").exit_code == 2
    assert invoke("--stdin-filename", "x.py", "train.py").exit_code == 2


def test_output_file(project, test_rules):
    result = invoke("--format", "json", "--output-file", "report.json", "train.py")
    assert result.exit_code == 1 and result.stdout == ""
    assert json.loads((project / "report.json").read_text())[0]["code"] == "CLS901"


def test_fixable_findings_are_marked(project, test_rules):
    (project / "train.py").write_text("print(1)\nn = xrange(3)\n")
    lines = invoke("train.py").stdout.splitlines()
    assert "train.py:2:5: CLS902 [*] [xrange-name] use range" in lines
    assert "train.py:1:1: CLS901 [print-call] print called" in lines
    assert lines[-1] == "[*] 1 fixable with `--fix`."
    assert "fixable" not in invoke("clean.py").stdout


def test_diff_honours_exit_zero(project, test_rules):
    (project / "train.py").write_text("n = xrange(3)\n")
    assert invoke("--diff", "train.py").exit_code == 1
    result = invoke("--diff", "--exit-zero", "train.py")
    assert result.exit_code == 0 and "+n = range(3)" in result.stdout
    assert (project / "train.py").read_text() == "n = xrange(3)\n"


def test_broken_pipe_exits_zero_quietly(tmp_path):
    import subprocess

    (tmp_path / "f.py").write_text("import torch.nn.functional as F\ny = F.softmax(z, 1).argmax(1)\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "clsaudit", "--no-cache", "-j", "1", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before the first write: that write fails
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_summary_colour_follows_the_exit_code(project, test_rules, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    red, green, yellow = "\x1b[1;31m", "\x1b[1;32m", "\x1b[1;33m"
    (project / "bad.py").write_text("def f(:\n")
    broken = invoke("bad.py", "clean.py")
    assert broken.exit_code == 2
    assert red + "No findings in 2 files." in broken.stdout
    assert green + "No findings in 1 file." in invoke("clean.py").stdout
    assert red + "Found 1 finding" in invoke("train.py").stdout
    assert yellow + "Found 1 finding" in invoke("--exit-zero", "train.py").stdout
