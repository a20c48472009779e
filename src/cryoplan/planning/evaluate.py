"""One candidate plan (tip, direction, protocol) through the 3D solver, then Monte Carlo over the
needle placement error.

The ice ball is computed once, at the nominal placement. A placement error moves the probe, and
with it the ice ball, against the anatomy; the Monte Carlo moves the nerve and the protected
structures by the opposite offset through that one field instead (a rigid shift). This neglects
how the bone and tissue boundaries near the probe reshape the ice ball when it moves; the
planner re-runs the chosen plan at displaced placements to report how large that is
(``Plan.check``).

Constraints (docs/planning.md, "How the planner decides"): every target blocked with probability
>= ``block_probability``, the probability being the mean over the placement samples of each
sample's block probability (the rule of ``injury.assess``: the warmest point of the coldest
stretch decides; all targets blocked is the least of theirs); no target point at Sunderland grade
>= 3 in any sample; every protected structure warmer than its limit in every sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from cryoplan.errors import InputError
from cryoplan.injury.assess import NerveAssessment, assess, section_probabilities, station_step
from cryoplan.injury.block import window_probabilities
from cryoplan.injury.grade import grade
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.sampling import VoxelSampler
from cryoplan.injury.thresholds import InjuryThresholds
from cryoplan.protocol import Protocol
from cryoplan.thermal.placement import PlacedProbe, rasterise
from cryoplan.thermal.probe import ProbeModel
from cryoplan.thermal.solver3d import ThermalProblem3D, ThermalResult3D, solve3d
from cryoplan.thermal.steady import steady_temperature
from cryoplan.thermal.voxels import VoxelGrid

MINUS20 = 253.15


@dataclass(frozen=True)
class ProtectedStructure:
    name: str
    limit_k: float
    points: np.ndarray  # (n, 3) m, centres of its voxels


@dataclass(frozen=True)
class Context:
    """Everything shared by the candidates of one plan (sent once to each worker)."""

    grid: VoxelGrid
    rest: np.ndarray  # steady temperature without a probe (K)
    probe: ProbeModel
    targets: tuple[Nerve, ...]
    protected: tuple[ProtectedStructure, ...]
    injury: InjuryThresholds
    sigma: float  # placement error, standard deviation per axis (m)
    offsets: np.ndarray  # (n, 3) placement errors in the plane normal to the approach axis
    required: float
    max_step: float


@dataclass(frozen=True)
class Candidate:
    index: int
    tip: np.ndarray
    axis: np.ndarray
    cycles: int
    freeze_s: float
    protocol: Protocol

    @property
    def total_freeze_s(self) -> float:
        return self.cycles * self.freeze_s


@dataclass(frozen=True)
class Margin:
    """How a protected structure fares: coldest temperature at the nominal placement and over
    every sample, the share of samples colder than the limit, and the nominal distance (mm) from
    the limit's isotherm to the structure (None: nothing got that cold)."""

    name: str
    limit_k: float
    nominal_min_k: float
    worst_min_k: float
    violation_probability: float
    distance_mm: float | None


@dataclass(frozen=True)
class Evaluation:
    candidate: Candidate
    refused: str | None = None
    block_probability: float = 0.0
    grade3_probability: float = 0.0
    nominal: tuple[NerveAssessment, ...] = ()
    margins: tuple[Margin, ...] = ()
    radius_minus20_mm: float = 0.0
    length_minus20_mm: float = 0.0
    wall_time_s: float = 0.0
    failures: tuple[str, ...] = field(default_factory=tuple)
    sample_block_probability: np.ndarray | None = None  # per placement sample (the first is nominal)
    sample_min_k: np.ndarray | None = None  # coldest point on any target, per sample

    @property
    def feasible(self) -> bool:
        return self.refused is None and not self.failures

    @property
    def safe(self) -> bool:
        """No grade 3 on a target and every protected structure within its limit, in every sample."""
        return (
            self.refused is None
            and self.grade3_probability == 0
            and all(m.violation_probability == 0 and m.nominal_min_k >= m.limit_k for m in self.margins)
        )

    @property
    def worst_margin_k(self) -> float:
        return min((m.worst_min_k - m.limit_k for m in self.margins), default=np.inf)


def _shifted(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Points (..., 3) seen from each displaced probe: (n_samples, ..., 3)."""
    return points[None] - offsets.reshape((-1,) + (1,) * (points.ndim - 1) + (3,))


def _targets(ctx: Context, sampler: VoxelSampler) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: the probability that every target is blocked, the highest grade and the
    coldest temperature on any target."""
    th = ctx.injury
    n = len(ctx.offsets)
    p_block, worst, coldest = np.ones(n), np.zeros(n, dtype=int), np.full(n, np.inf)
    for nerve in ctx.targets:
        s, pts = nerve.cross_sections(station_step(ctx.grid, nerve, th))
        h = sampler(_shifted(pts, ctx.offsets), f"target[{nerve.name}]", inside_probe_ok=True)
        g = grade(h.min_temperature, h.seconds_below, h.freeze_cycles, th)
        windows = window_probabilities(section_probabilities(h, th), s, th.min_block_length_m)
        p_block = np.minimum(p_block, windows.max(axis=-1))
        worst = np.maximum(worst, g.max(axis=(1, 2)))
        coldest = np.minimum(coldest, h.min_temperature.min(axis=(1, 2)))
    return p_block, worst, coldest


def _margin(
    ctx: Context, p: ProtectedStructure, result: ThermalResult3D, sampler: VoxelSampler, tip: np.ndarray
) -> Margin:
    grid, hist = ctx.grid, result.history
    cold = grid.origin + np.argwhere(hist.tissue & (hist.min_temperature < p.limit_k)) * grid.spacing
    shift = float(np.linalg.norm(ctx.offsets, axis=1).max())
    reach = float(np.linalg.norm(cold - tip, axis=1).max()) if cold.size else 0.0
    near = p.points[np.linalg.norm(p.points - tip, axis=1) <= reach + shift + 2 * grid.spacing.max()]
    nominal_min = float(
        sampler(
            np.clip(p.points, grid.extent_min, grid.extent_max), p.name, inside_probe_ok=True
        ).min_temperature.min()
    )
    if near.size == 0:
        return Margin(
            p.name,
            p.limit_k,
            nominal_min,
            nominal_min,
            0.0,
            None if not cold.size else float(cKDTree(cold).query(p.points)[0].min() * 1e3),
        )
    pts = np.clip(_shifted(near, ctx.offsets), grid.extent_min, grid.extent_max)
    per_sample = sampler(pts, p.name, inside_probe_ok=True).min_temperature.min(axis=1)
    distance = float(cKDTree(cold).query(p.points)[0].min() * 1e3) if cold.size else None
    return Margin(
        p.name,
        p.limit_k,
        nominal_min,
        float(min(per_sample.min(), nominal_min)),
        float(np.mean(per_sample < p.limit_k)),
        distance,
    )


def overlaps(nerve: Nerve, probe: PlacedProbe) -> bool:
    """Whether the probe's cylinder cuts into the nerve (centreline within the two radii)."""
    _, centres, _ = nerve.stations(nerve.diameter / 4)
    r = nerve.diameter / 2
    return bool(np.any((probe.axial(centres) > -r) & (probe.radial(centres) < probe.model.radius + r - 1e-9)))


def simulate(ctx: Context, cand: Candidate, tip: np.ndarray | None = None) -> ThermalResult3D:
    """The candidate's 3D run from the steady state with the probe in place (raises InputError
    for a probe outside the box or through bone)."""
    placed = PlacedProbe.at(ctx.probe, cand.tip if tip is None else tip, cand.axis, "probe")
    tissue = ~rasterise(ctx.grid, [placed]).inside
    start = steady_temperature(ctx.grid, tissue, guess=ctx.rest)
    thresholds = tuple(sorted(set(ctx.injury.history_temperatures) | {273.15, MINUS20}))
    return solve3d(
        ThermalProblem3D(
            ctx.grid,
            (placed,),
            cand.protocol,
            isotherms=(273.15, MINUS20),
            history_thresholds=thresholds,
            output_interval=ctx.max_step,
            max_step=ctx.max_step,
            initial_field=start,
        )
    )


def evaluate(ctx: Context, cand: Candidate) -> Evaluation:
    """Simulate one candidate and test it against the constraints."""
    start = time.perf_counter()
    try:
        result = simulate(ctx, cand)
    except InputError as err:
        return Evaluation(cand, refused=f"{err.field}: {err.allowed}")
    t_liq, t_sol = ctx.grid.materials[0].t_liquidus, ctx.grid.materials[0].t_solidus
    nominal = tuple(
        assess(n, ctx.grid, result.history, ctx.injury, t_liq, t_sol, inside_probe_ok=True)
        for n in ctx.targets
    )
    sampler = VoxelSampler(ctx.grid, result.history, t_liq, t_sol)
    per_sample, worst, coldest = _targets(ctx, sampler)
    margins = tuple(_margin(ctx, p, result, sampler, cand.tip) for p in ctx.protected)
    p_block, p_grade3 = float(per_sample.mean()), float(np.mean(worst >= 3))
    failures = []
    if p_block < ctx.required:
        failures.append(f"block probability {p_block:.2f} < {ctx.required:g}")
    if p_grade3 > 0:
        failures.append(f"grade 3 (neurotmesis risk) on a target in {100 * p_grade3:.1f} % of placements")
    for m in margins:
        if m.violation_probability > 0 or m.nominal_min_k < m.limit_k:
            failures.append(
                f"{m.name} colder than {m.limit_k - 273.15:g} C in "
                f"{100 * max(m.violation_probability, 1 / len(ctx.offsets)):.1f} % of placements "
                f"(coldest {m.worst_min_k - 273.15:.1f} C)"
            )
    iso = result.isotherms[MINUS20]
    return Evaluation(
        cand,
        None,
        p_block,
        p_grade3,
        nominal,
        margins,
        radius_minus20_mm=float(iso.radius[:, 0].max() * 1e3),
        length_minus20_mm=float(iso.length[:, 0].max() * 1e3),
        wall_time_s=time.perf_counter() - start,
        failures=tuple(failures),
        sample_block_probability=per_sample,
        sample_min_k=coldest,
    )
