"""Read a source file without hanging on a FIFO or swallowing a data dump.

``open()`` on a FIFO blocks until a writer appears, and a device can be
read forever, so files are opened non-blocking, checked to be regular with
``fstat`` on the open descriptor (no race with a rename), and refused
before reading when larger than the size limit.
"""

from __future__ import annotations

import os
import stat

from clsaudit.parse_guard import too_large


class SourceError(Exception):
    """A file that must not be read; the message is for the user."""


def kind_of(mode: int) -> str | None:
    """What a non-regular file is ("a FIFO", ...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def read_source(path: str, max_mb: float = 0) -> bytes:
    """The bytes of ``path``; raises :class:`SourceError` with a user-facing reason.

    ``max_mb`` (0: no limit) refuses larger files before a byte is read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        kind = kind_of(info.st_mode)
        if kind is not None:
            raise SourceError(f"not checked: {kind}, not a regular file")
        reason = too_large(info.st_size, max_mb)
        if reason is not None:
            raise SourceError(f"cannot parse: {reason}")
        chunks = []
        while True:
            chunk = os.read(fd, max(info.st_size + 1, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        reason = too_large(len(data), max_mb)  # grew while we read it
        if reason is not None:
            raise SourceError(f"cannot parse: {reason}")
        return data
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror}") from None
    finally:
        os.close(fd)
