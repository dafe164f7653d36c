"""Cross-file summaries: what another file needs to know about this module.

Plain data (JSON-friendly), so it travels between worker processes and is
cached by file hash. The importing file's model turns it back into values
via :func:`attach_external`.
"""

from __future__ import annotations

import os
from typing import Any

from clsaudit.semantic import flow, values


def summarize(model) -> dict[str, Any]:
    classes = {}
    for ci in model.classes():
        if not ci.is_module:
            continue
        out = ci.output()
        entry: dict[str, Any] = {"module": True}
        if out.act is not None:
            entry["act"] = out.act
            entry["line"] = out.origin_line or model.line(out.origin)
            entry["path"] = out.origin_path or os.path.abspath(model.path)
        classes[ci.name] = entry
    functions = {}
    for fi in model.functions():
        if fi.cls is not None:
            continue
        entry = {"params": list(fi.params)}
        modes = {}
        for ev in flow.events(fi.body, into_loops=False):
            if ev.kind == flow.MODE and ev.ref in fi.params and not ev.conditional:
                modes[ev.ref] = ev.detail
        if modes:
            entry["exit_modes"] = modes
        ret = fi.returns
        if ret.kind == "model" and ret.act is not None:
            entry["returns_act"] = ret.act
            entry["line"] = ret.origin_line or model.line(ret.origin)
            entry["path"] = ret.origin_path or os.path.abspath(model.path)
        if fi.grad_decorator == "off":
            entry["no_grad"] = True
        functions[fi.name] = entry
    return {"classes": classes, "functions": functions}


class ExternalFunction(values.Callee):
    """A function of a sibling module: its effect on the caller's model modes and what it returns."""

    def __init__(self, name: str, data: dict) -> None:
        self.name = name
        self.data = data

    def call_value(self, expr, builder, args, ctx):
        from clsaudit.semantic.names import dotted

        params = self.data.get("params", [])
        modes = self.data.get("exit_modes", {})
        if modes:
            passed = {}
            pos = 0
            for a, v in zip(expr.args, args):
                if a.keyword is not None:
                    passed[a.keyword.value] = (a, v)
                elif pos < len(params):
                    passed[params[pos]] = (a, v)
                    pos += 1
            for pname, mode in modes.items():
                if pname in passed:
                    a, v = passed[pname]
                    ref = v.ref if v.ref and v.ref != "<new>" else dotted(a.value)
                    if ref:
                        builder.emit(ctx, flow.Event(flow.MODE, expr, ref=ref, detail=mode))
        if "returns_act" in self.data:
            return values.Value(values.MODEL, act=self.data["returns_act"], origin_path=self.data.get("path"),
                           origin_line=self.data.get("line"), node=expr, ref="<new>")
        return builder.derived(values.UNKNOWN_VALUE, args, expr)


class ExternalModule(values.Namespace):
    """A sibling module as seen through its summary."""

    def __init__(self, name: str, data: dict) -> None:
        self.name = name
        self.data = data

    def symbol_attr(self, attr: str):
        if attr in self.data.get("classes", {}):
            return values.Value(values.SYMBOL, qual=f"{self.name}.{attr}", detail=ExternalClass(attr, self.data["classes"][attr]))
        if attr in self.data.get("functions", {}):
            return values.Value(values.SYMBOL, qual=f"{self.name}.{attr}",
                           detail=ExternalFunction(attr, self.data["functions"][attr]))
        return values.Value(values.SYMBOL, qual=f"{self.name}.{attr}")


class ExternalClass(values.Callee):
    def __init__(self, name: str, data: dict) -> None:
        self.name = name
        self.data = data

    def call_value(self, expr, builder, args, ctx):
        if self.data.get("module"):
            return values.Value(values.MODEL, act=self.data.get("act"), origin_path=self.data.get("path"),
                           origin_line=self.data.get("line"), qual=self.name, node=expr, ref="<new>")
        return values.UNKNOWN_VALUE


def _resolve_module(model, target: str) -> str:
    if not target.startswith("."):
        return target
    level = len(target) - len(target.lstrip("."))
    rest = target[level:]
    base = (model.module_name or "").split(".")
    base = base[: len(base) - level] if level <= len(base) else []
    return ".".join([*base, rest] if rest else base)


def attach_external(model) -> None:
    """Make names imported from summarised sibling modules resolve to their summaries."""
    b = model.builder
    sums = model.summaries
    for local, (mod, attr, level) in b.imports.local_from.items():
        modname = _resolve_module(model, mod) if level else mod
        if attr is not None and f"{modname}.{attr}".strip(".") in sums:
            b.external[local] = ExternalModule(f"{modname}.{attr}".strip("."), sums[f"{modname}.{attr}".strip(".")])
        elif modname in sums and attr is not None:
            ext = ExternalModule(modname, sums[modname])
            b.external[local] = ext.symbol_attr(attr).detail or ext
    for local, qual in b.imports.aliases.items():
        if qual in sums and local not in b.external:
            b.external[local] = ExternalModule(qual, sums[qual])
