"""The results table of a study: one Parquet file (pyarrow), one row per sample with its inputs,
its outputs, its status and error, the named warnings of its run, its wall time and the worker
that ran it; the study itself (settings, base file, version) in the file's metadata, so the
table explains itself and a resumed run can check that it continues the same study.

The whole table is rewritten through a temporary file and a rename at each save, so the file on
disk is always a complete table of the samples finished by then, whatever stops the study.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryoplan.atomic import write_atomic
from cryoplan.errors import InputError

#: Most runs one study may make (its table is held in memory while it runs; a table claiming
#: more is refused).
MAX_RUNS = 1_000_000
#: What a row's status may be.
STATUSES = ("ok", "failed")
#: The metadata key of the study, and the table format written under it.
META_KEY = b"cryoplan.sweep"
FORMAT = 1


def _column_type(values: list[Any]):
    """The Arrow type of a column: bool, int64, float64 or text, from its non-null values."""
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present) and present:
        return pa.int64()
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


def _array(values: list[Any]):
    import pyarrow as pa

    kind = _column_type(values)
    if kind == pa.string():
        values = [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
    elif kind == pa.float64():
        values = [None if v is None else float(v) for v in values]
    return pa.array(values, type=kind)


def write(path: str | Path, meta: dict[str, Any], columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` (sorted by sample) as the table at ``path``, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(rows, key=lambda r: r["sample"])
    table = pa.table({c: _array([r.get(c) for r in rows]) for c in columns})
    table = table.replace_schema_metadata({META_KEY: json.dumps({"format": FORMAT, **meta}).encode()})
    write_atomic(path, lambda p: pq.write_table(table, p))


def read(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The study metadata and the rows of a table written by ``cryoplan sweep`` (raises
    InputError for a missing file or one that is not such a table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputError("RESULTS.parquet", str(path), "an existing results table of cryoplan sweep")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise InputError("RESULTS.parquet", str(path),
                         f"a Parquet table written by cryoplan sweep ({err})") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    try:
        meta = json.loads(raw) if raw is not None else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "sample" not in table.column_names:
        raise InputError("RESULTS.parquet", str(path), "a table written by cryoplan sweep (this Parquet "
                         "file lacks its study)")
    runs = meta.get("runs")
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= MAX_RUNS:
        raise InputError("RESULTS.parquet", str(path), f"a study of 1 to {MAX_RUNS} runs (its metadata says "
                         f"{str(runs)[:40]})")
    rows = table.to_pylist()
    _check_rows(path, rows, runs)
    return meta, rows


def _check_rows(path: Path, rows: list[dict[str, Any]], runs: int) -> None:
    """Rows as ``cryoplan sweep`` writes them: a status and a distinct whole sample number below
    the study's runs in each (a table edited or written by another program is one InputError)."""
    seen: set[int] = set()
    for n, row in enumerate(rows):
        sample, status = row.get("sample"), row.get("status")
        if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample < runs:
            raise InputError("RESULTS.parquet", str(path),
                             f"sample numbers from 0 to {runs - 1} (row {n} has {str(sample)[:40]})")
        if sample in seen:
            raise InputError("RESULTS.parquet", str(path), f"each sample once (sample {sample} is twice)")
        seen.add(sample)
        if status not in STATUSES:
            raise InputError("RESULTS.parquet", str(path), f"a status ok or failed in every row (row {n} has "
                             f"{str(status)[:40]})")
