"""Data: datasets, splits, loaders, samplers, transforms, arrays, statistics and image layout.

Where each value's data *split* (train / val / test) and *layout* (NHWC /
NCHW) come from. CLS301-CLS306, CLS303 and CLS501-CLS502 read the DATASET_NEW,
LOADER_NEW, SAMPLER_NEW, STAT, NORMALIZE, RANDOM_EVAL and LAYOUT_SCRAMBLE
events recorded here and the splits carried by values.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst
from clsaudit.semantic import flow, heuristics
from clsaudit.semantic import values as vals
from clsaudit.semantic.api.site import Site
from clsaudit.semantic.names import dotted
from clsaudit.semantic.values import Value

RANDOM_SPLIT = {"torch.utils.data.random_split", "torch.utils.data.dataset.random_split"}
UPSAMPLERS = {"torch.nn.functional.interpolate", "torch.nn.functional.upsample", "torch.nn.Upsample",
              "torch.nn.UpsamplingBilinear2d", "torch.nn.UpsamplingNearest2d"}
ARRAY_JOINS = {"concatenate", "vstack", "hstack", "stack", "cat", "concat", "append", "row_stack"}
STATISTICS = {"mean", "std", "var", "nanmean", "nanstd", "std_mean", "var_mean"}
TO_TENSOR = {"torch.from_numpy", "torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor"}
SIZED_TRANSFORMS = {"RandomCrop", "Resize", "CenterCrop", "RandomResizedCrop", "FiveCrop", "TenCrop"}


def split_keywords(s: Site) -> Optional[str]:
    """The split a dataset constructor's keywords name: ``train=False``, ``split="test"``, ``image_set``."""
    split = None
    train = s.arg_node("train")
    if train is not None and dotted(train) in {"True", "False"}:
        split = "train" if dotted(train) == "True" else "test"
    for key in ("split", "image_set", "subset"):
        v = s.arg(key)
        if v is not None and v.kind == vals.STRING and isinstance(v.detail, str):
            split = heuristics.split_of_text(v.detail) or split
    return split


def dataset(s: Site, name: str) -> Value:
    split = split_keywords(s)
    if split is None and name in {"ImageFolder", "DatasetFolder"} and s.expr.args:
        split = heuristics.split_of_text(s.b.module.code_for_node(s.expr.args[0].value))
    transform = s.arg("transform")
    randoms = transform.randoms if transform is not None and transform.kind == vals.TRANSFORM else ()
    v = Value(vals.DATASET, qual=s.qual, node=s.expr, split=split, detail=name, randoms=randoms)
    s.emit(flow.DATASET_NEW, value=v, other=transform)
    if transform is not None and transform.kind == vals.TRANSFORM and split in ("val", "test"):
        eval_transform(s.b, transform, s.ctx, dataset=s.expr)
    return v


def random_split(s: Site) -> Value:
    src = s.src
    held_out = [t for t in s.ctx.targets if heuristics.split_of_name(t) in ("val", "test")]
    if src.randoms and held_out and ".transform =" not in s.b.module.code:
        # `train_set, val_set = random_split(augmented, ...)`: the validation part keeps the
        # training transform's random crops and flips (unless a `.transform =` gives it another)
        s.emit(flow.RANDOM_EVAL, detail=s.expr, other=Value(vals.DATASET, node=src.node), node=src.randoms[0])
    keep = src.split if src.split == "test" else None
    return Value(vals.SEQUENCE, items=(src.with_(split=keep or src.split), src.with_(split=keep or None),
                                       src.with_(split=keep or None)), node=s.expr)


def utils_data(s: Site, name: str) -> Optional[Value]:
    """torch.utils.data: Subset, ConcatDataset, TensorDataset, DataLoader, DistributedSampler."""
    src, expr = s.src, s.expr
    if name == "Subset":
        return src.with_(node=expr) if src.kind != vals.UNKNOWN else Value(vals.DATASET, node=expr, split=src.split)
    if name in {"ConcatDataset", "ChainDataset"}:
        items = src.items if src.kind == vals.SEQUENCE else s.args
        return Value(vals.DATASET, node=expr, split=vals.merge_split(items), detail="concat")
    if name == "TensorDataset":
        return Value(vals.DATASET, node=expr, split=vals.merge_split(s.args), layout=src.layout,
                     layout_at=src.layout_at, detail="tensors")
    if name in vals.LOADERS:
        ds = s.arg("dataset", 0) or vals.UNKNOWN_VALUE
        v = Value(vals.LOADER, qual=s.qual, node=expr, split=ds.split, layout=ds.layout, layout_at=ds.layout_at,
                  detail=ds)
        s.emit(flow.LOADER_NEW, value=v, other=s.arg("sampler"),
               passed={"shuffle": s.arg("shuffle", 2), "sampler": s.arg("sampler"),
                       "batch_sampler": s.arg("batch_sampler"), "opaque": unknown_unpacking(s)})
        return v
    if name == "DistributedSampler":
        v = Value(vals.SAMPLER, qual=s.qual, node=expr, split=src.split, detail=src)
        s.emit(flow.SAMPLER_NEW, value=v)
        return v
    return None


def unknown_unpacking(s: Site) -> bool:
    """``f(**kw)`` / ``f(*args)`` whose contents we do not know: any keyword may be in there."""
    for a, v in zip(s.expr.args, s.args):
        if a.star == "*" or (a.star == "**" and not (v.kind == vals.DICT and isinstance(v.detail, dict))):
            return True
    return False


def upsample(s: Site) -> Value:
    s.emit(flow.UPSAMPLE)
    if s.qual.islower():
        return Value(vals.TENSOR, grad=s.src.grad, node=s.expr, split=s.src.split)
    return Value(vals.LAYER, node=s.expr)


def to_tensor(s: Site) -> Optional[Value]:
    src = s.src
    if src.split or src.layout:
        return Value(vals.TENSOR, node=s.expr, split=src.split, layout=src.layout, layout_at=src.layout_at)
    return None


def pil_open(s: Site) -> Value:
    return Value(vals.UNKNOWN, node=s.expr, layout="hwc", layout_at=s.expr)


# ---- arrays and statistics ---------------------------------------------------------------------
def array(s: Site) -> Optional[Value]:
    """numpy functions and torch.cat/stack: joins keep every part's split; statistics are STAT events."""
    src, name = s.src, s.name
    if name in ARRAY_JOINS:
        items = list(src.items) if src.kind == vals.SEQUENCE else list(s.args)
        if name == "append":
            items = list(s.args[:2])
        grad = any(i.grad for i in items if i.kind == vals.TENSOR)
        first = next((i for i in items if i.layout), None)
        return Value(vals.TENSOR, node=s.expr, split=vals.merge_split(items), grad=grad,
                     layout=first.layout if first else None, layout_at=first.layout_at if first else None)
    if name in STATISTICS and (src.split or src.layout):
        return statistic(s, src)
    if name == "transpose" and len(s.args) >= 2:
        return relayout(s, src, int_list(s.expr.args[1:]), "transpose")
    if name in {"array", "asarray", "ascontiguousarray", "float32", "copy"}:
        if src.split or src.layout:
            return Value(vals.TENSOR, node=s.expr, split=src.split, layout=src.layout, layout_at=src.layout_at)
        return None
    if name == "load" and src.kind == vals.STRING and isinstance(src.detail, str):
        split = heuristics.split_of_text(src.detail)
        return Value(vals.UNKNOWN, node=s.expr, split=split) if split else None
    return None


def torch_statistic(s: Site) -> Optional[Value]:
    if s.src.split or s.src.layout:
        return statistic(s, s.src)
    return None


def statistic(s: Site, src: Value) -> Value:
    """A mean/std over split data: a STAT event (CLS301 judges it when it reaches a Normalize)."""
    if src.split:
        ev = s.emit(flow.STAT, value=src, detail=s.ctx.targets)
        return Value(vals.TENSOR, node=s.expr, detail=s.b.new_stat(ev), split=None)
    return Value(vals.TENSOR, node=s.expr, split=None)


def int_list(args) -> list[Optional[int]]:
    out: list[Optional[int]] = []
    for a in args:
        v = a.value if hasattr(a, "value") else a
        if isinstance(v, (cst.Tuple, cst.List)):
            return int_list([el.value for el in v.elements])
        if isinstance(v, cst.Integer):
            out.append(int(v.value))
        elif isinstance(v, cst.UnaryOperation) and isinstance(v.expression, cst.Integer):
            out.append(-int(v.expression.value))
        else:
            out.append(None)
    return out


def views_hw_as_chw(s: Site) -> bool:
    """`x.view(n, 3, x.shape[1], x.shape[2])`: the source's dims 1 and 2 become H and W, so the
    source was (N, H, W, C) and a view cannot move its channels."""
    expr = s.expr
    args = [a.value for a in expr.args if a.keyword is None]
    if len(args) != 4 or not isinstance(args[1], cst.Integer) or args[1].value not in {"1", "3"}:
        return False
    recv = expr.func.value
    while isinstance(recv, cst.Call) and recv.args and not isinstance(recv.func, cst.Attribute):
        recv = recv.args[0].value  # torch.tensor(images) -> images
    if isinstance(recv, cst.Call) and isinstance(recv.func, cst.Attribute) and recv.args:
        recv = recv.args[0].value
    name = dotted(recv)
    if name is None:
        return False
    code = s.b.module.code_for_node
    want = ({f"{name}.shape[1]", f"{name}.size(1)"}, {f"{name}.shape[2]", f"{name}.size(2)"})
    return code(args[2]).replace(" ", "") in want[0] and code(args[3]).replace(" ", "") in want[1]


def relayout(s: Site, src: Value, dims: list, how: str) -> Value:
    """Follow NHWC/NCHW through reshape/view/transpose/permute of image batches."""
    layout = src.layout
    if how in ("transpose", "permute") and len(dims) == 4:
        layout = {(0, 2, 3, 1): "nhwc", (0, 3, 1, 2): "nchw"}.get(tuple(dims))
    elif how in ("transpose", "permute") and len(dims) == 3:
        layout = {(1, 2, 0): "hwc", (2, 0, 1): "chw"}.get(tuple(dims))
    elif how in ("reshape", "view") and len(dims) == 4 and all(d is not None for d in dims[1:]):
        c_last = dims[3] in (1, 3) and dims[1] == dims[2] and dims[1] >= 8
        c_first = dims[1] in (1, 3) and dims[2] == dims[3] and dims[2] >= 8
        if c_first:
            s.emit(flow.IMAGE_SIZE, detail=dims[2])
            if src.layout in ("nhwc", "hwc"):
                s.emit(flow.LAYOUT_SCRAMBLE, value=src)
            layout = "nchw"
        elif c_last:
            s.emit(flow.IMAGE_SIZE, detail=dims[1])
            layout = "nhwc"
    elif how in ("reshape", "view"):
        layout = None
    made_here = layout is not None and layout != src.layout
    return Value(vals.TENSOR, node=s.expr, split=src.split, layout=layout, grad=src.grad,
                 layout_at=s.expr if made_here else src.layout_at)


# ---- transforms --------------------------------------------------------------------------------
def transform(s: Site) -> Value:
    name, src, expr = s.name, s.src, s.expr
    if name in {"Compose", "RandomApply", "RandomChoice", "RandomOrder", "Sequential"}:
        items = src.items if src.kind == vals.SEQUENCE else ()
        randoms = tuple(n for i in items if i.kind == vals.TRANSFORM for n in i.randoms)
        if name not in {"Compose", "Sequential"}:
            randoms = (expr,)
        return Value(vals.TRANSFORM, node=expr, randoms=randoms, detail=name)
    if name == "Normalize":
        s.emit(flow.NORMALIZE, value=s.arg("mean", 0), other=s.arg("std", 1))
        return Value(vals.TRANSFORM, node=expr, detail=name)
    if name in SIZED_TRANSFORMS and expr.args:
        size = int_list([expr.args[0]])
        if size and size[0] is not None:
            s.emit(flow.IMAGE_SIZE, detail=size[0], other=Value(vals.STRING, detail=name))
            if name in {"Resize", "RandomResizedCrop"} and size[0] >= 64:
                s.emit(flow.UPSAMPLE, detail=size[0])
    randoms = (expr,) if vals.is_random_transform(name) else ()
    return Value(vals.TRANSFORM, node=expr, randoms=randoms, detail=name)


def eval_transform(b, v: Value, ctx, dataset: Optional[cst.CSTNode] = None) -> None:
    """A transform used for evaluation data: each random transform in it is a RANDOM_EVAL event."""
    for node in v.randoms:
        b.emit(ctx, flow.Event(flow.RANDOM_EVAL, node, detail=dataset, value=v))


# ---- methods ----------------------------------------------------------------------------------
def set_epoch(s: Site) -> Value:
    s.emit(flow.SET_EPOCH, ref=s.recv.ref or dotted(s.expr.func.value))
    return vals.UNKNOWN_VALUE
