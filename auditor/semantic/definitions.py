"""Definitions: the functions, classes and reading contexts of one module.

A :class:`FunctionInfo` is a function (or the module body) whose flow tree is
built lazily, on first call or at the end; a :class:`ClassInfo` is a class with
its methods and the attributes its ``__init__`` binds; a :class:`Ctx` is where
the interpreter stands while it reads one function. :class:`DefinitionCollector`
is the pre-pass that finds them (and every import, including those inside
functions and guarded blocks) before anything is interpreted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst
from clsaudit.semantic import flow, values
from clsaudit.semantic.names import dotted, last
from clsaudit.semantic.scopes import local_names
from clsaudit.semantic.values import Value

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.builder import Builder


class FunctionInfo:
    def __init__(self, node: Optional[cst.FunctionDef], name: str, qualname: str,
                 cls: Optional["ClassInfo"], builder: "Builder") -> None:
        self.node = node
        self.name = name
        self.qualname = qualname
        self.cls = cls
        self.builder = builder
        self.params: list[str] = []
        self.body = flow.Block()
        self.returns: Value = values.UNKNOWN_VALUE
        self.grad_decorator: Optional[str] = None
        self.locals: set[str] = set()
        self.built = False
        self.building = False
        self.callers: list[flow.Event] = []  # CALL events that target this function
        self.call_args: dict[str, list[Value]] = {}  # parameter -> values passed for it
        self.call_sites = 0
        self.call_sites_with_star = 0
        self.loads: dict[str, int] = {}
        self.enclosing_env: Optional[dict] = None  # closures see their enclosing function's names
        if node is not None:
            p = node.params
            self.params = [x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)]
            self.locals = local_names(node)
            for dec in node.decorators:
                expr = dec.decorator
                target = expr.func if isinstance(expr, cst.Call) else expr
                q = builder.qual(target, None)
                if q and last(q) in {"no_grad", "inference_mode"} and q.startswith("torch"):
                    self.grad_decorator = "off"
                elif q and last(q) == "enable_grad":
                    self.grad_decorator = "on"

    def args_per_call(self, pname: str) -> list[Value]:
        """The values passed for ``pname``, one per call site: a call that leaves it to its default
        counts as an unknown value, so it never agrees with a caller that passes test data."""
        passed = self.call_args.get(pname, [])
        if not passed or self.call_sites_with_star:
            return list(passed)
        return [*passed, *[values.UNKNOWN_VALUE] * max(0, self.call_sites - len(passed))]

    @property
    def is_method(self) -> bool:
        return self.cls is not None

    def ensure_built(self) -> None:
        if self.built or self.building or self.node is None:
            return
        self.building = True
        try:
            self.builder.build_function(self)
        finally:
            self.building = False
            self.built = True

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<FunctionInfo {self.qualname}>"


class ClassInfo:
    def __init__(self, node: cst.ClassDef, builder: "Builder") -> None:
        self.node = node
        self.name = node.name.value
        self.builder = builder
        self.base_quals = [builder.qual(b.value, None) or (dotted(b.value) or "") for b in node.bases]
        self.methods: dict[str, FunctionInfo] = {}
        self.attrs: dict[str, Value] = {}
        self.attrs_built = False
        self._output: Optional[Value] = None
        self._computing = False

    @property
    def is_module(self) -> bool:
        for q in self.base_quals:
            if values.is_nn_module_qual(q):
                return True
            local = self.builder.classes.get(q)
            if local is not None and local is not self and local.is_module:
                return True
            if q and q.startswith("torch.nn.") and q[len("torch.nn."):][:1].isupper():
                return True  # subclass of nn.Sequential, nn.ModuleList, ...
            if q and (q.startswith("torchvision.models.") or q.startswith("timm.")):
                return True
        return False

    @property
    def is_lightning(self) -> bool:
        for q in self.base_quals:
            if values.is_lightning_qual(q):
                return True
            local = self.builder.classes.get(q)
            if local is not None and local is not self and local.is_lightning:
                return True
        return False

    @property
    def is_dataset(self) -> bool:
        return any(q and q.split(".")[-1] in {"Dataset", "VisionDataset", "ImageFolder", "DatasetFolder"}
                   for q in self.base_quals)

    def random_item(self) -> Optional[cst.Call]:
        """A random call that ``__getitem__`` makes on every item, whatever the split (not under
        an ``if``, which may be a train-only flag): a random crop or flip inside the dataset."""
        from clsaudit.semantic.facts.syntax import descendants

        getitem = self.methods.get("__getitem__")
        if getitem is None or getitem.node is None or not isinstance(getitem.node.body, cst.IndentedBlock):
            return None
        for stmt in getitem.node.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for call in (n for n in descendants(stmt) if isinstance(n, cst.Call)):
                q = self.builder.qual(call.func, None) or ""
                if q.startswith(("random.", "numpy.random.")) or q in {"torch.rand", "torch.randint", "torch.randn",
                                                                       "torch.randperm"} or (
                        q.startswith("torchvision.transforms") and last(q).startswith("Random")):
                    return call
        return None

    def ensure_attrs(self) -> None:
        if self.attrs_built:
            return
        self.attrs_built = True
        init = self.methods.get("__init__")
        if init is not None:
            init.ensure_built()
        for name in ("setup", "build", "_build", "configure_model"):
            if name in self.methods:
                self.methods[name].ensure_built()

    def output(self) -> Value:
        """What calling an instance returns: forward's return value."""
        if self._output is not None:
            return self._output
        if self._computing:
            return values.UNKNOWN_VALUE
        self._computing = True
        try:
            fwd = self.methods.get("forward")
            out = values.UNKNOWN_VALUE
            if fwd is not None:
                self.ensure_attrs()
                fwd.ensure_built()
                out = fwd.returns
            else:
                for q in self.base_quals:
                    base = self.builder.classes.get(q)
                    if base is not None and base is not self:
                        out = base.output()
                        break
            self._output = out
            return out
        finally:
            self._computing = False


class Ctx:
    """Where the builder stands while reading one function."""

    def __init__(self, fi: FunctionInfo, env: dict[str, Value], block: flow.Block) -> None:
        self.fi = fi
        self.env = env
        self.block = block
        self.conditional = False
        self.targets: tuple = ()  # names the statement being read assigns


class DefinitionCollector:
    """The pre-pass: imports, functions, classes (mixed into the Builder)."""

    def collect(self) -> None:
        for stmt in self.module.body:
            self._collect_stmt(stmt, None)

    def _collect_stmt(self, stmt: cst.CSTNode, cls: Optional[ClassInfo]) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    self.imports.add_import(small)
                elif isinstance(small, cst.ImportFrom):
                    self.imports.add_import_from(small)
        elif isinstance(stmt, cst.FunctionDef):
            name = stmt.name.value
            if cls is None:
                # a notebook redefines `validate()` in a later cell: both definitions are kept, the
                # earlier under `name@line`; the interpreter binds each where it is defined
                if name in self.functions and self.functions[name].node is not None:
                    earlier = self.functions.pop(name)
                    earlier.qualname = f"{name}@{len(self.functions)}"
                    self.functions[earlier.qualname] = earlier
                fi = FunctionInfo(stmt, name, name, None, self)
                self.functions[name] = fi
                self.defined_at[stmt] = fi
            else:
                fi = FunctionInfo(stmt, name, f"{cls.name}.{name}", cls, self)
                cls.methods[name] = fi
                self.functions[fi.qualname] = fi
            # imports inside functions (and their branches) are common in scripts
            for inner in _nested_simple_statements(stmt.body):
                self._collect_imports(inner)
        elif isinstance(stmt, cst.ClassDef):
            ci = ClassInfo(stmt, self)
            if cls is None:
                self.classes[ci.name] = ci
            if isinstance(stmt.body, cst.IndentedBlock):
                for inner in stmt.body.body:
                    self._collect_stmt(inner, ci)
        elif isinstance(stmt, (cst.If, cst.Try)) or type(stmt).__name__ == "TryStar":
            # `if __name__ == "__main__":` blocks and guarded imports
            for block in _sub_blocks(stmt):
                for inner in block:
                    if isinstance(inner, cst.SimpleStatementLine):
                        self._collect_stmt(inner, cls)

    def _collect_imports(self, line: cst.SimpleStatementLine) -> None:
        for small in line.body:
            if isinstance(small, cst.Import):
                self.imports.add_import(small)
            elif isinstance(small, cst.ImportFrom):
                self.imports.add_import_from(small)

    # ---- names ------------------------------------------------------------------
    def qual(self, node: cst.BaseExpression, ctx: Optional[Ctx]) -> Optional[str]:
        """Resolve a Name/Attribute chain through the imports, respecting local names."""
        name = dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if ctx is not None and head in ctx.fi.locals and ctx.fi.node is not None:
            return None
        if ctx is not None and ctx.fi.node is None and head in ctx.env:
            v = ctx.env[head]
            if v.kind != values.SYMBOL:
                return None
        base = self.imports.resolve_head(head)
        if base is None:
            if self.imports.star_modules and head[:1].isupper():
                for m in self.imports.star_modules:
                    if m.startswith("torch"):
                        return f"{m}.{name}"
            return None
        return f"{base}.{rest}" if rest else base

    # ---- building functions -----------------------------------------------------------


def _sub_blocks(stmt):
    if isinstance(stmt, cst.If):
        yield stmt.body.body
        if stmt.orelse is not None:
            yield from _sub_blocks(stmt.orelse) if isinstance(stmt.orelse, cst.If) else [stmt.orelse.body.body]
    else:
        yield stmt.body.body
        for h in getattr(stmt, "handlers", ()):
            yield h.body.body
        if getattr(stmt, "orelse", None):
            yield stmt.orelse.body.body
        if getattr(stmt, "finalbody", None):
            yield stmt.finalbody.body.body


def _nested_simple_statements(block):
    """Every simple statement line under a block, through compound statements (not classes)."""
    body = getattr(block, "body", ())
    for stmt in body if isinstance(body, (list, tuple)) else ():
        if isinstance(stmt, cst.SimpleStatementLine):
            yield stmt
        elif isinstance(stmt, cst.ClassDef):
            continue
        else:
            for name in ("body", "orelse", "finalbody"):
                sub = getattr(stmt, name, None)
                if isinstance(sub, (cst.IndentedBlock, cst.Else, cst.Finally)):
                    yield from _nested_simple_statements(sub.body if isinstance(sub, (cst.Else, cst.Finally)) else sub)
                elif isinstance(sub, cst.If):
                    yield from _nested_simple_statements(sub.body)
            for h in getattr(stmt, "handlers", ()):
                yield from _nested_simple_statements(h.body)

