"""A procedure file with ``[grid] geometry = "3d"``: one or more probes anywhere in a voxel box,
each with its own catalog probe, console and protocol (or the shared ones), and nerves as
polylines in the same frame (x, y, z in mm; a single ``[probe]`` stands at the origin pointing
+z, the axisymmetric runs' axis, so a file runs in both geometries by changing ``geometry``).

``cryoplan.resolve`` turns the sections into the placed probes, the box and the nerves; this
module builds the 3D problem, runs it (``thermal.solver3d``) and assesses the nerves as the
axisymmetric run does (``procedure``), with the same expected relief. With an ``[anatomy]``
template the box is the template's (its tissues, its skin side, its target nerves unless
[[nerve]] entries are given), and the run starts from its steady state with the probes in place,
as the planner's do.

>>> from cryoplan.config import parse
>>> cfg = parse({"grid": {"geometry": "3d", "spacing_mm": 1.0, "extent_mm": 4.0},
...              "probe": [{"catalog": "n2o-2.0mm", "tip_mm": [-2, 0, 0]},
...                        {"catalog": "n2o-2.0mm", "tip_mm": [2, 0, 0], "tilt_deg": 10}],
...              "protocol": {"phases": [{"kind": "freeze", "seconds": 5}]}})
>>> s = setup(cfg)
>>> [p.name for p in s.probes], s.grid.shape[0]
(['probe[0]', 'probe[1]'], 13)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cryoplan import resolve
from cryoplan.anatomy.labels import LabelVolume
from cryoplan.config import ProcedureConfig
from cryoplan.errors import InputError
from cryoplan.injury.assess import NerveAssessment
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.thresholds import InjuryThresholds
from cryoplan.procedure import Outcome, assess_nerves, outcome
from cryoplan.protocol import Protocol
from cryoplan.thermal.placement import rasterise
from cryoplan.thermal.solver3d import ThermalProblem3D, ThermalResult3D, solve3d
from cryoplan.thermal.steady import steady_temperature
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.units import c_to_k


@dataclass(frozen=True)
class Setup3D:
    """The resolved inputs of a 3D run."""

    problem: ThermalProblem3D
    probes: tuple[resolve.Probe3D, ...]
    nerves: tuple[Nerve, ...]
    injury: InjuryThresholds
    volume: LabelVolume | None = None  # an [anatomy] template's labels

    @property
    def grid(self) -> VoxelGrid:
        return self.problem.grid

    @property
    def protocol(self) -> Protocol:
        return self.problem.protocol


@dataclass(frozen=True)
class Result3D:
    setup: Setup3D
    thermal: ThermalResult3D
    wall_time_s: float
    nerves: tuple[NerveAssessment, ...] = ()
    outcome: Outcome | None = None


def setup(cfg: ProcedureConfig, steady: bool = True) -> Setup3D:
    """Resolve a validated 3D procedure into the solver's problem (raises InputError: a probe
    outside the box or through bone, a nerve outside the box or inside a probe). ``steady``:
    compute an anatomy's steady start (False: only check the file, as ``service.prepare`` does)."""
    probes = resolve.probes3d(cfg.probe_entries(), cfg.cryogen)
    start, volume = None, None
    if cfg.anatomy is None:
        grid = resolve.voxel_grid(cfg.grid, cfg.tissue, probes)
        nerves = resolve.nerves3d(cfg.nerve, grid, probes)
    else:  # the template's tissues, nerves (unless given) and steady start (skin convection, perfusion)
        volume, targets = resolve.anatomy_volume(cfg.anatomy, cfg.grid)
        grid = volume.voxel_grid()
        nerves = resolve.nerves3d(cfg.nerve, grid, probes) if cfg.nerve else targets
    tissue = ~rasterise(grid, [p.placed for p in probes]).inside  # refuses a tip outside, a probe in bone
    _apart(grid, probes)
    if volume is not None and steady:
        start = steady_temperature(grid, tissue)
    injury = resolve.injury(cfg.injury)
    iso = tuple(c_to_k(x) for x in cfg.output.isotherms_c)
    given = cfg.output.history_thresholds_c
    history_t = tuple(c_to_k(x) for x in given) if given is not None else iso
    if nerves:
        history_t += tuple(t for t in injury.history_temperatures
                           if all(abs(t - u) > 1e-9 for u in history_t))
    problem = ThermalProblem3D(
        grid, tuple(p.placed for p in probes), resolve.protocol(cfg.protocol.phases),
        initial_temperature=None if start is not None else c_to_k(resolve.initial_temperature_c(cfg.tissue)),
        initial_field=start, isotherms=iso,
        history_thresholds=history_t, output_interval=cfg.output.interval_s,
        probe_protocols=tuple(p.protocol for p in probes))
    return Setup3D(problem, probes, nerves, injury, volume)


def _apart(grid: VoxelGrid, probes: tuple[resolve.Probe3D, ...]) -> None:
    """No two probes touching: points along each axis (every quarter voxel, through the box) stay
    farther than the two radii from the other's axis, or behind its tip (raises InputError)."""
    length = float(np.linalg.norm(grid.extent_max - grid.extent_min))
    s = np.arange(0.0, length, 0.25 * grid.min_spacing)
    for j, a in enumerate(probes):
        line = a.placed.tip + s[:, None] * a.placed.axis
        line = line[grid.contains(line)]
        for b in probes[j + 1:]:
            reach = a.placed.model.radius + b.placed.model.radius
            if np.any((b.placed.axial(line) >= -a.placed.model.radius) & (b.placed.radial(line) < reach)):
                raise InputError(f"{b.placed.name}.tip_mm", np.round(b.placed.tip * 1e3, 3).tolist(),
                                 f"a probe apart from {a.name} (their shafts would touch)")


def run(cfg: ProcedureConfig, progress: Callable[[float, float], None] | None = None) -> Result3D:
    """Simulate a 3D procedure."""
    s = setup(cfg)
    start = time.perf_counter()
    thermal = solve3d(s.problem, progress)
    wall = time.perf_counter() - start
    if not s.nerves:
        return Result3D(s, thermal, wall)
    assessments = assess_nerves(cfg, s.nerves, s.grid, thermal.history, s.injury, s.grid.materials[0],
                                inside_probe_ok=True)
    return Result3D(s, thermal, wall, assessments, outcome(cfg, s.nerves, assessments))


def centre(s: Setup3D) -> np.ndarray:
    """Where the report's three planes cross (m): the probes' tips' mean, moved half an active
    length along their mean axis (the middle of the ice they make)."""
    tips = np.array([p.tip for p in s.problem.probes])
    mid = np.array([p.tip + 0.5 * p.model.active_length * p.axis for p in s.problem.probes])
    return np.mean(np.concatenate([tips, mid]), axis=0)
