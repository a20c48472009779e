"""Run a thermal problem through its protocol: the time loop around the compiled kernel.

Time stepping is RKL2 super-time-stepping (``rkl.py``; Meyer, Balsara & Aslam, J Comput Phys 257
(2014) 594), as in the 3D solver: the forward-Euler limit of the grid (``kernel.stable_time_step``,
about 12 ms on the demo's 0.25 mm cells, set by the probe wall's faces) stays the explicit step,
and an s-stage step covers (s^2 + s - 2) / 4 of them, so a 1 s step costs 18 sweeps instead of 81.
Every stage evaluates the probe's nonlinear cryogen boundary on its own state (the wall's boiling
regimes held at the step's start; a step in which one changes is redone in forward-Euler steps),
and the energy terms are recombined with the stages' weights, so the balance still closes to
round-off. A phase's first steps grow from the explicit limit (``stepping``). A step no longer
than the explicit limit (``max_step`` at or below it) is forward Euler, monotone: the
verification's reference for the super-steps.

The solver advances through each output interval in compiled calls, and after each interval
records the probe's tip
temperature and mean cooling power and the size of every requested isotherm (and keeps the whole
temperature field at the requested ``snapshot_times``, for isotherm charts, and the temperature
at ``sample_points``, for thermocouple comparisons). Heat is conserved to round-off by
construction; ``ThermalResult.energy_balance`` reports the closure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from cryoplan.protocol import Protocol
from cryoplan.thermal import kernel, rkl
from cryoplan.thermal.grid import Grid
from cryoplan.thermal.history import ThermalHistory
from cryoplan.thermal.isotherms import measure, wall_temperatures
from cryoplan.thermal.points import PointSampler
from cryoplan.thermal.probe import ProbeModel, ProbeWall, active_wall_temperature, tip_temperature
from cryoplan.tissue.enthalpy import enthalpy_array
from cryoplan.tissue.perfusion import model_code, reference_temperatures
from cryoplan.tissue.properties import Tissue

OuterBoundary = Literal["initial-temperature", "insulated"]
#: How blood flow responds to cold (``cryoplan.tissue.perfusion``).
PerfusionModel = Literal["constant", "temperature-dependent"]

#: Fraction of the stability limit used for the explicit step.
SAFETY = 0.9
#: Longest RKL2 step (s): within an output interval the solver takes equal steps of at most this.
MAX_STEP_S = 1.0
#: A phase's steps are at most this share of the time since it started (until ``MAX_STEP_S``).
PHASE_START_SHARE = 0.1


@dataclass(frozen=True)
class ThermalProblem:
    """Everything the solver needs (SI units, temperatures in K)."""

    grid: Grid
    tissue: Tissue
    probe: ProbeModel
    protocol: Protocol
    initial_temperature: float = 310.15
    outer_boundary: OuterBoundary = "initial-temperature"
    isotherms: tuple[float, ...] = (273.15, 253.15, 233.15)
    history_thresholds: tuple[float, ...] = (273.15, 253.15, 233.15)
    output_interval: float = 1.0
    initial_field: np.ndarray | None = None  # K per cell, instead of a uniform start
    snapshot_times: tuple[float, ...] = ()  # s, each one of ``output_times``: keep the field then
    sample_points: np.ndarray | None = None  # (n, 2) r, z in m: temperatures at every output time
    perfusion: PerfusionModel = "constant"  # how blood flow responds to cold (tissue.perfusion)
    max_step: float = MAX_STEP_S  # s; at or below the explicit limit: forward Euler


@dataclass
class IsothermSeries:
    radius: np.ndarray
    length: np.ndarray
    volume: np.ndarray


def energy_balance_error(energy: dict[str, float]) -> float:
    """abs(change in tissue enthalpy - net heat in) / heat taken by the probe(s).

    Parameters
    ----------
    energy : dict of str to float
        The run's energy terms [J].

    Returns
    -------
    float
        Relative error [-].
    """
    e = energy
    net_in = e["boundary_j"] + e["perfusion_j"] + e["metabolic_j"] - e["probe_j"]
    return abs(e["tissue_enthalpy_change_j"] - net_in) / max(abs(e["probe_j"]), 1e-30)


@dataclass
class ThermalResult:
    """Time series at each output time, the final field and the per-cell thermal history."""

    times: np.ndarray
    phase: list[str]
    tip_temperature: np.ndarray
    wall_temperature: np.ndarray
    gas_temperature: np.ndarray
    exhaust_temperature: np.ndarray
    dry_fraction: np.ndarray
    tip_pressure: np.ndarray
    mass_flow: np.ndarray
    cooling_power: np.ndarray
    isotherms: dict[float, IsothermSeries]
    temperature: np.ndarray
    history: ThermalHistory
    grid: Grid
    time_step: float  # the explicit (forward-Euler) limit, s
    energy: dict[str, float] = field(default_factory=dict)
    snapshots: dict[float, np.ndarray] = field(default_factory=dict)  # K per cell at snapshot_times
    #: K at snapshot_times on the cooled surface: per row the side wall, then per column the tip
    #: face (NaN where none; ``isotherms.wall_temperatures``), the nodes the sizes are measured on
    wall_snapshots: dict[float, np.ndarray] = field(default_factory=dict)
    samples: np.ndarray | None = None  # K, (output times, sample_points)
    stages: int = 1  # RKL2 stages per step, the most used (1: forward Euler)
    sweeps: int = 0  # stages in all
    redone_steps: int = 0  # RKL2 steps redone in forward-Euler steps (a boiling switch in them)

    @property
    def energy_balance_error(self) -> float:
        """abs(change in tissue enthalpy - net heat in) / heat taken by the probe(s)."""
        return energy_balance_error(self.energy)


def output_times(protocol: Protocol, interval: float) -> np.ndarray:
    """The times (s) at which ``solve`` records its output: 0, then every ``interval`` within each
    phase and each phase's end.

    Parameters
    ----------
    protocol : Protocol
        The protocol.
    interval : float
        Output interval [s].

    Returns
    -------
    numpy.ndarray
        Times [s] from the start.

    Examples
    --------
    >>> from cryoplan.protocol import Phase
    >>> output_times(Protocol.of([Phase("freeze", 2.5), Phase("passive-thaw", 1)]), 1.0).tolist()
    [0.0, 1.0, 2.0, 2.5, 3.5]
    """
    times, now = [0.0], 0.0
    for phase in protocol.phases:
        n_out = max(1, math.ceil(phase.seconds / interval - 1e-9))
        for k in range(n_out):
            now += min(interval, phase.seconds - k * interval)
            times.append(now)
    return np.array(times)


#: Forward Euler as one stage: Y_1 = Y_0 + tau M(Y_0).
_EULER = rkl.Coefficients(1, np.array([0.0, 1.0]), np.zeros(2), np.array([0.0, 1.0]), np.zeros(2))


def _coefficients(tau: float, dt_explicit: float) -> rkl.Coefficients:
    return _EULER if tau <= dt_explicit else rkl.coefficients(rkl.stages_for(tau / dt_explicit))


def stepping(span: float, max_step: float, dt_explicit: float,
             since: float = math.inf) -> list[tuple[int, float, rkl.Coefficients]]:
    """How ``solve`` covers ``span``: equal steps of at most ``max_step``, each RKL2 with the fewest
    stages its ratio to ``dt_explicit`` needs; forward Euler at the explicit limit when a step
    would not exceed it. A phase's first steps are at most ``PHASE_START_SHARE`` of the time since
    it started (``since`` at the span's start), never below the explicit limit: the probe's
    boundary jumps there and the front moves as the square root of time, which one long first
    step blurred (the 0 C width 0.8 % too large 4 s into a freeze at 1 s steps; with steps of a
    quarter of the time since, the -40 C length still 0.19 mm off forward Euler's 5 s in, 0.09 mm
    with a tenth).

    Parameters
    ----------
    span : float
        Time to cover [s].
    max_step : float
        Longest step [s].
    dt_explicit : float
        The forward-Euler limit [s].
    since : float, optional
        Time since the phase started, at the span's start [s].

    Returns
    -------
    list of (int, float, rkl.Coefficients)
        In order: a number of steps, their length [s] and their stage coefficients.

    Examples
    --------
    >>> [(n, round(tau, 4), c.s) for n, tau, c in stepping(1.0, 1.0, 0.0123)]
    [(1, 1.0, 18)]
    >>> [(n, round(tau, 3), c.s) for n, tau, c in stepping(1.0, 1.0, 0.1, since=4.0)]
    [(1, 0.4, 4), (1, 0.44, 4), (1, 0.16, 3)]
    >>> [(n, round(tau, 4), c.s) for n, tau, c in stepping(1.0, 0.0, 0.0123)]
    [(82, 0.0122, 1)]
    """
    chunks = []
    while max_step > dt_explicit and since * PHASE_START_SHARE < max_step and span > 1e-9:
        tau = min(max(since * PHASE_START_SHARE, dt_explicit), span)
        chunks.append((1, tau, _coefficients(tau, dt_explicit)))
        span -= tau
        since += tau
    if span <= 1e-9:
        return chunks
    if max_step > dt_explicit:
        n = max(1, math.ceil(span / max_step - 1e-9))
        if span / n > dt_explicit:
            return chunks + [(n, span / n, _coefficients(span / n, dt_explicit))]
    n = max(1, math.ceil(span / dt_explicit - 1e-9))
    return chunks + [(n, span / n, _EULER)]


def _initial_state(problem: ThermalProblem):
    grid, tissue = problem.grid, problem.tissue
    props = tissue.row()[None, :]
    mat = np.zeros(grid.shape, dtype=np.int64)
    t = np.full(grid.shape, problem.initial_temperature)
    if problem.initial_field is not None:
        t[:] = problem.initial_field
    h = enthalpy_array(t, props[0])
    u = np.zeros(grid.shape)
    kernel.refresh(h, t, u, mat, props, grid.tissue)
    return props, mat, h, t, u


def _boundary_conductances(problem: ThermalProblem) -> tuple[np.ndarray, np.ndarray]:
    g_r, g_z = problem.grid.g_r.copy(), problem.grid.g_z.copy()
    if problem.outer_boundary == "insulated":
        g_r[-1, :] = 0.0
        g_z[:, 0] = 0.0
        g_z[:, -1] = 0.0
    return g_r, g_z


def solve(problem: ThermalProblem,
          progress: Callable[[float, float], None] | None = None) -> ThermalResult:
    """Simulate the protocol; ``progress(t, total)`` is called after each output interval.

    Parameters
    ----------
    problem : ThermalProblem
        Grid, tissue, probe, protocol and outputs (SI).
    progress : callable or None, optional
        ``progress(t, total)``, times [s].

    Returns
    -------
    ThermalResult
        Temperatures [K], isotherm sizes [m, m^3], probe state, thermal history and energy terms
        [J] at the output times [s].

    References
    ----------
    .. [1] Pennes, J Appl Physiol 1 (1948) 93; Voller & Prakash, Int J Heat Mass Transfer 30 (1987)
       1709 (the equation and the enthalpy method of ``cryoplan.thermal.kernel``).
    .. [2] Meyer, Balsara & Aslam, J Comput Phys 257 (2014) 594 (RKL2 super-time-stepping).
    """
    grid, probe = problem.grid, problem.probe
    props, mat, h, t, u = _initial_state(problem)
    g_r, g_z = _boundary_conductances(problem)
    # a wall held at a set temperature, or a boiling cryogen whose wall law is steep, passes heat
    # as fast as the tissue conducts it: the explicit step must allow for the wall's conductance
    wall_held = probe.boundary in ("fixed-temperature", "cryogen")
    dt_max = SAFETY * kernel.stable_time_step(grid, props, mat, wall_held)
    history = ThermalHistory.start(t, problem.history_thresholds, grid.tissue)
    # a radial grid is one metre of an infinitely long probe: gas flow and set powers per metre
    per_metre = 1.0 / grid.active_length if grid.geometry == "radial" else 1.0
    op = probe.operating  # follows the probe's load: the tip pressure (and flow) move with it
    law = probe.law
    cells = grid.probe_cells
    wall = ProbeWall.of(probe, grid.probe_path, grid.probe_kind, grid.probe_area, 1e-9,
                        t[cells[:, 0], cells[:, 1]])
    energy = np.zeros(4)
    h_start = float((h * grid.volume)[grid.tissue].sum())
    thresholds = np.array(problem.history_thresholds, dtype=float)
    perfusion = model_code(problem.perfusion)
    t_ref = reference_temperatures(t, mat, props)

    times, phases, tips, gases, exhausts, drys, powers = ([0.0], ["start"], [problem.initial_temperature],
                                                          [np.nan], [np.nan], [0.0], [0.0])
    pressures, flows_g, walls = [np.nan], [0.0], [problem.initial_temperature]
    sizes: dict[float, list[tuple[float, float, float]]] = {th: [] for th in problem.isotherms}
    snapshots: dict[float, np.ndarray] = {}
    wall_snapshots: dict[float, np.ndarray] = {}
    points = None if problem.sample_points is None else PointSampler(grid, problem.sample_points)
    samples: list[np.ndarray] = []

    def record(now: float) -> None:
        rows = wall_temperatures(grid, wall.t_wall)
        for th in problem.isotherms:
            sizes[th].append(measure(grid, t, rows, th))
        if points is not None:
            samples.append(points(t))
        for when in problem.snapshot_times:
            if abs(when - now) < 1e-6:
                snapshots[when] = t.copy()
                wall_snapshots[when] = rows

    record(0.0)
    most_stages = sweeps = redone_steps = 0
    now, total = 0.0, problem.protocol.total_seconds
    for phase in problem.protocol.phases:
        mode, t_set = probe.mode(phase)
        if mode == kernel.CRYOGEN and op is not None:
            t_set = op.boiling_temperature
        n_out = max(1, math.ceil(phase.seconds / problem.output_interval - 1e-9))
        phase_start = now
        for k in range(n_out):
            span = min(problem.output_interval, phase.seconds - k * problem.output_interval)
            e_before = energy[kernel.E_PROBE]
            t_exhaust, start = np.nan, now
            for n_steps, tau, c in stepping(span, problem.max_step, dt_max, since=now - phase_start):
                t_exhaust, redone = kernel.advance(
                    h, t, u, mat, props, grid.tissue, grid.volume, g_r, g_z,
                    problem.initial_temperature, cells, grid.probe_g, grid.probe_area, *wall.args(),
                    *wall.state(),
                    mode, t_set * (per_metre if mode == kernel.HEAT_FLOW else 1.0),
                    (op.mass_flow if op else 0.0) * per_metre, law.params, law.absorbed, law.temperature,
                    law.quality,
                    tau, n_steps, start, c.mu, c.nu, c.mu_t, c.gamma_t, dt_max,
                    history.min_temperature, thresholds, history.seconds_below,
                    history.liquidus_time, history.solidus_time, history.frozen, history.freeze_cycles,
                    energy, perfusion, t_ref,
                )
                start += n_steps * tau
                most_stages = max(most_stages, c.s)
                sweeps += (n_steps - redone) * c.s + redone * (c.s + math.ceil(tau / dt_max - 1e-9))
                redone_steps += redone
            now += span
            if not np.isfinite(t[grid.tissue]).all():
                raise FloatingPointError(f"the solution diverged at t = {now:g} s (a solver bug)")
            times.append(now)
            phases.append(phase.kind)
            cryogen = mode == kernel.CRYOGEN
            weights = grid.probe_area
            tips.append(tip_temperature(wall.t_wall, weights, wall.kind))
            walls.append(active_wall_temperature(wall.t_wall, weights, wall.kind))
            gases.append(float(t_set) if mode in (kernel.CRYOGEN, kernel.GAS) else np.nan)
            exhausts.append(float(t_exhaust) if cryogen else np.nan)
            drys.append(wall.dry_fraction(weights) if cryogen else 0.0)
            powers.append((energy[kernel.E_PROBE] - e_before) / span)
            pressures.append(op.tip_pressure if cryogen and op else np.nan)
            flows_g.append(op.mass_flow if cryogen and op else 0.0)
            if cryogen and op is not None:
                op = op.at_load(powers[-1] / per_metre)
                law = op.law
            record(now)
            if progress is not None:
                progress(now, total)

    h_end = float((h * grid.volume)[grid.tissue].sum())
    scale = grid.active_length if grid.geometry == "radial" else 1.0
    return ThermalResult(
        times=np.array(times),
        phase=phases,
        tip_temperature=np.array(tips),
        wall_temperature=np.array(walls),
        gas_temperature=np.array(gases),
        exhaust_temperature=np.array(exhausts),
        dry_fraction=np.array(drys),
        tip_pressure=np.array(pressures),
        mass_flow=np.array(flows_g),
        cooling_power=np.array(powers) * scale,
        isotherms={th: IsothermSeries(*map(np.array, zip(*sizes[th], strict=True)))
                   for th in problem.isotherms},
        temperature=t,
        history=history,
        grid=grid,
        time_step=dt_max,
        energy={
            "probe_j": energy[kernel.E_PROBE],
            "perfusion_j": energy[kernel.E_PERFUSION],
            "metabolic_j": energy[kernel.E_METABOLIC],
            "boundary_j": energy[kernel.E_BOUNDARY],
            "tissue_enthalpy_change_j": h_end - h_start,
        },
        snapshots=snapshots,
        wall_snapshots=wall_snapshots,
        samples=None if points is None else np.array(samples),
        stages=most_stages,
        sweeps=sweeps,
        redone_steps=redone_steps,
    )
