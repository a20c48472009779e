"""What a calibration gives back: the fit as JSON, the residuals as terminal tables and as a plot
(measured against model), and the fitted probe as a catalog entry in the format of
data/probes.toml, which ``[probe] catalog_file`` + ``catalog`` load.

Every file is written atomically (temporary file and rename); the catalog entry is read back
through ``cryoplan.catalog.read_catalog_file`` before it replaces anything.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from cryoplan import __version__, checks
from cryoplan.atomic import write_atomic, write_json
from cryoplan.calibrate.fit_figure import plot_fit
from cryoplan.calibrate.least_squares import Fit
from cryoplan.calibrate.model import bench_run
from cryoplan.calibrate.values import design_unit, key_suffix, value_text
from cryoplan.catalog import read_catalog_file
from cryoplan.config import ProbeDesignKeys
from cryoplan.cryogen.summary import operating_json
from cryoplan.errors import InputError
from cryoplan.procedure import Result


def source_key(key: str) -> str:
    """The catalog's ``*_source`` key of a design key (units dropped, as in data/probes.toml).

    >>> source_key("probe.supply.inner_diameter_mm"), source_key("probe.heat_transfer_multiplier")
    ('supply_inner_diameter_source', 'heat_transfer_multiplier_source')
    """
    name = key.removeprefix("probe.").replace(".", "_")
    return name.removesuffix(key_suffix(name)) + "_source"


def _flat(d: dict[str, Any], prefix: str = "probe") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}") if isinstance(v, dict) else {f"{prefix}.{k}": v})
    return out


def catalog_entry(fit: Fit, date: str) -> tuple[dict[str, Any], Result]:
    """The fitted probe as a catalog table (its design keys: the bench's, with the fitted ones
    and their sources) and the fitted run (which the entry reproduces)."""
    cal = fit.cal
    fitted = fit_run(fit)
    cfg, op = fitted.case.config, fitted.case.operating
    assert op is not None  # a calibration's probe is a cryogen probe
    cat, merged = fitted.case.spec.catalog, fitted.case.spec.keys
    keys = merged.model_dump(exclude_none=True)
    entry: dict[str, Any] = {"description": cal.description, "gas": op.design.gas}
    entry.update(keys)
    entry["family"] = op.design.family
    gauge = cfg.probe.cannula_gauge
    if gauge is None and cat is not None:
        gauge = cat.cannula_gauge
    if isinstance(gauge, int):
        entry["cannula_gauge"] = gauge
    sources = {f"{k}_source": v for k, v in (cat.sources if cat else {}).items()
               if any(key.startswith(k) for key in entry)}  # "cannula" only with a cannula_gauge
    own = _flat(cfg.probe.model_dump(include=set(ProbeDesignKeys.model_fields), exclude_none=True))
    for key in own:
        sources[source_key(key)] = f"given in the bench setup of {cal.path.name}"
    for u, value, sd in zip(cal.unknowns, fit.values, fit.sd, strict=True):
        sources[source_key(u.key)] = (f"calibrated by cryoplan calibrate from {cal.path.name} on {date}: "
                                      f"{value_text(value, sd, u.key)}")
    entry.update(sorted(sources.items()))
    return entry, fitted


def fit_run(fit: Fit) -> Result:
    """The bench simulated at the fitted values (one more run, with its full series)."""
    return bench_run(fit.cal, fit.values)


def write_entry(path: Path, name: str, entry: dict[str, Any], fit: Fit) -> None:
    """The entry as a catalog file of one probe, checked by loading it before it is moved in."""
    head = (f"# {name}: written by cryoplan {__version__} calibrate from {fit.cal.path.name}.\n"
            f"# Use it with [probe] catalog_file = \"{path.name}\" and catalog = \"{name}\", and the "
            "bench's [cryogen] console.\n")
    text = head + tomli_w.dumps({"probe": {name: entry}})

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")
        read_catalog_file(tmp)

    write_atomic(path, write)


def fit_json(fit: Fit, entry_file: Path | None, fitted: Result, date: str) -> dict[str, Any]:
    cal, data = fit.cal, fit.cal.data
    boot = fit.bootstrap
    unknowns = []
    for k, u in enumerate(cal.unknowns):
        row = {"key": u.key, "value": float(fit.values[k]), "sd": float(fit.sd[k]),
               "initial": u.initial, "lower": u.lower, "upper": u.upper, "log": u.log,
               "unit": design_unit(u.key) or None}
        if boot is not None:
            ci = boot.interval()[k]
            row |= {"bootstrap_sd": _finite(boot.sd[k]), "bootstrap_ci95": [float(ci[0]), float(ci[1])]}
        unknowns.append(row)
    residuals = []
    for i in range(len(data)):
        row = {"where": data.where[i], "kind": str(data.kind[i]), "time_s": float(data.time_s[i])}
        if data.kind[i] == "temperature":
            row |= {"r_mm": float(data.r_mm[i]), "z_mm": float(data.z_mm[i])}
        else:
            row["isotherm_c"] = float(data.isotherm_c[i])
        row |= {"measured": float(data.value[i]), "sd": _finite(data.sd[i]),
                "model": round(float(fit.predicted[i]), 5), "residual": round(float(fit.residuals[i]), 5),
                "weighted_residual": round(float(fit.weighted_residuals[i]), 5)}
        residuals.append(row)
    return {
        "cryoplan_version": __version__,
        "kind": "calibration",
        "calibration_file": cal.path.name,
        "date": date,
        "entry": {"name": cal.name, "file": None if entry_file is None else str(entry_file)},
        "unknowns": unknowns,
        "correlation": np.round(fit.correlation, 5).tolist(),
        "cost": fit.cost,
        "reduced_chi2": fit.reduced_chi2,
        "degrees_of_freedom": fit.dof,
        "weighted_by_sd": data.weighted,
        "uncertainty": "covariance s^2 (J^T J)^-1 at the optimum (s^2 at least 1 with given SDs)"
                       + (f"; residual bootstrap of {len(boot.samples)} refits, seed {boot.seed}"
                          if boot is not None else ""),
        "simulations": fit.simulations,
        "simulation_wall_time_s": round(fit.wall_time_s, 2),
        "optimizer": fit.message,
        "residuals": residuals,
        "fitted_probe": None if fitted.case.operating is None else operating_json(fitted.case.operating),
        "warnings": [w.as_json() for w in checks.simulation(fitted)],
    }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def write_outputs(fit: Fit, out_dir: Path, json_out: Path | None) -> tuple[dict[str, Any], list[Path]]:
    """The catalog entry (NAME.toml), the plot (NAME-fit.png) and the fit's JSON (NAME-fit.json, or
    ``json_out``; '-' writes none: the caller prints it). Returns the JSON and the files written."""
    date = dt.date.today().isoformat()
    name = fit.cal.name
    entry_path, png = out_dir / f"{name}.toml", out_dir / f"{name}-fit.png"
    json_path = None if json_out is not None and str(json_out) == "-" else (
        json_out or out_dir / f"{name}-fit.json")
    for path in (entry_path, png, json_path):
        if path is not None and path.resolve() in fit.cal.inputs:
            raise InputError("--out-dir", str(out_dir), f"a folder where {path.name} does not overwrite an "
                                                        "input of the calibration (or another --name)")
    entry, fitted = catalog_entry(fit, date)
    data = fit_json(fit, entry_path, fitted, date)
    plot_fit(fit, fitted, png)  # first: a plot that fails to draw leaves nothing else behind
    write_entry(entry_path, name, entry, fit)
    written = [entry_path, png]
    if json_path is not None:
        write_json(json_path, data)
        written.append(json_path)
    return data, written


def tables(data: dict[str, Any], most_rows: int = 40):
    """The fitted unknowns and the residuals as rich tables (the residuals summarised per series
    when there are more than ``most_rows``)."""
    from rich.table import Table

    fitted = Table(title=f"Fitted probe keys ({data['calibration_file']})")
    for col in ("probe key", "value ± sd", "start", "bounds") + (("bootstrap 95 %",) if any(
            "bootstrap_ci95" in u for u in data["unknowns"]) else ()):
        fitted.add_column(col, justify="left" if col == "probe key" else "right")
    for u in data["unknowns"]:
        row = [u["key"].removeprefix("probe."), value_text(u["value"], u["sd"], u["key"]),
               f"{u['initial']:g}", f"{u['lower']:g} to {u['upper']:g}" + (" (log)" if u["log"] else "")]
        if "bootstrap_ci95" in u:
            row.append("{:.4g} to {:.4g}".format(*u["bootstrap_ci95"]))
        fitted.add_row(*row)
    res = data["residuals"]
    table = Table(title=f"Residuals (model - measured); reduced chi² {data['reduced_chi2']:.3g} on "
                        f"{data['degrees_of_freedom']} degrees of freedom")
    if len(res) <= most_rows:
        for col in ("value", "t (s)", "measured", "sd", "model", "residual"):
            table.add_column(col, justify="left" if col == "value" else "right")
        for r in res:
            table.add_row(_series(r), f"{r['time_s']:g}", f"{r['measured']:.3f}",
                          "—" if r["sd"] is None else f"{r['sd']:g}", f"{r['model']:.3f}",
                          f"{r['residual']:+.3f}")
        return [fitted, table]
    for col in ("series", "values", "rms residual", "largest |residual|"):
        table.add_column(col, justify="left" if col == "series" else "right")
    groups: dict[str, list[float]] = {}
    for r in res:
        groups.setdefault(_series(r), []).append(r["residual"])
    for label, values in groups.items():
        v = np.array(values)
        table.add_row(label, str(len(v)), f"{np.sqrt(np.mean(v ** 2)):.3f}", f"{np.abs(v).max():.3f}")
    return [fitted, table]


def _series(r: dict[str, Any]) -> str:
    if r["kind"] == "temperature":
        return f"°C at r {r['r_mm']:g}, z {r['z_mm']:g} mm"
    return f"{r['isotherm_c']:g} °C {r['kind']} mm"
