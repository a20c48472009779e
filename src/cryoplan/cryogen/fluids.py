"""Fluid properties of the cryogens: CoolProp's reference equations of state for every
thermodynamic quantity, and transport properties (viscosity, thermal conductivity) from CoolProp
where it has them (nitrogen, argon, carbon dioxide) and from ESDU 91022 for nitrous oxide, which
CoolProp lacks.

ESDU 91022, *Thermophysical properties of nitrous oxide*, IHS ESDU, 1991, eqs. 4.9-4.12
(saturated liquid and vapour, -90 to +30 C; T_c = 309.57 K):

* liquid viscosity  mu_l = 0.0293423 exp(1.6089 (th - 1)^(1/3) + 2.0439 (th - 1)^(4/3)) mPa s,
  th = (T_c - 5.24) / (T - 5.24);
* vapour viscosity  mu_v = exp(3.3281 - 1.18237 (1/T_r - 1)^(1/3) - 0.055155 (1/T_r - 1)^(4/3)) uPa s;
* liquid conductivity k_l = 72.35 (1 + 1.5 (1-T_r)^(1/3) - 3.5 (1-T_r)^(2/3) + 4.5 (1-T_r)) mW/(m K);
* vapour conductivity k_v = exp(-7.08870 - 0.276962 (1-T_r)^(-2/3) + 2.88672 (1-T_r)^(-1/3)
  + 16.6116 (1-T_r)^(1/3) - 11.8221 (1-T_r)^(2/3)) mW/(m K).

Outside their range the ESDU fits are evaluated at the nearest end of it (the gas in a probe's
exhaust is a dilute gas whose viscosity changes slowly with temperature; an assumption).

Below its triple point CO2's "saturation" is dry-ice snow and its vapour (``saturation``): the
vapour from CoolProp at the sublimation temperature, the solid's enthalpy and density from
``cryoplan.cryogen.dry_ice``, and, for the correlations written for a liquid (Dittus-Boelter,
Martin's jet, the McAdams viscosity), the saturated liquid's transport properties at the triple
point, the nearest liquid there is (an assumption: no correlation exists for subliming snow).

>>> s = saturation("n2o", 101325.0)
>>> round(s.t - 273.15, 2), round(s.h_fg / 1e3, 1)
(-88.47, 374.3)
>>> round(s.mu_l * 1e6), round(s.mu_v * 1e6, 2)
(431, 9.56)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from cryoplan.cryogen import dry_ice
from cryoplan.cryogen.coolprop import CoolProp
from cryoplan.cryogen.thermo import COOLPROP_FLUID

N2O_T_CRITICAL_K = 309.57  # ESDU 91022
_ESDU_RANGE_K = (183.15, 303.15)  # -90 to +30 C


def state(gas: str) -> CoolProp.AbstractState:
    """A fresh CoolProp state of a cryogen (HEOS backend).

    Parameters
    ----------
    gas : {'n2o', 'ln2', 'argon', 'co2'}
        The cryogen.

    Returns
    -------
    CoolProp.AbstractState
        An unset state; every quantity it gives is in SI units.

    References
    ----------
    .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).
    """
    return CoolProp.AbstractState("HEOS", COOLPROP_FLUID[gas])


def _esdu_t(t: float) -> float:
    return min(max(t, _ESDU_RANGE_K[0]), _ESDU_RANGE_K[1])


def n2o_liquid_viscosity(t: float) -> float:
    """Saturated liquid N2O viscosity, Pa s (ESDU 91022 eq. 4.9).

    Parameters
    ----------
    t : float
        Temperature [K]; outside -90 to +30 °C the nearest end of that range is used.

    Returns
    -------
    float
        Dynamic viscosity [Pa s].

    References
    ----------
    .. [1] ESDU 91022, *Thermophysical properties of nitrous oxide*, IHS ESDU, 1991, eq. 4.9.

    Examples
    --------
    >>> round(n2o_liquid_viscosity(184.68) * 1e6)
    431
    """
    t = _esdu_t(t)
    th = (N2O_T_CRITICAL_K - 5.24) / (t - 5.24)
    return 0.0293423e-3 * math.exp(1.6089 * (th - 1) ** (1 / 3) + 2.0439 * (th - 1) ** (4 / 3))


def n2o_vapour_viscosity(t: float) -> float:
    """Saturated vapour N2O viscosity, Pa s (ESDU 91022 eq. 4.10).

    Parameters
    ----------
    t : float
        Temperature [K]; outside -90 to +30 °C the nearest end of that range is used.

    Returns
    -------
    float
        Dynamic viscosity [Pa s].

    References
    ----------
    .. [1] ESDU 91022, *Thermophysical properties of nitrous oxide*, IHS ESDU, 1991, eq. 4.10.

    Examples
    --------
    >>> round(n2o_vapour_viscosity(184.68) * 1e6, 2)
    9.56
    """
    x = 1 / (_esdu_t(t) / N2O_T_CRITICAL_K) - 1
    return 1e-6 * math.exp(3.3281 - 1.18237 * x ** (1 / 3) - 0.055155 * x ** (4 / 3))


def n2o_liquid_conductivity(t: float) -> float:
    """Saturated liquid N2O thermal conductivity, W/(m K) (ESDU 91022 eq. 4.11).

    Parameters
    ----------
    t : float
        Temperature [K]; outside -90 to +30 °C the nearest end of that range is used.

    Returns
    -------
    float
        Thermal conductivity [W/(m K)].

    References
    ----------
    .. [1] ESDU 91022, *Thermophysical properties of nitrous oxide*, IHS ESDU, 1991, eq. 4.11.
    """
    y = 1 - _esdu_t(t) / N2O_T_CRITICAL_K
    return 72.35e-3 * (1 + 1.5 * y ** (1 / 3) - 3.5 * y ** (2 / 3) + 4.5 * y)


def n2o_vapour_conductivity(t: float) -> float:
    """Saturated vapour N2O thermal conductivity, W/(m K) (ESDU 91022 eq. 4.12).

    Parameters
    ----------
    t : float
        Temperature [K]; outside -90 to +30 °C the nearest end of that range is used.

    Returns
    -------
    float
        Thermal conductivity [W/(m K)].

    References
    ----------
    .. [1] ESDU 91022, *Thermophysical properties of nitrous oxide*, IHS ESDU, 1991, eq. 4.12.
    """
    y = 1 - _esdu_t(t) / N2O_T_CRITICAL_K
    return 1e-3 * math.exp(-7.08870 - 0.276962 * y ** (-2 / 3) + 2.88672 * y ** (-1 / 3)
                           + 16.6116 * y ** (1 / 3) - 11.8221 * y ** (2 / 3))


def viscosity(gas: str, s: CoolProp.AbstractState, phase: str) -> float:
    """Viscosity (Pa s) of the state ``s`` of ``gas``; ``phase`` 'liquid' or 'vapour' selects
    the N2O correlation (CoolProp's own model otherwise).

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    s : CoolProp.AbstractState
        The state, already updated.
    phase : {'liquid', 'vapour'}
        Which N2O correlation to use.

    Returns
    -------
    float
        Dynamic viscosity [Pa s].

    References
    ----------
    .. [1] ESDU 91022, *Thermophysical properties of nitrous oxide*, IHS ESDU, 1991, eq. 4.9-4.10.
    """
    if gas == "n2o":
        return n2o_liquid_viscosity(s.T()) if phase == "liquid" else n2o_vapour_viscosity(s.T())
    return s.viscosity()


def conductivity(gas: str, s: CoolProp.AbstractState, phase: str) -> float:
    """Thermal conductivity (W/(m K)) of the state ``s`` of ``gas`` (as ``viscosity``).

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    s : CoolProp.AbstractState
        The state, already updated.
    phase : {'liquid', 'vapour'}
        Which N2O correlation to use.

    Returns
    -------
    float
        Thermal conductivity [W/(m K)].

    References
    ----------
    .. [1] ESDU 91022, *Thermophysical properties of nitrous oxide*, IHS ESDU, 1991, eq. 4.11-4.12.
    """
    if gas == "n2o":
        return n2o_liquid_conductivity(s.T()) if phase == "liquid" else n2o_vapour_conductivity(s.T())
    return s.conductivity()


@dataclass(frozen=True)
class Saturation:
    """Saturated liquid and vapour of a cryogen at one pressure (SI units)."""

    gas: str
    p: float
    t: float
    rho_l: float
    rho_v: float
    h_l: float
    h_v: float
    cp_l: float
    cp_v: float
    mu_l: float
    mu_v: float
    k_l: float
    k_v: float
    sigma: float
    p_critical: float
    t_critical: float
    molar_mass: float

    @property
    def h_fg(self) -> float:
        """Latent heat of vaporisation, h_v - h_l.

        Returns
        -------
        float
            Latent heat [J/kg].
        """
        return self.h_v - self.h_l

    @property
    def reduced_pressure(self) -> float:
        """Pressure over the critical pressure, p / p_c.

        Returns
        -------
        float
            Reduced pressure [-].
        """
        return self.p / self.p_critical


@lru_cache(maxsize=256)
def saturation(gas: str, pressure_pa: float) -> Saturation:
    """Saturated properties at a pressure between the triple and the critical point; for CO2
    below its triple point, dry ice and its vapour (the module's docstring says how).

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    pressure_pa : float
        Pressure [Pa].

    Returns
    -------
    Saturation
        Temperature [K], densities [kg/m^3], enthalpies [J/kg], heat capacities [J/(kg K)],
        viscosities [Pa s], conductivities [W/(m K)], surface tension [N/m], critical pressure [Pa]
        and temperature [K], molar mass [kg/mol] of the saturated liquid and vapour.

    References
    ----------
    .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).
    .. [2] ESDU 91022, *Thermophysical properties of nitrous oxide*, IHS ESDU, 1991 (N2O transport
       properties).
    .. [3] Span & Wagner, J. Phys. Chem. Ref. Data 25 (1996) 1509, eq. 3.12 (CO2 sublimation).

    Examples
    --------
    >>> s = saturation("n2o", 101325.0)
    >>> round(s.t - 273.15, 2)
    -88.47
    """
    if dry_ice.forms_solid(gas, pressure_pa):
        return _snow_saturation(pressure_pa)
    s = state(gas)
    s.update(CoolProp.PQ_INPUTS, pressure_pa, 0.0)
    t, rho_l, h_l, cp_l = s.T(), s.rhomass(), s.hmass(), s.cpmass()
    mu_l, k_l = viscosity(gas, s, "liquid"), conductivity(gas, s, "liquid")
    sigma = s.surface_tension()
    s.update(CoolProp.PQ_INPUTS, pressure_pa, 1.0)
    rho_v, h_v, cp_v = s.rhomass(), s.hmass(), s.cpmass()
    mu_v, k_v = viscosity(gas, s, "vapour"), conductivity(gas, s, "vapour")
    return Saturation(gas, pressure_pa, t, rho_l, rho_v, h_l, h_v, cp_l, cp_v, mu_l, mu_v, k_l, k_v,
                      sigma, s.p_critical(), s.T_critical(), s.molar_mass())


def _snow_saturation(pressure_pa: float) -> Saturation:
    """Dry ice (in the liquid's place) and its vapour below CO2's triple point: the solid's
    temperature, enthalpy and density; the triple-point liquid's heat capacity, viscosity,
    conductivity and surface tension for the correlations that need a liquid (assumed)."""
    sub = dry_ice.sublimation(pressure_pa)
    s = state("co2")
    s.update(CoolProp.QT_INPUTS, 0.0, s.Ttriple())
    cp_l, mu_l, k_l, sigma = s.cpmass(), s.viscosity(), s.conductivity(), s.surface_tension()
    g = gas("co2", pressure_pa, sub.t)
    return Saturation("co2", pressure_pa, sub.t, sub.rho_s, g.rho, sub.h_s, g.h, cp_l, g.cp, mu_l, g.mu,
                      k_l, g.k, sigma, s.p_critical(), s.T_critical(), s.molar_mass())


@dataclass(frozen=True)
class GasState:
    """Single-phase gas at (p, T) (SI units)."""

    rho: float
    h: float
    cp: float
    mu: float
    k: float


def gas(gas_name: str, pressure_pa: float, temperature_k: float) -> GasState:
    """The gas phase at (p, T) (the phase is imposed so CoolProp never guesses liquid).

    Parameters
    ----------
    gas_name : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    pressure_pa : float
        Pressure [Pa].
    temperature_k : float
        Temperature [K].

    Returns
    -------
    GasState
        Density [kg/m^3], enthalpy [J/kg], heat capacity [J/(kg K)], viscosity [Pa s] and
        conductivity [W/(m K)].

    References
    ----------
    .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).
    """
    s = state(gas_name)
    s.specify_phase(CoolProp.iphase_gas)
    s.update(CoolProp.PT_INPUTS, pressure_pa, temperature_k)
    return GasState(s.rhomass(), s.hmass(), s.cpmass(), viscosity(gas_name, s, "vapour"),
                    conductivity(gas_name, s, "vapour"))


@lru_cache(maxsize=8)
def _critical(gas: str) -> tuple[float, float, float]:
    s = state(gas)
    return s.p_critical(), s.T_critical(), s.Ttriple()


def critical_pressure(gas: str) -> float:
    """The cryogen's critical pressure (CoolProp).

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).

    Returns
    -------
    float
        Critical pressure [Pa].

    References
    ----------
    .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).
    """
    return _critical(gas)[0]


def saturation_temperature_or_critical(gas: str, pressure_pa: float,
                                       scratch: CoolProp.AbstractState | None = None) -> float:
    """Boiling temperature at a pressure; the critical temperature above the critical pressure,
    the triple point below the triple-point pressure (where a liquid cannot exist), except for
    CO2, whose sublimation temperature it is there. A caller in a loop passes its own ``scratch``
    state (making one costs more than the lookup).

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    pressure_pa : float
        Pressure [Pa].
    scratch : CoolProp.AbstractState or None, optional
        A state of ``gas`` to reuse (default None: a new one).

    Returns
    -------
    float
        Temperature [K].

    References
    ----------
    .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).
    .. [2] Span & Wagner, J. Phys. Chem. Ref. Data 25 (1996) 1509, eq. 3.12 (CO2 sublimation).
    """
    p_c, t_c, t_triple = _critical(gas)
    if pressure_pa >= p_c:
        return t_c
    if dry_ice.forms_solid(gas, pressure_pa):
        return dry_ice.sublimation_temperature_k(pressure_pa)
    s = scratch if scratch is not None else state(gas)
    try:
        s.update(CoolProp.PQ_INPUTS, pressure_pa, 0.0)
    except ValueError:
        return t_triple
    return s.T()
