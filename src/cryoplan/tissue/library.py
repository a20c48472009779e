"""The tissue library: measured properties (cited in data/tissues.toml) plus derived frozen ones.

Frozen conductivity, frozen heat capacity and latent heat follow a composition model: the tissue's
water turns to ice and everything else is unchanged (parallel mixing of volume fractions for k,
mass fractions for c; Choi Y & Okos MR, Effects of temperature and composition on the thermal
properties of foods, in: Food Engineering and Process Applications vol. 1, Elsevier 1986, 93-101):

    phi_w = w rho / rho_water                     (water volume fraction, rho_water = 1000 kg/m^3)
    k_f   = k_u + phi_w (k_ice - k_water)
    C_f   = rho (c_u + w (c_ice - c_water))
    L     = rho w L_fusion

All tissue water is taken as freezable (about 10 % of muscle water stays unfrozen as bound water:
Choi & Bischof, Cryobiology 60 (2010) 52); this slightly overstates L and k_f.

A tissue holding air (aerated lung, 394 kg/m^3) needs nothing more: phi_w comes from the bulk
density, so its small water per volume (0.31) is all that freezes. The air itself is taken not to
freeze or conduct, and the ice to conduct in parallel as in water-filled tissue (an assumption,
an upper bound on k_f there; ``data/tissues.toml`` says so beside the lung).

>>> muscle = get_tissue("muscle")
>>> round(muscle.k_frozen, 2), round(muscle.c_frozen / 1e6, 2), round(muscle.latent_heat / 1e8, 2)
(1.81, 1.99, 2.73)
"""

from __future__ import annotations

from functools import lru_cache

from cryoplan.data import read_toml
from cryoplan.errors import InputError
from cryoplan.tissue.properties import Tissue
from cryoplan.units import c_to_k

WATER_DENSITY_KG_PER_M3 = 1000.0


@lru_cache(maxsize=1)
def _data() -> dict:
    return read_toml("tissues.toml")


def tissue_names() -> list[str]:
    """Names of the library tissues.

    Returns
    -------
    list of str
        The tissue names of ``data/tissues.toml``, sorted.

    Examples
    --------
    >>> "muscle" in tissue_names()
    True
    """
    return sorted(_data()["tissue"])


def blood_heat_capacity() -> float:
    """rho_b c_b of blood (J/m^3/K).

    Returns
    -------
    float
        Volumetric heat capacity of blood [J/m^3/K], density times specific heat.

    References
    ----------
    .. [1] Hasgall PA et al., IT'IS Database for thermal and electromagnetic parameters of biological
       tissues, version 4.1, 2022, doi:10.13099/VIP21000-04-1 (blood; cited in ``data/tissues.toml``).

    Examples
    --------
    >>> round(blood_heat_capacity() / 1e6, 2)
    3.8
    """
    blood = _data()["blood"]
    return blood["density_kg_per_m3"] * blood["specific_heat_j_per_kg_k"]


#: Body temperature (C), the start of living tissue and the arterial blood's temperature.
BODY_TEMPERATURE_C = 37.0
#: Room temperature (C), the start of a bench medium (assumption: a laboratory at 20 C).
ROOM_TEMPERATURE_C = 20.0


def resting_temperature_c(name: str) -> float:
    """The temperature a tissue starts at when none is given: room temperature for a bench
    medium, body temperature for living tissue (a custom tissue is living tissue).

    Parameters
    ----------
    name : str
        A library tissue's name, or ``"custom"``.

    Returns
    -------
    float
        The starting temperature [°C].

    >>> resting_temperature_c("muscle"), resting_temperature_c("agar-gel")
    (37.0, 20.0)
    """
    return ROOM_TEMPERATURE_C if name != "custom" and is_bench_medium(name) else BODY_TEMPERATURE_C


def is_bench_medium(name: str) -> bool:
    """Whether a library tissue is a bench medium (a phantom or ex vivo tissue: no blood flow, no
    metabolism, at room temperature unless told otherwise).

    Parameters
    ----------
    name : str
        A tissue name; a name not in the library is not a bench medium.

    Returns
    -------
    bool
        True for a bench medium.

    Examples
    --------
    >>> is_bench_medium("agar-gel"), is_bench_medium("muscle")
    (True, False)
    """
    return bool(_data()["tissue"].get(name, {}).get("bench", False))


def get_tissue(name: str, t_arterial_k: float = c_to_k(37.0)) -> Tissue:
    """A library tissue with frozen properties derived by the composition model.

    phi_w = w rho / rho_water, k_f = k_u + phi_w (k_ice - k_water),
    C_f = rho (c_u + w (c_ice - c_water)), L = rho w L_fusion (all tissue water freezable).
    Perfusion (mL/min/kg) and metabolism (W/kg) are converted to volume-specific SI units with the
    tissue density.

    Parameters
    ----------
    name : str
        A library tissue name (``tissue_names()``).
    t_arterial_k : float, optional
        Arterial blood temperature [K]; 37 °C (310.15 K) by default.

    Returns
    -------
    Tissue
        The tissue in SI units (W/m/K, J/m^3/K, J/m^3, K, 1/s, W/m^3), with the source of each
        number in ``sources``.

    Raises
    ------
    InputError
        When ``name`` is not a library tissue.

    References
    ----------
    .. [1] Choi Y & Okos MR, Effects of temperature and composition on the thermal properties of
       foods, in: Food Engineering and Process Applications vol. 1, Elsevier 1986, 93-101
       (composition model).
    .. [2] Choi & Bischof, Cryobiology 60 (2010) 52 (bound water that stays unfrozen).
    .. [3] Hasgall PA et al., IT'IS Database for thermal and electromagnetic parameters of biological
       tissues, version 4.1, 2022, doi:10.13099/VIP21000-04-1 (the measured properties; the source of
       each number is in ``data/tissues.toml``).

    Examples
    --------
    >>> muscle = get_tissue("muscle")
    >>> round(muscle.k_frozen, 2), round(muscle.t_solidus - 273.15, 1)
    (1.81, -8.0)
    """
    data = _data()
    if name not in data["tissue"]:
        raise InputError("tissue.type", name, "one of " + ", ".join(tissue_names()) + ", custom")
    row, water, rng = data["tissue"][name], data["water"], data["freezing_range"]
    rho, w = row["density_kg_per_m3"], row["water_mass_fraction"]
    c_u_mass = row["specific_heat_j_per_kg_k"]
    k_u = row["conductivity_w_per_m_k"]
    phi_w = w * rho / WATER_DENSITY_KG_PER_M3
    sources = {k.removesuffix("_source"): v for k, v in row.items() if k.endswith("_source")}
    sources.setdefault("freezing_range", rng["source"])
    composition = "composition model (Choi & Okos 1986) with " + water["k_ice_source"]
    sources.update(
        # a tissue's own note on how the model applies to it (aerated lung: its air)
        frozen=composition + ("; " + row["frozen_source"] if "frozen_source" in row else ""),
        latent_heat=water["latent_heat_source"],
        blood=data["blood"]["source"],
    )
    return Tissue(
        name=name,
        k_unfrozen=k_u,
        k_frozen=k_u + phi_w * (water["k_ice_w_per_m_k"] - water["k_water_w_per_m_k"]),
        c_unfrozen=rho * c_u_mass,
        c_frozen=rho * (c_u_mass + w * (water["c_ice_j_per_kg_k"] - water["c_water_j_per_kg_k"])),
        latent_heat=rho * w * water["latent_heat_j_per_kg"],
        t_solidus=c_to_k(row.get("t_solidus_c", rng["t_solidus_c"])),
        t_liquidus=c_to_k(row.get("t_liquidus_c", rng["t_liquidus_c"])),
        # mL/min/kg -> m^3 of blood per s per m^3 of tissue
        perfusion_per_s=row["perfusion_ml_per_min_per_kg"] * 1e-6 / 60.0 * rho,
        blood_heat_capacity=blood_heat_capacity(),
        metabolic=row["metabolic_w_per_kg"] * rho,
        t_arterial=t_arterial_k,
        sources=sources,
    )
