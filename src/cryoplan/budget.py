"""What a run will cost, estimated from its validated file before anything is built, and the
limits a run must stay within (docs/config.md, "Limits").

A simulation's cells follow from the grid keys (uniform cells, then cells growing geometrically);
its explicit step from the stability limit of the finest cell,
dt = 0.9 dx^2 / (c alpha_max) with c = 2 per dimension + 2 for the probe's wall (held at a
temperature, or a boiling cryogen's steep wall law) and
alpha_max the larger of the frozen and unfrozen k/C (``kernel.stable_time_step``'s bound on a
uniform grid); its sweeps from the protocol, taken in RKL2 steps as the solvers take them (each
step of the fewest stages that cover it in explicit steps); its memory from the per-cell arrays
and the time series. A plan's cost is the planner's own estimate (``cryoplan.planning.cost``), made with the
throughputs and the limits here. Times use throughputs measured on the project machine
(benchmarks/README.md): they are estimates to within a factor of about two, meant to refuse runs
that would take hours or gigabytes, not to predict the wall time.

>>> from cryoplan.config import parse
>>> cfg = parse({"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [
...     {"kind": "freeze", "seconds": 120}]}, "grid": {"spacing_mm": 0.25, "extent_mm": 20.0}})
>>> e = simulation(cfg)
>>> e.cells, round(e.time_step_s * 1e3, 1)
(14720, 10.3)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

from cryoplan import resolve
from cryoplan.anatomy.labels import nifti_header
from cryoplan.anatomy.templates import box_mm
from cryoplan.catalog import ProbeSpec, probe_spec
from cryoplan.errors import InputError
from cryoplan.procs import physical_memory_bytes
from cryoplan.resolve import direction
from cryoplan.thermal.rkl import stages_for
from cryoplan.thermal.solver import MAX_STEP_S as MAX_STEP_S_2D
from cryoplan.thermal.solver import PHASE_START_SHARE, stepping
from cryoplan.thermal.solver3d import MAX_STEP_S

#: Throughputs (project machine, one core, benchmarks/README.md): the axisymmetric kernel's
#: cell-sweeps per second (a stage: the probe wall's solve, the faces, the stage's combination),
#: the 3D kernel's voxel updates per second, the isotherm measurement's cells per second at each
#: output, and the 3D steady start's seconds per voxel^(4/3) (0.55 s at
#: 181 k voxels).
CELL_SWEEPS_PER_S = 6e7
VOXEL_UPDATES_PER_S = 4e7
CELLS_MEASURED_PER_S = 5e7
STEADY_S_PER_VOXEL_43 = 5.4e-8  # the conjugate gradients take ~N^(1/3) iterations of N voxels
#: Fixed costs of a 3D run's calls whatever the box's size (one thread; benchmarks/estimates.py on
#: a 5,632-voxel box: 3,600 sweeps took 0.6 s more than their voxel updates, 402 outputs 0.3 s
#: more than their measurements, with the machine's other core busy).
SECONDS_PER_SWEEP_3D = 1.7e-4
SECONDS_PER_OUTPUT_3D = 7.5e-4
#: Per-candidate Monte Carlo and margins (s per sample; ~0.3 s for 256 samples, measured).
MONTE_CARLO_S_PER_SAMPLE = 1.2e-3
#: Bytes per cell held by a 2D run besides its history (state, geometry, conductances), and per
#: voxel and process by a 3D one (state, history, stages, the steady start's sparse matrix).
BYTES_PER_CELL = 18 * 8
BYTES_PER_VOXEL = 350
#: Bytes of one number of a time series, in memory and in the JSON.
BYTES_PER_SAMPLE = 32


#: The most memory a run may ask for (bytes), and the share of the machine's it may take where
#: that is less: a run that fits in 4 GiB can still exhaust a small machine's (or container's).
MAX_MEMORY_BYTES = 4 * 2**30
MEMORY_SHARE = 0.5


def memory_limit(physical: int | None = None) -> int:
    """A run's memory limit (bytes): ``MAX_MEMORY_BYTES``, or ``MEMORY_SHARE`` of the machine's
    physical memory where that is less.

    >>> memory_limit(24 * 2**30) == 4 * 2**30, memory_limit(2 * 2**30) == 2**30
    (True, True)
    """
    physical = physical_memory_bytes() if physical is None else physical
    return MAX_MEMORY_BYTES if physical is None else int(min(MAX_MEMORY_BYTES, MEMORY_SHARE * physical))


@dataclass(frozen=True)
class Limits:
    """The most a run may ask for (docs/config.md, "Limits")."""

    cells: int = 2_000_000
    outputs: int = 100_000
    memory_bytes: int = field(default_factory=memory_limit)
    seconds: float = 3600.0
    #: a study's computing, all its runs together (a night of the project machine's two cores)
    study_seconds: float = 12 * 3600.0


LIMITS = Limits()


@dataclass(frozen=True)
class Estimate:
    """A run's estimated size and cost; ``driver`` names, for each figure, the key an error
    names and what else sets it."""

    kind: str
    cells: int  # grid cells or voxels
    steps: int  # time steps (simulation) or candidate simulations (plan)
    outputs: int  # samples of each time series
    memory_bytes: float
    seconds: float
    time_step_s: float
    driver: dict[str, tuple[str, str]]

    def as_json(self) -> dict[str, float]:
        return {"cells": self.cells, "steps": self.steps, "outputs": self.outputs,
                "memory_mb": round(self.memory_bytes / 2**20, 1), "seconds": round(self.seconds, 1)}


def count(x: float) -> int:
    """``ceil(x)`` for counting cells and steps, capped at 1e30 (a count that large is refused
    anyway, and infinity has no integer).

    >>> count(2.5), count(float("inf"))
    (3, 1000000000000000019884624838656)
    """
    return math.ceil(min(x - 1e-9, 1e30))


def cells_along(length: float, spacing: float, uniform: float, growth: float) -> int:
    """Cells over ``length``: uniform ``spacing`` up to ``uniform``, then each cell ``growth``
    times the last (``grid.stretched_faces``), counted in closed form.

    >>> cells_along(10.0, 1.0, 3.0, 2.0), cells_along(10.0, 0.5, 10.0, 1.0)
    (5, 20)
    """
    core = min(length, uniform)
    n = count(core / spacing)
    rest = length - core
    if rest <= 0:
        return max(n, 1)
    if growth <= 1.0:
        return n + count(rest / spacing)
    # cells spacing g, spacing g^2, ... until their sum reaches rest (a sliver joins the last one)
    return n + max(1, count(math.log(1 + rest * (growth - 1) / (spacing * growth)) / math.log(growth) - 0.5))


def _max_diffusivity(cfg) -> tuple[float, float]:
    """(largest k/C over frozen and unfrozen tissue, perfusion / C_u) of a procedure's tissue."""
    t = resolve.tissue(cfg.tissue)
    return (max(t.k_frozen / t.c_frozen, t.k_unfrozen / t.c_unfrozen),
            t.perfusion_per_s * t.blood_heat_capacity / t.c_unfrozen)


def _box_voxels(cfg, base: Path, specs: tuple[ProbeSpec, ...]) -> tuple[int, float]:
    """Voxels of a 3D run's box (``resolve.voxel_grid``) and their smallest side (mm), from the
    file alone: a label volume's from its header (its voxels are not read)."""
    import numpy as np

    g = cfg.grid
    if cfg.anatomy is not None and cfg.anatomy.nifti is not None:
        shape, spacing = nifti_header(base / cfg.anatomy.nifti)
        return math.prod(shape), float(np.min(spacing)) * 1e3
    if cfg.anatomy is not None:
        level = cfg.anatomy.level or ("S1" if "sacral" in cfg.anatomy.template else "L4")
        lo, hi = box_mm(cfg.anatomy.template, level, g.spacing_mm)
    elif g.box_min_mm is not None and g.box_max_mm is not None:
        lo, hi = np.array(g.box_min_mm), np.array(g.box_max_mm)
    else:
        ends = np.array([q for e, spec in zip(cfg.probe_entries(), specs, strict=True) for q in (
            np.array(e.tip_mm), np.array(e.tip_mm) + spec.require_length() * 1e3 * direction(e))])
        lo, hi = ends.min(axis=0) - g.extent_mm, ends.max(axis=0) + g.extent_mm
    return math.prod(max(3, round(float(n))) for n in (hi - lo) / g.spacing_mm), g.spacing_mm


def _segments(protocols: list[list[float]]) -> list[float]:
    """The 3D run's segments (s): its time cut wherever any probe's phase changes
    (``solver3d.segments``), from each probe's phase durations.

    >>> _segments([[20.0, 60.0], [60.0]])
    [20.0, 40.0, 20.0]
    """
    cuts = sorted({0.0, *(float(e) for durations in protocols for e in itertools.accumulate(durations))})
    return [b - a for a, b in itertools.pairwise(cuts) if b - a >= 1e-9]


def _sweeps(seconds: float, interval: float, dt: float, max_step: float = MAX_STEP_S) -> float:
    """RKL2 sweeps of a segment as the solvers take it: cut at each output interval, each span in
    equal steps of at most ``max_step``, each step ``rkl.stages_for(step / dt)`` sweeps.

    >>> _sweeps(20.0, 20.0, 0.5), _sweeps(0.25, 0.25, 0.5)  # ten steps of 2 s, four sweeps each
    (40, 2)
    """
    def span_sweeps(span: float) -> float:
        n = max(1, math.ceil(min(span / max_step, 1e30) - 1e-9))
        return n * stages_for(span / n / dt)

    full = math.floor(min(seconds / interval, 1e30) + 1e-9)
    rest = seconds - full * interval
    return full * span_sweeps(interval) + (span_sweeps(rest) if rest > 1e-9 * interval else 0)


def _sweeps2d(seconds: float, interval: float, dt: float, max_step: float) -> float:
    """Sweeps of one phase of a 2D run (``solver.stepping``): forward-Euler steps at ``dt`` when
    ``max_step`` does not exceed it, else RKL2 steps, the phase's first
    ``max_step / PHASE_START_SHARE`` seconds in the steps that grow from ``dt`` (their sweeps
    counted one by one).

    >>> _sweeps2d(10.0, 1.0, 0.5, 0.0), _sweeps2d(120.0, 1.0, 0.0123, 1.0)
    (20, 2333)
    """
    if max_step <= dt:
        return count(seconds / dt)
    start = min(seconds, max_step / PHASE_START_SHARE)
    ramp = sum(n * c.s for n, tau, c in stepping(start, max_step, dt, since=0.0))
    return ramp + _sweeps(seconds - start, interval, dt, max_step) if seconds > start else ramp


def _simulation3d(cfg, base: Path, specs: tuple[ProbeSpec, ...]) -> Estimate:
    """A 3D run: its box's voxels, updated by each RKL2 stage of each step (``solver3d``: steps of
    at most 2 s, s stages covering (s^2 + s - 2) / 4 explicit steps), and each sweep's and each
    output's fixed cost (a short phase is a step of its own)."""
    voxels, spacing_mm = _box_voxels(cfg, base, specs)
    alpha, perfusion = _max_diffusivity(cfg)
    dt = 0.9 / (6 * alpha / (spacing_mm * 1e-3) ** 2 + perfusion)
    phases = [p for e in cfg.probe_entries() for p in (e.protocol or cfg.protocol).phases]
    protocols = [[p.seconds for p in (e.protocol or cfg.protocol).phases] for e in cfg.probe_entries()]
    segments = _segments(protocols)
    total = sum(segments)
    steps = count(total / MAX_STEP_S) + len(phases)
    outputs = 1 + sum(max(1, count(seconds / cfg.output.interval_s)) for seconds in segments)
    memory = voxels * BYTES_PER_VOXEL + outputs * 8 * len(cfg.probe_entries()) * BYTES_PER_SAMPLE
    sweeps = sum(_sweeps(seconds, cfg.output.interval_s, dt) for seconds in segments)
    seconds = (voxels * sweeps / VOXEL_UPDATES_PER_S + voxels * outputs * len(cfg.output.isotherms_c)
               / CELLS_MEASURED_PER_S + sweeps * SECONDS_PER_SWEEP_3D + outputs * SECONDS_PER_OUTPUT_3D)
    if cfg.anatomy is not None and cfg.anatomy.nifti is not None:  # its voxels are the file's
        size, cells, voxels_of, step = ("anatomy.nifti", "the label volume's voxels (crop or resample it)",
                                        "the label volume's voxels", "the voxels' size")
    else:
        size, cells, voxels_of, step = ("grid.spacing_mm", "the box (grid.extent_mm beyond the probes, or "
                                        "grid.box_min_mm and grid.box_max_mm) over grid.spacing_mm cubed",
                                        "the voxels", "grid.spacing_mm")
    return Estimate("simulation", voxels, steps, outputs, memory, seconds, dt, {
        "cells": (size, cells),
        "outputs": ("output.interval_s", "the protocol's seconds / output.interval_s"),
        "memory": (size, f"set by {voxels_of}"),
        "seconds": (size, "the voxels times the RKL2 sweeps: the protocol's seconds / 2 s steps, each of "
                          f"stages growing as 1 / {step}"),
    })


def simulation(cfg, base: str | Path = ".", specs: tuple[ProbeSpec, ...] | None = None) -> Estimate:
    """The estimate of a validated procedure (``ProcedureConfig``); ``base`` is its file's folder
    (where a label volume's path starts); ``specs``: its probes' specs (``rules.check_procedure``;
    derived here unless given)."""
    specs = tuple(probe_spec(e) for e in cfg.probe_entries()) if specs is None else specs
    if cfg.grid.geometry == "3d":
        return _simulation3d(cfg, Path(base), specs)
    g, radial = cfg.grid, cfg.grid.geometry == "radial"
    a = specs[0].diameter_m * 1e3 / 2
    uniform = g.uniform_extent_mm if g.uniform_extent_mm is not None else g.extent_mm
    n_r = cells_along(g.extent_mm - a, g.spacing_mm, uniform - a, g.growth)
    if radial:
        cells = n_r
    else:
        n_active = count(specs[0].require_length() * 1e3 / g.spacing_mm)
        n_z = 2 * cells_along(g.extent_mm, g.spacing_mm, uniform, g.growth) + n_active
        cells = (n_r + count(a / g.spacing_mm - 0.5)) * n_z
    alpha, perfusion = _max_diffusivity(cfg)
    c = (2 if radial else 4) + 2  # both probe boundaries hold the wall (kernel: wall_held)
    dt = 0.9 / (c * alpha / (g.spacing_mm * 1e-3) ** 2 + perfusion)
    phases = cfg.protocol.phases
    interval = cfg.output.interval_s
    outputs = 1 + sum(max(1, count(p.seconds / interval)) for p in phases)
    max_step = MAX_STEP_S_2D if g.max_step_s is None else g.max_step_s
    steps = sum(_sweeps2d(p.seconds, interval, dt, max_step) for p in phases) + outputs
    thresholds = len(cfg.output.history_thresholds_c or cfg.output.isotherms_c) + 4 * bool(cfg.nerve)
    series = 5 + 3 * len(cfg.output.isotherms_c)
    memory = cells * (BYTES_PER_CELL + 8 * (thresholds + 6)) + outputs * series * BYTES_PER_SAMPLE
    measured = cells * outputs * len(cfg.output.isotherms_c)
    seconds = cells * steps / CELL_SWEEPS_PER_S + measured / CELLS_MEASURED_PER_S
    longest = max(range(len(phases)), key=lambda k: phases[k].seconds)
    slow = f"protocol.phases[{longest}].seconds" if phases[longest].seconds > 86400 else "grid.spacing_mm"
    return Estimate("simulation", cells, steps, outputs, memory, seconds, dt, {
        "cells": ("grid.spacing_mm", "set by grid.spacing_mm, grid.extent_mm and grid.growth"),
        "outputs": ("output.interval_s", "the protocol's seconds / output.interval_s"),
        "memory": ("grid.spacing_mm", "set by the cells and the outputs"),
        "seconds": (slow, "the cells times the sweeps: the protocol's seconds / grid.max_step_s, each "
                          "step of stages growing as 1 / grid.spacing_mm"),
    })


def _size(n: float) -> str:
    return f"{n:.3g}" if n < 1e6 else f"{n:.2e}"


def check(est: Estimate, limits: Limits = LIMITS, allow_large: bool = False) -> None:
    """Refuse a run over any limit (InputError naming what sets it), unless ``allow_large``."""
    if allow_large:
        return
    over = [
        ("cells", est.cells, limits.cells, f"{_size(est.cells)} cells", f"{_size(limits.cells)}"),
        ("outputs", est.outputs, limits.outputs, f"{_size(est.outputs)} outputs", f"{_size(limits.outputs)}"),
        ("memory", est.memory_bytes, limits.memory_bytes, f"{est.memory_bytes / 2**30:.3g} GiB of memory",
         f"{limits.memory_bytes / 2**30:g} GiB"),
        ("seconds", est.seconds, limits.seconds, f"{duration_text(est.seconds)} of computing",
         duration_text(limits.seconds)),
    ]
    for name, value, limit, said, most in over:
        if value > limit:
            field, why = est.driver[name]
            raise InputError(field, f"{said} (estimated)", f"a run of at most {most} ({why}; docs/config.md, "
                             "Limits; on the command line, --allow-large lifts the limits)")


def duration_text(seconds: float) -> str:
    """
    >>> duration_text(40), duration_text(3600), duration_text(5e9)
    ('40 s', '1 h', '158 years')
    """
    for unit, size in (("years", 3.15576e7), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{_size(seconds / size)} {unit}"
    return f"{seconds:.2g} s"
