"""One sample on a worker: the procedure or plan it makes, run through ``cryoplan.service`` like
any other run, and only the outputs the study asks for sent back (a few numbers, never the
fields). A failure of the run is the sample's result (its status and error), not the study's.

>>> r = run_sample("simulation", {"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [
...     {"kind": "freeze", "seconds": 10}]}, "grid": {"geometry": "radial", "extent_mm": 8.0}},
...     ".", ["iceball.isotherms.0.radius_mm", "iceball.isotherms.0"])
>>> r["status"], r["outputs"]["iceball.isotherms.0.radius_mm"] > 1.0
('ok', True)
>>> r["bad_outputs"]
{'iceball.isotherms.0': 'a path to a value (it reaches a section with keys length_mm, radius_mm, volume_ml)'}
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

from cryoplan import service
from cryoplan.procs import threads_here
from cryoplan.sweep.paths import PathError, get_output

#: Longest error message kept in the table (a failure's message can be long).
MAX_ERROR = 500


@contextmanager
def one_thread():
    """One numba thread and one BLAS thread for this task: a cluster runs one task per core."""
    from threadpoolctl import threadpool_limits

    with threads_here(1), threadpool_limits(limits=1):
        yield


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # not on a dask worker (a serial loop)
        return None


def _error_line(err: BaseException) -> str:
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


def run_sample(kind: str, data: dict[str, Any], base: str, outputs: list[str],
               allow_large: bool = False) -> dict[str, Any]:
    """Run one sample; returns its status ("ok" or "failed"), error, the requested outputs, the
    named warnings' codes, its wall time and the worker that ran it. ``bad_outputs`` names the
    output paths this result does not reach (a mistake of the study, judged by the client)."""
    start = time.perf_counter()
    row: dict[str, Any] = {"status": "ok", "error": None, "outputs": {}, "bad_outputs": {},
                           "warnings": None, "worker": _worker_address()}
    try:
        with one_thread():
            result = service.run(service.prepare(kind, data, base=base, allow_large=allow_large)).data  # type: ignore[arg-type]
    except Exception as err:  # any failure of this sample is recorded; the study goes on
        row.update(status="failed", error=_error_line(err))
    else:
        for path in outputs:
            try:
                row["outputs"][path] = get_output(result, path)
            except PathError as err:
                row["bad_outputs"][path] = str(err)
        codes = sorted({w["code"] for w in result.get("warnings", [])})
        row["warnings"] = ",".join(codes) or None
    row["wall_time_s"] = round(time.perf_counter() - start, 4)
    return row
