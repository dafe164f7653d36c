"""CLS207: a learning-rate scheduler stepped in the wrong place or at the wrong rate."""

from __future__ import annotations

import re
from collections.abc import Iterator

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow, values
from clsaudit.semantic.lazy import cst, dotted
from clsaudit.semantic.values import last

# how a schedule's length is counted
EPOCHS = "epochs"
STEPS = "steps"

# the constructor argument that sizes each schedule: (keyword, position after the optimizer)
SIZE_ARG = {
    "CosineAnnealingLR": ("T_max", 1),
    "StepLR": ("step_size", 1),
    "MultiStepLR": ("milestones", 1),
}
# literals at or below these are read as epochs (CIFAR recipes: T_max=200, step_size=30,
# milestones=[100, 150]); larger literals may be counted in steps, so they are left alone
EPOCH_LITERAL_MAX = {"CosineAnnealingLR": 400, "StepLR": 200, "MultiStepLR": 400}

STRONG_STEP_WORDS = re.compile(r"steps|iters|iterations|batches|total_step|num_step|n_iter|max_iter")
WEAK_STEP_WORDS = re.compile(r"step|iter|batch|len")
CALL_DEPTH = 4


class SchedulerMisuse(Rule):
    code = "CLS207"
    name = "scheduler-misuse"
    severity = "warning"
    summary = ("scheduler.step() runs before optimizer.step(), or at a different rate (per batch / per epoch) "
               "than the schedule was sized for")
    doc = """\
## What it does
Reads where each `torch.optim.lr_scheduler` is stepped and compares it with
how it was built. It reports a `scheduler.step()` that:

- runs before `optimizer.step()` in the same iteration, including the old
  idiom of stepping at the top of the epoch loop, before the batch loop's
  optimizer steps;
- steps an epoch-sized schedule (`CosineAnnealingLR(T_max=epochs)`,
  `StepLR(step_size=30)`, `MultiStepLR(milestones=[100, 150])`) inside the
  batch loop, i.e. in a loop whose iterations also call `optimizer.step()`;
- steps a per-step schedule (`OneCycleLR`, `CosineAnnealingLR` with
  `T_max=epochs * len(loader)`) once per epoch.

`OneCycleLR` stepped per batch, `CosineAnnealingLR(T_max=epochs)` stepped per
epoch, `ReduceLROnPlateau` stepped with a metric, `LambdaLR` warm-ups and
any `scheduler.step(arg)` with an explicit epoch are left alone. Schedules
whose size cannot be read from the source are not judged.

## Why is this bad
A scheduler counts its own `step()` calls; it does not know what a batch or
an epoch is. Stepped per batch, `CosineAnnealingLR(T_max=100)` completes a
whole cosine half-period every 100 batches and then climbs back up, and
`StepLR(step_size=30)` divides the LR by 10 every 30 batches, so it is
practically zero after the first epoch. Stepped per epoch, `OneCycleLR`
sized for `epochs * len(loader)` steps never leaves its warm-up ramp.
Since PyTorch 1.1 `optimizer.step()` must come first: stepping the
scheduler before it skips the first value of the schedule (PyTorch warns
"Detected call of `lr_scheduler.step()` before `optimizer.step()`"), and
the training runs one epoch (or step) out of phase with its schedule.
The run completes and the loss falls, just to a worse model.

## Example
```python
scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
for epoch in range(epochs):
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
        scheduler.step()          # T_max counts epochs, this counts batches
```

## Use instead
```python
scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
for epoch in range(epochs):
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
    scheduler.step()              # once per epoch, after the optimizer steps

# or size the schedule in steps and keep stepping it per batch:
scheduler = CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
```

## References
- PyTorch docs, "How to adjust learning rate" (`torch.optim`): "Prior to PyTorch 1.1.0, the learning rate
  scheduler was expected to be called before the optimizer's update; 1.1.0 changed this behavior in a
  BC-breaking way", and the runtime warning "Detected call of `lr_scheduler.step()` before
  `optimizer.step()`".
- PyTorch docs, `torch.optim.lr_scheduler.OneCycleLR`: "step should be called after a batch has been
  used for training"; `total_steps` or `epochs` and `steps_per_epoch` size it in batches.
"""

    def check(self, semantic):
        reported: set[int] = set()
        for report in self._reports(semantic):
            if id(report.node) not in reported:
                reported.add(id(report.node))
                yield report

    def _reports(self, semantic) -> Iterator[Report]:
        for loop, fi in semantic.loops():
            level = semantic.level_events(loop.body)
            scheds = [ev for ev in level if ev.kind == flow.SCHED_STEP and not _has_args(ev)]
            if not scheds:
                continue
            steps = [ev for ev in level if ev.kind == flow.STEP]
            for ev in scheds:
                for value in scheduler_values(semantic, ev.value):
                    kind = last(value.qual or "")
                    if steps:
                        yield from self._per_batch(semantic, loop, fi, ev, value, kind, steps)
                    elif any(e.kind == flow.STEP for e in semantic.all_events_in(loop.body)):
                        yield from self._per_epoch(semantic, loop, ev, value, kind)

    # -- a scheduler stepped in the loop that also steps the optimizer --------------------------
    def _per_batch(self, semantic, loop, fi, ev, value, kind, steps) -> Iterator[Report]:
        mine = _own_steps(value, steps)
        level = semantic.level_events(loop.body)
        first_step = next((s for s in level if s in mine), None)
        if kind != "ReduceLROnPlateau" and first_step is not None and level.index(ev) < level.index(first_step):
            if first_step.detail == "epoch":
                yield Report(ev.node, f"scheduler.step() runs at the start of the epoch, before the optimizer "
                                      f"steps of `{semantic.code(first_step.node, 40)}` at line "
                                      f"{semantic.line(first_step.node)}: the {kind} schedule is shifted by one epoch "
                                      "and its first LR is skipped; call it after the epoch's training")
                return
            yield Report(ev.node, f"scheduler.step() runs before optimizer.step() at line {semantic.line(first_step.node)} "
                                  "in the same iteration: the first LR of the schedule is skipped and every "
                                  "update uses the next step's LR; call it after optimizer.step()")
            return
        if ev.conditional and not _guard_steps_optimizer(loop, ev, mine):
            return  # stepped under a condition of its own (e.g. at the end of an epoch)
        if "epoch" in loop.iter_text.lower() or not (loop.is_data or _is_nested(loop, fi)):
            return  # a loop over epochs with one full-batch step each
        size = schedule_size(value)
        if size is None or size[0] != EPOCHS:
            return
        yield Report(ev.node, f"{kind} built at line {semantic.line(value.detail)} with {size[1]} (counted in epochs) is stepped every "
                              f"batch: the loop at line {semantic.line(loop.node)} also calls optimizer.step() at line "
                              f"{semantic.line(mine[0].node)}; step it once per epoch or size it in steps")

    # -- a scheduler stepped in a loop whose inner loops step the optimizer ---------------------
    def _per_epoch(self, semantic, loop, ev, value, kind) -> Iterator[Report]:
        if loop.is_data and "epoch" not in loop.iter_text.lower():
            return  # e.g. a batch loop with an inner loop of several steps per batch
        if kind != "ReduceLROnPlateau" and (not ev.conditional or _phase_guarded(semantic, loop.body, ev)):
            first = _first_of(semantic, loop.body, ev)
            if first is not None:
                step = next(e for e in semantic.all_events_in(first.body) if e.kind == flow.STEP)
                yield Report(ev.node, f"scheduler.step() runs at the start of the epoch, before optimizer.step() at "
                                      f"line {semantic.line(step.node)} in the loop at line {semantic.line(first.node)}: "
                                      f"the {kind} schedule is shifted by one epoch and its first LR is skipped; "
                                      "call it after the epoch's training")
                return
        size = schedule_size(value)
        if size is None or size[0] != STEPS:
            return
        yield Report(ev.node, f"{kind} built at line {semantic.line(value.detail)} with {size[1]} (counted in optimizer steps) is stepped "
                              f"once per epoch in the loop at line {semantic.line(loop.node)}: step it after every "
                              "optimizer.step() in the batch loop")


# ---- what the scheduler is -----------------------------------------------------------------

def scheduler_values(semantic, value, depth: int = 0) -> list:
    """The torch scheduler constructions a stepped value may be, following helper parameters."""
    if value is None:
        return []
    if value.qual and values.is_scheduler_qual(value.qual) and isinstance(value.detail, cst.Call):
        return [value]
    if value.kind == values.SCHEDULER and isinstance(value.detail, cst.Call) and depth == 0:
        return [value]  # a project's own scheduler class: its order of steps can still be judged
    if depth >= 3:
        return []
    out = []
    for v in semantic.param_values(value):
        out.extend(scheduler_values(semantic, v, depth + 1))
    unique = []
    for v in out:
        if all(v.detail is not u.detail for u in unique):
            unique.append(v)
    return unique


def _words(expr: cst.CSTNode) -> tuple[list[str], bool]:
    """Identifiers in an expression and whether it calls len()."""
    words: list[str] = []
    calls_len = False

    class Visitor(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            words.append(node.value.lower())

        def visit_Call(self, node: cst.Call) -> None:
            nonlocal calls_len
            if isinstance(node.func, cst.Name) and node.func.value == "len":
                calls_len = True

    expr.visit(Visitor())
    return words, calls_len


def _measure(expr: cst.BaseExpression, literal_max: int) -> str | None:
    if isinstance(expr, cst.Integer):
        return EPOCHS if int(expr.value, 0) <= literal_max else None
    if isinstance(expr, (cst.List, cst.Tuple)):
        items = [el.value for el in expr.elements]
        if items and all(isinstance(i, cst.Integer) for i in items):
            return EPOCHS if max(int(i.value, 0) for i in items) <= literal_max else None
    words, calls_len = _words(expr)
    if calls_len or any(STRONG_STEP_WORDS.search(w) for w in words):
        return STEPS
    if any(WEAK_STEP_WORDS.search(w) for w in words):
        return None
    if any("epoch" in w for w in words):
        return EPOCHS
    return None


def schedule_size(value) -> tuple[str, str] | None:
    """(EPOCHS or STEPS, 'T_max=args.epochs') when the source says how the schedule is counted."""
    call = value.detail
    kind = last(value.qual or "")
    if not isinstance(call, cst.Call):
        return None
    if kind == "OneCycleLR":
        total = _argument(call, "total_steps", 2)
        per_epoch = _argument(call, "steps_per_epoch", 4)
        if total is not None and _measure(total, 0) == STEPS:
            return STEPS, f"total_steps={_text(total)}"
        if per_epoch is not None and not (isinstance(per_epoch, cst.Integer) and per_epoch.value == "1"):
            return STEPS, f"steps_per_epoch={_text(per_epoch)}"
        return None
    if kind not in SIZE_ARG:
        return None
    keyword, position = SIZE_ARG[kind]
    expr = _argument(call, keyword, position)
    if expr is None:
        return None
    measure = _measure(expr, EPOCH_LITERAL_MAX[kind])
    if measure == STEPS and kind != "CosineAnnealingLR":
        return None  # only a cosine sized in steps is known to be meant per batch
    return (measure, f"{keyword}={_text(expr)}") if measure else None


def _text(node: cst.CSTNode) -> str:
    text = " ".join(cst.Module([]).code_for_node(node).split())
    return text if len(text) <= 40 else text[:37] + "..."


# ---- where it is stepped -------------------------------------------------------------------

def _phase_guarded(semantic, block, ev) -> bool:
    """``if phase == "train": scheduler.step()`` inside ``for phase in ["train", "val"]``: the
    condition picks the training phase of every epoch; it does not make the step occasional."""
    for item in block.items:
        if isinstance(item, flow.Branch) and item.arms and _contains(item.arms[0], ev):
            test = getattr(item.node, "test", None)
            return test is not None and semantic.code(test, 80).replace("'", '"').endswith('== "train"')
    return False


def _has_args(ev) -> bool:
    return isinstance(ev.node, cst.Call) and bool(ev.node.args)


def _own_steps(value, steps: list) -> list:
    """The optimizer steps of the scheduler's own optimizer, when that can be told apart."""
    opt = _argument(value.detail, "optimizer", 0)
    name = dotted(opt) if opt is not None else None
    if name:
        mine = [s for s in steps if s.ref and s.ref.split(".")[-1] == name.split(".")[-1]]
        if mine:
            return mine
    return steps


def _is_nested(loop, fi) -> bool:
    for outer in flow.loops(fi.body):
        if outer is not loop and any(inner is loop for inner in flow.loops(outer.body)):
            return True
    return False


def _guard_steps_optimizer(loop, ev, steps: list) -> bool:
    """True when the `if` that guards the scheduler step also guards an optimizer step (accumulation)."""
    for arm in _arms_holding(loop.body, ev):
        if any(e in steps for e in flow.events(arm, into_loops=False)):
            return True
    return False


def _arms_holding(block, ev) -> list:
    out = []
    for item in block.items:
        if isinstance(item, flow.Branch):
            for arm in item.arms:
                if any(e is ev for e in flow.events(arm, into_loops=False)):
                    out.append(arm)
                    out.extend(_arms_holding(arm, ev))
        elif isinstance(item, flow.With):
            out.extend(_arms_holding(item.body, ev))
    return out


def _first_of(semantic, block, ev, depth: int = 0):
    """The first inner loop that steps the optimizer, if ``ev`` comes before any optimizer step in ``block``."""
    for i, item in enumerate(block.items):
        if item is ev:
            return _next_stepping_loop(semantic, block, i + 1, depth)
        if isinstance(item, flow.With) and _contains(item.body, ev):
            return _first_of(semantic, item.body, ev, depth)
        if isinstance(item, flow.Branch) and any(_contains(arm, ev) for arm in item.arms):
            arm = next(a for a in item.arms if _contains(a, ev))
            return _first_of(semantic, arm, ev, depth) or _next_stepping_loop(semantic, block, i + 1, depth)
        if _steps_optimizer(semantic, item, depth):
            return None
    return None


def _steps_optimizer(semantic, item, depth: int) -> bool:
    if isinstance(item, flow.Event):
        if item.kind == flow.STEP:
            return True
        return item.kind == flow.CALL and item.detail is not None and depth < CALL_DEPTH and \
            any(e.kind == flow.STEP for e in semantic.all_events_in(item.detail.body))
    if isinstance(item, (flow.Loop, flow.With)):
        return any(e.kind == flow.STEP for e in semantic.all_events_in(item.body))
    return any(e.kind == flow.STEP for arm in item.arms for e in semantic.all_events_in(arm))


def _contains(block, ev) -> bool:
    return any(e is ev for e in flow.events(block))


def _next_stepping_loop(semantic, block, start: int, depth: int):
    for item in block.items[start:]:
        found = _stepping_loop_in(semantic, item, depth)
        if found is not None:
            return found
    return None


def _stepping_loop_in(semantic, item, depth: int):
    if isinstance(item, flow.Loop):
        return item if any(e.kind == flow.STEP for e in semantic.all_events_in(item.body)) else None
    if isinstance(item, flow.With):
        return _next_stepping_loop(semantic, item.body, 0, depth)
    if isinstance(item, flow.Branch):
        return None
    if isinstance(item, flow.Event) and item.kind == flow.CALL and item.detail is not None and depth < CALL_DEPTH:
        return _next_stepping_loop(semantic, item.detail.body, 0, depth + 1)
    return None




def _argument(call, keyword: str, position: int):
    from clsaudit.semantic.api.site import argument  # the shared lookup; libcst is loaded by now

    return argument(call, keyword, position)


RULE = SchedulerMisuse
