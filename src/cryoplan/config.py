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


class SupplyConfig(_Section):
    """The supply capillary or orifice (every key optional: the family fills the rest)."""

    kind: Literal["capillary", "orifice"] | None = None
    inner_diameter_mm: Annotated[float, Field(gt=0, le=5)] | None = None
    outer_diameter_mm: Annotated[float, Field(gt=0, le=10)] | None = None
    length_mm: Annotated[float, Field(gt=0, le=5000)] | None = None
    discharge_coefficient: Annotated[float, Field(gt=0, le=1)] | None = None


class ExhaustConfig(_Section):
    """The exhaust path: the annulus along the shaft, then the return line to the console."""

    shaft_length_mm: Annotated[float, Field(gt=0, le=2000)] | None = None
    return_inner_diameter_mm: Annotated[float, Field(gt=0, le=50)] | None = None
    return_length_mm: Annotated[float, Field(ge=0, le=20000)] | None = None


class ProbeDesignKeys(_Section):
    """What an engineer knows about a probe; shared by [probe] and the catalog's entries."""

    family: str | None = None
    gauge: Annotated[int, Field(ge=8, le=30)] | None = None
    diameter_mm: Annotated[float, Field(gt=0, le=20)] | None = None
    active_length_mm: Annotated[float, Field(gt=0, le=200)] | None = None
    wall_thickness_mm: Annotated[float, Field(gt=0, le=5)] | None = None
    supply: SupplyConfig | None = None
    exhaust: ExhaustConfig | None = None
    recuperator_effectiveness: Annotated[float, Field(ge=0, le=1)] | None = None
    heat_transfer_multiplier: Annotated[float, Field(ge=0.05, le=20)] | None = None
    shaft_insulation_m2_k_per_w: Annotated[float, Field(ge=0, le=1)] | Literal["vacuum"] | None = None
    mass_flow_g_per_s: Annotated[float, Field(gt=0, le=100)] | None = None


class CatalogEntryConfig(ProbeDesignKeys):
    """One [probe.NAME] table of a catalog file (its ``*_source`` keys are read apart)."""

    description: str
    gas: Literal["n2o", "ln2", "argon", "co2"]
    cannula_gauge: Annotated[int, Field(ge=10, le=27)] | None = None


class ProbeConfig(ProbeDesignKeys):
    catalog: str | None = None
    catalog_file: str | None = None
    boundary: Literal["cryogen", "fixed-temperature"] = "cryogen"
    temperature_c: Annotated[float, Field(gt=-273.15, lt=100)] | None = None
    cannula_gauge: Annotated[int, Field(ge=10, le=27)] | Literal["none"] | None = None
    cannula_inner_diameter_mm: Positive | None = None


class CryogenConfig(_Section):
    """The console: the gas, its supply pressure and temperature, and the exhaust pressure."""

    gas: Literal["n2o", "ln2", "argon", "co2"] | None = None
    supply_pressure_bar: Annotated[float, Field(gt=0, le=1000)] | None = None
    supply_temperature_c: Annotated[float, Field(gt=-273.15, lt=200)] | None = None
    back_pressure_bar: Annotated[float, Field(gt=0, le=100)] = 1.01325
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
    # keep the temperature field at these times (the isotherm chart; default: each freeze's end)
    snapshot_times_s: Annotated[list[Positive], Field(min_length=1, max_length=100)] | None = None
    # temperatures at these (r, z) points (mm from the probe axis and tip) at every output time
    points_mm: Annotated[list[Annotated[list[float], Field(min_length=2, max_length=2)]],
                         Field(min_length=1, max_length=1000)] | None = None


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


#: Keys of earlier versions and what replaced them.
MOVED_KEYS = {
    "internal_htc_w_per_m2_k": "no longer a key: the inside heat transfer comes from correlations of "
                               "the probe's design (probe.heat_transfer_multiplier scales it)",
    "cryogen.recuperator_effectiveness": "part of the probe now: probe.recuperator_effectiveness",
}


def _translate(err: ValidationError) -> InputError:
    first = err.errors(include_url=False)[0]
    loc, kind = first["loc"], first["type"]
    value = first.get("input")
    field = _field_name(loc)
    if kind == "extra_forbidden":
        moved = MOVED_KEYS.get(field) or MOVED_KEYS.get(field.rsplit(".", 1)[-1])
        return InputError(field, value, moved or "no such key (see docs/config.md for the keys)")
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


class ProbeSections(_Section):
    """The [probe] and [cryogen] sections alone (``cryoplan probe``)."""

    probe: ProbeConfig = ProbeConfig()
    cryogen: CryogenConfig = CryogenConfig()


def parse_sections(data: dict[str, Any]) -> ProbeSections:
    """Validate [probe] and [cryogen] given as a dict."""
    try:
        return ProbeSections.model_validate(data)
    except ValidationError as err:
        raise _translate(err) from None


def read_file(path: str | Path) -> dict[str, Any]:
    """The TOML of a procedure file as a dict (InputError if it is not readable TOML)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("FILE", str(path), "an existing procedure file (.toml)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InputError("FILE", str(path), f"valid TOML ({err})") from None
    except UnicodeDecodeError:
        raise InputError("FILE", str(path), "a UTF-8 text file") from None


def load(path: str | Path) -> ProcedureConfig:
    """Read and validate a procedure file."""
    return parse(read_file(path))
