"""Static-engine benchmark against the DESIGN budgets. A script, not a test.

    python tests/benchmarks/bench_static.py [--files N] [--runs N]

Corpus: the installed torch package's nn, optim and utils/data sources plus
the standard library's top-level modules (real code, none of it training
scripts). Prints libcst's parse-only time (one process, and a pool of the
size clsaudit uses), clsaudit's time with the cache cold, disabled and
warm, the ratios, and the start-up ratio of ``clsaudit one_file.py`` to
``python -c "import libcst"``. Budgets: corpus <= 2x parse-only, one file
<= 1.5x import libcst.
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "fixtures" / "examples" / "buggy_train.py"


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


def parse_serial(files: list[str]) -> float:
    start = time.perf_counter()
    for path in files:
        parse_one(path)
    return time.perf_counter() - start


def parse_pool(files: list[str], jobs: int) -> float:
    import multiprocessing

    import libcst  # noqa: F401 - imported before fork, as clsaudit's workers have it

    start = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(parse_one, files, chunksize=max(1, len(files) // (jobs * 8))))
    return time.perf_counter() - start


def clsaudit_command() -> list[str]:
    script = Path(sys.executable).with_name("clsaudit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "clsaudit"]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    return time.perf_counter() - start


def median_of(cmd: list[str], runs: int) -> float:
    timed(cmd)  # warm the OS file cache and .pyc files
    return statistics.median(timed(cmd) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=225)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()

    from clsaudit.engine import default_jobs

    # pip writes .pyc files when it installs a package; an editable checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile clsaudit on every start-up.
    for folder in ("auditor", "rules"):
        compileall.compile_dir(str(REPO / folder), quiet=1)

    files = corpus(args.files)
    lines = sum(Path(f).read_bytes().count(b"\n") for f in files)
    jobs = default_jobs()
    print(f"corpus: {len(files)} files, {lines} lines; {jobs} cores")

    serial = parse_serial(files)
    pooled = parse_pool(files, jobs)
    print(f"libcst parse only: {serial:.2f} s single process, {pooled:.2f} s with {jobs} workers")

    base = clsaudit_command() + ["--exit-zero", "-q"]
    cache_dir = tempfile.mkdtemp(prefix="clsaudit-bench-")
    env = {**os.environ, "CLSAUDIT_CACHE_DIR": cache_dir}
    try:
        no_cache = timed(base + ["--no-cache", *files], env)
        cold = timed(base + files, env)
        warm = timed(base + files, env)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    for label, seconds in (("no cache", no_cache), ("cold cache", cold), ("warm cache", warm)):
        print(
            f"clsaudit {label:10}: {seconds:6.2f} s  {len(files) / seconds:7.1f} files/s  "
            f"{seconds / serial:.2f}x parse (1 proc)  {seconds / pooled:.2f}x parse ({jobs} proc)"
        )
    # clsaudit spreads files over all cores, so the fair baseline is libcst parsing with as many workers.
    budget = "OK" if no_cache <= 2 * pooled else "OVER"
    print(f"budget corpus <= 2x parse-only (same {jobs} workers): {no_cache / pooled:.2f}x {budget}")

    import_libcst = median_of([sys.executable, "-c", "import libcst"], args.runs)
    one_file = median_of(clsaudit_command() + ["--no-cache", str(EXAMPLE)], args.runs)
    ratio = one_file / import_libcst
    print(
        f"one file: {one_file:.3f} s vs import libcst {import_libcst:.3f} s "
        f"(medians of {args.runs}): {ratio:.2f}x {'OK' if ratio <= 1.5 else 'OVER'} (budget 1.5x)"
    )


if __name__ == "__main__":
    main()
