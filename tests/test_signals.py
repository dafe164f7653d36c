"""SIGTERM, SIGHUP and SIGINT stop clsaudit and its pool workers: nothing is left behind.

Each test starts a real run that spreads slow files over two workers, sends
one signal to clsaudit alone (as `kill` or a CI runner does) once the
workers exist, and checks that the run ends at once with 128 + the signal
number, and that no worker outlives it: ``communicate`` returning means no
process still holds the output pipe, so ``$(clsaudit ...)`` returns.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def slow_tree(folder: Path, files: int = 16) -> None:
    body = "import torch\n" + "".join(f"x{i} = torch.zeros({i}).sum() + {i}\n" for i in range(1500))
    for index in range(files):
        (folder / f"m{index}.py").write_text(body)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_stops_the_workers(tmp_path, signum):
    slow_tree(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "clsaudit", "--no-cache", "-j", "2", "."],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the signal goes to clsaudit only, never to pytest
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = children_of(proc.pid)
            if len(workers) >= 2:
                break
            time.sleep(0.05)
        assert len(workers) >= 2, "the pool never started"
        time.sleep(0.5)  # the workers are parsing now
        os.kill(proc.pid, signum)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signum, err
    assert not [pid for pid in workers if alive(pid)]
    assert took < 10, f"output pipe held {took:.1f} s after the signal"
    assert b"Traceback" not in err
