"""CLS203: evaluation runs while the model may be in train mode."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.rules._fix_text import mode_fix
from clsaudit.semantic import flow


class MissingEvalMode(Rule):
    code = "CLS203"
    name = "missing-eval-mode"
    severity = "error"
    summary = "Evaluation/prediction loop runs with the model in train mode (no model.eval())"
    fixable = True
    doc = """\
## What it does
Finds a loop that feeds data through a model without training it
(no backward, no optimizer step) while the model is known to be in train
mode: freshly constructed, or after `model.train()`, with no `model.eval()`
on the way, counting calls made in the caller of an evaluation helper.
It points at the `for` of the evaluation loop. Models without dropout or
BatchNorm are still flagged: the fix is one line and the model may change.

## Why is this bad
In train mode dropout keeps dropping units and BatchNorm normalises each
batch with its own statistics (and updates the running ones with test
data). Reported accuracy is lower and noisier than the model's real
accuracy, depends on the batch size, and evaluation silently changes the
model.

## Example
```python
def evaluate(model, loader):
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()

train(model)
evaluate(model, test_loader)
```

## Use instead
```python
model.eval()
evaluate(model, test_loader)     # or call model.eval() inside evaluate
```

## Fix safety
Safe. `model.eval()` (the model as the finding names it) is inserted on the
line above the reported evaluation loop, with that loop's indentation. No
fix when the finding points at a call inside an expression (no line of its
own to go above) or the model is not a plain dotted name. Inside an epoch
loop the next `--fix` pass then adds `model.train()` above the training loop
if CLS202 reports it.

## References
- PyTorch docs, `torch.nn.Module.eval`.
"""

    def check(self, semantic):
        owner = {ev.node: fi for ev, fi in semantic.function_of_event().items() if ev.kind == flow.MODE}
        seen = set()
        for fact in semantic.state.model_calls.values():
            modes = fact.modes
            if fact.role != "eval" or "train" not in modes or "cond" in modes or "eval" in modes:
                continue
            fn, origin, ref = fact.loop_fn, modes["train"], fact.event.ref
            if fn is not None and owner.get(origin) is fn and not any(
                ev.kind == flow.BACKWARD for ev in semantic.all_events_in(fn.body)
            ):
                continue  # `model.train()` in a function that never trains: deliberate (BN recalibration)
            if fact.anchor in seen:
                continue
            seen.add(fact.anchor)
            where = "evaluation loop" if fact.loop is not None else "evaluation"
            since = "set at" if _switches_mode(origin) else "built or trained in train mode at"
            yield Report(fact.anchor, f"`{ref}` is in train mode in this {where} ({since} line "
                                      f"{semantic.line(origin)}): call `{ref}.eval()` before evaluating",
                         fix=mode_fix(semantic, fact.anchor, ref, "eval", fact.event.node))


def _switches_mode(origin) -> bool:
    """`model.train()` set the mode there; otherwise the line built the model (or trained it)."""
    func = getattr(origin, "func", None)
    return getattr(getattr(func, "attr", None), "value", None) == "train"


RULE = MissingEvalMode
