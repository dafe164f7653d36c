"""CLS501: checkpoints, early stopping or hyper-parameters chosen on the test split."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow, values


class ModelSelectionOnTest(Rule):
    code = "CLS501"
    name = "model-selection-on-test"
    severity = "error"
    summary = "Best checkpoint, early stopping, LR-on-plateau or a hyper-parameter chosen on test-set metrics"
    doc = """\
## What it does
Finds decisions driven by a metric computed on the test split (a value
returned by an evaluation run on a test loader, or a name like `test_acc`):
an `if test_acc > best_acc:` that saves a checkpoint, records a new best or
stops training, and `scheduler.step(test_loss)` for `ReduceLROnPlateau`.
Logging or printing the test metric every epoch is not flagged, nor is one
final evaluation on the test set.

## Why is this bad
Every choice made by looking at the test set fits the test set: the
reported number is the maximum over many noisy evaluations, an optimistic
estimate whose bias grows with the number of choices made and shrinks with
the test set's size (Cawley & Talbot 2010 show the same selection bias for
hyper-parameters). The test set must be touched once, after all choices are
made on a validation split carved from the training data.

## Example
```python
for epoch in range(epochs):
    train_one_epoch(model, train_loader)
    test_acc = evaluate(model, test_loader)
    if test_acc > best_acc:
        torch.save(model.state_dict(), "best.pt")
```

## Use instead
```python
    val_acc = evaluate(model, val_loader)
    if val_acc > best_acc:
        torch.save(model.state_dict(), "best.pt")
model.load_state_dict(torch.load("best.pt"))
test_acc = evaluate(model, test_loader)   # once, at the end
```

## References
- Cawley & Talbot, "On Over-fitting in Model Selection and Subsequent Selection Bias", JMLR 2010.
"""

    def check(self, semantic):
        reported = set()  # one finding per function: its later decisions repeat the first
        owner = semantic.function_of_event()
        for branch, fi, cond in semantic.decisions():
            if cond.ordering and _test(cond.split):
                if fi not in reported:
                    reported.add(fi)
                    # a flag (`is_best = acc > best; if is_best:`) is reported where it compares
                    made = branch.test.node
                    own = made is not None and made is getattr(branch.node, "test", None)
                    yield Report(branch.node if own or made is None else made, MESSAGE)
                continue
            for param in sorted(cond.params):
                # judged at each call site with the argument it passes: `maybe_save(model, test_acc)`
                for call, passed in semantic.calls_passing(fi, param):
                    flag = passed.detail if isinstance(passed.detail, values.Compare) else None
                    caller = owner.get(call)
                    if caller in reported:
                        continue
                    if flag and flag.ordering and _test(flag.split) and passed.node is not None:
                        reported.add(caller)
                        # `is_best = test_acc > best; save_checkpoint(state, is_best)`: the comparison
                        yield Report(passed.node, f"{MESSAGE} (acted on in `{fi.name}` at line "
                                                  f"{semantic.line(branch.node)})")
                    elif cond.ordering and _test(passed.split):
                        reported.add(caller)
                        yield Report(call.node, f"{MESSAGE} (acted on in `{fi.name}` at line "
                                                f"{semantic.line(branch.node)})")
        for ev in semantic.events(flow.SELECT):
            # `best_prec1 = max(prec1, best_prec1)` over test accuracy: the best test number is kept
            v = ev.value
            if ev.detail == "best" and v is not None and isinstance(v.detail, values.Extremum) and _test(v.split):
                fi = owner.get(ev)
                if fi not in reported:
                    reported.add(fi)
                    yield Report(ev.node, MESSAGE)
        for ev in semantic.events(flow.SCHED_STEP):
            if ev.other is not None and _test(ev.other.split):
                yield Report(ev.node, "the learning-rate schedule follows a test-set metric: step it on a "
                                      "validation metric")


MESSAGE = ("this decision (checkpoint / best / early stopping) is driven by a test-set metric: select on a "
           "validation split and test once at the end")


def _test(split) -> bool:
    return bool(split) and "test" in split


RULE = ModelSelectionOnTest
