"""Turn the paths on the command line into the Python files to check.

Walks are sorted (output and cache behaviour must not depend on directory
order), skip what is never user code (hidden directories, caches,
virtualenvs, build output) and follow directory symlinks at most once per
real directory, so that a symlink loop cannot hang a pre-commit hook.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clsaudit.config import path_matches

SKIP_DIRS = frozenset(
    {"__pycache__", "venv", ".venv", "site-packages", "node_modules", "build", "dist"}
)
PYTHON_SUFFIXES = (".py", ".ipynb")
Ignored = Callable[[str, bool], bool]  # (path, is_dir) -> skip it in a walk


@dataclass
class Discovery:
    """The files to check, in a stable order, and the paths that do not exist."""

    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # (path, reason) for what cannot be checked: FIFOs, sockets and devices
    # (reading them would hang or never end) and folders that cannot be listed.
    refused: list[tuple[str, str]] = field(default_factory=list)


def relative_to_root(path: str, root: Path) -> str:
    """A posix path relative to ``root`` when below it, for globs and SARIF."""
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, root)
    except ValueError:  # another drive on Windows
        return Path(absolute).as_posix()
    if rel.startswith(".."):
        return Path(absolute).as_posix()
    return Path(rel).as_posix()


def _is_excluded(path: str, root: Path, exclude: Sequence[str]) -> bool:
    if not exclude:
        return False
    rel = relative_to_root(path, root)
    return any(path_matches(rel, pattern) for pattern in exclude)


def _skip_dir(entry: os.DirEntry) -> bool:
    name = entry.name
    if name.startswith(".") or name in SKIP_DIRS:
        return True
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))


def special_kind(path: str) -> str | None:
    """"a FIFO", "a socket", "a device" for a path that must not be read, else None."""
    from clsaudit.safe_read import kind_of

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    kind = kind_of(mode)
    return None if kind in (None, "a directory") else kind


def _refuse_special(path: str, refused: list[tuple[str, str]] | None) -> bool:
    """Record a FIFO, socket or device named like a source file; True if it was one."""
    kind = special_kind(path)
    if kind is None:
        return False
    if refused is not None:
        refused.append((path, f"not checked: {kind}, not a regular file"))
    return True


def _refuse_unlistable(top: str, exc: OSError, refused: list[tuple[str, str]] | None) -> None:
    """A folder that cannot be listed is reported, never silently skipped."""
    if refused is not None:
        refused.append((top, f"cannot read folder: {exc.strerror or exc}"))


def _walk(
    top: str,
    root: Path,
    exclude: Sequence[str],
    seen: set[str],
    ignored: Ignored | None = None,
    refused: list[tuple[str, str]] | None = None,
) -> Iterable[str]:
    """Depth-first, sorted, loop-safe walk yielding Python files."""
    real = os.path.realpath(top)
    if real in seen:
        return
    seen.add(real)
    try:
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        _refuse_unlistable(top, exc, refused)
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir()  # follows symlinks; loops stopped by `seen`
            is_file = not is_dir and entry.is_file()
        except OSError:
            continue
        if is_dir:
            if (
                not _skip_dir(entry)
                and not _is_excluded(entry.path, root, exclude)
                and not (ignored and ignored(entry.path, True))
            ):
                yield from _walk(entry.path, root, exclude, seen, ignored, refused)
        elif (
            is_file
            and entry.name.endswith(PYTHON_SUFFIXES)
            and not _is_excluded(entry.path, root, exclude)
            and not (ignored and ignored(entry.path, False))
        ):
            yield entry.path
        elif entry.name.endswith(PYTHON_SUFFIXES) and not _is_excluded(entry.path, root, exclude):
            _refuse_special(entry.path, refused)


def discover(
    paths: Sequence[str], root: Path, exclude: Sequence[str] = (), ignored: Ignored | None = None
) -> Discovery:
    """Expand ``paths``: directories are walked, explicit files always kept.

    An explicit file is checked whatever its suffix (a script without
    ``.py``), but user ``exclude`` globs still apply to it, so that
    pre-commit, which passes every staged file explicitly, honours them.
    """
    result = Discovery()
    seen_dirs: set[str] = set()
    seen_files: set[str] = set()
    for raw in paths:
        path = os.path.normpath(raw)
        if not os.path.exists(path):
            result.missing.append(raw)
            continue
        if os.path.isdir(path):
            found: Iterable[str] = _walk(path, root, exclude, seen_dirs, ignored, result.refused)
        elif _refuse_special(path, result.refused):
            continue
        else:
            found = [] if _is_excluded(path, root, exclude) else [path]
        for file in found:
            key = os.path.realpath(file)
            if key not in seen_files:
                seen_files.add(key)
                result.files.append(os.path.normpath(file))
    return result


def discover_with_configs(
    paths: Sequence[str], config_for: Callable[[str], Any], respect_gitignore: bool = True
) -> Discovery:
    """Expand ``paths`` with each path's own configuration, then each file's.

    Every command-line path is walked with the excludes of the
    configuration that applies to it, and every file found is kept only if
    its own nearest configuration does not exclude it, so the result never
    depends on the order of the paths. Walks skip what git ignores.
    """
    from clsaudit.gitignore import GitIgnore, ignore_base

    result = Discovery()
    seen: set[str] = set()
    for raw in paths:
        config = config_for(raw)
        ignored = None
        if respect_gitignore and os.path.isdir(raw):
            ignored = GitIgnore(ignore_base(raw)).entry_ignored
        found = discover([raw], config.root, config.exclude, ignored)
        result.missing.extend(found.missing)
        result.refused.extend(found.refused)
        for file in found.files:
            key = os.path.realpath(file)
            if key in seen:
                continue
            own = config_for(file)
            if own is not config and _is_excluded(file, own.root, own.exclude):
                continue
            seen.add(key)
            result.files.append(file)
    return result
