"""CLS306: a training DistributedSampler whose epoch is never set."""

from __future__ import annotations

import re

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.rules._fix_text import DOTTED, insert_before
from clsaudit.rules._loaders import is_training_loader
from clsaudit.semantic import flow
from clsaudit.semantic.heuristics import split_of_name
from clsaudit.semantic.lazy import cst


class SamplerWithoutSetEpoch(Rule):
    code = "CLS306"
    name = "sampler-without-set-epoch"
    severity = "warning"
    summary = "Shuffling DistributedSampler without sampler.set_epoch(epoch): every epoch sees the same order"
    fixable = True
    doc = """\
## What it does
Finds a shuffling `DistributedSampler` (the default, `shuffle=True`) when
nothing calls `set_epoch(...)` on it: neither on the name it is bound to
nor on `loader.sampler` of a loader that uses it.

## Why is this bad
`DistributedSampler` seeds its shuffle with `seed + epoch`. Without
`set_epoch`, the epoch stays 0 and every epoch uses the identical
permutation on every rank: the data is shuffled once, not per epoch, which
weakens SGD's noise and is a measurable accuracy loss on small datasets.

## Example
```python
sampler = DistributedSampler(train_set)
loader = DataLoader(train_set, sampler=sampler, batch_size=128)
for epoch in range(epochs):
    for x, y in loader: ...
```

## Use instead
```python
for epoch in range(epochs):
    sampler.set_epoch(epoch)
    for x, y in loader: ...
```

## Fix safety
Safe. `sampler.set_epoch(epoch)` is inserted as the first statement of the
epoch loop, with its indentation. Offered only when the sampler is bound to
one plain name and exactly one outermost `for <name> in ...` loop after it,
in the same function, uses a training loader fed by that sampler in its
body; the loop variable is taken as the epoch. Otherwise (the loop lives in
another function, the sampler is only reachable as `loader.sampler`, or the
epoch is counted some other way) the finding has no fix.

## References
- PyTorch docs, `torch.utils.data.distributed.DistributedSampler`: "calling the set_epoch() method at the beginning of each epoch before creating the DataLoader iterator is necessary to make shuffling work properly across multiple epochs".
"""

    def check(self, semantic):
        set_refs = {ev.ref for ev in semantic.events(flow.SET_EPOCH)}
        if None in set_refs:
            return
        from clsaudit.semantic.api.site import argument, find_arg
        from clsaudit.semantic.names import dotted

        trained = semantic.training_loader_nodes()
        loaders_of: dict = {}  # sampler node or name -> the loader events it feeds
        for ev in semantic.events(flow.LOADER_NEW):
            sampler = ev.other
            if sampler is not None and sampler.node is not None:
                loaders_of.setdefault(sampler.node, []).append(ev)
            arg = find_arg(ev.node, "sampler")
            name = dotted(arg.value) if arg is not None else None
            if name:  # `sampler=sampler_train`, bound on several branches
                loaders_of.setdefault(name, []).append(ev)
        for ev in semantic.events(flow.SAMPLER_NEW):
            call = ev.node
            shuffle = argument(call, "shuffle")
            if isinstance(shuffle, cst.Name) and shuffle.value == "False":
                continue
            names = set(semantic.names_of(call))
            fed = list(loaders_of.get(call, ()))
            for n in list(names):
                fed += loaders_of.get(n, [])
            if fed and not any(is_training_loader(semantic, lev, trained) for lev in fed):
                continue  # an evaluation loader's sampler: its order does not matter
            if names and all(split_of_name(n) in ("val", "test") for n in names):
                continue  # `val_sampler`, whatever batch sampler it goes through
            names |= {f"{n}.sampler" for lev in fed for n in semantic.names_of(lev.node)}
            if not names:
                continue
            if any(self._matches(ref, names) for ref in set_refs):
                continue
            fix, where = self._fix(semantic, ev, names, fed)
            yield Report(call, "shuffling DistributedSampler but `set_epoch(epoch)` is never called on it: "
                               "every epoch reuses the same order", fix=fix, fix_node=where)

    @staticmethod
    def _fix(semantic, ev, names: set, fed: list):
        """`sampler.set_epoch(epoch)` as the first statement of the epoch loop.

        Only when the sampler has one plain name, and exactly one outermost
        `for <name> in ...` loop after it in the same function mentions a
        training loader fed by it in its body (not in its own iterable).
        """
        plain = sorted(n for n in names if not n.endswith(".sampler"))
        if len(plain) != 1 or not DOTTED.match(plain[0]):
            return None, None
        loaders = {n for lev in fed for n in semantic.names_of(lev.node) if DOTTED.match(n)}
        fi = semantic.function_of_event().get(ev)
        if fi is None or not loaders:
            return None, None
        words = re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(n) for n in sorted(loaders)) + r")\b")
        start = semantic.line(ev.node)
        candidates = []
        for loop in flow.loops(fi.body):
            node = loop.node
            if not isinstance(node, cst.For) or not isinstance(node.target, cst.Name):
                continue
            if semantic.line(node) <= start or words.search(semantic.module.code_for_node(node.iter)):
                continue
            if not isinstance(node.body, cst.IndentedBlock) or not node.body.body:
                continue
            if words.search(semantic.module.code_for_node(node.body)):
                candidates.append(loop)
        inner = {id(sub.node) for loop in candidates for sub in flow.loops(loop.body)}
        outermost = [loop for loop in candidates if id(loop.node) not in inner]
        if len(outermost) != 1:
            return None, None
        epoch_loop = outermost[0].node
        first = epoch_loop.body.body[0]
        fix = insert_before(semantic, first, f"{plain[0]}.set_epoch({epoch_loop.target.value})")
        return (fix, first) if fix is not None else (None, None)

    @staticmethod
    def _matches(ref: str, names: set[str]) -> bool:
        tail = ref.split(".")
        for n in names:
            if ref == n or ref.endswith("." + n) or n.endswith("." + ref):
                return True
            if tail[-1] == "sampler" and n.endswith(".sampler"):
                return True  # loader.sampler.set_epoch inside a helper that received the loader
        return False


RULE = SamplerWithoutSetEpoch
