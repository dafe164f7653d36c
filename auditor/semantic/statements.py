"""The interpreter, statements: blocks, branches, loops, ``with``, assignments.

Reading a statement appends events to the current flow block and binds names
in the environment. Branches are read arm by arm from the same starting
environment and joined where they meet (see :mod:`clsaudit.semantic.join`).
"""

from __future__ import annotations

from typing import Optional

import libcst as cst
from clsaudit.semantic import flow, values
from clsaudit.semantic.api import data as data_api
from clsaudit.semantic.api import models as api_models
from clsaudit.semantic.definitions import ClassInfo, Ctx, FunctionInfo
from clsaudit.semantic.heuristics import (
    classify_name,
    is_data_text,
    selection_action,
    split_of_name,
)
from clsaudit.semantic.join import join_env, join_values
from clsaudit.semantic.names import dotted, last
from clsaudit.semantic.values import Value


class StatementReader:
    """Statements (mixed into the Builder)."""

    def read_block(self, stmts, ctx: Ctx) -> None:
        for stmt in stmts:
            self.read_stmt(stmt, ctx)

    def emit(self, ctx: Ctx, ev: flow.Event) -> flow.Event:
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
            arms = self.read_arms([h.body.body for h in stmt.handlers], ctx, exhaustive=False)
            if arms:
                ctx.block.items.append(flow.Branch(stmt, arms, exhaustive=False))
            if stmt.orelse:
                self.read_block(stmt.orelse.body.body, ctx)
            if stmt.finalbody:
                self.read_block(stmt.finalbody.body.body, ctx)
        elif isinstance(stmt, cst.FunctionDef):
            if ctx.fi.node is None:
                # module-level functions are built lazily on their own; the name now means this one
                fi = self.defined_at.get(stmt)
                if fi is not None:
                    ctx.env[stmt.name.value] = Value(values.FUNCTION, detail=fi, node=stmt)
                return
            # a closure: built like any function, reading its enclosing function's names
            inner = FunctionInfo(stmt, stmt.name.value, f"{ctx.fi.qualname}.{stmt.name.value}", None, self)
            inner.enclosing_env = ctx.env
            self.functions.setdefault(inner.qualname, inner)
            ctx.env[stmt.name.value] = Value(values.FUNCTION, detail=self.functions[inner.qualname], node=stmt)
        elif isinstance(stmt, cst.ClassDef):
            if ctx.fi.node is None:
                return  # module-level classes were collected by the pre-pass
            # a class defined inside a function counts like a module-level one
            ci = self.classes.get(stmt.name.value)
            if ci is None or ci.node is not stmt:
                ci = ClassInfo(stmt, self)
                self.classes.setdefault(ci.name, ci)
                for inner in stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ():
                    self._collect_stmt(inner, ci)
            ctx.env[stmt.name.value] = Value(values.SYMBOL, qual=stmt.name.value, detail=ci)
        elif hasattr(cst, "Match") and isinstance(stmt, cst.Match):
            self.value(stmt.subject, ctx)
            arms = [self.read_arm(case.body.body, ctx) for case in stmt.cases]
            ctx.block.items.append(flow.Branch(stmt, arms, exhaustive=False))

    def read_arm(self, stmts, ctx: Ctx) -> flow.Block:
        block = flow.Block()
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
        bodies = [stmt.body.body]
        orelse = stmt.orelse
        exhaustive = False
        while orelse is not None:
            if isinstance(orelse, cst.If):
                self.value(orelse.test, ctx)
                bodies.append(orelse.body.body)
                orelse = orelse.orelse
            else:
                bodies.append(orelse.body.body)
                exhaustive = True
                orelse = None
        arms = self.read_arms(bodies, ctx, exhaustive)
        ctx.block.items.append(flow.Branch(stmt, arms, exhaustive, test))

    def read_arms(self, bodies: list, ctx: Ctx, exhaustive: bool) -> list[flow.Block]:
        """Read each arm from the same environment, then join the environments where they meet."""
        before = dict(ctx.env)
        arms, envs = [], []
        for body in bodies:
            ctx.env.clear()
            ctx.env.update(before)
            arms.append(self.read_arm(body, ctx))
            if not _leaves(body):
                envs.append(dict(ctx.env))
        joined = join_env(before, envs, exhaustive) if envs else before
        ctx.env.clear()
        ctx.env.update(joined)
        return arms

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
        body = flow.Block()
        phases = iter_value is not None and iter_value.kind == values.SEQUENCE and bool(iter_value.items) and all(
            i.kind == values.STRING for i in iter_value.items)  # `for phase in ["train", "val"]`
        is_data = bool(iter_value is not None and not phases and (
            iter_value.kind in (values.LOADER, values.DATASET) or is_data_text(iter_text)))
        loop = flow.Loop(stmt, body, iter_value, is_data, iter_text)
        ctx.block.items.append(loop)
        saved_block, saved_cond = ctx.block, ctx.conditional
        ctx.block, ctx.conditional = body, False
        try:
            self.read_block(stmt.body.body, ctx)
        finally:
            ctx.block, ctx.conditional = saved_block, saved_cond
        if isinstance(stmt, cst.While) and not is_data:
            # `while True: x, y = next(it)` style loops: data if the body pulls batches
            loop.is_data = any(ev.kind == flow.MODEL_CALL for ev in flow.events(body, into_loops=False)) and \
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
        body = flow.Block()
        ctx.block.items.append(flow.With(stmt, grad, body))
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
        if value.node is not None and value.kind in (values.LOADER, values.SAMPLER, values.DATASET, values.OBJECT):
            name = dotted(target)
            if name:
                self.bound_names.setdefault(value.node, set()).add(name)
        if value.kind == values.MODEL and value.ref == "<new>" and value.node is not None:
            ref = dotted(target)
            if ref is not None:
                if ref.startswith("self.") and ctx.fi.cls is None:
                    ref = None
            if ref is not None:
                self.emit(ctx, flow.Event(flow.NEW_MODEL, value.node, ref=ref, value=value))
        if value.kind == values.OBJECT and value.ref == "<new>" and isinstance(value.detail, ClassInfo):
            ref = dotted(target)  # `runner = Runner(...)`: its __init__ runs, its models start in train mode
            if ref is not None and not (ref.startswith("self.") and ctx.fi.cls is None):
                self.emit(ctx, flow.Event(flow.NEW_OBJECT, value.node, ref=ref, value=value, detail=value.detail))
        if isinstance(target, cst.Name):
            name = target.value
            name_split = split_of_name(name)  # once per binding: this is the interpreter's hot path
            v = value
            if v.kind in (values.MODEL, values.OPTIMIZER, values.SCHEDULER, values.LOSS, values.OBJECT, values.SCALER) and (
                v.ref is None or v.node is not None and v.ref == "<new>"
            ):
                v = v.with_(ref=name)
            if v.kind == values.UNKNOWN:
                guess = classify_name(name)
                if guess in (values.LOADER, values.DATASET):
                    v = Value(guess, ref=name, split=v.split, layout=v.layout, layout_at=v.layout_at, node=v.node)
                elif guess == values.SCHEDULER and isinstance(v.node, cst.Call) and any(
                        a.kind == values.OPTIMIZER for a in self.peek_args(v.node, ctx)):
                    # `scheduler = WarmupCosineSchedule(optimizer, ...)` from the project's utils
                    v = Value(values.SCHEDULER, ref=name, node=v.node, detail=v.node, qual=dotted(v.node.func))
            if v.kind == values.LAYER and v.act is None and last(v.qual) in api_models.PARAMETRIC_LAYERS:
                # `model = nn.Linear(784, 10)`: a bare layer trained and evaluated is the model
                v = Value(values.MODEL, qual=v.qual, node=v.node, ref=name, detail=v.node)
                self.emit(ctx, flow.Event(flow.NEW_MODEL, v.node, ref=name, value=v))
            if v.split is None and name_split and v.kind in (
                    values.TENSOR, values.UNKNOWN, values.LOADER, values.DATASET, values.NUMBER):
                v = v.with_(split=name_split)
            if v.kind == values.OBJECT and isinstance(v.detail, ClassInfo) and v.detail.is_dataset and v.split is None:
                v = v.with_(split=name_split)
                random_item = v.detail.random_item() if v.split in ("val", "test") else None
                if random_item is not None and v.node is not None:
                    # `val_set = Clips(...)` whose __getitem__ crops at random: point at the dataset built
                    self.emit(ctx, flow.Event(flow.RANDOM_EVAL, v.node, detail=v.node, other=Value(node=random_item)))
            if v.kind == values.TRANSFORM and name_split in ("val", "test") or (
                v.kind == values.TRANSFORM and "eval" in name.lower()
            ):
                data_api.eval_transform(self, v, ctx)
            ctx.env[name] = v
            if ctx.fi.node is None and name in self.imports.aliases and value.kind != values.SYMBOL:
                self.module_shadowed.add(name)
        elif isinstance(target, cst.Attribute):
            base = dotted(target.value)
            if base == "self" and ctx.fi.cls is not None:
                attr = target.attr.value
                v = value
                ref = f"self.{attr}"
                if v.kind in (values.MODEL, values.OPTIMIZER, values.SCHEDULER, values.LOSS, values.SCALER, values.OBJECT):
                    if v.ref is None or v.ref == "<new>" or values.param_origin(v) is not None or v.param is not None:
                        v = v.with_(ref=ref)
                elif v.kind == values.UNKNOWN:
                    guess = classify_name(attr)
                    if guess is not None:
                        v = Value(guess, ref=ref)
                ctx.fi.cls.attrs[attr] = v
        elif isinstance(target, (cst.Tuple, cst.List)):
            items = value.items if value.kind == values.SEQUENCE else ()
            for i, el in enumerate(target.elements):
                sub = items[i] if i < len(items) else self.guess_element(el.value, value)
                self.bind_target(el.value, sub, ctx)

    def peek_args(self, call: cst.Call, ctx: Ctx) -> list[Value]:
        return [self.peek(a.value, ctx) for a in call.args]

    def rebind(self, name: str, value: Value, ctx: Ctx) -> None:
        """Update what a name (``net``) or an attribute of ``self`` (``self.net``) is bound to."""
        if name.startswith("self.") and name.count(".") == 1 and ctx.fi.cls is not None:
            ctx.fi.cls.attrs[name[5:]] = value
        elif "." not in name:
            if name in ctx.env or ctx.fi.node is None:
                ctx.env[name] = value
            elif ctx.fi.enclosing_env is not None and name in ctx.fi.enclosing_env:
                ctx.fi.enclosing_env[name] = value
            elif name in self.module_env:
                ctx.env[name] = value

    def guess_element(self, target: cst.BaseExpression, whole: Value) -> Value:
        if whole.kind == values.TENSOR:
            return whole.with_(act=None)
        if whole.split and whole.kind in (values.UNKNOWN, values.NUMBER):
            return Value(values.UNKNOWN, split=whole.split)
        if isinstance(target, cst.Name):
            g = classify_name(target.value)
            if g is not None:
                return Value(g, ref=target.value)
            return Value(values.TENSOR, split=whole.split) if whole.kind in (values.LOADER, values.DATASET) else values.UNKNOWN_VALUE
        return values.UNKNOWN_VALUE

    def element_of(self, it: Value, node: cst.BaseExpression) -> Value:
        if it.kind in (values.LOADER, values.DATASET) or it.split or it.layout:
            return Value(values.TENSOR, split=it.split, layout=it.layout, layout_at=it.layout_at)
        return values.UNKNOWN_VALUE

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
                self.emit(ctx, flow.Event(flow.ACCUM, small, ref=target_text, value=v))
            old = self.value(small.target, ctx) if target_text else values.UNKNOWN_VALUE
            if target_text and isinstance(small.target, cst.Name):
                split = values.merge_split((old, v))  # `correct += (pred == y).sum().item()` over test data
                merged = old.with_(grad=old.grad or v.grad, split=split) if old.kind == values.TENSOR else (
                    Value(values.TENSOR, grad=v.grad, split=split) if v.kind == values.TENSOR else old.with_(split=split))
                ctx.env[target_text] = merged
        elif isinstance(small, cst.Return):
            if small.value is not None:
                v = self.value(small.value, ctx)
                stat = values.stat_of(v)
                if stat is not None:
                    stat.consumers.add("return")
                prev = ctx.fi.returns
                ctx.fi.returns = v if prev.kind == values.UNKNOWN else join_values(prev, v)
        elif isinstance(small, (cst.Import, cst.ImportFrom)):
            if ctx.fi.node is not None:
                return
        elif isinstance(small, cst.Break):
            self.emit(ctx, flow.Event(flow.SELECT, small, detail="stop"))
        elif isinstance(small, cst.Del):
            return

    def assign(self, target: cst.BaseExpression, v: Value, stmt: cst.CSTNode, ctx: Ctx) -> None:
        text = dotted(target)
        for name in ctx.targets:
            action = selection_action(name)
            if action in ("best", "stop"):  # `best_acc = acc`, `patience = 0`
                self.emit(ctx, flow.Event(flow.SELECT, stmt, ref=name, detail=action, value=v))
                break
        if text is not None:
            # `x = x + loss` accumulates just like `x += loss`
            val = stmt.value if isinstance(stmt, cst.Assign) else None
            if isinstance(val, cst.BinaryOperation) and isinstance(val.operator, cst.Add) and (
                dotted(val.left) == text or dotted(val.right) == text
            ):
                other = val.right if dotted(val.left) == text else val.left
                self.emit(ctx, flow.Event(flow.ACCUM, stmt, ref=text, value=self.peek(other, ctx)))
            else:
                self.emit(ctx, flow.Event(flow.ASSIGN, stmt, ref=text, value=v))
            if isinstance(target, cst.Attribute) and target.attr.value == "grad":
                if isinstance(stmt, cst.Assign) and isinstance(stmt.value, cst.Name) and stmt.value.value == "None":
                    self.emit(ctx, flow.Event(flow.ZERO_GRAD, stmt, ref=None))
            if isinstance(target, cst.Attribute) and target.attr.value == "requires_grad":
                val = getattr(stmt, "value", None)
                if isinstance(val, cst.Name) and val.value == "True":
                    self.emit(ctx, flow.Event(flow.UNFREEZE, stmt, ref=dotted(target.value)))
        if isinstance(target, (cst.Attribute, cst.Subscript)) and v.kind in (values.LAYER, values.MODEL):
            base = target.value if isinstance(target, cst.Subscript) else target
            ref = dotted(base)
            own_layer = ref is not None and ref.startswith("self.") and ref.count(".") == 1 and \
                ctx.fi.cls is not None and ctx.fi.cls.is_module
            owner = base.value if isinstance(base, cst.Attribute) else None
            owner_kind = self.peek(owner, ctx).kind if owner is not None else values.UNKNOWN
            if ref and not own_layer and "." in ref and owner_kind in (values.MODEL, values.LAYER):
                self.emit(ctx, flow.Event(flow.LAYER_REPLACE, stmt, ref=ref, value=v))
        self.bind_target(target, v, ctx)


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


def _leaves(body) -> bool:
    """An arm that ends in ``return``/``raise``/``continue``/``break`` does not reach the join."""
    if not body:
        return False
    tail = body[-1]
    if isinstance(tail, cst.SimpleStatementLine) and tail.body:
        return isinstance(tail.body[-1], (cst.Return, cst.Raise, cst.Continue, cst.Break))
    return False
