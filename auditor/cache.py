"""A content-addressed cache of per-file results, as ruff keeps one.

An entry is keyed by everything its result depends on: the file's bytes,
the clsaudit version (plus a fingerprint of the installed sources, so an
editable install never serves results of older rules), the enabled rules
and the summaries of the local modules it imports. Findings are stored
before suppressions and per-file ignores, which are cheap and re-applied on
every run. Entries are written atomically; an unreadable one is a miss.

Every edit of a file adds an entry, so the cache is pruned to a size budget
(``CLSAUDIT_CACHE_MAX_MB``, default 64 MB) after a run that wrote to it:
least recently used entries go first (a hit refreshes an entry's mtime),
down to three quarters of the budget so that pruning stays rare.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from clsaudit import __version__
from clsaudit.atomic_write import atomic_write
from clsaudit.findings import FileError, Finding

CACHE_DIR_NAME = ".clsaudit_cache"
ENV_VAR = "CLSAUDIT_CACHE_DIR"
MAX_MB_ENV_VAR = "CLSAUDIT_CACHE_MAX_MB"
DEFAULT_MAX_MB = 64.0
FORMAT = 1


def cache_dir_for(project_root: Path) -> Path:
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else project_root / CACHE_DIR_NAME


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """Size and mtime of clsaudit's own modules: changes when the rules do."""
    import clsaudit
    import clsaudit.rules

    digest = hashlib.sha256(__version__.encode())
    for package in (clsaudit, clsaudit.rules):
        for base in getattr(package, "__path__", []):
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for name in sorted(filenames):
                    if name.endswith(".py"):
                        stat = os.stat(os.path.join(dirpath, name))
                        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def summaries_digest(summaries: Mapping[str, Any]) -> str:
    if not summaries:
        return ""
    blob = json.dumps(summaries, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def entry_key(file_digest: str, settings: str, summaries: Mapping[str, Any], module_name: str) -> str:
    """The cache key of one file's result; ``file_digest`` is the sha256 of its bytes."""
    digest = hashlib.sha256()
    for part in (
        str(FORMAT).encode(),
        source_fingerprint().encode(),
        settings.encode(),
        module_name.encode(),
        summaries_digest(summaries).encode(),
        file_digest.encode(),
    ):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


class Cache:
    """One JSON file per entry under ``directory/<key[:2]>/<key>.json``."""

    def __init__(self, directory: Path, max_bytes: int | None = None) -> None:
        self.directory = directory
        self._ready = False
        self.written = 0
        self.max_bytes = max_bytes if max_bytes is not None else _budget_from_env()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str, path: str) -> tuple[list[Finding], dict | None, FileError | None] | None:
        """The stored result re-labelled with ``path`` (the same bytes may live at two paths)."""
        entry = self._path(key)
        try:
            with open(entry, encoding="utf-8") as handle:
                raw = json.load(handle)
            os.utime(entry)  # recently used: pruned last
            findings = [Finding.from_dict({**f, "path": path}) for f in raw["findings"]]
            error = raw.get("error")
            file_error = FileError(**{**error, "path": path}) if error else None
            summary = raw.get("summary")
            return findings, summary, file_error
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(
        self,
        key: str,
        findings: list[Finding],
        summary: dict | None,
        error: FileError | None,
    ) -> None:
        payload = {
            "findings": [f.to_dict() for f in findings],
            "summary": summary,
            "error": error.to_dict() if error else None,
        }
        try:
            blob = json.dumps(payload, default=repr)
            target = self._path(key)
            if not self._ready:
                self._init_dir()
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(str(target), blob.encode("utf-8"), prefix=".tmp-")
            self.written += 1
        except (OSError, TypeError, ValueError):
            pass  # a cache that cannot be written is only slower

    def prune(self) -> int:
        """Delete least recently used entries until the cache fits its budget; returns how many.

        Only after a run that wrote entries: a warm run pays nothing.
        """
        if not self.written or self.max_bytes <= 0:
            return 0
        entries = []
        total = 0
        try:
            for sub in os.scandir(self.directory):
                if not sub.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(sub.path):
                    if entry.name.endswith(".json"):
                        info = entry.stat(follow_symlinks=False)
                        entries.append((info.st_mtime_ns, info.st_size, entry.path))
                        total += info.st_size
        except OSError:
            return 0
        if total <= self.max_bytes:
            return 0
        target = self.max_bytes * 3 // 4
        removed = 0
        for _, size, path in sorted(entries):
            if total <= target:
                break
            try:
                os.unlink(path)
            except OSError:
                continue
            total -= size
            removed += 1
        return removed

    def _init_dir(self) -> None:
        """Create the directory with a .gitignore so that nobody commits it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        marker = self.directory / ".gitignore"
        if not marker.exists():
            marker.write_text("# created by clsaudit\n*\n", encoding="utf-8")
        self._ready = True


def _budget_from_env() -> int:
    raw = os.environ.get(MAX_MB_ENV_VAR, "")
    try:
        megabytes = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        megabytes = DEFAULT_MAX_MB
    return int(megabytes * 1024 * 1024)
