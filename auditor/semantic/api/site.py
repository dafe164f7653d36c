"""One call site as the PyTorch handlers see it, with the one shared argument lookup.

Every handler in :mod:`clsaudit.semantic.api` receives a :class:`Site`: the
call node, the abstract values of its arguments (in source order), the
receiver for a method call, and the interpreter to emit events with. Finding
an argument by keyword or position is :meth:`Site.arg`, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from clsaudit.semantic import values
from clsaudit.semantic.values import Value

if TYPE_CHECKING:  # pragma: no cover
    import libcst as cst
    from clsaudit.semantic.builder import Builder
    from clsaudit.semantic.definitions import Ctx


def find_arg(call: "cst.Call", name: Optional[str], position: Optional[int] = None) -> Optional["cst.Arg"]:
    """The argument bound to parameter ``name`` (keyword) or ``position`` (positional)."""
    pos = 0
    for a in call.args:
        if a.star:
            continue
        if a.keyword is not None:
            if name is not None and a.keyword.value == name:
                return a
        else:
            if position is not None and pos == position:
                return a
            pos += 1
    return None


def argument(call: "cst.Call", name: Optional[str], position: Optional[int] = None) -> Optional["cst.BaseExpression"]:
    """The expression passed for parameter ``name`` (or at ``position``): the one lookup rules,
    facts and handlers share."""
    found = find_arg(call, name, position)
    return found.value if found is not None else None


@dataclass
class Site:
    b: "Builder"
    expr: "cst.Call"
    args: list[Value]
    ctx: "Ctx"
    qual: str = ""  # the resolved qualified name (function calls)
    recv: Value = field(default_factory=Value)  # the receiver (method calls)
    meth: str = ""  # the method name (method calls)

    @property
    def name(self) -> str:
        return self.meth or values.last(self.qual)

    @property
    def src(self) -> Value:
        """The first positional argument's value (the tensor most torch functions act on)."""
        return self.args[0] if self.args else values.UNKNOWN_VALUE

    def arg(self, name: Optional[str], position: Optional[int] = None) -> Optional[Value]:
        """The value passed for ``name`` (or at ``position``), unpacked ``**kw`` dicts included."""
        pos = 0
        for a, v in zip(self.expr.args, self.args):
            if a.star == "**":
                if name is not None and v.kind == values.DICT and isinstance(v.detail, dict) and name in v.detail:
                    return v.detail[name]
                continue
            if a.star:
                continue
            if a.keyword is not None:
                if a.keyword.value == name:
                    return v
            else:
                if position is not None and pos == position:
                    return v
                pos += 1
        return None

    def arg_node(self, name: Optional[str], position: Optional[int] = None) -> Optional["cst.BaseExpression"]:
        return argument(self.expr, name, position)

    def emit(self, kind, **fields):
        from clsaudit.semantic import flow

        return self.b.emit(self.ctx, flow.Event(kind, fields.pop("node", self.expr), **fields))
