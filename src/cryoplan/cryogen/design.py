"""A cryoprobe as an engineer describes it: the outer tube, the supply tube or orifice, the exhaust
path back to the console, and the console's pressures (SI units).

The layout is that of closed-tip Joule-Thomson and flow-through probes alike (Irwin & Trescot,
Cryoneuroablation, ch. 79 in Diwan & Staats, *Atlas of Pain Medicine Procedures*, 2015, fig. 79-1):
a supply tube runs down the centre of the outer tube to the tip, where the cryogen expands (or,
for liquid nitrogen, arrives as liquid), hits the closed end, boils along the inside of the active
segment and returns through the annulus between the supply tube and the outer tube, then through
the return line to the console's exhaust.

A probe given only by its gas and outer diameter takes its internals from its family
(``data/probe_families.toml``): dimensionless ratios to the outer tube's bore, and the lengths of
the shaft and the return line, each with its source or its reasoning.

>>> d = family_design("jt-n2o", outer_diameter=2.108e-3, active_length=6e-3)
>>> round(d.bore * 1e3, 3), d.supply.kind
(1.6, 'orifice')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal

from cryoplan.data import read_toml
from cryoplan.errors import InputError

SupplyKind = Literal["capillary", "orifice"]


@dataclass(frozen=True)
class Supply:
    """The supply tube (capillary) or the Joule-Thomson orifice at its end."""

    kind: SupplyKind
    inner_diameter: float
    outer_diameter: float
    length: float
    discharge_coefficient: float = 1.0


@dataclass(frozen=True)
class Exhaust:
    """The return path: the annulus along the shaft, then the return line to the console."""

    shaft_length: float
    return_inner_diameter: float
    return_length: float


@dataclass(frozen=True)
class ProbeDesign:
    """Everything the probe's physics needs (SI units); ``sources`` maps each field to its
    citation or to the reasoning of an assumption."""

    gas: str
    outer_diameter: float
    active_length: float
    wall_thickness: float
    wall_conductivity: float
    supply: Supply
    exhaust: Exhaust
    jet_height: float
    recuperator_effectiveness: float = 0.0
    film_boiling: bool = False
    heat_transfer_multiplier: float = 1.0
    shaft_insulation: float = math.inf  # m2 K/W between the exhaust and the shaft's tissue
    wall_effusivity: float = 4400.0  # J/(m2 K s^0.5), (rho c k)^0.5 of the wall near 100 K
    family: str | None = None
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def bore(self) -> float:
        """Inner diameter of the outer tube.

        Returns
        -------
        float
            Bore, the outer diameter less twice the wall [m].

        Examples
        --------
        >>> round(family_design("jt-n2o", 2.108e-3, 6e-3).bore * 1e3, 3)
        1.6
        """
        return self.outer_diameter - 2 * self.wall_thickness

    def check(self) -> None:
        """Refuse a geometry that cannot be built (one message naming the field).

        Raises
        ------
        InputError
            When the wall is half the outer diameter or more, the supply tube does not fit in the
            bore, or the supply's bore is not smaller than its outer diameter.
        """
        if not self.bore > 0:
            raise InputError("probe.wall_thickness_mm", round(self.wall_thickness * 1e3, 4),
                             f"less than half the outer diameter ({self.outer_diameter * 5e2:.3f} mm)")
        sup = self.supply
        if not sup.outer_diameter < self.bore:
            raise InputError("probe.supply.outer_diameter_mm", round(sup.outer_diameter * 1e3, 4),
                             f"less than the outer tube's bore ({self.bore * 1e3:.3f} mm), "
                             "to leave an exhaust gap")
        if not sup.inner_diameter < sup.outer_diameter:
            raise InputError("probe.supply.inner_diameter_mm", round(sup.inner_diameter * 1e3, 4),
                             "less than the supply tube's outer diameter "
                             f"({sup.outer_diameter * 1e3:.3f} mm)")


@lru_cache(maxsize=1)
def families() -> dict:
    """The probe families (data/probe_families.toml).

    Returns
    -------
    dict
        Each family's gases, supply kind, ratios to the bore [-], lengths [mm] and other keys, with
        the source or reasoning of each.
    """
    return read_toml("probe_families.toml")["family"]


@lru_cache(maxsize=1)
def _wall_table() -> list[tuple[float, float]]:
    table = read_toml("needle_gauges.toml")["gauge"]
    return sorted((row["outer_mm"] * 1e-3, row["inner_mm"] * 1e-3) for row in table.values())


def regular_wall_thickness(outer_diameter: float) -> float:
    """Wall of regular-wall hypodermic tubing of this outer diameter (ISO 9626), interpolated
    linearly in the outer diameter between gauges (m).

    Outside the table the wall scales in proportion to the outer diameter from the nearest gauge.

    Parameters
    ----------
    outer_diameter : float
        Outer diameter of the tube [m].

    Returns
    -------
    float
        Wall thickness [m].

    References
    ----------
    .. [1] ISO 9626:2016 regular-wall nominal dimensions (as tabulated in ``data/needle_gauges.toml``).

    Examples
    --------
    >>> round(regular_wall_thickness(2.108e-3) * 1e3, 3)   # 14 G
    0.254
    """
    rows = _wall_table()
    ods = [od for od, _ in rows]
    walls = [(od - idd) / 2 for od, idd in rows]
    if outer_diameter <= ods[0]:
        return walls[0] * outer_diameter / ods[0]
    if outer_diameter >= ods[-1]:
        return walls[-1] * outer_diameter / ods[-1]
    k = next(i for i in range(1, len(ods)) if ods[i] >= outer_diameter)
    w = (outer_diameter - ods[k - 1]) / (ods[k] - ods[k - 1])
    return walls[k - 1] + w * (walls[k] - walls[k - 1])


def family_for_gas(gas: str) -> str:
    """The default family of a gas.

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).

    Returns
    -------
    str
        The name of the gas's default family.

    Raises
    ------
    InputError
        When no family takes the gas by default.

    Examples
    --------
    >>> family_for_gas("n2o")
    'jt-n2o'
    """
    for name, fam in families().items():
        if gas in fam["gases"] and fam.get("default", False):
            return name
    raise InputError("cryogen.gas", gas, "a gas with a probe family: " + ", ".join(
        sorted({g for f in families().values() for g in f["gases"]})))


def family_design(name: str, outer_diameter: float, active_length: float, gas: str | None = None,
                  **overrides) -> ProbeDesign:
    """The design of a probe of ``outer_diameter`` from family ``name``; ``overrides`` replace
    fields of the result (``supply=...``, ``exhaust=...``, ``wall_thickness=...``).

    Parameters
    ----------
    name : str
        The family (``data/probe_families.toml``).
    outer_diameter : float
        Outer diameter of the probe [m].
    active_length : float
        Length of the active (freezing) segment [m].
    gas : str or None, optional
        The cryogen; None (default) for the family's first gas.
    **overrides
        Fields of ``ProbeDesign`` to replace, in its units (SI).

    Returns
    -------
    ProbeDesign
        The checked design, lengths in [m], with the family's sources.

    Raises
    ------
    InputError
        For an unknown family, a gas the family does not take, or a geometry that cannot be built.

    References
    ----------
    .. [1] Irwin & Trescot, Cryoneuroablation, ch. 79 in Diwan & Staats, *Atlas of Pain Medicine
       Procedures*, 2015, fig. 79-1 (the layout).
    .. [2] ISO 9626:2016 (the wall thickness).

    Examples
    --------
    >>> d = family_design("jt-n2o", outer_diameter=2.108e-3, active_length=6e-3)
    >>> d.supply.kind, round(d.wall_thickness * 1e3, 3)
    ('orifice', 0.254)
    """
    fams = families()
    if name not in fams:
        raise InputError("probe.family", name, "one of " + ", ".join(sorted(fams)))
    f = fams[name]
    gas = gas or f["gases"][0]
    if gas not in f["gases"]:
        raise InputError("cryogen.gas", gas, f"a gas of the {name} family: " + ", ".join(f["gases"]))
    wall = regular_wall_thickness(outer_diameter)
    bore = outer_diameter - 2 * wall
    supply_id = f["supply_inner_diameter_to_bore"] * bore
    supply = Supply(
        kind=f["supply_kind"],
        inner_diameter=supply_id,
        outer_diameter=f["supply_outer_diameter_to_bore"] * bore,
        length=f["shaft_length_mm"] * 1e-3,
        discharge_coefficient=f.get("discharge_coefficient", 1.0),
    )
    exhaust = Exhaust(f["shaft_length_mm"] * 1e-3, f["return_inner_diameter_mm"] * 1e-3,
                      f["return_length_mm"] * 1e-3)
    sources = tuple((k.removesuffix("_source"), v) for k, v in f.items() if k.endswith("_source"))
    design = ProbeDesign(
        gas=gas, outer_diameter=outer_diameter, active_length=active_length, wall_thickness=wall,
        wall_conductivity=f["wall_conductivity_w_per_m_k"], supply=supply, exhaust=exhaust,
        jet_height=f["jet_height_to_nozzle"] * supply_id,
        recuperator_effectiveness=f.get("recuperator_effectiveness", 0.0),
        film_boiling=f.get("film_boiling", False),
        shaft_insulation=f.get("shaft_insulation_m2_k_per_w", math.inf),
        wall_effusivity=f.get("wall_effusivity", 4400.0), family=name, sources=sources,
    )
    design = replace(design, **overrides) if overrides else design
    design.check()
    return design


def supply_area(design: ProbeDesign) -> float:
    """Flow area of the supply tube's (or orifice's) bore, pi d^2 / 4.

    Parameters
    ----------
    design : ProbeDesign
        The probe.

    Returns
    -------
    float
        Area [m^2].
    """
    return math.pi * design.supply.inner_diameter ** 2 / 4


def annulus_area(design: ProbeDesign) -> float:
    """Flow area of the exhaust annulus between the supply tube and the outer tube's bore,
    pi (D_bore^2 - d_supply^2) / 4.

    Parameters
    ----------
    design : ProbeDesign
        The probe.

    Returns
    -------
    float
        Area [m^2].
    """
    return math.pi * (design.bore ** 2 - design.supply.outer_diameter ** 2) / 4
