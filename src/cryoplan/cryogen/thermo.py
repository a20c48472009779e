"""Cryogen thermodynamics: Joule-Thomson expansion, boiling, recuperation and cooling capacity.

Every state comes from CoolProp's reference equations of state (Bell et al., Ind. Eng. Chem. Res.
53 (2014) 2498, doi:10.1021/ie4033999) through its low-level ``AbstractState`` interface (PropsSI
costs ~40 us a call). The physics is steady-flow energy conservation:

* the expansion through the Joule-Thomson orifice is isenthalpic (no work, no heat):
  ``h_out(p_back) = h_in`` (Barron, *Cryogenic Systems*, 2nd ed., 1985, §3.2);
* a counterflow recuperator of effectiveness ``eps`` precools the supply with the returning
  exhaust: ``h_1 = h_0 - eps * q_max`` with ``q_max`` the smaller of the two streams' enthalpy
  changes between the warm supply and the cold exhaust temperature (Kays & London, *Compact Heat
  Exchangers*, 3rd ed., 1984, eq. 2-2, written per kg because both streams carry the same mass);
  the exhaust is taken to return as saturated vapour (a probe working at its rated load), and
  the supply state and outlet temperature are iterated to the Linde-Hampson steady state;
* the refrigeration the tip can absorb per kg while the exhaust leaves at gas temperature ``T`` is
  ``q(T) = h_exhaust(T, p_back) - h_1``; at the outlet temperature it is the latent part (boiling
  the liquid fraction), and it grows as the exhaust warms, up to the isothermal Joule-Thomson
  refrigeration ``h(T_supply, p_back) - h_0`` when the exhaust leaves at the supply temperature.

CoolProp has no solid phase. Carbon dioxide expanded below its triple-point pressure (5.185 bar)
forms dry-ice snow; that two-phase solid-vapour state comes from ``cryoplan.cryogen.dry_ice``:
the sublimation line of Span & Wagner (J. Phys. Chem. Ref. Data 25 (1996) 1509, eq. 3.12), the
enthalpy of sublimation from Clapeyron's equation along it (574 kJ/kg at 194.67 K; Giauque & Egan,
J. Chem. Phys. 5 (1937) 45 measured 6030 cal/mol = 573 kJ/kg), the solid as the vapour less that
enthalpy. The expansion's outlet then holds a solid fraction, and its refrigeration is the snow's
sublimation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import numpy as np

from cryoplan.cache import kept
from cryoplan.cryogen import dry_ice
from cryoplan.cryogen.coolprop import CoolProp
from cryoplan.errors import InputError
from cryoplan.units import ATM_PA

GasName = Literal["n2o", "ln2", "argon", "co2"]
SupplyPhase = Literal["liquid", "vapour"]

#: CoolProp fluid names of the supported cryogens.
COOLPROP_FLUID: dict[str, str] = {
    "n2o": "NitrousOxide",
    "ln2": "Nitrogen",
    "argon": "Argon",
    "co2": "CarbonDioxide",
}

#: How each gas is fed when the user does not say: a cylinder's N2O and CO2 are drawn as liquid
#: through a dip tube at the cylinder's vapour pressure (cryoneurolysis consoles: Irwin & Trescot,
#: Cryoneuroablation, ch. 79 in Diwan & Staats (eds), Atlas of Pain Medicine Procedures, 2015,
#: supply 600-800 psi); LN2 is pumped as liquid; argon is a supercritical high-pressure gas.
DEFAULT_SUPPLY_PHASE: dict[str, SupplyPhase] = {
    "n2o": "liquid",
    "ln2": "liquid",
    "argon": "vapour",
    "co2": "liquid",
}

#: Argon cylinders for cryoablation are supplied at about 300 bar (issue #2 default; Sprenkle
#: et al., J. Endourol. 24 (2010) 1503 tested 2000-6000 psi = 138-414 bar).
ARGON_DEFAULT_SUPPLY_PA = 300e5
ROOM_TEMPERATURE_K = 293.15
#: Over-pressure that drives liquid nitrogen from the console's dewar to the probe (Pa):
#: assumed, pressurised LN2 cryosurgery dewars run at 1-2 bar above atmosphere (a low pressure
#: that still subcools the liquid by about 7 K; Hewitt et al., Cryobiology 35 (1997) 303 note
#: that the dewar's vapour pressure drives the flow).
LN2_DEWAR_OVERPRESSURE_PA = 1.5e5


@dataclass(frozen=True)
class CryogenSupply:
    """What flows into the probe (SI units).

    ``supply_pressure_pa`` None means the gas's default: the saturation pressure at the supply
    temperature for liquid-fed gases and CO2, 300 bar for argon, and the back pressure plus the
    dewar's over-pressure for LN2 (liquid at its normal boiling point, pressurised, so subcooled).
    """

    gas: GasName
    supply_pressure_pa: float | None = None
    supply_temperature_k: float | None = None
    back_pressure_pa: float = ATM_PA
    recuperator_effectiveness: float = 0.0
    supply_phase: SupplyPhase | None = None


@dataclass(frozen=True)
class Expansion:
    """The steady state of a cryogen after its Joule-Thomson expansion at the probe tip.

    ``outlet_quality`` is the vapour mass fraction of a two-phase outlet and None when the outlet
    is superheated gas; ``outlet_solid_fraction`` is the dry-ice snow fraction of CO2 expanded
    below its triple point (0 otherwise).
    """

    gas: GasName
    supply_pressure_pa: float
    supply_temperature_k: float
    back_pressure_pa: float
    recuperator_effectiveness: float
    supply_enthalpy_j_per_kg: float
    precooled_enthalpy_j_per_kg: float
    outlet_temperature_k: float
    outlet_quality: float | None
    outlet_solid_fraction: float
    refrigeration_j_per_kg: float
    refrigeration_to_supply_temperature_j_per_kg: float

    def cooling_capacity_w(self, mass_flow_kg_per_s: float) -> float:
        """Heat the tip can absorb while holding its outlet temperature: m_dot * q(T_out).

        Parameters
        ----------
        mass_flow_kg_per_s : float
            Mass flow of the cryogen [kg/s].

        Returns
        -------
        float
            Cooling capacity [W].
        """
        return mass_flow_kg_per_s * self.refrigeration_j_per_kg

    def refrigeration_curve(self, n: int = 96) -> tuple[np.ndarray, np.ndarray]:
        """Refrigeration per kg, q(T) = h_exhaust(T, p_back) - h_1, for exhaust gas temperatures
        from the outlet temperature up to 40 K above the supply temperature (for the solver's
        capacity-limited probe). Returns (temperatures K, J/kg), both increasing.

        Parameters
        ----------
        n : int, optional
            Number of temperatures (default 96).

        Returns
        -------
        temperatures : numpy.ndarray
            Exhaust gas temperatures [K].
        refrigeration : numpy.ndarray
            Refrigeration per kg of cryogen [J/kg].

        References
        ----------
        .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).
        .. [2] Barron, *Cryogenic Systems*, 2nd ed., 1985, §3.2.
        """
        t_hi = max(self.supply_temperature_k, self.outlet_temperature_k) + 40.0
        temps = np.linspace(self.outlet_temperature_k, t_hi, n)
        h_vap = _exhaust_enthalpy(self.gas, self.back_pressure_pa, temps)
        return temps, h_vap - self.precooled_enthalpy_j_per_kg


def _state(gas: str) -> CoolProp.AbstractState:
    return CoolProp.AbstractState("HEOS", COOLPROP_FLUID[gas])


@lru_cache(maxsize=8)
def _limits(gas: str) -> tuple[float, float, float, float]:
    s = _state(gas)
    return s.Ttriple(), s.trivial_keyed_output(CoolProp.iP_triple), s.T_critical(), s.p_critical()


def saturation_pressure_pa(gas: GasName, temperature_k: float) -> float:
    """Vapour pressure of a cryogen's liquid (CoolProp).

    Parameters
    ----------
    gas : {'n2o', 'ln2', 'argon', 'co2'}
        The cryogen.
    temperature_k : float
        Temperature [K], from the triple point up to (not including) the critical point.

    Returns
    -------
    float
        Saturation pressure [Pa].

    Raises
    ------
    InputError
        When the temperature is outside that range.

    References
    ----------
    .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).

    Examples
    --------
    >>> round(saturation_pressure_pa("n2o", 293.15) / 1e5, 2)
    50.53
    """
    t_triple, _, t_crit, _ = _limits(gas)
    if not t_triple <= temperature_k < t_crit:
        raise InputError(
            "cryogen.supply_temperature_c",
            round(temperature_k - 273.15, 2),
            f"between the triple point ({t_triple - 273.15:.1f} C) and the critical point "
            f"({t_crit - 273.15:.1f} C) of {gas} for a saturated (cylinder) supply; a supercritical "
            "one needs cryogen.supply_pressure_bar",
        )
    s = _state(gas)
    s.update(CoolProp.QT_INPUTS, 0.0, temperature_k)
    return s.p()


def saturation_temperature_k(gas: GasName, pressure_pa: float) -> float:
    """Boiling temperature at a pressure (CoolProp; CO2 below its triple point: sublimation).

    Parameters
    ----------
    gas : {'n2o', 'ln2', 'argon', 'co2'}
        The cryogen.
    pressure_pa : float
        Pressure [Pa], from the triple point up to (not including) the critical point (any
        pressure below the triple point for CO2).

    Returns
    -------
    float
        Boiling (or, for CO2 below its triple point, sublimation) temperature [K].

    Raises
    ------
    InputError
        When the pressure is outside that range.

    References
    ----------
    .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).
    .. [2] Giauque & Egan, J. Chem. Phys. 5 (1937) 45.
    """
    _, p_triple, _, p_crit = _limits(gas)
    if gas == "co2" and pressure_pa < p_triple:
        return dry_ice.sublimation_temperature_k(pressure_pa)
    if not p_triple <= pressure_pa < p_crit:
        raise InputError(
            "pressure", pressure_pa, f"between {p_triple:.4g} and {p_crit:.4g} Pa for {gas}"
        )
    s = _state(gas)
    s.update(CoolProp.PQ_INPUTS, pressure_pa, 0.0)
    return s.T()


def _gas_enthalpy(gas: str, pressure_pa: float, temperature_k: float) -> float:
    """Enthalpy of the gas phase (imposed, so CoolProp never guesses the phase)."""
    s = _state(gas)
    s.specify_phase(CoolProp.iphase_gas)
    s.update(CoolProp.PT_INPUTS, pressure_pa, temperature_k)
    return s.hmass()


def _exhaust_enthalpy(gas: str, pressure_pa: float, temps: np.ndarray) -> np.ndarray:
    """Enthalpy of exhaust vapour at the back pressure: saturated vapour at or below the
    boiling point, superheated gas above it."""
    t_sat = saturation_temperature_k(gas, pressure_pa)
    _, p_triple, _, _ = _limits(gas)
    out = np.empty_like(temps, dtype=float)
    for i, t in enumerate(temps):
        t = max(float(t), t_sat)
        if t <= t_sat + 1e-9 and pressure_pa >= p_triple:
            s = _state(gas)
            s.update(CoolProp.PQ_INPUTS, pressure_pa, 1.0)
            out[i] = s.hmass()
        else:
            out[i] = _gas_enthalpy(gas, pressure_pa, t)
    return out


def _supply_enthalpy(gas: str, p: float, t: float, phase: SupplyPhase) -> float:
    """Enthalpy of the supply. At (or within 0.1 % of) the saturation pressure the state is fixed
    by quality, since T and p alone are ambiguous there (CoolProp would pick gas)."""
    t_triple, _, t_crit, _ = _limits(gas)
    if t < t_crit:
        p_sat = saturation_pressure_pa(gas, t) if t >= t_triple else 0.0
        if p_sat and abs(p - p_sat) <= 1e-3 * p_sat:
            s = _state(gas)
            s.update(CoolProp.QT_INPUTS, 0.0 if phase == "liquid" else 1.0, t)
            return s.hmass()
    s = _state(gas)
    s.update(CoolProp.PT_INPUTS, p, t)
    return s.hmass()


def _expand(gas: str, h: float, p_back: float) -> tuple[float, float | None, float]:
    """Isenthalpic state at the back pressure: (T, vapour quality or None, solid fraction)."""
    if dry_ice.forms_solid(gas, p_back):
        return _expand_to_snow(h, p_back)
    s = _state(gas)
    s.update(CoolProp.HmassP_INPUTS, h, p_back)
    q = s.Q()
    quality = q if 0.0 <= q <= 1.0 else None
    return s.T(), quality, 0.0


def _expand_to_snow(h: float, p_back: float) -> tuple[float, float | None, float]:
    """CO2 expanded below its triple point: snow and vapour at the sublimation temperature, or
    superheated vapour (``cryoplan.cryogen.dry_ice``); a supply so cold it would freeze solid
    is refused."""
    sub = dry_ice.sublimation(p_back)
    if h < sub.h_s:
        raise InputError("cryogen.gas", "co2", "a supply warm enough not to expand into solid CO2 alone")
    st = dry_ice.state_ph(h, p_back)
    if h > sub.h_v:
        return st.t, None, 0.0
    return st.t, st.x, 1.0 - st.x


@lru_cache(maxsize=32)  # a run checks its console more than once: read the kept entry once
def resolve_supply(supply: CryogenSupply) -> CryogenSupply:
    """Fill in the gas's default supply pressure, temperature and phase, and check ranges.

    Parameters
    ----------
    supply : CryogenSupply
        The supply as given; pressures [Pa], temperatures [K].

    Returns
    -------
    CryogenSupply
        The supply with pressure [Pa], temperature [K] and phase filled in.

    Raises
    ------
    InputError
        For an unknown gas, a recuperator effectiveness outside [0, 1], a back pressure <= 0, a
        supply pressure below the back pressure, a temperature at or below absolute zero or below
        the gas's melting temperature at the supply pressure (a solid feed), or a saturated
        (default-pressure) supply outside the range between the triple and the critical point.
    """
    # kept between runs like the operating point: the check needs CoolProp (about 2 s to import)
    # for the vapour and melting pressures, which a repeated run need not pay
    return kept("supply", supply, lambda: _resolve_supply(supply))


def _resolve_supply(supply: CryogenSupply) -> CryogenSupply:
    gas = supply.gas
    if gas not in COOLPROP_FLUID:
        raise InputError("cryogen.gas", gas, "one of " + ", ".join(COOLPROP_FLUID))
    eps = supply.recuperator_effectiveness
    if not 0.0 <= eps <= 1.0:
        raise InputError("cryogen.recuperator_effectiveness", eps, "a number from 0 to 1")
    if supply.back_pressure_pa <= 0:
        raise InputError("cryogen.back_pressure_bar", supply.back_pressure_pa / 1e5, "> 0")
    phase = supply.supply_phase or DEFAULT_SUPPLY_PHASE[gas]
    p, t = supply.supply_pressure_pa, supply.supply_temperature_k
    if gas == "ln2":
        t = saturation_temperature_k(gas, ATM_PA) if t is None else t
        p = supply.back_pressure_pa + LN2_DEWAR_OVERPRESSURE_PA if p is None else p
    elif gas == "argon":
        p = ARGON_DEFAULT_SUPPLY_PA if p is None else p
        t = ROOM_TEMPERATURE_K if t is None else t
    else:
        t = ROOM_TEMPERATURE_K if t is None else t
        p = saturation_pressure_pa(gas, t) if p is None else p
    if p < supply.back_pressure_pa:
        raise InputError(
            "cryogen.supply_pressure_bar",
            round(p / 1e5, 3),
            f"at least the back pressure ({supply.back_pressure_pa / 1e5:.3f} bar)",
        )
    if t <= 0:
        raise InputError("cryogen.supply_temperature_c", t - 273.15, "above absolute zero")
    t_melt = _freezing_temperature_k(gas, p)
    if t < t_melt:
        raise InputError("cryogen.supply_temperature_c", round(t - 273.15, 2),
                         f"above {gas}'s melting temperature at the supply pressure "
                         f"({t_melt - 273.15:.1f} C at {p / 1e5:.1f} bar): a solid cannot flow")
    return replace(supply, supply_pressure_pa=p, supply_temperature_k=t, supply_phase=phase)


def expand(supply: CryogenSupply) -> Expansion:
    """Steady expansion of a cryogen through the probe's Joule-Thomson orifice.

    Isenthalpic expansion h_out(p_back) = h_in; with a recuperator of effectiveness eps,
    h_1 = h_0 - eps q_max, iterated to the Linde-Hampson steady state.

    Parameters
    ----------
    supply : CryogenSupply
        What flows into the probe; pressures [Pa], temperatures [K].

    Returns
    -------
    Expansion
        Supply and precooled enthalpies [J/kg], outlet temperature [K], outlet quality and solid
        fraction [-], and refrigeration per kg at the outlet and at the supply temperature [J/kg].

    References
    ----------
    .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).
    .. [2] Barron, *Cryogenic Systems*, 2nd ed., 1985, §3.2 (isenthalpic expansion).
    .. [3] Kays & London, *Compact Heat Exchangers*, 3rd ed., 1984, eq. 2-2 (recuperator).
    .. [4] Giauque & Egan, J. Chem. Phys. 5 (1937) 45 (CO2 sublimation).

    Examples
    --------
    >>> e = expand(CryogenSupply("n2o"))   # cylinder liquid at 20 C, 50.5 bar, to 1 atm
    >>> round(e.outlet_temperature_k - 273.15, 2), round(e.outlet_quality, 3)
    (-88.47, 0.573)
    >>> round(float(e.refrigeration_j_per_kg) / 1e3, 1)
    159.9
    >>> round(e.refrigeration_to_supply_temperature_j_per_kg / 1e3, 1)
    249.8
    """
    s = resolve_supply(supply)
    gas, p_in, t_in, p_b = s.gas, s.supply_pressure_pa, s.supply_temperature_k, s.back_pressure_pa
    assert p_in is not None and t_in is not None and s.supply_phase is not None
    h0 = _supply_enthalpy(gas, p_in, t_in, s.supply_phase)
    h1 = h0
    t_out, quality, solid = _expand(gas, h1, p_b)
    if s.recuperator_effectiveness > 0:
        t_floor = _freezing_temperature_k(gas, p_in) + 0.5  # the supply stream must stay fluid
        for _ in range(200):
            t_cold = max(t_out, t_floor)
            dh_supply = h0 - _supply_enthalpy_at(gas, p_in, t_cold)
            dh_return = _gas_enthalpy(gas, p_b, t_in) - _exhaust_enthalpy(gas, p_b, np.array([t_out]))[0]
            h1_new = h0 - s.recuperator_effectiveness * max(0.0, min(dh_supply, dh_return))
            t_out, quality, solid = _expand(gas, h1_new, p_b)
            if abs(h1_new - h1) < 1e-3:
                h1 = h1_new
                break
            h1 = h1_new
    h_vap_out = _exhaust_enthalpy(gas, p_b, np.array([t_out]))[0]
    h_warm = _gas_enthalpy(gas, p_b, t_in)
    return Expansion(
        gas=gas,
        supply_pressure_pa=p_in,
        supply_temperature_k=t_in,
        back_pressure_pa=p_b,
        recuperator_effectiveness=s.recuperator_effectiveness,
        supply_enthalpy_j_per_kg=h0,
        precooled_enthalpy_j_per_kg=h1,
        outlet_temperature_k=t_out,
        outlet_quality=quality,
        outlet_solid_fraction=solid,
        refrigeration_j_per_kg=max(0.0, h_vap_out - h1),
        refrigeration_to_supply_temperature_j_per_kg=h_warm - h0,
    )


def _freezing_temperature_k(gas: str, pressure_pa: float) -> float:
    """Melting temperature at a pressure (CoolProp's melting line, else the triple point)."""
    s = _state(gas)
    try:
        if s.has_melting_line():
            return s.melting_line(CoolProp.iT, CoolProp.iP, pressure_pa)
    except ValueError:
        pass
    return _limits(gas)[0]


def _supply_enthalpy_at(gas: str, p: float, t: float) -> float:
    """Enthalpy of the high-pressure stream cooled to t (single phase, or saturated liquid)."""
    _, _, t_crit, p_crit = _limits(gas)
    if p < p_crit and t < t_crit and t <= saturation_temperature_k(gas, p):
        s = _state(gas)
        s.specify_phase(CoolProp.iphase_liquid)
        s.update(CoolProp.PT_INPUTS, p, t)
        return s.hmass()
    if p < p_crit:
        return _gas_enthalpy(gas, p, t)
    s = _state(gas)
    s.update(CoolProp.PT_INPUTS, p, t)
    return s.hmass()


def standard_gas_density_kg_per_m3(gas: GasName) -> float:
    """Density of the gas at 0 C and 1 atm (to express consumption in standard litres).

    Parameters
    ----------
    gas : {'n2o', 'ln2', 'argon', 'co2'}
        The cryogen.

    Returns
    -------
    float
        Density [kg/m^3] at 273.15 K and 101325 Pa.

    References
    ----------
    .. [1] Bell et al., Ind. Eng. Chem. Res. 53 (2014) 2498, doi:10.1021/ie4033999 (CoolProp).
    """
    s = _state(gas)
    s.specify_phase(CoolProp.iphase_gas)
    s.update(CoolProp.PT_INPUTS, ATM_PA, 273.15)
    return s.rhomass()
