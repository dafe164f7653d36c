"""``[tool.clsaudit]`` in ``pyproject.toml``, merged with command-line flags.

Each checked file gets the nearest ``pyproject.toml`` above it that has a
``[tool.clsaudit]`` table (``extend = "../pyproject.toml"`` inherits
another one's settings), so the order of paths on the command line never
changes findings (see :class:`ConfigResolver`). Unknown keys warn (a typo
must not silently turn a rule off); values of the wrong type, and codes or
prefixes that name no rule, are usage errors (exit 2): a gate must not
open silently.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from clsaudit.findings import SEVERITIES

KNOWN_KEYS = (
    "select", "extend-select", "ignore", "per-file-ignores", "exclude", "severity", "extend",
)
CODE_PATTERN = re.compile(r"^CLS\d{0,3}$")


class ConfigError(Exception):
    """A configuration value the user must fix; the CLI turns it into exit 2."""


@dataclass(frozen=True)
class Config:
    """The effective settings of one run.

    ``select``/``ignore`` hold codes or prefixes (``CLS2`` = every CLS2xx
    rule). ``root`` is the project root: per-file-ignores globs and exclude
    globs are relative to it, and the cache lives under it.
    """

    root: Path
    source: Path | None = None  # the pyproject.toml read, if any
    select: tuple[str, ...] = ("CLS",)
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    severity: str = "warning"
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def is_enabled(self, code: str) -> bool:
        """Most specific prefix wins between select and ignore, as in ruff."""
        sel = _longest_match(code, self.select + self.extend_select)
        ign = _longest_match(code, self.ignore)
        if sel < 0:
            return False
        return ign < sel or ign < 0

    def ignored_for_file(self, code: str, relpath: str) -> bool:
        """Whether a ``per-file-ignores`` entry whose glob matches ``relpath`` covers ``code``."""
        for pattern, codes in self.per_file_ignores:
            if path_matches(relpath, pattern) and _longest_match(code, codes) >= 0:
                return True
        return False

    def fingerprint(self, enabled_codes: Iterable[str]) -> str:
        """What the cached findings of a file depend on besides its bytes."""
        return ",".join(sorted(enabled_codes))


def _longest_match(code: str, prefixes: Iterable[str]) -> int:
    best = -1
    for prefix in prefixes:
        if code.startswith(prefix) and len(prefix) > best:
            best = len(prefix)
    return best


def path_matches(relpath: str, pattern: str) -> bool:
    """Match a project-relative posix path against a glob.

    A pattern without ``/`` matches any single path component (``build``,
    ``*_pb2.py``); one with ``/`` matches the whole relative path or a
    directory prefix of it (``legacy/`` or ``scripts/old_*.py``).
    """
    pattern = pattern.strip()
    if not pattern:
        return False
    stripped = pattern.rstrip("/")
    if "/" not in stripped:
        return any(fnmatch.fnmatchcase(part, stripped) for part in relpath.split("/"))
    stripped = stripped.lstrip("./") if stripped.startswith("./") else stripped
    if fnmatch.fnmatchcase(relpath, stripped):
        return True
    parts = relpath.split("/")
    return any(fnmatch.fnmatchcase("/".join(parts[:i]), stripped) for i in range(1, len(parts)))


def parse_codes(value: str | Iterable[str], where: str) -> tuple[str, ...]:
    """Normalise a comma-separated string or a list into validated codes/prefixes."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise ConfigError(f"{where}: expected a list of rule codes, got {item!r}")
            items.extend(item.split(","))
    else:
        raise ConfigError(f"{where}: expected a list of rule codes, got {value!r}")
    codes = []
    for item in items:
        code = item.strip().upper()
        if not code:
            continue
        if code == "ALL":
            code = "CLS"
        if not CODE_PATTERN.match(code):
            raise ConfigError(
                f"{where}: {item.strip()!r} is not a rule code or prefix (like CLS101 or CLS2)"
            )
        problem = unknown_code_problem(code)
        if problem:
            raise ConfigError(f"{where}: {problem}")
        codes.append(code)
    return tuple(codes)


def known_codes() -> frozenset[str]:
    """The codes of the rules this installation runs (the engine's registry)."""
    from clsaudit import engine

    return frozenset(rule.code for rule in engine.enabled_rules(Config(root=Path("."))))


def unknown_code_problem(code: str) -> str | None:
    """Why ``code`` (a code or prefix, upper case) names no rule, or None when it names one."""
    known = known_codes()
    if code == "CLS" or any(rule.startswith(code) for rule in known):
        return None
    import difflib

    nearest = difflib.get_close_matches(code, sorted(known), n=1, cutoff=0.0)
    hint = f" (nearest valid code: {nearest[0]})" if nearest else ""
    return f"unknown rule code {code!r}{hint}"


def parse_severity(value: Any, where: str) -> str:
    if not isinstance(value, str) or value.lower() not in SEVERITIES:
        raise ConfigError(f"{where}: expected one of {', '.join(SEVERITIES)}, got {value!r}")
    return value.lower()


def find_project_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` with a pyproject.toml or .git."""
    start = start if start.is_dir() else start.parent
    for directory in (start, *start.parents):
        if (directory / "pyproject.toml").is_file() or (directory / ".git").exists():
            return directory
    return Path.cwd()


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on 3.9/3.10
        try:
            import tomli as tomllib
        except ImportError:
            print(
                f"warning: {path}: cannot read TOML on this Python without 'tomli'; "
                "ignoring [tool.clsaudit]",
                file=sys.stderr,
            )
            return {}
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None


def discover_config_file(start: Path) -> Path | None:
    """The nearest pyproject.toml upward from ``start`` that has ``[tool.clsaudit]``.

    A pyproject.toml without the table is skipped only if there is no other;
    the first one seen is kept as the project root marker.
    """
    start = start if start.is_dir() else start.parent
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if "tool.clsaudit" in text:
                return candidate
    return None


def _table_of(path: Path, explicit: bool, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The ``[tool.clsaudit]`` table of ``path``, with ``extend`` resolved (parent first)."""
    data = _load_toml(path)
    table = data.get("tool", {}).get("clsaudit", {})
    if explicit and not table and path.name != "pyproject.toml":
        table = data  # a standalone clsaudit.toml
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.clsaudit] must be a table")
    if "extend" not in table:
        return table
    target = table["extend"]
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"{path}: [tool.clsaudit] extend: expected a path to a pyproject.toml")
    parent = Path(os.path.abspath(path.parent / os.path.expanduser(target)))
    if parent.is_dir():
        parent = parent / "pyproject.toml"
    if parent in chain or parent == path:
        raise ConfigError(f"{path}: [tool.clsaudit] extend: {target!r} extends itself in a cycle")
    if not parent.is_file():
        raise ConfigError(f"{path}: [tool.clsaudit] extend: {target!r} does not exist")
    inherited = _table_of(parent, explicit=False, chain=(*chain, path))
    merged = {**inherited, **{k: v for k, v in table.items() if k != "extend"}}
    return merged


def load_config(start: Path | None = None, explicit: Path | None = None) -> Config:
    """Find and read the configuration for a file or directory ``start``."""
    start = Path(os.path.abspath(start or Path.cwd()))
    if explicit is not None:
        path: Path | None = Path(os.path.abspath(explicit))
        if not path.is_file():
            raise ConfigError(f"{explicit}: configuration file does not exist")
    else:
        path = discover_config_file(start) if start.exists() else None
        if path is None:
            path = discover_config_file(Path.cwd())
    if path is None:
        return Config(root=find_project_root(start if start.exists() else Path.cwd()))
    table = _table_of(path, explicit=explicit is not None)
    return config_from_table(table, root=path.parent, source=path)


class ConfigResolver:
    """The effective settings of each checked file.

    A file gets the nearest ``[tool.clsaudit]`` above it (else the one
    above the working directory, else the defaults), then the command-line
    flags on top. Results are cached per configuration file, so a run over
    thousands of files reads each ``pyproject.toml`` once.
    """

    def __init__(self, explicit: Path | None = None, **flags: Any) -> None:
        self.explicit = explicit
        self.flags = flags
        self._by_source: dict[Path | None, Config] = {}
        self._by_directory: dict[str, Path | None] = {}
        self._by_folder: dict[str, Config] = {}
        self.warnings: list[str] = []

    def _source_for(self, directory: str) -> Path | None:
        if directory not in self._by_directory:
            found = discover_config_file(Path(directory))
            if found is None:
                found = discover_config_file(Path.cwd())
            self._by_directory[directory] = found
        return self._by_directory[directory]

    def for_path(self, path: str | Path) -> Config:
        """The configuration that applies to ``path`` (a file, a folder, or a name for stdin)."""
        absolute = os.path.abspath(path)
        directory = absolute if os.path.isdir(absolute) else os.path.dirname(absolute)
        cached = self._by_folder.get(directory)
        if cached is not None:
            return cached
        source = Path(os.path.abspath(self.explicit)) if self.explicit else self._source_for(directory)
        key: Path | str | None = source if source is not None else find_project_root(Path(directory))
        if key not in self._by_source:
            if source is None:
                config = Config(root=Path(key))
            else:
                config = load_config(Path(directory), self.explicit)
            config = apply_cli(config, **self.flags)
            self.warnings.extend(w for w in config.warnings if w not in self.warnings)
            self._by_source[key] = config
        self._by_folder[directory] = self._by_source[key]
        return self._by_source[key]

    def configs(self) -> list[Config]:
        """Every distinct configuration resolved so far."""
        return list(self._by_source.values())


def config_from_table(table: dict[str, Any], root: Path, source: Path | None = None) -> Config:
    where = f"{source or 'config'}: [tool.clsaudit]"
    warnings = []
    for key in table:
        if key not in KNOWN_KEYS:
            hint = [k for k in KNOWN_KEYS if k.replace("-", "_") == key]
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            warnings.append(f"{where}: unknown key {key!r} ignored{extra}")
    config = Config(root=root, source=source, warnings=tuple(warnings))
    if "select" in table:
        config = replace(config, select=parse_codes(table["select"], f"{where} select"))
    if "extend-select" in table:
        config = replace(
            config, extend_select=parse_codes(table["extend-select"], f"{where} extend-select")
        )
    if "ignore" in table:
        config = replace(config, ignore=parse_codes(table["ignore"], f"{where} ignore"))
    if "exclude" in table:
        exclude = table["exclude"]
        if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
            raise ConfigError(f"{where} exclude: expected a list of glob strings")
        config = replace(config, exclude=tuple(exclude))
    if "severity" in table:
        config = replace(config, severity=parse_severity(table["severity"], f"{where} severity"))
    if "per-file-ignores" in table:
        raw = table["per-file-ignores"]
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} per-file-ignores: expected a table of glob = [codes]")
        entries = tuple(
            (str(glob), parse_codes(codes, f"{where} per-file-ignores {glob!r}"))
            for glob, codes in raw.items()
        )
        config = replace(config, per_file_ignores=entries)
    return config


def apply_cli(
    config: Config,
    *,
    select: str | None = None,
    extend_select: str | None = None,
    ignore: str | None = None,
    exclude: Iterable[str] = (),
    severity: str | None = None,
) -> Config:
    """Command-line flags override the file: ``--select`` replaces, ``--ignore`` adds."""
    if select is not None:
        config = replace(config, select=parse_codes(select, "--select"), extend_select=())
    if extend_select is not None:
        config = replace(
            config, extend_select=config.extend_select + parse_codes(extend_select, "--extend-select")
        )
    if ignore is not None:
        config = replace(config, ignore=config.ignore + parse_codes(ignore, "--ignore"))
    exclude = tuple(exclude)
    if exclude:
        config = replace(config, exclude=config.exclude + exclude)
    if severity is not None:
        config = replace(config, severity=parse_severity(severity, "--severity"))
    return config
