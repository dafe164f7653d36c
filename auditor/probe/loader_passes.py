"""Passes over DataLoaders: shortened to a few batches, counted, and their items hashed.

A probe that runs 20 steps of a script whose epochs hold 50 batches never
sees the end of an epoch, so it never sees what happens there: evaluation,
``model.train()`` afterwards, a scheduler's epoch step, a second training
phase. Like Lightning's ``limit_train_batches`` (and ``fast_dev_run``), the
probe ends each pass over a ``DataLoader`` after ``limit`` batches: the
script sees a short epoch and goes on exactly as it would after a long one.
``len(loader)`` is left alone, so a schedule sized from it keeps the horizon
the real run would have.

Each pass also records which items it carried (a hash of each sample's
bytes), so that the parent can tell whether images that the script
evaluates were also trained on (the script-mode form of PRB105). A pass
during which an optimizer stepped is a training pass; its end is an epoch
boundary.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils.data import DataLoader

# Items hashed per pass (beyond this a pass only counts batches).
HASHED_BATCHES_PER_PASS = 16
# Elements of one sample that go into its hash: whole samples up to this
# size (MNIST 784, CIFAR 3072), an even spread of this many beyond.
HASHED_ELEMENTS = 4096
MAX_PASSES_KEPT = 400


def _items(batch: Any) -> torch.Tensor | None:
    """The batch's inputs: the first tensor of a tuple/list/dict with a batch dimension."""
    if torch.is_tensor(batch):
        return batch if batch.dim() >= 2 else None
    if isinstance(batch, dict):
        candidates = list(batch.values())
    elif isinstance(batch, (tuple, list)):
        candidates = list(batch)
    else:
        return None
    for value in candidates:
        if torch.is_tensor(value) and value.dim() >= 2:
            return value
    return None


def item_hashes(x: torch.Tensor) -> list[int]:
    """One hash per sample of a batch, from its bytes (a spread of them for large samples)."""
    flat = x.detach().reshape(x.shape[0], -1)
    if flat.shape[1] > HASHED_ELEMENTS:
        index = torch.linspace(0, flat.shape[1] - 1, HASHED_ELEMENTS, device=flat.device).long()
        flat = flat[:, index]
    rows = flat.to("cpu").contiguous()
    if rows.dtype == torch.bfloat16:
        rows = rows.float()
    array = rows.numpy()
    return [hash(row.tobytes()) for row in array]


def _dataset_key(loader: DataLoader) -> str:
    """Identity of the data behind a loader: the same tensors count as the same data."""
    dataset = loader.dataset
    tensors = getattr(dataset, "tensors", None)
    if isinstance(tensors, tuple) and tensors and torch.is_tensor(tensors[0]):
        return f"tensors:{tensors[0].data_ptr()}:{tuple(tensors[0].shape)}"
    return f"object:{id(dataset)}"


class LoaderPasses:
    """Wraps ``DataLoader.__iter__`` while installed; records every pass."""

    def __init__(self, recorder: Any, limit: int | None) -> None:
        self.recorder = recorder
        self.limit = limit
        self.passes: list[dict] = []
        self.loaders: dict[int, dict] = {}  # id(loader) -> facts
        self.hashes: dict[int, set[int]] = {}  # pass index -> item hashes
        self.training_boundaries: list[int] = []  # optimizer step count at each epoch end
        self._original = None
        self._open: weakref.WeakSet[_Pass] = weakref.WeakSet()

    def install(self) -> None:
        original = DataLoader.__iter__
        watcher = self

        def limited_iter(loader):
            return _Pass(watcher, loader, original(loader))

        self._original = original
        DataLoader.__iter__ = limited_iter

    def uninstall(self) -> None:
        if self._original is not None:
            DataLoader.__iter__ = self._original
            self._original = None
        for open_pass in list(self._open):
            open_pass.finish(exhausted=False)

    def loader_facts(self, loader: DataLoader) -> dict:
        key = id(loader)
        if key not in self.loaders:
            try:
                length = len(loader)
            except TypeError:  # an iterable dataset without __len__
                length = None
            classes = getattr(loader.dataset, "classes", None)
            self.loaders[key] = {
                "index": len(self.loaders),
                "len": length,
                "batch_size": loader.batch_size,
                "data": _dataset_key(loader),
                "classes": [str(c) for c in classes][:1000] if isinstance(classes, list) else None,
                "loader": loader,
            }
        return self.loaders[key]

    def overlap(self) -> list[dict]:
        """Per evaluated loader: its items hashed, and how many of them training batches carried."""
        trained: set[int] = set()
        training_data: set[str] = set()
        by_index = {facts["index"]: facts for facts in self.loaders.values()}
        for number, record in enumerate(self.passes):
            if record["training"]:
                trained |= self.hashes.get(number, set())
                training_data.add(by_index[record["loader"]]["data"])
        out: dict[int, dict] = {}
        for number, record in enumerate(self.passes):
            if not record["evaluation"]:
                continue
            facts = by_index[record["loader"]]
            entry = out.setdefault(
                facts["index"],
                {
                    "loader": facts["index"],
                    "items": 0,
                    "also_trained": 0,
                    "same_data_as_training": facts["data"] in training_data,
                    "training_loader": any(
                        p["training"] for p in self.passes if p["loader"] == facts["index"]
                    ),
                },
            )
            entry.setdefault("hashes", set()).update(self.hashes.get(number, set()))
        for entry in out.values():
            items = entry.pop("hashes")
            entry["items"] = len(items)
            entry["also_trained"] = len(items & trained)
            entry["training_items"] = len(trained)
        return list(out.values())

    def summary(self) -> dict:
        """Plain data for the report: passes per loader, and which were shortened."""
        passes = [dict(p) for p in self.passes]
        loaders = []
        for facts in self.loaders.values():
            mine = [p for p in passes if p["loader"] == facts["index"]]
            loaders.append(
                {
                    "index": facts["index"],
                    "len": facts["len"],
                    "batch_size": facts["batch_size"],
                    "data": facts["data"],
                    "passes": len(mine),
                    "training_passes": sum(1 for p in mine if p["training"]),
                    "shortened_passes": sum(1 for p in mine if p["shortened"]),
                    "batches_seen": sum(p["batches"] for p in mine),
                }
            )
        return {
            "overlap": self.overlap(),
            "limit": self.limit,
            "loaders": loaders,
            "passes": passes[-MAX_PASSES_KEPT:],
            "training_boundaries": self.training_boundaries,
        }


class _Pass:
    """One iteration over a DataLoader, ended after ``limit`` batches when a limit is set."""

    def __init__(self, watcher: LoaderPasses, loader: DataLoader, inner: Any) -> None:
        self.watcher = watcher
        self.inner = inner
        self.facts = watcher.loader_facts(loader)
        self.batches = 0
        self.steps_at_start = watcher.recorder.optimizer_steps
        self.no_grad_at_start = watcher.recorder.forward_counts["no_grad"]
        self.hashes: set[int] = set()
        self.done = False
        watcher._open.add(self)

    def __iter__(self) -> _Pass:
        return self

    def __len__(self) -> int:
        return len(self.inner)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet: __init__ failed
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __next__(self) -> Any:
        limit = self.watcher.limit
        if limit is not None and self.batches >= limit:
            self.finish(exhausted=False)
            raise StopIteration
        try:
            batch = next(self.inner)
        except StopIteration:
            self.finish(exhausted=True)
            raise
        self.batches += 1
        if self.batches <= HASHED_BATCHES_PER_PASS:
            try:
                items = _items(batch)
                if items is not None:
                    self.hashes.update(item_hashes(items))
            except Exception as exc:  # noqa: BLE001 (an observer never breaks the run)
                self.watcher.recorder.internal_errors.append(f"batch hash: {exc!r}")
        return batch

    def __del__(self) -> None:
        # A loop that breaks out early drops its iterator: the pass ends there.
        try:
            if "watcher" in self.__dict__:
                self.finish(exhausted=False)
        except Exception:  # noqa: BLE001, S110 (interpreter shutdown)
            pass

    def finish(self, exhausted: bool) -> None:
        if self.done:
            return
        self.done = True
        watcher = self.watcher
        watcher._open.discard(self)
        steps = watcher.recorder.optimizer_steps - self.steps_at_start
        record = {
            "loader": self.facts["index"],
            "batches": self.batches,
            "len": self.facts["len"],
            "shortened": not exhausted,
            "training": steps > 0,
            "steps": steps,
            "ended_at_step": watcher.recorder.optimizer_steps,
            "evaluation": steps == 0
            and watcher.recorder.forward_counts["no_grad"] > self.no_grad_at_start,
        }
        number = len(watcher.passes)
        watcher.passes.append(record)
        watcher.hashes[number] = self.hashes
        if record["training"] and self.batches:
            watcher.training_boundaries.append(watcher.recorder.optimizer_steps)
