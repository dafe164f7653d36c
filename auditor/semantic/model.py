"""The per-file semantic model that every rule queries (the class itself).

Built once per file (see :mod:`clsaudit.semantic.builder`): imports resolved,
values bound to names, each function reduced to a flow tree, module classes'
``forward`` outputs known, and a state analysis that knows in which
train/eval and grad mode each loop may run. Rules ask it questions; they do
not walk the syntax tree for these answers themselves.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Mapping, Optional

import libcst as cst
from clsaudit.semantic import flow, values
from clsaudit.semantic.builder import Builder, ClassInfo, FunctionInfo
from clsaudit.semantic.state import StateAnalysis
from clsaudit.semantic.values import Value

CALL_DEPTH = 4
MAX_READINGS = 4  # readings of one file until call-site arguments settle
EVAL_SIGNALS = (flow.ACCUM, flow.LOSS, flow.PREDICT, flow.ARGMAX, flow.COLLECT)


class SemanticModel:
    def __init__(self, module: cst.Module, path: str, summaries: Mapping[str, Any],
                 module_name: Optional[str], call_args: Optional[dict] = None) -> None:
        self.module = module
        self.path = path
        self.module_name = module_name
        self.summaries = summaries
        self.builder = Builder(module, path, call_args)
        self._positions = None
        self._events_cache: dict = {}
        self._owner: Optional[dict] = None
        self.state: Optional[StateAnalysis] = None
        self._source: Optional[str] = None

    # ---- construction --------------------------------------------------------------
    @property
    def source(self) -> str:
        """The file's text (for the rare rule that must search it); never regenerated twice."""
        if self._source is None:
            self._source = self.module.code
        return self._source

    @classmethod
    def build(cls, module: cst.Module, path: str = "<string>", summaries: Optional[Mapping[str, Any]] = None,
              module_name: Optional[str] = None, source: Optional[str] = None) -> "SemanticModel":
        model = cls._read(module, path, summaries, module_name, source, None)
        # A helper is built at its first call, from the callers read so far. Read the file again
        # with every call site's arguments known, until they stop changing (a helper's result
        # feeds another helper's arguments), so the order of calls never changes what a
        # parameter holds.
        seen = None
        for _ in range(MAX_READINGS):
            shared = {fi.qualname: {p: fi.args_per_call(p) for p in fi.call_args}
                      for fi in model.builder.functions.values() if fi.call_sites > 1 and fi.call_args}
            key = _facts_key(shared)
            if not shared or key == seen:
                break
            seen = key
            model = cls._read(module, path, summaries, module_name, source, shared)
        model.state = StateAnalysis(model)
        model.state.run()
        return model

    @classmethod
    def _read(cls, module, path, summaries, module_name, source, call_args) -> "SemanticModel":
        model = cls(module, path, summaries or {}, module_name, call_args)
        model._source = source
        b = model.builder
        b.collect()
        if summaries:
            from clsaudit.semantic.summary import attach_external

            attach_external(model)
        b.build_module()
        for fi in list(b.functions.values()):
            fi.ensure_built()
        return model

    # ---- positions -----------------------------------------------------------------
    def positions(self):
        if self._positions is None:
            from libcst.metadata import MetadataWrapper, PositionProvider

            self._positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        return self._positions

    def line(self, node: Optional[cst.CSTNode]) -> int:
        if node is None:
            return 0
        pos = self.positions().get(node)
        return pos.start.line if pos is not None else 0

    def where(self, value: Value) -> str:
        """'line 41' or 'models.py:41' for the origin of a value's activation."""
        if value.origin_path:
            # relative to this file's folder, as its import reads (`models/net.py:8`), whatever the
            # working directory (cached messages stay true)
            here = os.path.dirname(os.path.abspath(self.path))
            shown = os.path.relpath(value.origin_path, here) if os.path.isabs(value.origin_path) else value.origin_path
            return f"{shown}:{value.origin_line}"
        return f"line {self.line(value.origin)}"

    def code(self, node: cst.CSTNode, limit: int = 60) -> str:
        text = self.module.code_for_node(node).strip()
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    # ---- queries -------------------------------------------------------------------
    def functions(self) -> list[FunctionInfo]:
        return list(self.builder.functions.values())

    def all_functions(self) -> list[FunctionInfo]:
        return [self.builder.module_fn, *self.builder.functions.values()]

    def classes(self) -> list[ClassInfo]:
        return list(self.builder.classes.values())

    def events(self, kind: Optional[str] = None) -> Iterator[flow.Event]:
        for ev in self.builder.all_events:
            if kind is None or ev.kind == kind:
                yield ev

    def loops(self) -> Iterator[tuple[flow.Loop, FunctionInfo]]:
        for fi in self.all_functions():
            for loop in flow.loops(fi.body):
                yield loop, fi

    def function_of_event(self) -> dict:
        """Event -> the function whose body holds it (computed once per file)."""
        if self._owner is None:
            self._owner = {ev: fi for fi in self.all_functions() for ev in flow.events(fi.body)}
        return self._owner

    def level_events(self, block: flow.Block) -> list[flow.Event]:
        """Events of one iteration of ``block``: not inside nested loops, following calls."""
        return self._events_following_calls(block, into_loops=False, depth=0)

    def all_events_in(self, block: flow.Block) -> list[flow.Event]:
        """Every event under ``block``, nested loops included, following calls."""
        return self._events_following_calls(block, into_loops=True, depth=0)

    def _events_following_calls(self, block: flow.Block, into_loops: bool, depth: int) -> list[flow.Event]:
        key = (id(block), into_loops, depth)
        if key in self._events_cache:
            return self._events_cache[key]
        out: list[flow.Event] = []
        self._events_cache[key] = out  # a recursive call sees the partial list, not a loop
        for ev in flow.events(block, into_loops=into_loops):
            out.append(ev)
            if ev.kind == flow.CALL and depth < CALL_DEPTH and ev.detail is not None:
                out.extend(self._events_following_calls(ev.detail.body, into_loops, depth + 1))
        return out

    def is_training_loop(self, loop: flow.Loop, fi: Optional[FunctionInfo] = None) -> bool:
        """One iteration back-propagates and steps an optimizer (a saliency loop does not train)."""
        kinds = {ev.kind for ev in self.level_events(loop.body)}
        return flow.BACKWARD in kinds and flow.STEP in kinds

    def trains_a_model(self, loop: flow.Loop) -> bool:
        """A training loop whose optimizer steps a model's parameters (not only an input)."""
        steps = [ev for ev in self.level_events(loop.body) if ev.kind == flow.STEP]
        return any(not self.steps_inputs(s) for s in steps)

    def steps_inputs(self, step: flow.Event) -> bool:
        """An optimizer built over a list of tensors (`SGD([delta])`), not a model's parameters:
        it optimises an input or a perturbation (adversarial attacks, feature visualisation)."""
        opt = step.value
        if opt is None or opt.kind != values.OPTIMIZER or opt.node is None:
            return False
        for ev in self.events(flow.OPTIMIZER_NEW):
            if ev.node is opt.node:
                params = ev.argmap.get("params")
                return params is not None and params.kind == values.SEQUENCE and bool(params.items) and all(
                    i.kind in (values.TENSOR, values.UNKNOWN) and i.detail != "parameters" and i.kind != values.MODEL
                    for i in params.items)
        return False

    def iterations(self):
        """Blocks that run once per training step: loop bodies, and step functions with no loop."""
        for loop, fi in self.loops():
            yield loop.body, loop.node, fi
        for fi in self.functions():
            kinds = {ev.kind for ev in flow.events(fi.body, into_loops=False)}
            if flow.BACKWARD in kinds and flow.STEP in kinds:
                yield fi.body, fi.node, fi

    def is_eval_loop(self, loop: flow.Loop, fi: Optional[FunctionInfo] = None) -> bool:
        if not loop.is_data:
            return False
        level = self.level_events(loop.body)
        if not any(ev.kind == flow.MODEL_CALL for ev in level):
            return False
        if not any(ev.kind in EVAL_SIGNALS for ev in level):
            return False  # outputs neither scored, accumulated nor collected: not an evaluation
        # a loop that zeroes gradients trains, even when a helper object runs backward and step
        # (`loss_scaler(loss, optimizer)`)
        return not any(ev.kind in (flow.BACKWARD, flow.STEP, flow.ZERO_GRAD) for ev in self.all_events_in(loop.body))

    def param_values(self, value: Value) -> list[Value]:
        """Values passed at call sites for a parameter-derived value (one level)."""
        origin = values.param_origin(value)
        if origin is not None:
            return list(origin.fn.call_args.get(origin.name, []))
        return []

    def resolve_loss_flavour(self, ev: flow.Event) -> list[tuple[str, Value]]:
        """Flavours a LOSS event may have: its own, or those of the objects passed for it."""
        if ev.detail:
            return [(ev.detail, ev.argmap.get("loss"))]
        loss = ev.argmap.get("loss")
        out = []
        if loss is not None:
            for v in self.param_values(loss):
                if v.kind == values.LOSS and isinstance(v.detail, str):
                    out.append((v.detail, v))
        return out

    def resolve_activation(self, value: Value) -> list[Value]:
        """Values whose activation a tensor may carry, following parameters to call sites."""
        if value.act is not None:
            return [value]
        if isinstance(value.detail, values.FromModel):
            return [v for v in self.param_values(value.detail.model) if v.kind == values.MODEL and v.act is not None]
        return []

    def training_loader_nodes(self) -> dict:
        """DataLoader/dataset constructor nodes iterated by a training loop -> that loop."""
        out: dict = {}
        for loop, _fi in self.loops():
            if loop.iter_value is None or not self.is_training_loop(loop):
                continue
            candidates = [loop.iter_value, *self.param_values(loop.iter_value)]
            for v in candidates:
                if v.node is not None:
                    out.setdefault(v.node, loop)
        return out

    # ---- decisions (CLS501) --------------------------------------------------------------
    def decisions(self) -> Iterator[tuple[flow.Branch, FunctionInfo, values.Compare]]:
        """Branches whose arms act on a metric (save a checkpoint, record a best value, stop
        training, following calls) with the condition they test, however it is written:
        a comparison, ``and``/``or``, a flag holding a comparison, a parameter."""
        for fi in self.all_functions():
            for item in flow.walk_items(fi.body):
                if not isinstance(item, flow.Branch) or item.test is None:
                    continue
                cond = condition_of(item.test)
                if cond is None:
                    continue
                if any(ev.kind == flow.SELECT for arm in item.arms for ev in self.all_events_in(arm)):
                    yield item, fi, cond

    def calls_passing(self, fi: FunctionInfo, param: str, depth: int = 0) -> Iterator[tuple[flow.Event, Value]]:
        """Each call site of ``fi`` with the value it passes for ``param``; a value that is itself
        a parameter of the caller is followed to the caller's callers (a few levels)."""
        for ev in fi.callers:
            v = ev.passed.get(param)
            if v is None:
                continue
            if v.param is not None and not v.split and depth < 3 and not isinstance(v.detail, values.Compare):
                yield from self.calls_passing(v.param.fn, v.param.name, depth + 1)
            else:
                yield ev, v

    def printed_only_statistics(self) -> set:
        """STAT events whose results were only printed or logged, never applied to data."""
        out = set()
        for ev in self.events(flow.STAT):
            for v in self.builder.stat_results.get(ev, ()):
                if v.printed_only():
                    out.add(ev)
        return out

    def names_of(self, node) -> set:
        return self.builder.bound_names.get(node, set())

    def summary(self) -> dict:
        from clsaudit.semantic.summary import summarize

        return summarize(self)

    # ---- syntax facts (CLS105, CLS209, CLS307-CLS309, CLS402, CLS503; see semantic/facts/) ----
    def qualified_name(self, node: cst.BaseExpression) -> Optional[str]:
        """The qualified name a Name/Attribute chain stands for through this file's imports.

        Resolved with the import table, never by the alias text (``F`` only means
        ``torch.nn.functional`` where it was imported as such); None for a local name.
        """
        return self.builder.qual(node, None)

    def fact(self, key: str, compute: Any) -> Any:
        """``compute(self)`` once per file and key: facts several rules share (one syntax walk)."""
        cache = self.__dict__.setdefault("_facts", {})
        if key not in cache:
            cache[key] = compute(self)
        return cache[key]

def condition_of(test: Value) -> Optional[values.Compare]:
    """What a branch condition depends on (None when it depends on no value we track)."""
    if isinstance(test.detail, values.Compare):
        return test.detail
    if test.param is not None:
        return values.Compare(test.split, False, frozenset([test.param.name]))
    if test.split:
        return values.Compare(test.split)
    return None


def _facts_key(shared: dict) -> tuple:
    """What the next reading depends on: per parameter, each call's kind, split and layout."""
    return tuple(sorted(
        (fn, param, tuple((v.kind, v.split, v.layout, v.act) for v in vals))
        for fn, params in shared.items() for param, vals in params.items()))
