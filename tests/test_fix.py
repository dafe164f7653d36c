"""``--fix`` and ``--diff`` with a test rule whose findings carry fixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from clsaudit.cli import cli
from clsaudit.findings import Finding
from clsaudit.fixer import apply_edits, fix_file


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edit(line, col, end_line, end_col, fix):
    return Finding("p", line, col, end_line, end_col, "CLS902", "n", "info", "m", fix)


def test_fix_rewrites_and_second_run_changes_nothing(here, test_rules):
    path = here / "a.py"
    path.write_text("for i in xrange(3):\n    print(i)\nys = list(xrange(2))\n")
    result = invoke("--fix", "--severity", "info", "a.py")
    assert path.read_text() == "for i in range(3):\n    print(i)\nys = list(range(2))\n"
    assert "Fixed 2 findings in 1 file." in result.stderr
    assert "CLS902" not in result.stdout and "CLS901" in result.stdout  # what remains
    assert result.exit_code == 1
    before = path.read_bytes()
    again = invoke("--fix", "a.py")
    assert path.read_bytes() == before
    assert "Fixed" not in again.stderr


def test_diff_prints_and_writes_nothing(here, test_rules):
    path = here / "a.py"
    path.write_text("n = xrange(3)\n")
    result = invoke("--diff", "a.py")
    assert result.exit_code == 1
    assert "-n = xrange(3)\n+n = range(3)\n" in result.stdout
    assert path.read_text() == "n = xrange(3)\n"
    clean = here / "b.py"
    clean.write_text("n = 1\n")
    assert invoke("--diff", "b.py").exit_code == 0


def test_fix_keeps_crlf_bom_and_encoding(here, test_rules):
    crlf = here / "crlf.py"
    crlf.write_bytes(b"\xef\xbb\xbfa = 1\r\nb = xrange(2)\r\n")
    invoke("--fix", "crlf.py")
    assert crlf.read_bytes() == b"\xef\xbb\xbfa = 1\r\nb = range(2)\r\n"
    latin = here / "latin.py"
    latin.write_bytes("# coding: latin-1\ns = 'é'; n = xrange(2)\n".encode("latin-1"))
    invoke("--fix", "latin.py")
    assert latin.read_bytes() == "# coding: latin-1\ns = 'é'; n = range(2)\n".encode("latin-1")


def test_overlapping_edits_keep_the_first():
    text = "abcdef\n"
    fixed, applied, skipped = apply_edits(
        text, [edit(1, 1, 1, 4, "X"), edit(1, 3, 1, 5, "Y"), edit(1, 6, 1, 7, "Z")]
    )
    assert fixed == "XdeZ\n" and applied == 2 and skipped == 1


def test_multiline_span_and_unicode_columns():
    text = "s = 'é'; a = (1,\n  2)\n"
    fixed, applied, _ = apply_edits(text, [edit(1, 14, 2, 5, "3")])
    assert fixed == "s = 'é'; a = 3\n" and applied == 1


def test_fix_that_would_not_parse_is_refused(here):
    path = here / "a.py"
    path.write_text("x = 1\n")
    outcome = fix_file(str(path), [edit(1, 5, 1, 6, "(")])
    assert outcome.error and "would not parse" in outcome.error
    assert not outcome.changed
    assert path.read_text() == "x = 1\n"
