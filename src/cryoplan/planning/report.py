"""A plan as JSON (the ``--json`` output of ``cryoplan plan``), in mm, degrees Celsius and seconds.

>>> wilson(45, 50)
(0.786, 0.957)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cryoplan.anatomy.labels import anatomy_data
from cryoplan.injury.grade import GRADE_NAMES
from cryoplan.planning.evaluate import Evaluation
from cryoplan.planning.search import Plan
from cryoplan.units import k_to_c


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion (Wilson EB, J Am Stat Assoc 22 (1927) 209)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(centre - half, 3), round(centre + half, 3)


def _mm(v: np.ndarray) -> list[float]:
    return [round(float(x) * 1e3, 2) for x in v]


def _candidate(e: Evaluation) -> dict[str, Any]:
    c = e.candidate
    return {
        "cycles": c.cycles,
        "freeze_s": c.freeze_s,
        "tip_mm": _mm(c.tip),
        "direction": [round(float(x), 4) for x in c.axis],
        "refused": e.refused,
        "block_probability": None if e.refused else round(e.block_probability, 3),
        "failures": list(e.failures),
    }


def _placement_source(kind: str) -> dict[str, str]:
    data = anatomy_data()["placement"]
    if kind == "stimulation":
        return {"source": data["stimulation"]["source"], "model": data["stimulation"]["model"]}
    if kind == "given":
        return {"source": "plan.placement_error_mm of the plan file", "model": data["model"]}
    return {"source": data["error_source"], "model": data["model"]}


def plan_json(plan: Plan, thaw_s: float, placement: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "anatomy": plan.anatomy,
        "status": "plan" if plan.chosen else "no safe plan",
        "why": plan.why,
        "placement_error": {
            "kind": placement,
            "sigma_mm_per_axis": round(plan.sigma_mm, 3),
            "samples": plan.samples,
            **_placement_source(placement),
        },
        "required_block_probability": plan.required,
    }
    e = plan.chosen
    if e is not None:
        c = e.candidate
        blocked = int(round(e.block_probability * plan.samples))
        out["plan"] = {
            "tip_mm": _mm(c.tip),
            "direction_tip_to_hub": [round(float(x), 4) for x in c.axis],
            "entry_mm": _mm(plan.entry_m),
            "cycles": c.cycles,
            "freeze_s": c.freeze_s,
            "thaw_s": thaw_s,
            "total_freeze_s": c.total_freeze_s,
            "protocol": [{"kind": p.kind, "seconds": p.seconds} for p in c.protocol.phases],
        }
        out["block_probability"] = round(e.block_probability, 3)
        out["block_probability_ci95"] = list(wilson(blocked, plan.samples))
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
        out["relief_months"] = (
            None
            if plan.relief is None
            else {
                "median": round(plan.relief.median, 1),
                "p25": round(plan.relief.quantile(0.25), 1),
                "p75": round(plan.relief.quantile(0.75), 1),
                "note": "at the nominal placement (src/cryoplan/data/outcome.toml)",
            }
        )
        out["rigid_shift_check"] = [
            {
                "offset_mm": list(k.offset_mm),
                "blocked": k.blocked,
                "min_temperature_c": round(k_to_c(k.min_temperature_k), 2),
                "rigid_blocked": k.rigid_blocked,
                "rigid_min_temperature_c": round(k_to_c(k.rigid_min_temperature_k), 2),
            }
            for k in plan.checks
        ]
    out["candidates"] = [_candidate(x) for x in plan.evaluations]
    out["wall_time_s"] = round(plan.wall_time_s, 1)
    return out
