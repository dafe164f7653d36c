"""The probe runs user code in isolation: stop signals, helpers, floods and memory.

Each case starts the real child process (the launcher is what is tested);
the scripts are tiny so each run costs about one torch import.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner
from clsaudit.probe import launcher
from clsaudit.probe.command import parse_size, probe

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probe"


def _alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def _probe_child(tmpdir: Path, timeout: float = 60) -> int:
    """The pid of the probe's child once it runs the script (its spec is in ``tmpdir``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmd = fh.read().split(b"\0")
            except OSError:
                continue
            if b"clsaudit.probe.child" in cmd and any(str(tmpdir).encode() in c for c in cmd):
                return int(entry)
        time.sleep(0.1)
    raise AssertionError("the probe's child did not start")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_stop_signal_kills_the_child_group_and_removes_the_temp_folder(tmp_path, signame):
    sig = getattr(signal, signame)
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clsaudit",
            "probe",
            str(FIXTURES / "edge_hangs.py"),
            "--threads",
            "1",
            "--timeout",
            "120",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the signal goes to clsaudit alone, never to pytest
    )
    try:
        child = _probe_child(tmp_path)
        assert list(tmp_path.glob("clsaudit-probe-*"))
        time.sleep(1.0)  # mid-run: the script is in its loop
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {signame}" in err.decode()
    deadline = time.monotonic() + 5
    while (_alive(child) or _group_members(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)
    assert _group_members(child) == []
    assert list(tmp_path.glob("clsaudit-probe-*")) == []


def _run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        probe, [*args, "--format", "json", "--threads", "1"], catch_exceptions=False
    )
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_helper_holding_the_output_open_is_no_timeout_and_is_stopped():
    started = time.perf_counter()
    code, report = _run(str(FIXTURES / "edge_background_helper.py"), "--timeout", "60")
    assert time.perf_counter() - started < 40
    assert code == 0 and report["status"] == "finished", report["message"]
    pid = int(report["script_output_tail"].split("helper pid ")[1].split()[0])
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)  # it was in the script's process group


def test_flooded_output_is_counted_but_only_its_tail_kept():
    code, report = _run(str(FIXTURES / "edge_floods_output.py"))
    assert code == 0
    assert report["script_output_bytes"] > 30_000_000
    assert len(report["script_output_tail"]) < 10_000
    assert report["script_output_tail"].endswith("last line before training")


def test_tail_reader_keeps_a_bounded_tail():
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream:
        tail = launcher._Tail(stream, limit=1000)
        with os.fdopen(write_end, "wb") as out:
            for i in range(2000):
                out.write(f"line {i:05d}\n".encode())
        tail.thread.join(timeout=10)
        assert tail.total == 2000 * 11
        assert tail.size <= 1000 + 65536
        text = tail.text()
        assert len(text) <= 1000 and text.endswith("line 01999\n")
        assert text.startswith("line ")  # cut at a line start


def test_memory_limit_is_named_when_the_script_exceeds_it():
    code, report = _run(str(FIXTURES / "edge_allocates.py"), "--max-memory", "1G")
    assert code == 2
    assert report["message"].startswith("the script exceeded the memory limit (1.0 GB")


def test_memory_sizes_parse():
    assert parse_size("4G") == 4 * 2**30
    assert parse_size("512M") == 512 * 2**20
    assert parse_size("1.5") == int(1.5 * 2**30)
    assert parse_size("none") is None
    assert parse_size(None) == launcher.default_max_memory() > 2**28
    result = CliRunner().invoke(probe, ["x.py", "--max-memory", "lots"])
    assert result.exit_code == 2 and "--max-memory" in result.output


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_detached_helper_holding_the_output_is_named_in_the_report():
    started = time.perf_counter()
    code, report = _run(str(FIXTURES / "edge_detached_helper.py"), "--timeout", "60")
    pid = int(report["script_output_tail"].split("detached helper pid ")[1].split()[0])
    try:
        assert time.perf_counter() - started < 40
        assert code == 0 and report["status"] == "finished"
        assert any(helper.startswith(f"pid {pid}:") for helper in report["detached_helpers"])
    finally:
        try:
            os.kill(pid, signal.SIGKILL)  # the test's own leftover: the probe only names it
        except ProcessLookupError:
            pass


def test_timeout_after_training_reports_the_steps_seen():
    code, report = _run(str(FIXTURES / "edge_hangs_after_training.py"), "--timeout", "20")
    assert len(report["steps"]) == 5
    assert "stopped at the --timeout of 20.0 s" in report["message"]
    assert code == 0, report["message"]  # the checks judge what was seen
