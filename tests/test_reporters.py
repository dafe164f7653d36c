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


# --- CI formats that GitHub accepts as they are (issue 15) -----------------

SCHEMA = Path(__file__).resolve().parent / "data" / "sarif" / "sarif-schema-2.1.0.json"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*:"
_URI_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})"


def _uri_reference(value: object) -> bool:
    """RFC 3986 URI-reference (the check jsonschema skips without optional packages)."""
    import re

    if not isinstance(value, str):
        return True
    match = re.fullmatch(rf"({_SCHEME})?({_URI_CHAR}*)(?:#({_URI_CHAR}*))?", value)
    if not match:
        return False
    return bool(match.group(1)) or ":" not in match.group(2).split("/")[0]


def _uri(value: object) -> bool:
    import re

    return not isinstance(value, str) or (_uri_reference(value) and bool(re.match(_SCHEME, value)))


def validate_sarif(log: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    checker = jsonschema.FormatChecker()
    checker.checks("uri-reference")(_uri_reference)
    checker.checks("uri")(_uri)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema, format_checker=checker).validate(log)


def test_our_uri_check_rejects_what_the_schema_forbids():
    assert _uri_reference("src/a%20b.py") and _uri_reference("file:///x/y/")
    for bad in ("src/a b.py", "src/100%.py", "src/a#b#c.py", "src/é.py"):
        assert not _uri_reference(bad), bad
    from clsaudit.reporters.locations import encode_uri_path

    assert encode_uri_path("a:b/c d.py") == "a%3Ab/c%20d.py"  # never read as a scheme


def test_sarif_validates_against_the_official_schema_with_awkward_paths(project, test_rules):
    (project / ".git").mkdir()
    awkward = project / "src" / "my run %1 #2 é.py"
    awkward.write_text("print(1)\n")
    (project / "src" / "bad.py").write_text("def f(:\n")
    result = invoke("--no-cache", "--format", "sarif", "src", "missing.py")
    assert result.exit_code == 2
    log = json.loads(result.stdout)
    validate_sarif(log)
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.as_uri() + "/"
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert "src/my%20run%20%251%20%232%20%C3%A9.py" in uris
    for r in run["results"]:
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert any("bad.py: not checked: syntax error" in t for t in texts)
    assert "missing.py: not checked: path does not exist" in texts


def test_sarif_for_only_missing_paths_still_says_why(project, test_rules):
    result = invoke("--format", "sarif", "nope.py")
    assert result.exit_code == 2
    log = json.loads(result.stdout)
    validate_sarif(log)
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"] == "nope.py: not checked: path does not exist"


def test_sarif_is_the_same_from_any_working_directory(project, test_rules, monkeypatch):
    (project / ".git").mkdir()
    from_root = json.loads(invoke("--no-cache", "--format", "sarif", "src").stdout)
    monkeypatch.chdir(project / "src")
    from_src = json.loads(invoke("--no-cache", "--format", "sarif", ".").stdout)

    def where(log):
        return [
            (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["partialFingerprints"])
            for r in log["runs"][0]["results"]
        ]

    assert where(from_root) == where(from_src)
    assert where(from_src)[0][0] == "src/train.py"


def test_sarif_notebook_locations_validate(project, test_rules):
    import shutil

    repo = Path(__file__).resolve().parent.parent
    shutil.copy(repo / "fixtures/static/notebooks/clean_mnist_colab.ipynb", project / "nb.ipynb")
    log = json.loads(invoke("--no-cache", "--format", "sarif", "nb.ipynb").stdout)
    validate_sarif(log)
    [result] = log["runs"][0]["results"]  # the print() in the last cell
    assert result["locations"][0]["properties"] == {"cell": 6}
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 7


def test_github_paths_are_relative_to_the_repository_root(project, test_rules, monkeypatch):
    (project / ".git").mkdir()
    monkeypatch.chdir(project / "src")
    line = invoke("--format", "github", "train.py").stdout.splitlines()[0]
    assert line.startswith("::warning file=src/train.py,line=2,")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(project.parent))
    line = invoke("--format", "github", "train.py").stdout.splitlines()[0]
    assert line.startswith(f"::warning file={project.name}/src/train.py,")


def test_junit_xml(project, test_rules):
    from xml.etree import ElementTree

    (project / "clean.py").write_text("x = 1\n")
    result = invoke("--no-cache", "--format", "junit", "src", "clean.py")
    assert result.exit_code == 1
    root = ElementTree.fromstring(result.stdout.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("failures") == "3" and root.get("errors") == "0"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"src/train.py", "clean.py"}
    failures = [f.get("type") for f in suites["src/train.py"].iter("failure")]
    assert failures == ["CLS901", "CLS902", "CLS901"]
    assert [c.get("name") for c in suites["clean.py"].iter("testcase")] == ["no findings"]
    case = next(suites["src/train.py"].iter("testcase"))
    assert case.get("name") == "CLS901 at 2:1" and case.get("line") == "2"
