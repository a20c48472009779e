"""The procedure file (TOML): schema, validation and loading. Every key is documented in
docs/config.md; units are in the key names and temperatures are in degrees Celsius here only.

Bad input raises ``InputError`` naming the field, the value and what is allowed.

>>> cfg = parse({"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [
...     {"kind": "freeze", "seconds": 60}]}})
>>> cfg.grid.geometry, cfg.tissue.type
('axisymmetric', 'muscle')
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cryoplan.data import read_toml
from cryoplan.errors import InputError

#: The cell-model parameter sets of data/injury.toml, for [injury] cell.
CELL_NAMES = tuple(read_toml("injury.toml")["cells"])

Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class ProbeConfig(_Section):
    catalog: str | None = None
    boundary: Literal["cryogen", "fixed-temperature"] = "cryogen"
    diameter_mm: Positive | None = None
    active_length_mm: Positive | None = None
    temperature_c: Annotated[float, Field(gt=-273.15, lt=100)] | None = None
    cannula_gauge: Annotated[int, Field(ge=10, le=27)] | None = None
    cannula_inner_diameter_mm: Positive | None = None
    mass_flow_g_per_s: Positive | None = None
    internal_htc_w_per_m2_k: Positive | None = None


class CryogenConfig(_Section):
    gas: Literal["n2o", "ln2", "argon", "co2"] | None = None
    supply_pressure_bar: Positive | None = None
    supply_temperature_c: Annotated[float, Field(gt=-273.15, lt=200)] | None = None
    back_pressure_bar: Positive = 1.01325
    recuperator_effectiveness: Annotated[float, Field(ge=0, le=1)] | None = None
    supply_phase: Literal["liquid", "vapour"] | None = None


class TissueConfig(_Section):
    type: str = "muscle"
    k_unfrozen_w_per_m_k: Positive | None = None
    k_frozen_w_per_m_k: Positive | None = None
    c_unfrozen_j_per_m3_k: Positive | None = None
    c_frozen_j_per_m3_k: Positive | None = None
    latent_heat_j_per_m3: NonNegative | None = None
    t_solidus_c: float | None = None
    t_liquidus_c: float | None = None
    perfusion_per_s: NonNegative | None = None
    blood_heat_capacity_j_per_m3_k: Positive | None = None
    metabolic_w_per_m3: NonNegative | None = None
    initial_temperature_c: Annotated[float, Field(gt=0, lt=45)] = 37.0
    arterial_temperature_c: Annotated[float, Field(gt=0, lt=45)] = 37.0


class PhaseConfig(_Section):
    kind: Literal["freeze", "passive-thaw", "active-thaw"]
    seconds: Positive
    temperature_c: Annotated[float, Field(gt=-273.15, lt=100)] | None = None


class ProtocolConfig(_Section):
    phases: Annotated[list[PhaseConfig], Field(min_length=1)]


class GridConfig(_Section):
    geometry: Literal["radial", "axisymmetric"] = "axisymmetric"
    spacing_mm: Positive = 0.25
    extent_mm: Positive = 20.0
    growth: Annotated[float, Field(ge=1.0, le=1.5)] = 1.0
    uniform_extent_mm: Positive | None = None
    outer_boundary: Literal["initial-temperature", "insulated"] = "initial-temperature"


class OutputConfig(_Section):
    isotherms_c: Annotated[list[float], Field(min_length=1)] = [0.0, -20.0, -40.0]
    history_thresholds_c: list[float] | None = None
    interval_s: Positive = 1.0


class NerveConfig(_Section):
    name: str
    diameter_mm: Positive | None = None
    points_mm: list[Annotated[list[float], Field(min_length=3, max_length=3)]] | None = None
    distance_mm: Positive | None = None
    orientation: Literal["perpendicular", "parallel"] | None = None
    offset_along_axis_mm: float = 0.0
    length_mm: Positive = 20.0
    end_organ_mm: NonNegative | None = None  # arc length from the first point to the end organ


class InjuryConfig(_Section):
    neurapraxia_below_c: float | None = None
    axonotmesis_below_c: float | None = None
    axonotmesis_min_seconds: NonNegative | None = None
    axonotmesis_min_cycles: Annotated[int, Field(ge=1)] | None = None
    neurotmesis_below_c: float | None = None
    min_block_length_mm: Positive | None = None
    cell: Literal[CELL_NAMES] | None = None  # type: ignore[valid-type]
    refine_with_cell_model: bool = False


class PatientConfig(_Section):
    depression: bool | None = None
    prior_lumbar_surgery: bool | None = None
    treated_joints: Annotated[int, Field(ge=1, le=20)] | None = None
    opioid_use: bool | None = None
    susceptibility: Positive | None = None  # an explicit override of the factors

    @model_validator(mode="after")
    def _override_alone(self) -> PatientConfig:
        given = [k for k in ("depression", "prior_lumbar_surgery", "treated_joints", "opioid_use")
                 if getattr(self, k) is not None]
        if self.susceptibility is not None and given:
            raise ValueError(f"either susceptibility (an override) or the patient factors, not both "
                             f"(given: {', '.join(given)})")
        return self


class OutcomeConfig(_Section):
    nerves_treated: Annotated[int, Field(ge=1)] | None = None
    regrowth_distance_mm: NonNegative | None = None
    retreat_at_probability: Annotated[float, Field(gt=0, lt=1)] | None = None
    registry: str | None = None  # a registry URL: use its newest refit instead of the prior


class ProcedureConfig(_Section):
    probe: ProbeConfig = ProbeConfig()
    cryogen: CryogenConfig = CryogenConfig()
    tissue: TissueConfig = TissueConfig()
    protocol: ProtocolConfig
    grid: GridConfig = GridConfig()
    output: OutputConfig = OutputConfig()
    nerve: list[NerveConfig] = []
    injury: InjuryConfig = InjuryConfig()
    patient: PatientConfig = PatientConfig()
    outcome: OutcomeConfig = OutcomeConfig()


def _field_name(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
        elif item in ("literal", "constrained-float", "list") or "[" in str(item):
            continue
        else:
            parts.append(str(item))
    return ".".join(parts) or "procedure"


def _translate(err: ValidationError) -> InputError:
    first = err.errors(include_url=False)[0]
    loc, kind = first["loc"], first["type"]
    value = first.get("input")
    field = _field_name(loc)
    if kind == "extra_forbidden":
        return InputError(field, value, "no such key (see docs/config.md for the keys)")
    if kind == "missing":
        return InputError(field, "<missing>", "a value: this key is required")
    msg = first["msg"]
    for prefix in ("Input should be ", "Value error, "):
        msg = msg.removeprefix(prefix)
    return InputError(field, value, msg)


def parse(data: dict[str, Any]) -> ProcedureConfig:
    """Validate a procedure given as a dict (what a TOML file holds)."""
    try:
        return ProcedureConfig.model_validate(data)
    except ValidationError as err:
        raise _translate(err) from None


def load(path: str | Path) -> ProcedureConfig:
    """Read and validate a procedure file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("FILE", str(path), "an existing procedure file (.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InputError("FILE", str(path), f"valid TOML ({err})") from None
    except UnicodeDecodeError:
        raise InputError("FILE", str(path), "a UTF-8 text file") from None
    return parse(data)
