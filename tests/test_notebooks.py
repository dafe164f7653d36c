"""Notebooks as ruff handles them: cells in order, magics neutralised in place, cell positions,
suppressions inside cells, and ``--fix`` that rewrites only the affected cells' ``source``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from clsaudit.cli import cli
from clsaudit.notebook import NotebookError, load_notebook, replace_sources, source_spans
from clsaudit.notebook_magics import neutralise, parses
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "fixtures" / "static" / "notebooks"
BUGGY = NOTEBOOKS / "buggy_mnist_colab.ipynb"


def invoke(*args: str):
    return CliRunner().invoke(cli, ["--no-cache", *args], catch_exceptions=False)


def notebook(*cells: str, kind: str = "code", language: str = "python") -> str:
    document = {
        "cells": [
            {"cell_type": kind, "execution_count": None, "metadata": {}, "outputs": [],
             "source": cell.splitlines(keepends=True)}
            for cell in cells
        ],
        "metadata": {"kernelspec": {"language": language, "name": "k"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return tmp_path


def test_a_notebook_in_a_folder_is_found_and_reported_by_cell(workdir):
    shutil.copy(BUGGY, workdir / "nb.ipynb")
    result = invoke(".")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("nb.ipynb:cell 7:line 7:col 16: CLS101 ") for line in lines)
    assert any(line.startswith("nb.ipynb:cell 7:line 9:col 9: CLS201 ") for line in lines)
    assert any(line.startswith("nb.ipynb:cell 8:line 6:col 16: CLS104 [*] ") for line in lines)
    # References inside messages use the same numbering.
    assert "applied at cell 7, line 7;" in result.stdout


def test_a_named_notebook_is_checked_not_read_as_a_dict_literal(workdir):
    shutil.copy(BUGGY, workdir / "nb.ipynb")
    result = invoke("nb.ipynb")
    assert result.exit_code == 1 and "No findings" not in result.stdout
    clean = invoke(str(NOTEBOOKS / "clean_mnist_colab.ipynb"))
    assert clean.exit_code == 0 and "No findings in 1 file." in clean.stdout


def test_json_follows_the_notebook_numbering(workdir):
    shutil.copy(BUGGY, workdir / "nb.ipynb")
    data = json.loads(invoke("--format", "json", "nb.ipynb").stdout)
    first = data[0]
    assert (first["code"], first["cell"], first["line"], first["end_cell"]) == ("CLS101", 7, 7, 7)
    joined = load_notebook(BUGGY.read_bytes()).text.splitlines()
    assert "F.softmax(model(x), dim=1)" in joined[first["joined_line"] - 1]
    assert first["column"] == 16 and first["end_line"] == 7


def test_suppressions_inside_cells(workdir):
    cell = BUGGY.read_text()
    text = cell.replace("argmax(1)  # expect: CLS104", "argmax(1)  # clsaudit: ignore[CLS104]")
    (workdir / "nb.ipynb").write_text(text)
    result = invoke("--format", "json", "nb.ipynb")
    assert "CLS104" not in {f["code"] for f in json.loads(result.stdout)}


def test_fix_rewrites_only_the_affected_cell_source(workdir):
    path = workdir / "nb.ipynb"
    shutil.copy(BUGGY, path)
    before = path.read_text()
    result = invoke("--fix", "--select", "CLS104", "nb.ipynb")  # the CLS201 fix edits cell 7 too
    after = path.read_text()
    assert "CLS104" not in result.stdout and "Fixed 1 finding" in result.stderr
    old, new = json.loads(before), json.loads(after)
    changed = [i for i, (a, b) in enumerate(zip(old["cells"], new["cells"])) if a != b]
    assert changed == [7]
    assert {k: v for k, v in old["cells"][7].items() if k != "source"} == {
        k: v for k, v in new["cells"][7].items() if k != "source"
    }
    fixed = "".join(new["cells"][7]["source"])
    assert "pred = model(x.to(device)).argmax(1)" in fixed
    assert "!echo evaluating\n" in fixed  # the shell escape is put back as written
    # Byte for byte outside the rewritten span: same layout, outputs, metadata.
    start, end = source_spans(before)[7]
    new_start, new_end = source_spans(after)[7]
    assert before[:start] == after[:new_start] and before[end:] == after[new_end:]
    assert invoke("--fix", "--select", "CLS104", "nb.ipynb").stderr.count("Fixed") == 0
    assert path.read_text() == after


def test_diff_on_a_notebook_writes_nothing(workdir):
    path = workdir / "nb.ipynb"
    shutil.copy(BUGGY, path)
    result = invoke("--diff", "nb.ipynb")
    assert result.exit_code == 1 and "argmax(1)" in result.stdout
    assert path.read_bytes() == BUGGY.read_bytes()


@pytest.mark.parametrize(
    "source, expected",
    [
        ("!pip install timm\nimport torch\n", "pass  # !pip install timm\nimport torch\n"),
        ("%matplotlib inline\n", "pass  # %matplotlib inline\n"),
        ("files = !ls data\n", "files = None  # !ls data\n"),
        ("if True:\n    %time f()\n", "if True:\n    pass  # %time f()\n"),
        ("model?\n", "pass  # model?\n"),
        ("model.fc??\n", "pass  # model.fc??\n"),
        ("x.cuda(async=True)\n", "x.cuda(Async=True)\n"),
        ("%%bash\nls -la\n", "pass  # %%bash\n# ls -la\n"),
        ("%%time\nx = !ls\n", "pass  # %%time\nx = None  # !ls\n"),
    ],
)
def test_magics_are_neutralised_in_place(source, expected):
    assert neutralise(source, cell=True) == expected
    assert parses(expected)


def test_valid_python_is_never_touched():
    text = 'def f():\n    """Is this right?\n    %d items\n    """\n    return 5 % 3\n'
    assert neutralise(text) == text
    text = 'x = (1\n     % 2)\nwhy = "?"\n'
    assert neutralise(text) == text


def test_a_py_export_with_magics_is_checked(workdir):
    result = invoke("--format", "json", str(NOTEBOOKS / "buggy_colab_export.py"))
    assert result.exit_code == 1
    assert {(f["line"], f["code"]) for f in json.loads(result.stdout)} == {(33, "CLS203"), (33, "CLS204")}


def test_other_languages_are_skipped_and_bad_json_is_an_error(workdir):
    (workdir / "r.ipynb").write_text(notebook("print(1)\n", language="R"))
    assert load_notebook((workdir / "r.ipynb").read_bytes()).cells == []
    (workdir / "bad.ipynb").write_text("{not json")
    with pytest.raises(NotebookError):
        load_notebook(b"{not json")
    result = invoke("bad.ipynb")
    assert result.exit_code == 2
    assert "bad.ipynb: error: cannot decode file: not a valid notebook" in result.stderr


def test_replace_sources_keeps_string_sources_and_escapes():
    raw = '{"cells": [{"cell_type": "code", "source": "x = \\u00e9\\n", "outputs": []}], "nbformat": 4}'
    out = replace_sources(raw, {0: "y = 1\n"})
    assert out == '{"cells": [{"cell_type": "code", "source": "y = 1\\n", "outputs": []}], "nbformat": 4}'


def test_a_notebook_uses_the_summaries_of_the_modules_it_imports(workdir):
    source = REPO / "fixtures" / "static" / "multi" / "softmax_model_ce"
    shutil.copy(source / "models.py", workdir / "models.py")
    code = (source / "train.py").read_text()
    (workdir / "train.ipynb").write_text(notebook("%matplotlib inline\n", code))
    result = invoke("--format", "json", ".")
    found = [(f["path"], f["code"], f["cell"], f["line"]) for f in json.loads(result.stdout)]
    expected_line = next(i for i, line in enumerate(code.splitlines(), 1) if "expect: CLS101" in line)
    assert ("train.ipynb", "CLS101", 2, expected_line) in found


_LINES = st.lists(
    st.one_of(
        st.sampled_from(["!pip install x", "%matplotlib inline", "x = !ls", "model?", "%%bash",
                         "    %time f()", "y = 1", "def f():", "    return 2", '"""doc?', '"""',
                         "x.cuda(async=True)", "a = (1", "     % 2)", ""]),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(_LINES, st.sampled_from(["\n", "\r\n"]))
def test_neutralise_never_moves_a_line(lines, ending):
    text = ending.join(lines)
    out = neutralise(text, cell=True)
    assert len(out.splitlines()) == len(text.splitlines())
    assert [len(a) - len(a.rstrip("\r\n")) for a in out.splitlines(keepends=True)] == [
        len(a) - len(a.rstrip("\r\n")) for a in text.splitlines(keepends=True)
    ]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=4), st.sampled_from([0, 1, 2]),
       st.booleans())
def test_replacing_a_cell_source_changes_only_that_cell(sources, indent, ascii_only):
    document = {"cells": [{"cell_type": "code", "metadata": {"k": [1, {"a": "]"}]}, "outputs": [],
                           "source": s.splitlines(keepends=True)} for s in sources],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    raw = json.dumps(document, indent=indent or None, ensure_ascii=ascii_only)
    out = replace_sources(raw, {0: "fixed = 1\nx = 'é'\n"})
    data = json.loads(out)
    assert "".join(data["cells"][0]["source"]) == "fixed = 1\nx = 'é'\n"
    assert data["cells"][1:] == document["cells"][1:]
    assert {k: v for k, v in data["cells"][0].items() if k != "source"} == {
        k: v for k, v in document["cells"][0].items() if k != "source"
    }
