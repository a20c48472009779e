"""Catalog of introducer needles (gauge -> diameters) and cryoprobes, read from cited data files.

>>> cannula(12).inner_diameter_m * 1e3
2.159
>>> catalog_probe("n2o-2.0mm").diameter_m * 1e3
2.0
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cryoplan.data import read_toml
from cryoplan.errors import InputError


@dataclass(frozen=True)
class Cannula:
    """An introducer needle or cannula through which the probe passes (SI units)."""

    gauge: int
    outer_diameter_m: float
    inner_diameter_m: float


@dataclass(frozen=True)
class CatalogProbe:
    """A cryoprobe as published (SI units); ``sources`` maps each field to its citation."""

    name: str
    description: str
    gas: str
    diameter_m: float
    active_length_m: float
    cannula_gauge: int | None
    mass_flow_kg_per_s: float
    internal_htc_w_per_m2_k: float
    recuperator_effectiveness: float
    sources: dict[str, str]


@lru_cache(maxsize=1)
def _gauges() -> dict[int, Cannula]:
    table = read_toml("needle_gauges.toml")["gauge"]
    return {
        int(g): Cannula(int(g), row["outer_mm"] * 1e-3, row["inner_mm"] * 1e-3)
        for g, row in table.items()
    }


@lru_cache(maxsize=1)
def _probes() -> dict[str, CatalogProbe]:
    out = {}
    for name, row in read_toml("probes.toml")["probe"].items():
        out[name] = CatalogProbe(
            name=name,
            description=row["description"],
            gas=row["gas"],
            diameter_m=row["diameter_mm"] * 1e-3,
            active_length_m=row["active_length_mm"] * 1e-3,
            cannula_gauge=row.get("cannula_gauge"),
            mass_flow_kg_per_s=row["mass_flow_g_per_s"] * 1e-3,
            internal_htc_w_per_m2_k=row["internal_htc_w_per_m2_k"],
            recuperator_effectiveness=row.get("recuperator_effectiveness", 0.0),
            sources={k.removesuffix("_source"): v for k, v in row.items() if k.endswith("_source")},
        )
    return out


def cannula(gauge: int, field: str = "probe.cannula_gauge") -> Cannula:
    """The introducer of a needle gauge (10-27 G)."""
    table = _gauges()
    if gauge not in table:
        raise InputError(field, gauge, f"a needle gauge from {min(table)} to {max(table)}")
    return table[gauge]


def list_probes() -> list[CatalogProbe]:
    """Every catalog probe, by name."""
    return [p for _, p in sorted(_probes().items())]


def catalog_probe(name: str, field: str = "probe.catalog") -> CatalogProbe:
    """A catalog probe by name."""
    table = _probes()
    if name not in table:
        raise InputError(field, name, "one of " + ", ".join(sorted(table)))
    return table[name]


def check_fits(probe_diameter_m: float, bore_m: float, gauge: int | None) -> None:
    """A probe wider than its cannula's bore cannot be passed through it."""
    if probe_diameter_m > bore_m:
        what = f"{gauge} G cannula" if gauge is not None else "cannula"
        raise InputError(
            "probe.diameter_mm",
            round(probe_diameter_m * 1e3, 3),
            f"at most the {what}'s inner diameter ({bore_m * 1e3:.3f} mm)",
        )
