"""Parent side: start the child process, enforce the timeout, read its report.

The child runs in its own session (process group), so a timeout kills the
script together with any DataLoader workers it started. Its stdout and
stderr are collected and handed back as the script's output.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time


def available_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup CPU quota.

    In a container ``os.cpu_count()`` is the host's count; torch would start
    that many OpenMP threads on the few cores the container gets.
    """
    try:
        cores = len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota)) if quota else cores


def _cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> int | None:
    """Whole CPUs allowed by a cgroup v2 (``cpu.max``) or v1 (cfs quota) limit, if any."""
    candidates = [
        (os.path.join(root, "cpu.max"), None),
        (
            os.path.join(root, "cpu", "cpu.cfs_quota_us"),
            os.path.join(root, "cpu", "cpu.cfs_period_us"),
        ),
    ]
    for quota_path, period_path in candidates:
        try:
            with open(quota_path, encoding="ascii") as fh:
                fields = fh.read().split()
            if period_path is not None:
                with open(period_path, encoding="ascii") as fh:
                    fields.append(fh.read().strip())
        except OSError:
            continue
        if len(fields) < 2 or fields[0] in ("max", "-1"):
            return None
        try:
            return max(1, math.ceil(int(fields[0]) / int(fields[1])))
        except (ValueError, ZeroDivisionError):
            return None
    return None


def run_child(spec: dict, timeout: float, env: dict | None = None) -> dict:
    """Run ``clsaudit.probe.child`` on ``spec``; return its JSON result plus run facts."""
    workdir = tempfile.mkdtemp(prefix="clsaudit-probe-")
    out_path = os.path.join(workdir, "result.json")
    spec_path = os.path.join(workdir, "spec.json")
    spec = dict(spec, out=out_path)
    with open(spec_path, "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    child_env = dict(os.environ if env is None else env)
    child_env["OMP_NUM_THREADS"] = str(spec["threads"])
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    if spec.get("device") == "cpu" and spec["mode"] == "script":
        child_env["CUDA_VISIBLE_DEVICES"] = ""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "clsaudit.probe.child", spec_path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=child_env,
    )
    timed_out = False
    try:
        output, _ = proc.communicate(timeout=timeout)
    except KeyboardInterrupt:
        # The child has its own session: Ctrl-C reaches only us, so take it down.
        _kill_group(proc)
        raise
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        try:
            output, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            output = b""
    wall = time.perf_counter() - started
    # Loader workers or threads the script left behind die with their group.
    _kill_group(proc, quiet=True)
    result: dict = {}
    if os.path.exists(out_path):
        with open(out_path, encoding="utf-8") as fh:
            result = json.load(fh)
    elif timed_out:
        result = {"status": "timeout"}
    else:
        result = {
            "status": "crashed",
            "error": {
                "type": "ChildCrashed",
                "traceback": "",
                "message": f"the probe's child process ended with code {proc.returncode} "
                "without a report",
            },
        }
    if timed_out:
        result["status"] = "timeout"
        result["timeout"] = timeout
    result["wall_time"] = round(wall, 3)
    result["script_output"] = output.decode("utf-8", "replace") if output else ""
    _cleanup(workdir)
    return result


def _kill_group(proc: subprocess.Popen, quiet: bool = False) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        if not quiet:
            proc.kill()


def _cleanup(workdir: str) -> None:
    for name in os.listdir(workdir):
        try:
            os.remove(os.path.join(workdir, name))
        except OSError:
            pass
    try:
        os.rmdir(workdir)
    except OSError:
        pass
