"""Config sections -> physics objects: the one place that turns a validated procedure's (or plan's)
sections into the probe, tissue, grid, nerves, injury thresholds, protocol and relief model.

Used by the simulation (``cryoplan.procedure``) and the planner alike, so both see the same probe,
tissue and thresholds for the same keys. Degrees Celsius become kelvin here, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cryoplan.anatomy.labels import LabelVolume, load_label_volume
from cryoplan.anatomy.templates import template
from cryoplan.catalog import CatalogProbe, ProbeSpec, probe_spec
from cryoplan.config import (
    CryogenConfig,
    GridConfig,
    InjuryConfig,
    NerveConfig,
    OutcomeConfig,
    PatientConfig,
    PhaseConfig,
    ProbeConfig,
    ProbeDesignKeys,
    ProbeEntryConfig,
    ProcedureAnatomyConfig,
    TissueConfig,
    initial_temperature_c,
)
from cryoplan.cryogen.design import ProbeDesign, families, family_design, family_for_gas
from cryoplan.cryogen.operation import OperatingPoint, operate
from cryoplan.cryogen.thermo import CryogenSupply
from cryoplan.errors import InputError
from cryoplan.injury.cell import CellModel, cell_model, default_cell
from cryoplan.injury.nerve import Nerve, straight_nerve
from cryoplan.injury.point_history import to_grid_coordinates
from cryoplan.injury.thresholds import (
    InjuryThresholds,
    default_nerve_diameter_m,
    default_thresholds,
    with_overrides,
)
from cryoplan.outcome.relief import Patient, ReliefModel, default_model
from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal.grid import Grid, axisymmetric_grid, radial_grid
from cryoplan.thermal.placement import PlacedProbe
from cryoplan.thermal.probe import ProbeModel
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.tissue.library import BODY_TEMPERATURE_C, blood_heat_capacity, get_tissue, is_bench_medium
from cryoplan.tissue.properties import Tissue
from cryoplan.units import BAR_PA, c_to_k


def _family(keys: ProbeDesignKeys, pc: ProbeConfig, gas: str) -> str:
    """The file's family; else the catalog's, if it carries this gas; else the gas's own (a
    catalog probe's size run with another gas becomes that gas's kind of probe)."""
    if pc.family is not None:
        return pc.family
    if keys.family is not None and gas in families().get(keys.family, {}).get("gases", ()):
        return keys.family
    return family_for_gas(gas)


def _design(keys: ProbeDesignKeys, family: str, gas: str, diameter: float, active: float) -> ProbeDesign:
    """The probe's design: its family scaled to its size, with every key given replacing the
    family's value."""
    base = family_design(family, diameter, active, gas)
    changes: dict = {}
    if keys.wall_thickness_mm is not None:
        changes["wall_thickness"] = keys.wall_thickness_mm * 1e-3
    if keys.supply is not None:
        sc = keys.supply
        changes["supply"] = replace(
            base.supply,
            **{k: v for k, v in {
                "kind": sc.kind,
                "inner_diameter": None if sc.inner_diameter_mm is None else sc.inner_diameter_mm * 1e-3,
                "outer_diameter": None if sc.outer_diameter_mm is None else sc.outer_diameter_mm * 1e-3,
                "length": None if sc.length_mm is None else sc.length_mm * 1e-3,
                "discharge_coefficient": sc.discharge_coefficient,
            }.items() if v is not None})
    if keys.exhaust is not None:
        ec = keys.exhaust
        changes["exhaust"] = replace(
            base.exhaust,
            **{k: v * 1e-3 for k, v in {
                "shaft_length": ec.shaft_length_mm,
                "return_inner_diameter": ec.return_inner_diameter_mm,
                "return_length": ec.return_length_mm,
            }.items() if v is not None})
    if keys.recuperator_effectiveness is not None:
        changes["recuperator_effectiveness"] = keys.recuperator_effectiveness
    if keys.heat_transfer_multiplier is not None:
        changes["heat_transfer_multiplier"] = keys.heat_transfer_multiplier
    if keys.shaft_insulation_m2_k_per_w is not None:
        r = keys.shaft_insulation_m2_k_per_w
        changes["shaft_insulation"] = math.inf if r == "vacuum" else r
    changes["sources"] = _sources(base.sources, keys)
    design = replace(base, **changes)
    design.check()
    return design


#: The family's keys (data/probe_families.toml) that a given design key replaces.
_REPLACES = {
    "supply.inner_diameter_mm": ("supply_inner_diameter_to_bore",),
    "supply.outer_diameter_mm": ("supply_outer_diameter_to_bore",),
    "supply.kind": ("supply_kind",),
    "supply.length_mm": ("shaft_length_mm",),
    "supply.discharge_coefficient": ("discharge_coefficient",),
    "exhaust.shaft_length_mm": ("shaft_length_mm",),
    "exhaust.return_inner_diameter_mm": ("return_inner_diameter_mm",),
    "exhaust.return_length_mm": ("return_length_mm",),
    "recuperator_effectiveness": ("recuperator_effectiveness",),
    "shaft_insulation_m2_k_per_w": ("shaft_insulation_m2_k_per_w",),
    "mass_flow_g_per_s": ("supply_inner_diameter_to_bore", "discharge_coefficient"),
}


def _sources(family: tuple[tuple[str, str], ...], keys: ProbeDesignKeys) -> tuple[tuple[str, str], ...]:
    """The family's sources, each family value that a given key replaces marked so (a fitted
    family constant that the file or catalog entry overrides is not what the run used)."""
    named = []
    for key, value in keys.model_dump(exclude_none=True).items():  # supply and exhaust are tables
        named += [f"{key}.{sub}" for sub in value] if isinstance(value, dict) else [key]
    replaced: dict[str, str] = {}
    for key in named:
        for fam in _REPLACES.get(key, ()):
            replaced.setdefault(fam, f"replaced: probe.{key} is given (by the file or its catalog entry)")
    return tuple((k, replaced.get(k, v)) for k, v in family)


def console(cc: CryogenConfig, gas: str) -> CryogenSupply:
    """The console's supply and exhaust pressures (the gas's defaults where not given)."""
    return CryogenSupply(
        gas=gas,
        supply_pressure_pa=cc.supply_pressure_bar * BAR_PA if cc.supply_pressure_bar else None,
        supply_temperature_k=c_to_k(cc.supply_temperature_c) if cc.supply_temperature_c is not None else None,
        back_pressure_pa=cc.back_pressure_bar * BAR_PA,
        supply_phase=cc.supply_phase,
    )


@dataclass(frozen=True)
class ProbeDemand:
    """A probe resolved up to its operating point: its spec, and either its design, console and
    flow (a cryogen probe) or its wall temperature. Its geometry (and whether its exhaust cools
    the shaft) is known without the cryogen; ``operate`` finds the operating point."""

    spec: ProbeSpec
    boundary: str
    active_length_m: float  # a radial run without a length: one metre of probe
    design: ProbeDesign | None = None
    supply: CryogenSupply | None = None
    mass_flow: float | None = None  # kg/s; None: what the console drives
    wall_temperature: float | None = None  # K, a fixed-temperature probe

    @property
    def shaft_cooled(self) -> bool:
        """Whether the returning exhaust cools the shaft (``ProbeModel.shaft_cooled``)."""
        return self.design is not None and math.isfinite(self.design.shaft_insulation)

    def operate(self) -> tuple[ProbeModel, OperatingPoint | None]:
        """The probe as a boundary condition and its operating point (``cryogen.operation``)."""
        diameter = self.spec.diameter_m
        if self.design is None:
            return ProbeModel(diameter, self.active_length_m, "fixed-temperature",
                              wall_temperature=self.wall_temperature), None
        assert self.supply is not None
        op = operate(self.design, self.supply, self.mass_flow)
        return ProbeModel(diameter, self.active_length_m, "cryogen", operating=op), op


def probe_demand(pc: ProbeConfig, cc: CryogenConfig, spec: ProbeSpec | None = None) -> ProbeDemand:
    """A [probe] (its ``spec``: catalog entry, design keys and size, derived from ``pc`` unless
    given) with its design and console resolved (the rules have checked them)."""
    spec = probe_spec(pc) if spec is None else spec
    active = spec.active_length_m or 1.0  # radial: per metre
    if pc.boundary == "fixed-temperature":
        assert pc.temperature_c is not None
        return ProbeDemand(spec, pc.boundary, active, wall_temperature=c_to_k(pc.temperature_c))
    gas = cc.gas or (spec.catalog.gas if spec.catalog else None)
    assert gas is not None
    keys = spec.keys
    design = _design(keys, _family(keys, pc, gas), gas, spec.diameter_m, active)
    flow = None if keys.mass_flow_g_per_s is None else keys.mass_flow_g_per_s * 1e-3
    return ProbeDemand(spec, pc.boundary, active, design, console(cc, gas), flow)


def probe(pc: ProbeConfig, cc: CryogenConfig, spec: ProbeSpec | None = None,
          ) -> tuple[ProbeModel, OperatingPoint | None]:
    """The probe as a boundary condition and its operating point (``probe_demand`` operated)."""
    return probe_demand(pc, cc, spec).operate()


def tissue(tc: TissueConfig) -> Tissue:
    """The tissue: a library entry with any properties the file overrides, or a custom one
    (which the schema has checked to give every property). The arterial temperature is the
    body's (37 C) for living tissue and follows the initial one for a bench medium (which has no
    blood flow to warm it)."""
    bench = tc.type != "custom" and is_bench_medium(tc.type)
    if tc.arterial_temperature_c is not None:
        t_art = c_to_k(tc.arterial_temperature_c)
    else:
        t_art = c_to_k(initial_temperature_c(tc) if bench else BODY_TEMPERATURE_C)
    given = tc.model_dump(exclude_none=True)
    base = None if tc.type == "custom" else get_tissue(tc.type, t_art)

    def pick(key: str, attr: str, convert=lambda x: x):
        return convert(given[key]) if key in given else getattr(base, attr)

    return Tissue(
        name=tc.type,
        k_unfrozen=pick("k_unfrozen_w_per_m_k", "k_unfrozen"),
        k_frozen=pick("k_frozen_w_per_m_k", "k_frozen"),
        c_unfrozen=pick("c_unfrozen_j_per_m3_k", "c_unfrozen"),
        c_frozen=pick("c_frozen_j_per_m3_k", "c_frozen"),
        latent_heat=pick("latent_heat_j_per_m3", "latent_heat"),
        t_solidus=pick("t_solidus_c", "t_solidus", c_to_k),
        t_liquidus=pick("t_liquidus_c", "t_liquidus", c_to_k),
        perfusion_per_s=pick("perfusion_per_s", "perfusion_per_s"),
        blood_heat_capacity=given.get("blood_heat_capacity_j_per_m3_k",
                                      base.blood_heat_capacity if base else blood_heat_capacity()),
        metabolic=pick("metabolic_w_per_m3", "metabolic"),
        t_arterial=t_art,
        sources=base.sources if base else {"custom": "given in the procedure file"},
    )


def grid(gc: GridConfig, probe: ProbeDemand) -> Grid:
    """The radial or axisymmetric grid around the probe (a radial run without a length stands for
    one metre of probe), with cooled shaft faces when the probe's exhaust cools its shaft. Needs
    no operating point, so a run's geometry is checked before the cryogen is followed."""
    uniform = gc.uniform_extent_mm * 1e-3 if gc.uniform_extent_mm else None
    radius = probe.spec.diameter_m / 2
    if gc.geometry == "radial":
        return radial_grid(radius, gc.extent_mm * 1e-3, gc.spacing_mm * 1e-3, gc.growth, uniform,
                           active_length=probe.active_length_m)
    return axisymmetric_grid(radius, probe.active_length_m, gc.extent_mm * 1e-3,
                             gc.spacing_mm * 1e-3, gc.growth, uniform, shaft_cooled=probe.shaft_cooled)


def nerves(ncs: list[NerveConfig], grid: Grid) -> tuple[Nerve, ...]:
    """The [[nerve]] entries as paths (points, or a straight nerve: the schema has checked that
    each has one), each checked to lie in the tissue of the grid."""
    out = []
    for k, nc in enumerate(ncs):
        where = f"nerve[{k}]"
        nerve = _nerve(nc)
        _, pts = nerve.cross_sections(min(grid.min_spacing, nerve.diameter / 2))
        to_grid_coordinates(grid, pts, f"{where} ({nc.name})")  # inside the probe or the domain: error now
        out.append(nerve)
    return tuple(out)


def _nerve(nc: NerveConfig) -> Nerve:
    """A [[nerve]] entry's path: its points, or a straight nerve about the probe's axis."""
    diameter = nc.diameter_mm * 1e-3 if nc.diameter_mm else default_nerve_diameter_m()
    end_organ = None if nc.end_organ_mm is None else nc.end_organ_mm * 1e-3
    if nc.points_mm is not None:
        return Nerve(nc.name, diameter, np.array(nc.points_mm) * 1e-3, end_organ)
    assert nc.distance_mm is not None and nc.orientation is not None
    return straight_nerve(nc.name, diameter, nc.distance_mm * 1e-3, nc.orientation,
                          nc.offset_along_axis_mm * 1e-3, nc.length_mm * 1e-3, end_organ)


def injury(ic: InjuryConfig) -> InjuryThresholds:
    """The cited injury thresholds with the file's overrides."""
    return with_overrides(default_thresholds(), **ic.model_dump(exclude={"refine_with_cell_model", "cell"}))


def cell(ic: InjuryConfig) -> CellModel:
    """The cell model named by [injury] cell (default: data/injury.toml [cell_rule] default)."""
    return cell_model(ic.cell) if ic.cell else default_cell()


def patient(pc: PatientConfig) -> Patient:
    """The patient's documented factors (absent ones: the reference patient's) or the override."""
    return Patient(depression=bool(pc.depression), prior_lumbar_surgery=bool(pc.prior_lumbar_surgery),
                   treated_joints=pc.treated_joints or 1, opioid_use=bool(pc.opioid_use),
                   susceptibility=pc.susceptibility)


def protocol(phases: list[PhaseConfig]) -> Protocol:
    """The freeze / thaw protocol (set temperatures in kelvin)."""
    return Protocol.of([
        Phase(p.kind, p.seconds, c_to_k(p.temperature_c) if p.temperature_c is not None else None)
        for p in phases])


def relief_model(oc: OutcomeConfig, fitted: ReliefModel | None = None) -> ReliefModel:
    """The relief model: ``fitted`` (the newest refit of the registry that ``oc.registry``
    names, which the service reads and hands in) if given, else the prior; a given regrowth
    distance replaces the anatomy's default either way."""
    model = default_model() if fitted is None else fitted
    if oc.regrowth_distance_mm is None:
        return model
    return replace(model, default_distance_m=oc.regrowth_distance_mm * 1e-3)




# -- 3D runs -------------------------------------------------------------------------------------


def direction(entry: ProbeEntryConfig) -> np.ndarray:
    """A [[probe]]'s unit vector from its tip towards its hub: ``direction``, or ``tilt_deg``
    from +z turned ``azimuth_deg`` about z from +x, or +z (the axisymmetric runs' axis).

    >>> np.round(direction(ProbeEntryConfig(tilt_deg=90.0, azimuth_deg=90.0)), 12).tolist()
    [0.0, 1.0, 0.0]
    """
    if entry.direction is not None:
        d = np.array(entry.direction, float)
        return d / np.linalg.norm(d)
    tilt, azimuth = math.radians(entry.tilt_deg or 0.0), math.radians(entry.azimuth_deg or 0.0)
    return np.array([math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth), math.cos(tilt)])


@dataclass(frozen=True)
class Probe3D:
    """One probe of a 3D run: placed in the box, its own protocol (None: the shared one), its
    operating point, catalog entry and cannula bore (m)."""

    placed: PlacedProbe  # named as the file's key: probe, or probe[k]
    name: str  # the entry's name (default: the key)
    protocol: Protocol | None
    operating: OperatingPoint | None
    catalog: CatalogProbe | None
    bore: float | None


def probes3d(entries: list[ProbeEntryConfig], cc: CryogenConfig,
             specs: tuple[ProbeSpec, ...] | None = None) -> tuple[Probe3D, ...]:
    """The [[probe]] entries (or the one [probe]) as placed probes, each with its own console
    (``[probe.cryogen]``, else [cryogen]) and protocol (``[probe.protocol]``, else the shared);
    ``specs``: their specs, one per entry (derived here unless given)."""
    out = []
    for k, e in enumerate(entries):
        spec = probe_spec(e) if specs is None else specs[k]
        model, op = probe(e, e.cryogen or cc, spec)
        cat, bore = spec.catalog, spec.bore_m
        key = "probe" if len(entries) == 1 else f"probe[{k}]"
        own = None if e.protocol is None else protocol(e.protocol.phases)
        placed = PlacedProbe.at(model, np.array(e.tip_mm) * 1e-3, direction(e), key)
        out.append(Probe3D(placed, e.name or key, own, op, cat, bore))
    return tuple(out)


def voxel_grid(gc: GridConfig, tc: TissueConfig, probes: tuple[Probe3D, ...]) -> VoxelGrid:
    """The 3D box of uniform ``spacing_mm`` voxels of one tissue: ``box_min_mm`` to
    ``box_max_mm``, or ``extent_mm`` beyond every probe's active part (tip to the end of its
    active length) on every side, as the axisymmetric grid reaches ``extent_mm`` beyond its
    probe. ``outer_boundary`` holds the sides at the initial temperature (far field) or insulates
    them."""
    h = gc.spacing_mm * 1e-3
    if gc.box_min_mm is not None and gc.box_max_mm is not None:
        lo, hi = np.array(gc.box_min_mm) * 1e-3, np.array(gc.box_max_mm) * 1e-3
    else:
        placed = [p.placed for p in probes]
        ends = np.array([q for p in placed for q in (p.tip, p.tip + p.model.active_length * p.axis)])
        lo, hi = ends.min(axis=0) - gc.extent_mm * 1e-3, ends.max(axis=0) + gc.extent_mm * 1e-3
    shape = tuple(int(max(3, round(float(n)))) for n in (hi - lo) / h)
    side = "far-field" if gc.outer_boundary == "initial-temperature" else "insulated"
    return VoxelGrid.uniform(shape, h, (tissue(tc),), centre=tuple((lo + hi) / 2), sides=(side,) * 6)


def anatomy_volume(ac: ProcedureAnatomyConfig, gc: GridConfig, base: str | Path = ".",
                   ) -> tuple[LabelVolume, tuple[Nerve, ...]]:
    """A 3D run's box from its [anatomy]: a template at ``grid.spacing_mm`` (its label volume of
    bone, fat, muscle, skin and nerve, skin convection on +z, and its target nerves), or a NIfTI
    label volume read as a plan reads it (``labels.load_label_volume``; paths from ``base``, the
    file's folder), whose box, voxels and frame are the file's, its sides held at the initial
    temperature, with no nerves of its own (the run's are its [[nerve]] entries)."""
    if ac.nifti is not None:
        assert ac.label_table is not None
        return load_label_volume(ac.nifti, ac.label_table, base), ()

    assert ac.template is not None
    level = ac.level or ("S1" if "sacral" in ac.template else "L4")
    a = template(ac.template, level, gc.spacing_mm)
    return a.volume, a.targets


def nerves3d(ncs: list[NerveConfig], grid: VoxelGrid, probes: tuple[Probe3D, ...]) -> tuple[Nerve, ...]:
    """The [[nerve]] entries in the 3D box's frame (as ``nerves``), each checked to lie in the box
    and outside every probe."""
    out = []
    lo, hi = (np.round(x * 1e3, 2).tolist() for x in (grid.extent_min, grid.extent_max))
    for k, nc in enumerate(ncs):
        nerve = _nerve(nc)
        pts = nerve.cross_sections(min(grid.min_spacing, nerve.diameter / 2))[1].reshape(-1, 3)
        outside = ~grid.contains(pts)
        if outside.any():
            raise InputError(f"nerve[{k}].points_mm", np.round(pts[outside][0] * 1e3, 2).tolist(),
                             f"a nerve inside the simulated box ({lo} to {hi} mm)")
        for p in probes:
            if p.placed.inside(pts).any():
                raise InputError(f"nerve[{k}]", nc.name, f"a nerve outside the probe ({p.name})")
        out.append(nerve)
    return tuple(out)
