"""Static-engine benchmark against the DESIGN budgets. A script, not a test.

    python tests/benchmarks/bench_static.py [--files N] [--runs N] [--no-competitors]
    python tests/benchmarks/bench_static.py --corpus [--compare-skip]

The default run measures, one after the other on the same files (the
installed torch package's nn, optim and utils/data sources plus the
standard library's top-level modules): libcst's parse-only time with as
many worker processes as clsaudit uses, clsaudit with a cold cache and a
warm one (and, in-process, without the skip), TorchFix and Fixit, each
installed from PyPI into its own throwaway virtualenv (TorchFix pins an
older libcst), then the start-up ratio of ``clsaudit one_file.py`` to
``python -c "import libcst"`` for this (editable) install and for a
``pip install .`` copy. Budgets: cold corpus <= 1x parse-only, >= 5x
faster than TorchFix, >= 50x faster than Fixit, one file <= 1.5x.

``--corpus`` checks the standard library and every installed package
(torch included) in one run: files, crashes (internal errors and parser
crashes), other per-file errors, findings inside and outside torch, time.
``--compare-skip`` runs it again without the skip and diffs the findings.

Timings are wall-clock on whatever machine runs this; on a shared, busy
machine compare only the ratios printed by one run.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "fixtures" / "examples" / "buggy_train.py"
CRASH_WORDS = ("internal error", "parser crashed", "parser aborted", "parser died", "was killed")


def corpus(limit: int) -> list[str]:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    files: list[Path] = []
    if spec and spec.origin:
        torch_dir = Path(spec.origin).parent
        for sub in ("nn", "optim", "utils/data"):
            files += sorted((torch_dir / sub).rglob("*.py"))
        files.append(torch_dir / "_tensor.py")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files += sorted(stdlib.glob("*.py"))
    files = [f for f in files if f.is_file()][:limit]
    return [str(f) for f in files]


def copy_corpus(files: list[str], workdir: Path) -> list[str]:
    """Copy ``files`` under ``workdir`` keeping their package layout (the import graph)."""
    copies = []
    for name in files:
        source = Path(name)
        parts = source.parts
        anchor = parts.index("torch") if "torch" in parts else len(parts) - 1
        target = workdir.joinpath("torch" if "torch" in parts else "stdlib", *parts[anchor:])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copies.append(str(target))
    return copies


def parse_one(path: str) -> int:
    import libcst
    from clsaudit.source_text import decode_source

    with open(path, "rb") as handle:
        data = handle.read()
    try:
        libcst.parse_module(decode_source(path, data))
    except Exception:  # noqa: BLE001 - a file libcst rejects still cost its attempt
        return 0
    return 1


def parse_pool(files: list[str], jobs: int) -> float:
    import multiprocessing

    import libcst  # noqa: F401 - imported before fork, as clsaudit's workers have it

    start = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(parse_one, files, chunksize=max(1, len(files) // (jobs * 8))))
    return time.perf_counter() - start


def clsaudit_command(python: str = sys.executable) -> list[str]:
    script = Path(python).with_name("clsaudit")
    return [str(script)] if script.exists() else [python, "-m", "clsaudit"]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   cwd=REPO)
    return time.perf_counter() - start


def median_of(cmd: list[str], runs: int) -> float:
    timed(cmd)  # warm the OS file cache and .pyc files
    return statistics.median(timed(cmd) for _ in range(runs))


def throwaway_venv(folder: Path, name: str, *pip_args: str, system: bool = False) -> Path | str:
    """A virtualenv with ``pip install pip_args``: its python, or why it could not be made."""
    target = folder / name
    python = target / "bin" / "python"
    if python.exists():
        return python
    try:
        venv = [sys.executable, "-m", "venv", str(target)]
        if system:
            venv.insert(3, "--system-site-packages")
        subprocess.run(venv, check=True, capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *pip_args], check=True,
                       capture_output=True, timeout=900, cwd=REPO)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        lines = detail.decode(errors="replace").strip().splitlines()
        return f"could not install {' '.join(pip_args)}: {lines[-1] if lines else exc}"
    return python


def in_process_no_skip(files: list[str], jobs: int) -> float:
    """clsaudit's engine with the skip turned off: every file parsed (the cost the skip saves)."""
    from clsaudit.config import load_config
    from clsaudit.engine import check_paths

    config = load_config(REPO)
    start = time.perf_counter()
    check_paths(files, config, use_cache=False, jobs=jobs, skip_irrelevant=False)
    return time.perf_counter() - start


def benchmark(args: argparse.Namespace) -> None:
    from clsaudit.engine import default_jobs

    # pip writes .pyc files when it installs a package; an editable checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile clsaudit on every start-up.
    for folder in ("auditor", "rules"):
        compileall.compile_dir(str(REPO / folder), quiet=1)

    workdir = Path(tempfile.mkdtemp(prefix="clsaudit-corpus-"))
    # A copy: Fixit (trailrunner) silently skips files under site-packages and the
    # standard library, and every tool must see the very same files.
    files = copy_corpus(corpus(args.files), workdir)
    lines = sum(Path(f).read_bytes().count(b"\n") for f in files)
    jobs = default_jobs()
    print(f"corpus: {len(files)} files, {lines} lines; {jobs} cores; load average "
          f"{os.getloadavg()[0]:.1f} (a shared machine: compare ratios, not seconds)")

    venvs = Path(args.venvs) if args.venvs else Path(tempfile.mkdtemp(prefix="clsaudit-venvs-"))
    cache_dir = tempfile.mkdtemp(prefix="clsaudit-bench-")
    rows: dict[str, float | str] = {}
    try:
        rows["libcst parse only"] = parse_pool(files, jobs)
        base = clsaudit_command() + ["--exit-zero", "-q", "-j", str(jobs)]
        env = {**os.environ, "CLSAUDIT_CACHE_DIR": cache_dir}
        rows["clsaudit cold cache"] = timed(base + files, env)
        rows["clsaudit warm cache"] = timed(base + files, env)
        rows["clsaudit no skip (in-process)"] = in_process_no_skip(files, jobs)
        if not args.no_competitors:
            torchfix = throwaway_venv(venvs, "torchfix", "torchfix")
            if isinstance(torchfix, Path):
                cmd = [str(torchfix.with_name("torchfix")), "--select", "ALL", "-j", str(jobs), *files]
                rows["TorchFix (--select ALL)"] = timed(cmd)
            else:
                rows["TorchFix (--select ALL)"] = torchfix
            fixit = throwaway_venv(venvs, "fixit", "fixit")
            if isinstance(fixit, Path):
                rows["Fixit (fixit lint)"] = timed([str(fixit.with_name("fixit")), "lint", *files])
            else:
                rows["Fixit (fixit lint)"] = fixit
        parse = rows["libcst parse only"]
        assert isinstance(parse, float)
        for label, value in rows.items():
            if isinstance(value, str):
                print(f"{label:32}: {value}")
            else:
                print(f"{label:32}: {value:7.2f} s  {value / parse:6.2f}x parse-only "
                      f"({jobs} workers)")
        cold = rows["clsaudit cold cache"]
        assert isinstance(cold, float)
        print(f"budget cold <= 1x parse-only: {cold / parse:.2f}x "
              f"{'OK' if cold <= parse else 'OVER'}")
        for label, factor in (("TorchFix (--select ALL)", 5), ("Fixit (fixit lint)", 50)):
            other = rows.get(label)
            if isinstance(other, float):
                speedup = other / cold
                verdict = "OK" if speedup >= factor else "UNDER"
                print(f"budget >= {factor}x faster than {label.split()[0]}: {speedup:.1f}x {verdict}")

        import_libcst = median_of([sys.executable, "-c", "import libcst"], args.runs)
        one = median_of(clsaudit_command() + ["--no-cache", str(EXAMPLE)], args.runs)
        report_startup("editable install", one, import_libcst, args.runs)
        installed = throwaway_venv(venvs, "installed", "--no-deps", ".", system=True)
        if isinstance(installed, Path):
            import_libcst = median_of([str(installed), "-c", "import libcst"], args.runs)
            one = median_of(clsaudit_command(str(installed)) + ["--no-cache", str(EXAMPLE)], args.runs)
            report_startup("pip install .", one, import_libcst, args.runs)
        else:
            print(f"pip install . : {installed}")
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.venvs:
            shutil.rmtree(venvs, ignore_errors=True)


def report_startup(label: str, one: float, import_libcst: float, runs: int) -> None:
    ratio = one / import_libcst
    print(f"one file ({label}): {one:.3f} s vs import libcst {import_libcst:.3f} s "
          f"(medians of {runs}): {ratio:.2f}x {'OK' if ratio <= 1.5 else 'OVER'} (budget 1.5x)")


def corpus_run(args: argparse.Namespace) -> None:
    """The standard library and every installed package: crashes, errors, findings."""
    from clsaudit.config import load_config
    from clsaudit.discovery import discover
    from clsaudit.engine import check_paths, default_jobs

    site = {p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)}
    paths = args.paths or sorted({sysconfig.get_paths()["stdlib"]} | site)  # every package
    config = load_config(Path(paths[0]))
    found = discover(paths, config.root, config.exclude)
    jobs = default_jobs()
    print(f"corpus: {' + '.join(paths)}: {len(found.files)} files, {jobs} workers, "
          f"load average {os.getloadavg()[0]:.1f}")
    runs = [("with skip", True)] + ([("without skip", False)] if args.compare_skip else [])
    results = {}
    for label, skip in runs:
        start = time.perf_counter()
        result = check_paths(paths, config, use_cache=False, jobs=jobs, discovery=found,
                             skip_irrelevant=skip)
        took = time.perf_counter() - start
        results[label] = result
        crashes = [e for e in result.errors if any(w in e.message for w in CRASH_WORDS)]
        kinds = Counter(e.message.split(":")[0] for e in result.errors if e not in crashes)
        in_torch = [f for f in result.findings if "/site-packages/torch/" in f.path]
        outside = [f for f in result.findings if f not in in_torch]
        print(f"{label}: {took:.0f} s, {result.analyzed} parsed, {result.skipped} skipped, "
              f"{len(crashes)} crashes, other errors {dict(kinds)}, "
              f"{len(in_torch)} findings in torch, {len(outside)} outside")
        for error in crashes[:20]:
            print("  crash:", error.render())
        for finding in (in_torch + outside)[:40]:
            print(f"  {finding.path}:{finding.line}: {finding.code} {finding.message[:90]}")
    if args.compare_skip:
        def keyed(result):
            return sorted((f.path, f.line, f.column, f.code) for f in result.findings)

        same = keyed(results["with skip"]) == keyed(results["without skip"])
        print(f"findings with and without the skip: {'identical' if same else 'DIFFERENT'}")
        if not same:
            a, b = set(keyed(results["with skip"])), set(keyed(results["without skip"]))
            for item in sorted(b - a)[:20]:
                print("  only without skip:", item)
            for item in sorted(a - b)[:20]:
                print("  only with skip:", item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=225)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--no-competitors", action="store_true", help="skip TorchFix and Fixit")
    parser.add_argument("--venvs", help="keep the throwaway virtualenvs here (reused next time)")
    parser.add_argument("--corpus", action="store_true", help="stdlib + installed packages run")
    parser.add_argument("--compare-skip", action="store_true", help="with --corpus: also without skip")
    parser.add_argument("--paths", nargs="*", help="with --corpus: these folders instead")
    args = parser.parse_args()
    if args.corpus:
        corpus_run(args)
    else:
        benchmark(args)


if __name__ == "__main__":
    main()
