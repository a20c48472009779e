"""The planner's one seam to parallel hardware.

``run_all(executor, fn, jobs, tick)`` runs ``fn(*job)`` for every job on ``executor`` and returns
the results in the jobs' order. ``executor`` is anything with ``submit(fn, *args)`` returning
``concurrent.futures`` futures: the built-in pool of ``local_pool`` (processes on this machine),
a ``concurrent.futures.ProcessPoolExecutor``, or a cluster's executor (dask's
``Client.get_executor()``); None runs the jobs here, one after the other.

Tasks are module-level functions of small, picklable arguments: a target's ``spec`` (its plan as
JSON text, its folder, its number) and candidate numbers, never big arrays going out. Each
process builds a target's anatomy and resting temperature once, the first time a task needs it
(``targets.context_of`` caches them), and sets itself to one numba and one BLAS thread
(``single_threaded``): one process per core is faster than threads here (benchmarks/README.md).

The built-in pool forks its workers from the planner's process after it has built the targets,
so they start at once with everything imported and cached, numba's compiler set up
(``numba_ready``), and end with it (``procs.exit_with_parent``). A process whose compiled
kernels have started their OpenMP threads cannot fork safely (a second plan in one process, a
test run): its workers then come from a fork server that imported the planner once (or are
spawned), and get the targets from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from multiprocessing import get_all_start_methods, get_context
from typing import Any

from numba import njit

from cryoplan.planning.targets import remember
from cryoplan.procs import exit_with_parent, ignore_interrupts, preloaded_context

_SINGLE = [False]


@njit(cache=True)
def _identity(x: float) -> float:
    return x


def numba_ready() -> None:
    """Set numba's compiler up in this process: its typing and target registries, which the
    first kernel a process loads (even from the cache) otherwise builds, 0.25-0.3 s of imports
    and registrations (profile in benchmarks/README.md). Loading this one trivial kernel does
    it; done before the workers are forked, they inherit it, and the planner's own screening
    does not pay it either. A non-parallel kernel, so numba's threads do not start (``fork``
    stays safe)."""
    _identity(0.0)


def single_threaded() -> None:
    """One numba thread and one BLAS thread in this process (once). OpenBLAS otherwise starts a
    thread per core in every worker, whose spin-waiting after each small call (the steady
    start's conjugate gradients) slowed two workers to less than one (benchmarks/README.md)."""
    if _SINGLE[0]:
        return
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    threadpool_limits(limits=1)
    _SINGLE[0] = True


def _init_worker(setups: tuple = ()) -> None:
    exit_with_parent()
    ignore_interrupts()
    single_threaded()
    for spec, s in setups:
        remember(spec, s)


def _ready() -> int:
    return os.getpid()


def _threads_started() -> bool:
    """Whether numba's threading layer has started in this process (after which a fork can
    leave the child's OpenMP runtime broken)."""
    from numba.np.ufunc import parallel

    return bool(getattr(parallel, "_is_initialized", True))


def local_pool(workers: int, setups: tuple = ()) -> ProcessPoolExecutor:
    """``workers`` processes of this machine, ready for tasks, with the targets ``setups``
    ((spec, setup) pairs) already set up: forked from here while that is safe (they inherit
    them), else from a fork server (they are sent them)."""
    if "fork" in get_all_start_methods() and not _threads_started():
        numba_ready()
        context, initargs = get_context("fork"), ()
    else:
        context, initargs = preloaded_context(), (tuple(setups),)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=initargs)
    for f in [pool.submit(_ready) for _ in range(workers)]:
        f.result()
    return pool


def stop(pool: ProcessPoolExecutor, now: bool = False) -> None:
    """End the pool's processes: after their work, or ``now`` (an error, Ctrl-C)."""
    if not now:
        pool.shutdown(wait=True)
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(5)


def run_all(executor: Executor | None, fn: Callable[..., Any], jobs: Iterable[tuple],
            tick: Callable[[], None] | None = None) -> list:
    """``fn(*job)`` for each job, on ``executor`` (None: here, in order), ``tick()`` after each;
    the results in the jobs' order."""
    jobs = list(jobs)
    if executor is None:
        out = []
        for job in jobs:
            out.append(fn(*job))
            if tick is not None:
                tick()
        return out
    futures = {executor.submit(fn, *job): k for k, job in enumerate(jobs)}
    found: dict[int, Any] = {}
    for f in as_completed(futures):
        found[futures[f]] = f.result()
        if tick is not None:
            tick()
    return [found[k] for k in range(len(jobs))]
