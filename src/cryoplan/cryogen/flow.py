"""Flow through a cryoprobe: the supply's (choked) mass flow and the exhaust's pressure drop.

Supply (``capillary_flow``): steady, adiabatic, homogeneous-equilibrium flow (HEM: both phases at
one velocity and in equilibrium; Wallis, *One-dimensional Two-phase Flow*, 1969, ch. 2) with wall
friction, the model used for refrigeration capillary tubes (Bansal & Rupasinghe, Appl Therm Eng 18
(1998) 207). Per unit area G = m_dot / A is constant and

    energy     h + (G v)^2 / 2 = h_0
    momentum   -dp = G^2 dv + f G^2 v / (2 D) dz

with v(h, p) from CoolProp, so it covers a flashing liquid (N2O, CO2, LN2) and a real gas (argon)
alike. CO2 below its triple point is dry-ice snow and vapour, v = x v_v + (1 - x) v_s
(``cryoplan.cryogen.dry_ice``). Integrating from the inlet, the length reached grows until
dp + G^2 dv = 0: the flow is choked there (Fanno limit). The mass flow of a tube of length L is
the G whose choking length is L when the tip pressure is below that choking pressure, else the G
that reaches the tip pressure in L. The inlet has a sharp-edged entrance loss of 0.5 velocity
heads (Idelchik, *Handbook of Hydraulic Resistance*, 3rd ed., 1994, diagram 3-1). The friction
factor is Churchill's (Chem Eng 77 (1977) 91, all flow regimes) with the McAdams two-phase
viscosity 1/mu = x/mu_v + (1-x)/mu_l (McAdams, Woods & Heroman, Trans ASME 64 (1942) 193).

An orifice (``orifice_flow``) passes C_d times the HEM isentropic critical mass flux
max_p rho(p, s_0) sqrt(2 (h_0 - h(p, s_0))) (the homogeneous equilibrium nozzle, Wallis 1969
§3.3), or the subcritical flux to the tip pressure.

Exhaust (``exhaust_inlet_pressure``): each segment (the annulus around the supply tube in the
probe's shaft, then the return line to the console) is isothermal compressible pipe flow
(Shapiro, *The Dynamics and Thermodynamics of Compressible Fluid Flow*, 1953, §6.5):

    p_1^2 - p_2^2 = G^2 Z R T (f L / D_h + 2 ln(p_1 / p_2)),

with the hydraulic diameter D_h of an annulus (White, *Fluid Mechanics*, 7th ed., 2011, §6.8) and a
segment exit no faster than the isothermal sonic speed (p_2 >= G sqrt(Z R T)); a two-phase exhaust
(vapour quality below 1: the liquid has not all boiled) is homogeneous at its boiling temperature.
A dry exhaust is taken at its boiling temperature in the shaft (it returns cold beside the
supply) and at room temperature in the return line: both assumptions, stated in the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from cryoplan.cryogen import dry_ice, fluids
from cryoplan.cryogen.coolprop import CoolProp

#: Sharp-edged tube entrance loss coefficient (Idelchik 1994, diagram 3-1).
ENTRANCE_LOSS = 0.5
#: Absolute roughness of drawn stainless hypodermic tubing, m (about 1.5 um for drawn tubing:
#: White 2011, table 6.1 "drawn tubing").
ROUGHNESS_M = 1.5e-6
GAS_CONSTANT = 8.314462618


def churchill_friction(re: float, relative_roughness: float = 0.0) -> float:
    """Darcy friction factor for laminar, transitional and turbulent pipe flow (Churchill 1977).

    Parameters
    ----------
    re : float
        Reynolds number (-).
    relative_roughness : float
        Roughness over diameter (-).

    Returns
    -------
    float
        Darcy friction factor [-].

    References
    ----------
    .. [1] Churchill, Chem Eng 77 (1977) 91 (all flow regimes).

    Examples
    --------
    >>> round(churchill_friction(1000.0), 4)   # laminar 64 / Re
    0.064
    >>> round(churchill_friction(1e5), 4)       # smooth turbulent (Blasius 0.0178)
    0.0179
    """
    re = max(re, 1e-6)
    a = (2.457 * math.log(1 / ((7 / re) ** 0.9 + 0.27 * relative_roughness))) ** 16
    b = (37530 / re) ** 16
    return 8 * ((8 / re) ** 12 + 1 / (a + b) ** 1.5) ** (1 / 12)


@dataclass(frozen=True)
class SupplyFlow:
    """The supply's steady flow (SI units)."""

    mass_flow: float
    mass_flux: float
    exit_pressure: float
    choked: bool


class _HEM:
    """Homogeneous equilibrium states of one stream (stagnation enthalpy h0) on demand."""

    def __init__(self, gas: str, h0: float):
        self.gas, self.h0, self.s, self.scratch = gas, h0, fluids.state(gas), fluids.state(gas)

    def at(self, p: float, kinetic: float = 0.0) -> tuple[float, float, float]:
        """(specific volume, viscosity, static enthalpy) at p with h = h0 - kinetic."""
        h = self.h0 - kinetic
        if dry_ice.forms_solid(self.gas, p):
            return self._snow(p, h)
        s = self.s
        s.update(CoolProp.HmassP_INPUTS, h, p)
        q = s.Q()
        rho = s.rhomass()
        if 0.0 <= q <= 1.0:
            sat = fluids.saturation(self.gas, p)
            mu = 1.0 / (q / sat.mu_v + (1.0 - q) / sat.mu_l)
        else:
            phase = "vapour" if s.T() > fluids.saturation_temperature_or_critical(self.gas, p, self.scratch) \
                else "liquid"
            mu = fluids.viscosity(self.gas, s, phase)
        return 1.0 / rho, mu, h

    def _snow(self, p: float, h: float) -> tuple[float, float, float]:
        """CO2 below its triple point: snow and vapour (McAdams's viscosity with the triple-point
        liquid's in the solid's place, ``fluids.saturation``), or superheated vapour."""
        st = dry_ice.state_ph(h, p)
        sat = fluids.saturation(self.gas, p)
        if st.x < 1.0:
            mu = 1.0 / (st.x / sat.mu_v + (1.0 - st.x) / sat.mu_l)
        else:
            mu = fluids.gas(self.gas, p, st.t).mu
        return 1.0 / st.rho, mu, h


def _march(hem: _HEM, p0: float, g: float, diameter: float, p_stop: float, n: int = 120):
    """Length reached (m) and final pressure, from p0 down to p_stop or to choking (``n``
    pressure nodes, crowded toward p_stop where a flashing flow accelerates: 120 give the flow
    of a flashing N2O capillary within 0.1 % of 480; a liquid flow is exact with any)."""
    v0, mu0, _ = hem.at(p0)
    # entrance loss: the pressure drops by (1 + K) G^2 v / 2 before the tube proper
    p = p0 - (1.0 + ENTRANCE_LOSS) * 0.5 * g * g * v0
    if p <= p_stop:
        return 0.0, p_stop, False
    ps = p_stop + (p - p_stop) * (1.0 - np.geomspace(1e-4, 1.0, n) + 1e-4) / (1.0 + 1e-4)
    length = 0.0
    v_prev, mu_prev = None, None
    p_prev = p
    kinetic = 0.0
    for p_node in ps:
        v, mu = None, None
        for _ in range(30):  # static enthalpy consistent with the kinetic energy at this node
            v, mu, _h = hem.at(p_node, kinetic)
            k_new = 0.5 * (g * v) ** 2
            if abs(k_new - kinetic) < 1e-3:
                break
            kinetic = k_new
        if v_prev is not None:
            drive = (p_prev - p_node) - g * g * (v - v_prev)
            if drive <= 0.0:
                return length, p_prev, True
            vm, mum = 0.5 * (v + v_prev), 0.5 * (mu + mu_prev)
            f = churchill_friction(g * diameter / mum, ROUGHNESS_M / diameter)
            length += drive * 2.0 * diameter / (f * g * g * vm)
        v_prev, mu_prev, p_prev = v, mu, p_node
    return length, p_stop, False


def isentropic_critical_flux(gas: str, h0: float, s0: float, p0: float, p_out: float) -> tuple[float, float]:
    """HEM isentropic nozzle: (mass flux kg/(m2 s), throat pressure) to p_out, choked or not.

    G = max_p rho(p, s_0) sqrt(2 (h_0 - h(p, s_0))) over throat pressures down to ``p_out``
    (CO2 below its triple point: the snow-vapour mixture of ``cryoplan.cryogen.dry_ice``).

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    h0 : float
        Stagnation enthalpy of the supply [J/kg].
    s0 : float
        Stagnation entropy of the supply [J/(kg K)].
    p0 : float
        Stagnation (supply) pressure [Pa].
    p_out : float
        Pressure downstream of the nozzle [Pa].

    Returns
    -------
    mass_flux : float
        Mass flux [kg/(m2 s)].
    throat_pressure : float
        Throat pressure [Pa]; ``p_out`` when the flow is not choked.

    References
    ----------
    .. [1] Wallis, *One-dimensional Two-phase Flow*, 1969, §3.3 (homogeneous equilibrium nozzle).
    .. [2] Span & Wagner, J. Phys. Chem. Ref. Data 25 (1996) 1509, eq. 3.12 (CO2 sublimation).
    """
    st = fluids.state(gas)

    def flux(p: float) -> float:
        if dry_ice.forms_solid(gas, p):
            snow = dry_ice.state_ps(s0, p)
            h, rho = snow.h, snow.rho
        else:
            st.update(CoolProp.PSmass_INPUTS, p, s0)
            h, rho = st.hmass(), st.rhomass()
        return rho * math.sqrt(2 * max(h0 - h, 0.0))

    res = minimize_scalar(lambda p: -flux(p), bounds=(max(p_out, 1e3), p0), method="bounded",
                          options={"xatol": 1e-4 * p0})
    p_throat = float(res.x)
    if p_throat <= p_out * (1 + 1e-6):
        return flux(p_out), p_out
    return flux(p_throat), p_throat


def orifice_flow(gas: str, h0: float, s0: float, p0: float, diameter: float, discharge: float,
                 p_out: float) -> SupplyFlow:
    """Flow through a short orifice: C_d times the HEM isentropic (critical) flux.

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    h0 : float
        Stagnation enthalpy of the supply [J/kg].
    s0 : float
        Stagnation entropy of the supply [J/(kg K)].
    p0 : float
        Stagnation (supply) pressure [Pa].
    diameter : float
        Orifice diameter [m].
    discharge : float
        Discharge coefficient C_d [-].
    p_out : float
        Tip (downstream) pressure [Pa].

    Returns
    -------
    SupplyFlow
        Mass flow [kg/s], mass flux [kg/(m2 s)], exit pressure [Pa] and whether the flow is
        choked.

    References
    ----------
    .. [1] Wallis, *One-dimensional Two-phase Flow*, 1969, §3.3.
    """
    g, p_throat = isentropic_critical_flux(gas, h0, s0, p0, p_out)
    g *= discharge
    area = math.pi * diameter ** 2 / 4
    return SupplyFlow(g * area, g, p_throat, p_throat > p_out * (1 + 1e-6))


def capillary_flow(gas: str, h0: float, s0: float, p0: float, diameter: float, length: float,
                   p_out: float) -> SupplyFlow:
    """Adiabatic HEM flow with friction through a tube of ``diameter`` and ``length`` (m) from
    stagnation (h0, s0, p0) to the tip pressure ``p_out`` (Pa).

    Energy h + (G v)^2 / 2 = h_0 and momentum -dp = G^2 dv + f G^2 v / (2 D) dz, marched until
    the tip pressure or choking; a sharp-edged entrance loss of 0.5 velocity heads.

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    h0 : float
        Stagnation enthalpy of the supply [J/kg].
    s0 : float
        Stagnation entropy of the supply [J/(kg K)].
    p0 : float
        Stagnation (supply) pressure [Pa].
    diameter : float
        Inner diameter of the capillary [m].
    length : float
        Length of the capillary [m].
    p_out : float
        Tip (downstream) pressure [Pa].

    Returns
    -------
    SupplyFlow
        Mass flow [kg/s], mass flux [kg/(m2 s)], exit pressure [Pa] and whether the flow is
        choked.

    References
    ----------
    .. [1] Wallis, *One-dimensional Two-phase Flow*, 1969, ch. 2.
    .. [2] Bansal & Rupasinghe, Appl Therm Eng 18 (1998) 207.
    .. [3] Idelchik, *Handbook of Hydraulic Resistance*, 3rd ed., 1994, diagram 3-1.
    .. [4] Churchill, Chem Eng 77 (1977) 91.
    .. [5] McAdams, Woods & Heroman, Trans ASME 64 (1942) 193 (two-phase viscosity).
    """
    hem = _HEM(gas, h0)
    g_max, _ = isentropic_critical_flux(gas, h0, s0, p0, p_out)
    area = math.pi * diameter ** 2 / 4

    def choking_length(g: float) -> tuple[float, float, bool]:
        return _march(hem, p0, g, diameter, p_out)

    def excess(ln_g: float) -> float:  # the length reached falls as G rises
        return choking_length(math.exp(ln_g))[0] - length

    lo, hi = math.log(g_max * 1e-4), math.log(g_max)
    ln_g = lo if excess(lo) <= 0.0 else hi if excess(hi) >= 0.0 else brentq(excess, lo, hi, xtol=1e-4)
    g = math.exp(ln_g)
    _, p_end, choked = choking_length(g)
    return SupplyFlow(g * area, g, p_end if choked else p_out, choked)


@dataclass(frozen=True)
class Duct:
    """One exhaust segment: hydraulic diameter, flow area, length (m, m2, m) and whether its gas
    is at the boiling temperature (in the probe) or at room temperature (the return line)."""

    hydraulic_diameter: float
    area: float
    length: float
    cold: bool


def annulus(outer_diameter_of_inner: float, inner_diameter_of_outer: float, length: float,
            cold: bool = True) -> Duct:
    """The annular gap between two concentric tubes (White 2011: D_h = D_o - D_i).

    Parameters
    ----------
    outer_diameter_of_inner : float
        Outer diameter of the inner tube, D_i [m].
    inner_diameter_of_outer : float
        Inner diameter of the outer tube, D_o [m].
    length : float
        Length of the segment [m].
    cold : bool, optional
        Gas at the boiling temperature (True, default: in the probe) or at room temperature.

    Returns
    -------
    Duct
        Hydraulic diameter [m], flow area pi (D_o^2 - D_i^2) / 4 [m^2] and length [m].

    References
    ----------
    .. [1] White, *Fluid Mechanics*, 7th ed., 2011, §6.8.

    Examples
    --------
    >>> d = annulus(1e-3, 2e-3, 0.1)
    >>> round(d.hydraulic_diameter * 1e3, 3), round(d.area * 1e6, 4)
    (1.0, 2.3562)
    """
    d_i, d_o = outer_diameter_of_inner, inner_diameter_of_outer
    return Duct(d_o - d_i, math.pi * (d_o ** 2 - d_i ** 2) / 4, length, cold)


def tube(inner_diameter: float, length: float, cold: bool = False) -> Duct:
    """A round tube as an exhaust segment.

    Parameters
    ----------
    inner_diameter : float
        Inner diameter [m].
    length : float
        Length [m].
    cold : bool, optional
        Gas at the boiling temperature (True) or at room temperature (False, default: the return
        line).

    Returns
    -------
    Duct
        Hydraulic diameter (the inner diameter) [m], flow area [m^2] and length [m].

    Examples
    --------
    >>> round(tube(2e-3, 1.0).area * 1e6, 4)
    3.1416
    """
    return Duct(inner_diameter, math.pi * inner_diameter ** 2 / 4, length, cold)


def _segment_inlet(gas: str, m_dot: float, duct: Duct, p2: float, t_room: float, quality: float) -> float:
    """Inlet pressure of one segment for outlet pressure p2 (Pa): homogeneous flow of vapour
    quality ``quality`` (1: gas), isothermal, with friction and acceleration:
    integral_{p2}^{p1} dp / v(p) = G^2 (f L / (2 D_h) + ln(v(p2) / v(p1))), v = x Z R T / p +
    (1 - x) v_l (Shapiro 1953 §6.5 for x = 1)."""
    g = m_dot / duct.area
    two_phase = quality < 1.0

    def temperature(p: float) -> float:
        if duct.cold or two_phase:
            return fluids.saturation_temperature_or_critical(gas, p) + (0.0 if two_phase else 0.5)
        return t_room

    def zrt_and_liquid(p: float, t: float) -> tuple[float, float, float]:
        """Z R T (m2/s2), liquid specific volume and mixture viscosity at (p, t)."""
        st = fluids.gas(gas, p, t + (0.01 if two_phase else 0.0))
        if not two_phase:
            return p / st.rho, 0.0, st.mu
        sat = fluids.saturation(gas, min(p, 0.99 * fluids.critical_pressure(gas)))
        mu = 1.0 / (quality / sat.mu_v + (1 - quality) / sat.mu_l)
        return p / sat.rho_v, 1.0 / sat.rho_l, mu

    t = temperature(p2)
    zrt, v_l, mu = zrt_and_liquid(p2, t)
    a, b = quality * zrt, (1 - quality) * v_l
    if b == 0.0:
        p2 = max(p2, g * math.sqrt(zrt))  # an exit no faster than the isothermal sonic speed
    p1 = p2
    for _ in range(20):  # the segment's temperature depends on its mean pressure when cold
        zrt, v_l, mu = zrt_and_liquid(0.5 * (p1 + p2), temperature(0.5 * (p1 + p2)))
        a, b = quality * zrt, (1 - quality) * v_l
        f = churchill_friction(g * duct.hydraulic_diameter / mu, ROUGHNESS_M / duct.hydraulic_diameter)

        def primitive(p: float, a=a, b=b) -> float:  # integral of dp / (a / p + b)
            return p * p / (2 * a) if b == 0.0 else p / b - a / b ** 2 * math.log(a + b * p)

        def residual(p_in: float, a=a, b=b, f=f) -> float:
            accel = math.log((a / p2 + b) / (a / p_in + b))
            return primitive(p_in) - primitive(p2) - g * g * (f * duct.length / (2 * duct.hydraulic_diameter)
                                                              + accel)

        hi = p2 * 2
        while residual(hi) < 0:
            hi *= 2
        p_new = brentq(residual, p2, hi, xtol=1e-3)
        if abs(p_new - p1) < 1e-3 * p2:
            return p_new
        p1 = p_new
    return p1


def exhaust_inlet_pressure(gas: str, m_dot: float, ducts: tuple[Duct, ...], p_out: float,
                           t_room: float = 293.15, quality: float = 1.0) -> float:
    """Pressure at the start of the exhaust path (the probe's tip chamber) for the outlet
    (console) pressure ``p_out``: segments from the console back to the tip, the exhaust of
    vapour quality ``quality``.

    Each segment is isothermal compressible pipe flow,
    p_1^2 - p_2^2 = G^2 Z R T (f L / D_h + 2 ln(p_1 / p_2)), its exit no faster than the
    isothermal sonic speed; a two-phase exhaust is homogeneous at its boiling temperature.

    Parameters
    ----------
    gas : str
        The cryogen (``'n2o'``, ``'ln2'``, ``'argon'``, ``'co2'``).
    m_dot : float
        Mass flow [kg/s].
    ducts : tuple of Duct
        The exhaust segments, from the tip to the console.
    p_out : float
        Outlet (console) pressure [Pa].
    t_room : float, optional
        Temperature of the gas in a warm segment [K] (default 293.15).
    quality : float, optional
        Vapour quality of the exhaust [-] (default 1: gas).

    Returns
    -------
    float
        Pressure at the tip chamber [Pa].

    References
    ----------
    .. [1] Shapiro, *The Dynamics and Thermodynamics of Compressible Fluid Flow*, 1953, §6.5.
    .. [2] White, *Fluid Mechanics*, 7th ed., 2011, §6.8 (hydraulic diameter of an annulus).
    .. [3] Churchill, Chem Eng 77 (1977) 91 (friction factor).
    """
    p = p_out
    for duct in reversed(ducts):
        p = _segment_inlet(gas, m_dot, duct, p, t_room, quality)
    return p
