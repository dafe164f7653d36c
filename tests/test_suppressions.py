"""Inline ``# clsaudit: ignore[...]``, ``# noqa: CLS...`` and file-wide ``ignore-file`` comments."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from clsaudit import engine
from clsaudit.cli import cli
from clsaudit.config import Config
from clsaudit.findings import Finding
from clsaudit.suppressions import (
    apply_suppressions,
    filter_suppressed,
    parse_suppressions,
    unused_suppressions,
)


def finding(line: int, code: str) -> Finding:
    return Finding("p.py", line, 1, line, 2, code, "n", "warning", "m")


def test_codes_and_prefixes_on_the_line():
    text = "a  # clsaudit: ignore[CLS101, cls2]\nb\n"
    kept = filter_suppressed(
        [finding(1, "CLS101"), finding(1, "CLS205"), finding(1, "CLS301"), finding(2, "CLS101")],
        text,
    )
    assert [(f.line, f.code) for f in kept] == [(1, "CLS301"), (2, "CLS101")]


def test_bare_ignore_suppresses_every_code_on_that_line_only():
    text = "a  # clsaudit: ignore\nb\n"
    kept = filter_suppressed([finding(1, "CLS101"), finding(1, "CLS999"), finding(2, "CLS1")], text)
    assert [f.line for f in kept] == [2]


def test_ignore_file_anywhere():
    text = "a\nb\n# clsaudit: ignore-file\n"
    assert [d.whole_file for d in parse_suppressions(text).directives] == [True]
    assert filter_suppressed([finding(1, "CLS101")], text) == []


def test_directive_inside_a_string_is_not_a_comment():
    text = 's = "# clsaudit: ignore-file"\nx = 1  # unrelated\n'
    suppressions = parse_suppressions(text)
    assert not suppressions.directives and not suppressions.errors


def test_works_on_files_the_tokenizer_rejects():
    text = "def f(:\n    x  # clsaudit: ignore[CLS1]\n"
    [directive] = parse_suppressions(text).directives
    assert (directive.line, directive.codes) == (2, ("CLS1",))


def test_no_marker_is_the_fast_path():
    assert parse_suppressions("x = 1\n").directives == []


def test_engine_applies_suppressions(tmp_path: Path, test_rules):
    path = tmp_path / "a.py"
    path.write_text(
        "print(1)  # clsaudit: ignore[CLS901]\n"
        "print(2)  # clsaudit: ignore[CLS902]\n"
        "print(3)  # clsaudit: ignore[CLS9]\n"
        "print(4)  # clsaudit: ignore\n"
    )
    result = engine.check_paths([str(path)], Config(root=tmp_path), use_cache=False)
    assert [f.line for f in result.findings] == [2]


def test_suppressions_apply_on_cached_results_too(tmp_path: Path, test_rules):
    path = tmp_path / "a.py"
    path.write_text("print(1)\nprint(2)  # clsaudit: ignore\n")
    config = Config(root=tmp_path)
    first = engine.check_paths([str(path)], config)
    second = engine.check_paths([str(path)], config)
    assert second.analyzed == 0
    assert [f.line for f in first.findings] == [f.line for f in second.findings] == [1]


# --- the gate cannot be opened by a comment (issue 15) ---------------------


def test_ignore_file_with_codes_suppresses_only_those_codes():
    text = "a\nb\n# clsaudit: ignore-file[CLS205]\n"
    kept = filter_suppressed([finding(1, "CLS101"), finding(2, "CLS205")], text)
    assert [(f.line, f.code) for f in kept] == [(1, "CLS101")]


def test_noqa_with_our_codes_is_honoured_and_other_tools_codes_are_not_ours():
    text = "a  # noqa: CLS101\nb  # noqa: E501, cls2\nc  # noqa\nd  # noqa: F401\n"
    kept = filter_suppressed(
        [finding(1, "CLS101"), finding(1, "CLS102"), finding(2, "CLS205"),
         finding(3, "CLS101"), finding(4, "CLS101")],
        text,
    )
    assert [(f.line, f.code) for f in kept] == [(1, "CLS102"), (3, "CLS101"), (4, "CLS101")]


@pytest.mark.parametrize(
    "comment, expected",
    [
        ("# clsaudit: ignore CLS205", "write '# clsaudit: ignore[CLS101]'"),
        ("# clsaudit: ignore: CLS205", "is not understood"),
        ("# clsaudit: ignore-file CLS205", "write '# clsaudit: ignore-file[CLS101]'"),
        ("# clsaudit: ignore[]", "is not understood"),
        ("# clsaudit: ignore[CLS999]", "unknown rule code 'CLS999' (nearest valid code: CLS"),
        ("# clsaudit: ignore[CLS199]", "unknown rule code 'CLS199'"),
        ("# noqa: CLS110", "unknown rule code 'CLS110'"),
        ("# clsaudit: ignore[CLS10x]", "is not a rule code or prefix"),
    ],
)
def test_malformed_or_unknown_suppressions_are_errors_and_suppress_nothing(comment, expected):
    text = f"a  {comment}\n"
    suppressions = parse_suppressions(text)
    assert [line for line, _ in suppressions.errors] == [1]
    assert expected in suppressions.errors[0][1]
    assert filter_suppressed([finding(1, "CLS205")], text) == [finding(1, "CLS205")]


def test_bare_ignore_only_when_written_exactly():
    for text in ("a  # clsaudit: ignore\n", "a  # clsaudit: ignore  # reason\n", "a  #clsaudit:ignore\n"):
        assert filter_suppressed([finding(1, "CLS205")], text) == [], text


def test_unused_suppressions_are_listed_per_code():
    text = "a  # clsaudit: ignore[CLS101,CLS205]\nb  # clsaudit: ignore\nc  # noqa: CLS301\n"
    suppressions = parse_suppressions(text)
    apply_suppressions([finding(1, "CLS101"), finding(3, "CLS301")], suppressions)
    unused = unused_suppressions(suppressions, lambda code: True)
    assert [(u.line, u.codes) for u in unused] == [(1, ("CLS205",)), (2, ())]
    # A code the configuration disables cannot be judged unused.
    assert [u.line for u in unused_suppressions(suppressions, lambda c: c != "CLS205")] == [2]


def test_cli_reports_bad_suppressions_with_exit_2_and_keeps_other_findings(tmp_path, monkeypatch, test_rules):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text("print(1)  # clsaudit: ignore CLS901\n")
    (tmp_path / "b.py").write_text("print(2)\n")
    result = CliRunner().invoke(cli, ["--no-cache", "."])
    assert result.exit_code == 2
    assert "a.py:1:1: error: suppression" in result.stderr
    assert "b.py:1:1: CLS901" in result.stdout and "a.py:1:1: CLS901" in result.stdout


def test_cli_report_unused_suppressions_and_statistics_turn_it_on(tmp_path, monkeypatch, test_rules):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text("x = 1  # clsaudit: ignore[CLS901]\nprint(2)  # noqa: CLS901\n")
    plain = CliRunner().invoke(cli, ["--no-cache", "a.py"])
    assert plain.exit_code == 0 and "unused" not in plain.stdout
    for flag in ("--report-unused-suppressions", "--statistics"):
        result = CliRunner().invoke(cli, ["--no-cache", flag, "a.py"])
        assert result.exit_code == 0
        assert "a.py:1: unused suppression '# clsaudit: ignore[CLS901]'" in result.stdout
        assert "a.py:2: unused" not in result.stdout
