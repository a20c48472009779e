"""Worker processes that never outlive the process that started them.

A worker calls ``exit_with_parent()`` first: a daemon thread ends it when its parent goes away
(killed, crashed), so no worker is left running, re-parented, after its parent. The parent
ends its workers itself when it stops normally (``multiprocessing.Pool.terminate``, or the web
planner's process group).
"""

from __future__ import annotations

import os
import signal
import threading
import time


def exit_with_parent(poll_s: float = 1.0) -> None:
    """End this process (and the workers it started) as soon as its parent process is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def ignore_interrupts() -> None:
    """Leave Ctrl-C to the parent, which stops its workers itself (no traceback from each)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
