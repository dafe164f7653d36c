"""Where control flow meets: joining values and environments.

The interpreter reads each arm of an ``if``/``else`` (and a ``try`` body and
its handlers, and a loop body that may not run) from the same starting
environment, then joins the environments where the arms meet. A joined value
keeps what every path agrees on, and for data provenance what *any* path
carries: a metric that may be a test metric is treated as one, and a split
seen on one arm survives the join.
"""

from __future__ import annotations

from typing import Optional

from clsaudit.semantic import values
from clsaudit.semantic.values import Value

# which activation a joined value keeps when paths disagree: the one a rule must hear about
ACT_RANK = {values.PROBS: 3, values.SIGMOID: 2, values.LOGPROBS: 1}


def join_values(a: Value, b: Value) -> Value:
    if a is b:
        return a
    if a.kind == values.UNKNOWN and not a.split:
        return b
    if b.kind == values.UNKNOWN and not b.split:
        return a
    split = values.merge_split((a, b))
    if a.kind == b.kind == values.DICT and isinstance(a.detail, dict) and isinstance(b.detail, dict):
        # a key set on one path only may be absent: keep the keys both paths set
        keys = a.detail.keys() & b.detail.keys()
        return a.with_(detail={k: join_values(a.detail[k], b.detail[k]) for k in keys}, split=split)
    if a.kind == b.kind == values.CONST and a.detail != b.detail:
        return Value(values.UNKNOWN, split=split)
    if a.kind == b.kind:
        randoms = tuple(n for n in a.randoms if n in b.randoms)
        # a model that ends in a softmax on one path (`--model mlp`) may feed the loss probabilities
        act_from = a if ACT_RANK.get(a.act, 0) >= ACT_RANK.get(b.act, 0) else b
        return a.with_(act=act_from.act, origin=act_from.origin, origin_path=act_from.origin_path,
                       origin_line=act_from.origin_line, grad=a.grad or b.grad, randoms=randoms, split=split)
    return Value(values.UNKNOWN, split=split)


def join_env(before: dict[str, Value], arms: list[dict[str, Value]], exhaustive: bool) -> dict[str, Value]:
    """The environment after a branch: per name, the join over the arms (and ``before`` when
    some path runs no arm). Names bound on one arm only keep that arm's value: code after the
    branch that reads them ran through that arm (or fails), so the value is the one to judge."""
    paths = list(arms) if exhaustive else [before, *arms]
    out = dict(before)
    names: set[str] = set()
    for env in arms:
        names.update(k for k, v in env.items() if before.get(k) is not v)
    for name in names:
        joined: Optional[Value] = None
        for env in paths:
            v = env.get(name)
            if v is None:
                continue
            joined = v if joined is None else join_values(joined, v)
        if joined is not None:
            out[name] = joined
    return out
