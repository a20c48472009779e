"""The procedure file (TOML): schema, validation and loading. Every key is documented in
docs/config.md; units are in the key names and temperatures are in degrees Celsius here only.

Every rule lives here, including those that span several keys (model validators): numbers are
finite numbers (never NaN, infinity, true/false or text), names are plain text, unknown keys are
named with the closest valid one. Bad input raises ``InputError`` naming the field, the value and
what is allowed.

>>> cfg = parse({"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [
...     {"kind": "freeze", "seconds": 60}]}})
>>> cfg.grid.geometry, cfg.tissue.type
('axisymmetric', 'muscle')
>>> parse({"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [{"kind": "freeze", "secconds": 60}]}})
Traceback (most recent call last):
...
cryoplan.errors.InputError: protocol.phases[0].secconds = 60: allowed is no such key: did you mean \
'seconds'? (keys here: kind, seconds, temperature_c)
"""

from __future__ import annotations

import difflib
import math
import re
import sys
import tomllib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from cryoplan.anatomy.labels import anatomy_data
from cryoplan.data import read_toml
from cryoplan.errors import MISSING, InputError
from cryoplan.tissue.library import resting_temperature_c, tissue_names
from cryoplan.tissue.perfusion import DEFAULT_MODEL

#: The cell-model parameter sets of data/injury.toml, for [injury] cell.
CELL_NAMES = tuple(read_toml("injury.toml")["cells"])


def upto(most: float, low: float = 0.0, open_low: bool = True) -> Any:
    """A number above ``low`` (or at least it) and at most ``most``: the bound of a physical
    quantity far beyond any real value, so that a number that is merely huge (1e308) is refused
    here rather than overflowing the solver."""
    return Annotated[float, Field(gt=low, le=most) if open_low else Field(ge=low, le=most)]

Celsius = Annotated[float, Field(gt=-273.15, lt=100)]
#: Longest text a name may have (it is printed in tables and reports).
MAX_NAME = 80


def _plain_text(value: str) -> str:
    if not value.strip() or len(value) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"plain text of 1-{MAX_NAME} characters without control characters")
    return value


class ServerSetting:
    """The mark of a key that names a file, a folder, a URL or a host, or sets what the machine
    spends (worker processes): a setting of whoever runs cryoplan, never of an uploaded file
    (``server_settings`` finds every marked key an input sets, whatever its section)."""

    def __repr__(self) -> str:
        return "SERVER_SETTING"


SERVER_SETTING = ServerSetting()
#: A file's path (a setting of the server: an upload names none).
Path_ = Annotated[str, Field(min_length=1, max_length=4096), SERVER_SETTING]
#: A database URL (a setting of the server: an upload names none).
Url = Annotated[str, Field(min_length=1, max_length=2000), SERVER_SETTING]


#: A name shown to users: printed as it is (never read as markup), one line.
Name = Annotated[str, AfterValidator(_plain_text)]


class _Section(BaseModel):
    # strict: a number is a number (not true/false, not "1.5"); allow_inf_nan: finite only
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class SupplyConfig(_Section):
    """The supply capillary or orifice (every key optional: the family fills the rest)."""

    kind: Literal["capillary", "orifice"] | None = None
    inner_diameter_mm: Annotated[float, Field(ge=1e-3, le=5)] | None = None
    outer_diameter_mm: Annotated[float, Field(ge=1e-3, le=10)] | None = None
    length_mm: Annotated[float, Field(gt=0, le=5000)] | None = None
    discharge_coefficient: Annotated[float, Field(gt=0, le=1)] | None = None


class ExhaustConfig(_Section):
    """The exhaust path: the annulus along the shaft, then the return line to the console."""

    shaft_length_mm: Annotated[float, Field(gt=0, le=2000)] | None = None
    return_inner_diameter_mm: Annotated[float, Field(ge=0.1, le=50)] | None = None
    return_length_mm: Annotated[float, Field(ge=0, le=20000)] | None = None


class ProbeDesignKeys(_Section):
    """What an engineer knows about a probe; shared by [probe] and the catalog's entries."""

    family: Name | None = None
    gauge: Annotated[int, Field(ge=8, le=30)] | None = None
    # a cryoprobe is 0.3-10 mm wide (a value below that is metres written as mm)
    diameter_mm: Annotated[float, Field(ge=0.3, le=10)] | None = None
    active_length_mm: Annotated[float, Field(ge=0.5, le=200)] | None = None
    wall_thickness_mm: Annotated[float, Field(gt=0, le=5)] | None = None
    supply: SupplyConfig | None = None
    exhaust: ExhaustConfig | None = None
    recuperator_effectiveness: Annotated[float, Field(ge=0, le=1)] | None = None
    heat_transfer_multiplier: Annotated[float, Field(ge=0.05, le=20)] | None = None
    shaft_insulation_m2_k_per_w: Annotated[float, Field(ge=0, le=1)] | Literal["vacuum"] | None = None
    mass_flow_g_per_s: Annotated[float, Field(gt=0, le=100)] | None = None


class CatalogEntryConfig(ProbeDesignKeys):
    """One [probe.NAME] table of a catalog file (its ``*_source`` keys are read apart)."""

    description: Annotated[str, Field(min_length=1, max_length=500)]
    gas: Literal["n2o", "ln2", "argon", "co2"]
    cannula_gauge: Annotated[int, Field(ge=10, le=27)] | None = None


class ProbeConfig(ProbeDesignKeys):
    catalog: Name | None = None
    catalog_file: Path_ | None = None
    boundary: Literal["cryogen", "fixed-temperature"] = "cryogen"
    temperature_c: Celsius | None = None
    cannula_gauge: Annotated[int, Field(ge=10, le=27)] | Literal["none"] | None = None
    cannula_inner_diameter_mm: Annotated[float, Field(ge=0.1, le=20)] | None = None


class CryogenConfig(_Section):
    """The console: the gas, its supply pressure and temperature, and the exhaust pressure."""

    gas: Literal["n2o", "ln2", "argon", "co2"] | None = None
    supply_pressure_bar: upto(1000) | None = None
    supply_temperature_c: Annotated[float, Field(gt=-273.15, lt=200)] | None = None
    back_pressure_bar: upto(100) = 1.01325
    supply_phase: Literal["liquid", "vapour"] | None = None


class TissueConfig(_Section):
    type: str = "muscle"
    k_unfrozen_w_per_m_k: upto(1000) | None = None
    k_frozen_w_per_m_k: upto(1000) | None = None
    c_unfrozen_j_per_m3_k: upto(1e8) | None = None
    c_frozen_j_per_m3_k: upto(1e8) | None = None
    latent_heat_j_per_m3: upto(1e10, open_low=False) | None = None
    t_solidus_c: Annotated[float, Field(gt=-273.15, lt=40)] | None = None
    t_liquidus_c: Annotated[float, Field(gt=-273.15, lt=40)] | None = None
    perfusion_per_s: upto(10, open_low=False) | None = None
    blood_heat_capacity_j_per_m3_k: upto(1e8) | None = None
    metabolic_w_per_m3: upto(1e7, open_low=False) | None = None
    # default: 37 C for living tissue, 20 C for a bench medium (cryoplan.resolve)
    initial_temperature_c: Annotated[float, Field(gt=0, lt=45)] | None = None
    # default: 37 C for living tissue, the initial temperature for a bench medium
    arterial_temperature_c: Annotated[float, Field(gt=0, lt=45)] | None = None
    # how blood flow responds to cold (cryoplan.tissue.perfusion): unchanged down to freezing, or
    # falling with temperature and stopped for good once frozen
    perfusion: Literal["constant", "temperature-dependent"] = DEFAULT_MODEL


class PhaseConfig(_Section):
    kind: Literal["freeze", "passive-thaw", "active-thaw"]
    seconds: upto(1e9, 1e-3, open_low=False)  # the run's budget refuses what would take too long
    temperature_c: Celsius | None = None

    @model_validator(mode="after")
    def _temperature_only_for_active_thaw(self) -> PhaseConfig:
        if self.temperature_c is not None and self.kind != "active-thaw":
            raise InputError("temperature_c", self.temperature_c,
                             "only on an active-thaw phase (a freeze's temperature comes from the probe)")
        return self


class ProtocolConfig(_Section):
    phases: Annotated[list[PhaseConfig], Field(min_length=1, max_length=1000)]


Corner = Annotated[list[Annotated[float, Field(ge=-1000, le=1000)]], Field(min_length=3, max_length=3)]


class GridConfig(_Section):
    geometry: Literal["radial", "axisymmetric", "3d"] = "axisymmetric"
    spacing_mm: Annotated[float, Field(ge=1e-3, le=10)] = 0.25  # a micron at least
    extent_mm: Annotated[float, Field(gt=0, le=1000)] = 20.0
    growth: Annotated[float, Field(ge=1.0, le=1.5)] = 1.0
    uniform_extent_mm: upto(1000) | None = None
    outer_boundary: Literal["initial-temperature", "insulated"] = "initial-temperature"
    # axisymmetric and radial: the longest RKL2 step (s); 0: forward Euler at the explicit limit
    max_step_s: Annotated[float, Field(ge=0, le=10)] | None = None
    # 3d: an explicit box (mm) instead of extent_mm beyond the probes
    box_min_mm: Corner | None = None
    box_max_mm: Corner | None = None

    @model_validator(mode="after")
    def _uniform_within_extent(self) -> GridConfig:
        if self.uniform_extent_mm is not None and self.uniform_extent_mm > self.extent_mm:
            raise InputError("uniform_extent_mm", self.uniform_extent_mm,
                             f"at most extent_mm ({self.extent_mm:g})")
        if self.geometry == "3d":
            if self.max_step_s is not None:
                raise InputError("max_step_s", self.max_step_s, 'none with geometry = "3d" (its RKL2 steps '
                                 "are of up to 2 s; a plan's are [plan] max_step_s)")
            if self.growth != 1.0 or self.uniform_extent_mm is not None:
                raise InputError("growth" if self.growth != 1.0 else "uniform_extent_mm",
                                 self.growth if self.growth != 1.0 else self.uniform_extent_mm,
                                 "none with geometry = \"3d\" (its voxels are uniform)")
            if (self.box_min_mm is None) != (self.box_max_mm is None):
                raise InputError("box_max_mm" if self.box_max_mm is None else "box_min_mm", MISSING,
                                 "both box_min_mm and box_max_mm, or neither (extent_mm beyond the probes)")
            lo, hi = self.box_min_mm, self.box_max_mm
            if lo is not None and hi is not None and not all(a < b for a, b in zip(lo, hi, strict=True)):
                raise InputError("box_max_mm", hi, f"above box_min_mm ({lo}) on every axis")
        elif self.box_min_mm is not None or self.box_max_mm is not None:
            raise InputError("box_min_mm", self.box_min_mm or self.box_max_mm, 'only with geometry = "3d"')
        return self


def _distinct(values: list[float] | None) -> list[float] | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError("distinct temperatures (one is given twice)")
    return values


Temperatures = Annotated[list[Celsius], Field(min_length=1, max_length=20), AfterValidator(_distinct)]


class OutputConfig(_Section):
    isotherms_c: Temperatures = [0.0, -20.0, -40.0]
    history_thresholds_c: Temperatures | None = None
    interval_s: upto(1e9, 1e-3, open_low=False) = 1.0
    # keep the temperature field at these times (the isotherm chart; default: each freeze's end)
    snapshot_times_s: Annotated[list[upto(1e9)], Field(min_length=1, max_length=100)] | None = None
    # temperatures at these (r, z) points (mm from the probe axis and tip) at every output time
    points_mm: Annotated[list[Annotated[list[Annotated[float, Field(ge=-1000, le=1000)]],
                                        Field(min_length=2, max_length=2)]],
                         Field(min_length=1, max_length=1000)] | None = None


Point = Annotated[list[Annotated[float, Field(ge=-1000, le=1000)]], Field(min_length=3, max_length=3)]
#: Most probes in one 3D run.
MAX_PROBES = 8


class NerveConfig(_Section):
    name: Name
    # at least 0.05 mm (assumption: the finest nerve fascicles are about that wide; a nerve is
    # sampled every half diameter, so a thinner one would cost millions of samples for nothing)
    diameter_mm: Annotated[float, Field(ge=0.05, le=20)] | None = None
    points_mm: Annotated[list[Point], Field(min_length=2, max_length=1000)] | None = None
    distance_mm: Annotated[float, Field(gt=0, le=1000)] | None = None
    orientation: Literal["perpendicular", "parallel"] | None = None
    offset_along_axis_mm: Annotated[float, Field(ge=-1000, le=1000)] = 0.0
    length_mm: Annotated[float, Field(gt=0, le=1000)] = 20.0
    end_organ_mm: upto(2000, open_low=False) | None = None  # arc length from the first point to the end organ

    @model_validator(mode="after")
    def _one_path(self) -> NerveConfig:
        straight = self.distance_mm is not None or self.orientation is not None
        if self.points_mm is not None and straight:
            raise InputError("points_mm", self.points_mm,
                             "either points_mm or distance_mm with orientation, not both")
        if self.points_mm is None and (self.distance_mm is None or self.orientation is None):
            missing = "orientation" if self.distance_mm is not None else "distance_mm"
            raise InputError(missing, MISSING, "a path: points_mm, or distance_mm with orientation")
        return self


class ProbeEntryConfig(ProbeConfig):
    """One [[probe]] of a 3D procedure: a probe as [probe], where it stands and points, and its
    own console ([probe.cryogen]) and protocol ([probe.protocol]) if it does not share them."""

    name: Name | None = None
    tip_mm: Point = [0.0, 0.0, 0.0]
    direction: Point | None = None  # from the tip towards the hub
    tilt_deg: Annotated[float, Field(ge=0, le=180)] | None = None  # from +z
    azimuth_deg: Annotated[float, Field(ge=-360, le=360)] | None = None  # about z, from +x
    cryogen: CryogenConfig | None = None
    protocol: ProtocolConfig | None = None

    @model_validator(mode="after")
    def _one_direction(self) -> ProbeEntryConfig:
        if self.direction is not None and (self.tilt_deg is not None or self.azimuth_deg is not None):
            raise InputError("direction", self.direction,
                             "either direction or tilt_deg / azimuth_deg, not both")
        check_direction("direction", self.direction)
        return self


def check_direction(field: str, vector: list[float] | None) -> None:
    """A needle's direction: a vector long enough to have one (its length does not matter; a
    vector of 1e-200 would overflow when made a unit vector)."""
    if vector is not None and not math.hypot(*vector) >= 1e-6:
        raise InputError(field, vector, "a vector of length at least 1e-6 (from the tip towards the hub; "
                         "only its direction counts)")


def check_anatomy_source(template: str | None, nifti: str | None, label_table: str | None) -> None:
    """[anatomy] of a plan or a 3D procedure: a template, or a NIfTI label volume with its label
    table, not both."""
    if template is not None and nifti is not None:
        raise InputError("nifti", nifti, "either anatomy.template or anatomy.nifti, not both")
    if nifti is not None and label_table is None:
        raise InputError("label_table", MISSING, "a label table (.toml) for the NIfTI labels")
    if nifti is None and label_table is not None:
        raise InputError("label_table", label_table, "only with anatomy.nifti (a template has its own "
                         "labels)")


class ProcedureAnatomyConfig(_Section):
    """A 3D run's heterogeneous tissue: a schematic anatomy template at a level (its labels:
    bone, fat, muscle, skin, nerves; its frame: docs/planning.md, "Anatomy"), or a NIfTI label
    volume with its label table (its voxels, in the frame of its affine), as a plan names them."""

    template: Literal["lumbar-medial-branch", "sacral-lateral-branch"] | None = None
    level: Annotated[str, Field(min_length=1, max_length=8)] | None = None
    nifti: Path_ | None = None
    label_table: Path_ | None = None

    @model_validator(mode="after")
    def _template_or_volume(self) -> ProcedureAnatomyConfig:
        check_anatomy_source(self.template, self.nifti, self.label_table)
        if self.template is None and self.nifti is None:
            raise InputError("template", MISSING, "anatomy.template (with level), or anatomy.nifti with "
                             "anatomy.label_table")
        if self.nifti is not None and self.level is not None:
            raise InputError("level", self.level, "a level of a template (a NIfTI volume has none)")
        return self


class InjuryConfig(_Section):
    neurapraxia_below_c: Celsius | None = None
    axonotmesis_below_c: Celsius | None = None
    axonotmesis_min_seconds: upto(86400, open_low=False) | None = None
    axonotmesis_min_cycles: Annotated[int, Field(ge=1)] | None = None
    neurotmesis_below_c: Celsius | None = None
    min_block_length_mm: upto(1000) | None = None
    cell: Literal[CELL_NAMES] | None = None  # type: ignore[valid-type]
    refine_with_cell_model: bool = False


class PatientConfig(_Section):
    depression: bool | None = None
    prior_lumbar_surgery: bool | None = None
    treated_joints: Annotated[int, Field(ge=1, le=20)] | None = None
    opioid_use: bool | None = None
    susceptibility: upto(1000, 1e-3, open_low=False) | None = None  # an explicit override of the factors

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
    regrowth_distance_mm: upto(2000, open_low=False) | None = None
    retreat_at_probability: Annotated[float, Field(gt=0, lt=1)] | None = None
    # a registry URL: use its newest refit instead of the prior (never from an upload)
    registry: Url | None = None


# -- rules across sections ----------------------------------------------------------------------

CUSTOM_TISSUE_KEYS = (
    "k_unfrozen_w_per_m_k", "k_frozen_w_per_m_k", "c_unfrozen_j_per_m3_k", "c_frozen_j_per_m3_k",
    "latent_heat_j_per_m3", "t_solidus_c", "t_liquidus_c", "perfusion_per_s", "metabolic_w_per_m3",
)


def freezing_range_c(tc: TissueConfig) -> tuple[float, float]:
    """(solidus, liquidus) in °C: the file's, else the library tissue's (its own, or the default
    range)."""
    data = read_toml("tissues.toml")
    lib = {**data["freezing_range"], **{k: v for k, v in data["tissue"].get(tc.type, {}).items()
                                         if k in ("t_solidus_c", "t_liquidus_c")}}
    solidus = tc.t_solidus_c if tc.t_solidus_c is not None else lib["t_solidus_c"]
    liquidus = tc.t_liquidus_c if tc.t_liquidus_c is not None else lib["t_liquidus_c"]
    return solidus, liquidus


def initial_temperature_c(tc: TissueConfig) -> float:
    """The tissue's starting temperature (°C): as given, else the library's resting temperature
    (room temperature for a bench medium, body temperature for living tissue)."""
    if tc.initial_temperature_c is not None:
        return tc.initial_temperature_c
    return resting_temperature_c(tc.type)


def check_tissue(tc: TissueConfig) -> None:
    """A library tissue or a custom one with every property, and a freezing range in order."""
    if tc.type == "custom":
        given = tc.model_dump(exclude_none=True)
        for key in CUSTOM_TISSUE_KEYS:
            if key not in given:
                raise InputError(f"tissue.{key}", MISSING, "a value: custom tissues need every property")
    elif tc.type not in tissue_names():
        raise InputError("tissue.type", tc.type, "one of " + ", ".join(tissue_names()) + ", custom")
    solidus, liquidus = freezing_range_c(tc)
    if not solidus < liquidus:
        raise InputError("tissue.t_solidus_c", solidus,
                         f"below t_liquidus_c ({liquidus:g}): the freezing range must not be inverted "
                         "or empty")
    start = initial_temperature_c(tc)
    if not liquidus < start:
        raise InputError("tissue.t_liquidus_c", liquidus, f"below the initial temperature ({start:g} °C)")


class ProcedureConfig(_Section):
    probe: ProbeConfig = ProbeConfig()
    cryogen: CryogenConfig = CryogenConfig()
    tissue: TissueConfig = TissueConfig()
    protocol: ProtocolConfig
    grid: GridConfig = GridConfig()
    output: OutputConfig = OutputConfig()
    nerve: Annotated[list[NerveConfig], Field(max_length=50)] = []
    injury: InjuryConfig = InjuryConfig()
    patient: PatientConfig = PatientConfig()
    outcome: OutcomeConfig = OutcomeConfig()
    # [[probe]] entries (a 3D run's probes; ``parse`` moves a list under "probe" here)
    probes: Annotated[list[ProbeEntryConfig], Field(max_length=MAX_PROBES)] = []
    anatomy: ProcedureAnatomyConfig | None = None

    @model_validator(mode="after")
    def _across_sections(self) -> ProcedureConfig:
        if self.probes and self.grid.geometry != "3d":
            raise InputError("grid.geometry", self.grid.geometry,
                             '"3d" for [[probe]] entries (radial and axisymmetric runs have one [probe])')
        if self.anatomy is not None:
            if self.grid.geometry != "3d":
                raise InputError("grid.geometry", self.grid.geometry,
                                 '"3d" for an [anatomy] (a template or a label volume)')
            if self.grid.box_min_mm is not None:
                raise InputError("grid.box_min_mm", self.grid.box_min_mm, "no box with an [anatomy] "
                                 "(its box is the template's or the label volume's)")
            if self.anatomy.nifti is not None and "spacing_mm" in self.grid.model_fields_set:
                raise InputError("grid.spacing_mm", self.grid.spacing_mm, "none with anatomy.nifti (the "
                                 "label volume's voxels are the grid's)")
            template = self.anatomy.template
            levels = anatomy_data()["sacral" if template and "sacral" in template else "lumbar"]["levels"]
            if self.anatomy.level is not None and self.anatomy.level not in levels:
                raise InputError("anatomy.level", self.anatomy.level, "one of " + ", ".join(levels))
        if self.grid.geometry == "3d":
            for key in ("points_mm", "snapshot_times_s"):
                if getattr(self.output, key) is not None:
                    raise InputError(f"output.{key}", getattr(self.output, key),
                                     'none with geometry = "3d" (radial and axisymmetric runs only)')
        check_tissue(self.tissue)
        return self

    def probe_entries(self) -> list[ProbeEntryConfig]:
        """The run's probes: the [[probe]] entries, or the one [probe] (at the origin, pointing +z:
        the axisymmetric runs' axis)."""
        if self.probes:
            return list(self.probes)
        return [ProbeEntryConfig(**self.probe.model_dump(exclude_none=True))]


# -- errors ---------------------------------------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes inside an annotation (through Optional, list and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (list, typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _unwrap(a)]
    return []


def _marked(annotation: Any, metadata: Sequence[Any] = ()) -> bool:
    """Whether a field's annotation (through Optional, list and Annotated) or its metadata
    carries ``SERVER_SETTING``."""
    if any(isinstance(m, ServerSetting) for m in metadata):
        return True
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _marked(typing.get_args(annotation)[0], list(annotation.__metadata__))
    if origin in (list, typing.Union, types.UnionType):
        return any(_marked(a) for a in typing.get_args(annotation))
    return False


def server_settings(model: type[BaseModel], data: Any, where: str = "") -> list[tuple[str, Any]]:
    """Every key of ``data`` (a file's tables, before validation) that ``model`` marks as a
    server setting, with its value, in any section, table or array of tables: what an upload
    must not set.

    >>> server_settings(ProcedureConfig, {"probe": [{"catalog_file": "/etc/passwd"}],
    ...                                   "outcome": {"registry": "sqlite:///x"}})
    [('probe[0].catalog_file', '/etc/passwd'), ('outcome.registry', 'sqlite:///x')]
    """
    if not isinstance(data, dict):
        return []
    found = []
    for key, value in data.items():
        field = model.model_fields.get(str(key))
        if model is ProcedureConfig and key == "probe" and isinstance(value, list):
            field = model.model_fields["probes"]  # [[probe]] entries (``parse`` moves them there)
        if field is None:
            continue  # an unknown key: the schema refuses it
        name = f"{where}{key}"
        if _marked(field.annotation, field.metadata):
            if value is not None:
                found.append((name, value))
            continue
        inner = _unwrap(field.annotation)
        if not inner:
            continue
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for k, item in items:
            found += server_settings(inner[0], item, f"{name}[{k}]." if k is not None else f"{name}.")
    return found


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section (model class) at ``loc`` below ``root``."""
    model = root
    for item in loc:
        if isinstance(item, int):
            continue
        field = model.model_fields.get(str(item))
        inner = _unwrap(field.annotation) if field else []
        if not inner:
            return None
        model = inner[0]
    return model


_TAG = re.compile(r"^[a-z][a-z-]*\[.*\]$")  # e.g. "function-after[_plain_text(), str]", "list[float]"


def _field_name(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    if loc and loc[0] == "probes":  # the file's [[probe]] entries
        loc = ("probe", *loc[1:])
    for item in loc:
        if isinstance(item, int) and parts:
            parts[-1] = f"{parts[-1]}[{item}]"
        elif item in ("literal", "constrained-float", "list", "function-after") or _TAG.match(str(item)):
            continue  # pydantic's name for a branch of a type, not a key
        else:  # a key from the file: quoted unless it is a plain name
            parts.append(str(item) if re.fullmatch(r"[A-Za-z0-9_-]+", str(item)) else repr(str(item)))
    return ".".join(parts)


#: Keys of earlier versions and what replaced them.
MOVED_KEYS = {
    "internal_htc_w_per_m2_k": "no longer a key: the inside heat transfer comes from correlations of "
                               "the probe's design (probe.heat_transfer_multiplier scales it)",
    "cryogen.recuperator_effectiveness": "part of the probe now: probe.recuperator_effectiveness",
}


def _unknown_key(root: type[BaseModel] | None, loc: tuple[Any, ...], value: Any) -> InputError:
    key = str(loc[-1])
    field = _field_name(loc) or repr(key)
    model = _model_at(root, loc[:-1]) if root is not None else None
    known = list(model.model_fields) if model else []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    where = f"(keys here: {', '.join(known)})" if known else "(see docs/config.md for the keys)"
    return InputError(field, value, f"no such key: {hint}{where}")


#: Pydantic's wording -> ours, by error type.
_ALLOWED = {
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true or false",
    "string_type": "text (in quotes)",
    "list_type": "a list [...]",
    "model_type": "a section (a table of keys)",
    "finite_number": "a finite number (not nan or inf)",
    "int_from_float": "an integer",
    "dict_type": "a table of keys",
    "model_attributes_type": "a table of keys (a JSON object)",
    "json_invalid": "valid JSON",
}


#: Range errors: (operator, the context key holding the limit).
_BOUNDS = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
           "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}


def _unit_hint(field: str, value: Any, op: str, limit: float) -> str:
    """A hint when a value out of range would be in range in the unit a user may have meant:
    metres for a key in mm, kelvin for one in °C.

    >>> _unit_hint("probe.diameter_mm", 0.002, ">=", 0.3), _unit_hint("x_c", 310.15, "<", 45)
    (' (the key is in mm: is this metres?)', ' (the key is in °C: is this kelvin?)')
    """
    field = re.sub(r"\[\d+\]$", "", field)
    if field.endswith("_mm") and op.startswith(">") and value * 1e3 >= limit:
        return " (the key is in mm: is this metres?)"
    if field.endswith("_c") and op.startswith("<") and value - 273.15 < limit:
        return " (the key is in °C: is this kelvin?)"
    return ""


def _rank(error: dict) -> int:
    """Which error to show first: an unknown key explains a missing one (a typo) best."""
    return {"extra_forbidden": 0, "missing": 2}.get(error["type"], 1)


def translate(err: ValidationError, root: type[BaseModel], top: str = "procedure") -> InputError:
    """One InputError for a ValidationError: the most telling of its errors."""
    return translate_error(sorted(err.errors(include_url=False), key=_rank)[0], root, top)


def translate_error(first: dict[str, Any], root: type[BaseModel] | None, top: str) -> InputError:
    """One of pydantic's errors (a dict of ``ValidationError.errors()``) in our one-line form:
    the field, the value and what is allowed. ``root``: the model it was validated against (for
    the keys an unknown key may have meant; None: none known)."""
    loc, kind = tuple(first["loc"]), first["type"]
    value = first.get("input")
    field = _field_name(loc) or top
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, InputError):  # a rule across keys, raised by a model validator
        name = cause.field if "." in cause.field or not loc else f"{field}.{cause.field}"
        return InputError(name, cause.value, cause.allowed)
    if kind == "extra_forbidden":
        moved = MOVED_KEYS.get(field) or MOVED_KEYS.get(field.rsplit(".", 1)[-1])
        if moved:
            return InputError(field, value, moved)
        return _unknown_key(root, loc, value)
    if kind == "missing":
        return InputError(field, MISSING, "a value: this key is required")
    if kind in _ALLOWED:
        allowed = _ALLOWED[kind]
        if isinstance(value, bool) and kind in ("float_type", "int_type"):
            allowed += " (true/false is not a number)"
        elif isinstance(value, str) and kind in ("float_type", "int_type"):
            allowed += " without quotes"
        return InputError(field, value, allowed)
    ctx = first.get("ctx") or {}
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        hint = _unit_hint(field, value, op, ctx[key])
        return InputError(field, value, f"a number {op} {ctx[key]:g}{hint}")
    if kind == "too_short":
        return InputError(field, value, f"a list of at least {ctx['min_length']} item(s)")
    if kind == "too_long":
        return InputError(field, value, f"a list of at most {ctx['max_length']} items")
    if kind == "string_pattern_mismatch":
        return InputError(field, value, f"text matching {ctx['pattern']}")
    if kind in ("string_too_short", "string_too_long"):
        most, n = ("at least", ctx.get("min_length")) if kind == "string_too_short" else ("at most",
                                                                                          ctx.get("max_length"))
        return InputError(field, value, f"text of {most} {n} characters")
    msg = first["msg"]
    for prefix in ("Input should be ", "Value error, "):
        msg = msg.removeprefix(prefix)
    return InputError(field, value, msg)


# -- reading files --------------------------------------------------------------------------------

#: Largest procedure or plan file read (characters): a real one is a few hundred.
MAX_FILE_CHARS = 1_000_000


def read_toml_text(text: str, what: str = "FILE") -> dict[str, Any]:
    """Parse TOML text (raises InputError: bad TOML, too large, too deeply nested)."""
    if len(text) > MAX_FILE_CHARS:
        raise InputError(what, f"{len(text)} characters", f"a file of at most {MAX_FILE_CHARS} characters")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(what, "(the file)", f"valid TOML ({err})") from None
    except ValueError:  # Python's limit on converting long digit strings (sys.get_int_max_str_digits)
        most = sys.get_int_max_str_digits()
        raise InputError(what, "(the file)", f"integers of at most {most} digits") from None
    except RecursionError:
        raise InputError(what, "(the file)", "TOML nested less deeply (arrays or tables within "
                         "each other)") from None


def read_toml_file(path: str | Path, what: str = "procedure file") -> dict[str, Any]:
    """Read a TOML file (raises InputError for a missing, binary, huge or invalid file)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("FILE", str(path), f"an existing {what} (.toml)")
    if path.stat().st_size > 4 * MAX_FILE_CHARS:
        raise InputError("FILE", str(path), f"a file of at most {MAX_FILE_CHARS} characters")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("FILE", str(path), "a UTF-8 text file") from None
    except OSError as err:
        raise InputError("FILE", str(path), f"a file that can be read ({err.strerror})") from None
    return read_toml_text(text, "FILE")


def validate(model: type[BaseModel], data: Any, top: str) -> Any:
    """``model`` validated from ``data`` (raises InputError)."""
    if not isinstance(data, dict):
        raise InputError(top, type(data).__name__, "a table of sections")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise translate(err, model, top) from None
    except RecursionError:
        raise InputError(top, "(nested values)", "values nested less deeply") from None


def parse(data: dict[str, Any]) -> ProcedureConfig:
    """Validate a procedure given as a dict (what a TOML file holds): [[probe]] entries (a list
    under "probe") are the 3D run's ``probes``."""
    if isinstance(data, dict) and isinstance(data.get("probe"), list):
        if not data["probe"]:
            raise InputError("probe", [], "one or more [[probe]] entries (or one [probe] section)")
        data = {**{k: v for k, v in data.items() if k not in ("probe", "probes")},
                "probes": data["probe"]}
    return validate(ProcedureConfig, data, "procedure")


class ProbeSections(_Section):
    """The [probe] and [cryogen] sections alone (``cryoplan probe``)."""

    probe: ProbeConfig = ProbeConfig()
    cryogen: CryogenConfig = CryogenConfig()


def parse_sections(data: dict[str, Any]) -> ProbeSections:
    """Validate [probe] and [cryogen] given as a dict."""
    return validate(ProbeSections, data, "procedure")


def load(path: str | Path) -> ProcedureConfig:
    """Read and validate a procedure file."""
    return parse(read_toml_file(path, "procedure file"))
