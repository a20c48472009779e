"""Cryogen thermodynamics (CoolProp): Joule-Thomson expansion, boiling, the probe's operating
point. The catalog of introducers and cryoprobes, which reads the input schema's probe keys, is a
floor above: ``cryoplan.catalog``."""

from cryoplan.cryogen.thermo import CryogenSupply, Expansion, expand, saturation_pressure_pa

__all__ = [
    "CryogenSupply",
    "Expansion",
    "expand",
    "saturation_pressure_pa",
]
