"""Config sections -> physics objects: the one place that turns a validated procedure's (or plan's)
sections into the probe, tissue, grid, nerves, injury thresholds, protocol and relief model.

Used by the simulation (``cryoplan.procedure``) and the planner alike, so both see the same probe,
tissue and thresholds for the same keys. Degrees Celsius become kelvin here, once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cryoplan.config import (
    CryogenConfig,
    GridConfig,
    InjuryConfig,
    NerveConfig,
    OutcomeConfig,
    PhaseConfig,
    ProbeConfig,
    TissueConfig,
    probe_active_length_mm,
    probe_diameter_mm,
)
from cryoplan.cryogen.catalog import CatalogProbe, cannula, catalog_probe, check_fits
from cryoplan.cryogen.thermo import CryogenSupply, Expansion, expand
from cryoplan.errors import InputError
from cryoplan.injury.nerve import Nerve, straight_nerve
from cryoplan.injury.sampling import to_grid_coordinates
from cryoplan.injury.thresholds import (
    InjuryThresholds,
    default_nerve_diameter_m,
    default_thresholds,
    with_overrides,
)
from cryoplan.outcome.relief import ReliefModel, default_model, regrowth_floor_months
from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal.grid import Grid, axisymmetric_grid, radial_grid
from cryoplan.thermal.probe import ProbeModel
from cryoplan.tissue.library import blood_heat_capacity, get_tissue
from cryoplan.tissue.properties import Tissue
from cryoplan.units import BAR_PA, c_to_k

#: Defaults for a probe given without a catalog entry (see data/probes.toml for their basis).
DEFAULT_MASS_FLOW_G_PER_S = 0.4
DEFAULT_INTERNAL_HTC = 5000.0

def probe(pc: ProbeConfig, cc: CryogenConfig, geometry: str = "axisymmetric",
          ) -> tuple[ProbeModel, Expansion | None, CatalogProbe | None, float | None]:
    """The probe (catalog, cannula and cryogen resolved), its expansion, catalog entry and the
    cannula's bore (m)."""
    cat = catalog_probe(pc.catalog) if pc.catalog else None
    diameter = pc.diameter_mm * 1e-3 if pc.diameter_mm else (cat.diameter_m if cat else None)
    if diameter is None:
        raise InputError("probe.diameter_mm", None, "a diameter > 0 (or a probe.catalog entry)")
    active = pc.active_length_mm * 1e-3 if pc.active_length_mm else (cat.active_length_m if cat else None)
    if active is None and geometry != "radial":
        raise InputError("probe.active_length_mm", None, "a length > 0 (or a probe.catalog entry)")
    active = active or 1.0

    gauge = pc.cannula_gauge if pc.cannula_gauge is not None else (cat.cannula_gauge if cat else None)
    bore = None
    if pc.cannula_inner_diameter_mm is not None:
        bore = pc.cannula_inner_diameter_mm * 1e-3
    elif gauge is not None:
        bore = cannula(gauge).inner_diameter_m
    if bore is not None:
        check_fits(diameter, bore, gauge)

    if pc.boundary == "fixed-temperature":
        if pc.temperature_c is None:
            raise InputError("probe.temperature_c", None, "a wall temperature for a fixed-temperature probe")
        model = ProbeModel(diameter, active, "fixed-temperature", wall_temperature=c_to_k(pc.temperature_c))
        return model, None, cat, bore
    if pc.temperature_c is not None:
        raise InputError("probe.temperature_c", pc.temperature_c,
                         "only with boundary = \"fixed-temperature\" "
                         "(a cryogen probe's temperature comes from its gas)")
    gas = cc.gas or (cat.gas if cat else None)
    if gas is None:
        raise InputError("cryogen.gas", None, "one of n2o, ln2, argon, co2 (or a probe.catalog entry)")
    eps = cc.recuperator_effectiveness
    if eps is None:
        eps = cat.recuperator_effectiveness if cat and cat.gas == gas else 0.0
    expansion = expand(CryogenSupply(
        gas=gas,
        supply_pressure_pa=cc.supply_pressure_bar * BAR_PA if cc.supply_pressure_bar else None,
        supply_temperature_k=c_to_k(cc.supply_temperature_c) if cc.supply_temperature_c is not None else None,
        back_pressure_pa=cc.back_pressure_bar * BAR_PA,
        recuperator_effectiveness=eps,
        supply_phase=cc.supply_phase,
    ))
    flow = pc.mass_flow_g_per_s * 1e-3 if pc.mass_flow_g_per_s else (
        cat.mass_flow_kg_per_s if cat else DEFAULT_MASS_FLOW_G_PER_S * 1e-3)
    htc = pc.internal_htc_w_per_m2_k or (cat.internal_htc_w_per_m2_k if cat else DEFAULT_INTERNAL_HTC)
    model = ProbeModel(diameter, active, "cryogen", expansion=expansion, mass_flow=flow, internal_htc=htc)
    return model, expansion, cat, bore




def tissue(tc: TissueConfig) -> Tissue:
    """The tissue: a library entry with any properties the file overrides, or a custom one
    (which the schema has checked to give every property)."""
    t_art = c_to_k(tc.arterial_temperature_c)
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


def grid(gc: GridConfig, pc: ProbeConfig) -> Grid:
    """The radial or axisymmetric grid around the probe (its diameter and active length from the
    file or its catalog entry, as ``probe`` takes them; a radial run without a length stands for
    one metre of probe). Needs no cryogen, so a run's geometry can be checked before it starts."""
    radius = probe_diameter_mm(pc) / 2 * 1e-3
    uniform = gc.uniform_extent_mm * 1e-3 if gc.uniform_extent_mm else None
    if gc.geometry == "radial":
        length = probe_active_length_mm(pc) * 1e-3 if pc.active_length_mm or pc.catalog else 1.0
        return radial_grid(radius, gc.extent_mm * 1e-3, gc.spacing_mm * 1e-3, gc.growth, uniform,
                           active_length=length)
    return axisymmetric_grid(radius, probe_active_length_mm(pc) * 1e-3, gc.extent_mm * 1e-3,
                             gc.spacing_mm * 1e-3, gc.growth, uniform)


def nerves(ncs: list[NerveConfig], grid: Grid) -> tuple[Nerve, ...]:
    """The [[nerve]] entries as paths (points, or a straight nerve: the schema has checked that
    each has one), each checked to lie in the tissue of the grid."""
    out = []
    for k, nc in enumerate(ncs):
        where = f"nerve[{k}]"
        diameter = nc.diameter_mm * 1e-3 if nc.diameter_mm else default_nerve_diameter_m()
        if nc.points_mm is not None:
            nerve = Nerve(nc.name, diameter, np.array(nc.points_mm) * 1e-3)
        else:
            assert nc.distance_mm is not None and nc.orientation is not None
            nerve = straight_nerve(nc.name, diameter, nc.distance_mm * 1e-3, nc.orientation,
                                   nc.offset_along_axis_mm * 1e-3, nc.length_mm * 1e-3)
        _, pts = nerve.cross_sections(min(grid.min_spacing, diameter / 2))
        to_grid_coordinates(grid, pts, f"{where} ({nc.name})")  # inside the probe or the domain: error now
        out.append(nerve)
    return tuple(out)


def injury(ic: InjuryConfig) -> InjuryThresholds:
    """The cited injury thresholds with the file's overrides."""
    return with_overrides(default_thresholds(), **ic.model_dump(exclude={"refine_with_cell_model"}))


def protocol(phases: list[PhaseConfig]) -> Protocol:
    """The freeze / thaw protocol (set temperatures in kelvin)."""
    return Protocol.of([
        Phase(p.kind, p.seconds, c_to_k(p.temperature_c) if p.temperature_c is not None else None)
        for p in phases])


def relief_model(oc: OutcomeConfig) -> ReliefModel:
    """The relief model: the newest refit in ``oc.registry`` if one is named, else the prior;
    a given regrowth distance sets the floor either way."""
    distance = None if oc.regrowth_distance_mm is None else oc.regrowth_distance_mm * 1e-3
    if oc.registry is None:
        return default_model(distance)
    from cryoplan.store.analysis import model_from_registry  # SQLAlchemy only when asked for

    model = model_from_registry(oc.registry)
    return model if distance is None else replace(model, floor_months=regrowth_floor_months(distance))


