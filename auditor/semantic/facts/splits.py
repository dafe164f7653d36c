"""How a file splits its data: random splits, permutations, index slices, subsets.

Split provenance is judged per scope (a function, or the module body): two
random permutations of the same dataset in one scope are independent draws
unless both are given a generator; slices are compared only when their
bounds are integer literals and their targets name a split (``train_idx``,
``val_set``), so complementary slices written with a variable
(``idx[:n]``, ``idx[n:]``) are never judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst
from clsaudit.semantic.facts.syntax import argument, assigned_names, int_value, syntax
from clsaudit.semantic.heuristics import split_of_name
from clsaudit.semantic.names import dotted

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic.model import SemanticModel

RANDOM_SPLITS = {"torch.utils.data.random_split", "torch.utils.data.dataset.random_split"}
PERMUTATIONS = {"torch.randperm", "numpy.random.permutation"}
SUBSETS = {"torch.utils.data.Subset", "torch.utils.data.dataset.Subset"}
LOADERS = {"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"}
# Cheap text tests, so that files which cannot split data are never walked: a split or
# permutation call, a Subset, or a line that assigns a literal slice or range to a split-named target.
DRAW_HINTS = ("random_split", "randperm", "permutation")
LITERAL_BOUND = re.compile(r"\[\s*\d+\s*:|:\s*\d+\s*\]|\brange\(")
SPLIT_TARGET = re.compile(r"^[^=]*(?:train|val|valid|test|dev|holdout)[^=]*=[^=]", re.I)


def has_split_slice(source: str) -> bool:
    """Some line assigns a literal slice (or a range) to a split-named target: `val_idx = idx[40000:]`."""
    for match in LITERAL_BOUND.finditer(source):
        start = source.rfind("\n", 0, match.start()) + 1
        end = source.find("\n", match.end())
        if SPLIT_TARGET.search(source[start:end if end >= 0 else len(source)]):
            return True
    return False


def may_split(source: str) -> bool:
    return any(h in source for h in DRAW_HINTS) or "Subset" in source or has_split_slice(source)


@dataclass
class Draw:
    """A random split or permutation of one source."""

    call: cst.Call
    source: str  # the dataset (or length) it draws from, as a key
    seeded: bool  # given an explicit generator


@dataclass
class Slice:
    node: cst.CSTNode  # the subscript or range() call
    base: str
    start: int
    stop: Optional[int]  # None: to the end
    split: str  # of the target it is assigned to


SPLIT_TOKENS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                "dev": "val", "holdout": "val", "test": "test", "testing": "test"}


def split_of_target(name: str) -> Optional[str]:
    """The split an index or subset name holds: `train_ids`, `val_part`, `idx_train`, `x_val`."""
    for token in re.split(r"[_\W\d]+|(?<=[a-z])(?=[A-Z])", name):
        if token.lower() in SPLIT_TOKENS:
            return SPLIT_TOKENS[token.lower()]
    return split_of_name(name)


def _qual(model: "SemanticModel", call: cst.Call) -> str:
    return model.qualified_name(call.func) or ""


def draws(model: "SemanticModel") -> dict:
    """(scope, kind, source) -> the random splits / permutations drawn from that source, in order."""
    return model.fact("split_draws", _draws)


def _draws(model: "SemanticModel") -> dict:
    out: dict = {}
    if not any(h in model.source for h in DRAW_HINTS):
        return out
    index = syntax(model)
    for call in index.calls:
        qual = _qual(model, call)
        if qual in RANDOM_SPLITS:
            kind = "random_split"
        elif qual in PERMUTATIONS or (isinstance(call.func, cst.Attribute) and call.func.attr.value == "permutation"
                                      and "random" in (model.code(call.func.value) or "")):
            kind = "permutation"
        else:
            continue
        first = argument(call, "dataset" if kind == "random_split" else "n", 0)
        if first is None:
            continue
        source = dataset_key(model, index, first)
        seeded = argument(call, "generator") is not None
        out.setdefault((index.scope(call), kind, source), []).append(Draw(call, source, seeded))
    return out


def dataset_key(model: "SemanticModel", index, expr: cst.BaseExpression) -> str:
    """What a split draws from: the constructor call (class, root, train/split) for a name bound to a
    torchvision dataset in the same scope, so two copies of CIFAR-10's training set (one per
    transform) are the same source; otherwise the expression's text."""
    text = model.code(expr, 200)
    if not isinstance(expr, cst.Name):
        return text
    scope = index.scope(expr)
    for stmt in _assigns_in(index, scope):
        if assigned_names(stmt) == [expr.value] and isinstance(stmt.value, cst.Call):
            qual = _qual(model, stmt.value)
            if qual.startswith("torchvision.datasets."):
                parts = [qual]
                root = argument(stmt.value, "root", 0)
                parts.append(model.code(root, 200) if root is not None else "")
                for key in ("train", "split"):
                    value = argument(stmt.value, key)
                    parts.append(model.code(value, 80) if value is not None else "")
                return "|".join(parts)
    return text


def _assigns_in(index, scope) -> Iterator[cst.Assign]:
    for node in index.assigns:
        if index.scope(node) is scope:
            yield node


SEED_CALLS = {"manual_seed", "manual_seed_all", "seed_everything", "seed", "set_seed"}


def reseeded_between(model: "SemanticModel", earlier: cst.Call, later: cst.Call) -> bool:
    """A global seed is set between two draws (`pl.seed_everything(42)` before each random_split):
    both draws then start from the same generator state and shuffle alike."""
    index = syntax(model)
    order = model.fact("call_order", lambda m: {id(c): i for i, c in enumerate(syntax(m).calls)})
    lo, hi = order.get(id(earlier), -1), order.get(id(later), -1)
    for call in index.calls[lo + 1:hi]:
        name = (dotted(call.func) or "").rsplit(".", 1)[-1]
        if name in SEED_CALLS and index.scope(call) is index.scope(later):
            return True
    return False


def exclusive(index, a: cst.CSTNode, b: cst.CSTNode) -> bool:
    """True when ``a`` and ``b`` sit in different arms of one `if` (never both run)."""
    chain_a = list(index.ancestors(a))
    for anc in index.ancestors(b):
        if isinstance(anc, cst.If) and anc in chain_a:
            in_body_a = index.is_inside(a, anc.body)
            in_body_b = index.is_inside(b, anc.body)
            return in_body_a != in_body_b
    return False


def slices(model: "SemanticModel") -> list[Slice]:
    """Literal index ranges assigned to split-named targets: `train_idx = idx[:45000]`."""
    return model.fact("split_slices", _slices)


def _slices(model: "SemanticModel") -> list[Slice]:
    if not has_split_slice(model.source):
        return []
    index = syntax(model)
    out: list[Slice] = []
    for node in index.assigns:
        if len(node.targets) != 1:
            continue
        target, value = node.targets[0].target, node.value
        pairs = []
        if isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)) and \
                len(target.elements) == len(value.elements):
            pairs = [(t.value, v.value) for t, v in zip(target.elements, value.elements)]
        else:
            pairs = [(target, value)]
        for tgt, val in pairs:
            name = tgt.value if isinstance(tgt, cst.Name) else (tgt.attr.value if isinstance(tgt, cst.Attribute) else None)
            split = split_of_target(name) if name else None
            if split not in {"train", "val", "test"}:
                continue
            found = _first_range(model, val)
            if found is not None:
                node_, base, start, stop = found
                out.append(Slice(node_, base, start, stop, split))
    return out


def _first_range(model: "SemanticModel", expr: cst.BaseExpression):
    """(node, base, start, stop) of a literal slice or Subset range written as the value itself:
    `idx[:45000]`, `idx[:45000].tolist()`, `Subset(full, idx[40000:])`, `Subset(full, range(0, 45000))`."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and isinstance(expr.func.value, cst.Subscript):
        expr = expr.func.value  # idx[:45000].tolist()
    if isinstance(expr, cst.Subscript):
        return _literal_slice(model, expr)
    if not isinstance(expr, cst.Call) or _qual(model, expr) not in SUBSETS:
        return None
    indices = argument(expr, "indices", 1)
    dataset = argument(expr, "dataset", 0)
    if isinstance(indices, cst.Subscript):
        return _literal_slice(model, indices)
    if isinstance(indices, cst.Call) and isinstance(indices.func, cst.Name) and indices.func.value == "range" \
            and dataset is not None:
        bounds = [int_value(a.value) for a in indices.args]
        if len(bounds) == 1 and bounds[0] is not None:
            return (indices, model.code(dataset, 200), 0, bounds[0])
        if len(bounds) == 2 and None not in bounds:
            return (indices, model.code(dataset, 200), bounds[0], bounds[1])
    return None


def _literal_slice(model: "SemanticModel", sub: cst.Subscript):
    if len(sub.slice) != 1 or not isinstance(sub.slice[0].slice, cst.Slice):
        return None
    piece = sub.slice[0].slice
    if piece.step is not None:
        return None
    start = 0 if piece.lower is None else int_value(piece.lower)
    stop = None if piece.upper is None else int_value(piece.upper)
    if start is None or start < 0 or (piece.upper is not None and (stop is None or stop < 0)):
        return None
    return (sub, model.code(sub.value, 200), start, stop)


def overlap(a: Slice, b: Slice) -> bool:
    hi_a = a.stop if a.stop is not None else float("inf")
    hi_b = b.stop if b.stop is not None else float("inf")
    return max(a.start, b.start) < min(hi_a, hi_b)


def held_out_subsets(model: "SemanticModel") -> dict:
    """Dataset name -> the call that takes a validation/test subset of it in that scope
    (`_, val_set = random_split(full, ...)`, `val_set = Subset(full, val_idx)`)."""
    return model.fact("held_out_subsets", _held_out)


def _held_out(model: "SemanticModel") -> dict:
    out: dict = {}
    if "random_split" not in model.source and "Subset" not in model.source:
        return out
    index = syntax(model)
    for call in index.calls:
        qual = _qual(model, call)
        if qual not in RANDOM_SPLITS and qual not in SUBSETS:
            continue
        source = argument(call, "dataset", 0)
        if not isinstance(source, cst.Name):
            continue
        stmt = index.statement(call)
        if not isinstance(stmt, cst.Assign) or stmt.value is not call and not _subscripted(stmt.value, call):
            continue
        splits = {split_of_target(n) for n in assigned_names(stmt)}
        if splits & {"val", "test"}:
            out.setdefault((index.scope(call), source.value), call)
    return out


def _subscripted(value: cst.BaseExpression, call: cst.Call) -> bool:
    return isinstance(value, cst.Subscript) and value.value is call


def sliced_splits(model: "SemanticModel", draw: Draw) -> set[str]:
    """Splits named by the targets that slices of a permutation are assigned to:
    {"train"} for `perm = torch.randperm(n); train_idx = perm[:45000]`."""
    index = syntax(model)
    stmt = index.statement(draw.call)
    names = set(assigned_names(stmt)) if isinstance(stmt, cst.Assign) and stmt.value is draw.call else set()
    scope = index.scope(draw.call)
    out: set[str] = set()
    for assign in _assigns_in(index, scope):
        targets = assigned_names(assign)
        if len(targets) != 1 or split_of_target(targets[0]) is None:
            continue
        if _slices_of(assign.value, names, draw.call):
            out.add(split_of_target(targets[0]))
    return out


def _slices_of(expr: cst.BaseExpression, names: set, call: cst.Call) -> bool:
    hit = []

    class _Find(cst.CSTVisitor):
        def visit_Subscript(self, sub: cst.Subscript) -> None:
            sliced = len(sub.slice) == 1 and isinstance(sub.slice[0].slice, cst.Slice)
            if sliced and (sub.value is call or isinstance(sub.value, cst.Name) and sub.value.value in names):
                hit.append(sub)

    expr.visit(_Find())
    return bool(hit)
