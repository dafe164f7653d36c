"""Never a traceback: odd bytes, odd files and odd paths all get a clear answer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from clsaudit.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, ["--no-cache", *args], catch_exceptions=False)


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check_bytes(here: Path, data: bytes, name: str = "f.py", *args: str):
    (here / name).write_bytes(data)
    return invoke(*args, name)


def test_syntax_error_position_comes_from_ast(here):
    result = check_bytes(here, b"x = 1\nif x\n    pass\n")
    assert result.exit_code == 2
    assert "f.py:2:5: error: syntax error: expected ':'" in result.stderr
    assert "Traceback" not in result.output


def test_python2_file(here):
    result = check_bytes(here, b'print "x"\n')
    assert result.exit_code == 2
    assert "f.py:1:1: error: syntax error: Missing parentheses" in result.stderr


def test_latin1_without_cookie_is_a_clear_error(here):
    result = check_bytes(here, "x = 'café'\n".encode("latin-1"))
    assert result.exit_code == 2
    assert "f.py: error: cannot decode file" in result.stderr


def test_latin1_with_cookie_is_checked(here, test_rules):
    data = "# -*- coding: latin-1 -*-\nx = 'café'\nprint(x)\n".encode("latin-1")
    result = check_bytes(here, data)
    assert result.exit_code == 1
    assert "f.py:3:1: CLS901" in result.stdout


def test_bom_crlf_and_tabs(here, test_rules):
    data = b"\xef\xbb\xbfif True:\r\n\tprint(1)\r\n"
    result = check_bytes(here, data, "f.py", "--format", "json")
    assert result.exit_code == 1
    (item,) = json.loads(result.stdout)
    assert (item["line"], item["column"], item["end_column"]) == (2, 2, 10)


def test_empty_file(here, test_rules):
    result = check_bytes(here, b"")
    assert result.exit_code == 0
    assert "No findings in 1 file." in result.stdout


def test_null_bytes(here):
    result = check_bytes(here, b"x = 1\x00\n")
    assert result.exit_code == 2
    assert "f.py" in result.stderr and "Traceback" not in result.output


def test_huge_file(here, test_rules):
    # Mostly comments: libcst needs ~0.3 ms per statement and the suite must stay fast.
    body = "".join(
        f"v{i} = {i} + 1\n" if i % 10 == 0 else f"# note {i}\n" for i in range(20_000)
    )
    body += "print(v10)\n"
    result = check_bytes(here, body.encode())
    assert result.exit_code == 1
    assert "f.py:20001:1: CLS901" in result.stdout


def test_deeply_nested_expression(here):
    result = check_bytes(here, b"x = " + b"(" * 500 + b"1" + b")" * 500 + b"\n")
    assert result.exit_code in (0, 2)
    assert "Traceback" not in result.output


def test_directory_without_python(here):
    (here / "docs").mkdir()
    (here / "docs" / "a.txt").write_text("hi")
    result = invoke("docs")
    assert result.exit_code == 0
    assert "no Python files found" in result.stderr


def test_missing_path(here):
    result = invoke("nothere")
    assert result.exit_code == 2
    assert "nothere: error: path does not exist" in result.stderr


def test_explicit_non_py_file_is_checked(here, test_rules):
    (here / "script").write_text("print(1)\n")
    assert invoke("script").exit_code == 1


def test_symlinks_and_loops(here, test_rules):
    (here / "pkg").mkdir()
    (here / "pkg" / "a.py").write_text("print(1)\n")
    os.symlink(here / "pkg", here / "pkg" / "loop")
    os.symlink(here / "pkg" / "a.py", here / "link.py")
    result = invoke("-q", ".")
    assert result.exit_code == 1
    # a.py is checked once: the file link and the directory loop lead back to it
    assert result.stdout.count("CLS901") == 1


def test_skipped_directories(here, test_rules):
    for skipped in (".hidden", "__pycache__", "build", "node_modules", "env"):
        (here / skipped).mkdir()
        (here / skipped / "x.py").write_text("print(1)\n")
    (here / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (here / "ok.py").write_text("x = 1\n")
    result = invoke(".")
    assert result.exit_code == 0
    assert "No findings in 1 file." in result.stdout


def test_unreadable_file(here):
    path = here / "secret.py"
    path.write_text("x = 1\n")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read anything")
        result = invoke("secret.py")
        assert result.exit_code == 2
        assert "secret.py: error: cannot read file" in result.stderr
    finally:
        path.chmod(0o644)


def test_odd_files_in_a_subprocess(tmp_path, run_cli):
    (tmp_path / "py2.py").write_text('print "x"\n')
    (tmp_path / "latin.py").write_bytes("s = 'é'\n".encode("latin-1"))
    (tmp_path / "empty.py").write_text("")
    result = run_cli(".", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "py2.py:1:1: error: syntax error" in result.stderr
    assert "latin.py: error: cannot decode file" in result.stderr
