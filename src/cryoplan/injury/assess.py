"""Per nerve: injury grade along its path, conduction block probability, reversibility,
mechanism, warnings.

Conduction block (``cryoplan.injury.block``): the whole cross-section (its centre and a ring on
its edge) killed over a stretch of at least ``min_block_length_m``; certain when the warmest
point of that stretch got colder than -20 C, a probability between the freezing point and
-20 C (Evans et al., Br J Anaesth 53 (1981) 1121). The lesion is reversible when no point
reaches grade 3. With the cell rule, marginal points (grade 1 within ``marginal_band_k`` of the
axonotmesis threshold) whose cells likely formed intracellular ice count as killed
(``injury.cell``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cryoplan.errors import InputError
from cryoplan.injury.block import window_probabilities, window_probability
from cryoplan.injury.cell import CellModel, default_cell, respond
from cryoplan.injury.grade import grade
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.point_history import PointHistory, sample
from cryoplan.injury.thresholds import InjuryThresholds, injury_data, kill_probability
from cryoplan.thermal.grid import Grid
from cryoplan.thermal.history import ThermalHistory
from cryoplan.thermal.voxels import VoxelGrid


@dataclass(frozen=True)
class NerveAssessment:
    name: str
    sunderland_grade: int
    blocked: bool  # block certain (probability 1)
    blocked_length_m: float  # longest stretch whose whole cross-section got colder than -20 C
    block_probability: float
    block_temperature_k: float  # warmest point of the coldest stretch of min_block_length_m
    block_reason: str
    lesion_arc_m: float | None  # centre of the lesion along the nerve (None: no lesion)
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


def _grades(h: PointHistory, th: InjuryThresholds, cell: CellModel | None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Grades per point, and a mask of marginal points promoted by intracellular ice (only
    with a ``cell`` model)."""
    g = grade(h.min_temperature, h.seconds_below, h.freeze_cycles, th)
    promoted = np.zeros(g.shape, dtype=bool)
    if cell is None:
        return g, promoted
    band = injury_data()["cell_rule"]["marginal_band_k"]
    marginal = (g == 1) & (h.min_temperature <= th.axonotmesis_below_k + band) & np.isfinite(h.cooling_rate)
    cache: dict[tuple[float, float], float] = {}
    for idx in zip(*np.nonzero(marginal), strict=True):
        key = (round(float(h.cooling_rate[idx]), 3), round(float(h.min_temperature[idx]), 1))
        if key not in cache:
            cache[key] = respond(cell, max(key[0], 1e-4), key[1]).iif_probability
        if cache[key] >= 0.5:
            promoted[idx] = True
    g[promoted] = 2
    return g, promoted


def section_probabilities(h: PointHistory, th: InjuryThresholds, promoted: np.ndarray | None = None
                          ) -> np.ndarray:
    """Probability that each cross-section dies: that of its warmest point (points on the last
    axis); points ``promoted`` by the cell rule count as killed.

    Parameters
    ----------
    h : PointHistory
        History at the cross-sections' points, shape (n, points per section).
    th : InjuryThresholds
        Neurapraxia and axonotmesis thresholds [K].
    promoted : numpy.ndarray of bool or None, optional
        Points killed by the cell rule (default None: none).

    Returns
    -------
    numpy.ndarray, shape (n,)
        Probability [-] per cross-section.

    References
    ----------
    .. [1] Evans et al., Br J Anaesth 53 (1981) 1121.
    """
    p = kill_probability(h.min_temperature, th)
    if promoted is not None:
        p = np.where(promoted, 1.0, p)
    return p.min(axis=-1)


def station_step(grid: Grid | VoxelGrid, nerve: Nerve, th: InjuryThresholds) -> float:
    """Spacing of the stations along a nerve (m): half a cell, and fine enough to resolve the
    nerve's radius and the block length.

    Parameters
    ----------
    grid : Grid or VoxelGrid
        The run's grid.
    nerve : Nerve
        The nerve.
    th : InjuryThresholds
        The thresholds (minimum block length [m]).

    Returns
    -------
    float
        Station spacing [m], min(smallest cell / 2, radius, block length / 10).
    """
    return min(grid.min_spacing / 2, nerve.diameter / 2, th.min_block_length_m / 10)


def _lesion_centre(section_p: np.ndarray, s: np.ndarray, th: InjuryThresholds, best: float) -> float:
    """Arc length of the middle of the stretch of best windows (the lesion's centre): symmetric
    growth of the lesion (longer freezing) leaves it in place."""
    windows = window_probabilities(section_p, s, th.min_block_length_m)
    k = int(np.argmax(windows))
    last = k
    while last + 1 < len(windows) and windows[last + 1] >= best - 1e-12:
        last += 1
    span = len(s) - len(windows)
    return float((s[k] + s[last + span]) / 2)


def _reason(p: float, t_block: float, blocked_len: float, th: InjuryThresholds) -> str:
    length = f"{th.min_block_length_m * 1e3:g} mm"
    c = t_block - 273.15
    if p >= 1 - 1e-12:
        return (f"certain: the whole cross-section got colder than {th.axonotmesis_below_k - 273.15:g} C "
                f"over {blocked_len * 1e3:.1f} mm (a block needs {length}); below that temperature the "
                "block lasts until regrowth, whatever the freeze duration, the cycles or how much colder "
                "(Evans et al. 1981)")
    if p > 0:
        return (f"uncertain: the warmest point of the coldest {length} of nerve reached {c:.1f} C, between "
                f"the freezing point ({th.neurapraxia_below_k - 273.15:g} C) and "
                f"{th.axonotmesis_below_k - 273.15:g} C, where Evans et al. 1981 found the block "
                "unpredictable (probability linear in temperature, an assumption)")
    return (f"none: no {length} of nerve froze across its whole section (its warmest point stayed at "
            f"{c:.1f} C or warmer)")


def assess(nerve: Nerve, grid: Grid | VoxelGrid, history: ThermalHistory, th: InjuryThresholds,
           t_liquidus: float, t_solidus: float, cell_rule: bool = False,
           inside_probe_ok: bool = False, cell: CellModel | None = None) -> NerveAssessment:
    """Grade a nerve from the run's thermal history (``inside_probe_ok``: a 3D nerve may touch a
    voxel the probe occupies, as when a coarse grid puts the probe within a voxel of it).
    ``cell`` is the cell model that explains the mechanism (default: ``default_cell()``);
    ``cell_rule`` lets it also kill marginal points.

    Parameters
    ----------
    nerve : Nerve
        The nerve, points [m] in the run's frame.
    grid : Grid or VoxelGrid
        The run's grid.
    history : ThermalHistory
        The run's thermal history.
    th : InjuryThresholds
        Thresholds [K], minimum dwell [s], cycles [-] and block length [m].
    t_liquidus : float
        Liquidus of the nerve's tissue [K].
    t_solidus : float
        Solidus of the nerve's tissue [K].
    cell_rule : bool, optional
        Count marginal points whose cells likely formed intracellular ice as killed.
    inside_probe_ok : bool, optional
        Allow 3D points in a probe's voxels.
    cell : CellModel or None, optional
        The cell model (default ``default_cell()``).

    Returns
    -------
    NerveAssessment
        Grade, block probability [-] and temperature [K], blocked length and lesion position [m],
        minimum temperature [K], reversibility, mechanism and the per-station grades.

    References
    ----------
    .. [1] Evans et al., Br J Anaesth 53 (1981) 1121.
    """
    cell = cell or default_cell()
    step = station_step(grid, nerve, th)
    where = f"nerve[{nerve.name}]"
    s, pts = nerve.cross_sections(step)
    h = sample(grid, history, pts, t_liquidus, t_solidus, where, inside_probe_ok)
    g, promoted = _grades(h, th, cell if cell_rule else None)
    section, worst = g.min(axis=1), g.max(axis=1)
    section_p = section_probabilities(h, th, promoted)
    p_block, k0, k1 = window_probability(section_p, s, th.min_block_length_m)
    t_block = float(np.where(promoted, np.minimum(h.min_temperature, th.axonotmesis_below_k),
                             h.min_temperature)[k0:k1 + 1].max())
    blocked_len = _longest_run(section_p >= 1.0, s)
    blocked = p_block >= 1 - 1e-12
    lesion = _lesion_centre(section_p, s, th, p_block) if p_block > 0 else None
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
            pw = section_probabilities(hw, th, _grades(hw, th, cell if cell_rule else None)[1])
            thin = window_probability(pw, s, th.min_block_length_m)[0] < 1 - 1e-12
        except InputError:  # the widened nerve would reach into the probe or out of the domain
            thin = False
        if thin:
            warnings.append(
                f"the block depends on a margin thinner than one grid cell ({grid.min_spacing * 1e3:g} mm): "
                "a small placement error or a finer grid may undo it")
    elif (worst >= 2).any():
        warnings.append(
            f"the {th.axonotmesis_below_k - 273.15:g} C isotherm only grazes the nerve: part of its "
            f"cross-section got colder than {th.axonotmesis_below_k - 273.15:g} C but no "
            f"{th.min_block_length_m * 1e3:g} mm of it did across the whole section: block probability "
            f"{p_block:.2f}")
    if promoted.any():
        warnings.append(
            f"{int(promoted.sum())} marginal point(s) graded 2 because intracellular ice is likely there "
            "(cell model; its parameters stand in for nerve cells, see docs/injury.md)")

    # Mechanism: the cell model at the point that decides the block (the warmest point of the
    # most marginal blocked cross-section), or at the coldest point when no section is blocked.
    if p_block > 0:  # the warmest point of the deciding stretch
        k = k0 + int(np.argmax(h.min_temperature[k0:k1 + 1].max(axis=1)))
        target = (k, int(np.argmax(h.min_temperature[k])))
    else:
        target = np.unravel_index(int(np.argmin(h.min_temperature)), g.shape)
    rate, t_end = float(h.cooling_rate[target]), float(h.min_temperature[target])
    dehydration = iif = None
    if np.isfinite(rate) and rate > 0 and t_end < t_liquidus:
        cr = respond(cell, rate, t_end)
        dehydration, iif = cr.dehydration_fraction, cr.iif_probability
        if iif >= 0.5:
            mechanism = (f"intracellular ice: cooled at {rate * 60:.0f} C/min through freezing, too fast for "
                         f"the cells to lose their water (P_IIF {iif:.2f}; {cell.name} parameters)")
        else:
            mechanism = (f"solution effects: cooled at {rate * 60:.1f} C/min the cells lost "
                         f"{100 * dehydration:.0f} % of their water to the extracellular ice "
                         f"(P_IIF {iif:.2f}; {cell.name} parameters)")
    else:
        mechanism = ("no freezing at the nerve" if tmin > t_liquidus
                     else "frozen without a recorded cooling rate")
    if max_grade == 0:
        mechanism = "none: the nerve was not frozen"

    return NerveAssessment(
        name=nerve.name, sunderland_grade=max_grade, blocked=bool(blocked), blocked_length_m=blocked_len,
        block_probability=p_block, block_temperature_k=t_block,
        block_reason=_reason(p_block, t_block, blocked_len, th), lesion_arc_m=lesion, min_temperature_k=tmin,
        reversible=max_grade < 3, mechanism=mechanism,
        dehydration_fraction=dehydration, iif_probability=iif, arc_length_m=s, section_grade=section,
        max_grade=worst, warnings=warnings,
    )


def regrowth_distance(nerves: tuple[Nerve, ...], assessments: tuple[NerveAssessment, ...]) -> float | None:
    """The shortest lesion-to-end-organ distance over the nerves that give one (m): pain comes
    back with the first nerve to regrow. None: none gives an end organ (the anatomy's default).

    Parameters
    ----------
    nerves : tuple of Nerve
        The nerves.
    assessments : tuple of NerveAssessment
        Their assessments, in the same order.

    Returns
    -------
    float or None
        Regrowth distance [m], or None.
    """
    given = [n.regrowth_distance(a.lesion_arc_m) for n, a in zip(nerves, assessments, strict=True)
             if a.lesion_arc_m is not None and n.end_organ_m is not None]
    return min(given) if given else None
