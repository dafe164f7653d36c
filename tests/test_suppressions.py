"""Inline ``# clsaudit: ignore[...]`` and file-wide ``ignore-file`` comments."""

from __future__ import annotations

from pathlib import Path

from clsaudit import engine
from clsaudit.config import Config
from clsaudit.findings import Finding
from clsaudit.suppressions import filter_suppressed, parse_suppressions


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
    assert parse_suppressions(text).whole_file
    assert filter_suppressed([finding(1, "CLS101")], text) == []


def test_directive_inside_a_string_is_not_a_comment():
    text = 's = "# clsaudit: ignore-file"\nx = 1  # unrelated\n'
    suppressions = parse_suppressions(text)
    assert not suppressions.whole_file and not suppressions.lines


def test_works_on_files_the_tokenizer_rejects():
    text = "def f(:\n    x  # clsaudit: ignore[CLS1]\n"
    assert parse_suppressions(text).lines == {2: {"CLS1"}}


def test_no_marker_is_the_fast_path():
    assert parse_suppressions("x = 1\n").lines == {}


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
