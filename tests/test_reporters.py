"""The four output formats: exact JSON keys, SARIF GitHub accepts, annotation lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from clsaudit.cli import cli
from clsaudit.findings import Finding
from clsaudit.reporters.github_reporter import escape_property
from clsaudit.reporters.text_reporter import marker

DESIGN_KEYS = {
    "path", "line", "column", "end_line", "end_column",
    "code", "name", "severity", "message", "fix",
}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("x = 1\nprint(x)\nfor i in xrange(3):\n    print(i)\n")
    return tmp_path


def test_json_has_exactly_the_design_keys(project, test_rules):
    result = invoke("--format", "json", "src")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [d["code"] for d in data] == ["CLS901", "CLS902", "CLS901"]
    for item in data:
        assert set(item) == DESIGN_KEYS
    first = data[0]
    assert (first["line"], first["column"], first["end_line"], first["end_column"]) == (2, 1, 2, 9)
    assert first["path"] == "src/train.py" and first["fix"] is None
    assert data[1]["fix"] == "range" and data[1]["severity"] == "info"


def test_json_with_no_findings_is_an_empty_array(project, test_rules):
    (project / "clean.py").write_text("x = 1\n")
    result = invoke("--format", "json", "clean.py")
    assert json.loads(result.stdout) == [] and result.exit_code == 0


def test_json_parse_errors_go_to_stderr(project, test_rules):
    (project / "bad.py").write_text("def f(:\n")
    result = invoke("--format", "json", "bad.py")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == []
    assert "bad.py:1:7: error: syntax error" in result.stderr


def test_sarif_has_the_fields_code_scanning_needs(project, test_rules):
    result = invoke("--format", "sarif", "src")
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0" and "sarif-2.1.0" in log["$schema"]
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "clsaudit" and driver["version"] and driver["informationUri"]
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == ["CLS901", "CLS902", "CLS903"]  # every enabled rule, not only those found
    for rule in driver["rules"]:
        assert rule["name"] and rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {"CLS901": "warning", "CLS902": "note"}
    first = run["results"][0]
    assert driver["rules"][first["ruleIndex"]]["id"] == first["ruleId"]
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/train.py"
    assert location["region"] == {"startLine": 2, "startColumn": 1, "endLine": 2, "endColumn": 9}
    assert first["message"]["text"] == "print called"
    fingerprints = [r["partialFingerprints"]["clsaudit/v1"] for r in run["results"]]
    assert len(set(fingerprints)) == 3


def test_sarif_fingerprint_survives_moving_lines(project, test_rules):
    before = json.loads(invoke("--format", "sarif", "src").stdout)
    path = project / "src" / "train.py"
    path.write_text("# a new comment\n\n" + path.read_text())
    after = json.loads(invoke("--format", "sarif", "src").stdout)

    def prints(log):
        return [r["partialFingerprints"] for r in log["runs"][0]["results"]]

    assert prints(before) == prints(after)


def test_sarif_reports_parse_errors_as_notifications(project, test_rules):
    (project / "bad.py").write_text("def f(:\n")
    log = json.loads(invoke("--format", "sarif", "bad.py").stdout)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    note = invocation["toolExecutionNotifications"][0]
    assert "syntax error" in note["message"]["text"]


def test_github_annotation_lines(project, test_rules):
    result = invoke("--format", "github", "src")
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "::warning file=src/train.py,line=2,col=1,endLine=2,endColumn=9,"
        "title=CLS901 print-call::print called"
    )
    assert lines[1].startswith("::notice file=src/train.py,line=3,")


def test_github_escapes_properties():
    assert escape_property("a,b:c%") == "a%2Cb%3Ac%25"


def test_text_marker_under_the_span_with_tabs():
    finding = Finding("p", 1, 3, 1, 6, "CLS901", "n", "warning", "m")
    shown, carets = marker(finding, "\tx=abc")
    assert shown == "    x=abc"
    assert carets == "     ^^^"  # under "=ab": the tab is 4 columns wide


def test_text_is_coloured_only_when_asked(project, test_rules, monkeypatch):
    plain = invoke("src")
    assert "\x1b[" not in plain.stdout
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = invoke("src")
    assert "\x1b[" in coloured.stdout
    assert "\x1b[" not in invoke("--no-color", "src").stdout
