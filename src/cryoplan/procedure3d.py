"""A procedure file with ``[grid] geometry = "3d"``: one or more probes anywhere in a voxel box,
each with its own catalog probe, console and protocol (or the shared ones), and nerves as
polylines in the same frame (x, y, z in mm; a single ``[probe]`` stands at the origin pointing
+z, the axisymmetric runs' axis, so a file runs in both geometries by changing ``geometry``).

``cryoplan.case.build`` resolves the sections once into the placed probes, the box, the nerves
and the 3D problem; this module runs it (``thermal.solver3d``) and assesses the nerves as the
axisymmetric run does (``procedure``), with the same expected relief. With an ``[anatomy]``
template the box is the template's (its tissues, its skin side, its target nerves unless
[[nerve]] entries are given); with a NIfTI label volume (``[anatomy] nifti`` and
``label_table``, read as ``cryoplan plan`` reads them) the box and voxels are the volume's, its
labels' tissues from the tissue library, and the probes and [[nerve]] polylines are in its frame:
the world coordinates (mm) of its affine, as the plan's targets and tips are. Either way the run
starts from the anatomy's steady state with the probes in place, as the planner's do.

>>> from cryoplan.case import build
>>> from cryoplan.config import parse
>>> cfg = parse({"grid": {"geometry": "3d", "spacing_mm": 1.0, "extent_mm": 4.0},
...              "probe": [{"catalog": "n2o-2.0mm", "tip_mm": [-2, 0, 0]},
...                        {"catalog": "n2o-2.0mm", "tip_mm": [2, 0, 0], "tilt_deg": 10}],
...              "protocol": {"phases": [{"kind": "freeze", "seconds": 5}]}})
>>> s = build(cfg)
>>> [p.name for p in s.probes], s.grid.shape[0]
(['probe[0]', 'probe[1]'], 13)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from cryoplan.case import Case3D
from cryoplan.injury.assess import NerveAssessment
from cryoplan.procedure import Outcome, assess_nerves, outcome
from cryoplan.thermal.solver3d import ThermalResult3D, solve3d
from cryoplan.thermal.steady import steady_temperature


@dataclass(frozen=True)
class Result3D:
    case: Case3D
    thermal: ThermalResult3D
    wall_time_s: float
    nerves: tuple[NerveAssessment, ...] = ()
    outcome: Outcome | None = None


def run(case: Case3D, progress: Callable[[float, float], None] | None = None) -> Result3D:
    """Simulate a 3D case, from its anatomy's steady state with the probes in place (skin
    convection, perfusion) when it has an [anatomy]; grade its nerves and expect the relief."""
    problem = case.problem
    if case.volume is not None:
        problem = replace(problem, initial_field=steady_temperature(case.grid, case.outside_probes))
    start = time.perf_counter()
    thermal = solve3d(problem, progress)
    wall = time.perf_counter() - start
    if not case.nerves:
        return Result3D(case, thermal, wall)
    assessments = assess_nerves(case, thermal.history, case.grid.materials[0], inside_probe_ok=True)
    return Result3D(case, thermal, wall, assessments, outcome(case, assessments))


def centre(case: Case3D) -> np.ndarray:
    """Where the report's three planes cross (m): the mean of the probes' tips and of their
    active lengths' middles, so a quarter of an active length up a lone probe's axis from its tip:
    through the ice round the tip and the freezing zone alike."""
    tips = np.array([p.tip for p in case.problem.probes])
    mid = np.array([p.tip + 0.5 * p.model.active_length * p.axis for p in case.problem.probes])
    return np.mean(np.concatenate([tips, mid]), axis=0)
