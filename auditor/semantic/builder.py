"""The one pass that reads a module and builds its flow trees.

Each function (and the module body) is read once, statement by statement, in
source order, with an environment that maps names to abstract values. Calls
that matter become events in the function's flow tree; everything else is
skipped. Functions and classes are built lazily so that a call can ask what
the callee returns, or what a module class's ``forward`` produces.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst
from clsaudit.semantic import flow as F
from clsaudit.semantic import values as V
from clsaudit.semantic.names import ImportTable, dotted, last
from clsaudit.semantic.scopes import local_names
from clsaudit.semantic.values import Value, classify_name  # noqa: F401 (classify_name: used here, re-exported)

DATA_WORDS = ("loader", "data", "batch", "test", "val", "train", "sample", "image", "input",
              "dl", "ds", "set", "x_")
STAT_WORDS = {"mean", "std", "stat", "stats", "statistics", "moments", "meanstd", "normalization",
              "normalisation", "norm"}
PASSTHROUGH_METHODS = {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "contiguous",
                       "clone", "squeeze", "unsqueeze", "view_as", "type", "requires_grad_",
                       "reshape", "view", "flatten", "permute", "transpose", "t", "mean", "sum",
                       "mul", "div", "add", "sub", "pow", "exp", "clamp", "clip", "abs"}
MODEL_ONLY_METHODS = {"parameters", "named_parameters", "state_dict", "load_state_dict", "eval",
                      "named_modules", "zero_grad"}
MODEL_SELF_METHODS = {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "share_memory",
                      "requires_grad_", "apply", "train", "eval"}



def is_data_text(text: str) -> bool:
    t = text.lower()
    return any(w in t for w in DATA_WORDS)


class FunctionInfo:
    def __init__(self, node: Optional[cst.FunctionDef], name: str, qualname: str,
                 cls: Optional["ClassInfo"], builder: "Builder") -> None:
        self.node = node
        self.name = name
        self.qualname = qualname
        self.cls = cls
        self.builder = builder
        self.params: list[str] = []
        self.body = F.Block()
        self.returns: Value = V.UNKNOWN_VALUE
        self.grad_decorator: Optional[str] = None
        self.locals: set[str] = set()
        self.built = False
        self.building = False
        self.callers: list[F.Event] = []  # CALL events that target this function
        self.call_args: dict[str, list[Value]] = {}
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
            if V.is_nn_module_qual(q):
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
            if V.is_lightning_qual(q):
                return True
            local = self.builder.classes.get(q)
            if local is not None and local is not self and local.is_lightning:
                return True
        return False

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
            return V.UNKNOWN_VALUE
        self._computing = True
        try:
            fwd = self.methods.get("forward")
            out = V.UNKNOWN_VALUE
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

    def __init__(self, fi: FunctionInfo, env: dict[str, Value], block: F.Block) -> None:
        self.fi = fi
        self.env = env
        self.block = block
        self.conditional = False
        self.targets: tuple = ()  # names the statement being read assigns


class Builder:
    def __init__(self, module: cst.Module, path: str) -> None:
        self.module = module
        self.path = path
        self.imports = ImportTable()
        self.functions: dict[str, FunctionInfo] = {}  # qualname -> info
        self.classes: dict[str, ClassInfo] = {}
        self.module_fn = FunctionInfo(None, "<module>", "<module>", None, self)
        self.module_env: dict[str, Value] = {}
        self.all_events: list[F.Event] = []
        self.module_shadowed: set[str] = set()
        self.bound_names: dict[cst.CSTNode, set[str]] = {}  # loader/sampler/dataset node -> names
        self.external: dict[str, object] = {}  # cross-file summaries (set by the model)
        self.peeking = 0  # > 0 while re-reading an expression for its value only (no events recorded)

    # ---- pre-pass -------------------------------------------------------------
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
                fi = FunctionInfo(stmt, name, name, None, self)
                self.functions[name] = fi
            else:
                fi = FunctionInfo(stmt, name, f"{cls.name}.{name}", cls, self)
                cls.methods[name] = fi
                self.functions[fi.qualname] = fi
            # imports inside functions are common in scripts
            if isinstance(stmt.body, cst.IndentedBlock):
                for inner in stmt.body.body:
                    if isinstance(inner, cst.SimpleStatementLine):
                        self._collect_stmt(inner, None)
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
            if v.kind != V.SYMBOL:
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
    def build_module(self) -> None:
        ctx = Ctx(self.module_fn, self.module_env, self.module_fn.body)
        self.module_fn.building = True
        self.read_block(self.module.body, ctx)
        self.module_fn.building = False
        self.module_fn.built = True

    def build_function(self, fi: FunctionInfo) -> None:
        assert fi.node is not None
        env: dict[str, Value] = {}
        for i, pname in enumerate(fi.params):
            if i == 0 and fi.cls is not None and pname in {"self", "cls"}:
                cls = fi.cls
                kind = V.MODEL if cls.is_module else V.OBJECT
                env[pname] = Value(kind, ref="self", detail=cls)
                continue
            env[pname] = self.param_value(fi, pname)
        ctx = Ctx(fi, env, fi.body)
        body = fi.node.body
        stmts = body.body if isinstance(body, cst.IndentedBlock) else [body]
        self.read_block(stmts, ctx)

    def param_value(self, fi: FunctionInfo, pname: str) -> Value:
        assert fi.node is not None
        ann = None
        default = None
        for p in (*fi.node.params.posonly_params, *fi.node.params.params, *fi.node.params.kwonly_params):
            if p.name.value == pname:
                if p.annotation is not None:
                    ann = self.qual(p.annotation.annotation, None)
                default = p.default
        kind = None
        if ann:
            if V.is_nn_module_qual(ann):
                kind = V.MODEL
            elif last(ann) in {"Optimizer"}:
                kind = V.OPTIMIZER
            elif last(ann) == "DataLoader":
                kind = V.LOADER
        kind = kind or classify_name(pname) or V.UNKNOWN
        passed = fi.call_args.get(pname)
        plain = (V.DICT, V.SEQUENCE, V.NUMBER, V.STRING)
        if kind == V.UNKNOWN and passed and (passed[0].kind in plain or passed[0].kind == V.UNKNOWN and passed[0].split):
            # plain data (a config dict, a metric): the first call's value; its data split only
            # when every call passes the same split, so a helper fed train and test stays neutral
            splits = {v.split for v in passed}
            return passed[0].with_(ref=pname, split=splits.pop() if len(splits) == 1 else None)
        if kind == V.UNKNOWN and not passed and isinstance(default, (cst.Name, cst.Dict, cst.Tuple, cst.List)):
            v = self.value(default, Ctx(self.module_fn, self.module_env, F.Block()))
            if v.kind in plain:
                return v.with_(ref=pname)  # `def main(cfg=CFG)`
        if kind in (V.UNKNOWN, V.DATASET) and passed and all(v.kind == V.DATASET for v in passed):
            classes = {v.detail for v in passed if isinstance(v.detail, str)}
            splits = {v.split for v in passed}
            if len(classes) == 1:  # every caller passes the same torchvision dataset class
                return Value(V.DATASET, ref=pname, detail=classes.pop(),
                             split=splits.pop() if len(splits) == 1 else None)
        layouts = {v.layout for v in passed or ()}
        if kind == V.UNKNOWN and len(layouts) == 1 and None not in layouts:
            # every caller passes channels-last (or NCHW) images: the layout, not the split, carries over
            return Value(V.TENSOR, ref=pname, layout=layouts.pop(), layout_at=passed[0].layout_at,
                         detail=("param", fi, pname))
        split = V.split_of_name(pname) if kind in (V.LOADER, V.DATASET, V.UNKNOWN) else None
        return Value(kind, ref=pname, detail=("param", fi, pname), split=split)

    # ---- statements ----------------------------------------------------------------
    def read_block(self, stmts, ctx: Ctx) -> None:
        for stmt in stmts:
            self.read_stmt(stmt, ctx)

    def emit(self, ctx: Ctx, ev: F.Event) -> F.Event:
        ev.conditional = ctx.conditional
        ctx.block.items.append(ev)
        if not self.peeking:
            self.all_events.append(ev)
        return ev

    def read_stmt(self, stmt: cst.CSTNode, ctx: Ctx) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.read_small(small, ctx)
        elif isinstance(stmt, (cst.For, cst.While)):
            self.read_loop(stmt, ctx)
        elif isinstance(stmt, cst.If):
            self.read_if(stmt, ctx)
        elif isinstance(stmt, cst.With):
            self.read_with(stmt, ctx)
        elif isinstance(stmt, cst.Try) or type(stmt).__name__ == "TryStar":
            self.read_block(stmt.body.body, ctx)
            arms = []
            for h in stmt.handlers:
                arms.append(self.read_arm(h.body.body, ctx))
            if arms:
                ctx.block.items.append(F.Branch(stmt, arms, exhaustive=False))
            if stmt.orelse:
                self.read_block(stmt.orelse.body.body, ctx)
            if stmt.finalbody:
                self.read_block(stmt.finalbody.body.body, ctx)
        elif isinstance(stmt, cst.FunctionDef):
            if ctx.fi.node is None:
                return  # module-level functions are built lazily on their own
            # a closure: built like any function, reading its enclosing function's names
            inner = FunctionInfo(stmt, stmt.name.value, f"{ctx.fi.qualname}.{stmt.name.value}", None, self)
            inner.enclosing_env = ctx.env
            self.functions.setdefault(inner.qualname, inner)
            ctx.env[stmt.name.value] = Value(V.FUNCTION, detail=self.functions[inner.qualname], node=stmt)
        elif isinstance(stmt, cst.ClassDef):
            return
        elif hasattr(cst, "Match") and isinstance(stmt, cst.Match):
            self.value(stmt.subject, ctx)
            arms = [self.read_arm(case.body.body, ctx) for case in stmt.cases]
            ctx.block.items.append(F.Branch(stmt, arms, exhaustive=False))

    def read_arm(self, stmts, ctx: Ctx) -> F.Block:
        block = F.Block()
        saved_block, saved_cond = ctx.block, ctx.conditional
        ctx.block, ctx.conditional = block, True
        try:
            self.read_block(stmts, ctx)
        finally:
            ctx.block, ctx.conditional = saved_block, saved_cond
        return block

    def read_if(self, stmt: cst.If, ctx: Ctx) -> None:
        # `if __name__ == "__main__":` at module level is not a condition worth the name
        test_text = dotted(stmt.test.left) if isinstance(stmt.test, cst.Comparison) else None
        if ctx.fi.node is None and test_text == "__name__":
            self.read_block(stmt.body.body, ctx)
            return
        test = self.value(stmt.test, ctx)
        arms = [self.read_arm(stmt.body.body, ctx)]
        orelse = stmt.orelse
        exhaustive = False
        while orelse is not None:
            if isinstance(orelse, cst.If):
                self.value(orelse.test, ctx)
                arms.append(self.read_arm(orelse.body.body, ctx))
                orelse = orelse.orelse
            else:
                arms.append(self.read_arm(orelse.body.body, ctx))
                exhaustive = True
                orelse = None
        ctx.block.items.append(F.Branch(stmt, arms, exhaustive, test))

    def read_loop(self, stmt, ctx: Ctx) -> None:
        iter_value = None
        iter_text = ""
        if isinstance(stmt, cst.For):
            iter_value = self.value(stmt.iter, ctx)
            iter_text = self.module.code_for_node(stmt.iter) if _small(stmt.iter) else ""
            self.bind_target(stmt.target, self.element_of(iter_value, stmt.iter), ctx)
        else:
            self.value(stmt.test, ctx)
            iter_text = ""
        body = F.Block()
        is_data = bool(iter_value is not None and (
            iter_value.kind in (V.LOADER, V.DATASET) or is_data_text(iter_text)))
        loop = F.Loop(stmt, body, iter_value, is_data, iter_text)
        ctx.block.items.append(loop)
        saved_block, saved_cond = ctx.block, ctx.conditional
        ctx.block, ctx.conditional = body, False
        try:
            self.read_block(stmt.body.body, ctx)
        finally:
            ctx.block, ctx.conditional = saved_block, saved_cond
        if isinstance(stmt, cst.While) and not is_data:
            # `while True: x, y = next(it)` style loops: data if the body pulls batches
            loop.is_data = any(ev.kind == F.MODEL_CALL for ev in F.events(body, into_loops=False)) and \
                "next(" in self.module.code_for_node(stmt.body)[:4000]
        if stmt.orelse:
            self.read_block(stmt.orelse.body.body, ctx)

    def read_with(self, stmt: cst.With, ctx: Ctx) -> None:
        grad = None
        for item in stmt.items:
            v = self.value(item.item, ctx)
            g = self.grad_context(item.item, ctx)
            if g is not None:
                grad = g
            if item.asname is not None:
                self.bind_target(item.asname.name, v, ctx)
        body = F.Block()
        ctx.block.items.append(F.With(stmt, grad, body))
        saved = ctx.block
        ctx.block = body
        try:
            self.read_block(stmt.body.body, ctx)
        finally:
            ctx.block = saved

    def grad_context(self, expr: cst.BaseExpression, ctx: Ctx) -> Optional[str]:
        call = expr if isinstance(expr, cst.Call) else None
        target = call.func if call is not None else expr
        q = self.qual(target, ctx)
        if not q or not q.startswith("torch"):
            return None
        name = last(q)
        if name in {"no_grad", "inference_mode"}:
            if name == "inference_mode" and call is not None and call.args:
                a = call.args[0].value
                if isinstance(a, cst.Name) and a.value == "False":
                    return "on"
                if not (isinstance(a, cst.Name) and a.value == "True"):
                    return "cond"
            return "off"
        if name == "enable_grad":
            return "on"
        if name == "set_grad_enabled" and call is not None and call.args:
            a = call.args[0].value
            if isinstance(a, cst.Name) and a.value in {"True", "False"}:
                return "on" if a.value == "True" else "off"
            return "cond"
        return None

    def bind_target(self, target: cst.BaseExpression, value: Value, ctx: Ctx) -> None:
        if value.node is not None and value.kind in (V.LOADER, V.SAMPLER, V.DATASET, V.OBJECT):
            name = dotted(target)
            if name:
                self.bound_names.setdefault(value.node, set()).add(name)
        if value.kind == V.MODEL and value.ref == "<new>" and value.node is not None:
            ref = dotted(target)
            if ref is not None:
                if ref.startswith("self.") and ctx.fi.cls is None:
                    ref = None
            if ref is not None:
                self.emit(ctx, F.Event(F.NEW_MODEL, value.node, ref=ref, value=value))
        if isinstance(target, cst.Name):
            name = target.value
            v = value
            if v.kind in (V.MODEL, V.OPTIMIZER, V.SCHEDULER, V.LOSS, V.OBJECT, V.SCALER) and (
                v.ref is None or v.node is not None and v.ref == "<new>"
            ):
                v = v.with_(ref=name)
            if v.kind == V.UNKNOWN:
                guess = classify_name(name)
                if guess in (V.LOADER, V.DATASET):
                    v = Value(guess, ref=name, split=v.split, layout=v.layout, layout_at=v.layout_at, node=v.node)
            if v.split is None and v.kind in (V.TENSOR, V.UNKNOWN, V.LOADER, V.DATASET, V.NUMBER):
                split = V.split_of_name(name)
                if split:
                    v = v.with_(split=split)
            if v.kind == V.TRANSFORM and V.split_of_name(name) in ("val", "test") or (
                v.kind == V.TRANSFORM and "eval" in name.lower()
            ):
                self.eval_transform(v, ctx)
            ctx.env[name] = v
            if ctx.fi.node is None and name in self.imports.aliases and value.kind != V.SYMBOL:
                self.module_shadowed.add(name)
        elif isinstance(target, cst.Attribute):
            base = dotted(target.value)
            if base == "self" and ctx.fi.cls is not None:
                attr = target.attr.value
                v = value
                ref = f"self.{attr}"
                if v.kind in (V.MODEL, V.OPTIMIZER, V.SCHEDULER, V.LOSS, V.SCALER, V.OBJECT):
                    if v.ref is None or v.ref == "<new>" or (isinstance(v.detail, tuple) and v.detail[:1] == ("param",)):
                        v = v.with_(ref=ref)
                elif v.kind == V.UNKNOWN:
                    guess = classify_name(attr)
                    if guess is not None:
                        v = Value(guess, ref=ref)
                ctx.fi.cls.attrs[attr] = v
        elif isinstance(target, (cst.Tuple, cst.List)):
            items = value.items if value.kind == V.SEQUENCE else ()
            for i, el in enumerate(target.elements):
                sub = items[i] if i < len(items) else self.guess_element(el.value, value)
                self.bind_target(el.value, sub, ctx)

    def guess_element(self, target: cst.BaseExpression, whole: Value) -> Value:
        if whole.kind == V.TENSOR:
            return whole.with_(act=None)
        if whole.split and whole.kind in (V.UNKNOWN, V.NUMBER):
            return Value(V.UNKNOWN, split=whole.split)
        if isinstance(target, cst.Name):
            g = classify_name(target.value)
            if g is not None:
                return Value(g, ref=target.value)
            return Value(V.TENSOR, split=whole.split) if whole.kind in (V.LOADER, V.DATASET) else V.UNKNOWN_VALUE
        return V.UNKNOWN_VALUE

    def element_of(self, it: Value, node: cst.BaseExpression) -> Value:
        if it.kind in (V.LOADER, V.DATASET) or it.split or it.layout:
            return Value(V.TENSOR, split=it.split, layout=it.layout, layout_at=it.layout_at)
        return V.UNKNOWN_VALUE

    def read_small(self, small: cst.BaseSmallStatement, ctx: Ctx) -> None:
        ctx.targets = _statement_targets(small)
        if isinstance(small, cst.Expr):
            self.value(small.value, ctx)
        elif isinstance(small, cst.Assign):
            v = self.value(small.value, ctx)
            for t in small.targets:
                self.assign(t.target, v, small, ctx)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                v = self.value(small.value, ctx)
                self.assign(small.target, v, small, ctx)
        elif isinstance(small, cst.AugAssign):
            v = self.value(small.value, ctx)
            target_text = dotted(small.target)
            if isinstance(small.operator, (cst.AddAssign, cst.SubtractAssign)) and target_text:
                self.emit(ctx, F.Event(F.ACCUM, small, ref=target_text, value=v))
            old = self.value(small.target, ctx) if target_text else V.UNKNOWN_VALUE
            if target_text and isinstance(small.target, cst.Name):
                merged = old.with_(grad=old.grad or v.grad) if old.kind == V.TENSOR else (
                    Value(V.TENSOR, grad=v.grad, split=old.split) if v.kind == V.TENSOR else old)
                ctx.env[target_text] = merged
        elif isinstance(small, cst.Return):
            if small.value is not None:
                v = self.value(small.value, ctx)
                prev = ctx.fi.returns
                ctx.fi.returns = v if prev.kind == V.UNKNOWN else _join(prev, v)
        elif isinstance(small, (cst.Import, cst.ImportFrom)):
            if ctx.fi.node is not None:
                return
        elif isinstance(small, cst.Del):
            return

    def assign(self, target: cst.BaseExpression, v: Value, stmt: cst.CSTNode, ctx: Ctx) -> None:
        text = dotted(target)
        if text is not None:
            # `x = x + loss` accumulates just like `x += loss`
            val = stmt.value if isinstance(stmt, cst.Assign) else None
            if isinstance(val, cst.BinaryOperation) and isinstance(val.operator, cst.Add) and (
                dotted(val.left) == text or dotted(val.right) == text
            ):
                other = val.right if dotted(val.left) == text else val.left
                self.emit(ctx, F.Event(F.ACCUM, stmt, ref=text, value=self.peek(other, ctx)))
            else:
                self.emit(ctx, F.Event(F.ASSIGN, stmt, ref=text, value=v))
            if isinstance(target, cst.Attribute) and target.attr.value == "grad":
                if isinstance(stmt, cst.Assign) and isinstance(stmt.value, cst.Name) and stmt.value.value == "None":
                    self.emit(ctx, F.Event(F.ZERO_GRAD, stmt, ref=None))
            if isinstance(target, cst.Attribute) and target.attr.value == "requires_grad":
                val = getattr(stmt, "value", None)
                if isinstance(val, cst.Name) and val.value == "True":
                    self.emit(ctx, F.Event(F.UNFREEZE, stmt, ref=dotted(target.value)))
        if isinstance(target, (cst.Attribute, cst.Subscript)) and v.kind in (V.LAYER, V.MODEL):
            base = target.value if isinstance(target, cst.Subscript) else target
            ref = dotted(base)
            own_layer = ref is not None and ref.startswith("self.") and ref.count(".") == 1 and \
                ctx.fi.cls is not None and ctx.fi.cls.is_module
            owner = base.value if isinstance(base, cst.Attribute) else None
            owner_kind = self.peek(owner, ctx).kind if owner is not None else V.UNKNOWN
            if ref and not own_layer and "." in ref and owner_kind in (V.MODEL, V.LAYER):
                self.emit(ctx, F.Event(F.LAYER_REPLACE, stmt, ref=ref, value=v))
        self.bind_target(target, v, ctx)

    def peek(self, expr: cst.BaseExpression, ctx: Ctx) -> Value:
        """The value of an expression that was already read (no new events)."""
        saved = ctx.block
        ctx.block = F.Block()
        self.peeking += 1
        try:
            return self.value(expr, ctx)
        finally:
            ctx.block = saved
            self.peeking -= 1

    # ---- expressions ----------------------------------------------------------------
    def lookup(self, name: str, ctx: Ctx) -> Value:
        fi = ctx.fi
        if not self.peeking:
            fi.loads[name] = fi.loads.get(name, 0) + 1
        if name in ctx.env:
            return ctx.env[name]
        if fi.node is not None and name in fi.locals:
            g = classify_name(name)
            return Value(g, ref=name) if g else V.UNKNOWN_VALUE
        if fi.enclosing_env is not None and name in fi.enclosing_env:
            return fi.enclosing_env[name]
        if fi.node is not None and name in self.module_env:
            return self.module_env[name]
        if name in self.external and name not in self.module_shadowed:
            return Value(V.SYMBOL, qual=name, detail=self.external[name])
        q = self.qual(cst.Name(name), None)
        if q is not None and name not in self.module_shadowed:
            return Value(V.SYMBOL, qual=q)
        if name in self.functions and self.functions[name].cls is None:
            return Value(V.FUNCTION, detail=self.functions[name])
        if name in self.classes:
            return Value(V.SYMBOL, qual=name, detail=self.classes[name])
        return V.UNKNOWN_VALUE

    def value(self, expr: cst.BaseExpression, ctx: Ctx) -> Value:
        if isinstance(expr, cst.Name):
            return self.lookup(expr.value, ctx)
        if isinstance(expr, cst.Attribute):
            return self.attribute(expr, ctx)
        if isinstance(expr, cst.Call):
            return self.call(expr, ctx)
        if isinstance(expr, (cst.Integer, cst.Float)):
            try:
                num = float(expr.value.replace("_", ""))
            except ValueError:
                num = None
            return Value(V.NUMBER, node=expr, detail=num)
        if isinstance(expr, cst.SimpleString):
            try:
                text = expr.evaluated_value
            except Exception:  # pragma: no cover - odd prefixes
                text = None
            return Value(V.STRING, node=expr, detail=text if isinstance(text, str) else None)
        if isinstance(expr, (cst.ConcatenatedString, cst.FormattedString)):
            if isinstance(expr, cst.FormattedString):
                for part in expr.parts:
                    if isinstance(part, cst.FormattedStringExpression):
                        self.value(part.expression, ctx)
            return Value(V.STRING, node=expr)
        if isinstance(expr, cst.BinaryOperation):
            return self.binop(expr, ctx)
        if isinstance(expr, cst.UnaryOperation):
            v = self.value(expr.expression, ctx)
            if v.kind == V.NUMBER and isinstance(v.detail, float) and isinstance(expr.operator, cst.Minus):
                return v.with_(detail=-v.detail)
            return v.with_(act=None) if v.kind == V.TENSOR else v
        if isinstance(expr, cst.Subscript):
            base = self.value(expr.value, ctx)
            for el in expr.slice:
                if isinstance(el.slice, cst.Index):
                    self.value(el.slice.value, ctx)
            key = expr.slice[0].slice.value if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index) else None
            if isinstance(key, cst.SimpleString):
                text = self.value(key, ctx).detail or ""
                if base.kind == V.DICT and text in base.detail:
                    return base.detail[text]
                split = V.split_of_text(text)
                if split:
                    kind = base.kind if base.kind in (V.LOADER, V.DATASET) else V.TENSOR
                    return Value(kind, split=split, node=expr, layout=base.layout, layout_at=base.layout_at)
            if base.kind == V.TENSOR:
                return base.with_(node=expr)
            if base.kind == V.SEQUENCE and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
                idx = expr.slice[0].slice.value
                if isinstance(idx, cst.Integer):
                    i = int(idx.value)
                    if -len(base.items) <= i < len(base.items):
                        return base.items[i]
            if base.kind in (V.LOADER, V.DATASET):
                return Value(V.TENSOR, split=base.split)
            if base.kind == V.MODEL:
                return Value(V.MODEL, ref=base.ref, detail=None)
            if base.split or base.layout:
                return Value(V.TENSOR, split=base.split, layout=base.layout, layout_at=base.layout_at, node=expr)
            return V.UNKNOWN_VALUE
        if isinstance(expr, (cst.Tuple, cst.List)):
            items = tuple(self.value(el.value, ctx) for el in expr.elements)
            return Value(V.SEQUENCE, items=items, node=expr)
        if isinstance(expr, cst.Comparison):
            parts = [self.value(expr.left, ctx)]
            for c in expr.comparisons:
                parts.append(self.value(c.comparator, ctx))
            return Value(V.TENSOR, grad=False, node=expr, detail=("compare", V.merge_split(parts)))
        if isinstance(expr, cst.BooleanOperation):
            self.value(expr.left, ctx)
            self.value(expr.right, ctx)
            return V.UNKNOWN_VALUE
        if isinstance(expr, cst.IfExp):
            test = self.value(expr.test, ctx)
            saved_block, saved_cond = ctx.block, ctx.conditional
            arm_a, arm_b = F.Block(), F.Block()
            ctx.conditional = True
            try:
                ctx.block = arm_a
                a = self.value(expr.body, ctx)
                ctx.block = arm_b
                b = self.value(expr.orelse, ctx)
            finally:
                ctx.block, ctx.conditional = saved_block, saved_cond
            if arm_a.items or arm_b.items:
                ctx.block.items.append(F.Branch(expr, [arm_a, arm_b], True, test))
            return _join(a, b)
        if isinstance(expr, cst.Dict):
            entries: dict = {}
            for el in expr.elements:
                if isinstance(el, cst.DictElement):
                    k = self.value(el.key, ctx)
                    v = self.value(el.value, ctx)
                    if k.kind == V.STRING and isinstance(k.detail, str):
                        split = V.split_of_text(k.detail)
                        if split and v.split is None and v.kind in (V.LOADER, V.DATASET, V.TENSOR, V.UNKNOWN):
                            v = v.with_(split=split)
                        if split in ("val", "test") and v.kind == V.TRANSFORM:
                            self.eval_transform(v, ctx)
                        entries[k.detail] = v
                        if v.node is not None and v.kind in (V.LOADER, V.SAMPLER, V.DATASET):
                            self.bound_names.setdefault(v.node, set()).add(k.detail)
            return Value(V.DICT, detail=entries, node=expr)
        if isinstance(expr, cst.DictComp):
            self.value(expr.for_in.iter, ctx)
            return V.UNKNOWN_VALUE
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            return self.comprehension(expr, ctx)
        if isinstance(expr, cst.NamedExpr):
            v = self.value(expr.value, ctx)
            self.bind_target(expr.target, v, ctx)
            return v
        if isinstance(expr, cst.Await):
            return self.value(expr.expression, ctx)
        return V.UNKNOWN_VALUE

    def comprehension(self, expr, ctx: Ctx) -> Value:
        """`[step(x, y) for x, y in loader]` is a loop too."""
        it = self.value(expr.for_in.iter, ctx)
        self.bind_target(expr.for_in.target, self.element_of(it, expr.for_in.iter), ctx)
        body = F.Block()
        saved_block, saved_cond = ctx.block, ctx.conditional
        ctx.block, ctx.conditional = body, False
        try:
            inner = expr.for_in.inner_for_in
            while inner is not None:
                self.value(inner.iter, ctx)
                inner = inner.inner_for_in
            elt = self.value(expr.elt, ctx)
        finally:
            ctx.block, ctx.conditional = saved_block, saved_cond
        if body.items:
            text = self.module.code_for_node(expr.for_in.iter)
            is_data = it.kind in (V.LOADER, V.DATASET) or is_data_text(text)
            ctx.block.items.append(F.Loop(expr, body, it, is_data, text))
        return Value(V.SEQUENCE, node=expr, items=(), grad=elt.grad) if elt.kind == V.TENSOR else Value(V.SEQUENCE, node=expr)

    def attribute(self, expr: cst.Attribute, ctx: Ctx) -> Value:
        base = self.value(expr.value, ctx)
        return self.member(base, expr.attr.value, expr)

    def member(self, base: Value, attr: str, expr: cst.Attribute) -> Value:
        if base.kind == V.SYMBOL:
            if base.detail is not None and hasattr(base.detail, "symbol_attr"):
                return base.detail.symbol_attr(attr)  # cross-file module summary
            return Value(V.SYMBOL, qual=f"{base.qual}.{attr}")
        if base.ref == "self" and isinstance(base.detail, ClassInfo):
            cls = base.detail
            cls.ensure_attrs()
            if attr in cls.attrs:
                return cls.attrs[attr]
            if attr in cls.methods:
                return Value(V.FUNCTION, detail=cls.methods[attr], ref="self")
            g = classify_name(attr)
            return Value(g, ref=f"self.{attr}") if g else V.UNKNOWN_VALUE
        if base.kind == V.OBJECT and isinstance(base.detail, ClassInfo):
            cls = base.detail
            if attr in cls.methods:
                return Value(V.FUNCTION, detail=cls.methods[attr], ref=base.ref)
            cls.ensure_attrs()
            if attr in cls.attrs:
                v = cls.attrs[attr]
                if base.ref and v.ref and v.ref.startswith("self."):
                    v = v.with_(ref=base.ref + v.ref[4:])
                return v
        if base.kind == V.MODEL:
            if attr == "module":
                return base
            if isinstance(base.detail, ClassInfo) and attr in base.detail.methods:
                return Value(V.FUNCTION, detail=base.detail.methods[attr], ref=base.ref)
            return Value(V.LAYER, ref=f"{base.ref}.{attr}" if base.ref else None, node=expr)
        if base.kind == V.TENSOR:
            if attr in {"data"}:
                return base.with_(grad=False, act=base.act)
            if attr in {"T", "mT", "real"}:
                return base
            if attr in {"shape", "ndim", "dtype", "device", "grad"}:
                return V.UNKNOWN_VALUE
        if base.kind in (V.LOADER, V.DATASET) and attr in {"dataset"}:
            return Value(V.DATASET, split=base.split, ref=base.ref)
        if base.kind == V.DATASET and attr in {"data", "targets", "tensors", "imgs", "samples", "labels"}:
            # torchvision's CIFAR10/CIFAR100 keep `.data` as an (N, 32, 32, 3) uint8 array
            nhwc = attr == "data" and base.detail in {"CIFAR10", "CIFAR100"}
            return Value(V.TENSOR, split=base.split, node=expr, layout="nhwc" if nhwc else None,
                         layout_at=expr if nhwc else None)
        if base.kind == V.UNKNOWN and base.split:
            return base
        g = classify_name(attr)
        if g is not None and base.kind in (V.UNKNOWN, V.OBJECT) and base.ref:
            return Value(g, ref=f"{base.ref}.{attr}")
        return V.UNKNOWN_VALUE

    def binop(self, expr: cst.BinaryOperation, ctx: Ctx) -> Value:
        a = self.value(expr.left, ctx)
        b = self.value(expr.right, ctx)
        if a.kind == V.DATASET and b.kind == V.DATASET and isinstance(expr.operator, cst.Add):
            return Value(V.DATASET, node=expr, split=V.merge_split((a, b)), detail="concat")
        tensors = [v for v in (a, b) if v.kind == V.TENSOR or (v.kind == V.UNKNOWN and (v.split or v.layout))]
        if not tensors:
            if a.kind == V.NUMBER and b.kind == V.NUMBER:
                return Value(V.NUMBER)
            return V.UNKNOWN_VALUE
        grad = any(v.grad for v in tensors)
        op = expr.operator
        act = None
        origin = None
        if len(tensors) == 2 and a.act == b.act and a.act in (V.PROBS, V.LOGPROBS) and isinstance(op, (cst.Add,)):
            act, origin = a.act, a.origin
        elif len(tensors) == 1:
            t = tensors[0]
            other = b if t is a else a
            if other.kind == V.NUMBER or other.kind == V.UNKNOWN:
                if isinstance(op, (cst.Divide, cst.Multiply)) and t.act in (V.PROBS,) and other.kind == V.NUMBER:
                    act, origin = t.act, t.origin
                if isinstance(op, cst.Add) and t.act == V.PROBS and other.kind == V.NUMBER:
                    act, origin = V.PROBS, t.origin  # probs + eps, ahead of a log
        elif len(tensors) == 2 and isinstance(op, cst.Divide) and a.act == V.PROBS:
            act, origin = V.PROBS, a.origin
        return Value(V.TENSOR, act=act, origin=origin, grad=grad, node=expr,
                     split=V.merge_split((a, b)), layout=next((v.layout for v in (a, b) if v.layout), None),
                     layout_at=next((v.layout_at for v in (a, b) if v.layout), None))

    # ---- calls --------------------------------------------------------------------
    def call(self, expr: cst.Call, ctx: Ctx) -> Value:
        func = expr.func
        if isinstance(func, cst.Attribute):
            recv = self.value(func.value, ctx)
            args = [self.value(a.value, ctx) for a in expr.args]
            if recv.kind in (V.OBJECT, V.MODEL, V.UNKNOWN) and isinstance(recv.detail, ClassInfo):
                recv.detail.ensure_attrs()
                if func.attr.value in recv.detail.attrs:
                    member = self.member(recv, func.attr.value, func)
                    if member.kind in (V.LOSS, V.MODEL, V.LAYER):
                        return self.plain_call(expr, member, args, ctx)
            return self.method_call(expr, recv, func.attr.value, args, ctx)
        callee = self.value(func, ctx)
        args = [self.value(a.value, ctx) for a in expr.args]
        return self.plain_call(expr, callee, args, ctx)

    def kwarg(self, expr: cst.Call, name: str) -> Optional[cst.BaseExpression]:
        for a in expr.args:
            if a.keyword is not None and a.keyword.value == name:
                return a.value
        return None

    def plain_call(self, expr: cst.Call, callee: Value, args: list[Value], ctx: Ctx) -> Value:
        if callee.kind == V.SYMBOL:
            if callee.detail is not None and isinstance(callee.detail, ClassInfo):
                return self.instantiate(expr, callee.detail, args, ctx)
            if callee.detail is not None and hasattr(callee.detail, "call_value"):
                return callee.detail.call_value(expr, self, args, ctx)  # cross-file
            return self.torch_call(expr, callee.qual or "", args, ctx)
        if callee.kind == V.FUNCTION and isinstance(callee.detail, FunctionInfo):
            return self.local_call(expr, callee.detail, args, ctx, recv_ref=callee.ref)
        if callee.kind == V.MODEL:
            return self.model_call(expr, callee, args, ctx)
        if callee.kind == V.LAYER and callee.act is not None:
            src = args[0] if args else V.UNKNOWN_VALUE
            return Value(V.TENSOR, act=callee.act, origin=callee.origin or expr, grad=src.grad, node=expr,
                         split=src.split)
        if callee.kind == V.LOSS:
            return self.loss_call(expr, callee.detail if isinstance(callee.detail, str) else None, args, ctx, callee)
        if callee.kind == V.OBJECT and isinstance(callee.detail, ClassInfo) and "__call__" in callee.detail.methods:
            return self.local_call(expr, callee.detail.methods["__call__"], args, ctx, recv_ref=callee.ref)
        if callee.kind == V.UNKNOWN and isinstance(expr.func, cst.Name):
            name = expr.func.value
            if name in {"float", "int", "len", "str", "bool", "round"}:
                return Value(V.NUMBER, node=expr)
            if name in {"enumerate", "tqdm", "iter", "zip", "reversed", "sorted", "list"} and args:
                first = args[0]
                if name == "enumerate" or name == "tqdm" or name == "iter":
                    return first if first.kind in (V.LOADER, V.DATASET) else Value(V.UNKNOWN, split=first.split)
                return first
            if name == "next" and args:
                return Value(V.TENSOR, split=args[0].split, layout=args[0].layout, layout_at=args[0].layout_at)
        if callee.kind in (V.UNKNOWN, V.FUNCTION):
            return self.with_arg_split(V.UNKNOWN_VALUE, args, expr)
        return V.UNKNOWN_VALUE

    def instantiate(self, expr: cst.Call, cls: ClassInfo, args: list[Value], ctx: Ctx) -> Value:
        init = cls.methods.get("__init__")
        if init is not None:
            self.record_call_args(init, expr, args, skip_self=True)
        if cls.is_module:
            out = cls.output()
            return Value(V.MODEL, act=out.act, origin=out.origin, origin_path=out.origin_path,
                         origin_line=out.origin_line, qual=cls.name, detail=cls, node=expr, ref="<new>")
        return Value(V.OBJECT, qual=cls.name, detail=cls, node=expr, ref="<new>")

    def record_call_args(self, fi: FunctionInfo, expr: cst.Call, args: list[Value], skip_self: bool) -> dict[str, str]:
        params = fi.params[1:] if (skip_self and fi.params[:1] and fi.params[0] in {"self", "cls"}) else list(fi.params)
        argmap: dict[str, str] = {}
        pos = 0
        for a, v in zip(expr.args, args):
            if a.star:
                continue
            if a.keyword is not None:
                pname = a.keyword.value
            else:
                if pos >= len(params):
                    continue
                pname = params[pos]
                pos += 1
            fi.call_args.setdefault(pname, []).append(v)
            r = v.ref if v.ref and v.ref != "<new>" else dotted(a.value)
            if r:
                argmap[pname] = r[:-7] if r.endswith(".module") else r
        return argmap

    def local_call(self, expr: cst.Call, fi: FunctionInfo, args: list[Value], ctx: Ctx,
                   recv_ref: Optional[str] = None) -> Value:
        is_method = fi.cls is not None and fi.params[:1] == ["self"]
        argmap = self.record_call_args(fi, expr, args, skip_self=is_method)
        if is_method and recv_ref:
            argmap["self"] = recv_ref
        ev = self.emit(ctx, F.Event(F.CALL, expr, detail=fi, argmap=argmap))
        fi.callers.append(ev)
        self.stat_helper(expr, fi.name, args, ctx)
        fi.ensure_built()
        r = fi.returns
        if r.kind == V.MODEL and r.ref and r.ref in fi.params:
            return r.with_(ref=argmap.get(r.ref, r.ref))
        return self.with_arg_split(r, args, expr)

    def stat_helper(self, expr: cst.Call, name: str, args: list[Value], ctx: Ctx) -> None:
        """`mean, std = channel_stats(test_set)`: a statistics helper run on split data."""
        if any(tok in STAT_WORDS for tok in V._tokens(name)):
            split = V.merge_split(args)
            if split:
                self.emit(ctx, F.Event(F.STAT, expr, value=Value(V.TENSOR, split=split, node=expr), detail=ctx.targets))

    def with_arg_split(self, r: Value, args: list[Value], expr: cst.Call) -> Value:
        """A function of test data returns something about test data (a metric, a batch)."""
        if r.kind in (V.MODEL, V.OPTIMIZER, V.SCHEDULER, V.LOSS, V.TRANSFORM, V.OBJECT):
            return r
        split = V.merge_split(args)
        if split is None:
            for a in args:
                if a.kind == V.STRING and isinstance(a.detail, str):
                    split = V.split_of_text(a.detail) or split
        if split and r.split is None:
            kind = r.kind if r.kind != V.UNKNOWN else V.UNKNOWN
            return r.with_(split=split, kind=kind, node=r.node or expr)
        return r

    def model_call(self, expr: cst.Call, model: Value, args: list[Value], ctx: Ctx) -> Value:
        src = args[0] if args else V.UNKNOWN_VALUE
        self.emit(ctx, F.Event(F.MODEL_CALL, expr, ref=model.ref, value=model, other=src))
        out = Value(V.TENSOR, act=model.act, origin=model.origin, origin_path=model.origin_path,
                    origin_line=model.origin_line, grad=True, node=expr)
        if model.act is None and isinstance(model.detail, tuple) and model.detail[:1] == ("param",):
            out = out.with_(detail=("from_model", model))
        return out

    def loss_call(self, expr: cst.Call, flavour: Optional[str], args: list[Value], ctx: Ctx,
                  loss_value: Optional[Value] = None) -> Value:
        inp = args[0] if args else V.UNKNOWN_VALUE
        tgt = args[1] if len(args) > 1 else V.UNKNOWN_VALUE
        for a, v in zip(expr.args, args):
            if a.keyword is not None and a.keyword.value == "input":
                inp = v
            elif a.keyword is not None and a.keyword.value == "target":
                tgt = v
        self.emit(ctx, F.Event(F.LOSS, expr, value=inp, other=tgt, detail=flavour,
                               ref=loss_value.ref if loss_value else None, argmap={"loss": loss_value}))
        return Value(V.TENSOR, grad=True, node=expr, detail="loss")

    def torch_call(self, expr: cst.Call, qual: str, args: list[Value], ctx: Ctx) -> Value:
        name = last(qual)
        fname = V.functional_name(qual)
        src = args[0] if args else V.UNKNOWN_VALUE
        data = self.data_call(expr, qual, name, args, ctx)
        if data is not None:
            return data
        if fname in V.FUNCTIONAL_LOSSES and (qual.startswith("torch.nn.functional") or qual == f"torch.{fname}"):
            return self.loss_call(expr, V.FUNCTIONAL_LOSSES[fname], args, ctx)
        if fname in V.SOFTMAX_FUNCS:
            return Value(V.TENSOR, act=V.PROBS, origin=expr, grad=src.grad, node=expr, split=src.split)
        if fname in V.LOG_SOFTMAX_FUNCS:
            return Value(V.TENSOR, act=V.LOGPROBS, origin=expr, grad=src.grad, node=expr, split=src.split)
        if fname in V.SIGMOID_FUNCS:
            return Value(V.TENSOR, act=V.SIGMOID, origin=expr, grad=src.grad, node=expr, split=src.split)
        if fname == "log" and src.act == V.PROBS:
            return Value(V.TENSOR, act=V.LOGPROBS, origin=src.origin, grad=src.grad, node=expr)
        if fname in {"argmax", "max", "topk"} and qual.startswith("torch"):
            if src.act == V.PROBS:
                self.emit(ctx, F.Event(F.ARGMAX, expr, value=src, detail=fname))
            elif src.grad:
                self.emit(ctx, F.Event(F.PREDICT, expr, value=src, detail=fname))
            return Value(V.TENSOR, grad=False, node=expr, detail=("max", src) if fname == "max" else None)
        cls = V.torch_nn_class(qual)
        if cls is not None:
            if cls in V.LOSS_CLASSES:
                return Value(V.LOSS, detail=V.LOSS_CLASSES[cls], qual=qual, node=expr, ref="<new>")
            if cls in V.ACTIVATION_LAYERS:
                return Value(V.LAYER, act=V.ACTIVATION_LAYERS[cls], origin=expr, qual=qual, node=expr)
            if cls == "Sequential":
                act, origin, op, ol = None, None, None, None
                layers = [a for a, arg in zip(args, expr.args) if not arg.keyword]
                if layers:
                    tail = layers[-1]
                    if tail.kind in (V.LAYER, V.MODEL) and tail.act:
                        act, origin, op, ol = tail.act, tail.origin, tail.origin_path, tail.origin_line
                return Value(V.MODEL, act=act, origin=origin, origin_path=op, origin_line=ol, qual=qual,
                             node=expr, ref="<new>")
            if cls in V.MODEL_WRAPPERS:
                return src if src.kind == V.MODEL else Value(V.MODEL, ref=src.ref)
            if cls[:1].isupper() and cls not in {"Parameter", "Module"}:
                return Value(V.LAYER, qual=qual, node=expr)
        if qual.startswith("torch.nn.parallel.") or last(qual) in V.MODEL_WRAPPERS and qual.startswith("torch"):
            return src if src.kind == V.MODEL else Value(V.MODEL, ref=src.ref)
        if V.is_optimizer_qual(qual):
            v = Value(V.OPTIMIZER, qual=qual, node=expr, ref="<new>", detail=expr)
            self.emit(ctx, F.Event(F.OPTIMIZER_NEW, expr, value=v, argmap={"params": args[0] if args else None}))
            return v
        if V.is_scheduler_qual(qual):
            return Value(V.SCHEDULER, qual=qual, node=expr, ref="<new>", detail=expr)
        if name in V.SCALERS and qual.startswith("torch"):
            return Value(V.SCALER, qual=qual, node=expr, ref="<new>")
        if V.is_torchvision_model(qual):
            return Value(V.MODEL, qual=qual, node=expr, ref="<new>", detail=expr)
        if qual in {"torch.autograd.backward", "torch.autograd.grad"}:  # both run a backward pass
            self.emit(ctx, F.Event(F.BACKWARD, expr, value=src))
            return V.UNKNOWN_VALUE
        if qual.startswith("torch") and name in {"set_grad_enabled"} and isinstance(ctx.block, F.Block):
            g = self.grad_context(expr, ctx)
            self.emit(ctx, F.Event(F.GRAD_SET, expr, detail=g))
            return V.UNKNOWN_VALUE
        if qual.startswith("torch") and name in {"cat", "stack", "mean", "sum", "where", "clamp", "exp",
                                                 "flip", "squeeze", "unsqueeze", "from_numpy", "tensor",
                                                 "as_tensor", "log", "abs", "sqrt"}:
            grad = any(a.grad for a in args if a.kind == V.TENSOR)
            first = args[0] if args else V.UNKNOWN_VALUE
            if first.kind == V.SEQUENCE and first.items:
                grad = any(i.grad for i in first.items if i.kind == V.TENSOR)
            return Value(V.TENSOR, grad=grad, node=expr, split=src.split)
        if qual in {"float", "int"}:
            return Value(V.NUMBER)
        return V.UNKNOWN_VALUE

    # ---- data provenance: datasets, loaders, transforms, arrays -------------------------
    def kwvalue(self, expr: cst.Call, args: list[Value], name: str, position: Optional[int] = None) -> Optional[Value]:
        pos = 0
        for a, v in zip(expr.args, args):
            if a.keyword is not None:
                if a.keyword.value == name:
                    return v
            else:
                if position is not None and pos == position:
                    return v
                pos += 1
        return None

    def data_call(self, expr: cst.Call, qual: str, name: str, args: list[Value], ctx: Ctx) -> Optional[Value]:
        src = args[0] if args else V.UNKNOWN_VALUE
        if qual.startswith("torchvision.datasets.") and name[:1].isupper():
            split = None
            train = self.kwvalue(expr, args, "train")
            if train is not None:
                t = self.kwarg(expr, "train")
                if isinstance(t, cst.Name) and t.value in {"True", "False"}:
                    split = "train" if t.value == "True" else "test"
            for key in ("split", "image_set"):
                v = self.kwvalue(expr, args, key)
                if v is not None and v.kind == V.STRING and isinstance(v.detail, str):
                    split = V.split_of_text(v.detail) or split
            if split is None and name in {"ImageFolder", "DatasetFolder"} and expr.args:
                split = V.split_of_text(self.module.code_for_node(expr.args[0].value))
            transform = self.kwvalue(expr, args, "transform")
            v = Value(V.DATASET, qual=qual, node=expr, split=split, detail=name)
            self.emit(ctx, F.Event(F.DATASET_NEW, expr, value=v, other=transform))
            if transform is not None and transform.kind == V.TRANSFORM and split in ("val", "test"):
                self.eval_transform(transform, ctx, dataset=expr)
            return v
        if qual in {"torch.utils.data.random_split", "torch.utils.data.dataset.random_split"}:
            keep = src.split if src.split == "test" else None
            return Value(V.SEQUENCE, items=(src.with_(split=keep or src.split), src.with_(split=keep or None),
                                            src.with_(split=keep or None)), node=expr)
        if qual.startswith("torch.utils.data") and name == "Subset":
            return src.with_(node=expr) if src.kind != V.UNKNOWN else Value(V.DATASET, node=expr, split=src.split)
        if qual.startswith("torch.utils.data") and name in {"ConcatDataset", "ChainDataset"}:
            items = src.items if src.kind == V.SEQUENCE else args
            return Value(V.DATASET, node=expr, split=V.merge_split(items), detail="concat")
        if qual.startswith("torch.utils.data") and name == "TensorDataset":
            return Value(V.DATASET, node=expr, split=V.merge_split(args), layout=src.layout, layout_at=src.layout_at, detail="tensors")
        if qual.startswith("torch.utils.data") and name in V.LOADERS:
            v = Value(V.LOADER, qual=qual, node=expr, split=src.split, layout=src.layout, layout_at=src.layout_at, detail=src)
            self.emit(ctx, F.Event(F.LOADER_NEW, expr, value=v, other=self.kwvalue(expr, args, "sampler")))
            return v
        if qual.startswith("torch.utils.data") and name == "DistributedSampler":
            v = Value(V.SAMPLER, qual=qual, node=expr, split=src.split, detail=src)
            self.emit(ctx, F.Event(F.SAMPLER_NEW, expr, value=v))
            return v
        if qual.startswith("torchvision.transforms"):
            return self.transform_call(expr, name, args, ctx)
        if qual in {"torch.nn.functional.interpolate", "torch.nn.functional.upsample", "torch.nn.Upsample",
                    "torch.nn.UpsamplingBilinear2d", "torch.nn.UpsamplingNearest2d"}:
            self.emit(ctx, F.Event(F.UPSAMPLE, expr))
            return Value(V.TENSOR, grad=src.grad, node=expr, split=src.split) if qual.islower() else Value(V.LAYER, node=expr)
        if qual.startswith("numpy.") or qual in {"torch.cat", "torch.stack", "torch.concat", "torch.vstack"}:
            return self.array_call(expr, qual, name, args, ctx)
        if qual in {"torch.mean", "torch.std", "torch.var", "torch.std_mean", "torch.var_mean"} and (src.split or src.layout):
            return self.stat(expr, src, ctx)
        if qual in {"torch.from_numpy", "torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor"} and (
            src.split or src.layout
        ):
            return Value(V.TENSOR, node=expr, split=src.split, layout=src.layout, layout_at=src.layout_at)
        if qual in {"PIL.Image.open"}:
            return Value(V.UNKNOWN, node=expr, layout="hwc", layout_at=expr)
        return None

    def array_call(self, expr: cst.Call, qual: str, name: str, args: list[Value], ctx: Ctx) -> Optional[Value]:
        src = args[0] if args else V.UNKNOWN_VALUE
        if name in {"concatenate", "vstack", "hstack", "stack", "cat", "concat", "append", "row_stack"}:
            items = list(src.items) if src.kind == V.SEQUENCE else list(args)
            if name == "append":
                items = list(args[:2])
            grad = any(i.grad for i in items if i.kind == V.TENSOR)
            first = next((i for i in items if i.layout), None)
            return Value(V.TENSOR, node=expr, split=V.merge_split(items), grad=grad,
                         layout=first.layout if first else None, layout_at=first.layout_at if first else None)
        if name in {"mean", "std", "var", "nanmean", "nanstd"} and (src.split or src.layout):
            return self.stat(expr, src, ctx)
        if name == "transpose" and len(args) >= 2:
            return self.relayout(expr, src, self.int_list(expr.args[1:]), "transpose", ctx)
        if name in {"array", "asarray", "ascontiguousarray", "float32", "copy"}:
            return Value(V.TENSOR, node=expr, split=src.split, layout=src.layout, layout_at=src.layout_at) if (src.split or src.layout) else None
        if name == "load" and src.kind == V.STRING and isinstance(src.detail, str):
            split = V.split_of_text(src.detail)
            return Value(V.UNKNOWN, node=expr, split=split) if split else None
        return None

    def stat(self, expr: cst.Call, src: Value, ctx: Ctx) -> Value:
        if src.split:
            self.emit(ctx, F.Event(F.STAT, expr, value=src, detail=ctx.targets))
        return Value(V.TENSOR, node=expr, detail="stat", split=None)

    def int_list(self, args) -> list[Optional[int]]:
        out: list[Optional[int]] = []
        for a in args:
            v = a.value if hasattr(a, "value") else a
            if isinstance(v, (cst.Tuple, cst.List)):
                return self.int_list([el.value for el in v.elements])
            if isinstance(v, cst.Integer):
                out.append(int(v.value))
            elif isinstance(v, cst.UnaryOperation) and isinstance(v.expression, cst.Integer):
                out.append(-int(v.expression.value))
            else:
                out.append(None)
        return out

    def views_hw_as_chw(self, expr: cst.Call) -> bool:
        """`x.view(n, 3, x.shape[1], x.shape[2])`: the source's dims 1 and 2 become H and W, so the
        source was (N, H, W, C) and a view cannot move its channels."""
        args = [a.value for a in expr.args if a.keyword is None]
        if len(args) != 4 or not isinstance(args[1], cst.Integer) or args[1].value not in {"1", "3"}:
            return False
        recv = expr.func.value
        while isinstance(recv, cst.Call) and recv.args and not isinstance(recv.func, cst.Attribute):
            recv = recv.args[0].value  # torch.tensor(images) -> images
        if isinstance(recv, cst.Call) and isinstance(recv.func, cst.Attribute) and recv.args:
            recv = recv.args[0].value
        name = dotted(recv)
        if name is None:
            return False
        code = self.module.code_for_node
        want = ({f"{name}.shape[1]", f"{name}.size(1)"}, {f"{name}.shape[2]", f"{name}.size(2)"})
        return code(args[2]).replace(" ", "") in want[0] and code(args[3]).replace(" ", "") in want[1]

    def relayout(self, expr: cst.Call, src: Value, dims: list, how: str, ctx: Ctx) -> Value:
        """Follow NHWC/NCHW through reshape/view/transpose/permute of image batches."""
        layout = src.layout
        if how in ("transpose", "permute") and len(dims) == 4:
            if dims == [0, 2, 3, 1]:
                layout = "nhwc"
            elif dims == [0, 3, 1, 2]:
                layout = "nchw"
            else:
                layout = None
        elif how in ("transpose", "permute") and len(dims) == 3:
            layout = "hwc" if dims == [1, 2, 0] else ("chw" if dims == [2, 0, 1] else None)
        elif how in ("reshape", "view") and len(dims) == 4 and all(d is not None for d in dims[1:]):
            c_last = dims[3] in (1, 3) and dims[1] == dims[2] and dims[1] >= 8
            c_first = dims[1] in (1, 3) and dims[2] == dims[3] and dims[2] >= 8
            if c_first:
                self.emit(ctx, F.Event(F.IMAGE_SIZE, expr, detail=dims[2]))
                if src.layout in ("nhwc", "hwc"):
                    self.emit(ctx, F.Event(F.LAYOUT_SCRAMBLE, expr, value=src))
                layout = "nchw"
            elif c_last:
                self.emit(ctx, F.Event(F.IMAGE_SIZE, expr, detail=dims[1]))
                layout = "nhwc"
        elif how in ("reshape", "view"):
            layout = None
        made_here = layout is not None and layout != src.layout
        return Value(V.TENSOR, node=expr, split=src.split, layout=layout, grad=src.grad,
                     layout_at=expr if made_here else src.layout_at)

    def transform_call(self, expr: cst.Call, name: str, args: list[Value], ctx: Ctx) -> Value:
        src = args[0] if args else V.UNKNOWN_VALUE
        if name in {"Compose", "RandomApply", "RandomChoice", "RandomOrder"} or name == "Sequential":
            items = src.items if src.kind == V.SEQUENCE else ()
            randoms = tuple(n for i in items if i.kind == V.TRANSFORM for n in i.randoms)
            if name != "Compose" and name != "Sequential":
                randoms = (expr,)
            return Value(V.TRANSFORM, node=expr, randoms=randoms, detail=name)
        if name == "Normalize":
            mean = self.kwvalue(expr, args, "mean", 0)
            std = self.kwvalue(expr, args, "std", 1)
            for a, v in zip(expr.args, args):
                if a.star == "**" and v.kind == V.DICT:
                    mean = v.detail.get("mean", mean)
                    std = v.detail.get("std", std)
            self.emit(ctx, F.Event(F.NORMALIZE, expr, value=mean, other=std))
            return Value(V.TRANSFORM, node=expr, detail=name)
        if name in {"RandomCrop", "Resize", "CenterCrop", "RandomResizedCrop", "FiveCrop", "TenCrop"} and expr.args:
            size = self.int_list([expr.args[0]])
            if size and size[0] is not None:
                self.emit(ctx, F.Event(F.IMAGE_SIZE, expr, detail=size[0], other=Value(V.STRING, detail=name)))
                if name in {"Resize", "RandomResizedCrop"} and size[0] >= 64:
                    self.emit(ctx, F.Event(F.UPSAMPLE, expr, detail=size[0]))
        randoms = (expr,) if V.is_random_transform(name) else ()
        return Value(V.TRANSFORM, node=expr, randoms=randoms, detail=name)

    def eval_transform(self, v: Value, ctx: Ctx, dataset: Optional[cst.CSTNode] = None) -> None:
        for node in v.randoms:
            self.emit(ctx, F.Event(F.RANDOM_EVAL, node, detail=dataset))

    def method_call(self, expr: cst.Call, recv: Value, meth: str, args: list[Value], ctx: Ctx) -> Value:
        if recv.kind == V.UNKNOWN and meth in MODEL_ONLY_METHODS and isinstance(expr.func.value, cst.Name):
            # an instance of a class from a module that is not checked (`from models import ResNet18`):
            # `.parameters()` or `.eval()` says it is a model; later calls on the name are model calls
            name = expr.func.value.value
            recv = Value(V.MODEL, ref=name)
            if name in ctx.env or ctx.fi.node is None:
                ctx.env[name] = recv
        if meth == "fit":
            self.emit(ctx, F.Event(F.FIT, expr, value=Value(V.SEQUENCE, items=tuple(args))))
        if meth in {"append", "extend", "update", "add_"} or meth.startswith("log"):
            self.emit(ctx, F.Event(F.COLLECT, expr, value=args[0] if args else None))
        if recv.kind == V.UNKNOWN and meth in {"reshape", "view", "transpose"} and len(expr.args) >= 3:
            recv = recv.with_(kind=V.TENSOR)
        # calls into code defined in this file
        if recv.kind == V.SYMBOL:
            return self.plain_call(expr, Value(V.SYMBOL, qual=f"{recv.qual}.{meth}",
                                               detail=recv.detail.symbol_attr(meth).detail
                                               if recv.detail is not None and hasattr(recv.detail, "symbol_attr") else None),
                                   args, ctx)
        cls = recv.detail if isinstance(recv.detail, ClassInfo) else None
        if cls is not None and meth in cls.methods and meth not in {"train", "eval"} or (
            cls is not None and meth in cls.methods and not cls.is_module
        ):
            return self.local_call(expr, cls.methods[meth], args, ctx, recv_ref=recv.ref)
        if recv.ref == "self" and cls is not None:
            # an inherited method we don't know: nothing to follow
            pass
        # ---- universal tensor / module methods
        if meth == "backward":
            self.emit(ctx, F.Event(F.BACKWARD, expr, value=recv if recv.kind == V.TENSOR or not args else args[0],
                                   ref=dotted(expr.func.value)))
            return V.UNKNOWN_VALUE
        if meth in {"eval", "train"} and not (meth == "train" and recv.kind in (V.OBJECT,) and cls is not None):
            if meth == "eval" and args:
                return V.UNKNOWN_VALUE
            mode = "eval" if meth == "eval" else "train"
            if meth == "train" and expr.args:
                a = expr.args[0].value
                if isinstance(a, cst.Name) and a.value in {"True", "False"}:
                    mode = "train" if a.value == "True" else "eval"
                else:
                    mode = "cond"
            ref = recv.ref
            if ref is None:
                ref = dotted(expr.func.value)
            if ref and ref.endswith(".module"):
                ref = ref[:-7]
            if recv.kind in (V.MODEL, V.UNKNOWN, V.LAYER) or classify_name((ref or "").split(".")[-1]) == V.MODEL:
                self.emit(ctx, F.Event(F.MODE, expr, ref=ref, detail=mode))
            return recv
        if meth == "zero_grad":
            self.emit(ctx, F.Event(F.ZERO_GRAD, expr, ref=recv.ref))
            return V.UNKNOWN_VALUE
        if meth == "zero_" and isinstance(expr.func.value, cst.Attribute) and expr.func.value.attr.value == "grad":
            self.emit(ctx, F.Event(F.ZERO_GRAD, expr, ref=None))
            return V.UNKNOWN_VALUE
        if meth == "step":
            if recv.kind == V.SCALER or (recv.kind == V.UNKNOWN and (recv.ref or "").endswith("scaler")):
                opt = args[0] if args else V.UNKNOWN_VALUE
                self.emit(ctx, F.Event(F.STEP, expr, ref=opt.ref or (dotted(expr.args[0].value) if expr.args else None), value=opt))
                return V.UNKNOWN_VALUE
            if recv.kind == V.OPTIMIZER:
                self.emit(ctx, F.Event(F.STEP, expr, ref=recv.ref, value=recv,
                                       detail="closure" if expr.args else None))
                return V.UNKNOWN_VALUE
            if recv.kind == V.SCHEDULER:
                self.emit(ctx, F.Event(F.SCHED_STEP, expr, ref=recv.ref, value=recv, other=args[0] if args else None))
                return V.UNKNOWN_VALUE
            return V.UNKNOWN_VALUE
        if meth == "scale" and recv.kind == V.SCALER:
            return args[0] if args else V.UNKNOWN_VALUE
        if meth in {"item", "tolist"}:
            return Value(V.NUMBER, node=expr, split=recv.split)
        if meth == "set_epoch":
            self.emit(ctx, F.Event(F.SET_EPOCH, expr, ref=recv.ref or dotted(expr.func.value)))
            return V.UNKNOWN_VALUE
        if meth == "add_param_group":
            self.emit(ctx, F.Event(F.ADD_PARAM_GROUP, expr, ref=recv.ref or dotted(expr.func.value)))
            return V.UNKNOWN_VALUE
        if meth == "requires_grad_":
            a = expr.args[0].value if expr.args else None
            if a is None or (isinstance(a, cst.Name) and a.value == "True"):
                self.emit(ctx, F.Event(F.UNFREEZE, expr, ref=dotted(expr.func.value)))
            return recv
        tensor_method = meth in {"softmax", "log_softmax", "sigmoid"} and all(
            a.kind == V.NUMBER for a, arg in zip(args, expr.args) if arg.keyword is None
        )  # x.softmax(1), not a module-like `F.softmax(x, 1)`
        if recv.kind == V.UNKNOWN and (recv.split or recv.layout or tensor_method):
            recv = recv.with_(kind=V.TENSOR)
        if meth in {"reshape", "view"} and self.views_hw_as_chw(expr):
            self.emit(ctx, F.Event(F.LAYOUT_SCRAMBLE, expr, value=recv))
            return Value(V.TENSOR, node=expr, split=recv.split, layout="nchw", grad=recv.grad)
        if recv.kind == V.TENSOR and meth in {"reshape", "view", "transpose", "permute"}:
            return self.relayout(expr, recv, self.int_list(expr.args), meth, ctx)
        if recv.kind == V.TENSOR and meth in {"mean", "std", "var"} and recv.split:
            return self.stat(expr, recv, ctx)
        if recv.kind == V.TENSOR and meth in {"numpy", "astype", "float", "to", "cuda", "cpu", "double",
                                               "unsqueeze", "contiguous", "clone", "copy"} and (recv.split or recv.layout):
            return recv.with_(node=expr, grad=False if meth == "numpy" else recv.grad)
        if meth == "numpy":
            return Value(V.NUMBER, node=expr, split=recv.split)
        if recv.kind == V.TENSOR:
            if meth == "softmax":
                return Value(V.TENSOR, act=V.PROBS, origin=expr, grad=recv.grad, node=expr, split=recv.split)
            if meth == "log_softmax":
                return Value(V.TENSOR, act=V.LOGPROBS, origin=expr, grad=recv.grad, node=expr, split=recv.split)
            if meth == "sigmoid":
                return Value(V.TENSOR, act=V.SIGMOID, origin=expr, grad=recv.grad, node=expr, split=recv.split)
            if meth == "log" and recv.act == V.PROBS:
                return recv.with_(act=V.LOGPROBS, node=expr)
            if meth in {"argmax", "max", "topk"}:
                if recv.act == V.PROBS:
                    self.emit(ctx, F.Event(F.ARGMAX, expr, value=recv, detail=meth))
                elif recv.grad:
                    self.emit(ctx, F.Event(F.PREDICT, expr, value=recv, detail=meth))
                return Value(V.TENSOR, grad=False, node=expr, detail=("max", recv) if meth != "argmax" else None)
            if meth in {"detach", "cpu_numpy"} or meth == "data":
                return recv.with_(grad=False, node=expr)
            if meth in PASSTHROUGH_METHODS:
                keep_act = meth in {"to", "cuda", "cpu", "float", "double", "half", "contiguous", "clone",
                                    "squeeze", "unsqueeze", "bfloat16", "type"}
                return recv.with_(act=recv.act if keep_act else None, node=expr)
            if meth in {"eq", "ne", "lt", "gt", "le", "ge"}:
                return Value(V.TENSOR, grad=False, node=expr)
            return Value(V.TENSOR, grad=recv.grad, node=expr, split=recv.split, layout=recv.layout, layout_at=recv.layout_at)
        if recv.kind == V.MODEL:
            if meth in MODEL_SELF_METHODS:
                return recv
            if meth in {"forward", "__call__"}:
                return self.model_call(expr, recv, args, ctx)
            if meth in {"parameters", "named_parameters", "children", "modules", "state_dict"}:
                return Value(V.UNKNOWN, ref=recv.ref, node=expr, detail="parameters")
            return V.UNKNOWN_VALUE
        if recv.kind == V.LAYER and meth in MODEL_SELF_METHODS:
            return recv
        if recv.kind == V.LOSS and meth in {"to", "cuda"}:
            return recv
        if recv.kind in (V.UNKNOWN,) and meth in {"to", "cuda", "cpu", "float"}:
            return recv
        return V.UNKNOWN_VALUE


def _join(a: Value, b: Value) -> Value:
    if a.kind == V.UNKNOWN:
        return b
    if b.kind == V.UNKNOWN:
        return a
    if a.kind == b.kind:
        randoms = tuple(n for n in a.randoms if n in b.randoms)
        if a.act == b.act:
            return a.with_(grad=a.grad or b.grad, randoms=randoms)
        return a.with_(act=None, grad=a.grad or b.grad, randoms=randoms)
    return V.UNKNOWN_VALUE


def _statement_targets(small) -> tuple:
    names: list[str] = []
    targets = []
    if isinstance(small, cst.Assign):
        targets = [t.target for t in small.targets]
    elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
        targets = [small.target]
    while targets:
        t = targets.pop()
        if isinstance(t, (cst.Tuple, cst.List)):
            targets.extend(el.value for el in t.elements)
        else:
            d = dotted(t) if not isinstance(t, cst.Subscript) else dotted(t.value)
            if d:
                names.append(d)
    return tuple(names)


def _small(node: cst.CSTNode) -> bool:
    return not isinstance(node, (cst.ListComp, cst.GeneratorExp, cst.Lambda))


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
