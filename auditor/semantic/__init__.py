"""The per-file semantic model that every rule queries.

Built once per file (see :mod:`clsaudit.semantic.builder`): imports resolved,
values bound to names, each function reduced to a flow tree, module classes'
``forward`` outputs known, and a state analysis that knows in which
train/eval and grad mode each loop may run. Rules ask it questions; they do
not walk the syntax tree for these answers themselves.

This package's namespace is light on purpose: ``flow`` (event kinds) and ``values``
(value kinds) import no libcst, and ``SemanticModel`` is loaded on first
use, so that listing or explaining the rules never pays for libcst.
"""

from __future__ import annotations

from typing import Any

from clsaudit.semantic import flow, values
from clsaudit.semantic.values import Value

__all__ = ["SemanticModel", "FunctionInfo", "ClassInfo", "Value", "flow", "values"]


def __getattr__(name: str) -> Any:
    if name == "SemanticModel":
        from clsaudit.semantic.model import SemanticModel

        return SemanticModel
    if name in {"FunctionInfo", "ClassInfo"}:
        from clsaudit.semantic import builder

        return getattr(builder, name)
    raise AttributeError(f"module 'clsaudit.semantic' has no attribute {name!r}")
