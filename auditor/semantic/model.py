"""The per-file semantic model that every rule queries (the class itself).

Built once per file (see :mod:`clsaudit.semantic.builder`): imports resolved,
values bound to names, each function reduced to a flow tree, module classes'
``forward`` outputs known, and a state analysis that knows in which
train/eval and grad mode each loop may run. Rules ask it questions; they do
not walk the syntax tree for these answers themselves.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterator, Mapping, Optional

import libcst as cst
from clsaudit.semantic import flow as F
from clsaudit.semantic import values as V
from clsaudit.semantic.builder import Builder, ClassInfo, FunctionInfo
from clsaudit.semantic.state import StateAnalysis
from clsaudit.semantic.values import Value

CALL_DEPTH = 4
CALLED_NAME = re.compile(r"\b([A-Za-z_]\w*)\s*\(")  # `def f(` counts once, each call once more
EVAL_SIGNALS = (F.ACCUM, F.LOSS, F.PREDICT, F.ARGMAX, F.COLLECT)


class SemanticModel:
    def __init__(self, module: cst.Module, path: str, summaries: Mapping[str, Any],
                 module_name: Optional[str]) -> None:
        self.module = module
        self.path = path
        self.module_name = module_name
        self.summaries = summaries
        self.builder = Builder(module, path)
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
        model = cls(module, path, summaries or {}, module_name)
        model._source = source
        b = model.builder
        b.collect()
        if summaries:
            from clsaudit.semantic.summary import attach_external

            attach_external(model)
        b.build_module()
        # Callers first: a helper built from its caller's call site sees what it is passed.
        calls = Counter(CALLED_NAME.findall(model.source))
        for fi in sorted(b.functions.values(), key=lambda f: calls.get(f.name, 0) > 1):
            fi.ensure_built()
        model.state = StateAnalysis(model)
        model.state.run()
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
            return f"{value.origin_path}:{value.origin_line}"
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

    def events(self, kind: Optional[str] = None) -> Iterator[F.Event]:
        for ev in self.builder.all_events:
            if kind is None or ev.kind == kind:
                yield ev

    def loops(self) -> Iterator[tuple[F.Loop, FunctionInfo]]:
        for fi in self.all_functions():
            for loop in F.loops(fi.body):
                yield loop, fi

    def function_of_event(self) -> dict:
        """Event -> the function whose body holds it (computed once per file)."""
        if self._owner is None:
            self._owner = {ev: fi for fi in self.all_functions() for ev in F.events(fi.body)}
        return self._owner

    def level_events(self, block: F.Block) -> list[F.Event]:
        """Events of one iteration of ``block``: not inside nested loops, following calls."""
        return self._events_following_calls(block, into_loops=False, depth=0)

    def all_events_in(self, block: F.Block) -> list[F.Event]:
        """Every event under ``block``, nested loops included, following calls."""
        return self._events_following_calls(block, into_loops=True, depth=0)

    def _events_following_calls(self, block: F.Block, into_loops: bool, depth: int) -> list[F.Event]:
        key = (id(block), into_loops, depth)
        if key in self._events_cache:
            return self._events_cache[key]
        out: list[F.Event] = []
        self._events_cache[key] = out  # a recursive call sees the partial list, not a loop
        for ev in F.events(block, into_loops=into_loops):
            out.append(ev)
            if ev.kind == F.CALL and depth < CALL_DEPTH and ev.detail is not None:
                out.extend(self._events_following_calls(ev.detail.body, into_loops, depth + 1))
        return out

    def is_training_loop(self, loop: F.Loop, fi: Optional[FunctionInfo] = None) -> bool:
        """One iteration back-propagates and steps an optimizer (a saliency loop does not train)."""
        kinds = {ev.kind for ev in self.level_events(loop.body)}
        return F.BACKWARD in kinds and F.STEP in kinds

    def iterations(self):
        """Blocks that run once per training step: loop bodies, and step functions with no loop."""
        for loop, fi in self.loops():
            yield loop.body, loop.node, fi
        for fi in self.functions():
            kinds = {ev.kind for ev in F.events(fi.body, into_loops=False)}
            if F.BACKWARD in kinds and F.STEP in kinds:
                yield fi.body, fi.node, fi

    def is_eval_loop(self, loop: F.Loop, fi: Optional[FunctionInfo] = None) -> bool:
        if not loop.is_data:
            return False
        level = self.level_events(loop.body)
        if not any(ev.kind == F.MODEL_CALL for ev in level):
            return False
        if not any(ev.kind in EVAL_SIGNALS for ev in level):
            return False  # outputs neither scored, accumulated nor collected: not an evaluation
        return not any(ev.kind in (F.BACKWARD, F.STEP) for ev in self.all_events_in(loop.body))

    def param_values(self, value: Value) -> list[Value]:
        """Values passed at call sites for a parameter-derived value (one level)."""
        detail = value.detail
        if isinstance(detail, tuple) and detail[:1] == ("param",):
            fi, pname = detail[1], detail[2]
            return list(fi.call_args.get(pname, []))
        return []

    def resolve_loss_flavour(self, ev: F.Event) -> list[tuple[str, Value]]:
        """Flavours a LOSS event may have: its own, or those of the objects passed for it."""
        if ev.detail:
            return [(ev.detail, ev.argmap.get("loss"))]
        loss = ev.argmap.get("loss")
        out = []
        if loss is not None:
            for v in self.param_values(loss):
                if v.kind == V.LOSS and isinstance(v.detail, str):
                    out.append((v.detail, v))
        return out

    def resolve_activation(self, value: Value) -> list[Value]:
        """Values whose activation a tensor may carry, following parameters to call sites."""
        if value.act is not None:
            return [value]
        detail = value.detail
        if isinstance(detail, tuple) and detail[:1] == ("from_model",):
            return [v for v in self.param_values(detail[1]) if v.kind == V.MODEL and v.act is not None]
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

    def names_of(self, node) -> set:
        return self.builder.bound_names.get(node, set())

    def summary(self) -> dict:
        from clsaudit.semantic.summary import summarize

        return summarize(self)

    # ---- issue 13 (rules CLS105, CLS209, CLS307, CLS308, CLS309, CLS402, CLS503) ------------
    # Kept in one block at the end of the class so that the semantic-model restructuring
    # merges trivially. The PyTorch knowledge these rules need lives in semantic/facts/.
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
