"""CLS503: a validation (or test) split that shares items with the training split."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic.heuristics import split_of_name
from clsaudit.semantic.lazy import cst


class ValidationOverlapsTraining(Rule):
    code = "CLS503"
    name = "validation-overlaps-training"
    severity = "error"
    summary = "Validation split shares items with the training split (two random splits, overlapping slices, whole set trained on)"
    doc = """\
## What it does
Finds validation (or test) data that is also training data:

- two independent `random_split` calls, or two `torch.randperm` /
  `np.random.permutation` draws, over the same dataset (or over two copies
  of the same torchvision dataset built with different transforms), one
  giving the training part and the other the validation part, with no
  shared `generator=` seed: the finding points at the second draw;
- literal index slices of one sequence that overlap, `idx[:45000]` for
  training and `idx[40000:]` for validation: it points at the overlapping
  slice;
- a dataset whose validation part is carved out (`random_split`, `Subset`)
  while the dataset itself, whole, is given to the training `DataLoader`:
  it points at that loader.

One `random_split` into disjoint parts, two draws that each get a seeded
`generator=` or follow a global reseed (`pl.seed_everything(42)`,
`torch.manual_seed(0)`), complementary `Subset` indices,
slices bounded by a variable (`idx[:n]`, `idx[n:]`) and k-fold splitters are
not flagged.

## Why is this bad
Every validation image that was also trained on is scored by a model that
memorised it. Validation accuracy comes out optimistic, by as much as the
model overfits, so checkpoint selection, early stopping and
hyper-parameter search all chase the training set: the number that decides
everything is a lie, and the test score later disagrees with it.

## Example
```python
train_set, _ = random_split(full, [45000, 5000])
_, val_set = random_split(full, [45000, 5000])      # a second, independent shuffle
```

## Use instead
```python
train_set, val_set = random_split(full, [45000, 5000],
                                  generator=torch.Generator().manual_seed(0))
```

## References
- PyTorch docs, `torch.utils.data.random_split`: pass a seeded `generator` to reproduce a split.
- Kaufman et al. (2012), "Leakage in data mining: formulation, detection, and avoidance".
- The runtime probe confirms it in factory mode: PRB105 hashes the images of `train_loader` and of `eval_loader` and fails on any shared one.
"""

    def check(self, semantic):
        from clsaudit.semantic.facts import splits  # libcst only when a file is checked

        if not splits.may_split(semantic.source):
            return
        yield from self._independent_draws(semantic)
        yield from self._overlapping_slices(semantic)
        yield from self._whole_dataset_trained(semantic)

    @staticmethod
    def _independent_draws(semantic):
        from clsaudit.semantic.facts import splits as S

        index = S.syntax(semantic)
        for (_scope, kind, _source), draws in S.draws(semantic).items():
            for i, later in enumerate(draws[1:], start=1):
                for earlier in draws[:i]:
                    if S.exclusive(index, earlier.call, later.call) or (earlier.seeded and later.seeded) or \
                            S.reseeded_between(semantic, earlier.call, later.call):
                        continue
                    if kind == "permutation":
                        mine, theirs = S.sliced_splits(semantic, later), S.sliced_splits(semantic, earlier)
                        if not (mine and theirs and mine != theirs and "train" in mine | theirs):
                            continue
                    what = "random_split" if kind == "random_split" else "permutation"
                    yield Report(later.call, f"a second, independent {what} of the data already split at line "
                                             f"{semantic.line(earlier.call)}: the two draws shuffle differently, so "
                                             "the validation part overlaps the training part; split once (or "
                                             "seed both with the same generator)")
                    break

    @staticmethod
    def _overlapping_slices(semantic):
        from clsaudit.semantic.facts import splits as S

        found = S.slices(semantic)
        for i, later in enumerate(found):
            for earlier in found[:i]:
                if earlier.base != later.base or earlier.split == later.split or "train" not in (earlier.split, later.split):
                    continue
                if S.overlap(earlier, later):
                    yield Report(later.node, f"this {later.split} range of `{later.base}` overlaps the {earlier.split} "
                                             f"range at line {semantic.line(earlier.node)}: the same items are in both")
                    break

    @staticmethod
    def _whole_dataset_trained(semantic):
        from clsaudit.semantic.facts import splits as S

        held_out = S.held_out_subsets(semantic)
        if not held_out:
            return
        index = S.syntax(semantic)
        training = semantic.training_loader_nodes()
        for call in index.calls:
            if (semantic.qualified_name(call.func) or "") not in S.LOADERS:
                continue
            dataset = S.argument(call, "dataset", 0)
            if not isinstance(dataset, cst.Name):
                continue
            split_call = held_out.get((index.scope(call), dataset.value))
            if split_call is None or not _trains(semantic, index, call, training):
                continue
            yield Report(call, f"the training loader receives all of `{dataset.value}`, whose held-out part is "
                               f"split off at line {semantic.line(split_call)}: validation items are trained on; "
                               "pass the training subset")


def _trains(semantic, index, call, training) -> bool:
    """A loader iterated by a training loop, or one bound to a train-named target."""
    if call in training:
        return True
    stmt = index.statement(call)
    if isinstance(stmt, cst.Assign) and stmt.value is call and len(stmt.targets) == 1:
        target = stmt.targets[0].target
        name = target.value if isinstance(target, cst.Name) else (
            target.attr.value if isinstance(target, cst.Attribute) else None)
        return bool(name) and split_of_name(name) == "train"
    return False


RULE = ValidationOverlapsTraining
