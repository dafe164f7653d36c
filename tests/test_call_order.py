"""Results never depend on the order of independent calls: every fixture's pairs of adjacent
calls to the same local helper are swapped, and the findings must stay the same (their lines
swapped with the calls)."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from clsaudit.rules import all_rules
from clsaudit.semantic import SemanticModel

STATIC = Path(__file__).resolve().parents[1] / "fixtures" / "static"


def _call_name(stmt: cst.CSTNode) -> str | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        value = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
            return value.func.value
    return None


class _Swap(cst.CSTTransformer):
    """Swap the first pair of adjacent statements that call the same function by name."""

    def __init__(self) -> None:
        self.done = False

    def _swap(self, body):
        items = list(body)
        for i in range(len(items) - 1):
            a, b = _call_name(items[i]), _call_name(items[i + 1])
            if not self.done and a is not None and a == b and items[i].deep_equals(items[i + 1]) is False:
                items[i], items[i + 1] = items[i + 1], items[i]
                self.done = True
                break
        return items

    def leave_Module(self, original, updated):
        return updated.with_changes(body=self._swap(updated.body))

    def leave_IndentedBlock(self, original, updated):
        return updated.with_changes(body=self._swap(updated.body))


def _findings(source: str) -> list[tuple[str, str]]:
    model = SemanticModel.build(cst.parse_module(source), "fixture.py", source=source)
    out = []
    for rule in all_rules():
        for report in rule.check(model):
            out.append((rule.code, model.code(report.node, 200)))
    return sorted(out)


def _swappable() -> list[Path]:
    found = []
    for path in sorted(STATIC.rglob("*.py")):
        swap = _Swap()
        try:
            tree = cst.parse_module(path.read_text(encoding="utf-8"))
        except cst.ParserSyntaxError:
            continue  # notebook exports with IPython lines: the engine's pre-pass reads those
        tree.visit(swap)
        if swap.done:
            found.append(path)
    return found


SWAPPABLE = _swappable()


def test_some_fixtures_call_one_helper_twice() -> None:
    assert len(SWAPPABLE) >= 3


@pytest.mark.parametrize("path", SWAPPABLE, ids=lambda p: str(p.relative_to(STATIC)))
def test_swapping_two_calls_to_one_helper_keeps_the_findings(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    swapped = cst.parse_module(source).visit(_Swap()).code
    assert _findings(swapped) == _findings(source)
