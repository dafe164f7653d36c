"""The flow tree: each function's body reduced to what the rules reason about.

Statements that do not matter disappear; what remains is, in source order,
events (a backward, an optimizer step, a mode switch, a loss call, a call
to a function defined in the file...) nested in loops, ``with`` blocks and
branches. Rules and the state analysis walk this small tree instead of the
syntax tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional, Union

from clsaudit.semantic.values import Value

if TYPE_CHECKING:  # pragma: no cover
    import libcst as cst

class EventKind(str, Enum):
    """What a flow-tree event records (a ``str`` enum: events compare equal to their names)."""

    BACKWARD = "backward"
    STEP = "step"
    ZERO_GRAD = "zero_grad"
    MODE = "mode"
    MODEL_CALL = "model_call"
    NEW_MODEL = "new_model"
    NEW_OBJECT = "new_object"  # an instance of a local (non-Module) class bound to a name
    LOSS = "loss"
    SCHED_STEP = "sched_step"
    CALL = "call"
    ACCUM = "accum"
    ASSIGN = "assign"
    GRAD_SET = "grad_set"
    ARGMAX = "argmax"
    OPTIMIZER_NEW = "optimizer_new"
    LAYER_REPLACE = "layer_replace"
    UNFREEZE = "unfreeze"
    ADD_PARAM_GROUP = "add_param_group"
    IMAGE_SIZE = "image_size"
    UPSAMPLE = "upsample"
    DATASET_NEW = "dataset_new"
    LOADER_NEW = "loader_new"
    SAMPLER_NEW = "sampler_new"
    SET_EPOCH = "set_epoch"
    STAT = "stat"
    NORMALIZE = "normalize"
    RANDOM_EVAL = "random_eval"
    LAYOUT_SCRAMBLE = "layout_scramble"
    FIT = "fit"
    PREDICT = "predict"  # argmax/max/topk of a model output
    COLLECT = "collect"  # outputs appended, metrics updated or logged
    SELECT = "select"  # a selection action: a checkpoint saved, a best value recorded, training stopped


# the kinds as module constants, `flow.BACKWARD`, as the interpreter and the rules write them
BACKWARD, STEP, ZERO_GRAD, MODE, MODEL_CALL, NEW_MODEL, NEW_OBJECT, LOSS, SCHED_STEP, CALL, ACCUM, ASSIGN, \
    GRAD_SET, ARGMAX, OPTIMIZER_NEW, LAYER_REPLACE, UNFREEZE, ADD_PARAM_GROUP, IMAGE_SIZE, UPSAMPLE, \
    DATASET_NEW, LOADER_NEW, SAMPLER_NEW, SET_EPOCH, STAT, NORMALIZE, RANDOM_EVAL, LAYOUT_SCRAMBLE, FIT, \
    PREDICT, COLLECT, SELECT = EventKind


@dataclass(eq=False)
class Event:
    kind: EventKind
    node: cst.CSTNode
    ref: Optional[str] = None  # model / optimizer / target name
    value: Optional[Value] = None  # loss input, accumulated value, ...
    other: Optional[Value] = None  # loss target
    detail: Any = None  # mode, loss flavour, called FunctionInfo, ...
    argmap: dict = field(default_factory=dict)  # CALL: callee param -> caller ref
    passed: dict = field(default_factory=dict)  # CALL: callee param -> the value this call passes
    conditional: bool = False  # inside an `if` within its loop iteration


@dataclass(eq=False)
class Block:
    items: list["Item"] = field(default_factory=list)


@dataclass(eq=False)
class Loop:
    node: Union[cst.For, cst.While]
    body: Block
    iter_value: Optional[Value] = None
    is_data: bool = False
    iter_text: str = ""


@dataclass(eq=False)
class With:
    node: cst.With
    grad: Optional[str]  # "off" | "on" | "cond" | None (not a grad context)
    body: Block


@dataclass(eq=False)
class Branch:
    node: cst.CSTNode
    arms: list[Block]
    exhaustive: bool
    test: Optional[Value] = None  # the `if` condition's value


Item = Union[Event, Loop, With, Branch]


def walk_items(block: Block, into_loops: bool = True):
    """Yield every item under ``block`` (pre-order)."""
    for item in block.items:
        yield item
        if isinstance(item, Loop):
            if into_loops:
                yield from walk_items(item.body, into_loops)
        elif isinstance(item, With):
            yield from walk_items(item.body, into_loops)
        elif isinstance(item, Branch):
            for arm in item.arms:
                yield from walk_items(arm, into_loops)


def events(block: Block, into_loops: bool = True):
    for item in walk_items(block, into_loops):
        if isinstance(item, Event):
            yield item


def loops(block: Block):
    for item in walk_items(block, True):
        if isinstance(item, Loop):
            yield item
