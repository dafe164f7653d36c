"""Stop cleanly on SIGTERM, SIGHUP and SIGINT: no worker left behind.

By default SIGTERM and SIGHUP end the Python process at once, without
running any cleanup, so the pool workers it forked kept running (and kept
the stdout pipe open: ``$(clsaudit ...)`` never returned). While files are
analysed, these signals raise :class:`Stopped` instead, like SIGINT raises
KeyboardInterrupt; the engine stops its workers on the way out and the
command exits with 128 + the signal number, as a shell reports a killed
process. Workers themselves die with their parent (``PR_SET_PDEATHSIG``
on Linux), which covers a SIGKILL no handler can see.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Stopped(BaseException):
    """Raised in the main thread when a stop signal arrives (a BaseException, like Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return str(self.signum)


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Stopped` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in STOP_SIGNALS:
        try:
            previous[signum] = signal.signal(signum, _raise_stopped)
        except (OSError, ValueError):
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def reset_in_child() -> None:
    """In a forked worker: default stop signals, Ctrl-C left to the parent, die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    die_with_parent()


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
