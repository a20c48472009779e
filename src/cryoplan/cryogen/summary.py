"""A probe's operating point in the units of the outputs (mm, bar, g/s, standard L/min, degrees
Celsius, W), for the result JSON, the report and ``cryoplan probe``; and the probe's warnings."""

from __future__ import annotations

import math
from typing import Any

from cryoplan.cryogen.operation import OperatingPoint
from cryoplan.cryogen.wall_law import (
    P_FILM,
    P_H_LIQUID,
    P_H_LIQUID_TIP,
    P_H_VAPOUR,
    P_Q_CHF,
    P_T_LEIDENFROST,
)
from cryoplan.named_warnings import NamedWarning
from cryoplan.units import BAR_PA, k_to_c


def _mm(x: float) -> float:
    return round(x * 1e3, 4)


def _r(x: float, digits: int = 3) -> float | None:
    return round(float(x), digits) if math.isfinite(x) else None


def operating_json(op: OperatingPoint) -> dict[str, Any]:
    """Design, console, flow, tip state, capacities and inside heat transfer of a probe.

    Parameters
    ----------
    op : OperatingPoint
        The probe's operating point (SI units).

    Returns
    -------
    dict
        JSON-ready values in the output units named in each key (mm, bar, g/s, standard L/min,
        °C, W, W/(m2 K)); ``inlet_solid_fraction`` [-] is the dry-ice snow of CO2 expanded below
        its triple point (None otherwise).
    """
    d, s, p = op.design, op.supply, op.law.params
    film = p[P_FILM] > 0
    return {
        "gas": d.gas,
        "family": d.family,
        "console": {
            "supply_pressure_bar": round(s.supply_pressure_pa / BAR_PA, 3),
            "supply_temperature_c": round(k_to_c(s.supply_temperature_k), 2),
            "supply_phase": s.supply_phase,
            "exhaust_pressure_bar": round(s.back_pressure_pa / BAR_PA, 4),
        },
        "design": {
            "outer_diameter_mm": _mm(d.outer_diameter),
            "bore_mm": _mm(d.bore),
            "wall_thickness_mm": _mm(d.wall_thickness),
            "active_length_mm": _mm(d.active_length),
            "supply": {"kind": d.supply.kind, "inner_diameter_mm": _mm(d.supply.inner_diameter),
                       "outer_diameter_mm": _mm(d.supply.outer_diameter),
                       "length_mm": _mm(d.supply.length),
                       "discharge_coefficient": d.supply.discharge_coefficient},
            "exhaust": {"shaft_length_mm": _mm(d.exhaust.shaft_length),
                        "return_inner_diameter_mm": _mm(d.exhaust.return_inner_diameter),
                        "return_length_mm": _mm(d.exhaust.return_length)},
            "recuperator_effectiveness": d.recuperator_effectiveness,
            "heat_transfer_multiplier": d.heat_transfer_multiplier,
            "shaft_insulation_m2_k_per_w": _r(d.shaft_insulation, 6),
            "sources": dict(d.sources),
            # the family constants fitted on published data (each source says on which)
            "fitted": [k for k, v in d.sources if v.startswith("fitted")],
        },
        "mass_flow_g_per_s": round(op.mass_flow * 1e3, 5),
        "standard_flow_l_per_min": round(op.standard_flow_l_per_min, 3),
        "supply_choked": op.choked,
        "tip_pressure_bar": round(op.tip_pressure / BAR_PA, 4),
        "inlet_temperature_c": round(k_to_c(op.boiling_temperature), 2),
        "inlet_quality": round(float(op.law.quality[0]), 4) if op.law.quality[0] < 1 else None,
        "inlet_solid_fraction": (round(op.expansion.outlet_solid_fraction, 4)
                                 if op.expansion.outlet_solid_fraction > 0 else None),
        "latent_capacity_w": round(op.latent_capacity_w, 2),
        "capacity_to_20c_w": round(op.capacity_w(293.15), 2),
        "heat_transfer": {
            "boiling_liquid_only_w_per_m2_k": round(float(p[P_H_LIQUID]), 1),
            "tip_jet_liquid_only_w_per_m2_k": round(float(p[P_H_LIQUID_TIP]), 1),
            "dry_gas_w_per_m2_k": round(float(p[P_H_VAPOUR]), 1),
            "film_boiling": bool(film),
            "leidenfrost_c": round(k_to_c(float(p[P_T_LEIDENFROST])), 2) if film else None,
            "critical_heat_flux_w_per_m2": _r(float(p[P_Q_CHF]), 0),
        },
        "notes": list(op.notes),
    }


def operating_warnings(op: OperatingPoint) -> list[NamedWarning]:
    """Named warnings about a probe's operation itself, before any tissue.

    Parameters
    ----------
    op : OperatingPoint
        The probe's operating point.

    Returns
    -------
    list of NamedWarning
        The warnings, none for a probe that runs as expected.
    """
    out = []
    if op.law.quality[0] >= 1.0:
        out.append(NamedWarning(
            "probe-no-liquid",
            f"no liquid forms at the tip: the {op.design.gas} expands to dry gas at "
            f"{k_to_c(op.boiling_temperature):.1f} °C, so the probe cools only as cold gas and can "
            "take no heat from tissue colder than that"
            + (" (argon reaches its boiling point only with a recuperator)"
               if op.design.gas == "argon" else ""),
            "probe"))
    return out


def operating_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """``operating_json`` (with its ``warnings``) as labelled lines for a terminal table.

    Parameters
    ----------
    data : dict
        The output of ``operating_json`` with a ``warnings`` list added.

    Returns
    -------
    list of (str, str)
        Label and value (with its unit) of each line.
    """
    d, c, ht = data["design"], data["console"], data["heat_transfer"]
    sup, ex = d["supply"], d["exhaust"]
    if sup["kind"] == "capillary":
        supply = f"capillary {sup['inner_diameter_mm'] * 1e3:.0f} µm x {sup['length_mm']:.0f} mm"
    else:
        supply = f"orifice {sup['inner_diameter_mm'] * 1e3:.0f} µm (C_d {sup['discharge_coefficient']:g})"
    snow = data.get("inlet_solid_fraction")
    at_tip = f"{data['inlet_temperature_c']:.1f} °C, " + (
        f"dry-ice snow {snow:.2f} in its vapour" if snow else
        f"vapour quality {data['inlet_quality']:.2f}" if data["inlet_quality"] is not None else "dry gas")
    heat = (f"boiling (liquid-only) {ht['boiling_liquid_only_w_per_m2_k']:.0f}, jet on the tip "
            f"{ht['tip_jet_liquid_only_w_per_m2_k']:.0f}, dry gas {ht['dry_gas_w_per_m2_k']:.0f} W/m²K")
    if ht["film_boiling"]:
        heat += f"; film boiling above {ht['leidenfrost_c']:.0f} °C"
    rows = [
        ("gas / family", f"{data['gas']} / {data['family']}"),
        ("console", f"supply {c['supply_pressure_bar']:.1f} bar at {c['supply_temperature_c']:.1f} °C "
                    f"({c['supply_phase']}), exhaust {c['exhaust_pressure_bar']:.2f} bar"),
        ("outer tube", f"{d['outer_diameter_mm']:.3f} mm, bore {d['bore_mm']:.3f} mm, "
                       f"active {d['active_length_mm']:.1f} mm"),
        ("supply", f"{supply}, tube {sup['outer_diameter_mm']:.3f} mm"),
        ("exhaust", f"annulus x {ex['shaft_length_mm']:.0f} mm, return "
                    f"{ex['return_inner_diameter_mm']:.1f} mm x {ex['return_length_mm'] / 1e3:.1f} m"),
        ("gas flow", f"{data['mass_flow_g_per_s']:.4g} g/s = {data['standard_flow_l_per_min']:.3g} "
                     "standard L/min" + (" (choked)" if data["supply_choked"] else "")),
        ("tip pressure", f"{data['tip_pressure_bar']:.3f} bar"),
        ("cryogen at the tip", at_tip),
        ("capacity", f"{data['latent_capacity_w']:.2f} W {'subliming' if snow else 'boiling'}, "
                     f"{data['capacity_to_20c_w']:.2f} W "
                     "to a 20 °C exhaust"),
        ("inside heat transfer", heat),
    ]
    rows += [("note", n) for n in data["notes"]]
    rows += [("warning", f"{w['code']}: {w['message']}") for w in data.get("warnings", [])]
    return rows
