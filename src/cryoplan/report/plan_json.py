"""A plan as JSON (the ``--json`` output of ``cryoplan plan``), in mm, degrees Celsius and seconds.

A session's JSON has one plan per target (``plans``, each as a one-target plan's fields) and its
summary (``session``: the order, the total freezing time, the probes and gas used, what failed
and why); a one-target plan also has that target's fields at the top level, as before.

>>> wilson(45, 50)
(0.786, 0.957)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cryoplan import __version__
from cryoplan.anatomy.frame import clinical_approach
from cryoplan.anatomy.labels import anatomy_data
from cryoplan.anatomy.templates import template_of
from cryoplan.case import PlanCase
from cryoplan.injury.grade import GRADE_NAMES
from cryoplan.outcome.relief import ReliefDistribution
from cryoplan.plan_config import PlanConfig
from cryoplan.planning.evaluate import Evaluation
from cryoplan.planning.search import Plan, TargetPlan
from cryoplan.report.result_json import isotherm_key, relief_curve, relief_json, slices_json
from cryoplan.thermal.solver3d import ThermalResult3D
from cryoplan.units import k_to_c


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion (Wilson EB, J Am Stat Assoc 22 (1927) 209)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(centre - half, 3), round(centre + half, 3)


def _c(kelvin: float) -> float:
    return round(k_to_c(kelvin), 2)


def _mm(v: np.ndarray) -> list[float]:
    return [round(float(x) * 1e3, 2) for x in v]


def _candidate(e: Evaluation) -> dict[str, Any]:
    c = e.candidate
    return {
        "cycles": c.cycles,
        "freeze_seconds": c.freeze_s,
        "probes": len(c.probes),
        "tip_mm": _mm(c.tip),
        "direction": [round(float(x), 4) for x in c.axis],
        "tips_mm": [_mm(p.tip) for p in c.probes],
        "directions": [[round(float(x), 4) for x in p.axis] for p in c.probes],
        "refused": e.refused,
        "block_probability": None if e.refused else round(e.block_probability, 3),
        "simulated": e.simulated,
        "failures": list(e.failures),
    }


def _placement_source(kind: str) -> dict[str, str]:
    data = anatomy_data()["placement"]
    if kind == "stimulation":
        return {"source": data["stimulation"]["source"], "model": data["stimulation"]["model"]}
    if kind == "given":
        return {"source": "plan.placement_error_mm of the plan file", "model": data["model"]}
    return {"source": data["error_source"], "model": data["model"]}


def _iceball(run: ThermalResult3D) -> dict[str, Any]:
    """Growth of the 0 and -20 °C isotherms of the nominal run: radius and length of the first
    probe's (``per_probe`` for each probe), volume of them all."""
    return {
        "times_s": [round(float(t), 2) for t in run.times],
        "tip_temperature_c": [round(float(t) - 273.15, 2) for t in run.tip_temperature[:, 0]],
        "isotherms": {
            isotherm_key(k_to_c(t)): {
                "radius_mm": [round(float(x) * 1e3, 3) for x in series.radius[:, 0]],
                "length_mm": [round(float(x) * 1e3, 3) for x in series.length[:, 0]],
                "volume_ml": [round(float(x) * 1e6, 4) for x in series.volume],
                "per_probe": [{"radius_mm": [round(float(x) * 1e3, 3) for x in series.radius[:, j]],
                               "length_mm": [round(float(x) * 1e3, 3) for x in series.length[:, j]]}
                              for j in range(series.radius.shape[1])],
            }
            for t, series in run.isotherms.items()
        },
    }


def _slices(plan: TargetPlan, tip: np.ndarray) -> list[dict[str, Any]]:
    """The three axis-aligned planes through the tip (``result.slices_json``)."""
    vol = plan.volume
    return slices_json(vol.labels, vol.origin, vol.spacing, plan.coldest_c, tip)


def _relief(dist: ReliefDistribution) -> dict[str, Any]:
    return {
        **relief_json(dist),
        "p25": round(dist.quantile(0.25), 1),
        "p75": round(dist.quantile(0.75), 1),
        "curve": relief_curve(dist),
        "note": "once the targets are blocked, at the nominal placement (src/cryoplan/data/outcome.toml; "
                "calibration in docs/injury.md)",
    }


def _approximation(t: TargetPlan) -> dict[str, Any]:
    """How far screening (moved runs) was from the 3D solver on the candidates it sent to be
    simulated, the chosen one included."""
    rows = [{"candidate": k, "screened_block_probability": round(a, 3),
             "simulated_block_probability": round(b, 3), "difference": round(a - b, 3)}
            for k, a, b in t.screening]
    err = t.screened_error
    return {
        "method": "every placement screened from the nearest simulated run moved to it (a rigid motion); "
                  "those in contention simulated in 3D, the plan chosen among the simulated",
        "screened": sum(e.screened_from is not None for e in t.evaluations),
        "simulated": sum(e.simulated for e in t.evaluations),
        "chosen_screened_block_probability": (None if err is None
                                              else round(err + t.chosen.block_probability, 3)),
        "chosen_difference": None if err is None else round(err, 3),
        "largest_difference": round(max((abs(r["difference"]) for r in rows), default=0.0), 3),
        "candidates": rows,
    }


def _probes(t: TargetPlan) -> list[dict[str, Any]]:
    c = t.chosen.candidate
    out = []
    for p, e in zip(c.probes, t.entry_m, strict=True):
        row = {"tip_mm": _mm(p.tip), "direction_tip_to_hub": [round(float(x), 4) for x in p.axis],
               "entry_mm": _mm(e), "approach": _approach(t, p.tip, p.axis, e)}
        if t.patient is not None:
            row["patient_ras_mm"] = {"tip": _ras(t, p.tip), "entry": _ras(t, e)}
        out.append(row)
    return out


#: What stands for a CT's path in a plan's inputs.
NOT_COPIED = "(a CT; its path is not copied into a result, as it may name the patient)"


def _approach(t: TargetPlan, tip: np.ndarray, axis: np.ndarray, entry: np.ndarray) -> dict[str, Any] | None:
    """A needle's approach in a physician's terms (``anatomy.frame.clinical_approach``): from the
    midline (a CT: the vertebra's own) and the target."""
    if t.patient is not None:
        out = clinical_approach(tip, axis, entry, t.patient.midline_x_m)
    elif t.level is not None:
        section = "sacral" if template_of(t.level).startswith("sacral") else "lumbar"
        out = clinical_approach(tip, axis, entry, -anatomy_data()[section]["midline_mm"] * 1e-3)
    else:
        return None
    out["skin_reached"] = bool(t.skin_checked)
    return out


def _mm_list(point_mm: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in point_mm]


def _unit(v: np.ndarray) -> list[float]:
    return [round(float(x), 4) for x in v]


def _ras(t: TargetPlan, point_m: np.ndarray) -> list[float]:
    """A point of a patient's region in the CT's RAS+ mm."""
    assert t.patient is not None
    return _mm_list(t.patient.to_patient(point_m))


def target_json(t: TargetPlan, cfg: PlanConfig) -> dict[str, Any]:
    """One target's plan: the chosen placement(s), protocol, probability, margins, checks, the
    nominal run's growth and maps, and every candidate tried."""
    placement = "given" if cfg.plan.placement_error_mm is not None else cfg.plan.placement
    out: dict[str, Any] = {
        "name": t.name,
        "level": t.level,
        "side": t.side,
        "mirror_of": t.mirror_of,
        "anatomy": t.anatomy,
        "status": "plan" if t.chosen else "no safe plan",
        "why": t.why,
        "placement_error": {
            "kind": placement,
            "sigma_mm_per_axis": round(t.sigma_mm, 3),
            "samples": t.samples,
            "per_probe": "each probe has its own placement error, drawn independently",
            **_placement_source(placement),
        },
        "required_block_probability": t.required,
        "needle_path_checked": t.skin_checked,
    }
    if t.patient is not None:
        f = t.patient
        out["patient"] = {
            "frame": "RAS",
            "origin_mm": _mm_list(f.origin_mm),
            "axes": {"lateral": _unit(f.axes[0]), "cranial": _unit(f.axes[1]), "posterior": _unit(f.axes[2])},
            "note": "the plan's tips and entries (tip_mm, entry_mm) are in the target's frame (x lateral, "
                    "y cranial, z posterior, mm, from the origin); patient_ras_mm gives them on the CT",
        }
    e = t.chosen
    if e is not None:
        c = e.candidate
        blocked = int(round(e.block_probability * t.samples))
        out["plan"] = {
            "probes": _probes(t),
            "tip_mm": _mm(c.tip),
            "direction_tip_to_hub": [round(float(x), 4) for x in c.axis],
            "entry_mm": _mm(t.entry_m[0]),
            "cycles": c.cycles,
            "freeze_seconds": c.freeze_s,
            "thaw_seconds": cfg.plan.thaw_seconds,
            "total_freeze_seconds": c.total_freeze_s,
            "protocol_seconds": c.protocol.total_seconds,
            "protocol": [{"kind": p.kind, "seconds": p.seconds} for p in c.protocol.phases],
        }
        out["block_probability"] = round(e.block_probability, 3)
        out["block_probability_ci95"] = list(wilson(blocked, t.samples))
        out["grade3_probability"] = round(e.grade3_probability, 3)
        out["margins"] = [
            {
                "name": m.name,
                "limit_c": round(k_to_c(m.limit_k), 2),
                "nominal_min_c": round(k_to_c(m.nominal_min_k), 2),
                "worst_min_c": round(k_to_c(m.worst_min_k), 2),
                "margin_k": round(m.worst_min_k - m.limit_k, 2),
                "violation_probability": round(m.violation_probability, 4),
                "limit_isotherm_distance_mm": None if m.distance_mm is None else round(m.distance_mm, 2),
            }
            for m in e.margins
        ]
        out["targets"] = [
            {
                "name": a.name,
                "sunderland_grade": a.sunderland_grade,
                "grade_name": GRADE_NAMES[a.sunderland_grade],
                "blocked": a.blocked,
                "block_probability": round(a.block_probability, 3),
                "block_reason": a.block_reason,
                "blocked_length_mm": round(a.blocked_length_m * 1e3, 2),
                "min_temperature_c": round(k_to_c(a.min_temperature_k), 2),
                "reversible": a.reversible,
                "warnings": a.warnings,
            }
            for a in e.nominal
        ]
        out["ice_ball"] = {
            "minus20_radius_mm": round(e.radius_minus20_mm, 2),
            "minus20_length_mm": round(e.length_minus20_mm, 2),
        }
        out["relief_months"] = None if t.relief is None else _relief(t.relief)
        out["rigid_shift_check"] = [
            {
                "offset_mm": list(k.offset_mm[0]),
                "offsets_mm": [list(row) for row in k.offset_mm],
                # null when the displaced probe could not be simulated; "not_simulated" says why
                "block_probability": None if k.block_probability is None else round(k.block_probability, 3),
                "min_temperature_c": None if k.min_temperature_k is None else _c(k.min_temperature_k),
                "not_simulated": k.refused,
                "rigid_block_probability": round(k.rigid_block_probability, 3),
                "rigid_min_temperature_c": round(k_to_c(k.rigid_min_temperature_k), 2),
            }
            for k in t.checks
        ]
        out["approximation"] = _approximation(t)
        out["gas_g"] = None if t.gas_g is None else round(t.gas_g, 2)
        out["structures"] = {
            str(k): {"name": st.name, "tissue": st.tissue, "role": st.role,
                     "limit_c": None if st.limit_k is None else round(k_to_c(st.limit_k), 2)}
            for k, st in sorted(t.volume.structures.items())
        }
        if t.run is not None:
            out["iceball"] = _iceball(t.run)
            out["map"] = {"slices": _slices(t, c.tip), "tip_mm": _mm(c.tip), "entry_mm": _mm(t.entry_m[0]),
                          "needles": [{"tip_mm": _mm(p.tip), "entry_mm": _mm(x)}
                                      for p, x in zip(c.probes, t.entry_m, strict=True)]}
    out["candidates"] = [_candidate(x) for x in t.evaluations]
    out["wall_time_s"] = round(t.wall_time_s, 1)
    return out


def _session(plan: Plan, case: PlanCase) -> dict[str, Any]:
    """The session's summary: the order, the freezing time, the probes and gas, what failed."""
    cfg, catalog = case.config, case.spec.catalog
    planned = plan.planned
    probes = [len(t.chosen.candidate.probes) for t in planned]
    return {
        "targets": len(plan.targets),
        "planned": len(planned),
        "order": [t.name for t in plan.targets],
        "total_freeze_seconds": sum(t.chosen.candidate.total_freeze_s for t in planned),
        "total_protocol_seconds": sum(t.chosen.candidate.protocol.total_seconds for t in planned),
        "probe": cfg.probe.catalog or "custom",
        "probe_insertions": sum(probes),
        "most_probes_at_once": max(probes, default=0),
        "gas": cfg.cryogen.gas or (catalog.gas if catalog else None),
        "gas_g": round(sum(t.gas_g or 0.0 for t in planned), 2),
        "expected_targets_blocked": round(sum(t.chosen.block_probability for t in planned), 2),
        "least_block_probability": None if not planned else round(min(t.chosen.block_probability
                                                                       for t in planned), 3),
        "failed": [{"name": t.name, "why": t.why} for t in plan.targets if t.chosen is None],
        "wall_time_s": round(plan.wall_time_s, 1),
    }


def _ct(case: PlanCase) -> dict[str, Any]:
    """What the CT's survey said (no identifying tag: its geometry only), with its warnings about
    the planned levels and the bones their targets lie on, and every other kind of warning."""
    found = case.survey
    assert found is not None
    bones = {t.bone for t in (found.target(x.level or "", x.side or "") for x in case.targets) if t}
    about = {"landmark-uncertain": bones, "ct-target-not-found": {t.level for t in case.targets}}
    return {"ct": found.description, "frame": "RAS",
            "warnings": [w.as_json() for w in found.warnings
                         if w.code not in about or (w.about or "").split(" ")[0] in about[w.code]]}


def plan_json(plan: Plan, case: PlanCase) -> dict[str, Any]:
    """The plan's JSON: inputs, the session summary, one plan per target (for one target also at
    the top level)."""
    cfg = case.config
    plans = [target_json(t, cfg) for t in plan.targets]
    inputs = cfg.model_dump(mode="json")
    if cfg.anatomy.ct is not None:  # a CT's path may name the patient: never copied
        inputs["anatomy"]["ct"] = NOT_COPIED
    out: dict[str, Any] = {
        "cryoplan_version": __version__,
        "kind": "plan",
        "inputs": inputs,
        "anatomy": (plans[0]["anatomy"] if len(plans) == 1
                    else "session: " + ", ".join(t.name for t in plan.targets)),
        "status": plan.status,
        "session": _session(plan, case),
        "plans": plans,
    }
    if len(plans) == 1:
        out.update({k: v for k, v in plans[0].items() if k not in ("status",)})
        out["status"] = plans[0]["status"]
    else:
        s = out["session"]
        failed = "; ".join(f"{f['name']}: {f['why']}" for f in s["failed"])
        out["why"] = f"{s['planned']} of {s['targets']} targets planned" + (f": {failed}" if failed else "")
        out["required_block_probability"] = cfg.plan.block_probability
    if case.survey is not None:
        out["ct"] = _ct(case)
    out["wall_time_s"] = round(plan.wall_time_s, 1)
    return out
