"""A probe in operation: from its design and its console to the mass flow, the pressure and
boiling temperature at the tip, and the heat-transfer law of its inside wall.

1. The supply (``cryoplan.cryogen.flow``) sets the mass flow: a capillary's adiabatic HEM flow
   with friction, or an orifice's critical flux times C_d, from the console (after the
   recuperator, for argon) to the tip pressure.
2. The exhaust's pressure drop at that flow sets the tip pressure, and with it the boiling
   temperature there (``exhaust_inlet_pressure``): thin probes run warmer. The two are solved
   together (the flow is choked in every catalog probe, so the tip pressure rarely feeds back).
3. The expansion to the tip pressure (isenthalpic, ``cryoplan.cryogen.thermo.expand``) sets the
   state that enters the active segment.
4. The inside of the active segment is described by a ``WallLaw``
   (``cryoplan.cryogen.heat_transfer``): flow boiling (Gungor-Winterton with Cooper's nucleate
   term) along the wall, the supply's jet (Martin) on the end face, forced convection of the gas
   once the liquid has boiled off (Gnielinski), film boiling above the Leidenfrost point with the
   boiling crisis at the Zuber-Kutateladze flux for flow-through liquid-nitrogen probes, and the
   conduction of the steel wall. The thermal solver marches the cryogen along the wall from the
   tip, adding each face's heat to it, so the gas warms and the wall dries out when the load
   exceeds what the flow can boil: the probe's capacity is physics, not a number.

>>> from cryoplan.cryogen.design import family_design
>>> from cryoplan.cryogen.thermo import CryogenSupply
>>> op = operate(family_design("jt-n2o", 2.108e-3, 6e-3), CryogenSupply("n2o"))
>>> op.choked, round(op.mass_flow * 1e3, 3), round(op.boiling_temperature - 273.15, 1)
(True, 0.039, -88.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from cryoplan.cache import kept
from cryoplan.cryogen import dry_ice, fluids
from cryoplan.cryogen import heat_transfer as ht
from cryoplan.cryogen.coolprop import CoolProp
from cryoplan.cryogen.design import ProbeDesign, annulus_area, supply_area
from cryoplan.cryogen.flow import (
    SupplyFlow,
    annulus,
    capillary_flow,
    exhaust_inlet_pressure,
    orifice_flow,
    tube,
)
from cryoplan.cryogen.thermo import (
    CryogenSupply,
    Expansion,
    expand,
    resolve_supply,
    standard_gas_density_kg_per_m3,
)
from cryoplan.cryogen.wall_law import (
    N_PARAMS,
    P_COOPER,
    P_FILM,
    P_FILM_FORCED,
    P_H_FG,
    P_H_LIQUID,
    P_H_LIQUID_TIP,
    P_H_VAPOUR,
    P_MARTINELLI,
    P_MASS_FLUX,
    P_Q_CHF,
    P_R_SHAFT,
    P_R_SIDE,
    P_R_TIP,
    P_RATIO_SIDE,
    P_RE_LIQUID,
    P_T_LEIDENFROST,
    P_T_SAT,
    WallLaw,
)
from cryoplan.errors import InputError

ROOM_K = 293.15
#: Highest gas temperature tabulated for the exhaust (K): above any tissue temperature.
GAS_TABLE_TOP_K = 340.0

@dataclass(frozen=True)
class OperatingPoint:
    """A probe's steady operation on its console (SI units)."""

    design: ProbeDesign
    supply: CryogenSupply
    flow: SupplyFlow
    tip_pressure: float
    expansion: Expansion
    law: WallLaw
    notes: tuple[str, ...]
    given_mass_flow: float | None = None
    exhaust_quality: float = 1.0

    def at_load(self, power_w: float, step: float = 0.05) -> OperatingPoint:
        """The operating point when the probe takes ``power_w`` (W): the exhaust then leaves with
        the quality its boiling reached (rounded to ``step``), which sets the exhaust's pressure
        drop and so the tip pressure (and, for a supply that is not choked, the flow).

        x = x_0 + P / (m_dot h_fg), clipped to [x_0, 1].

        Parameters
        ----------
        power_w : float
            Heat the probe takes from the tissue [W].
        step : float, optional
            Rounding of the exhaust quality [-] (default 0.05), so that nearby loads share a point.

        Returns
        -------
        OperatingPoint
            This point when the quality does not change or nothing boils, else the point at the new
            exhaust quality.
        """
        x0 = float(self.law.quality[0])
        h_fg = float(self.law.params[P_H_FG])
        if x0 >= 1.0 or h_fg <= 0 or self.mass_flow <= 0:
            return self
        x = min(max(x0 + max(power_w, 0.0) / (self.mass_flow * h_fg), x0), 1.0)
        x = min(1.0, max(step, round(x / step) * step))
        if abs(x - self.exhaust_quality) < 1e-9:
            return self
        return operate(self.design, self.supply, self.given_mass_flow, x)

    @property
    def mass_flow(self) -> float:
        """The cryogen's mass flow.

        Returns
        -------
        float
            Mass flow [kg/s].
        """
        return self.flow.mass_flow

    @property
    def choked(self) -> bool:
        """Whether the supply's flow is choked (independent of the tip pressure).

        Returns
        -------
        bool
            True when choked.
        """
        return self.flow.choked

    @property
    def boiling_temperature(self) -> float:
        """Temperature of the cryogen entering the active segment (boiling, or the gas's after a
        single-phase expansion).

        Returns
        -------
        float
            Temperature [K].
        """
        return float(self.law.temperature[0])

    @property
    def standard_flow_l_per_min(self) -> float:
        """The flow as gas at 0 C and 1 atm (standard litres per minute).

        Returns
        -------
        float
            Standard flow [L/min].
        """
        return self.mass_flow / standard_gas_density_kg_per_m3(self.design.gas) * 1e3 * 60

    @property
    def latent_capacity_w(self) -> float:
        """Heat the flow takes up until it is saturated vapour (W); zero for a dry expansion.

        Returns
        -------
        float
            Latent capacity [W].
        """
        return self.mass_flow * _absorbed_at_quality(self.law, 1.0)

    def capacity_w(self, exhaust_temperature_k: float = ROOM_K) -> float:
        """Heat the flow takes up until its gas leaves at ``exhaust_temperature_k`` (W).

        Parameters
        ----------
        exhaust_temperature_k : float, optional
            Temperature of the exhaust gas [K] (default 293.15).

        Returns
        -------
        float
            Capacity [W], the mass flow times the enthalpy absorbed [J/kg].
        """
        return self.mass_flow * float(np.interp(exhaust_temperature_k, self.law.temperature[_dry(self.law)],
                                                self.law.absorbed[_dry(self.law)]))


def _dry(law: WallLaw) -> np.ndarray:
    return law.quality >= 1.0 - 1e-12


def _absorbed_at_quality(law: WallLaw, x: float) -> float:
    """Enthalpy absorbed (J/kg) when the boiling cryogen reaches quality ``x`` (0: none boils)."""
    wet = int(np.count_nonzero(law.quality < 1.0 - 1e-12))
    if wet == 0:
        return 0.0
    return float(np.interp(x, law.quality[: wet + 1], law.absorbed[: wet + 1]))


def _supply_state(gas: str, p: float, h: float) -> tuple[float, float]:
    """(h, s) of the stream at the supply's inlet."""
    s = fluids.state(gas)
    s.update(CoolProp.HmassP_INPUTS, h, p)
    return s.hmass(), s.smass()


def _mass_flow(design: ProbeDesign, supply: CryogenSupply, h_in: float, p_tip: float) -> SupplyFlow:
    p0 = supply.supply_pressure_pa
    h, s = _supply_state(design.gas, p0, h_in)
    sup = design.supply
    if sup.kind == "orifice":
        return orifice_flow(design.gas, h, s, p0, sup.inner_diameter, sup.discharge_coefficient, p_tip)
    return capillary_flow(design.gas, h, s, p0, sup.inner_diameter, sup.length, p_tip)


def _exhaust(design: ProbeDesign) -> tuple:
    ex = design.exhaust
    return (annulus(design.supply.outer_diameter, design.bore, ex.shaft_length, cold=True),
            tube(ex.return_inner_diameter, ex.return_length, cold=False))


def _tables(gas: str, p_tip: float, h_in: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cryogen temperature and vapour quality against the enthalpy absorbed since the tip (J/kg):
    a subcooled liquid warming to its boiling point, boiling at T_sat, then dry gas. Below CO2's
    triple point the snow sublimes at its sublimation temperature instead (``fluids.saturation``
    puts the solid in the liquid's place: the quality is 1 - the solid fraction)."""
    rows: list[tuple[float, float, float]] = []
    st = fluids.state(gas)
    h_dry = h_in
    if p_tip < fluids.critical_pressure(gas):
        sat = fluids.saturation(gas, p_tip)
        if h_in < sat.h_l:
            for h in np.linspace(h_in, sat.h_l, 8)[:-1]:
                st.update(CoolProp.HmassP_INPUTS, h, p_tip)
                rows.append((h, st.T(), (h - sat.h_l) / sat.h_fg))
        if h_in < sat.h_v:
            h0 = max(h_in, sat.h_l)
            rows += [(h0, sat.t, (h0 - sat.h_l) / sat.h_fg), (sat.h_v, sat.t, 1.0)]
        h_dry = max(h_in, sat.h_v)
    h_top = max(fluids.gas(gas, p_tip, GAS_TABLE_TOP_K).h, h_dry + 1.0)
    st.specify_phase(CoolProp.iphase_gas)
    for h in np.linspace(h_dry, h_top, 48)[(1 if rows else 0):]:
        rows.append((h, _gas_temperature(gas, st, h, p_tip), 1.0))
    h, t, x = (np.array(c) for c in zip(*rows, strict=True))
    return h - h_in, t, x


def _gas_temperature(gas: str, st: CoolProp.AbstractState, h: float, p: float) -> float:
    """Temperature of the gas of enthalpy h at p (below CO2's triple point CoolProp's (h, p)
    flash cannot reach the sublimation temperature: ``dry_ice``)."""
    if dry_ice.forms_solid(gas, p):
        return dry_ice.state_ph(h, p).t
    st.update(CoolProp.HmassP_INPUTS, h, p)
    return st.T()


def _wall_law(design: ProbeDesign, op_flow: float, p_tip: float, h_in: float) -> WallLaw:
    gas = design.gas
    absorbed, temps, quality = _tables(gas, p_tip, h_in)
    d_h = design.bore - design.supply.outer_diameter
    g_mass = op_flow / annulus_area(design)
    r_o, r_i = design.outer_diameter / 2, design.bore / 2
    k_w = design.wall_conductivity
    params = np.zeros(N_PARAMS)
    params[P_R_SIDE] = r_o * math.log(r_o / r_i) / k_w
    params[P_RATIO_SIDE] = r_i / r_o
    params[P_R_TIP] = design.wall_thickness / k_w
    params[P_R_SHAFT] = design.shaft_insulation
    params[P_MASS_FLUX] = g_mass
    params[P_Q_CHF] = np.inf
    # the gas after the liquid is gone: Gnielinski at the gas's properties near the tip
    t_gas_ref = float(temps[quality >= 1][0])
    gas_state = fluids.gas(gas, p_tip, t_gas_ref + 1.0)
    re_v = g_mass * d_h / gas_state.mu
    params[P_H_VAPOUR] = ht.gnielinski(re_v, gas_state.mu * gas_state.cp / gas_state.k, gas_state.k, d_h)
    if p_tip < fluids.critical_pressure(gas) and quality[0] < 1.0:
        sat = fluids.saturation(gas, p_tip)
        pr_l = sat.mu_l * sat.cp_l / sat.k_l
        re_lo = g_mass * d_h / sat.mu_l
        params[P_T_SAT] = sat.t
        params[P_H_LIQUID] = ht.dittus_boelter(re_lo, pr_l, sat.k_l, d_h)
        nozzle = design.supply.inner_diameter
        re_jet = op_flow / supply_area(design) * nozzle / sat.mu_l
        params[P_H_LIQUID_TIP] = ht.martin_jet(re_jet, pr_l, sat.k_l, nozzle, design.bore / 2,
                                               design.jet_height)
        params[P_H_FG] = sat.h_fg
        params[P_RE_LIQUID] = re_lo
        params[P_MARTINELLI] = ht.martinelli_factor(sat)
        params[P_COOPER] = ht.cooper_coefficient(sat)
        if design.film_boiling:
            params[P_FILM] = ht.film_boiling_constant(sat, design.bore)
            params[P_FILM_FORCED] = ht.forced_film_boiling_constant(sat, d_h, g_mass / sat.rho_l)
            params[P_T_LEIDENFROST] = ht.leidenfrost_temperature(sat, design.wall_effusivity)
            params[P_Q_CHF] = ht.critical_heat_flux(sat)
    else:
        params[P_T_SAT] = float(temps[0])
    # a calibrated multiplier scales every inside coefficient alike (Cooper's law through its
    # coefficient, so that the boiling flux at a given superheat scales by the multiplier)
    f = design.heat_transfer_multiplier
    for k in (P_H_LIQUID, P_H_LIQUID_TIP, P_H_VAPOUR, P_FILM, P_FILM_FORCED):
        params[k] *= f
    params[P_COOPER] *= f ** 0.33
    return WallLaw(params, absorbed, temps, quality)


def _flow_to(design: ProbeDesign, supply: CryogenSupply, p_tip: float) -> SupplyFlow:
    """The supply's flow to a tip pressure (the recuperator's precooling depends on the pressure
    the expansion ends at)."""
    h1 = expand(replace(supply, back_pressure_pa=p_tip)).precooled_enthalpy_j_per_kg
    return _mass_flow(design, supply, h1, p_tip)


@lru_cache(maxsize=32)
def _supply_curve(design: ProbeDesign, supply: CryogenSupply) -> tuple[np.ndarray, np.ndarray]:
    """The supply's flow at tip pressures from the exhaust's to the supply's (ln p, kg/s), for a
    supply that is not choked (its flow falls as the tip pressure rises)."""
    p = np.geomspace(supply.back_pressure_pa, supply.supply_pressure_pa * 0.999, 12)
    return np.log(p), np.array([_flow_to(design, supply, float(x)).mass_flow for x in p])


@lru_cache(maxsize=512)
def operate(design: ProbeDesign, supply: CryogenSupply, mass_flow: float | None = None,
            exhaust_quality: float = 1.0) -> OperatingPoint:
    """The steady operation of a probe on its console (raises InputError for one that cannot
    run: a supply below the exhaust pressure, an exhaust that cannot pass the flow). A measured
    ``mass_flow`` (kg/s) replaces the supply's. ``exhaust_quality`` is the vapour quality of the
    exhaust (1: all the liquid has boiled, the probe at its capacity; less when the load is
    lighter: a denser exhaust, a lower tip pressure); the thermal solver updates it from the
    probe's load (``at_load``). A recuperator is taken to precool the supply as if the exhaust
    reached it as saturated vapour (the probe at its rated load: an assumption, stated).
    Kept between runs (``cryoplan.cache``): the same probe on the same console again needs no
    CoolProp, whose import takes far longer than this computation.

    Parameters
    ----------
    design : ProbeDesign
        The probe (SI units).
    supply : CryogenSupply
        The console: pressures [Pa], temperatures [K].
    mass_flow : float or None, optional
        A measured mass flow [kg/s]; None (default) to compute it from the supply.
    exhaust_quality : float, optional
        Vapour quality of the exhaust [-] (default 1).

    Returns
    -------
    OperatingPoint
        Flow [kg/s], tip pressure [Pa], the expansion to it and the inside wall's ``WallLaw``.

    Raises
    ------
    InputError
        When the probe cannot run on this console.

    References
    ----------
    .. [1] Gungor & Winterton, Int J Heat Mass Transfer 29 (1986) 351; Cooper, Adv Heat Transfer 16
       (1984) 157; Martin, Adv Heat Transfer 13 (1977) 1; Gnielinski, Int Chem Eng 16 (1976) 359;
       Zuber, AEC Report AECU-4439 (1959) (the correlations of ``cryoplan.cryogen.heat_transfer``).
    .. [2] The flow models of ``cryoplan.cryogen.flow`` and the expansion of
       ``cryoplan.cryogen.thermo``, with their sources.
    """
    key = (design, supply, mass_flow, exhaust_quality)
    return kept("operating-point", key, lambda: _operate(design, supply, mass_flow, exhaust_quality))


def _operate(design: ProbeDesign, supply: CryogenSupply, mass_flow: float | None,
             exhaust_quality: float) -> OperatingPoint:
    supply = resolve_supply(replace(supply, recuperator_effectiveness=design.recuperator_effectiveness))
    notes = []
    p_exhaust = supply.back_pressure_pa
    ducts = _exhaust(design)

    def exhaust(m: float) -> float:
        return exhaust_inlet_pressure(design.gas, m, ducts, p_exhaust, quality=exhaust_quality)

    if mass_flow:
        flow = SupplyFlow(mass_flow, mass_flow / supply_area(design), p_exhaust, False)
        p_tip = exhaust(mass_flow)
        flow = replace(flow, exit_pressure=p_tip)
    else:
        flow = _flow_to(design, supply, p_exhaust)
        p_tip = exhaust(flow.mass_flow)
        if not (flow.choked and p_tip < flow.exit_pressure):
            # the flow falls as the tip pressure rises: find where the exhaust passes it
            ln_p, m = _supply_curve(design, supply)

            def mismatch(p: float) -> float:
                return exhaust(float(np.interp(math.log(p), ln_p, m))) - p

            p_top = supply.supply_pressure_pa * 0.999
            if mismatch(p_top) > 0:
                raise InputError("probe.exhaust", round(p_tip / 1e5, 2),
                                 "an exhaust path that can pass the supply's flow below the supply "
                                 f"pressure ({supply.supply_pressure_pa / 1e5:.2f} bar)")
            p_tip = brentq(mismatch, p_exhaust, p_top, xtol=1e-4 * p_exhaust)
            flow = SupplyFlow(float(np.interp(math.log(p_tip), ln_p, m)), 0.0, p_tip, False)
            flow = replace(flow, mass_flux=flow.mass_flow / supply_area(design))
    exp = expand(replace(supply, back_pressure_pa=p_tip))
    if mass_flow:
        notes.append("mass flow as given (measured), not from the supply's geometry")
    elif flow.choked:
        notes.append(f"supply choked at {flow.exit_pressure / 1e5:.1f} bar: the flow does not depend on the "
                     "tip pressure")
    notes.append("a dry exhaust taken at its boiling temperature in the shaft and at room temperature "
                 "in the return line, a two-phase one as a homogeneous mixture (assumed)")
    if exp.outlet_solid_fraction > 0:
        notes.append("dry-ice snow subliming at the tip, taken through the flow-boiling correlations with "
                     "the triple-point liquid's transport properties (assumed: no correlation exists for "
                     "subliming snow)")
    law = _wall_law(design, flow.mass_flow, p_tip, exp.precooled_enthalpy_j_per_kg)
    return OperatingPoint(design, supply, flow, p_tip, exp, law, tuple(notes), mass_flow, exhaust_quality)
