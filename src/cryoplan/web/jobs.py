"""Runs of the web planner: validated at submission, queued, each executed in a worker process
the server owns, kept on disk.

Each run lives in ``DATA/runs/<32 hex id>/``: ``input.json`` (what was asked, as validated data;
``input.toml`` is the same as a procedure or plan file, to download), ``status.json``
(state, phase, progress), and when done ``result.json`` and ``report.html``, and for a plan
``adjust.npz`` (what moving its probes by hand needs: ``planning.adjust``), written together or
not at all. The status is rewritten atomically, so a browser that reloads the page, or a server
restarted later, finds the run where it was: runs that were queued or running when a server
stopped are queued again when the next one starts.

A run's process starts its own process group, so cancelling it (``Runs.cancel``) or stopping the
server (``Runs.close``) ends it together with the planner's worker processes; a run's processes
also end by themselves when the server process is gone (``procs.exit_with_parent``). Processes,
not threads: the compiled kernels hold the interpreter while they run, and a stuck run must be
stoppable. Progress comes back through a pipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli_w

from cryoplan import service
from cryoplan.atomic import write_atomic, write_json
from cryoplan.errors import InputError
from cryoplan.procs import exit_with_parent, preloaded_context
from cryoplan.progress import Progress, eta

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
Kind = Literal["simulation", "plan"]
State = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED = ("done", "failed", "cancelled")
#: The file of a run's folder naming the stored CT it plans on (the server's path, never shown).
CT_LINK = "ct-path.txt"
#: Seconds a cancelled run's processes get to end before they are killed.
GRACE_S = 3.0


@dataclass
class RunStatus:
    id: str
    kind: Kind
    title: str
    state: State = "queued"
    progress: float = 0.0  # of the whole run (for plans: of the most it may need)
    message: str = "waiting for a worker"
    phase: str = ""
    done: float = 0.0
    total: float = 0.0
    unit: str = ""
    at_most: bool = False
    eta_s: float | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None


class QueueFull(Exception):
    pass


class NotRunning(Exception):
    pass


def _child(folder: str, kind: Kind, title: str, plan_workers: int, conn, job: service.Job | None) -> None:
    """A run in its worker process: the ``job`` prepared at submission (or, for a run queued
    again after a restart, its input prepared anew), run, its outputs written all or none;
    messages back through ``conn``: ("progress", dict), then ("done" | "bad input" | "failed", text)."""
    os.setpgrp()  # its own process group: cancelling it ends the planner's workers too
    exit_with_parent()
    last = [0.0]
    try:
        def progress(p: Progress) -> None:
            if time.monotonic() - last[0] > 0.25 or p.fraction >= 1:  # four times a second at most
                last[0] = time.monotonic()
                conn.send(("progress", p.as_json()))

        if job is None:
            data = json.loads((Path(folder) / "input.json").read_text(encoding="utf-8"))
            ct = Path(folder) / CT_LINK
            job = service.prepare(kind, data, upload=True, plan_workers=plan_workers,
                                  ct=Path(ct.read_text(encoding="utf-8")) if ct.exists() else None)
        ran = service.run(job, progress)
        conn.send(("progress", Progress("writing the result and the report", 0, 0, "", 1.0).as_json()))
        service.write(ran, service.Outputs(json=Path(folder) / "result.json",
                                           report=Path(folder) / "report.html",
                                           adjust=Path(folder) / "adjust.npz" if kind == "plan" else None),
                      title)
        conn.send(("done", ""))
    except InputError as err:
        conn.send(("bad input", str(err)))
    except Exception as err:  # noqa: BLE001 - the server shows it; the traceback goes to its log
        traceback.print_exc()
        conn.send(("failed", f"{type(err).__name__}: {err}"))
    finally:
        conn.close()


class _Worker:
    """A run's process and the parent's end of its pipe."""

    def __init__(self, run_id: str, folder: Path, kind: Kind, title: str, plan_workers: int,
                 job: service.Job | None) -> None:
        ctx = preloaded_context()  # a server's threads forbid a plain fork
        self.conn, child_conn = ctx.Pipe(duplex=False)
        self.run_id = run_id
        self.process = ctx.Process(target=_child, name=f"cryoplan-run-{run_id[:8]}", daemon=False,
                                   args=(str(folder), kind, title, plan_workers, child_conn, job))
        self.process.start()
        child_conn.close()
        self.cancelled = False

    def _signal(self, sig: int) -> None:
        pid = self.process.pid
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:  # no group yet (it has just started): the process alone
            if self.process.is_alive():  # not reaped: the pid is still its own
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)

    def stop(self) -> None:
        """End the run's process group: SIGTERM, then SIGKILL after ``GRACE_S``."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            self._signal(sig)
            self.process.join(GRACE_S if sig == signal.SIGTERM else None)
            if not self.process.is_alive():
                break
        self._signal(signal.SIGKILL)  # the group may outlive its leader (planner workers)


class Runs:
    """The run store and the slots that execute its runs, each in a worker process (``workers =
    0`` queues runs without starting them); a plan runs on ``plan_workers`` processes (0: one per
    core), the server's setting, never an upload's."""

    def __init__(self, data_dir: Path, workers: int = 1, max_queued: int = 8, plan_workers: int = 0) -> None:
        self.plan_workers = plan_workers
        self.root = Path(data_dir) / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_queued = max_queued
        self._lock = threading.Condition()
        self._status: dict[str, RunStatus] = {}
        self._queue: deque[str] = deque()
        self._jobs: dict[str, service.Job] = {}  # queued runs' prepared jobs (not after a restart)
        self._running: dict[str, _Worker] = {}
        self._closed = False
        for folder in sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime):
            self._recover(folder)
        self._slots = [threading.Thread(target=self._slot, daemon=True, name="cryoplan-slot")
                       for _ in range(workers)]
        for t in self._slots:
            t.start()

    def _recover(self, folder: Path) -> None:
        try:
            st = RunStatus(**json.loads((folder / "status.json").read_text()))
        except (OSError, ValueError, TypeError):
            return  # not a run (or never fully created): ignore it
        if st.state in ("queued", "running"):
            st.state, st.progress, st.message = "queued", 0.0, "queued again after a server restart"
            self._queue.append(st.id)
        self._status[st.id] = st

    def folder(self, run_id: str) -> Path:
        if not RUN_ID.match(run_id):
            raise KeyError(run_id)
        return self.root / run_id

    def submit(self, kind: Kind, data: dict[str, Any], title: str, ct: Path | None = None) -> RunStatus:
        """Validate, bound and resolve the input now (InputError: nothing is queued), then queue
        the prepared job; its worker runs it as it is. ``ct``: an uploaded CT the server stored
        (``scans``), the plan's anatomy, read only by the run."""
        job = service.prepare(kind, data, upload=True, plan_workers=self.plan_workers, ct=ct)
        with self._lock:
            waiting = sum(s.state in ("queued", "running") for s in self._status.values())
            if waiting >= self.max_queued:
                raise QueueFull(f"{waiting} runs are queued or running (at most {self.max_queued})")
            st = RunStatus(uuid.uuid4().hex, kind, title)
            folder = self.folder(st.id)
            folder.mkdir()
            write_json(folder / "input.json", data)
            if ct is not None:  # a restarted server prepares the run again on the same CT
                write_atomic(folder / CT_LINK, lambda p: p.write_text(str(ct), encoding="utf-8"))
            write_atomic(folder / "input.toml", lambda p: p.write_text(tomli_w.dumps(data), encoding="utf-8"))
            self._jobs[st.id] = job
            self._save(st)
            self._status[st.id] = st
            self._queue.append(st.id)
            self._lock.notify_all()
        return st

    def status(self, run_id: str) -> RunStatus:
        with self._lock:
            return RunStatus(**asdict(self._status[run_id]))

    def all(self) -> list[RunStatus]:
        with self._lock:
            return sorted((RunStatus(**asdict(s)) for s in self._status.values()),
                          key=lambda s: s.created, reverse=True)

    def cancel(self, run_id: str) -> RunStatus:
        """Cancel a queued or running run (KeyError: no such run; NotRunning: it has finished)."""
        with self._lock:
            st = self._status[run_id]
            if st.state in FINISHED:
                raise NotRunning(f"run {run_id} is {st.state}")
            worker = self._running.get(run_id)
            if worker is None:  # queued: it never starts
                self._queue.remove(run_id)
                self._jobs.pop(run_id, None)
                self._update(run_id, state="cancelled", message="cancelled before it started",
                             finished=time.time())
                return RunStatus(**asdict(st))
            worker.cancelled = True
        worker.stop()  # outside the lock: the slot thread records the end
        with self._lock:
            while self._status[run_id].state not in FINISHED:
                self._lock.wait(0.1)
            return RunStatus(**asdict(self._status[run_id]))

    def close(self) -> None:
        """Stop every run's processes (the server is stopping); their runs are queued again when
        the next server starts."""
        with self._lock:
            self._closed = True
            workers = list(self._running.values())
            self._lock.notify_all()
        for w in workers:
            w.stop()
        for t in self._slots:
            t.join(GRACE_S + 1)

    def _save(self, st: RunStatus) -> None:
        write_json(self.folder(st.id) / "status.json", asdict(st))

    def _update(self, run_id: str, save: bool = True, **changes: Any) -> None:
        st = self._status[run_id]
        for k, v in changes.items():
            setattr(st, k, v)
        if save:
            self._save(st)
        self._lock.notify_all()

    def _slot(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                run_id = self._queue.popleft()
                st = self._status[run_id]
                self._update(run_id, state="running", message="starting a worker process",
                             started=time.time())
                worker = _Worker(run_id, self.folder(run_id), st.kind, st.title, self.plan_workers,
                                 self._jobs.pop(run_id, None))
                self._running[run_id] = worker
            self._follow(worker)

    def _follow(self, worker: _Worker) -> None:
        """Relay a run's messages into its status until its process ends."""
        run_id, outcome, last_save = worker.run_id, None, 0.0
        while True:
            try:
                kind, body = worker.conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                if kind == "progress":
                    p = Progress(**body)
                    started = self._status[run_id].started or time.time()
                    save = time.monotonic() - last_save > 1.0  # status.json at most once a second
                    last_save = time.monotonic() if save else last_save
                    self._update(run_id, save=save, progress=round(min(max(p.fraction, 0.0), 1.0), 4),
                                 phase=p.phase, done=p.done, total=p.total, unit=p.unit, at_most=p.at_most,
                                 eta_s=eta(p, time.time() - started), message=p.text())
                else:
                    outcome = (kind, body)
        worker.process.join()
        with self._lock:
            self._running.pop(run_id, None)
            now = time.time()
            if self._closed and outcome is None:
                self._update(run_id, state="queued", message="queued again: the server stopped")
                return
            if worker.cancelled:
                self._update(run_id, state="cancelled", message="cancelled", finished=now, eta_s=None)
            elif outcome is None:
                self._update(run_id, state="failed", message="the run's process ended unexpectedly",
                             error=f"exit code {worker.process.exitcode}", finished=now, eta_s=None)
            elif outcome[0] == "done":
                took = now - (self._status[run_id].started or now)
                self._update(run_id, state="done", progress=1.0, message=f"finished in {took:.0f} s",
                             phase="finished", finished=now, eta_s=0.0)
            else:
                self._update(run_id, state="failed", message=outcome[0], error=outcome[1], finished=now,
                             eta_s=None)

