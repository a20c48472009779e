"""Running a study on a dask cluster, with nothing lost.

Every sample is validated first. Then the samples still missing from the table are submitted to
the cluster (a window at a time, so a study of a million samples does not flood the scheduler),
each task carrying its sample's procedure as plain data; results stream back as they finish and
the table is rewritten atomically every ``save_every_s`` seconds and at the end. A worker that
dies has its tasks run again elsewhere by dask; a sample that kills every worker it lands on is
recorded as failed. An interrupted study (Ctrl-C, a killed client) continues with
``resume=True``: the table's rows are kept (one per sample, never two), only the missing samples
are computed, and a table of another study (or another version of cryoplan) is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryoplan.atomic import check_writable
from cryoplan.errors import InputError
from cryoplan.sweep import table
from cryoplan.sweep.study import BOOKKEEPING, Sample, Study, validate_samples
from cryoplan.sweep.task import run_sample

#: Tasks kept submitted at once beyond the ones running.
WINDOW = 1000


@dataclass
class State:
    """How far a study has come (given to the progress callback after each sample)."""

    total: int  # samples of the study
    before: int  # samples in the table when this run started
    todo: int  # samples this run computes
    done: int = 0  # of those, finished
    failed: int = 0  # of those, failed
    estimate_s: float = 0.0  # estimated computing time of the samples to do (one core)
    dashboard: str | None = None
    workers: int = 0


def _meta(study: Study, total: int) -> dict[str, Any]:
    return {"identity": study.identity(), "study": study.description(), "runs": total,
            "inputs": study.keys, "outputs": study.outputs}


def _what_changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    names = {"config": "the study file's settings", "base": "the base file", "source": "the base file's name",
             "kind": "the base file's kind", "cryoplan_version": "the version of cryoplan"}
    changed = [text for key, text in names.items() if old.get(key) != new.get(key)]
    return " and ".join(changed) or "the study"


def _kept_rows(study: Study, out: Path, samples: list[Sample], retry_failed: bool) -> dict[int, dict]:
    """The rows of the table at ``out`` that a resumed run keeps (raises InputError for a table
    of another study)."""
    meta, rows = table.read(out)
    if meta.get("identity") != study.identity():
        raise InputError("--resume", str(out), "a table of this same study (" + _what_changed(
            meta.get("study", {}), study.description()) + " changed since it was written: use a new --out)")
    kept = {}
    for row in rows:
        s = samples[row["sample"]] if 0 <= row["sample"] < len(samples) else None
        if s is None or any(row.get(k) != v for k, v in s.inputs.items()):
            raise InputError("--resume", str(out), f"a table whose sample {row['sample']} has the inputs "
                             "this study gives it (the sampling differs: another SciPy or SALib?)")
        if row["status"] == "ok" or not retry_failed:
            kept[row["sample"]] = row
    return kept


def _row(sample: Sample, result: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
    values = result.get("outputs", {})
    return {"sample": sample.index, **sample.inputs, **{p: values.get(p) for p in outputs},
            **{k: result.get(k) for k in BOOKKEEPING if k != "sample"}}


def _lost(sample: Sample, err: BaseException) -> dict[str, Any]:
    """The row of a sample whose task itself failed (its worker died too often, ...)."""
    from distributed import KilledWorker

    if isinstance(err, KilledWorker):
        text = "KilledWorker: every worker that ran this sample died (a crash or out of memory)"
    else:
        text = " ".join(f"{type(err).__name__}: {err}".split())[:500]
    return {"status": "failed", "error": text, "outputs": {}, "warnings": None, "wall_time_s": None,
            "worker": None}


class _Saver:
    """Writes the table every ``every_s`` seconds, or every ten times as long as its last write
    took (a large table is not rewritten all the time; the first write, which sets pyarrow up,
    does not count)."""

    def __init__(self, out: Path, meta: dict[str, Any], columns: list[str], every_s: float):
        self.out, self.meta, self.columns, self.every_s = out, meta, columns, every_s
        self.last, self.cost, self.dirty, self.writes = time.monotonic(), 0.0, False, 0

    def save(self, rows: dict[int, dict], force: bool = False) -> None:
        wait = max(self.every_s, 10 * self.cost)
        if not self.dirty or (not force and time.monotonic() - self.last < wait):
            return
        start = time.monotonic()
        table.write(self.out, self.meta, self.columns, list(rows.values()))
        self.last, self.dirty, self.writes = time.monotonic(), False, self.writes + 1
        self.cost = self.last - start if self.writes > 1 else 0.0


@dataclass(frozen=True)
class Prepared:
    """A study checked and ready to run: every sample, the rows a resumed table keeps, the samples
    still to run (validated) and their estimated computing time on one core."""

    study: Study
    out: Path
    samples: list[Sample]
    kept: dict[int, dict[str, Any]]
    todo: list[Sample]
    estimate_s: float
    allow_large: bool


def prepare(study: Study, out: str | Path, *, resume: bool = False, retry_failed: bool = False,
            allow_large: bool = False) -> Prepared:
    """Check everything before a cluster starts or anything runs: the table may be written (and
    overwritten only by resuming the same study), and every sample to run is a valid procedure
    or plan within the limits (raises InputError naming the sample and the key)."""
    out = Path(out)
    check_writable("--out", out)
    if out.exists() and not resume:
        raise InputError("--out", str(out), "a new file (this one exists: --resume continues the study it "
                         "holds)")
    samples = study.samples()
    kept = _kept_rows(study, out, samples, retry_failed) if resume and out.exists() else {}
    todo = [s for s in samples if s.index not in kept]
    return Prepared(study, out, samples, kept, todo, validate_samples(study, todo, allow_large), allow_large)


def run(prepared: Prepared, client, *, save_every_s: float = 10.0,
        progress: Callable[[State], None] | None = None) -> State:
    """Run the prepared study's missing samples on the dask ``client``'s cluster, saving the
    table as they finish; returns how far it came."""
    from distributed import CancelledError, as_completed

    study, out, allow_large = prepared.study, prepared.out, prepared.allow_large
    rows = dict(prepared.kept)
    workers = len(client.scheduler_info(n_workers=-1)["workers"])
    state = State(len(prepared.samples), len(rows), len(prepared.todo), estimate_s=prepared.estimate_s,
                  dashboard=client.dashboard_link, workers=workers)
    saver = _Saver(out, _meta(study, len(prepared.samples)),
                   ["sample", *study.keys, *study.outputs, *BOOKKEEPING[1:]], save_every_s)
    if progress is not None:
        progress(state)
    prefix = f"cryoplan-sample-{study.identity()[:12]}"
    pending = iter(prepared.todo)
    running: dict[Any, Sample] = {}
    checked = False  # the output paths reached values in a finished run

    def submit(n: int) -> list:
        futures = []
        for s in (next(pending, None) for _ in range(n)):
            if s is None:
                break
            f = client.submit(run_sample, study.kind, s.data, str(study.folder), study.outputs, allow_large,
                              key=f"{prefix}-{s.index}", pure=False)
            running[f] = s
            futures.append(f)
        return futures

    stream = as_completed(submit(WINDOW))
    try:
        for future in stream:
            sample = running.pop(future)
            try:
                result = future.result()
            except CancelledError:
                raise  # the cluster or the client is going away: not this sample's failure
            except Exception as err:  # the task, not the run, failed: the study goes on
                result = _lost(sample, err)
            future.release()
            if result.get("bad_outputs"):
                path, why = next(iter(result["bad_outputs"].items()))
                raise InputError(f"outputs[{study.outputs.index(path)}]", path, why)
            checked = checked or result["status"] == "ok"
            rows[sample.index] = _row(sample, result, study.outputs)
            saver.dirty = True
            state.done += 1
            state.failed += result["status"] != "ok"
            for f in submit(1):
                stream.add(f)
            if checked:
                saver.save(rows)
            if progress is not None:
                progress(state)
    except InputError:
        saver.dirty = False  # a study whose outputs are wrong leaves no table
        raise
    finally:
        client.cancel(list(running))
        if checked or not any(r["status"] == "ok" for r in rows.values()):
            saver.save(rows, force=True)
    return state
