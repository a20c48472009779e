"""A study's summary (``sweep.study_report``) from a hand-made table, and the ``cryoplan sweep``
commands' refusals before any table is read (``sweep.commands``, without dask)."""

import pytest
from typer.testing import CliRunner

from cryoplan.sweep import commands, study_report

PERFUSION = "tissue.perfusion_per_s"
VOLUME = "iceball.isotherms.0.volume_ml"
SAMPLING = {"method": "lhs", "samples": 6, "seed": 1}
VARY = [{"key": PERFUSION, "distribution": "uniform", "low": 0.0, "high": 0.002}]
META = {"study": {"config": {"title": "perfusion", "sampling": SAMPLING, "vary": VARY},
                  "source": "base.toml", "kind": "simulation", "cryoplan_version": "0.1.0"},
        "runs": 7, "inputs": [PERFUSION], "outputs": [VOLUME]}


def _rows():
    rows = [{"sample": i, "status": "ok", "error": None, "warnings": "iceball-at-edge" if i == 0 else "",
             "wall_time_s": 1.0, PERFUSION: 0.0004 * i, VOLUME: 1.0 - 100 * 0.0004 * i} for i in range(5)]
    rows.append({"sample": 5, "status": "failed", "error": "supply below the exhaust", "warnings": "",
                 "wall_time_s": None, PERFUSION: 0.002, VOLUME: None})
    return rows  # sample 6 not run yet


def test_the_summary_counts_the_samples_and_ranks_what_matters():
    data = study_report.summarize(META, _rows())
    assert data["samples"] == {"runs": 7, "in_table": 6, "ok": 5, "failed": 1, "missing": 1,
                               "computing_s": 5.0, "median_wall_time_s": 1.0}
    volume = data["outputs"][VOLUME]
    assert volume["n"] == 5 and volume["min"] == pytest.approx(0.84) and volume["max"] == 1.0
    rho = data["sensitivity"][VOLUME]["spearman"][PERFUSION]["rho"]
    assert rho == pytest.approx(-1.0)  # more perfusion, less ice: a perfect rank correlation
    assert "too few samples" in data["sensitivity"][VOLUME]["sobol"]["note"]
    assert data["warnings"] == {"iceball-at-edge": 1} and data["errors"] == {"supply below the exhaust": 1}


def test_sweep_report_needs_an_output_and_refuses_an_unwritable_one(tmp_path):
    runner = CliRunner()
    res = runner.invoke(commands.sweep_app, ["report", str(tmp_path / "r.parquet")])
    assert res.exit_code == 2 and "an HTML file to write" in res.output
    res = runner.invoke(commands.sweep_app, ["report", str(tmp_path / "r.parquet"), "-o", str(tmp_path)])
    assert res.exit_code == 2 and "this is a folder" in res.output
    assert list(tmp_path.iterdir()) == []
