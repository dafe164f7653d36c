"""``clsaudit - --stdin-filename PATH``: check an editor's unsaved buffer.

The buffer is checked as if it were the file at PATH (its configuration,
its per-file ignores, a notebook if PATH ends in ``.ipynb``), without
touching the disk: no cache, nothing written. Fixes are applied in memory
and the fixed source is printed, as editors that pipe through a linter
expect.
"""

from __future__ import annotations

import os
import tempfile

from clsaudit import engine
from clsaudit.config import Config
from clsaudit.engine import CheckResult, screen_file
from clsaudit.fixer import FixOutcome, fix_file


def check_stdin(data: bytes, name: str, config: Config) -> CheckResult:
    """Analyse ``data`` as the file ``name`` under ``config``."""
    from clsaudit import analysis
    from clsaudit.notebook import NotebookError, is_notebook, remember
    from clsaudit.source_text import decode_source

    rules = engine.enabled_rules(config)  # looked up per call: tests swap the catalogue
    result = CheckResult(files=[name], rules=rules)
    if is_notebook(name):
        remember(name, data)
    try:
        result.texts[name] = decode_source(name, data)
    except (NotebookError, SyntaxError, UnicodeDecodeError, LookupError):
        result.texts[name] = ""
    analysed = analysis.analyze_source(name, data, rules)
    if analysed.error is not None:
        result.errors.append(analysed.error)
        return result
    result.findings = screen_file(analysed.findings, name, config, result.texts[name], result)
    return result


def fix_stdin(data: bytes, name: str, result: CheckResult) -> tuple[FixOutcome, str | None]:
    """The fixed buffer (through the same fixer as files, on a private copy) and any error."""
    fixable = [f for f in result.findings if f.fix is not None]
    suffix = os.path.splitext(name)[1] or ".py"
    with tempfile.TemporaryDirectory(prefix="clsaudit-stdin-") as folder:
        copy = os.path.join(folder, "stdin" + suffix)
        with open(copy, "wb") as handle:
            handle.write(data)
        moved = [_with_path(f, copy) for f in fixable]
        outcome = fix_file(copy, moved) if moved else None
    original = data.decode("utf-8", "replace")
    if outcome is None:
        return FixOutcome(name, original, original, 0, 0), None
    outcome.path = name
    return outcome, outcome.error


def _with_path(finding, path: str):
    from dataclasses import replace

    return replace(finding, path=path)
