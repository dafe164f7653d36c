"""Run one risky analysis in a forked child, so that a native crash costs one file.

libcst's parser is native code: a segfault, an abort on a failed
allocation or a quadratic blow-up takes the whole process with it. Files
the parse guard flags are analysed here instead: the child inherits the
imported rules through ``fork`` (milliseconds, no re-import), sends back a
pickled result over a pipe, and the parent turns a death by signal, an
exhausted memory limit or a timeout into a reason for that one file.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from typing import Any, Callable

CHILD_TIMEOUT_S = 120.0  # libcst needs ~2 s for a 2,000-link chain; anything slower is stuck
CHILD_MEMORY_BYTES = 4 * 1024**3  # well above a 3 MB source's parse (about 1.7 GB)


class Crashed(Exception):
    """The child died or overran; ``reason`` says how, for a file error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def can_isolate() -> bool:
    return hasattr(os, "fork")


def _child(write_fd: int, work: Callable[[], Any]) -> None:
    """Child side: no output of its own, bounded memory, result or exception pickled."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)  # a Rust backtrace is not for the user; the parent explains
        from clsaudit.stop_signals import reset_in_child

        reset_in_child()
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
        except (ImportError, ValueError, OSError):
            pass
        try:
            payload = pickle.dumps(("ok", work()))
        except MemoryError:
            payload = pickle.dumps(("crash", "ran out of memory while parsing"))
        except BaseException as exc:  # noqa: BLE001 - sent to the parent
            payload = pickle.dumps(("error", exc))
        view = memoryview(payload)
        while view:
            written = os.write(write_fd, view)
            view = view[written:]
    finally:
        os._exit(0)


def run_isolated(work: Callable[[], Any], timeout: float = CHILD_TIMEOUT_S) -> Any:
    """``work()`` computed in a forked child; raises :class:`Crashed` if it dies.

    An exception raised by ``work`` in the child is re-raised here.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(read_fd)
        _child(write_fd, work)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    finished = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        finished = True
    finally:
        os.close(read_fd)
        if not finished or timed_out:  # a signal or Ctrl-C here: the child must not outlive us
            _kill(pid)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        raise Crashed(f"the parser took longer than {timeout:g} s")
    if os.WIFSIGNALED(status):
        raise Crashed(_signal_reason(os.WTERMSIG(status)))
    try:
        kind, value = pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001 - a child killed mid-write
        raise Crashed("the parser process ended without a result") from None
    if kind == "ok":
        return value
    if kind == "crash":
        raise Crashed(value)
    raise value


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _signal_reason(signum: int) -> str:
    if signum == signal.SIGSEGV:
        return "the parser crashed (segmentation fault)"
    if signum == signal.SIGABRT:
        return "the parser aborted (usually out of memory)"
    if signum == signal.SIGKILL:
        return "the parser was killed (usually out of memory)"
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = str(signum)
    return f"the parser died ({name})"
