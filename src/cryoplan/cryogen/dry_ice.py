"""Carbon dioxide below its triple point: dry-ice snow in equilibrium with its vapour.

CoolProp's equation of state for CO2 (Span & Wagner 1996) covers the fluid only, and extrapolates
the liquid-vapour dome below the triple point (216.592 K, 5.18 bar) into states that do not exist.
Liquid CO2 expanded below that pressure becomes a mixture of dry-ice snow and vapour at the
sublimation temperature of the pressure, and the snow sublimes when it takes up heat. Here:

* the sublimation line is Span & Wagner's eq. 3.12 (J. Phys. Chem. Ref. Data 25 (1996) 1509):
  ``ln(p_sub / p_t) = (T_t / T) (a_1 th + a_2 th^1.9 + a_3 th^2.9)``, ``th = 1 - T / T_t``,
  ``a = (-14.740846, 2.4327015, -5.3061778)``, ``T_t = 216.592 K``, ``p_t = 0.51795 MPa``
  (194.685 K at 1 atm; Giauque & Egan measured 194.67 K);
* the enthalpy of sublimation follows from Clapeyron's equation along that line,
  ``dh_sub = T (v_v - v_s) dp_sub / dT``, with the vapour's volume from CoolProp and the solid's from
  its density: 574.3 kJ/kg (6041 cal/mol) at 194.67 K, within 0.2 % of Giauque & Egan's calorimetric
  6030 cal/mol (J. Chem. Phys. 5 (1937) 45), falling to 550 kJ/kg at the triple point;
* the solid is the vapour less its latent heat: ``h_s = h_v - dh_sub``, ``s_s = s_v - dh_sub / T``,
  of density 1562 kg/m3 (dry ice at its normal sublimation point, as the brief and common tables give
  it; 1.643 g/cm3 at 150 K, Simon & Peters 1980; the solid's volume is 0.2 % of the vapour's at
  1 atm, so its exact value hardly matters);
* the snow and the vapour are one homogeneous equilibrium mixture of vapour mass fraction ``x``:
  ``h = h_s + x (h_v - h_s)``, likewise ``s`` and ``v`` (Wallis, *One-dimensional Two-phase Flow*,
  1969, ch. 2); above ``h_v`` the state is superheated vapour (CoolProp, gas phase imposed, solved in
  temperature: CoolProp's (h, p) flash stops at the triple point).

>>> round(sublimation_temperature_k(101325.0) - 273.15, 2)
-78.46
>>> round(sublimation_enthalpy_j_per_kg(194.67) / 1e3, 1)
574.3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from scipy.optimize import brentq

from cryoplan.cryogen.coolprop import CoolProp

#: Triple point of CO2 (Span & Wagner 1996, table 3).
TRIPLE_T_K = 216.592
TRIPLE_P_PA = 0.51795e6
#: Span & Wagner 1996 eq. 3.12: (coefficient, exponent) pairs of the sublimation pressure.
SUBLIMATION_TERMS = ((-14.740846, 1.0), (2.4327015, 1.9), (-5.3061778, 2.9))
#: Density of dry ice, kg/m3 (see the module's docstring).
SOLID_DENSITY_KG_PER_M3 = 1562.0
#: Giauque & Egan 1937: heat of sublimation 6030 cal/mol at 194.67 K (the check of Clapeyron's).
GIAUQUE_EGAN_T_K = 194.67
GIAUQUE_EGAN_J_PER_KG = 6030 * 4.184 / 44.0095e-3


def forms_solid(gas: str, pressure_pa: float) -> bool:
    """Whether a cryogen expanded to this pressure forms a solid (CO2 below its triple point).

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    pressure_pa : float
        Pressure [Pa].

    Returns
    -------
    bool
        True for CO2 below its triple-point pressure (5.18 bar).

    Examples
    --------
    >>> forms_solid("co2", 101325.0), forms_solid("co2", 6e5), forms_solid("n2o", 101325.0)
    (True, False, False)
    """
    return gas == "co2" and pressure_pa < TRIPLE_P_PA


def _theta_sum(temperature_k: float) -> tuple[float, float]:
    """sum a_i th^e_i and its derivative with respect to th, th = 1 - T / T_t."""
    th = max(1.0 - temperature_k / TRIPLE_T_K, 0.0)
    value = sum(a * th ** e for a, e in SUBLIMATION_TERMS)
    slope = sum(a * e * th ** (e - 1.0) for a, e in SUBLIMATION_TERMS)
    return value, slope


def sublimation_pressure_pa(temperature_k: float) -> float:
    """Sublimation pressure of CO2 (Span & Wagner 1996, eq. 3.12).

    ``ln(p_sub / p_t) = (T_t / T) (a_1 th + a_2 th^1.9 + a_3 th^2.9)``, ``th = 1 - T / T_t``.

    Parameters
    ----------
    temperature_k : float
        Temperature [K], at most the triple point's (216.592 K).

    Returns
    -------
    float
        Sublimation pressure [Pa].

    References
    ----------
    .. [1] Span & Wagner, J. Phys. Chem. Ref. Data 25 (1996) 1509, eq. 3.12.

    Examples
    --------
    >>> round(sublimation_pressure_pa(194.67))
    101196
    """
    value, _ = _theta_sum(temperature_k)
    return TRIPLE_P_PA * math.exp(TRIPLE_T_K / temperature_k * value)


def sublimation_temperature_k(pressure_pa: float) -> float:
    """Sublimation temperature of CO2 at a pressure: eq. 3.12 of Span & Wagner 1996 inverted.

    Parameters
    ----------
    pressure_pa : float
        Pressure [Pa], above 0; the triple point's temperature at or above its pressure.

    Returns
    -------
    float
        Sublimation temperature [K].

    References
    ----------
    .. [1] Span & Wagner, J. Phys. Chem. Ref. Data 25 (1996) 1509, eq. 3.12.
    """
    if pressure_pa >= TRIPLE_P_PA:
        return TRIPLE_T_K
    return brentq(lambda t: math.log(sublimation_pressure_pa(t) / pressure_pa), 60.0, TRIPLE_T_K,
                  xtol=1e-9)


def sublimation_enthalpy_j_per_kg(temperature_k: float) -> float:
    """Enthalpy of sublimation of CO2 from Clapeyron's equation along Span & Wagner's line.

    ``dh_sub = T (v_v - v_s) dp_sub / dT``, ``v_v`` from CoolProp (gas phase) at
    ``(p_sub(T), T)``, ``v_s = 1 / 1562 m3/kg``.

    Parameters
    ----------
    temperature_k : float
        Temperature on the sublimation line [K].

    Returns
    -------
    float
        Enthalpy of sublimation [J/kg].

    References
    ----------
    .. [1] Span & Wagner, J. Phys. Chem. Ref. Data 25 (1996) 1509, eq. 3.12.
    .. [2] Giauque & Egan, J. Chem. Phys. 5 (1937) 45 (6030 cal/mol at 194.67 K, the check).
    """
    t = temperature_k
    value, slope = _theta_sum(t)
    dlnp_dt = -(TRIPLE_T_K / t * value + slope) / t
    p = sublimation_pressure_pa(t)
    v_v = 1.0 / _vapour(p, t)[2]
    return t * (v_v - 1.0 / SOLID_DENSITY_KG_PER_M3) * p * dlnp_dt


def _vapour(pressure_pa: float, temperature_k: float) -> tuple[float, float, float]:
    """(h, s, rho) of the vapour at (p, T), the gas phase imposed."""
    s = CoolProp.AbstractState("HEOS", "CarbonDioxide")
    s.specify_phase(CoolProp.iphase_gas)
    s.update(CoolProp.PT_INPUTS, pressure_pa, temperature_k)
    return s.hmass(), s.smass(), s.rhomass()


@dataclass(frozen=True)
class Sublimation:
    """Dry ice and its vapour in equilibrium at one pressure (SI units: Pa, K, J/kg, J/(kg K),
    kg/m3)."""

    p: float
    t: float
    h_v: float
    s_v: float
    rho_v: float
    h_s: float
    s_s: float
    rho_s: float

    @property
    def h_sub(self) -> float:
        """Enthalpy of sublimation, h_v - h_s.

        Returns
        -------
        float
            Enthalpy of sublimation [J/kg].
        """
        return self.h_v - self.h_s


@lru_cache(maxsize=256)
def sublimation(pressure_pa: float) -> Sublimation:
    """Dry ice and its vapour at a pressure below CO2's triple point.

    Parameters
    ----------
    pressure_pa : float
        Pressure [Pa], below 5.18 bar.

    Returns
    -------
    Sublimation
        Sublimation temperature [K], the vapour's and the solid's enthalpy [J/kg], entropy
        [J/(kg K)] and density [kg/m3].

    References
    ----------
    .. [1] Span & Wagner, J. Phys. Chem. Ref. Data 25 (1996) 1509, eq. 3.12.
    .. [2] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).

    Examples
    --------
    >>> s = sublimation(101325.0)
    >>> round(s.t, 2), round(s.h_sub / 1e3, 1)
    (194.69, 574.3)
    """
    t = sublimation_temperature_k(pressure_pa)
    h_v, s_v, rho_v = _vapour(pressure_pa, t)
    dh = sublimation_enthalpy_j_per_kg(t)
    return Sublimation(pressure_pa, t, h_v, s_v, rho_v, h_v - dh, s_v - dh / t, SOLID_DENSITY_KG_PER_M3)


@dataclass(frozen=True)
class SnowState:
    """A state of CO2 below its triple point: temperature [K], vapour mass fraction [-] (1: all
    vapour; the solid fraction is 1 - x), density [kg/m3] and enthalpy [J/kg]."""

    t: float
    x: float
    rho: float
    h: float


def _mixture(sub: Sublimation, x: float) -> SnowState:
    v = x / sub.rho_v + (1.0 - x) / sub.rho_s
    return SnowState(sub.t, x, 1.0 / v, sub.h_s + x * sub.h_sub)


def _superheated(pressure_pa: float, t_sub: float, index: int, value: float) -> SnowState:
    """Superheated vapour of a given enthalpy or entropy (``index`` 0 or 1 of ``_vapour``) at p,
    found in temperature: CoolProp's own (h, p) and (p, s) flashes stop at the triple point."""
    t = brentq(lambda t: _vapour(pressure_pa, t)[index] - value, t_sub, 2000.0, xtol=1e-6)
    h, _, rho = _vapour(pressure_pa, t)
    return SnowState(t, 1.0, rho, h)


def state_ph(enthalpy_j_per_kg: float, pressure_pa: float) -> SnowState:
    """The state of CO2 of a given enthalpy below its triple point (homogeneous equilibrium).

    ``x = (h - h_s) / (h_v - h_s)``; superheated vapour above ``h_v``; below ``h_s`` the state is
    taken as all solid at the sublimation temperature (x = 0).

    Parameters
    ----------
    enthalpy_j_per_kg : float
        Enthalpy [J/kg].
    pressure_pa : float
        Pressure [Pa], below 5.18 bar.

    Returns
    -------
    SnowState
        Temperature [K], vapour mass fraction [-], density [kg/m3], enthalpy [J/kg].

    References
    ----------
    .. [1] Wallis, *One-dimensional Two-phase Flow*, 1969, ch. 2 (homogeneous equilibrium).
    """
    sub = sublimation(pressure_pa)
    if enthalpy_j_per_kg > sub.h_v:
        return _superheated(pressure_pa, sub.t, 0, enthalpy_j_per_kg)
    return _mixture(sub, max((enthalpy_j_per_kg - sub.h_s) / sub.h_sub, 0.0))


def state_ps(entropy_j_per_kg_k: float, pressure_pa: float) -> SnowState:
    """The state of CO2 of a given entropy below its triple point (an isentropic expansion).

    ``x = (s - s_s) / (s_v - s_s)``; superheated vapour above ``s_v``; all solid below ``s_s``.

    Parameters
    ----------
    entropy_j_per_kg_k : float
        Entropy [J/(kg K)].
    pressure_pa : float
        Pressure [Pa], below 5.18 bar.

    Returns
    -------
    SnowState
        Temperature [K], vapour mass fraction [-], density [kg/m3], enthalpy [J/kg].

    References
    ----------
    .. [1] Wallis, *One-dimensional Two-phase Flow*, 1969, §3.3 (homogeneous equilibrium nozzle).
    """
    sub = sublimation(pressure_pa)
    if entropy_j_per_kg_k > sub.s_v:
        return _superheated(pressure_pa, sub.t, 1, entropy_j_per_kg_k)
    return _mixture(sub, max((entropy_j_per_kg_k - sub.s_s) / (sub.s_v - sub.s_s), 0.0))
