"""A run's result as JSON (degrees Celsius, mm, ml, W at this boundary)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from cryoplan import __version__
from cryoplan.cryogen.summary import operating_json
from cryoplan.injury.grade import GRADE_NAMES
from cryoplan.outcome.relief import ReliefDistribution
from cryoplan.procedure import Result
from cryoplan.report.chart import chart_title, panel
from cryoplan.units import BAR_PA, k_to_c


def sig(x: float, digits: int = 4) -> float:
    """``x`` to ``digits`` significant digits, as a plain float (a property known to 3-4
    digits is not written with 17).

    >>> sig(1.8143500000000001), sig(0.0006703499999999999), sig(272677125.0)
    (1.814, 0.0006703, 272700000.0)
    """
    return float(f"{float(x):.{digits}g}")


def _clean(values) -> list[float | None]:
    """Round to 4 decimals; NaN becomes null."""
    return [None if (v is None or not math.isfinite(v)) else round(float(v), 4) for v in values]


def isotherm_key(celsius: float) -> str:
    """The JSON key of an isotherm: '-20', '0', '-12.5'.

    >>> isotherm_key(-20.0), isotherm_key(0.0), isotherm_key(-12.5)
    ('-20', '0', '-12.5')
    """
    return f"{celsius:g}"



def to_json(result: Result) -> dict[str, Any]:
    """A simulation's result JSON, whatever its grid (``procedure.Result``): an axisymmetric or
    radial run's (``_axisymmetric_json``) or a 3D run's (``_json3d``)."""
    return _json3d(result) if result.geometry == "3d" else _axisymmetric_json(result)


def _axisymmetric_json(result: Result) -> dict[str, Any]:
    s, th = result.case, result.thermal
    prob, probe = s.problem, s.problem.probe
    iso = {
        isotherm_key(k_to_c(t)): {
            "radius_mm": _clean(series.radius * 1e3),
            "length_mm": _clean(series.length * 1e3),
            "volume_ml": _clean(series.volume * 1e6),
        }
        for t, series in th.isotherms.items()
    }
    cryogen = None if s.operating is None else operating_json(s.operating)
    freeze_s = sum(p.seconds for p in prob.protocol.phases if p.kind == "freeze")
    axisymmetric = prob.grid.geometry == "axisymmetric"
    return {
        "cryoplan_version": __version__,
        "kind": "simulation",
        "geometry": prob.grid.geometry,
        "probe": {
            "diameter_mm": sig(probe.diameter * 1e3),
            "active_length_mm": sig(probe.active_length * 1e3) if axisymmetric else None,
            "boundary": probe.boundary,
            "catalog": s.catalog.name if s.catalog else None,
            "cannula_bore_mm": None if s.cannula_bore_m is None else round(s.cannula_bore_m * 1e3, 3),
            "times_s": _clean(th.times),
            "phase": th.phase,
            "tip_temperature_c": _clean(th.tip_temperature - 273.15),
            "gas_temperature_c": _clean(th.gas_temperature - 273.15),
            "wall_temperature_c": _clean(th.wall_temperature - 273.15),
            "exhaust_temperature_c": _clean(th.exhaust_temperature - 273.15),
            "tip_pressure_bar": _clean(th.tip_pressure / BAR_PA),
            "mass_flow_g_per_s": _clean(th.mass_flow * 1e3),
            "dry_fraction": _clean(th.dry_fraction),
            "cooling_power_w": _clean(th.cooling_power),
            "gas_used_g": None if s.operating is None else round(probe.mass_flow * freeze_s * 1e3, 2),
        },
        "cryogen": cryogen,
        "tissue": {
            "type": prob.tissue.name,
            "k_unfrozen_w_per_m_k": sig(prob.tissue.k_unfrozen),
            "k_frozen_w_per_m_k": sig(prob.tissue.k_frozen),
            "c_unfrozen_j_per_m3_k": sig(prob.tissue.c_unfrozen),
            "c_frozen_j_per_m3_k": sig(prob.tissue.c_frozen),
            "latent_heat_j_per_m3": sig(prob.tissue.latent_heat),
            "t_solidus_c": round(k_to_c(prob.tissue.t_solidus), 3),
            "t_liquidus_c": round(k_to_c(prob.tissue.t_liquidus), 3),
            "perfusion_per_s": sig(prob.tissue.perfusion_per_s),
            "metabolic_w_per_m3": sig(prob.tissue.metabolic),
            "sources": prob.tissue.sources,
        },
        "protocol": [
            {"kind": p.kind, "seconds": p.seconds,
             "temperature_c": None if p.temperature_k is None else round(k_to_c(p.temperature_k), 3)}
            for p in prob.protocol.phases
        ],
        "iceball": {"times_s": _clean(th.times), "isotherms": iso},
        "nerves": _nerves_json(result),
        "outcome": _outcome_json(result),
        "map": _map_json(result),
        "chart": _chart_json(result),
        "points": _points_json(result),
        "injury_thresholds": None if s.injury is None or not result.nerves else {
            "neurapraxia_below_c": round(s.injury.neurapraxia_below_k - 273.15, 3),
            "axonotmesis_below_c": round(s.injury.axonotmesis_below_k - 273.15, 3),
            "axonotmesis_min_seconds": s.injury.axonotmesis_min_seconds,
            "axonotmesis_min_cycles": s.injury.axonotmesis_min_cycles,
            "neurotmesis_below_c": round(s.injury.neurotmesis_below_k - 273.15, 3),
            "min_block_length_mm": round(s.injury.min_block_length_m * 1e3, 3),
            "block_probability_rule": "linear in the warmest temperature of the coldest stretch of "
                                      "min_block_length_mm, from 0 at neurapraxia_below_c to 1 at "
                                      "axonotmesis_below_c",
            "sources": s.injury.sources,
        },
        "solver": {
            "cells": int(prob.grid.tissue.sum()),
            "min_spacing_mm": round(prob.grid.min_spacing * 1e3, 5),
            "time_step_s": sig(th.time_step),
            "max_step_s": prob.max_step,
            "stages": th.stages,
            "sweeps": th.sweeps,
            "outer_boundary": prob.outer_boundary,
            "energy_j": {k: sig(v, 7) for k, v in th.energy.items()},
            "energy_balance_error": sig(th.energy_balance_error, 2),
            "wall_time_s": round(result.wall_time_s, 3),
        },
    }


def _nerves_json(result) -> list[dict[str, Any]]:
    return [nerve_json(a, nerve) for a, nerve in zip(result.nerves, result.case.nerves, strict=True)]


def nerve_json(a, nerve) -> dict[str, Any]:
    """One nerve's assessment (``NerveAssessment``) along its path (``Nerve``)."""
    return {
        "name": a.name,
        "sunderland_grade": a.sunderland_grade,
        "grade_name": GRADE_NAMES[a.sunderland_grade],
        "blocked": a.blocked,
        "block_probability": round(a.block_probability, 4),
        "block_temperature_c": round(a.block_temperature_k - 273.15, 2),
        "block_reason": a.block_reason,
        "blocked_length_mm": round(a.blocked_length_m * 1e3, 3),
        "lesion_at_mm": None if a.lesion_arc_m is None else round(a.lesion_arc_m * 1e3, 3),
        "min_temperature_c": round(a.min_temperature_k - 273.15, 2),
        "reversible": a.reversible,
        "mechanism": a.mechanism,
        "dehydration_fraction": None if a.dehydration_fraction is None else round(a.dehydration_fraction, 4),
        "intracellular_ice_probability": None if a.iif_probability is None else round(a.iif_probability, 4),
        "warnings": a.warnings,
        "path_rz_mm": _path_rz_mm(nerve.points),
        "along_nerve": {
            "arc_length_mm": _clean(a.arc_length_m * 1e3),
            "cross_section_grade": a.section_grade.tolist(),
            "max_grade": a.max_grade.tolist(),
        },
    }


def _path_rz_mm(points: np.ndarray, samples: int = 41) -> list[list[float]]:
    """A nerve's path in the (r, z) half-plane of an axisymmetric run: each point's distance
    from the probe axis and its height (a perpendicular nerve shows as a line from its closest
    approach outward)."""
    seg = np.diff(points, axis=0)
    s = np.linspace(0.0, 1.0, samples)
    dense = np.concatenate([p + s[:, None] * d for p, d in zip(points[:-1], seg, strict=True)])
    return [[round(float(np.hypot(x, y)) * 1e3, 3), round(float(z) * 1e3, 3)] for x, y, z in dense]


def relief_curve(dist: ReliefDistribution, points: int = 97) -> dict[str, list[float]]:
    """Probability that a patient still has relief, month by month, to the 99th percentile."""
    months = np.linspace(0.0, dist.quantile(0.99), points)
    return {"months": [round(float(m), 2) for m in months],
            "still_relieved": [round(1.0 - dist.returned_by(float(m)), 4) for m in months]}


def _strided(n: int, most: int) -> slice:
    return slice(None, None, max(1, -(-n // most)))


def _map_json(result: Result, most: int = 160) -> dict[str, Any] | None:
    """The coldest and the final temperature over the (r, z) half-plane, at most ``most`` points
    a side (every k-th cell), for maps in reports; None for 1D runs."""
    th = result.thermal
    grid = th.grid
    if grid.geometry != "axisymmetric":
        return None
    si, sj = _strided(len(grid.r), most), _strided(len(grid.z), most)

    def field(values: np.ndarray) -> list[list[float | None]]:
        t_c = np.where(grid.tissue, values - 273.15, np.nan)[si, sj]
        return [[None if not math.isfinite(v) else round(float(v), 1) for v in row] for row in t_c.T]

    return {
        "r_mm": _clean(grid.r[si] * 1e3),
        "z_mm": _clean(grid.z[sj] * 1e3),
        "layout": "rows along z, columns along r",
        "min_temperature_c": field(th.history.min_temperature),
        "final_temperature_c": field(th.temperature),
        "probe_radius_mm": round(grid.probe_radius * 1e3, 4),
        "active_length_mm": round(grid.active_length * 1e3, 4),
    }


def _chart_json(result: Result) -> dict[str, Any] | None:
    """The isotherm chart at the times the run kept its field (by default each freeze's end)."""
    p = panel(result)
    return None if p is None else {"title": chart_title(result), "panels": [p]}


def _points_json(result: Result) -> dict[str, Any] | None:
    """The temperatures at [output] points_mm at every output time."""
    th, points = result.thermal, result.case.problem.sample_points
    if points is None or th.samples is None:
        return None
    return {"r_mm": _clean(points[:, 0] * 1e3), "z_mm": _clean(points[:, 1] * 1e3),
            "layout": "one row per output time (iceball.times_s), one column per point",
            "temperature_c": [_clean(row - 273.15) for row in th.samples]}


def relief_json(dist: ReliefDistribution) -> dict[str, Any]:
    """Percentiles of a relief distribution (months) and what shaped it."""
    return {"p5": round(dist.quantile(0.05), 2), "median": round(dist.median, 2),
            "p95": round(dist.quantile(0.95), 2), "regrowth_floor_months": round(dist.floor_months, 2),
            "patient_factors": list(dist.applied) or ["none (the reference patient)"]}


def _outcome_json(result) -> dict[str, Any] | None:
    o = result.outcome
    if o is None:
        return None
    after = o.retreat_after_months
    return {
        "block_probability": round(o.block_probability, 4),
        "relief_months": None if o.relief is None else relief_json(o.relief),
        "retreat_after_months": None if after is None else round(after, 2),
        "retreat_at_probability": o.retreat_at_probability,
        "nerves_treated": o.nerves_treated,
        "regrowth_distance_mm": (None if o.regrowth_distance_m is None
                                 else round(o.regrowth_distance_m * 1e3, 2)),
        "regrowth_floor_months": None if o.relief is None else round(o.relief.floor_months, 2),
        "curve": None if o.relief is None else relief_curve(o.relief),
        "model": o.model,
        "patient": asdict(o.patient),
        "note": o.note,
        "sources": "src/cryoplan/data/outcome.toml (calibration: docs/injury.md)",
    }


def final_history_summary(result: Result) -> dict[str, Any]:
    """Coldest tissue temperature and the largest number of freeze cycles seen."""
    h = result.thermal.history
    tmin = np.where(h.tissue, h.min_temperature, np.inf)
    return {"min_temperature_c": round(float(tmin.min()) - 273.15, 3),
            "max_freeze_cycles": int(h.freeze_cycles.max())}


AXES = "xyz"


def slices_json(labels: np.ndarray, origin: np.ndarray, spacing: np.ndarray, coldest_c: np.ndarray,
                at: np.ndarray) -> list[dict[str, Any]]:
    """The three axis-aligned planes of a voxel field through the point ``at`` (m): coldest
    temperature (°C, None inside a probe) and labels, rows along the plane's second axis, columns
    along its first (for maps in reports)."""
    shape = np.array(labels.shape)
    index = np.clip(np.rint((at - origin) / spacing).astype(int), 0, shape - 1)

    def mm(x) -> list[float]:
        return [round(float(v) * 1e3, 3) for v in x]

    out = []
    for normal in range(3):
        a, b = [k for k in range(3) if k != normal]
        take = [slice(None)] * 3
        take[normal] = index[normal]
        cold = coldest_c[tuple(take)].T  # rows: axis b, columns: axis a
        out.append({
            "normal": AXES[normal],
            "at_mm": round(float(origin[normal] + index[normal] * spacing[normal]) * 1e3, 3),
            "axes": [AXES[a], AXES[b]],
            "u_mm": mm(origin[a] + np.arange(shape[a]) * spacing[a]),
            "v_mm": mm(origin[b] + np.arange(shape[b]) * spacing[b]),
            "min_temperature_c": [[None if not math.isfinite(x) else round(float(x), 1) for x in row]
                                  for row in cold],
            "labels": labels[tuple(take)].T.astype(int).tolist(),
        })
    return out


def _exit_point(grid, tip: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Where a needle's axis leaves the box (m)."""
    lo, hi = grid.extent_min, grid.extent_max
    with np.errstate(divide="ignore"):
        s = np.where(axis > 0, (hi - tip) / axis, np.where(axis < 0, (lo - tip) / axis, np.inf))
    return tip + max(float(s.min()), 0.0) * axis


def _json3d(result: Result) -> dict[str, Any]:
    """A 3D run's JSON: per probe its placement, operation and ice ball
    (radius and length from its own axis), the union's volume, the nerves, the outcome, and the
    three planes through the probes (``map``)."""
    s, th = result.case, result.thermal
    grid, times = s.grid, th.times
    probes = []
    for j, p in enumerate(s.probes):
        placed, model = p.placed, p.placed.model
        protocol = p.protocol or s.protocol
        freeze_s = sum(ph.seconds for ph in protocol.phases if ph.kind == "freeze")
        probes.append({
            "name": p.name,
            "tip_mm": [round(float(x) * 1e3, 3) for x in placed.tip],
            "direction_tip_to_hub": [round(float(x), 5) for x in placed.axis],
            "diameter_mm": sig(model.diameter * 1e3),
            "active_length_mm": sig(model.active_length * 1e3),
            "boundary": model.boundary,
            "catalog": p.catalog.name if p.catalog else None,
            "cannula_bore_mm": None if p.bore is None else round(p.bore * 1e3, 3),
            "cryogen": None if p.operating is None else operating_json(p.operating),
            "protocol": [{"kind": ph.kind, "seconds": ph.seconds} for ph in protocol.phases],
            "own_protocol": p.protocol is not None,
            "times_s": _clean(times),
            "phase": th.phase,
            "tip_temperature_c": _clean(th.tip_temperature[:, j] - 273.15),
            "gas_temperature_c": _clean(th.gas_temperature[:, j] - 273.15),
            "cooling_power_w": _clean(th.cooling_power[:, j]),
            "gas_used_g": None if p.operating is None else round(model.mass_flow * freeze_s * 1e3, 2),
            "isotherms": {isotherm_key(k_to_c(t)): {"radius_mm": _clean(series.radius[:, j] * 1e3),
                                                    "length_mm": _clean(series.length[:, j] * 1e3)}
                          for t, series in th.isotherms.items()},
        })
    iso = {
        isotherm_key(k_to_c(t)): {
            "radius_mm": _clean(series.radius[:, 0] * 1e3),  # the first probe's, as in 2D
            "length_mm": _clean(series.length[:, 0] * 1e3),
            "volume_ml": _clean(series.volume * 1e6),  # the union of every probe's ice
            "per_probe": [{"radius_mm": _clean(series.radius[:, j] * 1e3),
                           "length_mm": _clean(series.length[:, j] * 1e3)} for j in range(len(s.probes))],
        }
        for t, series in th.isotherms.items()
    }
    h = th.history
    coldest = np.where(h.tissue, h.min_temperature - 273.15, np.nan)
    at = s.centre()
    exits = [_exit_point(grid, p.placed.tip, p.placed.axis) for p in s.probes]
    needles = [{"tip_mm": q["tip_mm"], "entry_mm": [round(float(x) * 1e3, 3) for x in e]}
               for q, e in zip(probes, exits, strict=True)]
    tissue = grid.materials[0]
    labels, structures = grid.material, {}
    if s.volume is not None:  # an anatomy's labels, outlined in the report's planes
        labels = s.volume.labels
        structures = {str(k): {"name": st.name, "tissue": st.tissue, "role": st.role,
                               "limit_c": None if st.limit_k is None else round(k_to_c(st.limit_k), 2)}
                      for k, st in sorted(s.volume.structures.items())}
    return {
        "cryoplan_version": __version__,
        "kind": "simulation",
        "geometry": "3d",
        "probe": probes[0],
        "probes": probes,
        "cryogen": probes[0]["cryogen"],
        "tissue": {"type": tissue.name, "k_unfrozen_w_per_m_k": sig(tissue.k_unfrozen),
                   "k_frozen_w_per_m_k": sig(tissue.k_frozen), "perfusion_per_s": sig(tissue.perfusion_per_s),
                   "t_liquidus_c": round(k_to_c(tissue.t_liquidus), 3), "sources": tissue.sources},
        "protocol": [{"kind": ph.kind, "seconds": ph.seconds,
                      "temperature_c": (None if ph.temperature_k is None
                                        else round(k_to_c(ph.temperature_k), 3))}
                     for ph in s.protocol.phases],
        "iceball": {"times_s": _clean(times), "tip_temperature_c": _clean(th.tip_temperature[:, 0] - 273.15),
                    "isotherms": iso},
        "nerves": [nerve_json(a, n) for a, n in zip(result.nerves, s.nerves, strict=True)],
        "structures": structures,
        "outcome": _outcome_json(result),
        "map": {
            "slices": slices_json(labels, grid.origin, grid.spacing, coldest, at),
            "tip_mm": needles[0]["tip_mm"],
            "entry_mm": needles[0]["entry_mm"],
            "needles": needles,
        },
        "solver": {
            "cells": int(grid.n_cells),  # voxels
            "shape": list(grid.shape),
            "box_mm": [[round(float(x) * 1e3, 3) for x in grid.extent_min],
                       [round(float(x) * 1e3, 3) for x in grid.extent_max]],
            "spacing_mm": round(float(grid.spacing[0]) * 1e3, 5),
            "time_step_s": sig(th.time_step),
            "max_step_s": s.problem.max_step,
            "stages": th.stages,
            "sweeps": th.sweeps,
            "energy_j": {k: sig(v, 7) for k, v in th.energy.items()},
            "energy_balance_error": sig(th.energy_balance_error, 2),
            "wall_time_s": round(result.wall_time_s, 3),
        },
    }
