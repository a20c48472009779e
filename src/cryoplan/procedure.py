"""A simulation: a case (``cryoplan.case``) -> thermal solution -> the nerves graded and the
relief expected, whatever its geometry.

``cryoplan.case.build`` resolves a validated procedure once into the solver's problem, the
probes, the nerves and how they are judged; ``run`` simulates it on its grid (an axisymmetric or
radial ``Case`` with ``thermal.solver``, a voxel ``Case3D`` with ``thermal.solver3d``: the
compiled kernels differ, the interface does not) and grades the nerves and the expected relief
the same way for both, into one ``Result``.

A 3D procedure (``[grid] geometry = "3d"``): one or more probes anywhere in a voxel box, each
with its own catalog probe, console and protocol (or the shared ones), and nerves as polylines in
the same frame (x, y, z in mm; a single ``[probe]`` stands at the origin pointing +z, the
axisymmetric runs' axis, so a file runs in both geometries by changing ``geometry``). With an
``[anatomy]`` template the box is the template's (its tissues, its skin side, its target nerves
unless [[nerve]] entries are given); with a NIfTI label volume (``[anatomy] nifti`` and
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

from cryoplan.case import Case, Case3D
from cryoplan.injury.assess import NerveAssessment, assess, regrowth_distance
from cryoplan.outcome.relief import Patient, ReliefDistribution, outcome_data
from cryoplan.thermal.solver import ThermalResult, solve
from cryoplan.thermal.solver3d import ThermalResult3D, solve3d
from cryoplan.thermal.steady import steady_temperature
from cryoplan.tissue.properties import Tissue


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
    """A finished simulation: its case (its probes operated), the thermal solution on the case's
    grid, the solver's wall time, the nerves graded and the relief expected."""

    case: Case | Case3D
    thermal: ThermalResult | ThermalResult3D
    wall_time_s: float
    nerves: tuple[NerveAssessment, ...] = ()
    outcome: Outcome | None = None

    @property
    def geometry(self) -> str:
        """``"3d"``, ``"axisymmetric"`` or ``"radial"``: the case's grid."""
        return "3d" if isinstance(self.case, Case3D) else self.case.grid.geometry


def outcome(case: Case | Case3D, assessments: tuple[NerveAssessment, ...]) -> Outcome:
    """Relief of a patient whose listed nerves are all blocked, and the probability of that:
    the least of the nerves' block probabilities (one unknown kill temperature per patient, so
    the nerve warmest at its lesion decides), with the case's relief model and patient."""
    oc = case.config.outcome
    p = oc.retreat_at_probability or outcome_data()["retreatment"]["return_probability"]
    n = oc.nerves_treated or len(assessments)
    model, patient = case.relief, case.patient
    p_block = min((a.block_probability for a in assessments), default=0.0)
    if p_block <= 0:
        return Outcome(None, p, n, 0.0, None, model.origin,
                       "no lasting relief is expected: a nerve cannot be blocked (it did not freeze across "
                       "its whole section over the length a block needs)", patient)
    distance = regrowth_distance(case.nerves, assessments)
    dist = model.distribution(distance, patient)
    certain = sum(a.blocked for a in assessments)
    note = (f"{certain} of {len(assessments)} nerve(s) blocked for certain; every nerve blocked with "
            f"probability {p_block:.2f}; relief once blocked")
    return Outcome(dist, p, n, p_block, distance, model.origin, note, patient)


def run(case: Case | Case3D, progress: Callable[[float, float], None] | None = None) -> Result:
    """Simulate a case on its grid; grade its nerves and expect the relief. An axisymmetric or
    radial case has its probe operated first; a 3D one with an [anatomy] starts from the
    anatomy's steady state with the probes in place (skin convection, perfusion)."""
    if isinstance(case, Case3D):
        problem = case.problem
        if case.volume is not None:
            problem = replace(problem, initial_field=steady_temperature(case.grid, case.outside_probes))
        start = time.perf_counter()
        thermal: ThermalResult | ThermalResult3D = solve3d(problem, progress)
        tissue, inside_probe_ok = case.grid.materials[0], True
    else:
        case = case.operated()
        start = time.perf_counter()
        thermal = solve(case.problem, progress)
        tissue, inside_probe_ok = case.problem.tissue, False
    wall = time.perf_counter() - start
    if not case.nerves:
        return Result(case, thermal, wall)
    assessments = assess_nerves(case, thermal.history, tissue, inside_probe_ok)
    return Result(case, thermal, wall, assessments, outcome(case, assessments))


def assess_nerves(case: Case | Case3D, history, tissue: Tissue,
                  inside_probe_ok: bool = False) -> tuple[NerveAssessment, ...]:
    """Grade every nerve of a case from its run's thermal history with the case's injury
    thresholds and cell model (and the file's refinement rule); ``tissue`` gives the freezing
    range. Shared by the 2D and 3D runs."""
    return tuple(assess(n, case.grid, history, case.injury, tissue.t_liquidus, tissue.t_solidus,
                        cell_rule=case.config.injury.refine_with_cell_model, inside_probe_ok=inside_probe_ok,
                        cell=case.cell)
                 for n in case.nerves)
