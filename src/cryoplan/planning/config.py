"""The plan file (TOML): the anatomy, the probe and the constraints of ``cryoplan plan``.
Every key is documented in docs/planning.md; units are in the key names. The rules across keys
(a template or a NIfTI volume, targets only with a volume, a probe that fits its cannula) are
model validators here, so a bad file is refused before anything runs.

>>> cfg = parse({"anatomy": {"template": "lumbar-medial-branch", "level": "L4"},
...              "probe": {"catalog": "n2o-2.0mm"}})
>>> cfg.plan.block_probability, cfg.plan.freeze_seconds
(0.9, [60.0, 90.0, 120.0, 150.0, 180.0])
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from cryoplan.config import (
    CryogenConfig,
    InjuryConfig,
    Name,
    OutcomeConfig,
    PatientConfig,
    ProbeConfig,
    _Section,
    check_probe,
    read_toml_file,
    validate,
)
from cryoplan.errors import MISSING, InputError

Point = Annotated[list[Annotated[float, Field(ge=-1000, le=1000)]], Field(min_length=3, max_length=3)]
Path_ = Annotated[str, Field(min_length=1, max_length=4096)]
#: Longest freeze the planner tries (s).
MAX_FREEZE_S = 1800
#: Approach cone of a NIfTI anatomy when the file gives none (deg).
DEFAULT_CONE_DEG = 30.0


def _section(template: str) -> str:
    """The data/anatomy.toml section of a template."""
    return "sacral" if "sacral" in template else "lumbar"


class AnatomyConfig(_Section):
    template: str | None = None
    level: str | None = None
    spacing_mm: Annotated[float, Field(ge=0.1, le=2.0)] = 0.75
    nifti: Path_ | None = None
    label_table: Path_ | None = None

    @model_validator(mode="after")
    def _template_or_volume(self) -> AnatomyConfig:
        from cryoplan.anatomy.labels import anatomy_data
        from cryoplan.anatomy.templates import TEMPLATES

        if self.template is not None and self.nifti is not None:
            raise InputError("nifti", self.nifti, "either anatomy.template or anatomy.nifti, not both")
        if self.template is None and self.nifti is None:
            raise InputError("template", MISSING,
                             "anatomy.template or anatomy.nifti (with anatomy.label_table)")
        if self.template is not None:
            if self.template not in TEMPLATES:
                raise InputError("template", self.template, "one of " + ", ".join(TEMPLATES))
            levels = anatomy_data()[_section(self.template)]["levels"]
            if self.level is not None and self.level not in levels:
                raise InputError("level", self.level, "one of " + ", ".join(levels))
        elif self.label_table is None:
            raise InputError("label_table", MISSING, "a label table (.toml) for the NIfTI labels")
        return self


class TargetConfig(_Section):
    name: Name
    points_mm: Annotated[list[Point], Field(min_length=2, max_length=1000)]
    diameter_mm: Annotated[float, Field(gt=0, le=20)] | None = None


class ApproachConfig(_Section):
    axis: Point | None = None
    cone_deg: Annotated[float, Field(ge=0, le=60)] | None = None
    tips_mm: Annotated[list[Point], Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _axis_has_a_direction(self) -> ApproachConfig:
        if self.axis is not None and not any(self.axis):
            raise InputError("axis", self.axis, "a non-zero vector (from the tip towards the hub)")
        return self


class ProtectedConfig(_Section):
    name: Name
    limit_c: Annotated[float, Field(ge=-100, le=40)]


Seconds = Annotated[float, Field(gt=0, le=MAX_FREEZE_S)]


class SearchConfig(_Section):
    block_probability: Annotated[float, Field(gt=0, lt=1)] = 0.9
    placement: Literal["ct", "stimulation"] = "ct"
    placement_error_mm: Annotated[float, Field(ge=0, le=20)] | None = None
    samples: Annotated[int, Field(ge=16, le=100000)] = 256
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 2026
    freeze_seconds: Annotated[list[Seconds], Field(min_length=1, max_length=50)] = [
        60.0, 90.0, 120.0, 150.0, 180.0]
    cycles: Annotated[list[Annotated[int, Field(ge=1, le=4)]], Field(min_length=1, max_length=4)] = [1, 2]
    thaw_seconds: Seconds = 30.0
    observe_seconds: Seconds = 60.0
    ring_deg: Annotated[list[Annotated[float, Field(ge=0, le=60)]], Field(max_length=20)] | None = None
    per_ring: Annotated[int, Field(ge=1, le=16)] = 4
    keep: Annotated[int, Field(ge=0, le=1000)] = 4
    gaps_mm: Annotated[list[Annotated[float, Field(ge=0, le=10)]], Field(min_length=1, max_length=20)] = [
        0.0, 2.0]
    max_step_s: Annotated[float, Field(gt=0, le=8)] = 4.0
    workers: Annotated[int, Field(ge=0, le=256)] = 0


class PlanConfig(_Section):
    anatomy: AnatomyConfig
    probe: ProbeConfig = ProbeConfig()
    cryogen: CryogenConfig = CryogenConfig()
    target: Annotated[list[TargetConfig], Field(max_length=20)] = []
    approach: ApproachConfig = ApproachConfig()
    protected: Annotated[list[ProtectedConfig], Field(max_length=50)] = []
    plan: SearchConfig = SearchConfig()
    injury: InjuryConfig = InjuryConfig()
    patient: PatientConfig = PatientConfig()
    outcome: OutcomeConfig = OutcomeConfig()

    @model_validator(mode="after")
    def _across_sections(self) -> PlanConfig:
        check_probe(self.probe, self.cryogen)
        if self.anatomy.template is not None and self.target:
            raise InputError("target", [t.name for t in self.target],
                             "no [[target]] with a template (its nerve is the target)")
        if self.anatomy.nifti is not None:
            if not self.target:
                raise InputError("target", [],
                                 "one or more [[target]] nerves (points_mm in the volume's frame)")
            if self.approach.axis is None or self.approach.tips_mm is None:
                raise InputError("approach", MISSING,
                                 "approach.axis and approach.tips_mm for a NIfTI anatomy")
        cone = self.cone_deg
        if self.plan.ring_deg is not None and any(r > cone for r in self.plan.ring_deg):
            raise InputError("plan.ring_deg", self.plan.ring_deg,
                             f"tilts within the approach cone (<= {cone:g} deg)")
        return self

    @property
    def cone_deg(self) -> float:
        """The approach cone (deg): the template's, or approach.cone_deg (default 30) for a volume."""
        from cryoplan.anatomy.labels import anatomy_data

        if self.anatomy.template is not None:
            return float(anatomy_data()[_section(self.anatomy.template)]["approach_cone_deg"])
        return self.approach.cone_deg if self.approach.cone_deg is not None else DEFAULT_CONE_DEG


def parse(data: dict[str, Any]) -> PlanConfig:
    """Validate a plan given as a dict (what a TOML file holds)."""
    return validate(PlanConfig, data, "plan")


def load(path: str | Path) -> tuple[PlanConfig, Path]:
    """Read and validate a plan file; returns it and its folder (relative paths start there)."""
    return parse(read_toml_file(path, "plan file")), Path(path).parent
