"""Which checked files import which, found before anything is parsed.

Cross-file summaries need a file's local dependencies checked first. Parsing
twice would double the cost, so the graph comes from a regular-expression
scan of import statements: cheap, and a miss only costs a summary (the file
is then checked as if alone), never a wrong finding.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^#\n;]+)", re.MULTILINE)
_FROM = re.compile(
    r"^[ \t]*from[ \t]+(\.*)[ \t]*([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^#\n;]+)",
    re.MULTILINE,
)
_NAME = re.compile(r"[A-Za-z_]\w*")


def module_name_for(path: str) -> str:
    """Dotted name of ``path`` inside its package (``pkg/sub/mod.py`` -> ``pkg.sub.mod``).

    Walks up while the directory has an ``__init__.py``; a plain folder of
    scripts gives the file stem.
    """
    directory, filename = os.path.split(os.path.abspath(path))
    stem = filename.removesuffix(".py")
    parts = list(_package_parts(directory))
    if stem != "__init__":
        parts.append(stem)
    return ".".join(parts)


@lru_cache(maxsize=4096)
def _package_parts(directory: str) -> tuple[str, ...]:
    """The package names from the top package down to ``directory``."""
    if not os.path.isfile(os.path.join(directory, "__init__.py")):
        return ()
    parent, name = os.path.split(directory)
    if not name or parent == directory:
        return (name,) if name else ()
    return (*_package_parts(parent), name)


def imported_names(text: str, module_name: str, is_package: bool) -> set[str]:
    """Every dotted name ``text`` might import, relative imports made absolute.

    ``from pkg import mod`` yields both ``pkg`` and ``pkg.mod``: the scan
    cannot know whether ``mod`` is a submodule, the lookup decides.
    """
    names: set[str] = set()
    for match in _IMPORT.finditer(text):
        for item in match.group(1).split(","):
            dotted = item.strip().split(" ")[0].strip()
            if dotted and not dotted.startswith("("):
                names.add(dotted)
                # `import a.b.c` also imports a and a.b
                pieces = dotted.split(".")
                names.update(".".join(pieces[:i]) for i in range(1, len(pieces)))
    for match in _FROM.finditer(text):
        dots, base, imported = match.group(1), match.group(2), match.group(3)
        if dots:
            package = module_name.split(".") if module_name else []
            if not is_package and package:
                package = package[:-1]
            up = len(dots) - 1
            if up > len(package):
                continue
            package = package[: len(package) - up] if up else package
            base = ".".join(p for p in (".".join(package), base) if p)
        if not base:
            continue
        names.add(base)
        for item in imported.strip("() \t").split(","):
            word = item.strip().split(" ")[0].strip()
            if _NAME.fullmatch(word):
                names.add(f"{base}.{word}")
    return names


@dataclass
class ImportGraph:
    """``deps[path]`` maps the names a file imports to the checked files they denote."""

    names: dict[str, str] = field(default_factory=dict)  # path -> primary module name
    deps: dict[str, dict[str, str]] = field(default_factory=dict)


def build_import_graph(paths: Sequence[str], read_text: Callable[[str], str | None]) -> ImportGraph:
    """Resolve each file's imports against the other checked files, as Python would for that file.

    A script's imports are looked up from its own folder (``sys.path[0]``), then from the
    folder above its top package, then from its project root (the nearest folder holding
    ``pyproject.toml``, ``setup.py``, ``setup.cfg`` or ``.git``), never from the folder the
    command line named: in a monorepo, ``from models.net import Net`` in one project finds
    that project's ``models/net.py``. ``read_text`` returns a file's text (or None if
    unreadable); texts are scanned one at a time and not kept.
    """
    graph = ImportGraph()
    checked = {os.path.abspath(p): p for p in paths}
    for path in paths:
        graph.names[path] = module_name_for(path)
    for path in paths:
        text = read_text(path)
        found: dict[str, str] = {}
        if text:
            is_package = os.path.basename(path) == "__init__.py"
            dirs = search_dirs(path)
            for imported in imported_names(text, graph.names[path], is_package):
                target = _resolve(imported, dirs, checked)
                if target is not None and target != path:
                    found[imported] = target
        graph.deps[path] = found
    return graph


PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


@lru_cache(maxsize=4096)
def search_dirs(path: str) -> tuple[str, ...]:
    """Where Python looks for a file's absolute imports when it runs as a script or a package."""
    here = os.path.dirname(os.path.abspath(path))
    dirs = [here]
    top = here
    while os.path.isfile(os.path.join(top, "__init__.py")) and os.path.dirname(top) != top:
        top = os.path.dirname(top)
    if top not in dirs:
        dirs.append(top)
    root = project_root(here)
    if root is not None and root not in dirs:
        dirs.append(root)
    return tuple(dirs)


@lru_cache(maxsize=4096)
def project_root(directory: str) -> str | None:
    """The nearest folder at or above ``directory`` that marks a project."""
    current = directory
    while True:
        if any(os.path.exists(os.path.join(current, m)) for m in PROJECT_MARKERS):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _resolve(name: str, dirs: Sequence[str], checked: Mapping[str, str]) -> str | None:
    rel = name.replace(".", os.sep)
    for d in dirs:
        for candidate in (os.path.join(d, rel + ".py"), os.path.join(d, rel, "__init__.py")):
            if candidate in checked:
                return checked[candidate]
    return None


def acyclic_deps(deps: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Drop the back edges of a sorted depth-first search: cycles broken, rest kept.

    Deterministic (sorted order), iterative (deep packages must not hit the
    recursion limit).
    """
    result: dict[str, set[str]] = {node: set(targets) for node, targets in deps.items()}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in sorted(result):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(result[start])))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            advanced = False
            for child in children:
                if child not in result:
                    continue
                mark = state.get(child)
                if mark == 1:
                    result[node].discard(child)  # back edge: breaks the cycle
                elif mark is None:
                    state[child] = 1
                    stack.append((child, iter(sorted(result[child]))))
                    advanced = True
                    break
            if not advanced:
                state[node] = 2
                stack.pop()
    return result
