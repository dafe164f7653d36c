"""CLS209: gradients clipped where the clip cannot act on the step's gradients."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule


class MisplacedGradientClipping(Rule):
    code = "CLS209"
    name = "misplaced-gradient-clipping"
    severity = "warning"
    summary = "clip_grad_norm_/clip_grad_value_ after optimizer.step(), before backward(), or on GradScaler-scaled gradients"
    doc = """\
## What it does
Reads one training iteration in execution order (a loop body or a step
function, following helpers defined in the file one call deep) and finds a
`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` call that runs after
`optimizer.step()`, or before the iteration's `backward()`; and, when the
step goes through a `GradScaler` (`scaler.step(optimizer)`), a clip with no
`scaler.unscale_(optimizer)` between `backward()` and the clip. The finding
points at the clip call. Clipping done by a framework
(`accelerator.clip_grad_norm_`, Lightning's `gradient_clip_val`) is not
matched: it places the clip itself.

## Why is this bad
Clipping only acts on the gradients the next `step()` reads. After the step,
it edits gradients that `zero_grad()` is about to erase; before
`backward()`, it clips last iteration's gradients (or none). Either way
every update is unclipped, so the run that needed clipping to stay stable
diverges anyway, while the code says it is protected. Under a `GradScaler`
the gradients are multiplied by the loss scale (65536 at the start), so the
clip sees a norm thousands of times too large and shrinks nearly every
update to almost nothing: training crawls.

## Example
```python
scaler.scale(loss).backward()
torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)   # scaled gradients
scaler.step(optimizer)
```

## Use instead
```python
scaler.scale(loss).backward()
scaler.unscale_(optimizer)
torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
scaler.step(optimizer)
scaler.update()
```

## References
- PyTorch docs, "Automatic Mixed Precision examples", Gradient clipping: unscale_ before clipping.
- PyTorch docs, `torch.nn.utils.clip_grad_norm_`.
"""

    def check(self, semantic):
        from clsaudit.semantic.facts import clipping as C  # libcst only when a file is checked

        if not C.clip_calls(semantic):
            return
        for body, node, _fi in semantic.iterations():
            marks = C.iteration_marks(semantic, body, node)
            kinds = {m.kind for m in marks}
            if C.BACKWARD not in kinds or not kinds & {C.STEP, C.SCALER_STEP}:
                continue
            for i, mark in enumerate(marks):
                if mark.kind != C.CLIP:
                    continue
                report = self._judge(semantic, marks, i)
                if report is not None:
                    yield Report(mark.node, report)

    @staticmethod
    def _judge(semantic, marks, i):
        from clsaudit.semantic.facts import clipping as C
        before = C.previous(marks, i, {C.BACKWARD, C.STEP, C.SCALER_STEP})
        step = C.following(marks, i, {C.STEP, C.SCALER_STEP})
        if before is None:
            backward = C.following(marks, i, {C.BACKWARD})
            if backward is None:
                return None
            return (f"gradients clipped before backward() at line {semantic.line(backward.anchor)}: the clip acts on "
                    "last iteration's gradients, and this step's update is not clipped")
        if before.kind in (C.STEP, C.SCALER_STEP):
            return (f"gradients clipped after optimizer.step() at line {semantic.line(before.anchor)}: the update "
                    "already happened unclipped; clip between backward() and step()")
        if step is not None and step.kind == C.SCALER_STEP:
            start = marks.index(before)
            if not any(m.kind == C.UNSCALE for m in marks[start + 1:i]):
                return (f"gradients clipped while still scaled by the GradScaler (scaler.step at line "
                        f"{semantic.line(step.anchor)}): call scaler.unscale_(optimizer) before clipping")
        return None


RULE = MisplacedGradientClipping
