"""The dask cluster a study (or a plan) runs on: a ``LocalCluster`` on this machine by default,
one worker process per core with one thread each (one numba thread per task), or an existing
cluster by its scheduler's address or scheduler file. Workers import cryoplan themselves: a
cluster whose workers run another version (or none) is refused before anything is sent.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryoplan import __version__
from cryoplan.errors import InputError

#: Seconds to wait for a scheduler to answer.
CONNECT_TIMEOUT_S = 10
#: The local cluster's dashboard (a free port is taken when this one is in use).
DASHBOARD = "127.0.0.1:8787"
_ADDRESS = re.compile(r"((tcp|tls|ws|wss|ucx)://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}")


def _check_workers(client, shown: str) -> None:
    """Refuse a cluster whose workers lack this version of cryoplan."""
    from importlib.metadata import version

    for worker, found in client.run(version, "cryoplan", on_error="return").items():
        if found != __version__:
            have = found if isinstance(found, str) else "no cryoplan installed"
            raise InputError("--scheduler", shown, f"a cluster whose workers run cryoplan {__version__} "
                             f"(worker {worker} has {have})")


#: Largest scheduler file read (dask writes a few hundred bytes).
MAX_SCHEDULER_FILE_BYTES = 1_000_000


def scheduler_file_address(path: str) -> str:
    """The scheduler's address from a scheduler file (the JSON that ``dask scheduler
    --scheduler-file`` writes), read here so that any other file is one InputError, not dask's
    AssertionError; its content is never echoed."""
    refused = InputError("--scheduler", path, "a scheduler address like tcp://HOST:PORT, or a scheduler file "
                         "(the JSON written by dask scheduler --scheduler-file)")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SCHEDULER_FILE_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_SCHEDULER_FILE_BYTES else None
    except (OSError, ValueError, RecursionError):
        raise refused from None
    address = data.get("address") if isinstance(data, dict) else None
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise refused
    return address


def _external(scheduler: str):
    from distributed import Client

    if Path(scheduler).is_file():  # a scheduler file (dask scheduler --scheduler-file)
        kwargs = {"address": scheduler_file_address(scheduler)}
    elif _ADDRESS.fullmatch(scheduler):
        kwargs = {"address": scheduler}
    else:
        raise InputError("--scheduler", scheduler, "a scheduler address like tcp://HOST:PORT, or a scheduler "
                         "file (JSON) that exists")
    try:
        return Client(timeout=f"{CONNECT_TIMEOUT_S}s", **kwargs)
    except (OSError, TimeoutError, ValueError, AssertionError) as err:
        raise InputError("--scheduler", scheduler, f"a running dask scheduler (no answer within "
                         f"{CONNECT_TIMEOUT_S} s: {' '.join(str(err).split())[:200]})") from None


@contextmanager
def connect(scheduler: str | None = None, workers: int | None = None) -> Iterator:
    """A ``distributed.Client``: on the cluster at ``scheduler`` (tcp://HOST:PORT or a scheduler
    file), else on a LocalCluster of ``workers`` processes (default: one per core). The local
    cluster is stopped on leaving; an external one is left running."""
    logging.getLogger("distributed").setLevel(logging.ERROR)  # its own logs are not the user's
    if scheduler:
        if workers is not None:
            raise InputError("--workers", workers, "nothing with --scheduler (its cluster has its workers)")
        client = _external(scheduler)
        try:
            _check_workers(client, scheduler)
            yield client
        finally:
            client.close()
        return
    from distributed import Client, LocalCluster

    n = workers if workers is not None else os.cpu_count() or 1
    if not 1 <= n <= 1024:
        raise InputError("--workers", n, "1 to 1024 worker processes")
    with warnings.catch_warnings():  # "port 8787 is in use": another one is taken, and printed
        warnings.simplefilter("ignore", UserWarning)
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=DASHBOARD, silence_logs=logging.ERROR)
    with local, Client(local) as client:
        yield client


@contextmanager
def executor(scheduler: str | None) -> Iterator:
    """A ``concurrent.futures.Executor`` on the cluster at ``scheduler`` (None: no cluster), for
    the planner's candidates."""
    if not scheduler:
        yield None
        return
    with connect(scheduler) as client:
        yield client.get_executor()
