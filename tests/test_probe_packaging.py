"""The ``torch`` extra declares everything the probe and the reference pipeline import.

``pip install 'clsaudit[torch]'`` then ``python -m clsaudit.reference_pipeline``
once crashed on ``import numpy``: the test extra declared numpy and hid it.
This scans the imports of both packages (AST, no import) and checks each
third-party name against the base dependencies plus the ``torch`` extra.
Imports guarded by ``except ImportError`` are optional (matplotlib for
``--plot``) and are not required.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parent.parent
SCANNED = [REPO / "auditor" / "probe", REPO / "reference_pipeline"]
# Import name -> distribution name, where they differ or are not obvious.
DISTRIBUTION = {
    "libcst": "libcst",
    "torch": "torch",
    "numpy": "numpy",
    "click": "click",
    "rich": "rich",
    "matplotlib": "matplotlib",
}


def _guarded(tree: ast.AST) -> set[int]:
    """Line numbers of imports inside a ``try`` whose handlers catch ImportError."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            caught = {getattr(h.type, "id", None) for h in node.handlers if h.type is not None} | {
                getattr(e, "id", None)
                for h in node.handlers
                if isinstance(h.type, ast.Tuple)
                for e in h.type.elts
            }
            if caught & {"ImportError", "ModuleNotFoundError"}:
                for inner in node.body:
                    for sub in ast.walk(inner):
                        if isinstance(sub, (ast.Import, ast.ImportFrom)):
                            lines.add(sub.lineno)
    return lines


def third_party_imports(folder: Path, root: Path = REPO) -> dict[str, str]:
    """Top-level third-party module -> the first file importing it unconditionally."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        optional = _guarded(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("clsaudit", "__future__"):
                    continue
                found.setdefault(top, str(path.relative_to(root)))
    return found


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["torch"]
    return {re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower() for req in requirements}


def test_torch_extra_declares_every_import_of_the_probe_and_the_reference_pipeline():
    declared = _declared()
    imports: dict[str, str] = {}
    for folder in SCANNED:
        imports.update(third_party_imports(folder))
    assert {"torch", "numpy"} <= set(imports)  # the scan sees what we know is there
    missing = {
        name: where
        for name, where in imports.items()
        if DISTRIBUTION.get(name, name).lower() not in declared
    }
    assert missing == {}, f"imported but not in the torch extra or dependencies: {missing}"


def test_the_scan_ignores_optional_imports_and_catches_unconditional_ones(tmp_path):
    (tmp_path / "mod.py").write_text(
        "import os\ntry:\n    import matplotlib\nexcept ImportError:\n    matplotlib = None\n"
        "def f():\n    import scipy.stats\n"
    )
    assert third_party_imports(tmp_path, root=tmp_path) == {"scipy": "mod.py"}
