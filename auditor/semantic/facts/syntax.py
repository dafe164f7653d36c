"""One walk over a file's syntax tree: every node's parent, every call, every function.

Shared by the issue-13 facts and computed at most once per file (through
:meth:`SemanticModel.fact`), and only by rules whose cheap text test says the
file can hold their pattern, so files without it never pay for the walk.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst
from clsaudit.semantic.api.site import argument  # noqa: F401 (the shared lookup, re-exported)

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.model import SemanticModel

SCOPES = (cst.FunctionDef, cst.Lambda, cst.Module)
OWNERS = (cst.For, cst.While, cst.FunctionDef, cst.Module)


@dataclass
class SyntaxIndex:
    parent: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)  # every cst.Call, in source order
    functions: list = field(default_factory=list)  # every cst.FunctionDef
    assigns: list = field(default_factory=list)  # every cst.Assign, in source order
    statements: list = field(default_factory=list)  # every small statement, in source order
    assigns_by_name: dict = field(default_factory=dict)  # plain target name -> its assignments
    names_by_value: dict = field(default_factory=dict)  # identifier -> every cst.Name spelling it
    order: dict = field(default_factory=dict)  # id(node) -> its position in the walk (source order)

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

    def before(self, a: cst.CSTNode, b: cst.CSTNode) -> bool:
        """``a`` starts before ``b`` in the source (the walk is pre-order, in source order)."""
        return self.order.get(id(a), -1) < self.order.get(id(b), -1)

    def after_end(self, a: cst.CSTNode, b: cst.CSTNode) -> bool:
        """``a`` comes after ``b`` and is not part of it."""
        return not self.before(a, b) and a is not b and not self.is_inside(a, b)

    def is_inside(self, node: cst.CSTNode, outer: cst.CSTNode) -> bool:
        return node is outer or any(anc is outer for anc in self.ancestors(node))


SKIPPED_FIELDS = ("whitespace", "lpar", "rpar", "leading_lines", "lines_after_decorators", "header", "footer",
                  "comma", "semicolon", "equal", "colon", "dot", "newline", "indent", "trailing_whitespace",
                  "first_line", "empty_lines", "default_indent", "default_newline", "encoding", "asynchronous",
                  "operator", "star_tok", "arrow", "walrus", "dot_tok")
BLOCK_FIELDS = ("body", "handlers", "orelse", "finalbody")
_CHILD_FIELDS: dict = {}


def _child_fields(kind: type) -> tuple:
    """The fields of a node type that can hold other syntax (whitespace and punctuation left out)."""
    found = _CHILD_FIELDS.get(kind)
    if found is None:
        names = [f.name for f in dataclasses.fields(kind) if not f.name.startswith(SKIPPED_FIELDS)]
        # source order: decorators, bases and tests before the blocks they govern
        found = tuple(sorted(names, key=lambda n: BLOCK_FIELDS.index(n) + 1 if n in BLOCK_FIELDS else 0))
        _CHILD_FIELDS[kind] = found
    return found


def _build(model: "SemanticModel") -> SyntaxIndex:
    """A pre-order walk over the node dataclasses themselves: libcst's own ``visit`` rebuilds
    every node on the way back up, which costs several times this walk on large files."""
    index = SyntaxIndex()
    parent, order = index.parent, index.order
    calls, functions, statements, assigns = index.calls, index.functions, index.statements, index.assigns
    by_name, names = index.assigns_by_name, index.names_by_value
    stack: list = [(model.module, None)]
    while stack:
        node, up = stack.pop()
        if up is not None:
            parent[node] = up
        order[id(node)] = len(order)
        if isinstance(node, cst.Name):
            names.setdefault(node.value, []).append(node)
            continue
        if isinstance(node, cst.Call):
            calls.append(node)
        elif isinstance(node, cst.FunctionDef):
            functions.append(node)
        if isinstance(node, cst.BaseSmallStatement):
            statements.append(node)
            if isinstance(node, cst.Assign):
                assigns.append(node)
                for name in assigned_names(node):
                    by_name.setdefault(name, []).append(node)
        stack.extend((child, node) for child in reversed(_children(node)))
    return index


def _children(node: cst.CSTNode) -> list:
    """The node's child nodes in source order (whitespace and punctuation left out)."""
    children = []
    for field_name in _child_fields(type(node)):
        value = getattr(node, field_name)
        if isinstance(value, cst.CSTNode):
            children.append(value)
        elif isinstance(value, (list, tuple)):
            children.extend(v for v in value if isinstance(v, cst.CSTNode))
    return children


def syntax(model: "SemanticModel") -> SyntaxIndex:
    """The file's :class:`SyntaxIndex` (built on first use)."""
    return model.fact("syntax", _build)


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every node under it, pre-order (whitespace and punctuation left out)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_children(current)))


def names_in(node: cst.CSTNode) -> set[str]:
    """Every plain name read or written under ``node`` (the `.attr` of an attribute excluded)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            found.add(current.value)
        elif isinstance(current, cst.Attribute):
            stack.append(current.value)
        else:
            for field_name in _child_fields(type(current)):
                value = getattr(current, field_name)
                if isinstance(value, cst.CSTNode):
                    stack.append(value)
                elif isinstance(value, (list, tuple)):
                    stack.extend(v for v in value if isinstance(v, cst.CSTNode))
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
