"""Write a file so that readers see the old bytes or the new ones, never a half."""

from __future__ import annotations

import os
import tempfile


def atomic_write(path: str, data: bytes, *, keep_mode_of: str | None = None, prefix: str = ".clsaudit-") -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``.

    ``keep_mode_of`` copies that file's permission bits onto the result (a
    fixed source file keeps its mode). The temporary file is removed if
    anything fails, and the exception propagates.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if keep_mode_of is not None:
            try:
                os.chmod(tmp, os.stat(keep_mode_of).st_mode & 0o7777)
            except OSError:
                pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
