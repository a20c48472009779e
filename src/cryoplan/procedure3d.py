"""A procedure file with ``[grid] geometry = "3d"``: one or more probes anywhere in a voxel box,
each with its own catalog probe, console and protocol (or the shared ones), and nerves as
polylines in the same frame (x, y, z in mm; a single ``[probe]`` stands at the origin pointing
+z, the axisymmetric runs' axis, so a file runs in both geometries by changing ``geometry``).

``cryoplan.resolve`` turns the sections into the placed probes, the box and the nerves; this
module builds the 3D problem, runs it (``thermal.solver3d``) and assesses the nerves as the
axisymmetric run does (``procedure``), with the same expected relief. With an ``[anatomy]``
template the box is the template's (its tissues, its skin side, its target nerves unless
[[nerve]] entries are given); with a NIfTI label volume (``[anatomy] nifti`` and
``label_table``, read as ``cryoplan plan`` reads them) the box and voxels are the volume's, its
labels' tissues from the tissue library, and the probes and [[nerve]] polylines are in its frame:
the world coordinates (mm) of its affine, as the plan's targets and tips are. Either way the run
starts from the anatomy's steady state with the probes in place, as the planner's do.

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
from pathlib import Path

import numpy as np

from cryoplan import resolve
from cryoplan.anatomy.labels import LabelVolume
from cryoplan.config import ProcedureConfig, initial_temperature_c
from cryoplan.errors import InputError
from cryoplan.injury.assess import NerveAssessment
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.thresholds import InjuryThresholds
from cryoplan.outcome.relief import ReliefModel
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
    volume: LabelVolume | None = None  # an [anatomy]'s labels (a template's or a NIfTI volume's)

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


def setup(cfg: ProcedureConfig, steady: bool = True, base: str | Path = ".") -> Setup3D:
    """Resolve a validated 3D procedure into the solver's problem (raises InputError: a probe
    outside the box or through bone, a nerve outside the box or inside a probe, a label volume
    that cannot be read or whose voxels are wider than a probe's radius). ``steady``: compute an
    anatomy's steady start (False: only check the file, as ``service.prepare`` does). ``base``:
    the folder a label volume's paths start from (the procedure file's)."""
    probes = resolve.probes3d(cfg.probe_entries(), cfg.cryogen)
    start, volume = None, None
    if cfg.anatomy is None:
        grid = resolve.voxel_grid(cfg.grid, cfg.tissue, probes)
        nerves = resolve.nerves3d(cfg.nerve, grid, probes)
    else:  # the anatomy's tissues, nerves (unless given) and steady start (skin convection, perfusion)
        volume, targets = resolve.anatomy_volume(cfg.anatomy, cfg.grid, base)
        if cfg.anatomy.nifti is not None:
            _voxels_resolve_probes(volume, probes, cfg.anatomy.nifti)
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
        initial_temperature=None if start is not None else c_to_k(initial_temperature_c(cfg.tissue)),
        initial_field=start, isotherms=iso,
        history_thresholds=history_t, output_interval=cfg.output.interval_s,
        probe_protocols=tuple(p.protocol for p in probes))
    return Setup3D(problem, probes, nerves, injury, volume)


def _voxels_resolve_probes(volume: LabelVolume, probes: tuple[resolve.Probe3D, ...], name: str) -> None:
    """A label volume's voxels no wider than the thinnest probe's radius (``grid.spacing_mm``'s
    rule, which the volume's voxels replace), so every probe is resolved."""
    radius = min(p.placed.model.radius for p in probes)
    if np.max(volume.spacing) > radius * (1 + 1e-9):
        raise InputError("anatomy.nifti", name, f"voxels at most the probe radius ({radius * 1e3:g} mm) "
                         f"on every axis; these are {np.round(volume.spacing * 1e3, 3).tolist()} mm: "
                         "resample the labels finer (nearest neighbour)")


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


def run(cfg: ProcedureConfig, progress: Callable[[float, float], None] | None = None,
        base: str | Path = ".", fitted: ReliefModel | None = None) -> Result3D:
    """Simulate a 3D procedure (``base``: the folder of its label volume's paths; ``fitted``: the
    registry's relief model, when the file names one)."""
    s = setup(cfg, base=base)
    start = time.perf_counter()
    thermal = solve3d(s.problem, progress)
    wall = time.perf_counter() - start
    if not s.nerves:
        return Result3D(s, thermal, wall)
    assessments = assess_nerves(cfg, s.nerves, s.grid, thermal.history, s.injury, s.grid.materials[0],
                                inside_probe_ok=True)
    return Result3D(s, thermal, wall, assessments, outcome(cfg, s.nerves, assessments, fitted))


def centre(s: Setup3D) -> np.ndarray:
    """Where the report's three planes cross (m): the mean of the probes' tips and of their
    active lengths' middles, so a quarter of an active length up a lone probe's axis from its tip:
    through the ice round the tip and the freezing zone alike."""
    tips = np.array([p.tip for p in s.problem.probes])
    mid = np.array([p.tip + 0.5 * p.model.active_length * p.axis for p in s.problem.probes])
    return np.mean(np.concatenate([tips, mid]), axis=0)
