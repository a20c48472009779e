"""The plan file (TOML): the anatomy, the probe and the constraints of ``cryoplan plan``.
Every key is documented in docs/planning.md; units are in the key names.

>>> cfg = parse({"anatomy": {"template": "lumbar-medial-branch", "level": "L4"},
...              "probe": {"catalog": "n2o-2.0mm"}})
>>> cfg.plan.block_probability, cfg.plan.freeze_seconds
(0.9, [60.0, 90.0, 120.0, 150.0, 180.0])
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cryoplan.config import (
    CryogenConfig,
    InjuryConfig,
    OutcomeConfig,
    PatientConfig,
    ProbeConfig,
    _translate,
)
from cryoplan.errors import InputError

Positive = Annotated[float, Field(gt=0)]
Point = Annotated[list[float], Field(min_length=3, max_length=3)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class AnatomyConfig(_Section):
    template: str | None = None
    level: str | None = None
    spacing_mm: Annotated[float, Field(ge=0.1, le=2.0)] = 0.75
    nifti: str | None = None
    label_table: str | None = None


class TargetConfig(_Section):
    name: str
    points_mm: Annotated[list[Point], Field(min_length=2)]
    diameter_mm: Positive | None = None


class ApproachConfig(_Section):
    axis: Point | None = None
    cone_deg: Annotated[float, Field(ge=0, le=60)] | None = None
    tips_mm: Annotated[list[Point], Field(min_length=1)] | None = None


class ProtectedConfig(_Section):
    name: str
    limit_c: Annotated[float, Field(ge=-100, le=40)]


class SearchConfig(_Section):
    block_probability: Annotated[float, Field(gt=0, lt=1)] = 0.9
    placement: Literal["ct", "stimulation"] = "ct"
    placement_error_mm: Annotated[float, Field(ge=0, le=20)] | None = None
    samples: Annotated[int, Field(ge=16, le=100000)] = 256
    seed: int = 2026
    freeze_seconds: Annotated[list[Positive], Field(min_length=1)] = [60.0, 90.0, 120.0, 150.0, 180.0]
    cycles: Annotated[list[Annotated[int, Field(ge=1, le=4)]], Field(min_length=1)] = [1, 2]
    thaw_seconds: Positive = 30.0
    observe_seconds: Positive = 60.0
    ring_deg: list[Annotated[float, Field(ge=0, le=60)]] | None = None
    per_ring: Annotated[int, Field(ge=1, le=16)] = 4
    keep: Annotated[int, Field(ge=0, le=1000)] = 4
    gaps_mm: Annotated[list[Annotated[float, Field(ge=0, le=10)]], Field(min_length=1)] = [0.0, 2.0]
    max_step_s: Annotated[float, Field(gt=0, le=8)] = 4.0
    workers: Annotated[int, Field(ge=0, le=256)] = 0


class PlanConfig(_Section):
    anatomy: AnatomyConfig
    probe: ProbeConfig = ProbeConfig()
    cryogen: CryogenConfig = CryogenConfig()
    target: list[TargetConfig] = []
    approach: ApproachConfig = ApproachConfig()
    protected: list[ProtectedConfig] = []
    plan: SearchConfig = SearchConfig()
    injury: InjuryConfig = InjuryConfig()
    patient: PatientConfig = PatientConfig()
    outcome: OutcomeConfig = OutcomeConfig()


def parse(data: dict[str, Any]) -> PlanConfig:
    """Validate a plan given as a dict (what a TOML file holds)."""
    try:
        return PlanConfig.model_validate(data)
    except ValidationError as err:
        raise _translate(err) from None


def load(path: str | Path) -> tuple[PlanConfig, Path]:
    """Read and validate a plan file; returns it and its folder (relative paths start there)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("FILE", str(path), "an existing plan file (.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InputError("FILE", str(path), f"valid TOML ({err})") from None
    except UnicodeDecodeError:
        raise InputError("FILE", str(path), "a UTF-8 text file") from None
    return parse(data), path.parent
