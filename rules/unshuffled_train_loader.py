"""CLS305: a training DataLoader that does not shuffle."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.rules._fix_text import replace_inside, text_of
from clsaudit.rules._loaders import is_iterable_dataset, is_training_loader
from clsaudit.semantic import flow, values
from clsaudit.semantic.lazy import cst


class UnshuffledTrainLoader(Rule):
    code = "CLS305"
    name = "unshuffled-train-loader"
    severity = "warning"
    summary = "Training DataLoader without shuffle=True or a sampler: batches come in dataset order"
    fixable = True
    doc = """\
## What it does
Finds a `DataLoader` used for training (iterated by a loop that
back-propagates and steps an optimizer, or bound to a training name or the
`'train'` key of a loaders dict) that has neither `shuffle=True` (any
non-literal-False expression counts, e.g. `shuffle=(sampler is None)`) nor a
`sampler`/`batch_sampler`. Iterable datasets, which cannot be shuffled by
the loader, are skipped.

## Why is this bad
Many datasets are stored sorted by class (CIFAR's python batches are not,
but ImageFolder and most custom datasets are). Unshuffled, every batch holds
one or two classes, each epoch ends on the same classes, and SGD chases one
class after another: accuracy drops by points to tens of points, and
BatchNorm statistics are computed on single-class batches.

## Example
```python
train_loader = DataLoader(train_set, batch_size=128)
```

## Use instead
```python
train_loader = DataLoader(train_set, batch_size=128, shuffle=True)
```

## Fix safety
Safe. `shuffle=False` becomes `shuffle=True`; with no `shuffle` argument,
`, shuffle=True` is added after the last argument. No fix when the call has
a third positional argument (which may already be `shuffle`) or unpacks
`*args`/`**kwargs` (the edit could pass `shuffle` twice), or when it passes
a `sampler`/`batch_sampler` other than the literal `None`: DataLoader
rejects `shuffle=True` beside a sampler, and a name that is `None` here
may hold a sampler on another path.

## References
- PyTorch docs, `torch.utils.data.DataLoader` (`shuffle`: "set to True to have the data reshuffled at every epoch").
"""

    def check(self, semantic):
        trained = semantic.training_loader_nodes()
        for ev in semantic.events(flow.LOADER_NEW):
            facts = ev.passed
            if facts.get("opaque") or _given(facts.get("sampler")) or _given(facts.get("batch_sampler")):
                continue  # a sampler decides the order (or `**kw` we cannot read might hold one)
            shuffle = facts.get("shuffle")
            if shuffle is not None and not (shuffle.kind == values.CONST and shuffle.detail is False):
                continue  # shuffle=True, or a value decided at run time
            if is_iterable_dataset(semantic, ev.value.detail):
                continue
            if not is_training_loader(semantic, ev, trained):
                continue
            yield Report(ev.node, "training DataLoader does not shuffle: pass `shuffle=True` (or a sampler)",
                         fix=_fix(semantic, ev.node))


def _fix(semantic, call) -> str | None:
    """`shuffle=False` becomes `shuffle=True`; with no `shuffle`, `, shuffle=True` follows the last argument.

    No fix when `shuffle` could be positional (a third positional argument),
    arguments are unpacked (the edit could pass `shuffle` twice), or a sampler
    argument is there (DataLoader rejects `shuffle=True` beside a sampler).
    """
    if not isinstance(call, cst.Call) or not call.args:
        return None
    positional = [a for a in call.args if a.keyword is None]
    if len(positional) > 2 or any(a.star for a in call.args):
        return None
    for arg in call.args:  # shuffle=True beside a sampler raises ValueError in DataLoader
        if (arg.keyword is not None and arg.keyword.value in ("sampler", "batch_sampler")
                and not (isinstance(arg.value, cst.Name) and arg.value.value == "None")):
            return None
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "shuffle":
            return replace_inside(semantic, call, arg.value, "True")
    last = call.args[-1].value
    original = text_of(semantic, last)
    return None if original is None else replace_inside(semantic, call, last, original + ", shuffle=True")


def _given(value) -> bool:
    """A sampler argument that is there and is not `None` (`sampler=train_sampler` with
    `train_sampler = None` still leaves the order to `shuffle`)."""
    return value is not None and not (value.kind == values.CONST and value.detail is None)


RULE = UnshuffledTrainLoader
