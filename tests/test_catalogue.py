"""The catalogue itself, as TorchFix tests its codes: unique codes, kebab-case names, every
documentation section, a registry that lists exactly the rule files, and probe checks that
name rules which exist."""

from __future__ import annotations

import re
from pathlib import Path

from clsaudit.probe.catalogue import CHECKS
from clsaudit.rule import DOC_SECTIONS
from clsaudit.rules import RULE_MODULES, all_rules

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"


def test_codes_and_names_are_unique_and_well_formed() -> None:
    rules = all_rules()
    codes = [r.code for r in rules]
    names = [r.name for r in rules]
    assert len(set(codes)) == len(codes)
    assert len(set(names)) == len(names)
    for rule in rules:
        assert re.fullmatch(r"CLS[1-5]\d\d", rule.code), rule.code
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", rule.name), rule.name
        assert rule.severity in {"error", "warning", "info"}, rule.code
        assert rule.summary and "\n" not in rule.summary, rule.code


def test_every_rule_documents_every_section() -> None:
    for rule in all_rules():
        headings = re.findall(r"^## (.+)$", rule.doc, re.MULTILINE)
        for section in DOC_SECTIONS:
            assert any(h.startswith(section) for h in headings), (rule.code, section)
        assert "seeds'" not in rule.doc, rule.code  # no internal references in user-visible docs


def test_registry_lists_exactly_the_rule_files() -> None:
    files = {p.stem for p in RULES_DIR.glob("*.py") if not p.stem.startswith("_")}
    assert set(RULE_MODULES) == files
    assert len(RULE_MODULES) == len(set(RULE_MODULES))


def test_probe_checks_confirm_rules_that_exist() -> None:
    codes = {r.code for r in all_rules()}
    ids = [c.id for c in CHECKS]
    assert len(ids) == len(set(ids))
    for check in CHECKS:
        assert re.fullmatch(r"PRB[01]\d\d", check.id), check.id
        assert check.rule is None or check.rule in codes, (check.id, check.rule)


def test_every_package_is_declared_for_a_non_editable_install() -> None:
    """A package missing from pyproject's list works in an editable install and breaks after `pip install .`."""
    import tomllib

    root = RULES_DIR.parent
    declared = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    mapped = {"clsaudit": root / "auditor", "clsaudit.rules": root / "rules",
              "clsaudit.reference_pipeline": root / "reference_pipeline"}
    found = set()
    for name, folder in mapped.items():
        for init in folder.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(folder).parts
            found.add(".".join((name, *rel)))
    assert found == declared
