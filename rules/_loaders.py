"""Which DataLoader feeds training: shared by CLS305, CLS306 and CLS502."""

from __future__ import annotations

from clsaudit.semantic.heuristics import split_of_name

EVAL_WORDS = ("eval", "test", "val", "stat", "feat", "calib", "predict", "infer")


def loader_names(semantic, node) -> set[str]:
    return {n.split(".")[-1] for n in semantic.names_of(node)}


def is_training_loader(semantic, ev, trained: dict, allow_test_names: bool = False) -> bool:
    """Iterated by a training loop, or named/keyed for training and not for evaluation."""
    if ev.node in trained:
        return True
    if trained:
        return False  # the file's training loops iterate other loaders: this one only shares a name
    # the names it is bound to, and the function that builds and returns it (`train_dataloader()`)
    names = loader_names(semantic, ev.node) | _returning_function_names(semantic, ev)
    words = EVAL_WORDS if not allow_test_names else tuple(w for w in EVAL_WORDS if w != "test")
    if any(any(w in n.lower() for w in words) for n in names):
        return False
    if any(split_of_name(n) == "train" for n in names):
        return True
    return False


def is_iterable_dataset(semantic, dataset) -> bool:
    if dataset is None:
        return False
    cls = dataset.detail
    if hasattr(cls, "base_quals"):
        return any("Iterable" in (q or "") for q in cls.base_quals)
    if dataset.node is not None:
        text = semantic.code(dataset.node, 200)
        return any(w in text for w in ("Iterable", "WebDataset", "wds.", "stream"))
    return False


def _returning_function_names(semantic, ev) -> set[str]:
    """A loader built and returned by `train_dataloader()` / `make_train_loader()` is named by them."""
    from clsaudit.semantic import flow

    for fi in semantic.functions():
        if any(e is ev for e in flow.events(fi.body, into_loops=False)):
            return {fi.name}
    return set()
