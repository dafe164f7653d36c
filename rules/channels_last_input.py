"""CLS303: NHWC image arrays fed to a conv net, or reshaped to NCHW (scrambling pixels)."""

from __future__ import annotations

from clsaudit.findings import Report
from clsaudit.rule import Rule
from clsaudit.semantic import flow, values


class ChannelsLastInput(Rule):
    code = "CLS303"
    name = "channels-last-input"
    severity = "error"
    summary = "NHWC images reach a conv model, or a view/reshape turns NHWC data into NCHW and scrambles pixels"
    doc = """\
## What it does
Follows the memory layout of image arrays: `reshape(-1, 32, 32, 3)`,
`transpose(0, 2, 3, 1)`, `permute(0, 2, 3, 1)` and PIL/numpy images give
channels-last (NHWC) data; `permute(0, 3, 1, 2)` or `ToTensor()` give NCHW.
It flags a convolutional model called on NHWC data, and a `view`/`reshape`
of NHWC data to an NCHW shape, which reinterprets the bytes instead of
moving the channels.

## Why is this bad
`nn.Conv2d` reads dimension 1 as channels. NHWC input either fails on a
shape check or, when height happens to equal 3 or a reshape made the shape
fit, trains on images whose rows, columns and colours are interleaved: the
network still learns something from colour statistics, so the symptom is
a model that is merely poor, not a crash.

## Example
```python
x = torch.from_numpy(images)               # (N, 32, 32, 3)
x = x.view(-1, 3, 32, 32)                 # scrambles the pixels
```

## Use instead
```python
x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
```

## References
- PyTorch docs, `torch.nn.Conv2d`: input of shape (N, C_in, H, W).
- PyTorch docs, `torch.Tensor.view`: returns the same data with a different shape.
"""

    def check(self, semantic):
        for ev in semantic.events(flow.LAYOUT_SCRAMBLE):
            yield Report(ev.node, f"`{semantic.code(ev.node, 40)}` reshapes channels-last (NHWC) data to NCHW: "
                                  "this scrambles pixels and channels; use `.permute(0, 3, 1, 2)`")
        conv_file = None
        for ev in semantic.events(flow.MODEL_CALL):
            src = ev.other
            if src is None or src.layout not in ("nhwc", "hwc"):
                continue
            if conv_file is None:
                conv_file = "Conv" in semantic.source or "resnet" in semantic.source.lower()
            if not self._conv(semantic, ev.value, conv_file):
                continue
            where = f" (made channels-last at line {semantic.line(src.layout_at)})" if src.layout_at is not None else ""
            yield Report(ev.node, f"the model receives channels-last (NHWC) images{where}: conv layers expect "
                                  "NCHW, add `.permute(0, 3, 1, 2)`")

    @staticmethod
    def _conv(semantic, value, conv_file: bool) -> bool:
        cls = value.detail if value is not None else None
        if hasattr(cls, "node") and hasattr(cls, "methods"):
            return "Conv" in semantic.module.code_for_node(cls.node)
        if value is not None and value.qual and values.is_torchvision_model(value.qual):
            return True
        return conv_file


RULE = ChannelsLastInput
