"""A rich progress bar per epoch: loss, accuracy, learning rate and images per second."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

StepCallback = Callable[[float, float, float, float], None]
"""Called after every step with (running loss, running accuracy, learning rate, images/s)."""


@contextmanager
def epoch_bar(
    epoch: int, epochs: int, steps: int, console: Console, enabled: bool = True
) -> Iterator[StepCallback | None]:
    """Show a transient bar for one epoch; yields the per-step callback (None when disabled)."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn(f"epoch {epoch + 1}/{epochs}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "loss {task.fields[loss]:.4f}  acc {task.fields[acc]:6.2%}  "
            "lr {task.fields[lr]:.4f}  {task.fields[speed]:,.0f} img/s"
        ),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("train", total=steps, loss=0.0, acc=0.0, lr=0.0, speed=0.0)

    def on_step(loss: float, acc: float, lr: float, speed: float) -> None:
        progress.update(task, advance=1, loss=loss, acc=acc, lr=lr, speed=speed)

    with progress:
        yield on_step
