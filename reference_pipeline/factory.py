"""The pieces that ``clsaudit probe`` drives.

    clsaudit probe clsaudit.reference_pipeline.factory:make_probe_parts

The probe runs its own loop (a few steps, instrumented), so it needs the parts
rather than a finished training run: model, loss, optimiser, schedule and
loaders. They are the reference recipe at a small size, built in well under
a second: synthetic data, the small ResNet, plain ``torch.utils.data``
loaders over pre-normalised tensors (the most common shape of user code).
"""

from __future__ import annotations

import torch
from clsaudit.reference_pipeline.data import normalise, split_train_val, synthetic_cifar
from clsaudit.reference_pipeline.models import small_resnet
from clsaudit.reference_pipeline.optimization import make_optimizer, make_scheduler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

LABEL_SMOOTHING = 0.1
"""The factory's loss uses label smoothing: its floor is the entropy of the
smoothed target (about 0.50 nats for 10 classes), not zero."""

PROBE_EPOCHS = 3  # the schedule's length; the probe usually runs far fewer steps


def make_probe_parts(
    device: str = "cpu", seed: int = 0, num_train: int = 1024, batch_size: int = 64
) -> dict:
    """Model, loss, optimiser, per-step scheduler and loaders for the probe.

    ``num_train`` is the size of the training split; a validation split of
    10% of the training set is carved out of the same generated set, and a
    separate test set is generated. Loaders yield ``(float32 NCHW images
    standardised with the training split's statistics, int64 labels)``.
    """
    num_val = max(num_train // 9, 1)  # 10% of the generated training set
    data = synthetic_cifar(num_train=num_train + num_val, num_test=256, seed=seed)
    splits = split_train_val(data, val_size=num_val, seed=seed)

    def dataset(images: torch.Tensor, labels: torch.Tensor) -> TensorDataset:
        # normalise() takes uint8 NCHW and returns standardised float32 NCHW.
        return TensorDataset(normalise(images, splits.mean, splits.std), labels)

    train_loader = DataLoader(
        dataset(splits.train_x, splits.train_y),
        batch_size=batch_size,
        shuffle=True,  # mixed classes in every batch
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    eval_loader = DataLoader(dataset(splits.val_x, splits.val_y), batch_size=256, shuffle=False)
    test_loader = DataLoader(dataset(splits.test_x, splits.test_y), batch_size=256, shuffle=False)

    torch.manual_seed(seed)
    model = small_resnet(splits.num_classes).to(device)
    optimizer = make_optimizer(model, lr=0.1, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = len(train_loader)
    scheduler = make_scheduler(
        optimizer, total_steps=PROBE_EPOCHS * steps_per_epoch, warmup_steps=steps_per_epoch
    )
    return {
        "model": model,
        "loss_fn": nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING),
        "label_smoothing": LABEL_SMOOTHING,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "train_loader": train_loader,
        "eval_loader": eval_loader,
        "test_loader": test_loader,
        "num_classes": splits.num_classes,
        "device": torch.device(device),
        "mean": splits.mean,
        "std": splits.std,
    }


probe_factory = make_probe_parts
