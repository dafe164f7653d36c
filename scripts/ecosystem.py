"""Ecosystem check: clsaudit on public training code, scored against labels read by hand.

Our fixtures are written by us, in our style; real training scripts are not. This
script measures clsaudit on public projects that people really copy (see
`ecosystem/manifest.json`): for each project it materialises the pinned files from a
`fetch`ed git snapshot into a folder laid out as the repository is, runs
`python -m clsaudit --format json FILES` once from the project's root (as a user
would, with the clsaudit of the running interpreter), and compares the findings with
the labels on (file, code, line). Labels were written from reading the code before
clsaudit ran on it (the git history of the manifest shows the order).

Third-party code is never committed: only the manifest (repository, commit, paths,
labels) lives in this repository; the snapshots come from the `fetch` tool, which
leaves them under `/work/.mirror/OWNER+NAME/`.

Scoring: a `bugs` label found at its line (or one of its `alt_lines`, where DESIGN's
"where a finding points" allows more than one statement) is a true positive; a bug
label not found is a miss; any other finding is a false alarm, annotated with the
`traps` label it hits (the correct idiom a naive check flags) where there is one.
Findings that hit an `unsure` label are listed but not scored. Notebook labels carry
a `cell` index (0-based, into the notebook's `cells`) and a line within that cell; a
finding on a notebook matches them when its `cell` (clsaudit's JSON counts cells from 1,
over all cells, as ruff does) names the same cell.

Usage:
    python scripts/ecosystem.py [--mirrors DIR] [--out DIR] [--project ID ...]
                                [--json] [--min-precision P] [--min-recall R]
    python scripts/ecosystem.py --check-manifest
Exit status: 0, or 1 when --min-precision/--min-recall are given and not met,
or 2 for a manifest that does not validate or a usage error.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = REPO_ROOT / "ecosystem" / "manifest.json"
DEFAULT_MIRRORS = REPO_ROOT.parent / ".mirror"

# Codes reserved in DESIGN's "Planned" table: labels may name them before the rule
# exists (they are then misses by construction, which is the point of labelling them).
PLANNED_CODES = frozenset({"CLS105", "CLS209", "CLS307", "CLS308", "CLS309", "CLS402", "CLS503"})
LABEL_KINDS = ("bugs", "traps", "unsure")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_CODE = re.compile(r"^CLS\d{3}$")


class ManifestError(ValueError):
    """The manifest does not have the shape this script (and its reader) relies on."""


# --------------------------------------------------------------------------- manifest


def implemented_codes() -> frozenset[str]:
    """The rule codes of the installed clsaudit, read from `clsaudit rules` as a user would."""
    done = subprocess.run(
        [sys.executable, "-m", "clsaudit", "rules"], capture_output=True, text=True, check=False
    )
    return frozenset(line.split("\t", 1)[0] for line in done.stdout.splitlines() if _CODE.match(line[:6]))


def validate_manifest(manifest: dict, known_codes: frozenset[str]) -> list[str]:
    """Every problem with the manifest, as sentences; an empty list means it is valid.

    Checked: unique project ids, 40-hex commits, a non-empty `files` list of relative
    paths, labels only on materialised files, and every label with a catalogue `code`,
    a positive integer `line` (plus `cell` for notebooks) and a `why`.
    """
    problems: list[str] = []
    projects = manifest.get("projects")
    if not isinstance(projects, list) or not projects:
        return ["manifest has no 'projects' list"]
    seen: set[str] = set()
    for index, project in enumerate(projects):
        where = f"project #{index} ({project.get('id', '?')})"
        for key in ("id", "repo", "commit", "root", "files", "labels", "why"):
            if key not in project:
                problems.append(f"{where}: missing '{key}'")
        pid = project.get("id")
        if pid in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(pid)
        if not _HEX40.match(str(project.get("commit", ""))):
            problems.append(f"{where}: commit is not 40 lowercase hex digits")
        if not re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", str(project.get("repo", ""))):
            problems.append(f"{where}: repo is not owner/name")
        files = project.get("files") or []
        if not files or any(str(f).startswith(("/", "..")) for f in files):
            problems.append(f"{where}: 'files' must be a non-empty list of repository-relative paths")
        for path, labels in (project.get("labels") or {}).items():
            if not any(fnmatch.fnmatchcase(path, pattern) for pattern in files):
                problems.append(f"{where}: labels for {path}, which 'files' does not materialise")
            for kind in LABEL_KINDS:
                for label in labels.get(kind, []):
                    problems.extend(_label_problems(f"{where} {path} {kind}", label, path, known_codes))
            extra = set(labels) - set(LABEL_KINDS)
            if extra:
                problems.append(f"{where} {path}: unknown label kinds {sorted(extra)}")
    return problems


def _label_problems(where: str, label: dict, path: str, known_codes: frozenset[str]) -> list[str]:
    problems = []
    code = label.get("code")
    if code not in known_codes:
        problems.append(f"{where}: code {code!r} is not in the catalogue")
    line = label.get("line")
    if not isinstance(line, int) or line < 1:
        problems.append(f"{where}: line {line!r} is not a positive integer")
    if not str(label.get("why", "")).strip():
        problems.append(f"{where}: label {code} line {line} has no 'why'")
    if path.endswith(".ipynb") and not isinstance(label.get("cell"), int):
        problems.append(f"{where}: notebook label {code} line {line} has no integer 'cell'")
    if any(not isinstance(alt, int) for alt in label.get("alt_lines", [])):
        problems.append(f"{where}: alt_lines must be integers")
    return problems


# --------------------------------------------------------------------------- snapshots


def snapshot_git_dir(mirrors: Path, repo: str) -> Path | None:
    """The git directory `fetch` left for REPO (bare `repo/` or a work tree's `repo/.git`)."""
    base = mirrors / repo.replace("/", "+") / "repo"
    for candidate in (base / ".git", base):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, check=True
    ).stdout


def materialise(git_dir: Path, commit: str, patterns: list[str], dest: Path) -> list[str]:
    """Write the files of COMMIT matching PATTERNS under DEST in the repository's layout.

    Patterns are `fnmatch` patterns on repository paths (`*` also crosses `/`), so
    `models/*.py` brings a whole model package. Returns the paths written, sorted.
    """
    listing = _git(git_dir, "ls-tree", "-r", "--name-only", "-z", commit).decode().split("\0")
    chosen = sorted({p for p in listing if p and any(fnmatch.fnmatchcase(p, pat) for pat in patterns)})
    for path in chosen:
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git(git_dir, "cat-file", "blob", f"{commit}:{path}"))
    return chosen


# --------------------------------------------------------------------------- running


@dataclass
class RunResult:
    """What one clsaudit run over a project said: findings, or why there are none."""

    findings: list[dict] = field(default_factory=list)
    error: str | None = None


def _path_from(cwd: Path, path: Path) -> str:
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def run_clsaudit(project_dir: Path, root: str, files: list[str]) -> RunResult:
    """Run `python -m clsaudit --format json` once from the project's root over its files."""
    cwd = project_dir / root if root else project_dir
    # Paths as a user at the root would type them; a file outside the root (a sibling
    # module one level up) is passed by its absolute path.
    rel = [_path_from(cwd, project_dir / f) for f in files]
    done = subprocess.run(
        [sys.executable, "-m", "clsaudit", "--format", "json", *rel],
        cwd=cwd, capture_output=True, text=True, check=False,
    )
    try:
        raw = json.loads(done.stdout) if done.stdout.strip() else []
    except json.JSONDecodeError:
        return RunResult(error=f"exit {done.returncode}, output is not JSON: {(done.stdout + done.stderr)[-400:]}")
    if not isinstance(raw, list):
        return RunResult(error=f"exit {done.returncode}, unexpected JSON: {str(raw)[:400]}")
    findings = []
    for item in raw:
        path = (cwd / item["path"]).resolve() if not Path(item["path"]).is_absolute() else Path(item["path"])
        try:
            repo_path = path.relative_to(project_dir.resolve()).as_posix()
        except ValueError:
            repo_path = item["path"]
        findings.append({**item, "path": repo_path})
    error = None
    if done.returncode not in (0, 1):
        error = f"exit {done.returncode}: {done.stderr.strip()[-400:]}"
    return RunResult(findings=findings, error=error)


# --------------------------------------------------------------------------- scoring


def _lines(label: dict) -> set[int]:
    return {label["line"], *label.get("alt_lines", [])}


def _cell_index(finding: dict):
    """The 0-based index of a notebook finding's cell (clsaudit reports cells from 1)."""
    cell = finding.get("cell")
    return cell - 1 if isinstance(cell, int) else None


def _hits(label: dict, finding: dict, path: str) -> bool:
    if finding["path"] != path or finding["code"] != label["code"]:
        return False
    if "cell" in label and _cell_index(finding) != label["cell"]:
        return False
    return finding["line"] in _lines(label)


def compare(labels: dict[str, dict], findings: list[dict]) -> dict:
    """Score FINDINGS against LABELS (path -> {bugs, traps, unsure}).

    Returns {tp, fp, fn, hits, misses, false_alarms, unsure_hits}; each listed entry
    carries path, code, line and a `why` (the label's, or clsaudit's message for an
    unlabelled finding). Identical (path, code, line, cell) findings count once.
    """
    unique: dict[tuple, dict] = {}
    for finding in findings:
        unique.setdefault((finding["path"], finding["code"], finding["line"], finding.get("cell")), finding)
    pending = list(unique.values())
    hits, misses = [], []
    for path, kinds in sorted(labels.items()):
        for bug in kinds.get("bugs", []):
            match = next((f for f in pending if _hits(bug, f, path)), None)
            entry = {"path": path, **{k: bug[k] for k in ("code", "line", "why") if k in bug}}
            if "cell" in bug:
                entry["cell"] = bug["cell"]
            if match is None:
                misses.append(entry)
            else:
                pending.remove(match)
                hits.append(entry)
    false_alarms, unsure_hits = [], []
    for finding in pending:
        kinds = labels.get(finding["path"], {})
        unsure = next((u for u in kinds.get("unsure", []) if _hits(u, finding, finding["path"])), None)
        entry = {"path": finding["path"], "code": finding["code"], "line": finding["line"]}
        if unsure is not None:
            unsure_hits.append({**entry, "why": unsure["why"]})
            continue
        trap = next((t for t in kinds.get("traps", []) if _hits(t, finding, finding["path"])), None)
        if trap is not None:
            false_alarms.append({**entry, "why": f"trap: {trap['why']}"})
        else:
            false_alarms.append({**entry, "why": f"unlabelled: {finding.get('message', '')}"})
    return {
        "tp": len(hits), "fp": len(false_alarms), "fn": len(misses),
        "hits": hits, "misses": misses, "false_alarms": false_alarms, "unsure_hits": unsure_hits,
    }


def ratios(tp: int, fp: int, fn: int) -> tuple[float, float]:
    """Precision and recall; 1.0 where nothing was reported or nothing was there to find."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


# --------------------------------------------------------------------------- driver


def check_project(project: dict, mirrors: Path, out: Path) -> dict:
    """Materialise, run and score one project; a missing snapshot makes it 'skipped'."""
    result = {"id": project["id"], "repo": project["repo"], "commit": project["commit"]}
    git_dir = snapshot_git_dir(mirrors, project["repo"])
    fetch_hint = f"fetch github:{project['repo']} (the `fetch` tool) to bring {mirrors / project['repo'].replace('/', '+')}"
    if git_dir is None:
        return {**result, "skipped": f"no snapshot: {fetch_hint}"}
    try:
        _git(git_dir, "cat-file", "-e", f"{project['commit']}^{{commit}}")
    except subprocess.CalledProcessError:
        return {**result, "skipped": f"snapshot lacks commit {project['commit']}: {fetch_hint} again"}
    dest = out / project["id"]
    try:
        files = materialise(git_dir, project["commit"], project["files"], dest)
    except subprocess.CalledProcessError as exc:
        reason = exc.stderr.decode(errors="replace").strip() if exc.stderr else str(exc)
        return {**result, "skipped": f"cannot read the snapshot ({reason}): {fetch_hint} again"}
    missing = [p for p in project["labels"] if p not in files]
    if missing:
        return {**result, "skipped": f"labelled files absent at that commit: {missing}"}
    run = run_clsaudit(dest, project["root"], files)
    score = compare(project["labels"], run.findings)
    return {**result, "files": len(files), "error": run.error, **score}


def render(results: list[dict]) -> str:
    """Human-readable report: per project, then the totals."""
    lines: list[str] = []
    tp = fp = fn = 0
    for res in results:
        if "skipped" in res:
            lines.append(f"SKIP {res['id']}: {res['skipped']}")
            continue
        tp, fp, fn = tp + res["tp"], fp + res["fp"], fn + res["fn"]
        lines.append(f"{res['id']} ({res['repo']}@{res['commit'][:10]}, {res['files']} files): "
                     f"TP {res['tp']} FP {res['fp']} FN {res['fn']}")
        if res.get("error"):
            lines.append(f"  clsaudit error: {res['error']}")
        for kind, tag in (("misses", "MISS"), ("false_alarms", "FALSE ALARM"), ("unsure_hits", "unsure")):
            for item in res[kind]:
                cell = f" cell {item['cell']}" if "cell" in item else ""
                lines.append(f"  {tag}: {item['path']}{cell}:{item['line']} {item['code']} - {item['why']}")
    precision, recall = ratios(tp, fp, fn)
    ran = sum(1 for r in results if "skipped" not in r)
    lines.append(f"TOTAL {ran} projects run, {len(results) - ran} skipped: TP {tp} FP {fp} FN {fn} "
                 f"precision {precision:.3f} recall {recall:.3f}")
    return "\n".join(lines)


def totals(results: list[dict]) -> dict:
    """Summed counts and ratios over the projects that ran."""
    ran = [r for r in results if "skipped" not in r]
    tp, fp, fn = (sum(r[k] for r in ran) for k in ("tp", "fp", "fn"))
    precision, recall = ratios(tp, fp, fn)
    return {"projects": len(ran), "skipped": len(results) - len(ran), "tp": tp, "fp": fp, "fn": fn,
            "precision": precision, "recall": recall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS,
                        help="folder of fetched snapshots (default: ../.mirror beside the repository)")
    parser.add_argument("--out", type=Path, help="materialise here (default: a temporary folder)")
    parser.add_argument("--project", action="append", help="only this project id (repeatable)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--min-precision", type=float)
    parser.add_argument("--min-recall", type=float)
    parser.add_argument("--check-manifest", action="store_true", help="validate the manifest and stop")
    args = parser.parse_args(argv)

    if shutil.which("git") is None:
        print("git is not on PATH: the snapshots are git repositories", file=sys.stderr)
        return 2
    try:
        manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read manifest {args.manifest}: {exc}", file=sys.stderr)
        return 2
    problems = validate_manifest(manifest, implemented_codes() | PLANNED_CODES)
    if problems:
        print("manifest does not validate:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.check_manifest:
        print(f"manifest valid: {len(manifest['projects'])} projects")
        return 0
    projects = [p for p in manifest["projects"] if not args.project or p["id"] in args.project]
    if args.project and len(projects) != len(set(args.project)):
        unknown = set(args.project) - {p["id"] for p in projects}
        print(f"unknown project ids: {sorted(unknown)}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="clsaudit-eco-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        results = [check_project(p, args.mirrors, out) for p in projects]

    summary = totals(results)
    if args.json:
        print(json.dumps({"totals": summary, "projects": results}, indent=1))
    else:
        print(render(results))
    failed = (args.min_precision is not None and summary["precision"] < args.min_precision) or (
        args.min_recall is not None and summary["recall"] < args.min_recall)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
