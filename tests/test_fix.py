"""``--fix`` and ``--diff`` with a test rule whose findings carry fixes."""

from __future__ import annotations

import os
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


# --- a fix never loses the user's work ---------------------------------------


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """The real entry point in-process (exit code, stdout, stderr): no traceback escapes."""
    from clsaudit.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--no-cache", *args])
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


def test_file_edited_during_the_run_is_left_alone(here, test_rules, monkeypatch, capsys):
    from clsaudit import engine

    path = here / "a.py"
    path.write_text("n = xrange(3)\nm = xrange(4)\n")
    edited = "# the user's new comment, typed while clsaudit ran\nn = xrange(3)\nm = xrange(4)\n"
    real_check = engine.check_paths

    def check_then_edit(*args, **kwargs):
        result = real_check(*args, **kwargs)
        path.write_text(edited)  # saved from the editor after the analysis read the file
        return result

    monkeypatch.setattr(engine, "check_paths", check_then_edit)
    code, _, err = run_main(capsys, "--fix", "a.py")
    assert path.read_text() == edited
    assert "a.py: error: file changed since it was checked; not fixed" in err
    assert "Fixed" not in err
    assert code == 1


def test_stale_bytes_are_refused_just_before_writing(here):
    from clsaudit.fixer import STALE, fix_file, write_fixed

    path = here / "a.py"
    path.write_text("n = xrange(3)\n")
    outcome = fix_file(str(path), [edit(1, 5, 1, 11, "range")])
    assert outcome.changed
    path.write_text("n = xrange(3)  # edited\n")
    assert write_fixed(outcome) == STALE and outcome.stale
    assert path.read_text() == "n = xrange(3)  # edited\n"


def test_read_only_file_is_a_clear_error(here, test_rules, capsys):
    path = here / "a.py"
    path.write_text("n = xrange(3)\n")
    path.chmod(0o444)
    try:
        code, _, err = run_main(capsys, "--fix", "a.py")
        assert path.read_text() == "n = xrange(3)\n"
        assert "a.py: error: file is read-only; not fixed" in err
        assert "internal error" not in err and "Fixed" not in err
        assert code == 2
        assert path.stat().st_mode & 0o777 == 0o444
    finally:
        path.chmod(0o644)


def test_read_only_folder_is_a_clear_error(here, test_rules, capsys, monkeypatch):
    folder = here / "ro"
    folder.mkdir()
    path = folder / "a.py"
    path.write_text("n = xrange(3)\n")
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        # root writes anywhere: make creating the temporary file fail as it would for a user
        import tempfile

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        code, _, err = run_main(capsys, "--fix", "ro/a.py")
    finally:
        folder.chmod(0o755)
    assert path.read_text() == "n = xrange(3)\n"
    assert "a.py: error: cannot write fixes" in err and "Permission denied" in err
    assert "internal error" not in err
    assert code == 2
    assert [p.name for p in folder.iterdir()] == ["a.py"]  # no temporary file left


def test_fix_writes_through_a_symlink(here, test_rules):
    real = here / "real.py"
    real.write_text("n = xrange(3)\n")
    link = here / "link.py"
    link.symlink_to(real)
    invoke("--fix", "link.py")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "n = range(3)\n"


def test_fix_keeps_hard_links(here, test_rules):
    first = here / "a.py"
    first.write_text("n = xrange(3)\n")
    second = here / "b_link.py"
    os.link(first, second)
    invoke("--fix", "a.py")
    assert first.read_text() == second.read_text() == "n = range(3)\n"
    assert first.stat().st_ino == second.stat().st_ino and first.stat().st_nlink == 2


def test_fix_keeps_mode_owner_and_group(here, test_rules):
    path = here / "a.py"
    path.write_text("n = xrange(3)\n")
    path.chmod(0o751)
    owner = (path.stat().st_uid, path.stat().st_gid)
    if os.geteuid() == 0:
        owner = (65534, 65534)  # a file that belongs to somebody else
        os.chown(path, *owner)
    invoke("--fix", "a.py")
    info = path.stat()
    assert path.read_text() == "n = range(3)\n"
    assert info.st_mode & 0o7777 == 0o751
    assert (info.st_uid, info.st_gid) == owner
