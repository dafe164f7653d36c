"""The ecosystem check: its manifest's shape, and its scoring on a synthetic mirror.

The real corpus needs fetched snapshots of third-party repositories, which tests may
not download; so the runner is exercised end to end on two tiny git repositories
written here (one work tree, one bare, as `fetch` leaves either), with code of our
own, plus a project whose snapshot is missing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "ecosystem.py"
MANIFEST = REPO / "ecosystem" / "manifest.json"


def _load_script():
    spec = importlib.util.spec_from_file_location("ecosystem_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


eco = _load_script()


# ----------------------------------------------------------------- the real manifest


def test_manifest_is_valid_and_large_enough() -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    codes = eco.implemented_codes()
    assert {"CLS101", "CLS501"} <= codes, "clsaudit rules did not list the catalogue"
    assert eco.validate_manifest(manifest, codes | eco.PLANNED_CODES) == []
    projects = manifest["projects"]
    assert len(projects) >= 40
    assert len({p["id"] for p in projects}) == len(projects)
    bugs = [b for p in projects for labels in p["labels"].values() for b in labels["bugs"]]
    assert len(bugs) >= 40
    assert all(b["code"] in codes | eco.PLANNED_CODES and b["why"].strip() for b in bugs)


def _minimal(**overrides) -> dict:
    project = {
        "id": "p", "repo": "acme/alpha", "commit": "a" * 40, "root": "", "why": "w",
        "files": ["train.py"],
        "labels": {"train.py": {"bugs": [{"code": "CLS101", "line": 3, "why": "softmax"}],
                                "traps": [], "unsure": []}},
    }
    project.update(overrides)
    return {"projects": [project]}


@pytest.mark.parametrize(
    ("manifest", "needle"),
    [
        ({"projects": [_minimal()["projects"][0], _minimal()["projects"][0]]}, "duplicate id"),
        (_minimal(commit="abc"), "40 lowercase hex"),
        (_minimal(repo="not-a-repo"), "owner/name"),
        (_minimal(labels={"train.py": {"bugs": [{"code": "CLS999", "line": 3, "why": "x"}]}}), "not in the catalogue"),
        (_minimal(labels={"train.py": {"bugs": [{"code": "CLS101", "line": 0, "why": "x"}]}}), "positive integer"),
        (_minimal(labels={"train.py": {"bugs": [{"code": "CLS101", "line": 3, "why": " "}]}}), "no 'why'"),
        (_minimal(labels={"other.py": {"bugs": []}}), "does not materialise"),
        (_minimal(files=["nb.ipynb"], labels={"nb.ipynb": {"bugs": [{"code": "CLS204", "line": 2, "why": "x"}]}}), "no integer 'cell'"),
    ],
)
def test_validation_reports_each_defect(manifest: dict, needle: str) -> None:
    problems = eco.validate_manifest(manifest, frozenset({"CLS101", "CLS204"}))
    assert any(needle in problem for problem in problems), problems


def test_a_minimal_manifest_validates() -> None:
    assert eco.validate_manifest(_minimal(), frozenset({"CLS101"})) == []


# ----------------------------------------------------------------- scoring logic


def test_compare_counts_hits_misses_traps_and_unsure() -> None:
    labels = {
        "a.py": {
            "bugs": [{"code": "CLS101", "line": 10, "why": "found"},
                     {"code": "CLS501", "line": 20, "alt_lines": [22], "why": "found at alt"},
                     {"code": "CLS204", "line": 30, "why": "missed"}],
            "traps": [{"code": "CLS305", "line": 5, "why": "eval loader"}],
            "unsure": [{"code": "CLS302", "line": 7, "why": "flag-dependent"}],
        },
        "n.ipynb": {"bugs": [{"code": "CLS204", "cell": 3, "line": 4, "why": "nb"}], "traps": [], "unsure": []},
    }
    findings = [
        {"path": "a.py", "code": "CLS101", "line": 10},
        {"path": "a.py", "code": "CLS101", "line": 10},  # a duplicate counts once
        {"path": "a.py", "code": "CLS501", "line": 22},
        {"path": "a.py", "code": "CLS305", "line": 5},
        {"path": "a.py", "code": "CLS302", "line": 7},
        {"path": "b.py", "code": "CLS203", "line": 1, "message": "stray"},
        {"path": "n.ipynb", "code": "CLS204", "cell": 2, "line": 4},  # wrong cell
    ]
    score = eco.compare(labels, findings)
    assert (score["tp"], score["fp"], score["fn"]) == (2, 3, 2)
    assert {(m["path"], m["code"]) for m in score["misses"]} == {("a.py", "CLS204"), ("n.ipynb", "CLS204")}
    whys = sorted(alarm["why"] for alarm in score["false_alarms"])
    assert whys == ["trap: eval loader", "unlabelled: ", "unlabelled: stray"]
    assert [u["code"] for u in score["unsure_hits"]] == ["CLS302"]
    assert eco.ratios(2, 3, 2) == (0.4, 0.5)
    # clsaudit counts cells from 1, labels index them from 0: cell 4 is label cell 3
    nb = eco.compare({"n.ipynb": labels["n.ipynb"]}, [{"path": "n.ipynb", "code": "CLS204", "cell": 4, "line": 4}])
    assert (nb["tp"], nb["fp"], nb["fn"]) == (1, 0, 0)
    assert eco.ratios(0, 0, 0) == (1.0, 1.0)


# ----------------------------------------------------------------- end to end

BUGGY = """import torch
import torch.nn.functional as F
logits = torch.zeros(4, 3)
probs = torch.softmax(logits, dim=1)
loss = F.cross_entropy(probs, torch.zeros(4).long())
"""


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout.strip()


def _work_repo(path: Path, files: dict[str, str]) -> str:
    path.mkdir(parents=True)
    _git(path, "init", "-q")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    _git(path, "add", ".")
    _git(path, "commit", "-q", "-m", "files")
    return _git(path, "rev-parse", "HEAD")


@pytest.fixture()
def synthetic(tmp_path: Path) -> tuple[Path, Path]:
    """Mirrors for acme/alpha (work tree, nested root) and acme/beta (bare); acme/gamma missing, delta's commit absent."""
    mirrors = tmp_path / "mirrors"
    alpha = _work_repo(mirrors / "acme+alpha" / "repo", {
        "proj/train.py": BUGGY, "proj/helpers.py": "VALUE = 1\n", "README.md": "not materialised\n"})
    beta_src = tmp_path / "beta-src"
    beta = _work_repo(beta_src, {"train.py": BUGGY})
    _git(tmp_path, "clone", "-q", "--bare", str(beta_src), str(mirrors / "acme+beta" / "repo"))
    projects = [
        {"id": "alpha", "repo": "acme/alpha", "commit": alpha, "root": "proj", "why": "w",
         "files": ["proj/*.py"],
         "labels": {"proj/train.py": {
             "bugs": [{"code": "CLS101", "line": 5, "why": "softmax into cross-entropy"},
                      {"code": "CLS204", "line": 4, "why": "a bug clsaudit cannot see here"}],
             "traps": [], "unsure": []}}},
        {"id": "beta", "repo": "acme/beta", "commit": beta, "root": "", "why": "w",
         "files": ["train.py"],
         "labels": {"train.py": {"bugs": [], "traps": [{"code": "CLS101", "line": 5, "why": "labelled as correct"}],
                                 "unsure": []}}},
        {"id": "gamma", "repo": "acme/gamma", "commit": "b" * 40, "root": "", "why": "w",
         "files": ["x.py"], "labels": {}},
        {"id": "delta", "repo": "acme/alpha", "commit": "c" * 40, "root": "", "why": "w",
         "files": ["x.py"], "labels": {}},
    ]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"projects": projects}))
    return manifest, mirrors


def test_end_to_end_on_synthetic_mirrors(synthetic, tmp_path: Path, capsys) -> None:
    manifest, mirrors = synthetic
    out = tmp_path / "out"
    code = eco.main(["--manifest", str(manifest), "--mirrors", str(mirrors), "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["totals"] == {"projects": 2, "skipped": 2, "tp": 1, "fp": 1, "fn": 1,
                                "precision": 0.5, "recall": 0.5}
    by_id = {p["id"]: p for p in report["projects"]}
    assert "fetch github:acme/gamma" in by_id["gamma"]["skipped"]
    assert "lacks commit " + "c" * 40 in by_id["delta"]["skipped"]
    assert by_id["alpha"]["files"] == 2  # README.md is not materialised
    assert (out / "alpha" / "proj" / "helpers.py").read_text() == "VALUE = 1\n"
    assert by_id["beta"]["false_alarms"][0]["why"] == "trap: labelled as correct"
    assert by_id["alpha"]["misses"][0]["code"] == "CLS204"


def test_thresholds_set_the_exit_status(synthetic, capsys) -> None:
    manifest, mirrors = synthetic
    args = ["--manifest", str(manifest), "--mirrors", str(mirrors), "--project", "alpha"]
    assert eco.main([*args, "--min-precision", "0.9", "--min-recall", "0.4"]) == 0
    assert eco.main([*args, "--min-recall", "0.9"]) == 1
    text = capsys.readouterr().out
    assert "MISS: proj/train.py:4 CLS204" in text
    assert "TOTAL 1 projects run, 0 skipped" in text


def test_bad_manifest_and_unknown_project_exit_2(tmp_path: Path, synthetic, capsys) -> None:
    manifest, mirrors = synthetic
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_minimal(commit="nothex")))
    assert eco.main(["--manifest", str(bad), "--check-manifest"]) == 2
    assert eco.main(["--manifest", str(manifest), "--mirrors", str(mirrors), "--project", "nope"]) == 2
    assert "unknown project ids" in capsys.readouterr().err
