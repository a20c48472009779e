"""The orchestrator: a validated procedure file -> thermal problem -> result.

``cryoplan.resolve`` turns the file's sections into the probe, tissue, grid, nerves and
thresholds; this module assembles them into the solver's problem, runs it, assesses the nerves
and the expected relief.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cryoplan import resolve
from cryoplan.catalog import CatalogProbe
from cryoplan.config import ProcedureConfig, initial_temperature_c
from cryoplan.cryogen.operation import OperatingPoint
from cryoplan.errors import InputError
from cryoplan.injury.assess import NerveAssessment, assess, regrowth_distance
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.thresholds import InjuryThresholds
from cryoplan.outcome.relief import Patient, ReliefDistribution, ReliefModel, outcome_data
from cryoplan.protocol import Protocol
from cryoplan.thermal.points import check_points
from cryoplan.thermal.solver import ThermalProblem, ThermalResult, output_times, solve
from cryoplan.units import c_to_k


@dataclass(frozen=True)
class Setup:
    """The resolved physical inputs of a run."""

    problem: ThermalProblem
    operating: OperatingPoint | None
    catalog: CatalogProbe | None
    cannula_bore_m: float | None
    nerves: tuple[Nerve, ...] = ()
    injury: InjuryThresholds | None = None


@dataclass(frozen=True)
class Outcome:
    """Expected relief once the nerves are blocked, the probability that they all are, or why
    there is none (no nerve can be blocked)."""

    relief: ReliefDistribution | None
    retreat_at_probability: float
    nerves_treated: int
    block_probability: float  # every nerve blocked (one kill temperature per patient)
    regrowth_distance_m: float | None  # the shortest, lesion to end organ
    model: str  # "prior" or the registry refit
    note: str
    patient: Patient = Patient()

    @property
    def retreat_after_months(self) -> float | None:
        return None if self.relief is None else self.relief.quantile(self.retreat_at_probability)


@dataclass(frozen=True)
class Result:
    setup: Setup
    thermal: ThermalResult
    wall_time_s: float
    nerves: tuple[NerveAssessment, ...] = ()
    outcome: Outcome | None = None


def setup(cfg: ProcedureConfig) -> Setup:
    """Resolve a validated procedure into the solver's problem (raises InputError)."""
    probe, operating, cat, bore = resolve.probe(cfg.probe, cfg.cryogen, cfg.grid.geometry)
    tissue = resolve.tissue(cfg.tissue)
    grid = resolve.grid(cfg.grid, cfg.probe, probe.shaft_cooled)
    assert abs(grid.probe_radius - probe.radius) < 1e-12 and (
        grid.geometry == "radial" or abs(grid.active_length - probe.active_length) < 1e-12)
    nerves = resolve.nerves(cfg.nerve, grid)
    injury = resolve.injury(cfg.injury)
    iso = tuple(c_to_k(x) for x in cfg.output.isotherms_c)
    thresholds = cfg.output.history_thresholds_c
    history_t = tuple(c_to_k(x) for x in thresholds) if thresholds is not None else iso
    if nerves:
        history_t += tuple(t for t in injury.history_temperatures
                           if all(abs(t - u) > 1e-9 for u in history_t))
    protocol = resolve.protocol(cfg.protocol.phases)
    problem = ThermalProblem(
        grid=grid, tissue=tissue, probe=probe, protocol=protocol,
        initial_temperature=c_to_k(initial_temperature_c(cfg.tissue)),
        outer_boundary=cfg.grid.outer_boundary, isotherms=iso,
        history_thresholds=history_t,
        output_interval=cfg.output.interval_s,
        snapshot_times=snapshot_times(cfg.output.snapshot_times_s, protocol, cfg.output.interval_s),
        sample_points=None if cfg.output.points_mm is None else np.array(cfg.output.points_mm) * 1e-3,
    )
    if problem.sample_points is not None:
        check_points(grid, problem.sample_points, "output.points_mm")
    return Setup(problem, operating, cat, bore, nerves, injury)


#: Fields a run keeps by default: the ends of its last few freezes (the report's isotherm chart).
DEFAULT_SNAPSHOTS = 5


def snapshot_times(given: list[float] | None, protocol: Protocol, interval: float) -> tuple[float, ...]:
    """The times at which the run keeps its temperature field: the given ones, each of which
    must be an output time, or by default the end of each freeze (the last five)."""
    times = output_times(protocol, interval)
    if given is None:
        ends = np.cumsum([p.seconds for p in protocol.phases])
        freezes = [float(e) for e, p in zip(ends, protocol.phases, strict=True) if p.kind == "freeze"]
        return tuple(freezes[-DEFAULT_SNAPSHOTS:])
    for t in given:
        if not np.isclose(times, t, rtol=0.0, atol=1e-6).any():
            raise InputError("output.snapshot_times_s", t,
                             f"output times of the run (multiples of output.interval_s = {interval:g} s "
                             f"within each phase, or a phase's end, up to {times[-1]:g} s)")
    return tuple(float(t) for t in given)


def outcome(cfg: ProcedureConfig, nerves: tuple[Nerve, ...], assessments: tuple[NerveAssessment, ...],
            fitted: ReliefModel | None = None) -> Outcome:
    """Relief of a patient whose listed nerves are all blocked, and the probability of that:
    the least of the nerves' block probabilities (one unknown kill temperature per patient, so
    the nerve warmest at its lesion decides). ``fitted``: the registry's relief model, if the
    file names a registry."""
    oc = cfg.outcome
    p = oc.retreat_at_probability or outcome_data()["retreatment"]["return_probability"]
    n = oc.nerves_treated or len(assessments)
    model = resolve.relief_model(oc, fitted)
    patient = resolve.patient(cfg.patient)
    p_block = min((a.block_probability for a in assessments), default=0.0)
    if p_block <= 0:
        return Outcome(None, p, n, 0.0, None, model.origin,
                       "no lasting relief is expected: a nerve cannot be blocked (it did not freeze across "
                       "its whole section over the length a block needs)", patient)
    distance = regrowth_distance(nerves, assessments)
    dist = model.distribution(distance, patient)
    certain = sum(a.blocked for a in assessments)
    note = (f"{certain} of {len(assessments)} nerve(s) blocked for certain; every nerve blocked with "
            f"probability {p_block:.2f}; relief once blocked")
    return Outcome(dist, p, n, p_block, distance, model.origin, note, patient)


def run(cfg: ProcedureConfig, progress: Callable[[float, float], None] | None = None,
        fitted: ReliefModel | None = None) -> Result:
    """Simulate a procedure (``fitted``: the registry's relief model, when the file names one)."""
    s = setup(cfg)
    start = time.perf_counter()
    thermal = solve(s.problem, progress)
    wall = time.perf_counter() - start
    if not s.nerves:
        return Result(s, thermal, wall)
    assessments = assess_nerves(cfg, s.nerves, s.problem.grid, thermal.history, s.injury, s.problem.tissue)
    return Result(s, thermal, wall, assessments, outcome(cfg, s.nerves, assessments, fitted))


def assess_nerves(cfg: ProcedureConfig, nerves, grid, history, injury, tissue,
                  inside_probe_ok: bool = False) -> tuple[NerveAssessment, ...]:
    """Grade every nerve from a run's thermal history with the file's injury settings (cell
    model, refinement); ``tissue`` gives the freezing range. Shared by the 2D and 3D runs."""
    cell = resolve.cell(cfg.injury)
    return tuple(assess(n, grid, history, injury, tissue.t_liquidus, tissue.t_solidus,
                        cell_rule=cfg.injury.refine_with_cell_model, inside_probe_ok=inside_probe_ok,
                        cell=cell)
                 for n in nerves)
