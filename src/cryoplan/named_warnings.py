"""Named warnings: how a result says that its physics is out of its depth.

A warning is a stable ``code`` (kebab-case, listed in ``CODES`` and docs/config.md), a one-line
plain-text ``message`` and what it is ``about`` (a nerve's name, "solver", "tissue", ...). A check
is a function from a finished run to a list of warnings; the service runs every check of its
kind after each run and writes the warnings into the result JSON (``"warnings"``), which the
terminal and the report show.

Adding one: write the check (in the module of the physics it judges, or in
``cryoplan.checks``), give its code a line in ``CODES`` and docs/config.md, and add the check to
``cryoplan.checks.SIMULATION`` or ``PLAN``.

>>> w = NamedWarning("iceball-at-edge", "the 0 °C isotherm reached the domain's edge", "solver")
>>> w.as_json()
{'code': 'iceball-at-edge', 'message': "the 0 °C isotherm reached the domain's edge", 'about': 'solver'}
>>> NamedWarning("no-such-code", "x")
Traceback (most recent call last):
...
ValueError: unknown warning code 'no-such-code' (add it to cryoplan.named_warnings.CODES)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Every code, with what it means.
CODES = {
    "iceball-at-edge": "freezing reached the simulated domain's outer edge: the isotherms there are clipped",
    "boundary-heat": "the domain's outer boundary supplied a significant share of the heat the probe took: "
                     "the domain is too small for the run",
    "tissue-property-extreme": "a tissue property outside the span of real tissues (data/tissue_ranges.toml)",
    "energy-balance": "the solver's energy balance did not close to 0.5 %",
    "check-not-simulated": "a planner re-simulation check could not be run at its displaced placement",
    "not-a-number": "an output the model could not compute: written as null",
    "nerve": "a nerve assessment's own caveat (injury and cell models)",
    "no-safe-plan": "the planner found no placement that meets every constraint",
    "probe-capacity-binds": "the probe's liquid cryogen boiled off before the end of its active tip at "
                            "the end of a freeze: more gas flow would freeze more",
    "probe-no-liquid": "the cryogen expands to dry gas: the probe cools only as cold gas (argon without a "
                       "recuperator)",
    "tissue-not-at-rest": "a perfused tissue started away from its arterial temperature drifts towards it",
    "screening-error": "the planner's screening (a simulated ice ball moved to another placement) was more "
                       "than 0.05 off the 3D solver's block probability on a candidate",
    "needle-path-unchecked": "part of the chosen needle's path lies outside the label volume and was not "
                             "checked against bone",
    "ct-series-left-aside": "a CT folder held other series, localizers or DICOM objects without pixels: only "
                            "the CT series with the most slices was read",
    "ct-files-not-dicom": "files in a CT folder that are not DICOM Part 10 files were left aside",
    "ct-resampled": "a CT series' slices were unevenly spaced or missing: resampled linearly along the stack",
    "ct-gantry-tilt": "a CT series' slices were offset in-plane along the stack (a gantry tilt): resliced "
                      "onto an orthogonal grid",
    "vertebra-level-uncertain": "a CT's vertebrae were counted from a sacrum found in it (a transitional "
                                "vertebra would shift the count) or could not be named",
    "ct-target-not-found": "a lumbar level found on a CT has no nerve target: the vertebra below (whose "
                           "bone the target lies on) is not in the CT, its junction was not found, or "
                           "the target is not found on a CT yet (the L5 dorsal ramus)",
    "landmark-uncertain": "a landmark found on a CT's bone (the SAP-TP junction) rests on weak evidence: "
                          "check it on the images",
    "vertebra-relabelled": "a CT's levels were renamed by hand (a corrections file): every level shifts "
                           "with the one corrected",
    "target-moved": "a target found on a CT was moved by hand (a corrections file)",
}


@dataclass(frozen=True)
class NamedWarning:
    code: str
    message: str
    about: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown warning code {self.code!r} (add it to cryoplan.named_warnings.CODES)")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.about}: {self.message}" if self.about else self.message

