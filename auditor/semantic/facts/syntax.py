"""One walk over a file's syntax tree: every node's parent, every call, every function.

Shared by the issue-13 facts and computed at most once per file (through
:meth:`SemanticModel.fact`), and only by rules whose cheap text test says the
file can hold their pattern, so files without it never pay for the walk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.model import SemanticModel

SCOPES = (cst.FunctionDef, cst.Lambda, cst.Module)
OWNERS = (cst.For, cst.While, cst.FunctionDef, cst.Module)


@dataclass
class SyntaxIndex:
    parent: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)  # every cst.Call, in source order
    functions: list = field(default_factory=list)  # every cst.FunctionDef

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        node = self.parent.get(node)
        while node is not None:
            yield node
            node = self.parent.get(node)

    def enclosing(self, node: cst.CSTNode, kinds: tuple) -> Optional[cst.CSTNode]:
        for anc in self.ancestors(node):
            if isinstance(anc, kinds):
                return anc
        return None

    def scope(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The function (or lambda, or module) whose body holds ``node``."""
        return self.enclosing(node, SCOPES)

    def owner(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The innermost loop or function around ``node``: one iteration's worth of code."""
        return self.enclosing(node, OWNERS)

    def statement(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The small statement (assignment, expression, return) that holds ``node``."""
        if isinstance(node, cst.BaseSmallStatement):
            return node
        return self.enclosing(node, (cst.BaseSmallStatement,))

    def is_inside(self, node: cst.CSTNode, outer: cst.CSTNode) -> bool:
        return node is outer or any(anc is outer for anc in self.ancestors(node))


class _Walker(cst.CSTVisitor):
    def __init__(self, index: SyntaxIndex) -> None:
        self.index = index
        self.stack: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.stack:
            self.index.parent[node] = self.stack[-1]
        self.stack.append(node)
        if isinstance(node, cst.Call):
            self.index.calls.append(node)
        elif isinstance(node, cst.FunctionDef):
            self.index.functions.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


def _build(model: "SemanticModel") -> SyntaxIndex:
    index = SyntaxIndex()
    model.module.visit(_Walker(index))
    return index


def syntax(model: "SemanticModel") -> SyntaxIndex:
    """The file's :class:`SyntaxIndex` (built on first use)."""
    return model.fact("syntax", _build)


def names_in(node: cst.CSTNode) -> set[str]:
    """Every plain name read or written under ``node`` (attribute names excluded)."""
    found: set[str] = set()

    class _Names(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            found.add(name.value)

        def visit_Attribute(self, attr: cst.Attribute) -> bool:
            attr.value.visit(self)
            return False

    node.visit(_Names())
    return found


def int_value(node: Optional[cst.CSTNode]) -> Optional[int]:
    """The value of an integer literal (``10``, ``-3``), else None."""
    if isinstance(node, cst.Integer):
        return int(node.evaluated_value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = int_value(node.expression)
        return -inner if inner is not None else None
    return None


def number_value(node: Optional[cst.CSTNode]) -> Optional[float]:
    """The value of an int or float literal, else None."""
    if isinstance(node, (cst.Integer, cst.Float)):
        return float(node.evaluated_value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = number_value(node.expression)
        return -inner if inner is not None else None
    return None


def argument(call: cst.Call, keyword: str, position: Optional[int] = None) -> Optional[cst.BaseExpression]:
    """The expression passed for a parameter, by keyword or by position."""
    pos = 0
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == keyword:
                return arg.value
        elif arg.star:
            return None
        else:
            if position is not None and pos == position:
                return arg.value
            pos += 1
    return None


def assigned_names(stmt: cst.CSTNode) -> list[str]:
    """Plain names an assignment statement binds (``a, b = ...`` gives both)."""
    targets: list[cst.BaseExpression] = []
    if isinstance(stmt, cst.Assign):
        targets = [t.target for t in stmt.targets]
    elif isinstance(stmt, (cst.AnnAssign, cst.AugAssign)):
        targets = [stmt.target]
    out: list[str] = []
    while targets:
        t = targets.pop(0)
        if isinstance(t, cst.Name):
            out.append(t.value)
        elif isinstance(t, (cst.Tuple, cst.List)):
            targets.extend(el.value for el in t.elements)
        elif isinstance(t, cst.StarredElement):
            targets.append(t.value)
    return out
