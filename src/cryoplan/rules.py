"""The rules across keys that need the probe catalog, checked once after the schema.

The schema (``cryoplan.config``, ``cryoplan.plan_config``) checks what a file says on its own;
whether a named catalog probe exists, how wide and long a probe is once its catalog entry is
applied, whether it passes through its cannula and whether the grid resolves it need the catalog,
a floor above the schema. ``check_procedure`` and ``check_plan`` apply them to a validated file
(raising ``InputError`` naming the field); the service calls them for every run.

>>> from cryoplan import config
>>> cfg = config.parse({"probe": {"catalog": "n2o-2.0mm", "cannula_gauge": 14},
...                     "protocol": {"phases": [{"kind": "freeze", "seconds": 60}]}})
>>> check_procedure(cfg)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
cryoplan.errors.InputError: probe.diameter_mm = 2.0: allowed is at most the 14 G cannula's inner ...
"""

from __future__ import annotations

from typing import Protocol

from cryoplan.catalog import ProbeSpec, check_fits, probe_spec
from cryoplan.config import CryogenConfig, GridConfig, ProbeConfig, ProcedureConfig
from cryoplan.cryogen.thermo import resolve_supply
from cryoplan.errors import MISSING, InputError
from cryoplan.resolve import console

#: Gases named by the schema that the probe model cannot yet follow, and why (CO2 was until its
#: expansion into dry-ice snow was modelled: ``cryoplan.cryogen.dry_ice``).
UNMODELLED_GASES: dict[str, str] = {}


class _ProbeFile(Protocol):
    """A validated file with one [probe] and its [cryogen] (a plan)."""

    probe: ProbeConfig
    cryogen: CryogenConfig


def check_procedure(cfg: ProcedureConfig) -> tuple[ProbeSpec, ...]:
    """The probe rules of a procedure: every [[probe]] entry (its fields named ``probe[k].*``)
    or the one [probe], and a grid that resolves each. Returns each probe's spec (in the order of
    ``cfg.probe_entries()``), derived once, for the estimate and the case."""
    specs = []
    for k, entry in enumerate(cfg.probes):
        try:
            specs.append(check_probe(entry, entry.cryogen or cfg.cryogen))
            check_grid(cfg.grid, specs[-1])
        except InputError as err:
            field = err.field.removeprefix("probe.")
            raise InputError(f"probe[{k}].{field}", err.value, err.allowed) from None
    if not cfg.probes:
        specs.append(check_probe(cfg.probe, cfg.cryogen, needs_length=cfg.grid.geometry != "radial"))
        check_grid(cfg.grid, specs[-1])
    return tuple(specs)


def check_plan(cfg: _ProbeFile) -> ProbeSpec:
    """The probe rules of a plan (its one [probe]); returns its spec."""
    return check_probe(cfg.probe, cfg.cryogen)


def check_probe(pc: ProbeConfig, cc: CryogenConfig, needs_length: bool = True) -> ProbeSpec:
    """The probe's cross-key rules: a catalog entry that exists (in the catalog or the named
    catalog file), a diameter and an active length from the file or the catalog, a set
    temperature exactly for a fixed-temperature probe, a gas for a cryogen probe with a console
    its gas can be fed from (``thermo.resolve_supply``: a supply between the triple and the
    critical point, not solid, above the back pressure), and a probe that fits through its
    cannula (unless ``cannula_gauge = "none"``). Returns the probe's spec."""
    spec = probe_spec(pc)
    cat = spec.catalog
    if needs_length:
        spec.require_length()
    if pc.boundary == "fixed-temperature" and pc.temperature_c is None:
        raise InputError("probe.temperature_c", MISSING, "a wall temperature for a fixed-temperature probe")
    if pc.boundary == "cryogen" and pc.temperature_c is not None:
        raise InputError("probe.temperature_c", pc.temperature_c,
                         'only with boundary = "fixed-temperature" (a cryogen probe\'s temperature '
                         "comes from its gas)")
    if pc.boundary == "cryogen" and cc.gas is None and cat is None:
        raise InputError("cryogen.gas", MISSING, "one of n2o, ln2, argon, co2 (or a probe.catalog entry)")
    gas = cc.gas or (cat.gas if cat else None)
    if pc.boundary == "cryogen" and gas in UNMODELLED_GASES:
        raise InputError("cryogen.gas" if cc.gas else "probe.catalog", cc.gas or pc.catalog,
                         UNMODELLED_GASES[gas])
    if pc.boundary == "cryogen" and gas is not None:
        resolve_supply(console(cc, gas))  # the console's pressures and temperature, checked now
    if spec.bore_m is not None:
        check_fits(spec.diameter_m, spec.bore_m, spec.cannula_gauge)
    return spec


def check_grid(gc: GridConfig, spec: ProbeSpec) -> None:
    """Cells no wider than the probe's radius, and a domain reaching beyond the probe."""
    radius = spec.diameter_m * 1e3 / 2
    if gc.spacing_mm > radius:
        raise InputError("grid.spacing_mm", gc.spacing_mm,
                         f"at most the probe radius ({radius:g} mm), so the probe is resolved")
    if not gc.extent_mm > radius + 2 * gc.spacing_mm:
        raise InputError("grid.extent_mm", gc.extent_mm,
                         f"more than the probe radius plus two cells ({radius + 2 * gc.spacing_mm:g} mm)")
    if gc.uniform_extent_mm is not None and gc.uniform_extent_mm <= radius:
        raise InputError("grid.uniform_extent_mm", gc.uniform_extent_mm,
                         f"more than the probe radius ({radius:g} mm)")
