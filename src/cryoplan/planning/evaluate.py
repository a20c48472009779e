"""One candidate plan (one probe, or two bracketing the nerve; a protocol) through the 3D
solver, then Monte Carlo over the needle placement error; or the same judged from another
candidate's run (screening).

A candidate is *simulated* when its own 3D run, from the resting temperature (``simulate``),
gives its ice ball. Each probe then has its own placement error: sample k moves probe j by
``offsets[j, k]`` (drawn independently per probe), and the Monte Carlo samples the run's coldest
temperature where the anatomy lies in the displaced probes' frames (``fields.Model``: a rigid
shift per probe, and the pair's excess cold where their ice balls merge moving with their mean
shift). This neglects how bone and tissue boundaries near a probe reshape its ice ball when it
moves; the planner re-simulates the chosen plan at displaced placements to report how large that
is (``search.Check``).

A candidate is *screened* when its ice ball is another candidate's run carried to its placement
by a rigid motion (``fields.Rigid``): a tilt or a tip a few millimetres away. The planner screens
every placement this way and simulates only those that screening puts in contention; a screened
evaluation says which run it came from (``screened_from``).

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
from cryoplan.injury.assess import NerveAssessment, assess, station_step
from cryoplan.injury.block import window_probabilities
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.thresholds import InjuryThresholds, kill_probability
from cryoplan.planning.fields import Field, Model, Moved, Rigid
from cryoplan.protocol import Protocol
from cryoplan.thermal.placement import PlacedProbe
from cryoplan.thermal.probe import ProbeModel
from cryoplan.thermal.solver3d import ThermalProblem3D, ThermalResult3D, solve3d
from cryoplan.thermal.voxels import VoxelGrid

MINUS20 = 253.15


@dataclass(frozen=True)
class ProtectedStructure:
    name: str
    limit_k: float
    points: np.ndarray  # (n, 3) m, centres of its voxels


@dataclass(frozen=True)
class Context:
    """Everything shared by the candidates of one target (built once per process)."""

    grid: VoxelGrid
    rest: np.ndarray  # steady temperature without a probe (K)
    probe: ProbeModel
    targets: tuple[Nerve, ...]
    protected: tuple[ProtectedStructure, ...]
    injury: InjuryThresholds
    sigma: float  # placement error, standard deviation per axis (m)
    offsets: np.ndarray  # (n_probes, n_samples, 3): each probe's placement errors; sample 0 is nominal
    required: float
    max_step: float
    perfusion: str = "constant"  # how the tissues' blood flow responds to cold (tissue.perfusion)


@dataclass(frozen=True)
class Placement:
    """One probe: its tip (m) and direction (unit vector from the tip towards the hub)."""

    tip: np.ndarray
    axis: np.ndarray

    @property
    def key(self) -> tuple:
        return tuple(np.round(self.tip, 9)), tuple(np.round(self.axis, 9))


@dataclass(frozen=True)
class Candidate:
    index: int
    probes: tuple[Placement, ...]
    cycles: int
    freeze_s: float
    protocol: Protocol

    @property
    def tip(self) -> np.ndarray:
        return self.probes[0].tip

    @property
    def axis(self) -> np.ndarray:
        return self.probes[0].axis

    @property
    def total_freeze_s(self) -> float:
        return self.cycles * self.freeze_s

    @property
    def placement_key(self) -> tuple:
        """The candidate's placements, whatever its protocol."""
        return tuple(p.key for p in self.probes)

    @property
    def level(self) -> tuple[int, float]:
        return self.cycles, self.freeze_s


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
    screened_from: int | None = None  # the candidate whose run was moved here (None: its own run)

    @property
    def simulated(self) -> bool:
        return self.refused is None and self.screened_from is None

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

    @property
    def rank(self) -> tuple[float, float]:
        """Higher is better: the block probability, then the widest safety margin."""
        return self.block_probability, self.worst_margin_k


@dataclass(frozen=True)
class Run:
    """What a simulated candidate leaves for others: its field and the -20 C ice ball (mm)."""

    candidate: Candidate
    field: Field
    radius_minus20_mm: float
    length_minus20_mm: float


def overlaps(nerve: Nerve, tip: np.ndarray, axis: np.ndarray, radius: float) -> bool:
    """Whether a probe of ``radius`` (m) from ``tip`` along ``axis`` (unit, towards the hub) cuts
    into the nerve (its centreline within the two radii)."""
    _, centres, _ = nerve.stations(nerve.diameter / 4)
    r = nerve.diameter / 2
    w = centres - tip
    s = w @ axis
    radial = np.linalg.norm(w - s[:, None] * axis, axis=1)
    return bool(np.any((s > -r) & (radial < radius + r - 1e-9)))


def placed(ctx: Context, cand: Candidate, offsets: np.ndarray | None = None) -> tuple[PlacedProbe, ...]:
    """The candidate's probes in the grid (``offsets``: (n_probes, 3) displacements)."""
    n = len(cand.probes)
    shift = np.zeros((n, 3)) if offsets is None else offsets
    names = ("probe",) if n == 1 else tuple(f"probe[{k}]" for k in range(n))
    return tuple(PlacedProbe.at(ctx.probe, p.tip + d, p.axis, name)
                 for p, d, name in zip(cand.probes, shift, names, strict=True))


def simulate(ctx: Context, cand: Candidate, offsets: np.ndarray | None = None) -> ThermalResult3D:
    """The candidate's 3D run from the resting temperature (raises InputError for a probe
    outside the box or through bone); ``offsets`` (n_probes, 3) displaces the probes.

    Assumption: the run starts from the steady field *without* the probe (``ctx.rest``), not
    the steady field with the probe's voxels taken out. A warm, insulated needle in a field of
    gentle gradient barely changes it: at most 0.0045 K on the L4 template
    (``tests/runs/test_planning.py``), far below what the injury rules resolve, and the sparse solve
    it saves was a quarter of each run (benchmarks/README.md)."""
    probes = placed(ctx, cand, offsets)
    thresholds = tuple(sorted(set(ctx.injury.history_temperatures) | {273.15, MINUS20}))
    return solve3d(
        ThermalProblem3D(
            ctx.grid,
            probes,
            cand.protocol,
            isotherms=(273.15, MINUS20),
            history_thresholds=thresholds,
            output_interval=ctx.max_step,
            max_step=ctx.max_step,
            initial_field=ctx.rest,
            perfusion=ctx.perfusion,
        )
    )


def _targets(ctx: Context, model: Model, n_probes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: the probability that every target is blocked, whether a target point reached
    grade 3 (colder than the neurotmesis threshold) and the coldest temperature on any target."""
    th = ctx.injury
    offsets = ctx.offsets[:n_probes]
    n = offsets.shape[1]
    p_block, grade3, coldest = np.ones(n), np.zeros(n, dtype=bool), np.full(n, np.inf)
    for nerve in ctx.targets:
        s, pts = nerve.cross_sections(station_step(ctx.grid, nerve, th))
        t = model.sample(pts.reshape(-1, 3), offsets).reshape((n,) + pts.shape[:2])
        # the kill probability falls as the temperature rises: a cross-section's least is its warmest point's
        windows = window_probabilities(kill_probability(t.max(axis=-1), th), s, th.min_block_length_m)
        p_block = np.minimum(p_block, windows.max(axis=-1))
        grade3 |= (t <= th.neurotmesis_below_k).any(axis=(1, 2))
        coldest = np.minimum(coldest, t.min(axis=(1, 2)))
    return p_block, grade3, coldest


def _cold_points(model: Model, limit_k: float) -> np.ndarray:
    """Where the nominal placement gets colder than ``limit_k`` (m, in the candidate's frame)."""
    parts = [m.motion.from_run(m.field.cold_points(limit_k)) for m in model.probes]
    if model.together is not None:
        parts.append(model.together.field.cold_points(limit_k))
    return np.concatenate(parts)


def _distance_mm(model: Model, p: ProtectedStructure, cold: np.ndarray) -> float | None:
    """The nominal distance (mm) from the ``cold`` points to the structure (None: none). One
    moved run: measured in the run's own frame (a rigid motion keeps distances), against the
    run's tree of cold points, built once for all the placements screened from it."""
    if not cold.size:
        return None
    if len(model.probes) == 1 and model.together is None:
        m = model.probes[0]
        tree, points = m.field.cold_tree(p.limit_k), m.motion.to_run(p.points)
        # a bound from the points nearest the tip first: the tree then drops the rest quickly
        to_tip = np.linalg.norm(points - m.motion.anchor, axis=1)
        near = np.argpartition(to_tip, min(15, to_tip.size - 1))[:16]
        bound = float(tree.query(points[near])[0].min())
        return float(tree.query(points, distance_upper_bound=bound * (1 + 1e-9) + 1e-12)[0].min() * 1e3)
    return float(cKDTree(cold).query(p.points)[0].min() * 1e3)


def _margin(ctx: Context, p: ProtectedStructure, model: Model, tips: np.ndarray) -> Margin:
    n = len(model.probes)
    offsets = ctx.offsets[:n]
    nominal_min = float(model.sample(p.points, offsets[:, :1]).min())
    cold = _cold_points(model, p.limit_k)
    distance = _distance_mm(model, p, cold)
    # only points the cold region can reach in some sample need the Monte Carlo
    shift = float(np.linalg.norm(offsets, axis=-1).max())
    reach = (max((float(np.linalg.norm(cold - t, axis=1).max()) for t in tips), default=0.0)
             if cold.size else 0.0)
    near = np.zeros(len(p.points), dtype=bool)
    for t in tips:
        near |= np.linalg.norm(p.points - t, axis=1) <= reach + shift + 2 * ctx.grid.spacing.max()
    if not near.any():
        return Margin(p.name, p.limit_k, nominal_min, nominal_min, 0.0, distance)
    per_sample = model.sample(p.points[near], offsets).min(axis=1)
    return Margin(p.name, p.limit_k, nominal_min, float(min(per_sample.min(), nominal_min)),
                  float(np.mean(per_sample < p.limit_k)), distance)


def judge(ctx: Context, cand: Candidate, model: Model, nominal: tuple[NerveAssessment, ...] = (),
          sizes: tuple[float, float] = (0.0, 0.0), screened_from: int | None = None,
          started: float | None = None) -> Evaluation:
    """The Monte Carlo of a candidate whose ice ball ``model`` gives, against the constraints."""
    start = time.perf_counter() if started is None else started
    n = len(cand.probes)
    per_sample, grade3, coldest = _targets(ctx, model, n)
    tips = np.array([p.tip for p in cand.probes])
    margins = tuple(_margin(ctx, p, model, tips) for p in ctx.protected)
    p_block, p_grade3 = float(per_sample.mean()), float(np.mean(grade3))
    failures = []
    if p_block < ctx.required:
        failures.append(f"block probability {p_block:.3f} < {ctx.required:g}")
    if p_grade3 > 0:
        failures.append(f"grade 3 (neurotmesis risk) on a target in {100 * p_grade3:.1f} % of placements")
    for m in margins:
        if m.violation_probability > 0 or m.nominal_min_k < m.limit_k:
            failures.append(
                f"{m.name} colder than {m.limit_k - 273.15:g} C in "
                f"{100 * max(m.violation_probability, 1 / ctx.offsets.shape[1]):.1f} % of placements "
                f"(coldest {m.worst_min_k - 273.15:.1f} C)"
            )
    return Evaluation(
        cand, None, p_block, p_grade3, nominal, margins,
        radius_minus20_mm=sizes[0], length_minus20_mm=sizes[1],
        wall_time_s=time.perf_counter() - start, failures=tuple(failures),
        sample_block_probability=per_sample, sample_min_k=coldest, screened_from=screened_from,
    )


def moved(run: Run, probe: Placement) -> Moved:
    """A single-probe run's field carried to ``probe``'s placement."""
    source = run.candidate.probes[0]
    return Moved(run.field, Rigid.between(source.tip, source.axis, probe.tip, probe.axis))


def nearest_run(runs: list[Run], probe: Placement) -> Run:
    """The single-probe run whose probe stands closest to ``probe`` (tip distance in mm plus the
    tilt between the needles in degrees / 10: a 10 degree tilt counts as a millimetre)."""
    def distance(r: Run) -> float:
        p = r.candidate.probes[0]
        tilt = np.degrees(np.arccos(np.clip(p.axis @ probe.axis, -1.0, 1.0)))
        return float(np.linalg.norm(p.tip - probe.tip) * 1e3 + tilt / 10)

    return min(runs, key=distance)


def evaluate(ctx: Context, cand: Candidate, singles: list[Run] = ()) -> tuple[Evaluation, Run | None,
                                                                                ThermalResult3D | None]:
    """Simulate a candidate and judge it: its evaluation, what it leaves for screening (a
    single-probe run) and its 3D result. A pair's probes are moved single runs (the nearest of
    ``singles``, needed for a pair) with the pair's own run for their merging."""
    start = time.perf_counter()
    try:
        result = simulate(ctx, cand)
    except InputError as err:
        return Evaluation(cand, refused=f"{err.field}: {err.allowed}"), None, None
    t_liq, t_sol = ctx.grid.materials[0].t_liquidus, ctx.grid.materials[0].t_solidus
    nominal = tuple(assess(n, ctx.grid, result.history, ctx.injury, t_liq, t_sol, inside_probe_ok=True)
                    for n in ctx.targets)
    own = Field.of(result.history, ctx.grid)
    iso = result.isotherms[MINUS20]
    sizes = (float(iso.radius[:, 0].max() * 1e3), float(iso.length[:, 0].max() * 1e3))
    if len(cand.probes) == 1:
        model = Model((Moved(own, Rigid.identity(cand.tip)),))
        run = Run(cand, own, *sizes)
    else:
        model = Model(tuple(moved(nearest_run(list(singles), p), p) for p in cand.probes),
                      Moved(own, Rigid.identity(cand.tip)))
        run = None
    return judge(ctx, cand, model, nominal, sizes, started=start), run, result


def screen(ctx: Context, cand: Candidate, runs: list[Run], together: Run | None = None) -> Evaluation:
    """A candidate judged from the nearest simulated single-probe runs, moved to its probes
    (``together``: a simulated pair whose merging to carry over, moved with the pair's first probe)."""
    near = [nearest_run(runs, p) for p in cand.probes]
    model = Model(tuple(moved(r, p) for r, p in zip(near, cand.probes, strict=True)),
                  None if together is None else Moved(together.field, Rigid.between(
                      together.candidate.tip, together.candidate.axis, cand.tip, cand.axis)))
    first = near[0]
    return judge(ctx, cand, model, sizes=(first.radius_minus20_mm, first.length_minus20_mm),
                 screened_from=first.candidate.index)
