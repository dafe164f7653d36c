"""Every fixture's `# expect: CODE` marks against the findings, both ways.

A line with a mark must produce exactly those codes; a line without one
must produce none. Single files are checked alone; each folder under
``fixtures/static/multi`` is checked together, as a project, so cross-file
summaries are exercised.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from clsaudit.analysis import analyze_source
from clsaudit.rules import all_rules

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "fixtures" / "static"
MARK = re.compile(r"#\s*expect:\s*([A-Z0-9 ,]+)")


def expected_marks(path: Path) -> dict[int, set[str]]:
    """Marks by line of the text the rules see (a notebook's joined code cells)."""
    from clsaudit.source_text import decode_source

    marks: dict[int, set[str]] = {}
    for no, line in enumerate(decode_source(str(path), path.read_bytes()).splitlines(), start=1):
        m = MARK.search(line)
        if m:
            marks[no] = {c.strip() for c in m.group(1).split(",") if c.strip()}
    return marks


def single_fixtures() -> list[Path]:
    found = [*STATIC.rglob("*.py"), *STATIC.rglob("*.ipynb")]
    return sorted(p for p in found if "multi" not in p.relative_to(STATIC).parts)


def project_fixtures() -> list[Path]:
    multi = STATIC / "multi"
    return sorted(p for p in multi.iterdir() if p.is_dir()) if multi.is_dir() else []


def found_marks(findings) -> dict[int, set[str]]:
    out: dict[int, set[str]] = defaultdict(set)
    for f in findings:
        out[f.line].add(f.code)
    return dict(out)


def diff(path: Path, expected: dict[int, set[str]], found: dict[int, set[str]], messages: dict) -> list[str]:
    problems = []
    for line in sorted(set(expected) | set(found)):
        exp, got = expected.get(line, set()), found.get(line, set())
        for code in sorted(exp - got):
            problems.append(f"{path.name}:{line}: missing {code}")
        for code in sorted(got - exp):
            problems.append(f"{path.name}:{line}: unexpected {code}: {messages.get((line, code), '')}")
    return problems


def implemented(marks: dict[int, set[str]]) -> dict[int, set[str]]:
    codes = {r.code for r in all_rules()}
    return {line: c & codes for line, c in marks.items() if c & codes}


@pytest.mark.parametrize("path", single_fixtures(), ids=lambda p: str(p.relative_to(STATIC)))
def test_single_file_fixture(path: Path) -> None:
    result = analyze_source(str(path), path.read_bytes(), all_rules())
    assert result.error is None, result.error
    messages = {(f.line, f.code): f.message for f in result.findings}
    problems = diff(path, implemented(expected_marks(path)), found_marks(result.findings), messages)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("folder", project_fixtures(), ids=lambda p: p.name)
def test_project_fixture(folder: Path) -> None:
    from clsaudit.config import Config
    from clsaudit.engine import check_paths

    report = check_paths([str(folder)], Config(root=folder), rules=all_rules(), use_cache=False, jobs=1)
    by_file: dict[str, list] = defaultdict(list)
    for f in report.findings:
        by_file[str(Path(f.path).resolve())].append(f)
    problems = []
    for path in sorted(folder.rglob("*.py")):
        findings = by_file.get(str(path.resolve()), [])
        messages = {(f.line, f.code): f.message for f in findings}
        problems += diff(path, implemented(expected_marks(path)), found_marks(findings), messages)
    assert not report.errors, report.errors
    assert not problems, "\n".join(problems)


def test_fixture_corpus_is_not_empty() -> None:
    files = single_fixtures()
    assert len(files) >= 20
    assert sum(bool(expected_marks(p)) for p in files) >= 10


def test_every_marked_code_is_a_registered_rule() -> None:
    """Marks for a code no rule implements would otherwise be silently ignored."""
    codes = {r.code for r in all_rules()}
    unknown = {
        f"{p.relative_to(STATIC)}:{line}: {code}"
        for p in STATIC.rglob("*.py")
        for line, marks in expected_marks(p).items()
        for code in marks - codes
    }
    assert not unknown, sorted(unknown)
