"""The axisymmetric and radial run: a case (``cryoplan.case``) -> thermal solution -> the nerves
graded and the relief expected.

``cryoplan.case.build`` resolves a validated procedure once into the solver's problem, the
probe, the nerves and how they are judged; this module runs it, assesses the nerves and the
expected relief (shared with the 3D run, ``procedure3d``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cryoplan.case import Case, Case3D
from cryoplan.injury.assess import NerveAssessment, assess, regrowth_distance
from cryoplan.outcome.relief import Patient, ReliefDistribution, outcome_data
from cryoplan.thermal.solver import ThermalResult, solve
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
    case: Case
    thermal: ThermalResult
    wall_time_s: float
    nerves: tuple[NerveAssessment, ...] = ()
    outcome: Outcome | None = None


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


def run(case: Case, progress: Callable[[float, float], None] | None = None) -> Result:
    """Simulate an axisymmetric or radial case (its probe operated first); grade its nerves and
    expect the relief."""
    case = case.operated()
    start = time.perf_counter()
    thermal = solve(case.problem, progress)
    wall = time.perf_counter() - start
    if not case.nerves:
        return Result(case, thermal, wall)
    assessments = assess_nerves(case, thermal.history, case.problem.tissue)
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
