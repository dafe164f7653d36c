"""Shared fixtures: an isolated cache per test and small rules of our own.

The engine, CLI, reporter and fixer tests use the rules below instead of the
catalogue, so that they test the machinery and keep passing whatever the
real rules find.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import libcst as cst
import pytest
from clsaudit.findings import Report
from clsaudit.rule import Rule

REPO = Path(__file__).resolve().parent.parent


class _Collect(cst.CSTVisitor):
    def __init__(self, predicate) -> None:
        self.predicate = predicate
        self.found: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.predicate(node):
            self.found.append(node)
        return True


def _nodes(model, predicate) -> list[cst.CSTNode]:
    visitor = _Collect(predicate)
    model.module.visit(visitor)
    return visitor.found


class PrintCallRule(Rule):
    """Reports every call to ``print`` (a warning)."""

    code = "CLS901"
    name = "print-call"
    severity = "warning"
    summary = "A call to print."
    doc = "## What it does\n\nFinds print calls.\n\n## Why is this bad\n\nTests.\n"

    def check(self, model) -> Iterator[Report]:
        for node in _nodes(model, lambda n: isinstance(n, cst.Call)):
            if isinstance(node.func, cst.Name) and node.func.value == "print":
                yield Report(node, "print called")


class XrangeRule(Rule):
    """Reports ``xrange`` names, fixable to ``range`` (info)."""

    code = "CLS902"
    name = "xrange-name"
    severity = "info"
    summary = "xrange is range now."
    doc = "## What it does\n\nFinds xrange.\n"
    fixable = True

    def check(self, model) -> Iterator[Report]:
        for node in _nodes(model, lambda n: isinstance(n, cst.Name) and n.value == "xrange"):
            yield Report(node, "use range", fix="range")


class ImportsSeenRule(Rule):
    """Reports, on the first statement, which sibling summaries the engine passed (error)."""

    code = "CLS903"
    name = "imports-seen"
    severity = "error"
    summary = "Lists the summaries received."
    doc = "## What it does\n\nTest helper.\n"

    def check(self, model) -> Iterator[Report]:
        if model.summaries and model.module.body:
            names = ",".join(sorted(model.summaries))
            yield Report(model.module.body[0], f"summaries: {names}")


TEST_RULES = (PrintCallRule(), XrangeRule(), ImportsSeenRule())


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own cache directory and a colourless environment."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("CLSAUDIT_CACHE_DIR", str(cache))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return cache


@pytest.fixture
def test_rules(monkeypatch) -> tuple[Rule, ...]:
    """Make the engine run the test rules (filtered by the config) instead of the catalogue."""
    from clsaudit import engine

    def enabled(config):
        return tuple(rule for rule in TEST_RULES if config.is_enabled(rule.code))

    monkeypatch.setattr(engine, "enabled_rules", enabled)
    return TEST_RULES


@pytest.fixture
def run_cli():
    """Run the real entry point (``python -m clsaudit``) in a fresh interpreter."""
    import os

    def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
        environment = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "clsaudit", *args],
            cwd=cwd,
            check=False,
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
        )

    return run
