"""Parent side: start the child process, enforce the limits, read its report.

The child runs in its own session (process group), so a timeout or a stop
signal kills the script together with any DataLoader workers or helpers it
started. Its memory is capped (``--max-memory``), and its stdout and stderr
are read as they come, keeping only a bounded tail for the report: a script
that floods its output costs the probe nothing.
"""

from __future__ import annotations

import collections
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

# The script's output kept for the report: its last 64 KiB, never all of it.
OUTPUT_TAIL_BYTES = 64 * 1024
# Seconds a timed-out child gets to write the report of what it saw.
REPORT_GRACE_S = 5.0


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


class Interrupted(Exception):
    """clsaudit itself got SIGTERM, SIGHUP or SIGINT while the child ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


STOP_SIGNALS = tuple(
    sig for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None), signal.SIGINT) if sig
)


def default_max_memory() -> int:
    """Half the machine's memory, or 90% of a smaller cgroup memory limit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    share = total // 2
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read().strip()
            if text.isdigit() and int(text) < total:
                share = min(share, int(text) * 9 // 10)
        except OSError:
            continue
    return share


class _Tail:
    """Reads the child's output as it comes, keeping only its last ``limit`` bytes."""

    def __init__(self, stream, limit: int = OUTPUT_TAIL_BYTES, echo=None) -> None:
        self.stream = stream
        self.limit = limit
        self.echo = echo
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.total = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fd = self.stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            if self.echo is not None:
                self.echo(chunk)
            self.chunks.append(chunk)
            self.size += len(chunk)
            while self.size - len(self.chunks[0]) >= self.limit:
                self.size -= len(self.chunks.popleft())

    def text(self) -> str:
        data = b"".join(self.chunks)[-self.limit :]
        if self.total > len(data):
            cut = data.find(b"\n")
            data = data[cut + 1 :] if 0 <= cut < 200 else data
        return data.decode("utf-8", "replace")


def run_child(
    spec: dict, timeout: float, env: dict | None = None, max_memory: int | None = None
) -> dict:
    """Run ``clsaudit.probe.child`` on ``spec``; return its JSON result plus run facts.

    The verdict is decided when the child exits (it writes its report and
    leaves), not when its output pipe closes: a helper the script started
    may hold the pipe open. The child's process group is killed afterwards,
    and on a timeout or a stop signal to clsaudit (then :class:`Interrupted`
    is raised, after the temp folder is removed).
    """
    workdir = tempfile.mkdtemp(prefix="clsaudit-probe-")
    try:
        return _run_in(workdir, spec, timeout, env, max_memory)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_in(workdir: str, spec: dict, timeout: float, env, max_memory) -> dict:
    out_path = os.path.join(workdir, "result.json")
    spec_path = os.path.join(workdir, "spec.json")
    spec = dict(spec, out=out_path, max_memory=max_memory)
    with open(spec_path, "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    child_env = dict(os.environ if env is None else env)
    child_env["OMP_NUM_THREADS"] = str(spec["threads"])
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    if spec.get("device") == "cpu" and spec["mode"] == "script":
        child_env["CUDA_VISIBLE_DEVICES"] = ""
    started = time.perf_counter()
    previous = _catch_stop_signals()
    proc = None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clsaudit.probe.child", spec_path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_env,
        )
        tail = _Tail(proc.stdout)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _ask_for_report(proc)
        wall = time.perf_counter() - started
        # Loader workers or helpers the script left behind die with its group.
        _kill_group(proc)
        proc.wait()
        tail.thread.join(timeout=1.0)
        holders = _pipe_holders(proc.stdout) if tail.thread.is_alive() else []
    except Interrupted:
        if proc is not None:
            _kill_group(proc)
            proc.wait()
        raise
    finally:
        _restore_signals(previous)
    result = _read_result(out_path, timed_out, proc.returncode, max_memory)
    if timed_out:
        seen = (result.get("observations") or {}).get("steps")
        # Steps seen before the timeout are judged; with none, the run failed.
        result["status"] = "stopped" if seen else "timeout"
        result["timed_out"] = True
        result["timeout"] = timeout
    result["wall_time"] = round(wall, 3)
    result["script_output"] = tail.text()
    result["script_output_bytes"] = tail.total
    if max_memory:
        result["max_memory"] = max_memory
    if holders:
        result["detached_helpers"] = holders
    return result


def _ask_for_report(proc: subprocess.Popen) -> None:
    """At the timeout, ask the child (SIGUSR1) to stop the script and write what it saw."""
    try:
        proc.send_signal(signal.SIGUSR1)
        proc.wait(timeout=REPORT_GRACE_S)
    except (OSError, AttributeError, subprocess.TimeoutExpired):
        pass


def _read_result(out_path: str, timed_out: bool, returncode: int, max_memory) -> dict:
    if os.path.exists(out_path):
        try:
            with open(out_path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            pass
    if timed_out:
        return {"status": "timeout"}
    if returncode == -signal.SIGKILL:
        why = "was killed (SIGKILL): the system ran out of memory?"
        if max_memory:
            why += f" (the probe's limit is {max_memory / 2**30:.1f} GB: --max-memory)"
    else:
        why = f"ended with code {returncode} without a report"
    return {
        "status": "crashed",
        "error": {"type": "ChildCrashed", "traceback": "", "message": f"the script {why}"},
    }


def _on_stop_signal(signum, frame) -> None:
    raise Interrupted(signum)


def _catch_stop_signals() -> dict:
    previous = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for sig in STOP_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, _on_stop_signal)
        except (ValueError, OSError):
            continue
    return previous


def _restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError, TypeError):
            continue


def _pipe_holders(stream) -> list[str]:
    """Processes outside the child's group that still hold its output pipe (Linux /proc)."""
    try:
        inode = os.fstat(stream.fileno()).st_ino
    except (OSError, ValueError):
        return []
    wanted = f"pipe:[{inode}]"
    found = []
    me = os.getpid()
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == wanted for fd in fds):
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
                found.append(f"pid {pid}: {cmd[:120]}")
        except OSError:
            continue
    return found[:10]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            proc.kill()
        except OSError:
            pass
