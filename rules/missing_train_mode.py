"""CLS202: training steps run while the model is still in eval mode."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.rules._fix_text import mode_fix


class MissingTrainMode(Rule):
    code = "CLS202"
    name = "missing-train-mode"
    severity = "error"
    summary = "Training loop may run with the model in eval mode (model.eval() not undone by model.train())"
    fixable = True
    doc = """\
## What it does
Follows each model's train/eval mode through the script, into helper
functions and methods defined in the checked files and around loops, and
finds a training loop (forward, backward) that may run after
`model.eval()` with no `model.train()` in between: typically the second
epoch after an end-of-epoch evaluation. It points at the `for` of the
affected training loop.

## Why is this bad
In eval mode dropout is off and BatchNorm uses (and stops updating) its
running statistics. From the second epoch on the network trains without
regularisation and with frozen normalisation statistics; accuracy ends
several points lower and nothing crashes.

## Example
```python
for epoch in range(epochs):
    for x, y in train_loader:
        ...
        loss.backward()
        optimizer.step()
    model.eval()
    validate(model, val_loader)
```

## Use instead
```python
for epoch in range(epochs):
    model.train()
    for x, y in train_loader:
        ...
    model.eval()
    validate(model, val_loader)
```

## Fix safety
Safe. `model.train()` (the model as the finding names it) is inserted on the
line above the reported training loop, with that loop's indentation. No fix
when the finding points at a call inside an expression or the model is not
a plain dotted name.

## References
- PyTorch docs, `torch.nn.Module.train` / `eval`.
"""

    def check(self, semantic):
        seen = set()
        for fact in semantic.state.model_calls.values():
            ref = fact.event.ref
            last = ref.split(".")[-1].lower()
            if fact.role != "train" or fact.grad == "off" or "teacher" in last or "ema" in last:
                continue  # a frozen teacher or an EMA copy runs in eval mode on purpose
            if "eval" not in fact.modes or "cond" in fact.modes or fact.anchor in seen:
                continue
            seen.add(fact.anchor)
            origin = fact.modes["eval"]
            yield Report(fact.anchor, f"`{ref}` may be in eval mode when this training loop runs: "
                                      f"`{semantic.code(origin, 50)}` at line {semantic.line(origin)} "
                                      f"leaves it in eval mode and no `{ref}.train()` follows",
                         fix=mode_fix(semantic, fact.anchor, ref, "train", fact.event.node))


RULE = MissingTrainMode
