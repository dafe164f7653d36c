"""The interpreter, calls: to local functions and classes, to models and losses.

Calls into the PyTorch API go to the handler tables of
:mod:`clsaudit.semantic.api`; calls to functions and classes of this file (or,
through summaries, of a sibling file) are followed here.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst
from clsaudit.semantic import api, flow, values
from clsaudit.semantic.api import data as data_api
from clsaudit.semantic.api import losses as losses_api
from clsaudit.semantic.api import models as api_models
from clsaudit.semantic.api.site import Site
from clsaudit.semantic.definitions import ClassInfo, Ctx, FunctionInfo
from clsaudit.semantic.heuristics import (
    classify_name,
    names_evaluation_data,
    names_statistics,
    names_training,
    selection_action,
    split_of_name,
    split_of_text,
)
from clsaudit.semantic.join import join_values
from clsaudit.semantic.names import dotted, last
from clsaudit.semantic.values import Value

# kinds of object a parameter takes over from its callers
ADOPTED_KINDS = {values.MODEL, values.LOSS, values.OPTIMIZER, values.SCHEDULER, values.SCALER, values.LAYER,
                 values.OBJECT, values.TENSOR}

# methods that put a value into a container or a meter (which then holds data of its split)
COLLECTING = {"append", "extend", "update", "add_", "add", "insert", "put"}


class CallReader:
    """Calls (mixed into the Builder)."""

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
                kind = values.MODEL if cls.is_module else values.OBJECT
                env[pname] = Value(kind, ref="self", detail=cls)
                continue
            env[pname] = self.param_value(fi, pname).with_(param=values.ParamOrigin(fi, pname))
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
            if values.is_nn_module_qual(ann):
                kind = values.MODEL
            elif last(ann) in {"Optimizer"}:
                kind = values.OPTIMIZER
            elif last(ann) == "DataLoader":
                kind = values.LOADER
        if kind == values.MODEL and classify_name(pname) == values.LOSS:
            kind = values.LOSS  # `loss_fn: torch.nn.Module`: a loss is a Module too
        kind = kind or classify_name(pname) or values.UNKNOWN
        passed = self.callers_args(fi, pname)
        plain = (values.DICT, values.SEQUENCE, values.NUMBER, values.STRING)
        adopted = self.adopt_callers_object(kind, passed, pname)
        if adopted is not None:
            return adopted
        if kind == values.UNKNOWN and passed and (passed[0].kind in plain or passed[0].kind == values.UNKNOWN and passed[0].split):
            # plain data (a config dict, a metric): the first call's value; its data split only
            # when every call passes the same split, so a helper fed train and test stays neutral
            # (rules judge each call site with its own arguments through the value's `param`)
            return passed[0].with_(ref=pname, split=_agreed_split(passed))
        if kind == values.UNKNOWN and not passed and isinstance(default, (cst.Name, cst.Dict, cst.Tuple, cst.List)):
            v = self.value(default, Ctx(self.module_fn, self.module_env, flow.Block()))
            if v.kind in plain:
                return v.with_(ref=pname)  # `def main(cfg=CFG)`
        if kind in (values.UNKNOWN, values.DATASET) and passed and all(v.kind == values.DATASET for v in passed):
            classes = {v.detail for v in passed if isinstance(v.detail, str)}
            if len(classes) == 1:  # every caller passes the same torchvision dataset class
                return Value(values.DATASET, ref=pname, detail=classes.pop(), split=_agreed_split(passed))
        layouts = {v.layout for v in passed or ()}
        if kind == values.UNKNOWN and len(layouts) == 1 and None not in layouts:
            # every caller passes channels-last (or NCHW) images: the layout, not the split, carries over
            return Value(values.TENSOR, ref=pname, layout=layouts.pop(), layout_at=passed[0].layout_at,
                         detail=values.ParamOrigin(fi, pname))
        if kind == values.UNKNOWN and passed and all(v.kind == values.TENSOR for v in passed):
            split = _agreed_split(passed)
            if split:  # every caller passes test images (`predict(net, x_test)`)
                return Value(values.TENSOR, ref=pname, split=split, detail=values.ParamOrigin(fi, pname))
        split = split_of_name(pname) if kind in (values.LOADER, values.DATASET, values.UNKNOWN) else None
        if passed and kind in (values.LOADER, values.DATASET) and all(v.split for v in passed):
            # the callers' data wins over the parameter's name (`val_loader` fed the test loader)
            split = _agreed_split(passed)
        return Value(kind, ref=pname, detail=values.ParamOrigin(fi, pname), split=split)

    def adopt_callers_object(self, kind: str, passed: list[Value], pname: str) -> Optional[Value]:
        """A parameter every caller fills with the same kind of object (a model, a loss, an
        optimizer, a tensor of probabilities, an instance of a local class) is that object,
        whatever the parameter's name: ``def fit_batch(model, loss, opt, x, y)``."""
        if not passed or any(v.kind != passed[0].kind for v in passed):
            return None
        first = passed[0]
        generic_module = kind == values.MODEL and first.kind in (values.LOSS, values.LAYER)  # `loss_fn: nn.Module`
        if first.kind not in ADOPTED_KINDS or kind not in (values.UNKNOWN, first.kind) and not generic_module:
            return None
        if first.kind == values.TENSOR and not any(v.act for v in passed):
            return None  # plain tensors: the split and layout rules below decide
        joined = first
        for v in passed[1:]:
            joined = join_values(joined, v)
        details = {id(v.detail) for v in passed}
        return joined.with_(ref=pname, node=None, split=_agreed_split(passed),
                            detail=first.detail if len(details) == 1 else None)

    def callers_args(self, fi: FunctionInfo, pname: str) -> list[Value]:
        """Every call site's value for a parameter: from the first reading of the whole file when
        there was one (so the order of calls does not matter), else those seen so far."""
        prior = self.prior_call_args.get(fi.qualname, {}).get(pname)
        return prior if prior is not None else fi.args_per_call(pname)

    # ---- statements ----------------------------------------------------------------

    def call(self, expr: cst.Call, ctx: Ctx) -> Value:
        func = expr.func
        action = selection_action(dotted(func) or "")
        if action is not None:
            self.emit(ctx, flow.Event(flow.SELECT, expr, detail=action))
        if isinstance(func, cst.Attribute):
            recv = self.value(func.value, ctx)
            args = [self.value(a.value, ctx) for a in expr.args]
            self.consume(func, args)
            if recv.kind in (values.OBJECT, values.MODEL, values.UNKNOWN) and isinstance(recv.detail, ClassInfo):
                recv.detail.ensure_attrs()
                if func.attr.value in recv.detail.attrs:
                    member = self.member(recv, func.attr.value, func)
                    if member.kind in (values.LOSS, values.MODEL, values.LAYER):
                        return self.plain_call(expr, member, args, ctx)
            return self.method_call(expr, recv, func.attr.value, args, ctx)
        callee = self.value(func, ctx)
        args = [self.value(a.value, ctx) for a in expr.args]
        self.consume(func, args)
        return self.plain_call(expr, callee, args, ctx)

    def plain_call(self, expr: cst.Call, callee: Value, args: list[Value], ctx: Ctx) -> Value:
        if callee.kind == values.SYMBOL:
            if callee.detail is not None and isinstance(callee.detail, ClassInfo):
                return self.instantiate(expr, callee.detail, args, ctx)
            if isinstance(callee.detail, values.Callee):
                return callee.detail.call_value(expr, self, args, ctx)  # cross-file
            out = api.torch_call(Site(self, expr, args, ctx, qual=callee.qual or ""))
            self.external_training_call(expr, callee.qual or "", args, ctx)
            if out.kind == values.UNKNOWN:
                return self.derived(out, args, expr)  # facts flow: a result is about its inputs
            return out
        if callee.kind == values.FUNCTION and isinstance(callee.detail, FunctionInfo):
            return self.local_call(expr, callee.detail, args, ctx, recv_ref=callee.ref)
        if callee.kind == values.MODEL:
            return self.model_call(expr, callee, args, ctx)
        if callee.kind == values.LAYER and callee.act is not None:
            src = args[0] if args else values.UNKNOWN_VALUE
            return Value(values.TENSOR, act=callee.act, origin=callee.origin or expr, grad=src.grad, node=expr,
                         split=src.split)
        if callee.kind == values.LOSS:
            return self.loss_call(expr, callee.detail if isinstance(callee.detail, str) else None, args, ctx, callee)
        if callee.kind == values.OBJECT and isinstance(callee.detail, ClassInfo) and "__call__" in callee.detail.methods:
            return self.local_call(expr, callee.detail.methods["__call__"], args, ctx, recv_ref=callee.ref)
        if callee.kind == values.UNKNOWN and isinstance(expr.func, cst.Name):
            builtin = self.builtin_call(expr.func.value, args, expr)
            if builtin is not None:
                return builtin
        if callee.kind == values.UNKNOWN:
            split = data_api.split_keywords(Site(self, expr, args, ctx))
            if split is not None:  # `datasets.__dict__[name](root, train=False)`: whatever the class
                return Value(values.DATASET, node=expr, split=split)
        if callee.kind in (values.UNKNOWN, values.FUNCTION):
            return self.derived(values.UNKNOWN_VALUE, args, expr)
        return values.UNKNOWN_VALUE

    def external_training_call(self, expr: cst.Call, qual: str, args: list[Value], ctx: Ctx) -> None:
        """``engine.train_one_epoch(model, loader, optimizer=opt)`` from a module we do not read:
        a training function handed an optimizer steps it (a whole epoch of steps)."""
        if qual.startswith(("torch.", "torchvision.")) or not names_training(qual):
            return
        for v in args:
            if v.kind == values.OPTIMIZER:
                self.emit(ctx, flow.Event(flow.STEP, expr, ref=v.ref, value=v, detail="epoch"))
                return

    def builtin_call(self, name: str, args: list[Value], expr: cst.Call) -> Optional[Value]:
        first = args[0] if args else values.UNKNOWN_VALUE
        if name in {"float", "int", "len", "round", "abs", "sum", "max", "min"}:
            split = values.merge_split(first.items) if first.kind == values.SEQUENCE else first.split
            return Value(values.NUMBER, node=expr, split=split or values.merge_split(args),
                         detail=values.Extremum() if name in {"max", "min"} and len(args) > 1 else None)
        if name in {"str", "bool"}:
            return Value(values.NUMBER, node=expr)
        if name in {"enumerate", "tqdm", "iter", "zip", "reversed", "sorted", "list"} and args:
            if name in {"enumerate", "tqdm", "iter"}:
                return first if first.kind in (values.LOADER, values.DATASET) else Value(values.UNKNOWN, split=first.split)
            return first
        if name == "next" and args:
            return Value(values.TENSOR, split=first.split, layout=first.layout, layout_at=first.layout_at)
        if name == "Variable" and args:  # the pre-0.4 autograd wrapper is its tensor
            return first
        return None

    def method_call(self, expr: cst.Call, recv: Value, meth: str, args: list[Value], ctx: Ctx) -> Value:
        """``obj.meth(...)``: what the interpreter knows (local classes, summaries, use as a model),
        then the PyTorch method tables."""
        name = dotted(expr.func.value)
        if recv.kind == values.UNKNOWN and meth in api_models.MODEL_ONLY_METHODS and name is not None:
            # an instance of a class from a module that is not checked (`from models import ResNet18`),
            # or a project factory's product: `.parameters()` or `.eval()` says it is a model
            recv = Value(values.MODEL, ref=name)
            self.rebind(name, recv, ctx)
        if meth == "fit":
            # what fit() trains on: positional data and keywords that do not name evaluation data
            # (`eval_loader=`, `validation_data=`, `val_dataloaders=` are only evaluated)
            training = tuple(v for a, v in zip(expr.args, args)
                             if a.keyword is None or not names_evaluation_data(a.keyword.value))
            evaluated = {a.keyword.value: v for a, v in zip(expr.args, args)
                         if a.keyword is not None and names_evaluation_data(a.keyword.value)}
            self.emit(ctx, flow.Event(flow.FIT, expr, value=Value(values.SEQUENCE, items=training),
                                      passed=evaluated))
        if meth in {"append", "extend", "update", "add_"} or meth.startswith("log"):
            self.emit(ctx, flow.Event(flow.COLLECT, expr, value=args[0] if args else None))
        if meth == "update" and recv.kind == values.DICT and name is not None and args:
            other = args[0]  # `loader_kw.update({"shuffle": True})`
            if other.kind == values.DICT and isinstance(other.detail, dict) and isinstance(recv.detail, dict):
                self.rebind(name, recv.with_(detail={**recv.detail, **other.detail}), ctx)
            else:
                self.rebind(name, Value(values.UNKNOWN, split=recv.split), ctx)  # unknown keys now
            return values.UNKNOWN_VALUE
        if meth in COLLECTING:
            self.taint(name, recv, args, ctx)
        if recv.kind == values.UNKNOWN and meth in {"reshape", "view", "transpose"} and len(expr.args) >= 3:
            recv = recv.with_(kind=values.TENSOR)
        if recv.kind == values.SYMBOL:
            attr = recv.detail.symbol_attr(meth).detail if isinstance(recv.detail, values.Namespace) else None
            return self.plain_call(expr, Value(values.SYMBOL, qual=f"{recv.qual}.{meth}", detail=attr), args, ctx)
        cls = recv.detail if isinstance(recv.detail, ClassInfo) else None
        if cls is not None and meth in cls.methods and (meth not in {"train", "eval"} or not cls.is_module):
            return self.local_call(expr, cls.methods[meth], args, ctx, recv_ref=recv.ref)
        out = api.method_call(Site(self, expr, args, ctx, recv=recv, meth=meth))
        if out.kind == values.UNKNOWN and recv.kind in (values.UNKNOWN, values.OBJECT, values.NUMBER, values.SEQUENCE):
            return self.derived(out, [recv, *args], expr)
        return out

    def taint(self, name: Optional[str], recv: Value, args: list[Value], ctx: Ctx) -> None:
        """``meter.update(acc)``, ``hist.append(acc)``: the object now holds data of that split."""
        split = values.merge_split(args)
        if not split or name is None or recv.kind not in (values.UNKNOWN, values.OBJECT, values.SEQUENCE, values.DICT):
            return
        self.rebind(name, recv.with_(split=values.merge_split((recv, *args))), ctx)

    def instantiate(self, expr: cst.Call, cls: ClassInfo, args: list[Value], ctx: Ctx) -> Value:
        init = cls.methods.get("__init__")
        if init is not None:
            self.record_call_args(init, expr, args, skip_self=True)
        if cls.is_module:
            out = cls.output()
            return Value(values.MODEL, act=out.act, origin=out.origin, origin_path=out.origin_path,
                         origin_line=out.origin_line, qual=cls.name, detail=cls, node=expr, ref="<new>")
        return Value(values.OBJECT, qual=cls.name, detail=cls, node=expr, ref="<new>")

    def record_call_args(self, fi: FunctionInfo, expr: cst.Call, args: list[Value], skip_self: bool) -> tuple[dict[str, str], dict[str, Value]]:
        """Record what a call passes for each parameter: the caller's names (for mode tracking)
        and the values (so that a rule can judge this call site with its own arguments)."""
        params = fi.params[1:] if (skip_self and fi.params[:1] and fi.params[0] in {"self", "cls"}) else list(fi.params)
        argmap: dict[str, str] = {}
        passed: dict[str, Value] = {}
        pos = 0
        fi.call_sites += 1
        for a, v in zip(expr.args, args):
            if a.star:
                fi.call_sites_with_star += 1
                continue
            if a.keyword is not None:
                pname = a.keyword.value
            else:
                if pos >= len(params):
                    continue
                pname = params[pos]
                pos += 1
            fi.call_args.setdefault(pname, []).append(v)
            passed[pname] = v
            r = v.ref if v.ref and v.ref != "<new>" else dotted(a.value)
            if r:
                argmap[pname] = r[:-7] if r.endswith(".module") else r
        return argmap, passed

    def local_call(self, expr: cst.Call, fi: FunctionInfo, args: list[Value], ctx: Ctx,
                   recv_ref: Optional[str] = None) -> Value:
        is_method = fi.cls is not None and fi.params[:1] == ["self"]
        argmap, passed = self.record_call_args(fi, expr, args, skip_self=is_method)
        if is_method and recv_ref:
            argmap["self"] = recv_ref
        ev = self.emit(ctx, flow.Event(flow.CALL, expr, detail=fi, argmap=argmap, passed=passed))
        fi.callers.append(ev)
        stat = self.stat_helper(expr, fi.name, args, ctx)
        fi.ensure_built()
        r = fi.returns
        if stat is not None:
            r = _with_stat(r, stat)
        if r.kind == values.MODEL and r.ref and r.ref in fi.params:
            return r.with_(ref=argmap.get(r.ref, r.ref))
        return self.derived(r, args, expr)

    def stat_helper(self, expr: cst.Call, name: str, args: list[Value], ctx: Ctx) -> Optional[values.StatOf]:
        """`mean, std = channel_stats(test_set)`: a statistics helper run on split data."""
        if names_statistics(name):
            split = values.merge_split(args)
            if split:
                ev = self.emit(ctx, flow.Event(flow.STAT, expr, value=Value(values.TENSOR, split=split, node=expr),
                                               detail=ctx.targets))
                return self.new_stat(ev)
        return None

    def new_stat(self, ev: flow.Event) -> values.StatOf:
        stat = values.StatOf(ev)
        self.stat_results.setdefault(ev, []).append(stat)
        return stat

    def consume(self, func: cst.BaseExpression, args: list[Value]) -> None:
        """Record who receives a statistic (CLS301 ignores one that is only printed)."""
        name = dotted(func) or ""
        who = "print" if name == "print" else "log" if name.split(".")[-1].startswith(("log", "info", "debug")) or \
            name.startswith("logging.") else "call"
        for v in args:
            stat = values.stat_of(v)
            if stat is not None:
                stat.consumers.add(who)

    def derived(self, r: Value, args: list[Value], expr: cst.Call) -> Value:
        """Facts flow by default: a function of test data returns something about test data."""
        if r.kind in (values.MODEL, values.OPTIMIZER, values.SCHEDULER, values.LOSS, values.TRANSFORM, values.OBJECT):
            return r
        split = values.merge_split(args)
        if split is None:
            for a in args:
                if a.kind == values.STRING and isinstance(a.detail, str):
                    split = split_of_text(a.detail) or split
        if split and r.split is None:
            return r.with_(split=split, node=r.node or expr)
        if r.kind == values.UNKNOWN and r.node is None and r is values.UNKNOWN_VALUE:
            return Value(values.UNKNOWN, node=expr)  # what made it, for names bound to it
        return r

    def model_call(self, expr: cst.Call, model: Value, args: list[Value], ctx: Ctx) -> Value:
        src = args[0] if args else values.UNKNOWN_VALUE
        self.emit(ctx, flow.Event(flow.MODEL_CALL, expr, ref=model.ref, value=model, other=src))
        if isinstance(model.detail, ClassInfo) and model.detail.is_module:
            forward = model.detail.output()
            if forward.kind == values.SEQUENCE and forward.items:
                # `return self.cls(h), self.reg(h)`: each output keeps its own activation
                return forward.with_(node=expr, items=tuple(
                    i.with_(grad=True, split=src.split) if i.kind == values.TENSOR else i for i in forward.items))
            if model.act is None:
                model = model.with_(**_activation_of(forward))  # `self(x)` runs forward
        out = Value(values.TENSOR, act=model.act, origin=model.origin, origin_path=model.origin_path,
                    origin_line=model.origin_line, grad=True, node=expr, split=src.split)
        if model.act is None and values.param_origin(model) is not None:
            out = out.with_(detail=values.FromModel(model))
        return out

    def loss_call(self, expr: cst.Call, flavour: Optional[str], args: list[Value], ctx: Ctx,
                  loss_value: Optional[Value] = None) -> Value:
        return losses_api.loss_event(Site(self, expr, args, ctx), flavour, loss_value)


def _activation_of(v: Value) -> dict:
    return {"act": v.act, "origin": v.origin, "origin_path": v.origin_path, "origin_line": v.origin_line}


def _with_stat(r: Value, stat: values.StatOf) -> Value:
    if r.kind == values.SEQUENCE and r.items:
        return r.with_(items=tuple(i.with_(detail=stat) for i in r.items))
    return r.with_(detail=stat)


def _agreed_split(passed: list[Value]) -> Optional[str]:
    """The data split every call site passes, or None when they differ: a helper fed train and
    test data stays neutral, and each call is judged with its own argument."""
    splits = {v.split for v in passed}
    return splits.pop() if len(splits) == 1 else None
