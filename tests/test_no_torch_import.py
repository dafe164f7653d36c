"""``clsaudit train.py`` must never import torch (a pre-commit hook must stay light)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "fixtures" / "examples" / "buggy_train.py"

PROGRAM = """
import sys
from clsaudit.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "numpy", "rich")))
print("HEAVY:" + ",".join(heavy))
print("CODE:" + str(code))
"""


def run(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def test_checking_a_training_script_imports_neither_torch_nor_rich():
    out = run("--no-cache", str(EXAMPLE))
    assert "HEAVY:\n" in out
    assert "CODE:1" in out or "CODE:0" in out


def test_other_formats_do_not_import_torch():
    for fmt in ("json", "sarif", "github"):
        assert "torch" not in run("--no-cache", "--format", fmt, str(EXAMPLE)).split("HEAVY:")[1]


def test_listing_rules_and_warm_cache_runs_do_not_import_libcst(tmp_path) -> None:
    """libcst's import is most of the start-up: only parsing a file may pay for it."""
    example = Path(__file__).resolve().parent.parent / "fixtures" / "examples" / "buggy_train.py"
    env = {**os.environ, "CLSAUDIT_CACHE_DIR": str(tmp_path)}
    probe = (
        "import sys\n"
        "from clsaudit.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LIBCST' if 'libcst' in sys.modules else 'NO-LIBCST', file=sys.stderr)\n"
    )
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True, timeout=120
    ).stderr.strip().splitlines()[-1]
    assert run("rules") == "NO-LIBCST"
    assert run("explain", "CLS101") == "NO-LIBCST"
    assert run("-q", str(example)) == "LIBCST"  # cold: the file is parsed
    assert run("-q", str(example)) == "NO-LIBCST"  # warm: answered from the cache
