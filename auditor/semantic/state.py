"""Train/eval mode and grad-mode analysis over the flow trees.

Walks each root (the module body, and every function nobody in the file
calls) in execution order, following calls into functions defined in the
file with the caller's state mapped onto the callee's parameter names, and
iterating loop bodies to a fixpoint so that ``model.eval()`` at the end of
an epoch is seen at the start of the next. It records *facts*, not verdicts:
at each model call, the modes its model may be in, the grad mode, and the
role of the code around it (a training loop, an evaluation loop, a
loop-less evaluation); at each accumulation, the grad mode. Rules decide.

Functions nobody in the file calls are roots, run with autograd on (as a
caller from another module would, unless the function is decorated). A
method of a plain class (a trainer) starts from the state its ``__init__``
leaves, with every model attribute in train mode, as a freshly built module
is: any other method may run between construction and this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from clsaudit.semantic import flow, values

UNKNOWN = "unknown"


@dataclass
class State:
    modes: dict[str, dict[str, object]] = field(default_factory=dict)  # ref -> {mode: origin node}
    grad: str = UNKNOWN  # "on" | "off" | "cond" | "unknown"

    def copy(self) -> "State":
        return State({k: dict(v) for k, v in self.modes.items()}, self.grad)

    def key(self) -> tuple:
        return (tuple(sorted((k, tuple(sorted(v))) for k, v in self.modes.items())), self.grad)


def join_grad(a: str, b: str) -> str:
    if a == b:
        return a
    if UNKNOWN in (a, b):
        return UNKNOWN
    return "cond"


def join(states: list[State], exhaustive_arms: Optional[list[State]] = None,
         before: Optional[State] = None) -> State:
    out = State(grad=states[0].grad)
    for s in states[1:]:
        out.grad = join_grad(out.grad, s.grad)
    refs = set().union(*(s.modes.keys() for s in states))
    for ref in refs:
        merged: dict[str, object] = {}
        for s in states:
            for mode, origin in s.modes.get(ref, {}).items():
                merged.setdefault(mode, origin)
        if exhaustive_arms:
            # `if training: model.train() else: model.eval()`: every arm sets the mode, deliberately,
            # under a condition; an arm that leaves the mode as it was makes it "may be" instead
            arm_modes = [s.modes.get(ref, {}) for s in exhaustive_arms]
            prior = before.modes.get(ref) if before is not None else None
            every_arm_sets = prior is None or all(m != prior for m in arm_modes)
            if every_arm_sets and all(len(m) == 1 for m in arm_modes) and len({next(iter(m)) for m in arm_modes}) > 1:
                merged = {"cond": next(iter(arm_modes[0].values()))}
        out.modes[ref] = merged
    return out


@dataclass
class ModelCallFact:
    """A model call as the state analysis saw it, in one loop (every path that reached it there)."""

    event: flow.Event
    fn: object  # FunctionInfo holding the call
    loop: Optional[flow.Loop]  # innermost loop around the call, if any
    loop_fn: object  # FunctionInfo holding that loop
    modes: dict  # mode -> node that set it ("train", "eval", "cond")
    grad: str  # "on" | "off" | "cond" | "unknown"
    role: str  # "train" | "eval" | "other"

    @property
    def anchor(self):
        """Where a mode or no-grad finding points: the loop, or the call when there is none."""
        return self.loop.node if self.loop is not None else self.event.node


@dataclass
class AccumFact:
    event: flow.Event
    loop: flow.Loop
    fn: object
    grad: str


class StateAnalysis:
    MAX_DEPTH = 6

    def __init__(self, model) -> None:
        self.model = model
        # (event, innermost loop) -> fact: a helper's model call reached from a training loop and
        # from an evaluation loop is two facts
        self.model_calls: dict[tuple, ModelCallFact] = {}
        self.accums: dict[object, AccumFact] = {}
        self.budget = 200_000

    def run(self) -> None:
        b = self.model.builder
        self.exec_fn(b.module_fn, State(grad="on"), [])
        for fi in self.model.functions():
            if not fi.callers:
                self.exec_fn(fi, self.root_state(fi), [])

    def root_state(self, fi) -> State:
        state = State(grad=fi.grad_decorator or "on")
        cls = fi.cls
        if cls is None or cls.is_lightning or fi.name == "__init__" or cls.is_module:
            if cls is not None and (cls.is_lightning or cls.is_module):
                state.grad = fi.grad_decorator or UNKNOWN  # the framework (or a caller) decides
            return state
        cls.ensure_attrs()
        for attr, v in cls.attrs.items():
            if v.kind == values.MODEL:
                state.modes[f"self.{attr}"] = {"train": v.node or cls.node}
        init = cls.methods.get("__init__")
        if init is not None and init is not fi:
            state = self.exec_fn(init, state, [])
            state.grad = fi.grad_decorator or "on"
        return state

    def exec_fn(self, fi, state: State, stack: list) -> State:
        if fi in stack or len(stack) > self.MAX_DEPTH:
            return state
        if fi.grad_decorator:
            saved = state.grad
            state.grad = fi.grad_decorator
            out = self.exec_block(fi.body, state, [], stack + [fi], fi)
            out.grad = saved
            return out
        return self.exec_block(fi.body, state, [], stack + [fi], fi)

    def exec_block(self, block: flow.Block, state: State, loops: list, stack: list, fi) -> State:
        for item in block.items:
            self.budget -= 1
            if self.budget < 0:
                return state
            if isinstance(item, flow.Event):
                state = self.exec_event(item, state, loops, stack, fi)
            elif isinstance(item, flow.Loop):
                state = self.exec_loop(item, state, loops, stack, fi)
            elif isinstance(item, flow.With):
                if item.grad is not None:
                    saved = state.grad
                    state.grad = item.grad
                    state = self.exec_block(item.body, state, loops, stack, fi)
                    state.grad = saved
                else:
                    state = self.exec_block(item.body, state, loops, stack, fi)
            elif isinstance(item, flow.Branch):
                outs = [self.exec_block(arm, state.copy(), loops, stack, fi) for arm in item.arms]
                if item.exhaustive:
                    state = join(outs, exhaustive_arms=outs, before=state)
                else:
                    state = join([state] + outs)
        return state

    def exec_loop(self, loop: flow.Loop, state: State, loops: list, stack: list, fi) -> State:
        entry = state.copy()
        head = entry
        out = head
        for _ in range(3):
            out = self.exec_block(loop.body, head.copy(), loops + [(loop, fi)], stack, fi)
            new_head = join([entry, out])
            if new_head.key() == head.key():
                break
            head = new_head
        return join([entry, out])

    def exec_event(self, ev: flow.Event, state: State, loops: list, stack: list, fi) -> State:
        k = ev.kind
        if k == flow.MODE and ev.ref:
            state.modes[ev.ref] = {ev.detail: ev.node}
        elif k == flow.NEW_MODEL and ev.ref:
            managed = ev.value is not None and _keeps_eval_copy(ev.value.detail)
            state.modes[ev.ref] = {"cond" if managed else "train": ev.node}
        elif k == flow.NEW_OBJECT and ev.ref:
            state = self.construct(ev, state, loops, stack)
        elif k == flow.GRAD_SET and ev.detail:
            state.grad = ev.detail
        elif k == flow.MODEL_CALL:
            self.record_model_call(ev, state, loops, fi)
        elif k == flow.ACCUM:
            if loops and ev.value is not None and ev.value.grad and ev not in self.accums:
                self.accums[ev] = AccumFact(ev, loops[-1][0], fi, state.grad)
        elif k == flow.CALL:
            callee = ev.detail
            if callee is not None and callee.node is not None and callee not in stack and len(stack) <= self.MAX_DEPTH:
                inner = self.map_in(state, ev.argmap, callee)
                inner = self.exec_fn_with_loops(callee, inner, loops, stack)
                state = self.map_out(state, inner, ev.argmap, callee)
        return state

    def construct(self, ev: flow.Event, state: State, loops: list, stack: list) -> State:
        """``runner = Runner(...)``: model attributes start in train mode, then ``__init__`` runs."""
        cls = ev.detail
        cls.ensure_attrs()
        for attr, v in cls.attrs.items():
            if v.kind == values.MODEL:
                state.modes[f"{ev.ref}.{attr}"] = {"train": v.node or ev.node}
        init = cls.methods.get("__init__")
        if init is not None and init not in stack and len(stack) <= self.MAX_DEPTH:
            argmap = {"self": ev.ref}
            inner = self.exec_fn_with_loops(init, self.map_in(state, argmap, init), loops, stack)
            state = self.map_out(state, inner, argmap, init)
        return state

    def exec_fn_with_loops(self, fi, state: State, loops: list, stack: list) -> State:
        saved = state.grad
        if fi.grad_decorator:
            state.grad = fi.grad_decorator
        out = self.exec_block(fi.body, state, loops, stack + [fi], fi)
        if fi.grad_decorator:
            out.grad = saved
        return out

    @staticmethod
    def _rename(ref: str, mapping: dict[str, str]) -> Optional[str]:
        head, dot, rest = ref.partition(".")
        if head in mapping:
            return mapping[head] + (dot + rest if dot else "")
        return None

    def map_in(self, state: State, argmap: dict, callee) -> State:
        inner = State(grad=state.grad)
        reverse = {v: k for k, v in argmap.items()}
        for ref, modes in state.modes.items():
            # longest caller prefix that was passed as an argument
            renamed = None
            for caller_ref, param in reverse.items():
                if ref == caller_ref or ref.startswith(caller_ref + "."):
                    renamed = param + ref[len(caller_ref):]
                    break
            if renamed is not None:
                inner.modes[renamed] = dict(modes)
            elif ref.split(".")[0] not in callee.locals:
                inner.modes[ref] = dict(modes)
        return inner

    def map_out(self, outer: State, inner: State, argmap: dict, callee) -> State:
        result = outer.copy()
        for ref, modes in inner.modes.items():
            head = ref.split(".")[0]
            if head in argmap:
                result.modes[self._rename(ref, argmap)] = dict(modes)
            elif head not in callee.locals:
                result.modes[ref] = dict(modes)
        return result

    def record_model_call(self, ev: flow.Event, state: State, loops: list, fi) -> None:
        if not ev.ref:
            return
        modes = dict(state.modes.get(ev.ref, {}))
        loop, loop_fn = loops[-1] if loops else (None, fi)
        key = (ev, loop)
        known = self.model_calls.get(key)
        if known is not None:
            # another path reached the call: it may be in any mode either path had
            for mode, origin in modes.items():
                known.modes.setdefault(mode, origin)
            known.grad = join_grad(known.grad, state.grad)
            return
        role = self.role(ev, loop, loop_fn, fi)
        last = ev.ref.split(".")[-1].lower()
        if role == "train" and not modes and "teacher" not in last and "ema" not in last:
            # a model of unknown mode that a loop trains is in train mode from here on (were it
            # not, the training itself would be the bug): what an evaluation after it sees
            state.modes[ev.ref] = {"train": ev.node}
        if role == "eval" and loop is not None and not self.model.is_eval_loop(loop, loop_fn):
            loop = None  # a loop-less evaluation called from some outer loop: the call is the place
        self.model_calls[key] = ModelCallFact(ev, fi, loop, loop_fn, modes, state.grad, role)

    def role(self, ev: flow.Event, loop: Optional[flow.Loop], loop_fn, fi) -> str:
        """What the code around a model call does: trains, evaluates, or neither."""
        m = self.model
        if loop is not None:
            if m.is_training_loop(loop, loop_fn):
                return "train" if m.trains_a_model(loop) else "other"
            if m.is_eval_loop(loop, loop_fn):
                return "eval"
            if loop_fn is fi:
                return "other"
        # no loop of its own: one full-batch forward on held-out data whose output is scored (`predict(net, x_test)`)
        src = ev.other
        if src is None or src.split not in ("val", "test") or fi.node is None:
            return "other"
        kinds = {e.kind for e in m.all_events_in(fi.body)}
        if kinds & {flow.BACKWARD, flow.STEP} or not kinds & {flow.PREDICT, flow.ARGMAX, flow.LOSS}:
            return "other"
        return "eval"


def _keeps_eval_copy(cls) -> bool:
    """A module whose constructor puts a sub-network in eval mode (`self.shadow = deepcopy(net).eval()`)
    manages its own mode: the wrapper's train flag says nothing about what its forward runs."""
    init = getattr(cls, "methods", {}).get("__init__")
    return init is not None and any(ev.kind == flow.MODE and ev.detail == "eval" for ev in flow.events(init.body))
