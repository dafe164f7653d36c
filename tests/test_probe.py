"""The runtime probe end to end: mutants, clean scripts, factories and hard edges.

Each case runs ``clsaudit probe`` (the click command, in-process) which starts
the real child process. Steps are few and models tiny so the suite stays
within a few minutes on two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner
from clsaudit.probe.command import probe

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probe"
STEPS = "12"

# End to end through the launcher: one mutant (the whole matrix runs in-process
# in test_probe_styles.py) and the three original clean styles.
MUTANT_CHECK = {"missing_zero_grad": "PRB003"}
# Bugs only an active check sees: the factory form (fixtures/probe/factories.py).
FACTORY_CHECK = {
    "make_test_in_train": "PRB105",
    "make_batch_mixing": "PRB102",
}
CLEAN_SCRIPTS = ["clean_accumulation.py", "clean_functional.py", "clean_trainer.py"]


# The static rule each mutant's failing check must name.
MUTANT_RULE = {
    "PRB008": "CLS101",
    "PRB003": "CLS201",
    "PRB006": "CLS202",
    "PRB007": "CLS203",
    "PRB009": None,
    "PRB010": "CLS303",
    "PRB011": "CLS305",
    "PRB005": "CLS208",
    "PRB013": "CLS207",
    "PRB105": "CLS502",
    "PRB102": None,
}


def run_probe(*args: str) -> tuple[int, dict]:
    args = list(args)
    cut = args.index("--") if "--" in args else len(args)
    # One torch thread: the suite shares a small machine, and oversubscribed
    # OpenMP threads slow torch far more than they help.
    args[cut:cut] = ["--format", "json", "--threads", "1"]
    result = CliRunner().invoke(probe, args, catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def verdicts(report: dict) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in report["checks"]}


def failed(report: dict) -> set[str]:
    return {c["id"] for c in report["checks"] if c["verdict"] == "fail"}


def test_every_mutant_has_a_fixture_and_the_suite_has_three_clean_styles():
    scripts = {p.stem.removeprefix("mutant_") for p in FIXTURES.glob("mutant_*.py")}
    assert set(MUTANT_CHECK) <= scripts
    assert all((FIXTURES / name).is_file() for name in CLEAN_SCRIPTS)


@pytest.mark.parametrize("name", CLEAN_SCRIPTS)
def test_clean_script_passes_every_check(name):
    code, report = run_probe(str(FIXTURES / name), "--steps", STEPS)
    assert failed(report) == set(), report["checks"]
    assert code == 0
    assert 4 <= len(report["steps"]) <= int(STEPS)
    # The passive checks had something to look at.
    seen = verdicts(report)
    for check in ("PRB001", "PRB003", "PRB006", "PRB008", "PRB009", "PRB010", "PRB011"):
        assert seen[check] == "pass", (check, report["checks"])


@pytest.mark.parametrize("bug", sorted(MUTANT_CHECK))
def test_mutant_fails_exactly_its_check(bug):
    code, report = run_probe(str(FIXTURES / f"mutant_{bug}.py"), "--steps", STEPS)
    assert failed(report) == {MUTANT_CHECK[bug]}, report["checks"]
    assert code == 1
    check = next(c for c in report["checks"] if c["verdict"] == "fail")
    assert check["rule"] == MUTANT_RULE[check["id"]]
    assert check["numbers"] or check["message"]


@pytest.mark.parametrize("factory", ["make_clean", "make_clean_object"])
def test_clean_factory_passes_passive_and_active_checks(factory):
    code, report = run_probe(f"{FIXTURES / 'factories.py'}:{factory}", "--steps", "8")
    assert failed(report) == set(), report["checks"]
    assert code == 0
    seen = verdicts(report)
    for check in ("PRB101", "PRB102", "PRB103", "PRB104", "PRB105"):
        assert seen[check] == "pass", (check, report["checks"])
    # The probe runs a factory's loop itself: the loop checks have nothing to see.
    assert [seen[c] for c in ("PRB003", "PRB006", "PRB007")] == ["n/a"] * 3


@pytest.mark.parametrize("factory", sorted(FACTORY_CHECK))
def test_factory_mutant_fails_exactly_its_active_check(factory):
    code, report = run_probe(f"{FIXTURES / 'factories.py'}:{factory}", "--steps", "8")
    assert failed(report) == {FACTORY_CHECK[factory]}, report["checks"]
    assert code == 1
    check = next(c for c in report["checks"] if c["verdict"] == "fail")
    assert check["rule"] == MUTANT_RULE[check["id"]]


def test_reference_pipeline_self_test_passes():
    code, report = run_probe("--steps", "4")
    assert report["mode"] == "factory"
    assert failed(report) == set(), report["checks"]
    assert code == 0
    assert all(verdicts(report)[c] == "pass" for c in ("PRB101", "PRB102", "PRB103", "PRB105"))


def test_script_arguments_after_double_dash_reach_the_script():
    code, report = run_probe(
        str(FIXTURES / "clean_functional.py"), "--steps", "3", "--", "--lr", "0.01", "--epochs", "1"
    )
    assert code == 0
    assert report["steps"][0]["lr"] == pytest.approx(0.01)


def test_script_that_raises_reports_the_users_traceback_and_exits_2():
    result = CliRunner().invoke(probe, [str(FIXTURES / "edge_raises.py"), "--threads", "1"])
    assert result.exit_code == 2
    out = result.output
    assert "your script raised" in out
    assert "Traceback (most recent call last):" in out
    assert "edge_raises.py" in out and "train_step" in out
    assert "RuntimeError" in out or "ValueError" in out
    assert "runpy" not in out and "recorder.py" not in out  # probe frames trimmed


def test_crash_from_labels_out_of_range_is_explained_by_its_check():
    code, report = run_probe(str(FIXTURES / "edge_labels_out_of_range.py"))
    assert code == 2
    assert report["error"]["type"] == "IndexError"
    assert [(c["id"], c["verdict"]) for c in report["checks"]] == [("PRB012", "fail")]
    assert "1..10" in report["checks"][0]["message"]


def test_script_that_exits_early_reports_what_was_seen_as_text_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "probe.png"
    result = CliRunner().invoke(
        probe, [str(FIXTURES / "edge_exits_early.py"), "--steps", "20", "--plot", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "3 steps observed (the script exited with code 0 first)" in text
    assert "PRB003" in text and "CLS201" in text
    assert "loss per step" in text and "layers by gradient norm" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_script_that_exits_before_training_exits_2():
    code, report = run_probe(str(FIXTURES / "edge_exits_before_training.py"))
    assert code == 2
    assert "no optimizer step observed" in report["message"]
    assert "exited with code 3" in report["message"]
    assert "checking data... none found" in report["script_output_tail"]


def test_hanging_script_is_killed_at_the_timeout():
    started = time.perf_counter()
    code, report = run_probe(str(FIXTURES / "edge_hangs.py"), "--timeout", "3")
    assert time.perf_counter() - started < 30
    assert code == 2
    assert report["status"] == "timeout"
    assert "timed out after 3.0 s" in report["message"]


def test_missing_script_and_bad_target_are_usage_errors():
    result = CliRunner().invoke(probe, ["no_such_script.py"])
    assert result.exit_code == 2
    result = CliRunner().invoke(probe, ["not a target"])
    assert result.exit_code == 2


def test_command_module_does_not_import_torch():
    code = "import sys, clsaudit.probe, clsaudit.probe.command; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_missing_torch_is_a_clear_message(monkeypatch):
    from clsaudit.probe import command

    real = command.importlib.util.find_spec
    monkeypatch.setattr(
        command.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    result = CliRunner().invoke(probe, [])
    assert result.exit_code == 2
    assert "pip install 'clsaudit[torch]'" in result.output


def test_cli_registers_the_probe_command():
    out = subprocess.run(
        [sys.executable, "-m", "clsaudit", "probe", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "--steps" in out.stdout and "--timeout" in out.stdout
