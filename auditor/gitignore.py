"""``.gitignore``, ``.ignore`` and ``.git/info/exclude``, as git reads them.

A repository's ignored files (wandb's saved copies of the training code,
checkpoints folders with scripts in them, vendored clones) are not the
user's code, so a walk skips them by default, as ruff and ripgrep do.
Patterns follow gitignore(5): ``#`` comments, ``!`` re-includes, a
trailing ``/`` matches folders only, a ``/`` elsewhere anchors the pattern
to its file's folder, ``**`` spans folders, and the last matching pattern
wins. Ignore files are read from the repository root (the folder with
``.git``; else the project root) down to each walked folder. Files named
on the command line are always checked: pre-commit names only tracked
files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

IGNORE_FILES = (".gitignore", ".ignore")


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern
    negated: bool
    directory_only: bool
    anchored: bool  # matched against the path relative to its base, not the name


def _translate(glob: str) -> str:
    """A gitignore glob (no leading/trailing slash handling) as a regex over posix paths."""
    out, i = [], 0
    while i < len(glob):
        ch = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            end = glob.find("]", i + 2)
            if end < 0:
                out.append(re.escape(ch))
                i += 1
                continue
            body = glob[i + 1:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif ch == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def parse_line(line: str) -> Pattern | None:
    """One line of an ignore file, or None for blanks and comments."""
    line = line.rstrip("\n\r")
    if not line or line.startswith("#"):
        return None
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]
    if not line:
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    elif line.startswith("\\"):
        line = line[1:] if line[1:2] in ("!", "#") else line
    directory_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    regex = re.compile(_translate(line) + r"\Z", re.DOTALL)
    return Pattern(regex, negated, directory_only, anchored)


@lru_cache(maxsize=4096)
def _patterns_in(directory: str) -> tuple[Pattern, ...]:
    patterns = []
    for name in IGNORE_FILES:
        try:
            with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as handle:
                lines = handle.readlines()
        except OSError:
            continue
        patterns.extend(p for p in map(parse_line, lines) if p is not None)
    return tuple(patterns)


@lru_cache(maxsize=64)
def _info_exclude(git_root: str) -> tuple[Pattern, ...]:
    try:
        with open(os.path.join(git_root, ".git", "info", "exclude"), encoding="utf-8",
                  errors="replace") as handle:
            return tuple(p for p in map(parse_line, handle) if p is not None)
    except OSError:
        return ()


def _matches(pattern: Pattern, relative: str, is_dir: bool) -> bool:
    if pattern.directory_only and not is_dir:
        return False
    subject = relative if pattern.anchored else relative.rsplit("/", 1)[-1]
    return bool(pattern.regex.match(subject))


class GitIgnore:
    """Answers "is this path ignored?" for paths at or below ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = Path(os.path.abspath(base))
        self.git_root = self.base if (self.base / ".git").exists() else None

    def entry_ignored(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` is ignored, its parent folders being known not to be (a walk)."""
        return self._decide(os.path.abspath(path), is_dir)

    def _decide(self, absolute: str, is_dir: bool) -> bool:
        rel_to_base = os.path.relpath(absolute, self.base)
        if rel_to_base.startswith(".."):
            return False
        parts = Path(rel_to_base).as_posix().split("/")
        ignored = False
        if self.git_root is not None:
            for pattern in _info_exclude(str(self.git_root)):
                if _matches(pattern, "/".join(parts), is_dir):
                    ignored = not pattern.negated
        directory = str(self.base)
        for depth in range(len(parts)):
            relative = "/".join(parts[depth:])
            for pattern in _patterns_in(directory):
                if _matches(pattern, relative, is_dir):
                    ignored = not pattern.negated
            directory = os.path.join(directory, parts[depth])
        return ignored

    def ignored(self, path: str, is_dir: bool) -> bool:
        """Whether git would ignore ``path``, including by an ignored parent folder."""
        absolute = os.path.abspath(path)
        rel = os.path.relpath(absolute, self.base)
        if rel == "." or rel.startswith(".."):
            return False
        parts = Path(rel).as_posix().split("/")
        for depth in range(1, len(parts)):
            if self._decide(os.path.join(str(self.base), *parts[:depth]), True):
                return True
        return self._decide(absolute, is_dir)


def ignore_base(start: str) -> Path:
    """The folder whose ignore files apply first: the git work tree, else the project root."""
    from clsaudit.config import find_project_root

    here = Path(os.path.abspath(start))
    here = here if here.is_dir() else here.parent
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory
    return find_project_root(here)
