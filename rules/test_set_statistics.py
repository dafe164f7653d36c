"""CLS301: normalisation statistics computed from test data."""

from __future__ import annotations

import re

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow

STAT_NAME = re.compile(r"(mean|std|mu|sigma|stat|avg|var|norm|scale)", re.I)


class TestSetStatistics(Rule):
    code = "CLS301"
    name = "test-set-statistics"
    severity = "error"
    summary = "Normalisation mean/std computed from the test split (or train+test concatenated)"
    doc = """\
## What it does
Finds a mean, standard deviation or variance (`x.mean()`, `np.std(x)`,
`torch.std_mean(x)`, a running `mean += x.mean(...)` over a loader) that is
stored as a normalisation statistic (a name like `mean`, `std`, `mu`,
`stats`) and reads test data: `x_test`, a `train=False` dataset, a test
loader, or train and test concatenated. It points at the computation.

## Why is this bad
The test set must not influence anything the model or its preprocessing is
fitted on. Statistics from test data leak its distribution into training:
the reported test accuracy is optimistic, and the pipeline cannot be
reproduced on genuinely new data. Statistics of the training split, applied
to every split, are the correct recipe.

## Example
```python
mean = x_test.mean(axis=(0, 1, 2))
std = np.concatenate([x_train, x_test]).std(axis=(0, 1, 2))
```

## Use instead
```python
mean = x_train.mean(axis=(0, 1, 2))
std = x_train.std(axis=(0, 1, 2))
x_test = (x_test - mean) / std
```

## References
- Kaufman et al., "Leakage in Data Mining", TKDD 2012.
- scikit-learn User Guide, "Common pitfalls: Data leakage" (fit preprocessing on training data only).
"""

    def check(self, semantic):
        stats = list(semantic.events(flow.STAT))
        at_calls = {ev.node for ev in stats}
        # a statistics helper called on test data is reported once, at the call that leaks
        helpers = {ev.detail for ev in semantic.events(flow.CALL) if ev.node in at_calls}
        owner = semantic.function_of_event()
        printed_only = semantic.printed_only_statistics()
        for ev in stats:
            if owner.get(ev) in helpers or ev in printed_only:
                continue
            split = ev.value.split if ev.value is not None else None
            if not split or "test" not in split:
                continue
            if not any(STAT_NAME.search(t.split(".")[-1]) for t in ev.detail or ()):
                continue  # a printed sanity check, not a statistic that is used
            what = "train and test data concatenated" if split == "train+test" else "test data"
            yield Report(ev.node, f"normalisation statistic computed from {what} "
                                  f"(`{semantic.code(ev.value.node or ev.node, 40)}`): use the training split only")


RULE = TestSetStatistics
