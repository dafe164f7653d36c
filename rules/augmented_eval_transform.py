"""CLS304: random augmentation inside a validation or test transform."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow, values


class AugmentedEvalTransform(Rule):
    code = "CLS304"
    name = "augmented-eval-transform"
    severity = "error"
    summary = "Random transform (RandomCrop, flips, ColorJitter, RandAugment, RandomErasing...) in a val/test transform"
    doc = """\
## What it does
Finds random transforms (`RandomCrop`, `RandomResizedCrop`,
`RandomHorizontalFlip`, `ColorJitter`, `RandAugment`, `AutoAugment`,
`RandomErasing`, ...) inside a transform pipeline used for evaluation: one
bound to a name like `test_transform`/`val_tf`/`eval_transform`, under a
`'val'`/`'test'` key of a transforms dict, or passed to a dataset built with
`train=False` / `split='test'`.

## Why is this bad
Evaluation must be deterministic. Random crops, flips and colour jitter make
the measured accuracy noisy from run to run and systematically lower (the
model sees distorted images); checkpoint selection on such a validation set
partly selects on noise. Averaging several augmented views on purpose (TTA)
is a different thing and is written as such.

## Example
```python
test_transform = T.Compose([T.RandomCrop(32, padding=4), T.ToTensor(), normalize])
```

## Use instead
```python
test_transform = T.Compose([T.ToTensor(), normalize])
# ImageNet-style: T.Resize(256), T.CenterCrop(224)
```

## References
- torchvision "Transforming and augmenting images": augmentations are for training pipelines.
"""

    def check(self, semantic):
        # pipelines that a training dataset also uses: the bug is the evaluation dataset that reuses one
        shared = {ev.other.node for ev in semantic.events(flow.DATASET_NEW)
                  if ev.other is not None and ev.other.node is not None and ev.value.split == "train"}
        reported = set()
        for ev in semantic.events(flow.RANDOM_EVAL):
            if ev.detail is not None and any("train" in n.lower() for n in semantic.names_of(ev.detail)):
                continue  # a test split used for training is CLS502's finding, not an eval pipeline
            if ev.detail is not None and ev.value is not None and ev.value.node in shared:
                if ev.detail not in reported:
                    reported.add(ev.detail)
                    yield Report(ev.detail, f"this evaluation dataset uses the training pipeline, with random "
                                            f"`{semantic.code(ev.node, 40)}` at line {semantic.line(ev.node)}: give it a "
                                            "deterministic transform")
                continue
            if ev.other is not None and ev.other.kind == values.DATASET:
                yield Report(ev.detail, f"the validation/test split is carved out of a dataset whose transform is "
                                        f"random (`{semantic.code(ev.node, 40)}` at line {semantic.line(ev.node)}): "
                                        "give the held-out part its own deterministic transform")
                continue
            if ev.other is not None and ev.other.node is not None:
                yield Report(ev.node, f"evaluation dataset `{semantic.code(ev.node, 40)}` draws random numbers for "
                                      f"every item (`{semantic.code(ev.other.node, 40)}` at line "
                                      f"{semantic.line(ev.other.node)} in its __getitem__): validation/test items must "
                                      "be deterministic")
                continue
            yield Report(ev.node, f"random transform `{semantic.code(ev.node, 40)}` in an evaluation transform: "
                                  "validation/test preprocessing must be deterministic")


RULE = AugmentedEvalTransform
