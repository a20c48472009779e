"""Worker processes that start ready and never outlive the process that started them.

A worker calls ``exit_with_parent()`` first: on Linux the kernel kills it the moment its parent
goes away (killed, crashed: ``prctl(PR_SET_PDEATHSIG)``, which a compiled kernel holding the
interpreter cannot delay), elsewhere a daemon thread ends it within a second; so no worker is left
running, re-parented, after its parent. The parent
ends its workers itself when it stops normally (``multiprocessing.Pool.terminate``, or the web
planner's process group).

Processes that cannot be forked from their parent (a web server's threads, compiled kernels'
OpenMP threads) come from ``preloaded_context()``: a fork server that imported cryoplan once, so
each starts in milliseconds instead of importing it again (CoolProp's fluid library alone takes
seconds).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext

#: What a worker needs, imported once by the fork server it is forked from. CoolProp first, in
#: full: cryoplan's own modules only make it ready to import on first use (``cryogen.coolprop``),
#: and a web run whose probe's operating point is not kept yet would import it again each time.
PRELOAD = ["CoolProp", "cryoplan.service", "cryoplan.planning.search"]


#: prctl's option that asks the kernel for a signal when the parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1


def _kill_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_with_parent(poll_s: float = 1.0) -> None:
    """End this process (and, through the same call in them, the workers it started) as soon as
    its parent process is gone: at once where the kernel can be asked to, else within ``poll_s``
    (a thread that polls; it waits for a compiled kernel that holds the interpreter)."""
    parent = os.getppid()
    _kill_with_parent()
    if os.getppid() != parent or parent == 1:  # gone before the kernel was asked
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def ignore_interrupts() -> None:
    """Leave Ctrl-C to the parent, which stops its workers itself (no traceback from each)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def preloaded_context() -> BaseContext:
    """The context of processes forked from a fork server that has imported ``PRELOAD`` (where
    there is none, spawned). The fork server is started, with its imports, on first use; it is
    this process's child and ends with it."""
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


@contextmanager
def threads_here(n: int) -> Iterator[None]:
    """``n`` numba threads in this process meanwhile (as many as before after). The planner's
    own process runs on one while its workers simulate: it only screens, small sampling calls
    for which a parallel launch cost more than the work and took the workers' cores (a
    placement's nominal sample of the protected structures: 10.6 ms on two threads, 0.6 ms on
    one, on a busy machine); a worker runs on two when it has a task and its neighbour none.
    Used after the workers are forked: it starts numba's threads, after which a fork is unsafe.

    >>> import numba
    >>> before = numba.get_num_threads()
    >>> with threads_here(1):
    ...     numba.get_num_threads()
    1
    >>> numba.get_num_threads() == before
    True
    """
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


#: A control group's memory limit (cgroup v2): what a container may use, whatever the host has.
CGROUP_MEMORY_MAX = "/sys/fs/cgroup/memory.max"


def physical_memory_bytes() -> int | None:
    """The memory this process's machine or container has (bytes): the physical memory, or the
    control group's limit where that is less; None where the system says neither (sysconf is
    POSIX)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        physical = pages * size if pages > 0 and size > 0 else None
    except (AttributeError, ValueError, OSError):
        physical = None
    try:
        with open(CGROUP_MEMORY_MAX) as f:
            text = f.read().strip()
        group = int(text) if text.isdigit() else None  # "max": no limit
    except OSError:
        group = None
    known = [m for m in (physical, group) if m]
    return min(known) if known else None
