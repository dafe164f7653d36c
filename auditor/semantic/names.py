"""Names: dotted-name extraction and the import table.

libcst's QualifiedNameProvider costs several times the parse, so imports are
resolved here, in the semantic model's own pass: an alias table built from the
module's import statements, consulted only for names that are not local
variables of the scope being read (a local ``F`` is not torch.nn.functional).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst
from clsaudit.semantic.values import TORCH_ROOTS, is_torch_name, last  # noqa: F401 (re-exported)


def dotted(node: cst.BaseExpression) -> Optional[str]:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def module_dotted(node: cst.BaseExpression) -> str:
    name = dotted(node) if not isinstance(node, str) else node
    return name or ""


class ImportTable:
    """Maps a local alias to the qualified name it stands for."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.star_modules: list[str] = []
        # local sibling imports, for cross-file summaries: alias -> (module, attr or None)
        self.local_from: dict[str, tuple[str, Optional[str], int]] = {}

    def add_import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = module_dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.aliases[alias.asname.name.value] = full
            else:
                head = full.split(".")[0]
                self.aliases.setdefault(head, head)
                self.aliases[head] = head

    def add_import_from(self, node: cst.ImportFrom) -> None:
        level = len(node.relative)
        base = module_dotted(node.module) if node.module is not None else ""
        if isinstance(node.names, cst.ImportStar):
            if level == 0:
                self.star_modules.append(base)
            return
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            name = alias.name.value
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            if level == 0:
                self.aliases[local] = f"{base}.{name}" if base else name
            else:
                # relative import: resolved against the package by the caller
                self.aliases[local] = "." * level + (f"{base}.{name}" if base else name)
            self.local_from[local] = ("." * level + base, name, level)

    def resolve_head(self, name: str) -> Optional[str]:
        return self.aliases.get(name)


