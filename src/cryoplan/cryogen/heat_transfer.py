"""Heat-transfer correlations for the inside of a cryoprobe, one per regime.

* Flow boiling along the wall: Gungor & Winterton, Int J Heat Mass Transfer 29 (1986) 351,
  h_tp = E h_l + S h_pool, with
  E = 1 + 24000 Bo^1.16 + 1.37 (1/X_tt)^0.86 (Bo = q'' / (G h_fg)),
  S = 1 / (1 + 1.15e-6 E^2 Re_l^1.17),
  h_l the Dittus-Boelter coefficient of the liquid flowing alone, 0.023 Re_l^0.8 Pr_l^0.4 k_l / D
  (Re_l = G (1 - x) D / mu_l), and the Lockhart-Martinelli parameter
  X_tt = ((1 - x)/x)^0.9 (rho_v/rho_l)^0.5 (mu_l/mu_v)^0.1.
* Nucleate pool boiling: Cooper, Adv Heat Transfer 16 (1984) 157,
  h_pool = 55 p_r^0.12 (-log10 p_r)^-0.55 M^-0.5 q''^0.67 (SI, M in kg/kmol, roughness 1 um),
  so the boiling flux is q'' = (c dT)^(1/0.33) with c = 55 p_r^0.12 (-log10 p_r)^-0.55 M^-0.5.
* Critical heat flux (end of nucleate boiling): Zuber, AEC Report AECU-4439 (1959) with
  Kutateladze's constant, q''_CHF = 0.131 h_fg rho_v^0.5 [sigma g (rho_l - rho_v)]^0.25 (pool
  value: a lower bound for the forced flow inside a probe).
* Film boiling on a wall far above its Leidenfrost point: Bromley, Chem Eng Prog 46 (1950) 221,
  horizontal cylinder, h = 0.62 [k_v^3 rho_v (rho_l - rho_v) g h'_fg / (mu_v D dT)]^(1/4),
  h'_fg = h_fg + 0.4 c_p,v dT, written as q'' = C dT^(3/4) at a reference superheat of 100 K.
* Film boiling under a flowing liquid: Bromley, LeRoy & Robbers, Ind Eng Chem 45 (1953) 2639,
  h = 2.7 [v k_v rho_v h'_fg / (D dT)]^(1/2); the film flux is the larger of the two.
* Minimum film-boiling (rewetting, Leidenfrost) temperature of cryogens: Kalinin, Berlin &
  Kostyuk 1975, from the thermal effusivities of liquid and wall (``leidenfrost_temperature``).
  The supply's jet keeps the end face wetted.
* Single-phase gas along the wall: Gnielinski, Int Chem Eng 16 (1976) 359,
  Nu = (f/8)(Re - 1000) Pr / (1 + 12.7 (f/8)^0.5 (Pr^(2/3) - 1)), f = (0.79 ln Re - 1.64)^-2,
  laminar Nu = 4.36 below Re 2300.
* The jet from the supply hitting the tip's end face: Martin, Adv Heat Transfer 13 (1977) 1,
  single round nozzle, Nu_D = 2 Re^0.5 (1 + 0.005 Re^0.55)^0.5 Pr^0.42 (D/r)(1 - 1.1 D/r) /
  (1 + 0.1 (H/D - 6) D/r), averaged over a disc of radius r; here for the liquid part of the jet
  (its Reynolds number from the liquid flowing alone), replacing h_l on the end face.
"""

from __future__ import annotations

import math

from cryoplan.cryogen.fluids import Saturation

GRAVITY = 9.80665
#: Cooper's boiling-law exponent on the heat flux.
COOPER_EXPONENT = 0.67


def dittus_boelter(re: float, pr: float, k: float, d: float) -> float:
    """Turbulent heating coefficient 0.023 Re^0.8 Pr^0.4 k / D (Dittus & Boelter 1930), W/(m2 K).

    Parameters
    ----------
    re : float
        Reynolds number [-].
    pr : float
        Prandtl number [-].
    k : float
        Thermal conductivity of the fluid [W/(m K)].
    d : float
        Hydraulic diameter [m].

    Returns
    -------
    float
        Heat-transfer coefficient [W/(m2 K)].

    References
    ----------
    .. [1] Dittus & Boelter 1930.

    Examples
    --------
    >>> round(dittus_boelter(1e4, 0.7, 0.025, 0.01), 1)
    79.0
    """
    return 0.023 * max(re, 0.0) ** 0.8 * pr ** 0.4 * k / d


def gnielinski(re: float, pr: float, k: float, d: float) -> float:
    """Single-phase internal-flow coefficient, W/(m2 K) (Gnielinski 1976; laminar Nu 4.36).

    Nu = (f/8)(Re - 1000) Pr / (1 + 12.7 (f/8)^0.5 (Pr^(2/3) - 1)), f = (0.79 ln Re - 1.64)^-2;
    Nu = 4.36 below Re 2300.

    Parameters
    ----------
    re : float
        Reynolds number [-].
    pr : float
        Prandtl number [-].
    k : float
        Thermal conductivity of the fluid [W/(m K)].
    d : float
        Hydraulic diameter [m].

    Returns
    -------
    float
        Heat-transfer coefficient [W/(m2 K)].

    References
    ----------
    .. [1] Gnielinski, Int Chem Eng 16 (1976) 359.

    Examples
    --------
    >>> round(gnielinski(1e4, 0.7, 0.025, 0.01), 1)
    74.5
    """
    if re < 2300:
        return 4.36 * k / d
    f = (0.79 * math.log(re) - 1.64) ** -2
    nu = (f / 8) * (re - 1000) * pr / (1 + 12.7 * math.sqrt(f / 8) * (pr ** (2 / 3) - 1))
    return nu * k / d


def cooper_coefficient(sat: Saturation) -> float:
    """c in Cooper's law h_pool = c q''^0.67 (SI units; roughness 1 um).

    c = 55 p_r^0.12 (-log10 p_r)^-0.55 M^-0.5, M in kg/kmol.

    Parameters
    ----------
    sat : Saturation
        Saturated liquid and vapour of the cryogen at its boiling pressure (SI).

    Returns
    -------
    float
        c [W^0.33 / (m^0.66 K)], so that h_pool [W/(m2 K)] = c q''^0.67 with q'' in W/m2.

    References
    ----------
    .. [1] Cooper, Adv Heat Transfer 16 (1984) 157.
    """
    pr = sat.reduced_pressure
    return 55.0 * pr ** 0.12 * (-math.log10(pr)) ** -0.55 * (sat.molar_mass * 1e3) ** -0.5


def critical_heat_flux(sat: Saturation) -> float:
    """Zuber-Kutateladze pool critical heat flux, W/m2.

    q''_CHF = 0.131 h_fg rho_v^0.5 [sigma g (rho_l - rho_v)]^0.25 (pool value: a lower bound for
    the forced flow inside a probe).

    Parameters
    ----------
    sat : Saturation
        Saturated liquid and vapour of the cryogen at its boiling pressure (SI).

    Returns
    -------
    float
        Critical heat flux [W/m2].

    References
    ----------
    .. [1] Zuber, AEC Report AECU-4439 (1959), with Kutateladze's constant.

    Examples
    --------
    >>> from cryoplan.cryogen.fluids import saturation
    >>> round(critical_heat_flux(saturation("ln2", 101325.0)) / 1e3)   # LN2 at 1 atm
    162
    """
    return 0.131 * sat.h_fg * math.sqrt(sat.rho_v) * (sat.sigma * GRAVITY * (sat.rho_l - sat.rho_v)) ** 0.25


def film_boiling_constant(sat: Saturation, diameter: float, reference_superheat: float = 100.0) -> float:
    """C in q'' = C dT^0.75 from Bromley's film boiling on a horizontal cylinder.

    h = 0.62 [k_v^3 rho_v (rho_l - rho_v) g h'_fg / (mu_v D dT)]^(1/4), h'_fg = h_fg + 0.4 c_p,v dT,
    evaluated at ``reference_superheat``.

    Parameters
    ----------
    sat : Saturation
        Saturated liquid and vapour of the cryogen at its boiling pressure (SI).
    diameter : float
        Cylinder (wall) diameter [m].
    reference_superheat : float, optional
        Wall superheat dT at which h'_fg is evaluated [K] (default 100).

    Returns
    -------
    float
        C [W/(m2 K^0.75)].

    References
    ----------
    .. [1] Bromley, Chem Eng Prog 46 (1950) 221.
    """
    dt = reference_superheat
    h_fg = sat.h_fg + 0.4 * sat.cp_v * dt
    h = 0.62 * (sat.k_v ** 3 * sat.rho_v * (sat.rho_l - sat.rho_v) * GRAVITY * h_fg
                / (sat.mu_v * diameter * dt)) ** 0.25
    return h * dt / dt ** 0.75


def forced_film_boiling_constant(sat: Saturation, diameter: float, velocity: float,
                                 reference_superheat: float = 100.0) -> float:
    """C in q'' = C dT^0.5 for film boiling under a liquid flowing at ``velocity`` (m/s)
    (Bromley, LeRoy & Robbers, Ind Eng Chem 45 (1953) 2639):
    h = 2.7 [v k_v rho_v h'_fg / (D dT)]^(1/2), h'_fg = h_fg + 0.4 c_p,v dT.

    Parameters
    ----------
    sat : Saturation
        Saturated liquid and vapour of the cryogen at its boiling pressure (SI).
    diameter : float
        Wall diameter [m].
    velocity : float
        Liquid velocity [m/s]; a negative one counts as 0.
    reference_superheat : float, optional
        Wall superheat dT at which h'_fg is evaluated [K] (default 100).

    Returns
    -------
    float
        C [W/(m2 K^0.5)].

    References
    ----------
    .. [1] Bromley, LeRoy & Robbers, Ind Eng Chem 45 (1953) 2639.
    """
    h_fg = sat.h_fg + 0.4 * sat.cp_v * reference_superheat
    return 2.7 * math.sqrt(max(velocity, 0.0) * sat.k_v * sat.rho_v * h_fg / diameter)


def leidenfrost_temperature(sat: Saturation, wall_effusivity: float) -> float:
    """Minimum film-boiling (rewetting) temperature of a cryogen on a wall, K (Kalinin, Berlin &
    Kostyuk, Adv Heat Transfer 11 (1975) 51):
    (T_MFB - T_sat) / (T_c - T_sat) = 0.16 + 2.4 (e_l / e_w)^0.5, e = (rho c k)^0.5 the thermal
    effusivities of the liquid and the wall (a poorly conducting wall rewets warmer).

    Parameters
    ----------
    sat : Saturation
        Saturated liquid and vapour of the cryogen at its boiling pressure (SI).
    wall_effusivity : float
        Thermal effusivity of the wall, (rho c k)^0.5 [W s^0.5 / (m2 K)].

    Returns
    -------
    float
        Minimum film-boiling temperature [K], at most the critical temperature.

    References
    ----------
    .. [1] Kalinin, Berlin & Kostyuk, Adv Heat Transfer 11 (1975) 51.

    Examples
    --------
    >>> from cryoplan.cryogen.fluids import saturation
    >>> round(leidenfrost_temperature(saturation("ln2", 101325.0), 4400.0) - 273.15, 1)  # steel
    -148.9
    """
    e_l = math.sqrt(sat.rho_l * sat.cp_l * sat.k_l)
    ratio = min(0.16 + 2.4 * math.sqrt(e_l / wall_effusivity), 1.0)
    return sat.t + ratio * (sat.t_critical - sat.t)


def martinelli_factor(sat: Saturation) -> float:
    """a in X_tt = ((1 - x)/x)^0.9 a.

    a = (rho_v/rho_l)^0.5 (mu_l/mu_v)^0.1, the Lockhart-Martinelli parameter's property part.

    Parameters
    ----------
    sat : Saturation
        Saturated liquid and vapour of the cryogen at its boiling pressure (SI).

    Returns
    -------
    float
        a [-].

    References
    ----------
    .. [1] Gungor & Winterton, Int J Heat Mass Transfer 29 (1986) 351 (the parameter as used in
       their flow-boiling correlation).
    """
    return math.sqrt(sat.rho_v / sat.rho_l) * (sat.mu_l / sat.mu_v) ** 0.1


def martin_jet(re: float, pr: float, k: float, nozzle: float, radius: float, height: float) -> float:
    """Mean coefficient over a disc of ``radius`` under a round jet from ``nozzle`` (diameter) at
    ``height`` above it, W/(m2 K) (Martin 1977; geometry clipped to its tested range
    2.5 <= r/D <= 7.5, 2 <= H/D <= 12).

    Nu_D = 2 Re^0.5 (1 + 0.005 Re^0.55)^0.5 Pr^0.42 (D/r)(1 - 1.1 D/r) / (1 + 0.1 (H/D - 6) D/r).

    Parameters
    ----------
    re : float
        Reynolds number of the jet at the nozzle [-].
    pr : float
        Prandtl number [-].
    k : float
        Thermal conductivity of the fluid [W/(m K)].
    nozzle : float
        Nozzle diameter D [m].
    radius : float
        Radius r of the disc [m].
    height : float
        Nozzle-to-disc distance H [m].

    Returns
    -------
    float
        Mean heat-transfer coefficient over the disc [W/(m2 K)].

    References
    ----------
    .. [1] Martin, Adv Heat Transfer 13 (1977) 1 (single round nozzle).
    """
    r_d = min(max(radius / nozzle, 2.5), 7.5)
    h_d = min(max(height / nozzle, 2.0), 12.0)
    geometry = (1 / r_d) * (1 - 1.1 / r_d) / (1 + 0.1 * (h_d - 6) / r_d)
    nu = 2 * math.sqrt(re) * math.sqrt(1 + 0.005 * re ** 0.55) * pr ** 0.42 * geometry
    return nu * k / nozzle
