"""Each probe family's one fitted constant, fitted on what was published about the probe itself
and then held against the ice balls it was not fitted on; and a leave-one-out over every
published case of the family (fit on all but one, predict that one).

The constant is the supply's (orifice's) inner diameter as a ratio to the outer tube's bore
(``supply_inner_diameter_to_bore`` in data/probe_families.toml): it sets the gas flow and so
how far along the active tip the liquid lasts. Every case below is run on a log-spaced range of
the ratio (each probe's orifice = ratio x its bore, through ``probe.supply.inner_diameter_mm``);
each figure is interpolated between the runs (monotone cubic in ln ratio), and the fits are made
on those curves:

* **fitted on the probe**: the ratio that best matches the probe's own published temperatures
  (``kind = "probe"``), the ice-ball cases being predictions;
* **leave-one-out**: for each case, the ratio fitted on every other case of the family and the
  case predicted with it.

A residual is (model - published) / spread, with the ratios of sizes compared in logarithms;
each spread is stated below with its reasoning (most sources give a figure without its
uncertainty: those spreads are assumptions, marked so). Run from the repository's root:

    python validation/family_fit.py [--family n2o|argon] [--points 17] [--workers 2] [--json OUT]

It prints the tables that docs/validation.md quotes (about 10 minutes on two idle cores;
``--json validation/family_fit.json`` writes the record the catalog is checked against).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tomllib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import minimize_scalar

from cryoplan import config, resolve
from cryoplan.case import build
from cryoplan.cryogen.design import families
from cryoplan.procedure import run

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Run:
    """One validation file run on a coarser grid (figures within a few % of the file's grid)."""

    file: str
    spacing_mm: float


@dataclass(frozen=True)
class Figure:
    """A published figure of a family: what it is, how the model's is read from its runs,
    the value, its spread and whether it describes the probe itself or the ice ball."""

    name: str
    kind: str  # "probe" (the probe's own temperature) or "ice ball"
    runs: tuple[Run, ...]
    read: Callable[[list[dict]], float]
    published: float
    spread: float  # absolute for temperatures (K); relative for ratios and sizes (log)
    log: bool
    unit: str
    source: str

    def residual(self, model: float) -> float:
        if self.log:
            return math.log(model / self.published) / math.log(1 + self.spread)
        return (model - self.published) / self.spread


def _mean(key: str) -> Callable[[list[dict]], float]:
    return lambda rs: float(np.mean([r[key] for r in rs]))


def _ratio(key: str) -> Callable[[list[dict]], float]:
    return lambda rs: rs[1][key] / rs[0][key]


N2O_WALL = (Run("n2o-14g-muscle", 0.25), Run("n2o-16g-muscle", 0.25))
SAID = (Run("said-18g", 0.25), Run("said-14g", 0.25))
LITTRUP = (Run("littrup-argon-2.4mm", 0.5),)
LITTRUP_PAIR = (Run("littrup-argon-2.4mm", 0.5), Run("littrup-argon-1.7mm", 0.5))

FAMILIES: dict[str, dict] = {
    "n2o": {
        "family": "jt-n2o",
        "range": (0.012, 0.08),
        "figures": (
            Figure("active wall, 14 and 16 G, 2 min in muscle (mean of the two)", "probe", N2O_WALL,
                   _mean("wall_c"), -70.0, 10.0, False, "C",
                   "'as low as -70 C' (apmsurgery.com, 14-16 G probes); ice ball 'in the range of -70 C' "
                   "(Irwin & Trescot 2015). Spread assumed: 10 K, neither source gives one"),
            Figure("Said: 14 G / 18 G ice-ball width", "ice ball", SAID, _ratio("width_0"), 1.70, 0.25,
                   True, "x", "Said et al.: 'up to +70 %'. Spread assumed: 25 %, a maximum over meats "
                   "and tips"),
            Figure("Said: 14 G / 18 G ice-ball length", "ice ball", SAID, _ratio("length_0"), 2.13, 0.25,
                   True, "x", "Said et al.: 'up to +113 %'. Spread assumed: 25 %"),
            Figure("Said: 14 G / 18 G ice-ball volume", "ice ball", SAID, _ratio("volume_0"), 6.12, 0.5,
                   True, "x", "Said et al.: 'up to +512 %'. Spread assumed: 50 % (a volume from two "
                   "ultrasound lengths compounds their errors)"),
        ),
    },
    "argon": {
        "family": "jt-argon",
        "range": (0.012, 0.12),
        "figures": (
            Figure("active wall, 2.4 mm probe, 15 min in agar at 39 C", "probe", LITTRUP, _mean("wall_c"),
                   -145.0, 10.0, False, "C",
                   "six clinical argon cryoprobes in agar and lard phantoms 'stabilising at about -140 to "
                   "-150 C' (Cryobiology 120 (2025) 105274); phantom and sensor position not in the "
                   "abstract: the Littrup phantom and the active wall's mean assumed. Spread: the range's "
                   "half-width and 5 K for the unknown setup"),
            Figure("Littrup: -30 C diameter, 2.4 mm probe", "ice ball", LITTRUP, _mean("width_-30"), 12.0,
                   0.1, True, "mm", "Littrup et al. 2009: 1.2 cm. Spread assumed: 10 % (thermocouple "
                   "spacing of the phantom not in the abstract)"),
            Figure("Littrup: 0 C diameter, 2.4 mm probe", "ice ball", LITTRUP, _mean("width_0"), 33.0, 0.1,
                   True, "mm", "Littrup et al. 2009: the -30 C core is 13 % of the ice ball's area, so "
                   "about 33 mm. Spread assumed: 10 %"),
            Figure("Littrup: 1.7 mm / 2.4 mm -30 C diameter", "ice ball", LITTRUP_PAIR, _ratio("width_-30"),
                   0.84, 0.1, True, "x", "Littrup et al. 2009: 84 %. Spread assumed: 10 %"),
        ),
    },
}


def _bore_mm(data: dict) -> float:
    cfg = config.parse(data)
    return resolve.probe_demand(cfg.probe, cfg.cryogen).design.bore * 1e3


def simulate(job: tuple[str, float, float]) -> dict:
    """One run of a validation file with the family's orifice at ``ratio`` x the bore: the
    figures the cases read (temperatures in C, sizes in mm, volumes in ml)."""
    name, spacing, ratio = job
    data = tomllib.loads((HERE / f"{name}.toml").read_text())
    data["grid"]["spacing_mm"] = spacing
    data["probe"]["supply"] = {"inner_diameter_mm": ratio * _bore_mm(data)}
    result = run(build(config.parse(data)))
    th = result.thermal
    out = {"wall_c": float(th.wall_temperature[-1] - 273.15), "tip_c": float(th.tip_temperature[-1] - 273.15),
           "flow_g_per_s": result.case.operating.mass_flow * 1e3}
    for t, iso in th.isotherms.items():
        c = round(t - 273.15)
        out[f"width_{c}"] = float(2e3 * iso.radius[-1])
        if iso.length is not None:
            out[f"length_{c}"] = float(1e3 * iso.length[-1])
        if iso.volume is not None:
            out[f"volume_{c}"] = float(1e6 * iso.volume[-1])
    return out


def sweep(spec: dict, points: int, workers: int) -> tuple[np.ndarray, dict[Run, list[dict]]]:
    """Every run of the family's figures at ``points`` ratios, log-spaced over its range."""
    ratios = np.geomspace(*spec["range"], points)
    runs = sorted({r for f in spec["figures"] for r in f.runs}, key=lambda r: r.file)
    jobs = [(r.file, r.spacing_mm, float(x)) for r in runs for x in ratios]
    with ProcessPoolExecutor(workers) as pool:
        outs = list(pool.map(simulate, jobs))
    return ratios, {r: outs[k * points:(k + 1) * points] for k, r in enumerate(runs)}


def curves(spec: dict, ratios: np.ndarray, results: dict[Run, list[dict]]) -> dict[str, PchipInterpolator]:
    """Each figure of the model as a function of ln ratio."""
    out = {}
    for f in spec["figures"]:
        values = [f.read([results[r][k] for r in f.runs]) for k in range(len(ratios))]
        out[f.name] = PchipInterpolator(np.log(ratios), values)
    return out


def _cost(figures: list[Figure], model: dict[str, PchipInterpolator], lnr: np.ndarray) -> np.ndarray:
    return sum(np.array([f.residual(v) for v in model[f.name](lnr)]) ** 2 for f in figures)


def fit(figures: list[Figure], model: dict[str, PchipInterpolator], bounds: tuple[float, float]) -> float:
    """The ratio that minimises the sum of squared residuals of ``figures`` over the sweep's
    range: the best of a fine grid (the figures need not be monotone in the ratio: a probe's
    wall warms again once its exhaust chokes), refined between its neighbours."""
    grid = np.linspace(math.log(bounds[0]), math.log(bounds[1]), 801)
    k = int(np.argmin(_cost(figures, model, grid)))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = minimize_scalar(lambda x: float(_cost(figures, model, np.array([x]))[0]), bounds=(lo, hi),
                          method="bounded", options={"xatol": 1e-5})
    return float(math.exp(res.x))


def within(figures: list[Figure], model: dict[str, PchipInterpolator], bounds: tuple[float, float],
           ) -> tuple[float, float] | None:
    """The smallest and largest ratio of the sweep's range at which every figure is within its
    spread (None: at none): how well the figures fix the ratio."""
    grid = np.linspace(math.log(bounds[0]), math.log(bounds[1]), 801)
    ok = np.all([np.abs([f.residual(v) for v in model[f.name](grid)]) <= 1 for f in figures], axis=0)
    return None if not ok.any() else (float(math.exp(grid[ok][0])), float(math.exp(grid[ok][-1])))


def current(spec: dict) -> float:
    """The family's ratio in the installed catalog (data/probe_families.toml)."""
    return float(families()[spec["family"]]["supply_inner_diameter_to_bore"])


def report(name: str, spec: dict, ratios: np.ndarray, results: dict[Run, list[dict]]) -> dict:
    figs = list(spec["figures"])
    model = curves(spec, ratios, results)
    probe = [f for f in figs if f.kind == "probe"]
    on_probe = fit(probe, model, spec["range"])
    span = within(probe, model, spec["range"])
    rows = []
    for f in figs:
        others = [g for g in figs if g is not f]
        r_loo = fit(others, model, spec["range"])
        at = {"current": current(spec), "fitted on the probe": on_probe, "left out": r_loo}
        values = {k: float(model[f.name](math.log(v))) for k, v in at.items()}
        rows.append({"figure": f.name, "kind": f.kind, "published": f.published, "unit": f.unit,
                     "spread": f.spread, "log": f.log, "source": f.source, "ratio_left_out": r_loo,
                     **{f"model_{k}": v for k, v in values.items()},
                     **{f"residual_{k}": f.residual(v) for k, v in values.items()}})
    flows = {r.file: [x["flow_g_per_s"] for x in results[r]] for r in results}
    return {"family": spec["family"], "current": current(spec), "fitted_on_probe": on_probe,
            "within_spread": span, "ratios": ratios.tolist(), "flows_g_per_s": flows, "rows": rows,
            "at_bound": not (spec["range"][0] * 1.01 < on_probe < spec["range"][1] / 1.01)}


def _fmt(v: float, unit: str) -> str:
    return f"{v:.1f} {unit}" if unit in ("C", "mm") else f"{v:.2f}"


def markdown(rep: dict) -> str:
    span = rep["within_spread"]
    lines = [f"{rep['family']}: ratio now {rep['current']:.4f}; fitted on the probe's own figures "
             f"{rep['fitted_on_probe']:.4f}" + (" (at the sweep's bound)" if rep["at_bound"] else "")
             + ("; they are within their spread at no ratio" if span is None else
                f"; they are within their spread from {span[0]:.4f} to {span[1]:.4f}"), "",
             "| figure | kind | published | model now | model fitted on the probe | left out: ratio | "
             "left out: predicted | within spread |", "|---|---|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        u = r["unit"]
        ok = "yes" if abs(r["residual_left out"]) <= 1 else f"no ({r['residual_left out']:+.1f} spreads)"
        lines.append(f"| {r['figure']} | {r['kind']} | {_fmt(r['published'], u)} | "
                     f"{_fmt(r['model_current'], u)} | {_fmt(r['model_fitted on the probe'], u)} | "
                     f"{r['ratio_left_out']:.4f} | "
                     f"{_fmt(r['model_left out'], u)} | {ok} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=sorted(FAMILIES), action="append")
    ap.add_argument("--points", type=int, default=17)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--runs", type=Path, help="a folder keeping each family's runs (reused when there)")
    args = ap.parse_args(argv)
    reports = {}
    for name in args.family or sorted(FAMILIES):
        spec = FAMILIES[name]
        kept = None if args.runs is None else args.runs / f"{name}-{args.points}.json"
        if kept is not None and kept.exists():
            raw = json.loads(kept.read_text())
            ratios = np.array(raw["ratios"])
            results = {r: raw["runs"][f"{r.file}@{r.spacing_mm}"] for f in spec["figures"] for r in f.runs}
        else:
            ratios, results = sweep(spec, args.points, args.workers)
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                named = {f"{r.file}@{r.spacing_mm}": v for r, v in results.items()}
                kept.write_text(json.dumps({"ratios": ratios.tolist(), "runs": named}))
        reports[name] = report(name, spec, ratios, results)
        print(markdown(reports[name]), end="\n\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
