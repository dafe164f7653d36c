"""Write a file so that readers see the old bytes or the new ones, never a half."""

from __future__ import annotations

import os
import tempfile


class OwnershipLost(OSError):
    """The replacement could not be given the original's owner and group."""


def atomic_write(
    path: str,
    data: bytes,
    *,
    keep_mode_of: str | None = None,
    keep_owner: bool = False,
    prefix: str = ".clsaudit-",
) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``.

    ``keep_mode_of`` copies that file's permission bits onto the result (a
    fixed source file keeps its mode); with ``keep_owner`` its owner and
    group too, and :class:`OwnershipLost` is raised (``path`` untouched)
    when they cannot be kept: renaming a file we created over another
    user's would silently hand it to us. The temporary file is removed if
    anything fails, and the exception propagates.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_mode_of is not None:
            try:
                original = os.stat(keep_mode_of)
            except OSError:
                original = None
            if original is not None:
                os.chmod(tmp, original.st_mode & 0o7777)
                if keep_owner:
                    mine = os.stat(tmp)
                    if (mine.st_uid, mine.st_gid) != (original.st_uid, original.st_gid):
                        try:
                            os.chown(tmp, original.st_uid, original.st_gid)
                        except OSError as exc:
                            raise OwnershipLost(exc.errno, exc.strerror) from None
                    os.chmod(tmp, original.st_mode & 0o7777)  # chown clears set-id bits
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_in_place(path: str, data: bytes) -> None:
    """Overwrite ``path``'s own inode: keeps hard links, owner, mode and ACLs, not atomic."""
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
