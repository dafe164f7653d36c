"""The interpreter, expressions: names, attributes, operators, literals.

Facts flow by default: an expression's value inherits the data split and the
array layout of its operands unless a handler says otherwise.
"""

from __future__ import annotations

import libcst as cst
from clsaudit.semantic import flow, values
from clsaudit.semantic.api import data as data_api
from clsaudit.semantic.definitions import ClassInfo, Ctx
from clsaudit.semantic.heuristics import (
    classify_name,
    is_data_text,
    split_of_text,
)
from clsaudit.semantic.join import join_values
from clsaudit.semantic.values import Value

CONSTANTS = {"True": True, "False": False, "None": None}
ORDERINGS = (cst.GreaterThan, cst.GreaterThanEqual, cst.LessThan, cst.LessThanEqual)


class ExpressionReader:
    """Expressions (mixed into the Builder)."""

    def peek(self, expr: cst.BaseExpression, ctx: Ctx) -> Value:
        """The value of an expression that was already read (no new events)."""
        saved = ctx.block
        ctx.block = flow.Block()
        self.peeking += 1
        try:
            return self.value(expr, ctx)
        finally:
            ctx.block = saved
            self.peeking -= 1

    # ---- expressions ----------------------------------------------------------------
    def lookup(self, name: str, ctx: Ctx) -> Value:
        fi = ctx.fi
        if name in CONSTANTS:
            return Value(values.CONST, detail=CONSTANTS[name])
        if not self.peeking:
            fi.loads[name] = fi.loads.get(name, 0) + 1
        if name in ctx.env:
            return ctx.env[name]
        if fi.node is not None and name in fi.locals:
            g = classify_name(name)
            return Value(g, ref=name) if g else values.UNKNOWN_VALUE
        if fi.enclosing_env is not None and name in fi.enclosing_env:
            return fi.enclosing_env[name]
        if fi.node is not None and name in self.module_env:
            return self.module_env[name]
        if name in self.external and name not in self.module_shadowed:
            return Value(values.SYMBOL, qual=name, detail=self.external[name])
        q = self.qual(cst.Name(name), None)
        if q is not None and name not in self.module_shadowed:
            return Value(values.SYMBOL, qual=q)
        if name in self.functions and self.functions[name].cls is None:
            return Value(values.FUNCTION, detail=self.functions[name])
        if name in self.classes:
            return Value(values.SYMBOL, qual=name, detail=self.classes[name])
        return values.UNKNOWN_VALUE

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
            return Value(values.NUMBER, node=expr, detail=num)
        if isinstance(expr, cst.SimpleString):
            try:
                text = expr.evaluated_value
            except Exception:  # pragma: no cover - odd prefixes
                text = None
            return Value(values.STRING, node=expr, detail=text if isinstance(text, str) else None)
        if isinstance(expr, (cst.ConcatenatedString, cst.FormattedString)):
            if isinstance(expr, cst.FormattedString):
                for part in expr.parts:
                    if isinstance(part, cst.FormattedStringExpression):
                        self.value(part.expression, ctx)
            return Value(values.STRING, node=expr)
        if isinstance(expr, cst.BinaryOperation):
            return self.binop(expr, ctx)
        if isinstance(expr, cst.UnaryOperation):
            v = self.value(expr.expression, ctx)
            if isinstance(v.detail, values.Compare):
                return v  # `not improved` still depends on what `improved` compared
            if v.kind == values.NUMBER and isinstance(v.detail, float) and isinstance(expr.operator, cst.Minus):
                return v.with_(detail=-v.detail)
            return v.with_(act=None) if v.kind == values.TENSOR else v
        if isinstance(expr, cst.Subscript):
            base = self.value(expr.value, ctx)
            for el in expr.slice:
                if isinstance(el.slice, cst.Index):
                    self.value(el.slice.value, ctx)
            key = expr.slice[0].slice.value if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index) else None
            if isinstance(key, cst.SimpleString):
                text = self.value(key, ctx).detail or ""
                if base.kind == values.DICT and text in base.detail:
                    return base.detail[text]
                split = split_of_text(text)
                if split:
                    kind = base.kind if base.kind in (values.LOADER, values.DATASET) else values.TENSOR
                    return Value(kind, split=split, node=expr, layout=base.layout, layout_at=base.layout_at)
            if base.kind == values.TENSOR:
                return base.with_(node=expr)
            if base.kind == values.SEQUENCE and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
                idx = expr.slice[0].slice.value
                if isinstance(idx, cst.Integer):
                    i = int(idx.value)
                    if -len(base.items) <= i < len(base.items):
                        return base.items[i]
            if base.kind in (values.LOADER, values.DATASET):
                return Value(values.TENSOR, split=base.split)
            if base.kind == values.MODEL:
                return Value(values.MODEL, ref=base.ref, detail=None)
            if base.split or base.layout:
                return Value(values.TENSOR, split=base.split, layout=base.layout, layout_at=base.layout_at, node=expr)
            return values.UNKNOWN_VALUE
        if isinstance(expr, (cst.Tuple, cst.List)):
            items: list[Value] = []
            for el in expr.elements:
                v = self.value(el.value, ctx)
                if isinstance(el, cst.StarredElement) and v.kind == values.SEQUENCE:
                    items.extend(v.items)  # `[*aug, *tail]`
                else:
                    items.append(v)
            return Value(values.SEQUENCE, items=tuple(items), node=expr)
        if isinstance(expr, cst.Comparison):
            parts = [self.value(expr.left, ctx)]
            for c in expr.comparisons:
                parts.append(self.value(c.comparator, ctx))
            ordering = any(isinstance(c.operator, ORDERINGS) for c in expr.comparisons)
            cond = values.Compare(values.merge_split(parts), ordering,
                                  frozenset(p.param.name for p in parts if p.param is not None))
            for p in parts:
                if isinstance(p.detail, values.Compare):
                    cond = cond | p.detail
            return Value(values.TENSOR, grad=False, node=expr, split=cond.split, detail=cond)
        if isinstance(expr, cst.BooleanOperation):
            parts = [self.value(expr.left, ctx), self.value(expr.right, ctx)]
            conds = [p.detail if isinstance(p.detail, values.Compare) else values.Compare(
                p.split, False, frozenset([p.param.name]) if p.param is not None else frozenset()) for p in parts]
            cond = conds[0] | conds[1]
            return Value(values.UNKNOWN, node=expr, split=cond.split, detail=cond)
        if isinstance(expr, cst.IfExp):
            test = self.value(expr.test, ctx)
            saved_block, saved_cond = ctx.block, ctx.conditional
            arm_a, arm_b = flow.Block(), flow.Block()
            ctx.conditional = True
            try:
                ctx.block = arm_a
                a = self.value(expr.body, ctx)
                ctx.block = arm_b
                b = self.value(expr.orelse, ctx)
            finally:
                ctx.block, ctx.conditional = saved_block, saved_cond
            if arm_a.items or arm_b.items:
                ctx.block.items.append(flow.Branch(expr, [arm_a, arm_b], True, test))
            return join_values(a, b)
        if isinstance(expr, cst.Dict):
            entries: dict = {}
            for el in expr.elements:
                if isinstance(el, cst.DictElement):
                    k = self.value(el.key, ctx)
                    v = self.value(el.value, ctx)
                    if k.kind == values.STRING and isinstance(k.detail, str):
                        split = split_of_text(k.detail)
                        if split and v.split is None and v.kind in (values.LOADER, values.DATASET, values.TENSOR, values.UNKNOWN):
                            v = v.with_(split=split)
                        if split in ("val", "test") and v.kind == values.TRANSFORM:
                            data_api.eval_transform(self, v, ctx)
                        entries[k.detail] = v
                        if v.node is not None and v.kind in (values.LOADER, values.SAMPLER, values.DATASET):
                            self.bound_names.setdefault(v.node, set()).add(k.detail)
            return Value(values.DICT, detail=entries, node=expr)
        if isinstance(expr, cst.DictComp):
            self.value(expr.for_in.iter, ctx)
            return values.UNKNOWN_VALUE
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            return self.comprehension(expr, ctx)
        if isinstance(expr, cst.NamedExpr):
            v = self.value(expr.value, ctx)
            self.bind_target(expr.target, v, ctx)
            return v
        if isinstance(expr, cst.Await):
            return self.value(expr.expression, ctx)
        return values.UNKNOWN_VALUE

    def comprehension(self, expr, ctx: Ctx) -> Value:
        """`[step(x, y) for x, y in loader]` is a loop too."""
        it = self.value(expr.for_in.iter, ctx)
        self.bind_target(expr.for_in.target, self.element_of(it, expr.for_in.iter), ctx)
        body = flow.Block()
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
            is_data = it.kind in (values.LOADER, values.DATASET) or is_data_text(text)
            ctx.block.items.append(flow.Loop(expr, body, it, is_data, text))
        return Value(values.SEQUENCE, node=expr, items=(), grad=elt.grad) if elt.kind == values.TENSOR else Value(values.SEQUENCE, node=expr)

    def attribute(self, expr: cst.Attribute, ctx: Ctx) -> Value:
        base = self.value(expr.value, ctx)
        out = self.member(base, expr.attr.value, expr)
        if base.split and not out.split and out.kind in (values.UNKNOWN, values.NUMBER, values.TENSOR):
            out = out.with_(split=base.split)  # `meter.avg` of a meter fed test accuracies
        return out

    def member(self, base: Value, attr: str, expr: cst.Attribute) -> Value:
        if base.kind == values.SYMBOL:
            if isinstance(base.detail, values.Namespace):
                return base.detail.symbol_attr(attr)  # cross-file module summary
            return Value(values.SYMBOL, qual=f"{base.qual}.{attr}")
        if base.ref == "self" and isinstance(base.detail, ClassInfo):
            cls = base.detail
            cls.ensure_attrs()
            if attr in cls.attrs:
                return cls.attrs[attr]
            if attr in cls.methods:
                return Value(values.FUNCTION, detail=cls.methods[attr], ref="self")
            g = classify_name(attr)
            return Value(g, ref=f"self.{attr}") if g else values.UNKNOWN_VALUE
        if base.kind == values.OBJECT and isinstance(base.detail, ClassInfo):
            cls = base.detail
            if attr in cls.methods:
                return Value(values.FUNCTION, detail=cls.methods[attr], ref=base.ref)
            cls.ensure_attrs()
            if attr in cls.attrs:
                v = cls.attrs[attr]
                if base.ref and v.ref and v.ref.startswith("self."):
                    v = v.with_(ref=base.ref + v.ref[4:])
                return v
        if base.kind == values.MODEL:
            if attr == "module":
                return base
            if isinstance(base.detail, ClassInfo) and attr in base.detail.methods:
                return Value(values.FUNCTION, detail=base.detail.methods[attr], ref=base.ref)
            return Value(values.LAYER, ref=f"{base.ref}.{attr}" if base.ref else None, node=expr)
        if base.kind == values.TENSOR:
            if attr in {"data"}:
                return base.with_(grad=False, act=base.act)
            if attr in {"T", "mT", "real"}:
                return base
            if attr in {"shape", "ndim", "dtype", "device", "grad"}:
                return values.UNKNOWN_VALUE
        if base.kind in (values.LOADER, values.DATASET) and attr in {"dataset"}:
            return Value(values.DATASET, split=base.split, ref=base.ref)
        if base.kind == values.DATASET and attr in {"data", "targets", "tensors", "imgs", "samples", "labels"}:
            # torchvision's CIFAR10/CIFAR100 keep `.data` as an (N, 32, 32, 3) uint8 array
            nhwc = attr == "data" and base.detail in {"CIFAR10", "CIFAR100"}
            return Value(values.TENSOR, split=base.split, node=expr, layout="nhwc" if nhwc else None,
                         layout_at=expr if nhwc else None)
        if base.kind == values.UNKNOWN and base.split:
            return base
        g = classify_name(attr)
        if g is not None and base.kind in (values.UNKNOWN, values.OBJECT) and base.ref:
            return Value(g, ref=f"{base.ref}.{attr}")
        return values.UNKNOWN_VALUE

    def binop(self, expr: cst.BinaryOperation, ctx: Ctx) -> Value:
        a = self.value(expr.left, ctx)
        b = self.value(expr.right, ctx)
        for v in (a, b):
            stat = values.stat_of(v)
            if stat is not None:
                stat.consumers.add("arithmetic")  # `(x - mean) / std`
        if a.kind == b.kind == values.SEQUENCE and isinstance(expr.operator, cst.Add):
            return Value(values.SEQUENCE, items=a.items + b.items, node=expr)  # `aug + tail`
        if a.kind == values.DATASET and b.kind == values.DATASET and isinstance(expr.operator, cst.Add):
            return Value(values.DATASET, node=expr, split=values.merge_split((a, b)), detail="concat")
        tensors = [v for v in (a, b) if v.kind == values.TENSOR or (v.kind == values.UNKNOWN and (v.split or v.layout))]
        if not tensors:
            split = values.merge_split((a, b))
            if a.kind == values.NUMBER and b.kind == values.NUMBER or split:
                return Value(values.NUMBER, node=expr, split=split)  # `100. * correct / total`
            return values.UNKNOWN_VALUE
        grad = any(v.grad for v in tensors)
        op = expr.operator
        act = None
        origin = None
        if len(tensors) == 2 and a.act == b.act and a.act in (values.PROBS, values.LOGPROBS) and isinstance(op, (cst.Add,)):
            act, origin = a.act, a.origin
        elif len(tensors) == 1:
            t = tensors[0]
            other = b if t is a else a
            if other.kind == values.NUMBER or other.kind == values.UNKNOWN:
                if isinstance(op, (cst.Divide, cst.Multiply)) and t.act in (values.PROBS,) and other.kind == values.NUMBER:
                    act, origin = t.act, t.origin
                if isinstance(op, cst.Add) and t.act == values.PROBS and other.kind == values.NUMBER:
                    act, origin = values.PROBS, t.origin  # probs + eps, ahead of a log
        elif len(tensors) == 2 and isinstance(op, cst.Divide) and a.act == values.PROBS:
            act, origin = values.PROBS, a.origin
        return Value(values.TENSOR, act=act, origin=origin, grad=grad, node=expr,
                     split=values.merge_split((a, b)), layout=next((v.layout for v in (a, b) if v.layout), None),
                     layout_at=next((v.layout_at for v in (a, b) if v.layout), None))

    # ---- calls --------------------------------------------------------------------
