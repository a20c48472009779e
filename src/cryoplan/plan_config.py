"""The plan file (TOML): the anatomy, the probe and the constraints of ``cryoplan plan``.
Every key is documented in docs/planning.md; units are in the key names. The rules across keys
(a template or a NIfTI volume, targets that fit the anatomy) are model validators here; the
probe's rules, which need the catalog, are ``cryoplan.rules.check_plan``. A bad file is refused
before anything runs.

A plan has one target or several (a session): ``[anatomy] levels`` (with ``sides``), or
``[[target]]`` entries (a template's ``level`` and ``side``, or a volume's nerve with its own
``tips_mm``); ``targets()`` lists them in the order they are treated.

>>> cfg = parse({"anatomy": {"template": "lumbar-medial-branch", "level": "L4"},
...              "probe": {"catalog": "n2o-2.0mm"}})
>>> cfg.plan.block_probability, cfg.plan.freeze_seconds
(0.9, [60.0, 90.0, 120.0, 150.0, 180.0])
>>> session = parse({"anatomy": {"levels": ["L4", "L5", "S1"], "sides": ["left", "right"]},
...                  "probe": {"catalog": "n2o-2.0mm"}})
>>> [t.name for t in session.targets()][:3]
['L4 left', 'L5 left', 'S1 left']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from cryoplan.anatomy.ct.vertebrae import check_lowest
from cryoplan.anatomy.labels import anatomy_data
from cryoplan.anatomy.templates import TEMPLATES, template_of
from cryoplan.config import (
    SERVER_SETTING,
    CryogenConfig,
    InjuryConfig,
    Name,
    OutcomeConfig,
    Path_,
    PatientConfig,
    ProbeConfig,
    _Section,
    check_anatomy_source,
    check_direction,
    read_toml_file,
    validate,
)
from cryoplan.errors import MISSING, InputError

Point = Annotated[list[Annotated[float, Field(ge=-1000, le=1000)]], Field(min_length=3, max_length=3)]
#: Longest freeze the planner tries (s).
MAX_FREEZE_S = 1800
#: Approach cone of a NIfTI anatomy when the file gives none (deg).
DEFAULT_CONE_DEG = 30.0
#: Most targets in one plan (a session).
MAX_TARGETS = 20
#: The nerves whose targets a CT's survey finds (anatomy.ct.survey: the lumbar medial branches).
CT_LEVELS = ("L1", "L2", "L3", "L4")


def _section(template: str) -> str:
    """The data/anatomy.toml section of a template."""
    return "sacral" if "sacral" in template else "lumbar"


Side = Literal["left", "right"]
Level = Annotated[str, Field(min_length=1, max_length=8)]


def _check_level(template: str | None, level: str, where: str) -> None:
    """A level of ``template`` (None: of any template, which it then picks)."""
    if template is None:
        try:
            template_of(level)
        except InputError as err:
            raise InputError(where, level, err.allowed) from None
        return
    levels = anatomy_data()[_section(template)]["levels"]
    if level not in levels:
        raise InputError(where, level, "one of " + ", ".join(levels))


class AnatomyConfig(_Section):
    template: str | None = None
    level: Level | None = None
    side: Side | None = None
    levels: Annotated[list[Level], Field(min_length=1, max_length=10)] | None = None
    sides: Annotated[list[Side], Field(min_length=1, max_length=2)] | None = None
    spacing_mm: Annotated[float, Field(ge=0.1, le=2.0)] = 0.75
    nifti: Path_ | None = None
    label_table: Path_ | None = None
    ct: Path_ | None = None
    lowest: Level | None = None
    corrections: Path_ | None = None

    @model_validator(mode="after")
    def _template_or_volume(self) -> AnatomyConfig:
        check_anatomy_source(self.template, self.nifti, self.label_table)
        if self.ct is not None:
            self._patient()
        elif self.lowest is not None or self.corrections is not None:
            key = "lowest" if self.lowest is not None else "corrections"
            raise InputError(key, getattr(self, key), "only with anatomy.ct (the lowest vertebra in the CT, "
                             "corrections to its survey)")
        if self.level is not None and self.levels is not None:
            raise InputError("levels", self.levels, "either anatomy.level or anatomy.levels, not both")
        if self.side is not None and self.sides is not None:
            raise InputError("sides", self.sides, "either anatomy.side or anatomy.sides, not both")
        for name, values in (("levels", self.levels), ("sides", self.sides)):
            if values is not None and len(set(values)) != len(values):
                raise InputError(name, values, "each only once")
        if self.nifti is not None:
            for key in ("level", "levels", "side", "sides"):
                if getattr(self, key) is not None:
                    raise InputError(key, getattr(self, key), "levels and sides of a template (a NIfTI "
                                     "volume's targets are [[target]] entries)")
            return self
        if self.template is not None and self.template not in TEMPLATES:
            raise InputError("template", self.template, "one of " + ", ".join(TEMPLATES))
        if self.level is not None:
            _check_level(self.template, self.level, "level")
        for k, level in enumerate(self.levels or []):
            _check_level(self.template, level, f"levels[{k}]")
        return self

    def _patient(self) -> None:
        """A patient's CT: levels of the lumbar medial branches found on it, no template."""
        if self.template is not None or self.nifti is not None:
            raise InputError("ct", self.ct, "either anatomy.ct, anatomy.template or anatomy.nifti, not more")
        check_lowest(self.lowest, "lowest")
        for level in self.levels or [self.level or "L4"]:
            if level not in CT_LEVELS:
                raise InputError("levels" if self.levels else "level", level,
                                 "a lumbar medial branch found on a CT: " + ", ".join(CT_LEVELS))

    @property
    def patient(self) -> bool:
        """Whether the targets are on a patient's CT."""
        return self.ct is not None


class TargetConfig(_Section):
    """A target of the session: a template's level (and side), or a nerve of a NIfTI volume
    (its points, and its own approach: a target with ``tips_mm`` is planned on its own)."""

    name: Name | None = None
    level: Level | None = None
    side: Side | None = None
    template: str | None = None
    points_mm: Annotated[list[Point], Field(min_length=2, max_length=1000)] | None = None
    diameter_mm: Annotated[float, Field(gt=0, le=20)] | None = None
    tips_mm: Annotated[list[Point], Field(min_length=1, max_length=100)] | None = None
    axis: Point | None = None
    cone_deg: Annotated[float, Field(ge=0, le=60)] | None = None

    @model_validator(mode="after")
    def _a_level_or_a_nerve(self) -> TargetConfig:
        check_direction("axis", self.axis)
        if self.template is not None and self.template not in TEMPLATES:
            raise InputError("template", self.template, "one of " + ", ".join(TEMPLATES))
        if self.level is not None:
            _check_level(self.template, self.level, "level")
        return self


@dataclass(frozen=True)
class Target:
    """One target of a plan: its name, and where it comes from: a template at a level and side,
    or the volume's [[target]] nerves (their numbers) with the approach that reaches them."""

    name: str
    template: str | None = None
    level: str | None = None
    side: str | None = None
    nerves: tuple[int, ...] = ()
    tips_mm: tuple[tuple[float, float, float], ...] = ()
    axis: tuple[float, float, float] | None = None
    cone_deg: float | None = None
    patient: bool = False  # a level and side of the patient's CT, not of a template


class ApproachConfig(_Section):
    axis: Point | None = None
    cone_deg: Annotated[float, Field(ge=0, le=60)] | None = None
    tips_mm: Annotated[list[Point], Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _axis_has_a_direction(self) -> ApproachConfig:
        check_direction("axis", self.axis)
        return self


class ProtectedConfig(_Section):
    name: Name
    limit_c: Annotated[float, Field(ge=-100, le=40)]


Seconds = Annotated[float, Field(gt=0, le=MAX_FREEZE_S)]


class SearchConfig(_Section):
    block_probability: Annotated[float, Field(gt=0, lt=1)] = 0.9
    probes: Annotated[int, Field(ge=1, le=2)] = 2
    checks: Annotated[int, Field(ge=0, le=16)] = 4
    screening: bool = True
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
    # worker processes: what the machine spends is its owner's setting, never an upload's
    workers: Annotated[int, Field(ge=0, le=256), SERVER_SETTING] = 0


class PlanConfig(_Section):
    anatomy: AnatomyConfig = AnatomyConfig()
    probe: ProbeConfig = ProbeConfig()
    cryogen: CryogenConfig = CryogenConfig()
    target: Annotated[list[TargetConfig], Field(max_length=MAX_TARGETS)] = []
    approach: ApproachConfig = ApproachConfig()
    protected: Annotated[list[ProtectedConfig], Field(max_length=50)] = []
    plan: SearchConfig = SearchConfig()
    injury: InjuryConfig = InjuryConfig()
    patient: PatientConfig = PatientConfig()
    outcome: OutcomeConfig = OutcomeConfig()

    @model_validator(mode="after")
    def _across_sections(self) -> PlanConfig:
        an = self.anatomy
        if an.patient:
            self._patient_targets()
        elif an.nifti is None:
            self._template_targets()
        else:
            self._volume_targets()
        for t in self.targets():
            cone = t.cone_deg if t.cone_deg is not None else self.cone_of(t)
            if self.plan.ring_deg is not None and any(r > cone for r in self.plan.ring_deg):
                raise InputError("plan.ring_deg", self.plan.ring_deg,
                                 f"tilts within the approach cone of {t.name} (<= {cone:g} deg)")
        return self

    def _template_targets(self) -> None:
        an = self.anatomy
        if self.approach.tips_mm is not None:
            raise InputError("approach.tips_mm", self.approach.tips_mm,
                             "no tips with a template (its tips lie beside its nerve)")
        if self.target and (an.levels is not None or an.level is not None):
            raise InputError("target", [t.level for t in self.target],
                             "either [anatomy] level(s) or [[target]] entries, not both")
        if not self.target and an.template is None and an.levels is None:
            raise InputError("template", MISSING,
                             "anatomy.template, anatomy.levels, or anatomy.nifti (with anatomy.label_table)")
        for k, t in enumerate(self.target):
            if t.points_mm is not None or t.tips_mm is not None:
                raise InputError(f"target[{k}].points_mm", t.points_mm or t.tips_mm,
                                 "a level (and side) of a template: points and tips belong to a NIfTI volume")
            if t.level is None:
                raise InputError(f"target[{k}].level", MISSING, "a level of the template (L1-L5, S1-S3)")
            template = t.template or an.template
            if template is not None:
                _check_level(template, t.level, f"target[{k}].level")
        names = [t.name for t in self.targets()]
        if len(set(names)) != len(names):
            raise InputError("target", names, "targets named once each")

    def _patient_targets(self) -> None:
        if self.target:
            raise InputError("target", [t.level for t in self.target],
                             "anatomy.levels and anatomy.sides on a CT (no [[target]] entries)")
        if self.approach.tips_mm is not None:
            raise InputError("approach.tips_mm", self.approach.tips_mm,
                             "no tips on a CT (its tips lie beside the nerve found on it)")

    def _volume_targets(self) -> None:
        if not self.target:
            raise InputError("target", [], "one or more [[target]] nerves (points_mm in the volume's frame)")
        for k, t in enumerate(self.target):
            if t.points_mm is None:
                raise InputError(f"target[{k}].points_mm", MISSING,
                                 "the nerve's points in the volume's frame")
            if t.name is None:
                raise InputError(f"target[{k}].name", MISSING, "a name for the nerve")
            if t.level is not None or t.side is not None or t.template is not None:
                raise InputError(f"target[{k}].level", t.level or t.side or t.template,
                                 "points_mm (and its own tips_mm) for a NIfTI volume: levels belong to "
                                 "templates")
        shared = [t for t in self.target if t.tips_mm is None]
        if shared and (self.approach.axis is None or self.approach.tips_mm is None):
            raise InputError("approach", MISSING, "approach.axis and approach.tips_mm for a NIfTI anatomy "
                             "(or tips_mm and axis in each [[target]])")
        for k, t in enumerate(self.target):
            if t.tips_mm is not None and t.axis is None and self.approach.axis is None:
                raise InputError(f"target[{k}].axis", MISSING, "the needle's axis (or approach.axis)")

    def targets(self) -> list[Target]:
        """The targets in the order they are treated: each side in turn (left first), its levels
        from cranial to caudal as given; [[target]] entries in their order. A volume's nerves
        without their own tips form one target, planned together as one."""
        an = self.anatomy
        if an.nifti is not None:
            out, shared = [], [k for k, t in enumerate(self.target) if t.tips_mm is None]
            if shared:
                name = " + ".join(self.target[k].name or "" for k in shared)
                out.append(Target(name, nerves=tuple(shared)))
            for k, t in enumerate(self.target):
                if t.tips_mm is not None:
                    axis = t.axis if t.axis is not None else self.approach.axis
                    out.append(Target(t.name or "", nerves=(k,), tips_mm=tuple(tuple(p) for p in t.tips_mm),
                                      axis=tuple(axis), cone_deg=t.cone_deg))
            return out
        if self.target:
            return [Target(t.name or _target_name(t.level, t.side), t.template or an.template, t.level,
                           t.side) for t in self.target]
        levels = an.levels or [an.level or _default_level(an.template)]
        if an.patient:  # a patient has two different sides: each is planned
            return [Target(_target_name(level, side), None, level, side, patient=True)
                    for side in an.sides or ([an.side] if an.side else ["left", "right"]) for level in levels]
        sides = an.sides or [an.side]
        return [Target(_target_name(level, side), an.template, level, side)
                for side in sides for level in levels]

    def cone_of(self, t: Target) -> float:
        """A target's approach cone (deg): approach.cone_deg if given, else the template's, else
        30 for a volume."""
        if t.cone_deg is not None:
            return t.cone_deg
        if self.approach.cone_deg is not None:
            return self.approach.cone_deg
        if t.level is not None:
            return float(anatomy_data()[_section(t.template or template_of(t.level))]["approach_cone_deg"])
        return DEFAULT_CONE_DEG


def _default_level(template: str | None) -> str:
    return "S1" if template is not None and "sacral" in template else "L4"


def _target_name(level: str | None, side: str | None) -> str:
    return f"{level} {side}" if side else str(level)


def parse(data: dict[str, Any]) -> PlanConfig:
    """Validate a plan given as a dict (what a TOML file holds)."""
    return validate(PlanConfig, data, "plan")


def load(path: str | Path) -> tuple[PlanConfig, Path]:
    """Read and validate a plan file; returns it and its folder (relative paths start there)."""
    return parse(read_toml_file(path, "plan file")), Path(path).parent
