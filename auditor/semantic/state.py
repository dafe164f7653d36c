"""Train/eval mode and grad-mode analysis over the flow trees.

Walks each root (the module body, and every function nobody in the file
calls) in execution order, following calls into functions defined in the
file with the caller's state mapped onto the callee's parameter names, and
iterating loop bodies to a fixpoint so that ``model.eval()`` at the end of
an epoch is seen at the start of the next. It records *observations* for
the rules: a training loop that may run in eval mode, an evaluation loop
that may run in train mode or with autograd on, an accumulation that may
keep the graph alive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from clsaudit.semantic import flow

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


def join(states: list[State], exhaustive_arms: Optional[list[State]] = None) -> State:
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
            arm_modes = [s.modes.get(ref, {}) for s in exhaustive_arms]
            if all(len(m) == 1 for m in arm_modes) and len({next(iter(m)) for m in arm_modes}) > 1:
                merged = {"cond": next(iter(arm_modes[0].values()))}
        out.modes[ref] = merged
    return out


@dataclass
class Observation:
    loop: Optional[flow.Loop]
    event: flow.Event
    ref: Optional[str] = None
    origin: object = None  # node that set the conflicting mode / state
    fn: object = None  # FunctionInfo in which the event sits


class StateAnalysis:
    MAX_DEPTH = 6

    def __init__(self, model) -> None:
        self.model = model
        self.train_in_eval: dict[object, Observation] = {}
        self.eval_in_train: dict[object, Observation] = {}
        self.eval_with_grad: dict[object, Observation] = {}
        self.accum_with_grad: dict[object, Observation] = {}
        self.budget = 200_000

    def run(self) -> None:
        b = self.model.builder
        self.exec_fn(b.module_fn, State(grad="on"), [])
        for fi in self.model.functions():
            if not fi.callers:
                start = State(grad=fi.grad_decorator or UNKNOWN)
                self.exec_fn(fi, start, [])

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
                    state = join(outs, exhaustive_arms=outs)
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
            state.modes[ev.ref] = {"train": ev.node}
        elif k == flow.GRAD_SET and ev.detail:
            state.grad = ev.detail
        elif k == flow.MODEL_CALL:
            self.check_model_call(ev, state, loops, fi)
        elif k == flow.ACCUM:
            if state.grad == "on" and loops and ev.value is not None and ev.value.grad:
                loop, _ = loops[-1]
                self.accum_with_grad.setdefault(ev.node, Observation(loop, ev, ev.ref, None, fi))
        elif k == flow.CALL:
            callee = ev.detail
            if callee is not None and callee.node is not None and callee not in stack and len(stack) <= self.MAX_DEPTH:
                inner = self.map_in(state, ev.argmap, callee)
                inner = self.exec_fn_with_loops(callee, inner, loops, stack)
                state = self.map_out(state, inner, ev.argmap, callee)
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

    def check_model_call(self, ev: flow.Event, state: State, loops: list, fi) -> None:
        if not loops or not ev.ref:
            return
        loop, loop_fn = loops[-1]
        modes = state.modes.get(ev.ref)
        last = ev.ref.split(".")[-1].lower()
        if self.model.is_training_loop(loop, loop_fn):
            if state.grad == "off" or "teacher" in last or "ema" in last:
                return
            if modes and "eval" in modes and "cond" not in modes:
                self.train_in_eval.setdefault(loop.node, Observation(loop, ev, ev.ref, modes["eval"], loop_fn))
        elif self.model.is_eval_loop(loop, loop_fn):
            if modes and "train" in modes and "cond" not in modes and "eval" not in modes:
                self.eval_in_train.setdefault(loop.node, Observation(loop, ev, ev.ref, modes["train"], loop_fn))
            if state.grad == "on":
                self.eval_with_grad.setdefault(loop.node, Observation(loop, ev, ev.ref, None, loop_fn))
