"""Run the rules over many files: schedule, parallelise, cache, filter.

Each file is parsed exactly once. Files are scheduled over the local import
graph (a file after the sibling modules it imports, so that their
summaries are ready), answered from the cache where possible, and
otherwise analysed in-process or, when enough files need it, by a process
pool whose workers import the rules once and return only plain data.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

from clsaudit.config import Config
from clsaudit.discovery import Discovery, discover, relative_to_root
from clsaudit.findings import FileError, Finding
from clsaudit.import_graph import acyclic_deps, build_import_graph, module_name_for
from clsaudit.parse_guard import DEFAULT_MAX_FILE_MB
from clsaudit.rule import Rule
from clsaudit.suppressions import filter_suppressed

# Below this many files to analyse, a process pool costs more than it saves.
POOL_THRESHOLD = 4


@dataclass
class FileOutcome:
    """What one file produced: unfiltered findings, its summary, or an error."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    error: FileError | None = None


@dataclass
class CheckResult:
    """The result of a run, ready for a reporter."""

    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    analyzed: int = 0  # files parsed this run (the rest came from the cache)
    skipped: int = 0  # files that could not matter, not parsed (see clsaudit.relevance)
    # sha256 of the bytes each result was computed from: --fix writes only over those bytes.
    digests: dict[str, str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)  # --fix: edited since checked, left alone
    fix_failed: list[str] = field(default_factory=list)  # --fix: could not be written
    rules: tuple[Rule, ...] = ()
    # Suppressions that suppressed nothing: (path, clsaudit.suppressions.Unused).
    unused_suppressions: list[tuple[str, Any]] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # sources not on disk (stdin)

    def source_lines(self, path: str) -> list[str]:
        """The decoded lines of ``path`` for reporters that show the source."""
        if path in self.texts:
            return self.texts[path].splitlines()
        return read_text(path).splitlines() if os.path.exists(path) else []


def read_text(path: str) -> str:
    """A file's decoded text, or "" when it cannot be read, decoded or is no regular file."""
    from clsaudit.safe_read import SourceError, read_source
    from clsaudit.source_text import decode_source

    try:
        return decode_source(path, read_source(path))
    except (SourceError, SyntaxError, UnicodeDecodeError, LookupError):
        return ""


def suppression_text(path: str) -> str:
    """The text whose comments may suppress findings: "" unless a marker is in the bytes.

    Every checked file's comments are read (a bad suppression is an error
    even where nothing is suppressed), so the common case, no marker at
    all, must not pay for decoding.
    """
    from clsaudit.suppressions import MARKERS

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return ""
    lowered = data.lower()
    if not any(marker.encode() in lowered for marker in MARKERS):
        return ""
    return read_text(path)


def enabled_rules(config: Config) -> tuple[Rule, ...]:
    from clsaudit.rules import all_rules

    return tuple(rule for rule in all_rules() if config.is_enabled(rule.code))


# --- worker side -----------------------------------------------------------

_WORKER_RULES: tuple[Rule, ...] = ()
_WORKER_MAX_MB: float = DEFAULT_MAX_FILE_MB


def _init_worker(rules: Sequence[Rule], max_mb: float = DEFAULT_MAX_FILE_MB) -> None:
    """Receive the rules once per worker; the parent handles Ctrl-C and stop signals."""
    from clsaudit.stop_signals import reset_in_child

    reset_in_child()
    global _WORKER_RULES, _WORKER_MAX_MB
    _WORKER_RULES = tuple(rules)
    _WORKER_MAX_MB = max_mb


def analyze_file(
    path: str,
    module_name: str,
    summaries: dict[str, Any],
    rules: Sequence[Rule],
    max_mb: float = DEFAULT_MAX_FILE_MB,
) -> tuple[FileOutcome, str]:
    """Read and analyse one file; returns the outcome and the digest of the bytes read.

    Any exception from the semantic model or a rule becomes a FileError: a
    bug in one rule must not hide the findings of every other file. A source
    that could crash libcst's native parser is refused with a reason or
    analysed in a child process (see :mod:`clsaudit.parse_guard`).
    """
    from clsaudit.safe_read import SourceError, read_source

    try:
        data = read_source(path, max_mb)
    except SourceError as exc:
        return FileOutcome(path, error=FileError(path, str(exc))), ""
    digest = hashlib.sha256(data).hexdigest()
    refusal, risky = _guard(path, data)
    if refusal is not None:
        return FileOutcome(path, error=FileError(path, f"cannot parse: {refusal}")), digest
    if risky:
        return analyze_isolated(path, data, module_name, summaries, rules), digest
    return _analyze_data(path, data, module_name, summaries, rules), digest


def syntax_only(path: str, max_mb: float = DEFAULT_MAX_FILE_MB) -> FileOutcome:
    """Check a file the rules cannot care about with Python's own parser: errors only.

    The messages match :func:`clsaudit.analysis.parse_module`'s, so a file
    reads the same whether it was skipped or fully analysed.
    """
    import ast
    import warnings

    from clsaudit.parse_guard import looks_pathological, screen
    from clsaudit.safe_read import SourceError, read_source
    from clsaudit.source_text import decode_source

    try:
        data = read_source(path, max_mb)
    except SourceError as exc:
        return FileOutcome(path, error=FileError(path, str(exc)))
    try:
        text = decode_source(path, data)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "msg", None) or str(exc)
        return FileOutcome(path, error=FileError(path, f"cannot decode file: {reason}"))
    refusal = screen(text) if looks_pathological(text) else None
    if refusal is not None:  # the same words as for a file the rules analyse
        return FileOutcome(path, error=FileError(path, f"cannot parse: {refusal}"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text, filename=path)
    except SyntaxError as exc:
        message = f"syntax error: {exc.msg or 'invalid syntax'}"
        return FileOutcome(path, error=FileError(path, message, exc.lineno or 0, exc.offset or 0))
    except (ValueError, RecursionError, MemoryError) as exc:
        return FileOutcome(path, error=FileError(path, f"cannot parse: {exc}"))
    return FileOutcome(path)


def _guard(path: str, data: bytes) -> tuple[str | None, bool]:
    """(why the file must not be parsed, whether it must be parsed in a child)."""
    from clsaudit.parse_guard import looks_pathological, screen
    from clsaudit.source_text import decode_source

    try:
        text = decode_source(path, data)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return None, False  # analyse_source reports the decoding error
    if not looks_pathological(text):
        return None, False
    return screen(text), True


def analyze_isolated(
    path: str, data: bytes | None, module_name: str, summaries: dict[str, Any], rules: Sequence[Rule]
) -> FileOutcome:
    """Analyse in a forked child: a native crash, memory blow-up or hang costs this file only."""
    from clsaudit.isolation import Crashed, can_isolate, run_isolated

    if data is None:
        from clsaudit.safe_read import SourceError, read_source

        try:
            data = read_source(path)
        except SourceError as exc:
            return FileOutcome(path, error=FileError(path, str(exc)))
    if not can_isolate():
        return _analyze_data(path, data, module_name, summaries, rules)
    try:
        return run_isolated(lambda: _analyze_data(path, data, module_name, summaries, rules))
    except Crashed as exc:
        return FileOutcome(path, error=FileError(path, f"cannot parse: {exc.reason}"))


def _analyze_data(
    path: str, data: bytes, module_name: str, summaries: dict[str, Any], rules: Sequence[Rule]
) -> FileOutcome:
    from clsaudit import analysis

    try:
        result = analysis.analyze_source(
            path, data, rules, summaries=summaries, module_name=module_name
        )
    except RecursionError:
        error = FileError(path, "internal error: file too deeply nested to analyse")
        return FileOutcome(path, error=error)
    except Exception as exc:  # noqa: BLE001 - reported, never a traceback
        message = f"internal error: {type(exc).__name__}: {exc} (please report this bug)"
        return FileOutcome(path, error=FileError(path, message))
    return FileOutcome(path, result.findings, result.summary, result.error)


def _analyze_batch(
    batch: list[tuple[str, str, dict[str, Any]]],
) -> list[tuple[FileOutcome, str]]:
    return [
        analyze_file(path, name, summaries, _WORKER_RULES, _WORKER_MAX_MB)
        for path, name, summaries in batch
    ]


# --- parent side -----------------------------------------------------------


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _scan(path: str, max_mb: float) -> tuple[str, str, FileError | None]:
    """Read a file once in the parent: its digest and text for the import scan."""
    from clsaudit.safe_read import SourceError, read_source

    try:
        data = read_source(path, max_mb)
    except SourceError as exc:
        return "", "", FileError(path, str(exc))
    digest = hashlib.sha256(data).hexdigest()
    from clsaudit.notebook import NotebookError, is_notebook, load_notebook

    if is_notebook(path):  # a notebook's imports are in its code cells, not its JSON
        try:
            return digest, load_notebook(data).text, None
        except NotebookError:
            return digest, "", None
    return digest, data.decode("utf-8", "replace"), None


class _Scheduler:
    """Dependency-ordered dispatch of files to the cache, this process or a pool."""

    def __init__(
        self,
        files: list[str],
        rules: Sequence[Rule],
        settings: str,
        cache: Any,
        jobs: int,
        max_mb: float = DEFAULT_MAX_FILE_MB,
        skip: bool = False,
    ) -> None:
        from clsaudit.relevance import mentions_training, needed_files

        self.rules = tuple(rules)
        self.settings = settings
        self.cache = cache
        self.jobs = jobs
        self.max_mb = max_mb
        self.outcomes: dict[str, FileOutcome] = {}
        self.analyzed = 0
        self.skipped = 0
        self.digests: dict[str, str] = {}  # sha256 of the bytes scanned in the parent
        self.used_digests: dict[str, str] = {}  # sha256 of the bytes each result came from
        relevant: set[str] = set()
        # Skipped files still get Python's own syntax check (a tenth of a libcst parse).
        self.syntax_todo: deque[str] = deque()
        if len(files) == 1:
            path = files[0]
            scan = cache is not None or skip
            digest, text, error = _scan(path, max_mb) if scan else ("", "", None)
            self.digests[path] = digest
            if error is not None:
                self.outcomes[path] = FileOutcome(path, error=error)
            elif not skip or mentions_training(text):
                relevant.add(path)
            self.names = {path: module_name_for(path)}
            self.deps: dict[str, dict[str, str]] = {path: {}}
            self.dag: dict[str, set[str]] = {path: set()}
        else:
            errors: dict[str, FileError] = {}

            def text_of(path: str) -> str | None:
                digest, text, error = _scan(path, max_mb)
                self.digests[path] = digest
                if error is not None:
                    errors[path] = error
                    return None
                if not skip or mentions_training(text):
                    relevant.add(path)
                return text

            graph = build_import_graph(files, text_of)
            for path, error in errors.items():
                self.outcomes[path] = FileOutcome(path, error=error)
            self.names = graph.names
            self.deps = graph.deps
            self.dag = acyclic_deps({p: set(d.values()) for p, d in graph.deps.items()})
        if skip:
            # Files that can neither produce a finding nor feed a summary to one
            # that can are done without parsing (see clsaudit.relevance).
            deps = {p: set(d.values()) for p, d in self.deps.items()}
            needed = needed_files(files, deps, relevant)
            for path in files:
                if path not in needed and path not in self.outcomes:
                    self.outcomes[path] = FileOutcome(path)
                    self.skipped += 1
                    self.syntax_todo.append(path)
        self.waiting = {p: set(d) - set(self.outcomes) for p, d in self.dag.items()}
        self.dependents: dict[str, list[str]] = {p: [] for p in files}
        for path, targets in self.dag.items():
            for target in targets:
                self.dependents[target].append(path)
        self.ready = deque(
            p for p in files if p not in self.outcomes and not self.waiting[p]
        )
        self.pending = len(files) - len(self.outcomes)
        self.pool: Any = None

    def _summaries_for(self, path: str) -> dict[str, Any]:
        summaries = {}
        for name, target in self.deps.get(path, {}).items():
            if target in self.dag[path]:
                summary = self.outcomes[target].summary
                if summary is not None:
                    summaries[name] = summary
        return summaries

    def _complete(self, outcome: FileOutcome) -> None:
        self.outcomes[outcome.path] = outcome
        self.pending -= 1
        for dependent in self.dependents.get(outcome.path, ()):
            waiting = self.waiting[dependent]
            waiting.discard(outcome.path)
            if not waiting and dependent not in self.outcomes:
                self.ready.append(dependent)

    def _store(self, key: str | None, outcome: FileOutcome, digest: str, path: str) -> None:
        self.used_digests[path] = digest
        if self.cache is not None and key is not None and digest == self.digests.get(path):
            self.cache.put(key, outcome.findings, outcome.summary, outcome.error)

    def run(self) -> dict[str, FileOutcome]:
        from clsaudit.cache import entry_key

        todo: deque[tuple[str, str, dict[str, Any], str | None]] = deque()
        in_flight: dict[Any, list[tuple[str, str | None]]] = {}
        try:
            while self.pending > 0:
                while self.ready:
                    path = self.ready.popleft()
                    summaries = self._summaries_for(path)
                    name = self.names[path]
                    key = None
                    if self.cache is not None:
                        key = entry_key(self.digests[path], self.settings, summaries, name)
                        hit = self.cache.get(key, path)
                        if hit is not None:
                            self.used_digests[path] = self.digests[path]
                            self._complete(FileOutcome(path, *hit))
                            continue
                    todo.append((path, name, summaries, key))
                if todo:
                    self._dispatch(todo, in_flight)
                    continue
                if in_flight:
                    if self.syntax_todo:  # the parent's idle time while workers parse
                        self._syntax_check(self.syntax_todo.popleft())
                        self._collect(in_flight, block=False)
                    else:
                        self._collect(in_flight)
                    continue
                break  # nothing ready, nothing running: cannot happen with a DAG
            while self.syntax_todo:
                self._syntax_check(self.syntax_todo.popleft())
        except BaseException:
            self._stop_pool()
            raise
        if self.pool is not None:
            self.pool.shutdown()
        return self.outcomes

    def _stop_pool(self) -> None:
        """Kill the workers now (a signal or Ctrl-C): none may outlive this process."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        processes = list(getattr(pool, "_processes", {}).values())
        for process in processes:
            try:
                process.kill()
            except (OSError, ValueError, AttributeError):
                pass
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            try:
                process.join(5)
            except (OSError, ValueError, AssertionError, AttributeError):
                pass

    def _use_pool(self, todo_size: int) -> bool:
        if self.pool is not None:
            return True
        if self.jobs <= 1 or todo_size < POOL_THRESHOLD:
            return False
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork shares the already imported libcst and rules with the workers.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self.pool = ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.rules, self.max_mb),
        )
        return True

    def _dispatch(self, todo: deque, in_flight: dict) -> None:
        if not self._use_pool(len(todo)):
            path, name, summaries, key = todo.popleft()
            outcome, digest = analyze_file(path, name, summaries, self.rules, self.max_mb)
            self.analyzed += 1
            self._store(key, outcome, digest, path)
            self._complete(outcome)
            return
        # Small chunks: enough to amortise pickling, small enough to balance.
        size = max(1, min(8, len(todo) // (self.jobs * 4)))
        while todo:
            batch = [todo.popleft() for _ in range(min(size, len(todo)))]
            future = self.pool.submit(_analyze_batch, [(p, n, s) for p, n, s, _ in batch])
            in_flight[future] = batch

    def _syntax_check(self, path: str) -> None:
        """A skipped file's syntax errors are still reported, from the cache when possible."""
        from clsaudit.cache import entry_key

        key = None
        if self.cache is not None and self.digests.get(path):
            key = entry_key(self.digests[path], self.settings + "|syntax-only", {}, self.names[path])
            hit = self.cache.get(key, path)
            if hit is not None:
                self.outcomes[path] = FileOutcome(path, *hit)
                return
        outcome = syntax_only(path, self.max_mb)
        self.outcomes[path] = outcome
        if key is not None:
            self.cache.put(key, [], None, outcome.error)

    def _collect(self, in_flight: dict, block: bool = True) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        done, _ = wait(list(in_flight), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            batch = in_flight.pop(future)
            try:
                results = future.result()
            except BrokenProcessPool:
                # A worker died (a native crash the parse guard did not foresee):
                # every batch it shared the pool with is redone one file per
                # child process, so that only the guilty file is lost.
                self._stop_pool()
                results = [self._redo_isolated(p, n, s) for p, n, s, _ in batch]
            except Exception as exc:  # noqa: BLE001 - reported per file
                results = [
                    (FileOutcome(p, error=FileError(p, f"internal error: worker failed: {exc}")), "")
                    for p, _, _, _ in batch
                ]
            for (path, _, _, key), (outcome, digest) in zip(batch, results):
                self.analyzed += 1
                self._store(key, outcome, digest, path)
                self._complete(outcome)


    def _redo_isolated(
        self, path: str, name: str, summaries: dict[str, Any]
    ) -> tuple[FileOutcome, str]:
        from clsaudit.isolation import Crashed, can_isolate, run_isolated

        rules, max_mb = self.rules, self.max_mb
        if not can_isolate():  # pragma: no cover - fork-less platforms have no fork pool
            return analyze_file(path, name, summaries, rules, max_mb)
        try:
            return run_isolated(lambda: analyze_file(path, name, summaries, rules, max_mb))
        except Crashed as exc:
            return FileOutcome(path, error=FileError(path, f"cannot parse: {exc.reason}")), ""


def filter_findings(
    findings: list[Finding], path: str, config: Config, text_of: Callable[[str], str]
) -> list[Finding]:
    """Apply config selection, per-file ignores and inline suppressions."""
    kept = [f for f in findings if config.is_enabled(f.code)]
    if config.per_file_ignores and kept:
        rel = relative_to_root(path, config.root)
        kept = [f for f in kept if not config.ignored_for_file(f.code, rel)]
    if kept:
        kept = filter_suppressed(kept, text_of(path))
    return kept


def screen_file(
    findings: list[Finding], path: str, config: Config, text: str, result: CheckResult
) -> list[Finding]:
    """:func:`filter_findings` that also records bad and unused suppressions in ``result``.

    Every file's comments are read (not only those with findings): a
    misspelt or unknown code in a suppression is an error even where it
    happens to suppress nothing today.
    """
    from clsaudit.suppressions import apply_suppressions, parse_suppressions, unused_suppressions

    kept = [f for f in findings if config.is_enabled(f.code)]
    if config.per_file_ignores and kept:
        rel = relative_to_root(path, config.root)
        kept = [f for f in kept if not config.ignored_for_file(f.code, rel)]
    suppressions = parse_suppressions(text)
    for line, message in suppressions.errors:
        result.errors.append(FileError(path, message, line, 1))
    if not suppressions.directives:
        return kept
    kept = apply_suppressions(kept, suppressions)
    for unused in unused_suppressions(suppressions, config.is_enabled):
        result.unused_suppressions.append((path, unused))
    return kept


def _active_rules(files: Sequence[str], config_for: Callable[[str], Config]) -> tuple[Rule, ...]:
    """The rules any checked file enables, each once, by code (whatever the argument order)."""
    active: dict[str, Rule] = {}
    seen: set[int] = set()
    for path in files:
        config = config_for(path)
        if id(config) in seen:
            continue
        seen.add(id(config))
        for rule in enabled_rules(config):
            active.setdefault(rule.code, rule)
    return tuple(active[code] for code in sorted(active))


def check_paths(
    paths: Sequence[str],
    config: Config,
    *,
    use_cache: bool = True,
    jobs: int | None = None,
    rules: Sequence[Rule] | None = None,
    discovery: Discovery | None = None,
    config_for: Callable[[str], Config] | None = None,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
    skip_irrelevant: bool | None = None,
) -> CheckResult:
    """Check ``paths`` under ``config``.

    ``rules`` replaces the enabled part of the catalogue (tests use small
    rules of their own; rules must be picklable for a process pool).
    ``config_for`` gives each file its own settings (the nearest
    ``[tool.clsaudit]``); without it every file uses ``config``.
    ``skip_irrelevant`` (default: on for the catalogue's own rules, whose
    vocabulary :mod:`clsaudit.relevance` knows) leaves files that cannot
    matter unparsed. Runs under :func:`clsaudit.stop_signals.stop_on_signals`:
    SIGTERM and SIGHUP stop the workers and raise ``Stopped``.
    """
    from clsaudit.stop_signals import stop_on_signals

    with stop_on_signals():
        return _check_paths(paths, config, use_cache, jobs, rules, discovery, config_for, max_file_mb,
                            skip_irrelevant)


def _catalogue_only(rules: Sequence[Rule]) -> bool:
    return all(type(rule).__module__.startswith("clsaudit.rules.") for rule in rules)


def _check_paths(
    paths: Sequence[str],
    config: Config,
    use_cache: bool,
    jobs: int | None,
    rules: Sequence[Rule] | None,
    discovery: Discovery | None,
    config_for: Callable[[str], Config] | None,
    max_file_mb: float,
    skip_irrelevant: bool | None,
) -> CheckResult:
    found = discovery or discover(paths, config.root, config.exclude)
    if rules is not None:
        active = tuple(rules)
    elif config_for is not None:
        active = _active_rules(found.files, config_for)
    else:
        active = enabled_rules(config)
    result = CheckResult(files=list(found.files), missing=list(found.missing), rules=active)
    result.errors.extend(FileError(path, reason) for path, reason in getattr(found, "refused", ()))
    if not found.files:
        return result
    cache = None
    if use_cache:
        from clsaudit.cache import Cache, cache_dir_for

        cache = Cache(cache_dir_for(config.root))
    settings = config.fingerprint(
        f"{rule.code}:{type(rule).__module__}.{type(rule).__qualname__}" for rule in active
    )
    settings += f"|max_file_mb={max_file_mb:g}"  # a size refusal is cached like any result
    skip = _catalogue_only(active) if skip_irrelevant is None else skip_irrelevant
    scheduler = _Scheduler(found.files, active, settings, cache, jobs or default_jobs(), max_file_mb, skip)
    outcomes = scheduler.run()
    result.analyzed = scheduler.analyzed
    result.skipped = scheduler.skipped
    result.digests = scheduler.used_digests
    if cache is not None and scheduler.analyzed:
        cache.prune()
    for path in found.files:
        outcome = outcomes.get(path)
        if outcome is None:
            continue
        if outcome.error is not None:
            result.errors.append(outcome.error)
        if config_for is None:
            result.findings.extend(filter_findings(outcome.findings, path, config, read_text))
        elif outcome.error is None:
            text = result.texts[path] if path in result.texts else suppression_text(path)
            kept = screen_file(outcome.findings, path, config_for(path), text, result)
            result.findings.extend(kept)
    result.findings.sort(key=Finding.sort_key)
    return result
