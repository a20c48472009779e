"""Runs of the web planner: queued, executed off the request thread, kept on disk.

Each run lives in ``DATA/runs/<32 hex id>/``: ``input.toml`` (what was asked), ``status.json``
(state, progress, message), and when done ``result.json`` and ``report.html``. The status is
rewritten atomically, so a browser that reloads the page, or a server restarted later, finds
the run where it was: runs that were queued or running when a server stopped are queued again
when the next one starts.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import tomllib
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryoplan.atomic import write_atomic, write_json
from cryoplan.errors import InputError

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
Kind = Literal["simulation", "plan"]
State = Literal["queued", "running", "done", "failed"]


@dataclass
class RunStatus:
    id: str
    kind: Kind
    title: str
    state: State = "queued"
    progress: float = 0.0
    message: str = "waiting for a worker"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None


class QueueFull(Exception):
    pass


def validate(kind: Kind, toml_text: str) -> dict[str, Any]:
    """Parse and validate a procedure (simulation) or plan file; raises InputError."""
    try:
        data = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as err:
        raise InputError("procedure file", "(uploaded text)", f"valid TOML ({err})") from None
    if kind == "plan":
        from cryoplan.planning import config as plan_config

        for key in ("nifti", "label_table"):  # server-side paths: never read on a client's word
            if (data.get("anatomy") or {}).get(key) is not None:
                raise InputError(f"anatomy.{key}", data["anatomy"][key],
                                 "nothing in the web planner (use a built-in template, or the command line)")
        plan_config.parse(data)
    else:
        from cryoplan import config

        config.parse(data)
    return data


def _execute(kind: Kind, toml_text: str, progress) -> dict[str, Any]:
    """Run a simulation or a plan; returns its result JSON."""
    data = tomllib.loads(toml_text)
    if kind == "plan":
        from cryoplan.planning import config as plan_config
        from cryoplan.planning.report import plan_json
        from cryoplan.planning.search import plan

        cfg = plan_config.parse(data)
        result = plan(cfg, Path("."), lambda d, n, level: progress(d / n, f"planning: {level}"))
        return plan_json(result, cfg)
    from cryoplan import config
    from cryoplan.procedure import run
    from cryoplan.result import to_json

    result = run(config.parse(data), lambda now, total: progress(now / total, f"simulating: {now:.0f} s"))
    return to_json(result)


class Runs:
    """The run store and its worker threads (``workers = 0`` queues runs without starting them)."""

    def __init__(self, data_dir: Path, workers: int = 1, max_queued: int = 8) -> None:
        self.root = Path(data_dir) / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_queued = max_queued
        self._lock = threading.Lock()
        self._status: dict[str, RunStatus] = {}
        self._queue: queue.Queue[str] = queue.Queue()
        for folder in sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime):
            self._recover(folder)
        for _ in range(workers):
            threading.Thread(target=self._work, daemon=True, name="cryoplan-run").start()

    def _recover(self, folder: Path) -> None:
        try:
            st = RunStatus(**json.loads((folder / "status.json").read_text()))
        except (OSError, ValueError, TypeError):
            return  # not a run (or never fully created): ignore it
        if st.state in ("queued", "running"):
            st.state, st.progress, st.message = "queued", 0.0, "queued again after a server restart"
            self._queue.put(st.id)
        self._status[st.id] = st

    def folder(self, run_id: str) -> Path:
        if not RUN_ID.match(run_id):
            raise KeyError(run_id)
        return self.root / run_id

    def submit(self, kind: Kind, toml_text: str, title: str) -> RunStatus:
        validate(kind, toml_text)
        with self._lock:
            waiting = sum(s.state in ("queued", "running") for s in self._status.values())
            if waiting >= self.max_queued:
                raise QueueFull(f"{waiting} runs are queued or running (at most {self.max_queued})")
            st = RunStatus(uuid.uuid4().hex, kind, title)
            folder = self.folder(st.id)
            folder.mkdir()
            write_atomic(folder / "input.toml", lambda p: p.write_text(toml_text, encoding="utf-8"))
            self._save(st)
            self._status[st.id] = st
        self._queue.put(st.id)
        return st

    def status(self, run_id: str) -> RunStatus:
        with self._lock:
            return RunStatus(**asdict(self._status[run_id]))

    def all(self) -> list[RunStatus]:
        with self._lock:
            return sorted((RunStatus(**asdict(s)) for s in self._status.values()),
                          key=lambda s: s.created, reverse=True)

    def _save(self, st: RunStatus) -> None:
        write_json(self.folder(st.id) / "status.json", asdict(st))

    def _update(self, run_id: str, **changes) -> None:
        with self._lock:
            st = self._status[run_id]
            for k, v in changes.items():
                setattr(st, k, v)
            self._save(st)

    def _work(self) -> None:
        while True:
            self._run_one(self._queue.get())

    def _run_one(self, run_id: str) -> None:
        folder = self.folder(run_id)
        kind = self._status[run_id].kind
        self._update(run_id, state="running", message="starting")
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            if time.monotonic() - last[0] > 0.25:  # status.json at most four times a second
                last[0] = time.monotonic()
                self._update(run_id, progress=round(min(max(fraction, 0.0), 1.0), 4), message=message)

        try:
            data = _execute(kind, (folder / "input.toml").read_text(encoding="utf-8"), progress)
            from cryoplan.report.html import write_report

            self._update(run_id, progress=1.0, message="writing the report")
            write_json(folder / "result.json", data)
            write_report(data, folder / "report.html")
            self._update(run_id, state="done", message="done", finished=time.time())
        except InputError as err:
            self._update(run_id, state="failed", message="bad input", error=str(err),
                         finished=time.time())
        except Exception as err:  # noqa: BLE001 - a failed run must not stop the worker
            traceback.print_exc()
            self._update(run_id, state="failed", message="the run failed",
                         error=f"{type(err).__name__}: {err}", finished=time.time())
