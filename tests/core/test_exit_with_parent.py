"""A worker ends the moment its parent is killed, even while a long computation holds the
interpreter (a compiled kernel did: the polling thread could not run, and a killed web server's
runs went on for about 30 s)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BUSY_CHILD = ("from cryoplan.procs import exit_with_parent; exit_with_parent()\n"
              "sum(range(10**12))  # one call of hours that holds the interpreter, as a kernel does")
PARENT = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {BUSY_CHILD!r}])
print(child.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal (Linux)")
def test_a_busy_worker_ends_with_its_killed_parent():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        time.sleep(1.0)  # the child is computing
        assert _alive(child)
        parent.kill()
        parent.wait(60)
        deadline = time.monotonic() + 60  # it takes milliseconds; the computation, hours
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, 9)
