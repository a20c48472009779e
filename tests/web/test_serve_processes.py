"""``cryoplan serve`` owns its runs' processes: stopped with SIGTERM or Ctrl-C (SIGINT) during a
plan, or killed outright, it leaves no process behind: neither the run's process nor the
planner's workers (before, they kept running, re-parented)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PLAN = """
[anatomy]
template = "lumbar-medial-branch"
level = "L4"
spacing_mm = 1.0
[probe]
catalog = "n2o-2.0mm"
[plan]
samples = 16
freeze_seconds = [60, 90, 120, 150, 180]
cycles = [1, 2]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, int]:
    """pid -> parent pid of every live process (zombies count as ended)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                out[int(entry.name)] = int(fields[1])
    return out


def _descendants(pid: int) -> set[int]:
    parents = _children()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _call(url: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT,
                                 pytest.param(signal.SIGKILL, marks=pytest.mark.slow)])
def test_stopping_the_server_during_a_plan_leaves_no_process(tmp_path, how):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from cryoplan.cli import app; app()", "serve", "--port", str(port),
         "--data-dir", str(tmp_path), "--plan-workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            try:
                _call(base + "/api/runs")
                break
            except OSError:
                assert time.monotonic() < end and server.poll() is None, server.stderr.read()
                time.sleep(0.2)
        run = _call(base + "/api/runs", {"procedure_toml": PLAN, "kind": "plan"})
        end = time.monotonic() + 120
        while len(_descendants(server.pid)) < 3:  # the run's process and the planner's two workers
            assert time.monotonic() < end, _call(f"{base}/api/runs/{run['id']}")
            time.sleep(0.2)
        spawned = _descendants(server.pid)
        server.send_signal(how)
        server.wait(30)
        end = time.monotonic() + 15  # killed outright, they notice within a second or two
        while spawned & set(_children()) and time.monotonic() < end:
            time.sleep(0.2)
        assert not spawned & set(_children()), f"left running after {how!r}: {spawned & set(_children())}"
    finally:
        if server.poll() is None:
            server.kill()
        for pid in _descendants(server.pid):
            os.kill(pid, signal.SIGKILL)
