"""Cryogen thermodynamics (CoolProp) and the catalog of introducers and cryoprobes."""

from cryoplan.cryogen.catalog import Cannula, CatalogProbe, cannula, catalog_probe, list_probes
from cryoplan.cryogen.thermo import CryogenSupply, Expansion, expand, saturation_pressure_pa

__all__ = [
    "Cannula",
    "CatalogProbe",
    "CryogenSupply",
    "Expansion",
    "cannula",
    "catalog_probe",
    "expand",
    "list_probes",
    "saturation_pressure_pa",
]
