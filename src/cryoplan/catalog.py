"""Catalog of introducer needles (gauge -> diameters) and cryoprobes, read from cited data files.

A catalog probe is a probe family applied to a size (``data/probes.toml``), with whatever the
maker or a calibration (``cryoplan calibrate``) fixed about its internals; a catalog file of the
same format (``[probe] catalog_file``) adds its own entries.

>>> cannula(12).inner_diameter_m * 1e3
2.159
>>> catalog_probe("n2o-2.0mm").diameter_m * 1e3
2.0
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cryoplan.config import CatalogEntryConfig, ProbeConfig, ProbeDesignKeys, read_toml_file, translate
from cryoplan.data import read_toml
from cryoplan.errors import MISSING, InputError


@dataclass(frozen=True)
class Cannula:
    """An introducer needle or cannula through which the probe passes (SI units)."""

    gauge: int
    outer_diameter_m: float
    inner_diameter_m: float


@dataclass(frozen=True)
class CatalogProbe:
    """A cryoprobe of the catalog: its gas, cannula, description, what it fixes of its design
    (``keys``, the same keys as [probe]) and the source of each of those (``sources``)."""

    name: str
    description: str
    gas: str
    cannula_gauge: int | None
    keys: ProbeDesignKeys
    sources: dict[str, str]

    @property
    def diameter_m(self) -> float:
        return outer_diameter(self.keys, f"catalog probe {self.name}")

    @property
    def active_length_m(self) -> float:
        assert self.keys.active_length_mm is not None
        return self.keys.active_length_mm * 1e-3


@lru_cache(maxsize=1)
def _gauges() -> dict[int, Cannula]:
    table = read_toml("needle_gauges.toml")["gauge"]
    return {
        int(g): Cannula(int(g), row["outer_mm"] * 1e-3, row["inner_mm"] * 1e-3)
        for g, row in table.items()
    }


def outer_diameter(keys: ProbeDesignKeys, field: str = "probe") -> float:
    """A probe's outer diameter (m) from ``diameter_mm`` or its ``gauge``."""
    if keys.diameter_mm is not None and keys.gauge is not None:
        raise InputError(f"{field}.gauge", keys.gauge, "either diameter_mm or gauge, not both")
    if keys.diameter_mm is not None:
        return keys.diameter_mm * 1e-3
    if keys.gauge is not None:
        return cannula(keys.gauge, f"{field}.gauge").outer_diameter_m
    raise InputError(f"{field}.diameter_mm", None,
                     "a diameter > 0 or a needle gauge (or a probe.catalog entry)")


def _entries(data: dict[str, Any], where: str) -> dict[str, CatalogProbe]:
    out = {}
    table = data.get("probe")
    if not isinstance(table, dict) or not table:
        raise InputError(where, "<no [probe.NAME] tables>", "a catalog: one [probe.NAME] table per probe")
    for name, row in table.items():
        if not isinstance(row, dict):
            raise InputError(f"{where}: probe.{name}", row, "a table of probe keys")
        sources = {k.removesuffix("_source"): v for k, v in row.items() if k.endswith("_source")}
        fields = {k: v for k, v in row.items() if not k.endswith("_source")}
        try:
            entry = CatalogEntryConfig.model_validate(fields)
        except ValidationError as err:
            e = translate(err, CatalogEntryConfig, "probe")
            raise InputError(f"{where}: probe.{name}.{e.field}", e.value, e.allowed) from None
        keys = ProbeDesignKeys.model_validate(entry.model_dump(include=set(ProbeDesignKeys.model_fields)))
        probe = CatalogProbe(name, entry.description, entry.gas, entry.cannula_gauge, keys, sources)
        outer_diameter(keys, f"{where}: probe.{name}")
        if keys.active_length_mm is None:
            raise InputError(f"{where}: probe.{name}.active_length_mm", None, "a length > 0")
        out[name] = probe
    return out


@lru_cache(maxsize=1)
def _probes() -> dict[str, CatalogProbe]:
    return _entries(read_toml("probes.toml"), "probes.toml")


def read_catalog_file(path: str | Path) -> dict[str, CatalogProbe]:
    """The probes of a catalog file (the format of data/probes.toml, e.g. written by
    ``cryoplan calibrate``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("probe.catalog_file", str(path), "an existing catalog file (.toml)")
    return _entries(read_toml_file(path, "catalog file"), path.name)


def cannula(gauge: int, field: str = "probe.cannula_gauge") -> Cannula:
    """The introducer of a needle gauge (10-27 G)."""
    table = _gauges()
    if gauge not in table:
        raise InputError(field, gauge, f"a needle gauge from {min(table)} to {max(table)}")
    return table[gauge]


def list_probes() -> list[CatalogProbe]:
    """Every catalog probe, by name."""
    return [p for _, p in sorted(_probes().items())]


def catalog_probe(name: str, field: str = "probe.catalog",
                  extra: dict[str, CatalogProbe] | None = None) -> CatalogProbe:
    """A catalog probe by name (from ``extra`` entries first, e.g. a catalog file's)."""
    table = {**_probes(), **(extra or {})}
    if name not in table:
        raise InputError(field, name, "one of " + ", ".join(sorted(table)))
    return table[name]


def design_keys(pc: ProbeConfig) -> tuple[CatalogProbe | None, ProbeDesignKeys]:
    """A [probe]'s catalog entry (from the catalog, or the catalog file it names) and its design
    keys: the entry's with the file's own on top (key by key, also inside the supply and exhaust
    tables)."""
    extra = read_catalog_file(pc.catalog_file) if pc.catalog_file else None
    if extra is not None and pc.catalog is None:
        raise InputError("probe.catalog", None, "the name of an entry of probe.catalog_file: "
                         + ", ".join(sorted(extra)))
    cat = catalog_probe(pc.catalog, extra=extra) if pc.catalog else None
    base = cat.keys.model_dump(exclude_none=True) if cat else {}
    own = pc.model_dump(include=set(ProbeDesignKeys.model_fields), exclude_none=True)
    if "diameter_mm" in own or "gauge" in own:  # the file's size replaces the catalog's
        base.pop("diameter_mm", None)
        base.pop("gauge", None)
    for table in ("supply", "exhaust"):
        if table in own:
            own[table] = {**base.get(table, {}), **own[table]}
    return cat, ProbeDesignKeys.model_validate({**base, **own})


def check_fits(probe_diameter_m: float, bore_m: float, gauge: int | None) -> None:
    """A probe wider than its cannula's bore cannot be passed through it."""
    if probe_diameter_m > bore_m:
        what = f"{gauge} G cannula" if gauge is not None else "cannula"
        raise InputError(
            "probe.diameter_mm",
            round(probe_diameter_m * 1e3, 3),
            f"at most the {what}'s inner diameter ({bore_m * 1e3:.3f} mm)",
        )


@dataclass(frozen=True)
class ProbeSpec:
    """A [probe]'s catalog entry and design keys (the entry's with the file's on top), derived
    once per run (``probe_spec``), with the sizes and the cannula every floor above reads."""

    catalog: CatalogProbe | None
    keys: ProbeDesignKeys
    diameter_m: float
    active_length_m: float | None  # None: not given (a radial run stands for one metre of probe)
    cannula_gauge: int | None  # None: no gauge (none given, or "none")
    bore_m: float | None  # the cannula's inner diameter (None: no cannula)

    def require_length(self) -> float:
        """The active length (m), which an axisymmetric or 3D run needs (raises InputError)."""
        if self.active_length_m is None:
            raise InputError("probe.active_length_mm", MISSING, "a length in mm (or a probe.catalog entry)")
        return self.active_length_m


def probe_spec(pc: ProbeConfig) -> ProbeSpec:
    """A [probe]'s catalog entry, design keys, diameter, active length and cannula (raises
    InputError: a catalog entry that does not exist, no diameter).

    >>> from cryoplan.config import ProbeConfig
    >>> s = probe_spec(ProbeConfig(catalog="n2o-2.0mm", cannula_gauge=12))
    >>> s.diameter_m * 1e3, round(s.bore_m * 1e3, 3)
    (2.0, 2.159)
    """
    cat, keys = design_keys(pc)
    diameter = outer_diameter(keys)
    gauge = pc.cannula_gauge if pc.cannula_gauge is not None else (cat.cannula_gauge if cat else None)
    gauge = gauge if isinstance(gauge, int) else None
    if pc.cannula_inner_diameter_mm is not None:
        bore = pc.cannula_inner_diameter_mm * 1e-3
    else:
        bore = cannula(gauge).inner_diameter_m if gauge is not None else None
    length = None if keys.active_length_mm is None else keys.active_length_mm * 1e-3
    return ProbeSpec(cat, keys, diameter, length, gauge, bore)


def probe_diameter_mm(pc: ProbeConfig) -> float:
    """The probe's outer diameter (mm): the file's (mm or gauge), else its catalog entry's (raises
    InputError)."""
    return outer_diameter(design_keys(pc)[1]) * 1e3


def probe_active_length_mm(pc: ProbeConfig) -> float:
    """The probe's active length (mm): the file's, else its catalog entry's."""
    length = design_keys(pc)[1].active_length_mm
    if length is None:
        raise InputError("probe.active_length_mm", MISSING, "a length in mm (or a probe.catalog entry)")
    return length
