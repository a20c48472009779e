"""The checks run after every simulation and every plan: each turns a finished run into named
warnings (``cryoplan.named_warnings``) where the physics is out of its depth. ``SIMULATION`` and
``PLAN`` list them; the service runs them all (``simulation(result)``, ``plan(result)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from cryoplan.cryogen.summary import operating_warnings
from cryoplan.data import read_toml
from cryoplan.named_warnings import NamedWarning

#: Share of the heat taken by the probe that the outer boundary may supply before the domain
#: counts as too small (assumed: in an unbounded tissue the boundary supplies nothing; 10 % marks
#: a cooled region that has reached the boundary, far beyond the few per cent of a domain sized
#: as docs/config.md recommends, e.g. 2 % in the demo).
BOUNDARY_SHARE = 0.1
#: Energy balance error above which a run is flagged (relative to the probe's heat).
ENERGY_TOLERANCE = 5e-3
#: The outer band of the domain (share of grid.extent_mm; at least two outer cells) that ice
#: must not reach (assumed: a boundary held at body temperature keeps the last cells warm, so ice
#: "at the edge" shows as ice near it; in unbounded tissue the cold reaches a few mm beyond the
#: ice, sqrt(alpha t) = 6 mm after 5 minutes, so a quarter of a domain sized for the run is clear).
EDGE_BAND = 0.25


@lru_cache(maxsize=1)
def tissue_ranges() -> dict[str, dict]:
    """The span of real tissue properties (data/tissue_ranges.toml, with sources)."""
    return read_toml("tissue_ranges.toml")


def _band(faces: np.ndarray, centres: np.ndarray, extent: float, low: bool) -> np.ndarray:
    """Cells within the outer band at the high (or low) end of one axis."""
    width = max(EDGE_BAND * extent, 2 * (abs(faces[-1] - faces[-2]) if not low else abs(faces[1] - faces[0])))
    return centres <= faces[0] + width if low else centres >= faces[-1] - width


def edge_band(grid) -> np.ndarray:
    """The outer band of a radial or axisymmetric domain: beside its outer radius and, in r-z,
    beyond the tip and beyond the shaft."""
    extent = grid.r_faces[-1]  # grid.extent_mm: from the axis, beyond the tip, beyond the active end
    band = np.zeros(grid.shape, dtype=bool)
    band[_band(grid.r_faces, grid.r, extent, low=False), :] = True
    if grid.geometry == "axisymmetric":
        band[:, _band(grid.z_faces, grid.z, extent, low=True)] = True
        band[:, _band(grid.z_faces, grid.z, extent, low=False)] = True
    return band & grid.tissue


def iceball_at_edge(result) -> list[NamedWarning]:
    """Ice (0 °C or colder) in the outer band of the domain: the ice ball is as large as the
    domain, which clips its isotherms."""
    th = result.thermal
    grid, h = th.grid, th.history
    band = edge_band(grid)
    if not band.any() or float(h.min_temperature[band].min()) > 273.15:
        return []
    return [NamedWarning(
        "iceball-at-edge",
        f"the ice ball reached the outer {100 * EDGE_BAND:g} % of the domain (grid.extent_mm = "
        f"{grid.r_faces[-1] * 1e3:g}): the boundary clips its isotherms; enlarge grid.extent_mm", "solver")]


def boundary_heat(result) -> list[NamedWarning]:
    """The outer boundary (held at the initial temperature) supplied a large share of the heat."""
    e = result.thermal.energy
    probe, boundary = e.get("probe_j", 0.0), e.get("boundary_j", 0.0)
    if not probe > 0 or boundary <= BOUNDARY_SHARE * probe:
        return []
    return [NamedWarning(
        "boundary-heat",
        f"the outer boundary supplied {100 * boundary / probe:.0f} % of the heat the probe took "
        f"({boundary:.3g} of {probe:.3g} J): the tissue beyond the domain is held at its initial "
        "temperature, so the ice ball is too small; enlarge grid.extent_mm", "solver")]


def _unit(key: str) -> str:
    for suffix, unit in (("_w_per_m_k", "W/mK"), ("_j_per_m3_k", "J/m3K"), ("_j_per_m3", "J/m3"),
                         ("_per_s", "1/s"), ("_w_per_m3", "W/m3"), ("_c", "°C")):
        if key.endswith(suffix):
            return unit
    return ""


def tissue_values(tissue) -> dict[str, float]:
    """A tissue's properties under the keys of the procedure file (°C for temperatures)."""
    return {
        "k_unfrozen_w_per_m_k": tissue.k_unfrozen, "k_frozen_w_per_m_k": tissue.k_frozen,
        "c_unfrozen_j_per_m3_k": tissue.c_unfrozen, "c_frozen_j_per_m3_k": tissue.c_frozen,
        "latent_heat_j_per_m3": tissue.latent_heat, "perfusion_per_s": tissue.perfusion_per_s,
        "metabolic_w_per_m3": tissue.metabolic, "t_liquidus_c": tissue.t_liquidus - 273.15,
        "t_solidus_c": tissue.t_solidus - 273.15,
    }


def extreme_tissue(result) -> list[NamedWarning]:
    """A tissue property outside the span of real tissues."""
    prob = result.case.problem
    tissue = prob.tissue if hasattr(prob, "tissue") else prob.grid.materials[0]  # 3D: the box's one tissue
    out = []
    for key, value in tissue_values(tissue).items():
        span = tissue_ranges()[key]
        if not span["min"] <= value <= span["max"]:
            out.append(NamedWarning(
                "tissue-property-extreme",
                f"{key} = {value:.4g} is outside the span of real tissues ({span['min']:g} to "
                f"{span['max']:g} {_unit(key)}; data/tissue_ranges.toml): the result is not that of a tissue",
                "tissue"))
    return out


def probe_operation(result) -> list[NamedWarning]:
    """The probe itself: no liquid at the tip; the flow boiled off before the end of the active
    segment at the end of a freeze (its capacity binds; the start-up, when warm tissue loads any
    probe, is not counted)."""
    op, th = result.case.operating, result.thermal
    if op is None:
        return []
    out = operating_warnings(op)
    if op.law.quality[0] < 1.0:
        phase = th.phase
        ends = [k for k in range(1, len(phase))
                if phase[k] == "freeze" and (k + 1 == len(phase) or phase[k + 1] != "freeze")]
        worst, k = max(((float(th.dry_fraction[k]), k) for k in ends), default=(0.0, 0))
        if worst > 0.01:
            out.append(NamedWarning(
                "probe-capacity-binds",
                f"the cryogen's liquid boils off before the end of the active segment: at "
                f"{th.times[k]:.0f} s {100 * worst:.0f} % of it is cooled by dry gas only "
                f"({th.cooling_power[k]:.1f} W taken against a boiling capacity of "
                f"{op.latent_capacity_w:.1f} W); more gas flow would freeze more",
                "probe"))
    return out


def tissue_at_rest(result) -> list[NamedWarning]:
    """A perfused tissue started away from its arterial temperature drifts towards it."""
    prob = result.case.problem
    tis = prob.tissue
    if tis.perfusion_per_s > 0 and abs(prob.initial_temperature - tis.t_arterial) > 0.5:
        return [NamedWarning(
            "tissue-not-at-rest",
            f"the {tis.name} starts at {prob.initial_temperature - 273.15:.1f} °C but its blood arrives at "
            f"{tis.t_arterial - 273.15:.1f} °C: it drifts towards that during the run (set "
            "tissue.arterial_temperature_c, or use a bench medium for a tissue on the bench)", "tissue")]
    return []


def energy_balance(result) -> list[NamedWarning]:
    err = result.thermal.energy_balance_error
    if math.isfinite(err) and err <= ENERGY_TOLERANCE:
        return []
    return [NamedWarning("energy-balance", f"the energy balance error is {err:.2g} (more than "
                         f"{100 * ENERGY_TOLERANCE:g} % of the probe's heat): the solution is not "
                         "trustworthy", "solver")]


def nerve_caveats(result) -> list[NamedWarning]:
    """Each nerve assessment's own warnings (injury and cell models), named."""
    return [NamedWarning("nerve", w, a.name) for a in result.nerves for w in a.warnings]


Check = Callable[[object], list[NamedWarning]]
SIMULATION: list[Check] = [iceball_at_edge, boundary_heat, extreme_tissue, energy_balance, nerve_caveats,
                           probe_operation, tissue_at_rest]


def _box_edge_cold(t) -> list[NamedWarning]:
    """The chosen plan's ice reaching a side of the label volume (its far field is held there)."""
    run = t.run
    if run is None:
        return []
    h, t_liq = run.history, run.grid.materials[0].t_liquidus
    faces = [h.min_temperature[i] for i in (np.s_[0], np.s_[-1], np.s_[:, 0], np.s_[:, -1],
                                            np.s_[:, :, 0], np.s_[:, :, -1])]
    coldest = min(float(f.min()) for f in faces)
    if coldest > t_liq:
        return []
    return [NamedWarning("iceball-at-edge", f"the chosen plan froze tissue at a side of the anatomy's box "
                         f"({coldest - 273.15:.1f} °C): the ice ball is clipped there", _about(t, "solver"))]


def _about(t, what: str) -> str:
    return f"{t.name}: {what}" if getattr(t, "level", None) or getattr(t, "side", None) else what


def _not_simulated(t) -> list[NamedWarning]:
    return [NamedWarning("check-not-simulated",
                         f"the re-simulation {list(k.offset_mm[0])} mm off was not run: {k.refused}",
                         _about(t, "rigid_shift_check"))
            for k in t.checks if k.refused]


def _plan_nerves(t) -> list[NamedWarning]:
    if t.chosen is None:
        return [NamedWarning("no-safe-plan", t.why, _about(t, "plan"))]
    return [NamedWarning("nerve", w, _about(t, a.name)) for a in t.chosen.nominal for w in a.warnings]


def _plan_energy(t) -> list[NamedWarning]:
    run = t.run
    if run is None or run.energy_balance_error <= ENERGY_TOLERANCE:
        return []
    return [NamedWarning("energy-balance", f"the chosen plan's energy balance error is "
                         f"{run.energy_balance_error:.2g}", _about(t, "solver"))]


#: Screened and simulated block probabilities further apart than this get a warning.
SCREENING_TOLERANCE = 0.05


def _screening_error(t) -> list[NamedWarning]:
    """Screening (a moved run) far from the 3D solver on a candidate it sent to be simulated."""
    worst = max(t.screening, key=lambda r: abs(r[1] - r[2]), default=None)
    if worst is None or abs(worst[1] - worst[2]) <= SCREENING_TOLERANCE:
        return []
    text = (f"screening put a candidate's block probability at {worst[1]:.2f}, the 3D solver at "
            f"{worst[2]:.2f}: placements screened near the requirement may have been judged wrongly "
            "(plan.screening = false simulates them all)")
    return [NamedWarning("screening-error", text, _about(t, "plan"))]


def _needle_unchecked(t) -> list[NamedWarning]:
    if t.chosen is None or t.skin_checked:
        return []
    if t.patient is not None:
        text = ("the needle leaves the CT before it reaches the skin (the CT is cropped inside the body): "
                "the part of its path outside the CT was not checked against bone, and its depth is to the "
                "CT's edge")
    else:
        text = ("the needle leaves the label volume before the skin: the part of its path outside the volume "
                "was not checked against bone")
    return [NamedWarning("needle-path-unchecked", text, _about(t, "plan"))]


PLAN: list[Check] = [_box_edge_cold, _not_simulated, _plan_nerves, _plan_energy, _screening_error,
                     _needle_unchecked]


def simulation(result) -> list[NamedWarning]:
    """Every check of a finished simulation (``procedure.Result``) on its grid: ``SIMULATION``'s
    for an axisymmetric or radial run, ``SIMULATION3D``'s for a 3D one."""
    checks = SIMULATION3D if result.geometry == "3d" else SIMULATION
    return [w for check in checks for w in check(result)]


def iceball_at_box_side(result) -> list[NamedWarning]:
    """A 3D run's ice (0 °C or colder) on a side of its box: the far field held there clips it."""
    h = result.thermal.history
    cold = (h.min_temperature <= 273.15) & h.tissue
    sides = [np.take(cold, k, axis=a).any() for a in range(3) for k in (0, -1)]
    if not any(sides):
        return []
    names = [n for n, hit in zip(("-x", "+x", "-y", "+y", "-z", "+z"), sides, strict=True) if hit]
    return [NamedWarning("iceball-at-edge", f"the ice ball reached the box's {', '.join(names)} side(s): the "
                         "boundary clips its isotherms; enlarge grid.extent_mm (or the box)", "solver")]


SIMULATION3D: list[Check] = [iceball_at_box_side, boundary_heat, extreme_tissue, energy_balance,
                             nerve_caveats]


def plan(result) -> list[NamedWarning]:
    """Every check of a finished plan (``planning.search.Plan``), target by target."""
    return [w for t in result.targets for check in PLAN for w in check(t)]
