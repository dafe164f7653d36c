"""The rule contract.

A rule is a small class in its own module under ``rules/``. It declares its
stable ``code``, a kebab-case ``name`` that names the bad pattern, a
``severity``, a one-line ``summary`` and its documentation, and implements
``check(model)`` which yields :class:`~clsaudit.findings.Report` objects.
Rules never walk the syntax tree for the hard questions (what a name is
bound to, whether a loop trains or evaluates): the semantic model answers
them once per file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Iterable

from clsaudit.findings import Report

if TYPE_CHECKING:  # pragma: no cover
    from clsaudit.semantic import SemanticModel

DOC_SECTIONS = ("What it does", "Why is this bad", "Example", "Use instead", "References")


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[str]  # "error" | "warning" | "info"
    summary: ClassVar[str]  # one line, shown by `clsaudit rules`
    doc: ClassVar[str]  # markdown with the DOC_SECTIONS as "## " headings
    fixable: ClassVar[bool] = False

    def check(self, semantic: "SemanticModel") -> Iterable[Report]:  # pragma: no cover
        raise NotImplementedError
