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


# --- one bad file never costs the others (issue 12) ---------------------------

DEEP = b"x = " + b"(" * 2000 + b"1" + b")" * 2000 + b"\n"  # segfaulted libcst's parser
LONG = b"x = " + b"+".join([b"1"] * 10_000) + b"\n"  # minutes of libcst, then a crash
TRAILERS = b"x = a" + b"[0]" * 5000 + b"\n"  # segfaulted libcst's parser


@pytest.mark.parametrize("jobs,header", [("1", b"import torch\n"), ("2", b"import torch\n"), ("2", b"")])
def test_pathological_files_cost_only_themselves(tmp_path, run_cli, jobs, header):
    # with `import torch` the rules parse them; without, only the skip's syntax check does
    (tmp_path / "deep.py").write_bytes(header + DEEP)
    (tmp_path / "long.py").write_bytes(header + LONG)
    (tmp_path / "trailers.py").write_bytes(header + TRAILERS)
    (tmp_path / "bad.py").write_text("def f(:\n")
    result = run_cli("--no-cache", "-j", jobs, ".", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "deep.py: error: cannot parse: nesting too deep" in result.stderr
    assert "long.py: error: cannot parse: expression too long" in result.stderr
    assert "trailers.py: error: cannot parse: expression too long" in result.stderr
    assert "bad.py:1:7: error: syntax error" in result.stderr  # the others still checked
    assert "Traceback" not in result.stderr and "panicked" not in result.stderr


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path, run_cli):
    big = tmp_path / "dump.py"
    with open(big, "w") as handle:
        handle.write("import torch\n")
        handle.write(("# " + "x" * 98 + "\n") * 36_000)  # 3.5 MB of comments
    (tmp_path / "ok.py").write_text("x = 1\n")
    result = run_cli("--no-cache", "dump.py", "ok.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "dump.py: error: cannot parse: file too large (3.5 MB > 3 MB limit" in result.stderr
    small = tmp_path / "small.py"
    small.write_text("import torch\n" + ("# " + "x" * 98 + "\n") * 6_000)  # 0.6 MB
    lowered = run_cli("--no-cache", "--max-file-size", "0.5", "small.py", cwd=tmp_path)
    assert "small.py: error: cannot parse: file too large (0.6 MB > 0.5 MB limit" in lowered.stderr
    raised = run_cli("--no-cache", "--max-file-size", "1", "small.py", cwd=tmp_path)
    assert raised.returncode == 0, raised.stderr


def test_fifo_on_the_command_line_is_refused(tmp_path, run_cli):
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "ok.py").write_text("x = 1\n")
    result = run_cli("--no-cache", "pipe.py", cwd=tmp_path)  # used to block forever
    assert result.returncode == 2
    assert "pipe.py: error: not checked: a FIFO, not a regular file" in result.stderr
    walked = run_cli("--no-cache", ".", cwd=tmp_path)
    assert walked.returncode == 2
    assert "pipe.py: error: not checked: a FIFO" in walked.stderr
    assert "1 file" in walked.stdout


def test_fifo_swapped_in_after_discovery_does_not_hang(tmp_path):
    from clsaudit.safe_read import SourceError, read_source

    os.mkfifo(tmp_path / "late.py")
    with pytest.raises(SourceError, match="a FIFO"):
        read_source(str(tmp_path / "late.py"))


def test_unreadable_folder_is_reported(here, test_rules, monkeypatch):
    (here / "pkg").mkdir()
    (here / "pkg" / "hidden.py").write_text("print(1)\n")
    (here / "ok.py").write_text("x = 1\n")
    (here / "pkg").chmod(0)
    try:
        if os.access(here / "pkg", os.R_OK):  # root reads anything: fail the listing as for a user
            real_scandir = os.scandir

            def scandir(path="."):
                if os.path.basename(os.fspath(path)) == "pkg":
                    raise PermissionError(13, "Permission denied")
                return real_scandir(path)

            monkeypatch.setattr(os, "scandir", scandir)
        result = invoke(".")
    finally:
        (here / "pkg").chmod(0o755)
    assert result.exit_code == 2
    assert "pkg: error: cannot read folder: Permission denied" in result.stderr


def test_isolated_child_turns_crashes_into_reasons():
    import signal
    import time

    from clsaudit.isolation import Crashed, run_isolated

    assert run_isolated(lambda: {"answer": 42}) == {"answer": 42}
    with pytest.raises(Crashed, match="segmentation fault"):
        run_isolated(lambda: os.kill(os.getpid(), signal.SIGSEGV))
    with pytest.raises(Crashed, match="longer than 0.5 s"):
        run_isolated(lambda: time.sleep(30), timeout=0.5)
    with pytest.raises(ZeroDivisionError):
        run_isolated(lambda: 1 / 0)


class SegfaultRule:
    """Kills its worker like libcst's native crashes do, on files that say CRASH."""

    code = "CLS904"
    name = "segfault"
    severity = "error"
    summary = "crashes"
    doc = ""
    fixable = False

    def check(self, model):
        import signal

        if "CRASH" in model.source:
            import faulthandler

            faulthandler.disable()  # pytest's dump is noise here; clsaudit installs none
            os.kill(os.getpid(), signal.SIGSEGV)
        return iter(())


def test_a_worker_crash_costs_one_file(tmp_path):
    from clsaudit.config import load_config
    from clsaudit.engine import check_paths
    from conftest import PrintCallRule

    for index in range(6):
        (tmp_path / f"m{index}.py").write_text(f"print({index})\n")
    (tmp_path / "m3.py").write_text("CRASH = 1\nprint(3)\n")
    config = load_config(tmp_path)
    result = check_paths([str(tmp_path)], config, use_cache=False, jobs=2,
                         rules=[SegfaultRule(), PrintCallRule()])
    assert [e.message for e in result.errors] == ["cannot parse: the parser crashed (segmentation fault)"]
    assert result.errors[0].path.endswith("m3.py")
    assert sorted(os.path.basename(f.path) for f in result.findings) == [
        f"m{i}.py" for i in range(6) if i != 3
    ]


def test_pathology_screen_passes_ordinary_code():
    from clsaudit.parse_guard import looks_pathological, screen

    wide = "x = [" + ",\n".join(["1"] * 5000) + "]\n"  # long but flat: fine for libcst
    sums = "y = " + " + ".join(f"a{i} * b{i} * c{i}" for i in range(700)) + "\n"
    assert screen(wide) is None and screen(sums) is None
    assert not looks_pathological(wide)
    assert looks_pathological(DEEP.decode()) and looks_pathological(LONG.decode())
    assert "nesting too deep" in screen(DEEP.decode())
    assert "expression too long" in screen(TRAILERS.decode())


def test_cache_is_pruned_to_its_budget(tmp_path):
    import time

    from clsaudit.cache import Cache

    cache = Cache(tmp_path / "cache", max_bytes=20_000)
    keys = [f"{i:064x}" for i in range(60)]
    for key in keys:
        cache.put(key, [], {"pad": "x" * 900}, None)
    old = time.time() - 3600
    for key in keys[:50]:
        os.utime(cache._path(key), (old, old))
    assert cache.get(keys[0], "a.py") is not None  # a hit makes it recent again
    removed = cache.prune()
    sizes = [p.stat().st_size for p in (tmp_path / "cache").rglob("*.json")]
    assert removed > 0 and sum(sizes) <= 20_000
    assert cache.get(keys[0], "a.py") is not None  # recently used: kept
    assert all(cache.get(key, "a.py") is not None for key in keys[50:])
    assert cache.get(keys[1], "a.py") is None  # least recently used: gone


def _pathological(kind: str, n: int) -> bytes:
    shapes = {
        "paren": "x = " + "(" * n + "1" + ")" * n,
        "list": "x = " + "[" * n + "]" * n,
        "call": "x = f" + "()" * n,
        "subscript": "x = a" + "[0]" * n,
        "attribute": "x = a" + ".b" * n,
        "sum": "x = " + " + ".join(["1"] * n),
        "unary": "x = " + "-" * n + "1",
        "lines": "x = (1\n" + "+ 1\n" * n + ")",
    }
    return ("import torch\n" + shapes[kind] + "\n").encode()


@pytest.mark.fuzz
def test_fuzz_pathological_shapes_never_crash_the_run():
    """Generated shapes and sizes around the limits: a reason or a result, never a crash.

    Small by default; ``CLSAUDIT_FUZZ_EXAMPLES=300 pytest -m fuzz`` digs deeper.
    """
    from clsaudit.config import load_config
    from clsaudit.engine import analyze_file, enabled_rules
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    rules = enabled_rules(load_config(Path(".")))
    examples = int(os.environ.get("CLSAUDIT_FUZZ_EXAMPLES", "8"))

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        kind=st.sampled_from(["paren", "list", "call", "subscript", "attribute", "sum", "unary", "lines"]),
        n=st.sampled_from([10, 150, 199, 201, 2001, 2500, 12_000]),
        header=st.sampled_from([b"", b"# -*- coding: utf-8 -*-\n", b"\xef\xbb\xbf"]),
    )
    def check(kind, n, header):
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "gen.py")
            with open(path, "wb") as handle:
                handle.write(header + _pathological(kind, n))
            outcome, _ = analyze_file(path, "gen", {}, rules)
            if outcome.error is not None:
                assert outcome.error.message.startswith(("cannot parse", "syntax error")), outcome.error
                assert "internal error" not in outcome.error.message

    check()
