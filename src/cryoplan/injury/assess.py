"""Per nerve: injury grade along its path, conduction block, reversibility, mechanism, warnings.

Conduction block (Evans et al. 1981; lesion-length criterion in data/injury.toml): every point of
the nerve's cross-section (its centre and a ring on its edge) at grade >= 2, over a continuous
length of at least the minimum lesion length. The lesion is reversible when no point reaches
grade 3. Marginal points (grade 1 within ``marginal_band_k`` of the axonotmesis threshold) are
graded 2 when the cell model gives intracellular ice with probability >= 0.5 (``injury.cell``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cryoplan.errors import InputError
from cryoplan.injury.cell import default_cell, respond
from cryoplan.injury.grade import grade
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.sampling import PointHistory, sample
from cryoplan.injury.thresholds import InjuryThresholds, injury_data
from cryoplan.thermal.grid import Grid
from cryoplan.thermal.history import ThermalHistory
from cryoplan.thermal.voxels import VoxelGrid


@dataclass(frozen=True)
class NerveAssessment:
    name: str
    sunderland_grade: int
    blocked: bool
    blocked_length_m: float
    min_temperature_k: float
    reversible: bool
    mechanism: str
    dehydration_fraction: float | None
    iif_probability: float | None
    arc_length_m: np.ndarray  # stations along the nerve
    section_grade: np.ndarray  # grade of the whole cross-section (its least injured point)
    max_grade: np.ndarray  # most injured point of each cross-section
    warnings: list[str] = field(default_factory=list)


def _longest_run(mask: np.ndarray, s: np.ndarray) -> float:
    """Longest continuous stretch of True stations, measured along the nerve (m)."""
    best, start = 0.0, None
    for k, m in enumerate(np.append(mask, False)):
        if m and start is None:
            start = k
        elif not m and start is not None:
            best = max(best, s[k - 1] - s[start])
            start = None
    return float(best)


def _grades(h: PointHistory, th: InjuryThresholds, cell_rule: bool) -> tuple[np.ndarray, np.ndarray]:
    """Grades per point, and a mask of marginal points promoted by intracellular ice."""
    g = grade(h.min_temperature, h.seconds_below, h.freeze_cycles, th)
    promoted = np.zeros(g.shape, dtype=bool)
    if not cell_rule:
        return g, promoted
    band = injury_data()["cell"]["marginal_band_k"]
    marginal = (g == 1) & (h.min_temperature <= th.axonotmesis_below_k + band) & np.isfinite(h.cooling_rate)
    cell = default_cell()
    cache: dict[tuple[float, float], float] = {}
    for idx in zip(*np.nonzero(marginal), strict=True):
        key = (round(float(h.cooling_rate[idx]), 3), round(float(h.min_temperature[idx]), 1))
        if key not in cache:
            cache[key] = respond(cell, max(key[0], 1e-4), key[1]).iif_probability
        if cache[key] >= 0.5:
            promoted[idx] = True
    g[promoted] = 2
    return g, promoted


def assess(nerve: Nerve, grid: Grid | VoxelGrid, history: ThermalHistory, th: InjuryThresholds,
           t_liquidus: float, t_solidus: float, cell_rule: bool = False,
           inside_probe_ok: bool = False) -> NerveAssessment:
    """Grade a nerve from the run's thermal history (``inside_probe_ok``: a 3D nerve may touch a
    voxel the probe occupies, as when a coarse grid puts the probe within a voxel of it)."""
    step = min(grid.min_spacing / 2, nerve.diameter / 2, th.min_block_length_m / 20)
    where = f"nerve[{nerve.name}]"
    s, pts = nerve.cross_sections(step)
    h = sample(grid, history, pts, t_liquidus, t_solidus, where, inside_probe_ok)
    g, promoted = _grades(h, th, cell_rule)
    section, worst = g.min(axis=1), g.max(axis=1)
    blocked_len = _longest_run(section >= 2, s)
    blocked = blocked_len >= th.min_block_length_m - 1e-12
    tmin = float(h.min_temperature.min())
    max_grade = int(worst.max())

    warnings: list[str] = []
    if max_grade >= 3:
        k = int(np.argmax(worst >= 3))
        warnings.append(
            f"grade 3 at {s[k] * 1e3:.1f} mm along the nerve: colder than "
            f"{th.neurotmesis_below_k - 273.15:g} C (reached {tmin - 273.15:.0f} C): risk of neurotmesis "
            "and neuroma, the lesion may not be reversible")
    if blocked:
        # Would the block survive if the nerve were one grid cell thicker on every side?
        _, wider = nerve.cross_sections(step, extra_radius=grid.min_spacing)
        try:
            hw = sample(grid, history, wider, t_liquidus, t_solidus, where, inside_probe_ok)
            thin = _longest_run(_grades(hw, th, cell_rule)[0].min(axis=1) >= 2, s) < th.min_block_length_m
        except InputError:  # the widened nerve would reach into the probe or out of the domain
            thin = False
        if thin:
            warnings.append(
                f"the block depends on a margin thinner than one grid cell ({grid.min_spacing * 1e3:g} mm): "
                "a small placement error or a finer grid may undo it")
    elif (worst >= 2).any():
        if (section >= 2).any():
            warnings.append(
                f"blocked over {blocked_len * 1e3:.1f} mm only, less than the "
                f"{th.min_block_length_m * 1e3:g} mm a block needs")
        else:
            warnings.append(
                f"the {th.axonotmesis_below_k - 273.15:g} C isotherm only grazes the nerve: part of its "
                "cross-section reaches grade 2 but no full cross-section does, so it is not blocked")
    if promoted.any():
        warnings.append(
            f"{int(promoted.sum())} marginal point(s) graded 2 because intracellular ice is likely there "
            "(cell model; its parameters stand in for nerve cells, see docs/injury.md)")

    # Mechanism: the cell model at the point that decides the block (the warmest point of the
    # most marginal blocked cross-section), or at the coldest point when no section is blocked.
    warmest = h.min_temperature.max(axis=1)
    if (section >= 2).any():
        k = int(np.argmax(np.where(section >= 2, warmest, -np.inf)))
        target = (k, int(np.argmax(h.min_temperature[k])))
    else:
        target = np.unravel_index(int(np.argmin(h.min_temperature)), g.shape)
    rate, t_end = float(h.cooling_rate[target]), float(h.min_temperature[target])
    dehydration = iif = None
    if np.isfinite(rate) and rate > 0 and t_end < t_liquidus:
        cr = respond(default_cell(), rate, t_end)
        dehydration, iif = cr.dehydration_fraction, cr.iif_probability
        if iif >= 0.5:
            mechanism = (f"intracellular ice: cooled at {rate * 60:.0f} C/min through freezing, too fast for "
                         f"the cells to lose their water (P_IIF {iif:.2f})")
        else:
            mechanism = (f"solution effects: cooled at {rate * 60:.1f} C/min the cells lost "
                         f"{100 * dehydration:.0f} % of their water to the extracellular ice "
                         f"(P_IIF {iif:.2f})")
    else:
        mechanism = ("no freezing at the nerve" if tmin > t_liquidus
                     else "frozen without a recorded cooling rate")
    if max_grade == 0:
        mechanism = "none: the nerve was not frozen"

    return NerveAssessment(
        name=nerve.name, sunderland_grade=max_grade, blocked=bool(blocked), blocked_length_m=blocked_len,
        min_temperature_k=tmin, reversible=max_grade < 3, mechanism=mechanism,
        dehydration_fraction=dehydration, iif_probability=iif, arc_length_m=s, section_grade=section,
        max_grade=worst, warnings=warnings,
    )
