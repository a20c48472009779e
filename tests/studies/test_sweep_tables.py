"""A results table that cryoplan did not write as it is (edited, truncated, written by another
program) is one line when a study resumes from it or is reported, never a traceback or gigabytes:
sample numbers that are missing, fractional, text or repeated, a missing status, a study that
claims a billion runs."""

import pytest
from typer.testing import CliRunner

from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.sweep import table

runner = CliRunner()
META = {"identity": "x", "study": {"config": {}}, "runs": 4, "inputs": ["a"], "outputs": ["y"]}
COLUMNS = ["sample", "a", "y", "status", "error"]


def _rows(**change):
    rows = [{"sample": k, "a": float(k), "y": 2.0 * k, "status": "ok", "error": None} for k in range(4)]
    for k, row in change.items():
        rows[int(k[1:])].update(row)
    return rows


@pytest.mark.parametrize("meta, rows, said", [
    ({**META, "runs": 10**9}, _rows(), "a study of 1 to 1000000 runs"),
    ({**META, "runs": "4"}, _rows(), "a study of 1 to 1000000 runs"),
    (META, _rows(r1={"sample": None}), "sample numbers from 0 to 3 (row"),
    (META, _rows(r1={"sample": 7}), "sample numbers from 0 to 3 (row"),
    (META, _rows(r1={"sample": 1.5}), "sample numbers"),
    (META, _rows(r1={"sample": "one"}), "sample numbers"),
    (META, _rows(r2={"sample": 1}), "each sample once"),
    (META, _rows(r0={"status": None}), "a status ok or failed"),
    (META, _rows(r0={"status": "done"}), "a status ok or failed"),
])
def test_a_table_not_as_cryoplan_writes_it_is_one_line(tmp_path, meta, rows, said):
    path = tmp_path / "r.parquet"
    table.write(path, meta, COLUMNS, rows) if all(isinstance(r["sample"], int) for r in rows) else \
        _write_raw(path, meta, rows)
    with pytest.raises(InputError, match="RESULTS.parquet = .*" + said.replace("(", r"\(")):
        table.read(path)
    res = runner.invoke(app, ["sweep", "report", str(path), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1 and said in res.output
    assert not (tmp_path / "r.html").exists()


def test_a_table_without_a_status_column_is_one_line(tmp_path):
    path = tmp_path / "r.parquet"
    table.write(path, META, ["sample", "a", "y"], _rows())
    with pytest.raises(InputError, match="a status ok or failed"):
        table.read(path)


def test_a_table_as_cryoplan_writes_it_reads_back(tmp_path):
    path = tmp_path / "r.parquet"
    table.write(path, META, COLUMNS, _rows(r3={"status": "failed", "error": "x", "y": None}))
    meta, rows = table.read(path)
    assert meta["runs"] == 4 and [r["sample"] for r in rows] == [0, 1, 2, 3]


def _write_raw(path, meta, rows):
    """A table with a sample column of mixed types (another program's), with the study's metadata."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {c: pa.array([None if r[c] is None else str(r[c]) for r in rows]) if c == "sample"
               else table._array([r[c] for r in rows]) for c in COLUMNS}
    t = pa.table(columns).replace_schema_metadata({table.META_KEY: json.dumps({"format": table.FORMAT,
                                                                               **meta}).encode()})
    pq.write_table(t, path)


def test_a_study_beyond_a_night_of_computing_is_refused_and_a_large_one_checked_in_bounded_time(tmp_path):
    """20,000 demo samples ("17 h of computing" then) were accepted, and a study at the documented
    maximum validated each of its samples (hours, gigabytes) before printing anything. Since the
    axisymmetric solver's super-steps a demo run is estimated 4 times cheaper: 100,000 samples
    (about 22 h) are over the 12 h."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "sweep" / "demo-lhs.toml"
    study = tmp_path / "big.toml"
    study.write_text(example.read_text().replace("samples = 200", "samples = 100000"))
    out = tmp_path / "r.parquet"
    res = runner.invoke(app, ["sweep", str(study), "--out", str(out), "--check"])
    assert res.exit_code == 2 and res.output.startswith("error: sampling.samples = ") and "12 h" in res.output
    res = runner.invoke(app, ["sweep", str(study), "--out", str(out), "--check", "--allow-large"])
    assert res.exit_code == 0 and "100000 samples, 256 checked and valid" in res.output and not out.exists()


def test_the_checked_samples_hold_each_keys_extremes():
    from cryoplan.sweep.study import Sample, checked_samples

    samples = [Sample(k, {"a": float((37 * k) % 1000), "b": float(-k)}, {}) for k in range(1000)]
    chosen = checked_samples(samples, ["a", "b"], most=50)
    assert len(chosen) == 50 and [s.index for s in chosen] == sorted({s.index for s in chosen})
    values = {s.inputs["a"] for s in chosen}
    assert {0.0, 999.0} <= values and {s.index for s in chosen} >= {0, 999}
