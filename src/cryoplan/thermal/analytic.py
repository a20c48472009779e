"""Exact solutions of freezing problems, used to verify the solver (tests/verification/test_verification.py).

All assume an isothermal phase change at T_m and constant properties in each phase;
alpha = k / C, St_s = C_s (T_m - T_0) / L, St_l = C_l (T_i - T_m) / L, nu = sqrt(alpha_s / alpha_l).

>>> lam = neumann_lambda(1.8e6, 2.0, 3.6e6, 0.5, 3.0e8, -1.0, 37.0, -88.5)
>>> round(lam, 5), round(2 * lam * (2.0 / 1.8e6 * 600) ** 0.5 * 1e3, 2)
(0.38717, 19.99)
>>> round(line_sink_lambda(300.0, 1.8e6, 2.0, 3.6e6, 0.5, 3.0e8, -1.0, 37.0), 5)
0.16962
>>> [round(r * 1e3, 2) for r in steady_radius(1.2e-3, -88.5, 37.0, -1.0, 2.0, 0.5, 4e4)]
[12.32, 5.52]
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import erf, erfc, expi, k0, k1


def neumann_lambda(c_s: float, k_s: float, c_l: float, k_l: float, latent: float, t_m: float,
                   t_i: float, t_0: float) -> float:
    """Neumann's planar two-phase Stefan problem (Carslaw & Jaeger 1959, §11.2, eq. 11.2.(7)):
    St_s e^(-l^2)/erf(l) - St_l e^(-nu^2 l^2)/(nu erfc(nu l)) = l sqrt(pi); front X = 2 l sqrt(a_s t).

    Parameters
    ----------
    c_s : float
        Volumetric heat capacity of the frozen phase [J/(m^3 K)].
    k_s : float
        Thermal conductivity of the frozen phase [W/(m K)].
    c_l : float
        Volumetric heat capacity of the unfrozen phase [J/(m^3 K)].
    k_l : float
        Thermal conductivity of the unfrozen phase [W/(m K)].
    latent : float
        Volumetric latent heat [J/m^3].
    t_m : float
        Phase-change temperature [any temperature unit, consistently].
    t_i : float
        Initial temperature of the unfrozen phase (same unit as ``t_m``).
    t_0 : float
        Temperature held at the surface x = 0 (same unit).

    Returns
    -------
    float
        lambda [-], the root in (1e-6, 5).

    References
    ----------
    .. [1] Carslaw & Jaeger, Conduction of Heat in Solids, 2nd ed., 1959, §11.2, eq. 11.2.(7).

    Examples
    --------
    >>> round(neumann_lambda(1.8e6, 2.0, 3.6e6, 0.5, 3.0e8, -1.0, 37.0, -88.5), 5)
    0.38717
    """
    a_s, a_l = k_s / c_s, k_l / c_l
    nu = math.sqrt(a_s / a_l)
    st_s, st_l = c_s * (t_m - t_0) / latent, c_l * (t_i - t_m) / latent

    def f(lam: float) -> float:
        return (st_s * math.exp(-lam * lam) / math.erf(lam)
                - st_l * math.exp(-(nu * lam) ** 2) / (nu * math.erfc(nu * lam))
                - lam * math.sqrt(math.pi))

    return brentq(f, 1e-6, 5.0, xtol=1e-14)


def neumann_temperature(x: np.ndarray, t: float, c_s: float, k_s: float, c_l: float, k_l: float,
                        latent: float, t_m: float, t_i: float, t_0: float) -> np.ndarray:
    """Temperature of Neumann's solution at depth x and time t.

    Parameters
    ----------
    x : numpy.ndarray
        Depth from the cooled surface [m].
    t : float
        Time since the surface was cooled [s], > 0.
    c_s : float
        Volumetric heat capacity of the frozen phase [J/(m^3 K)].
    k_s : float
        Thermal conductivity of the frozen phase [W/(m K)].
    c_l : float
        Volumetric heat capacity of the unfrozen phase [J/(m^3 K)].
    k_l : float
        Thermal conductivity of the unfrozen phase [W/(m K)].
    latent : float
        Volumetric latent heat [J/m^3].
    t_m : float
        Phase-change temperature [any temperature unit, consistently].
    t_i : float
        Initial temperature of the unfrozen phase (same unit as ``t_m``).
    t_0 : float
        Temperature held at the surface x = 0 (same unit).

    Returns
    -------
    numpy.ndarray
        Temperature at each depth (the unit of ``t_m``).

    References
    ----------
    .. [1] Carslaw & Jaeger, Conduction of Heat in Solids, 2nd ed., 1959, §11.2.

    Examples
    --------
    >>> args = (1.8e6, 2.0, 3.6e6, 0.5, 3.0e8, -1.0, 37.0, -88.5)
    >>> neumann_temperature(np.array([0.0, 1.0]), 600.0, *args).round(2).tolist()
    [-88.5, 37.0]
    """
    lam = neumann_lambda(c_s, k_s, c_l, k_l, latent, t_m, t_i, t_0)
    a_s, a_l = k_s / c_s, k_l / c_l
    x = np.asarray(x, float)
    front = 2 * lam * math.sqrt(a_s * t)
    solid = t_0 + (t_m - t_0) * erf(x / (2 * np.sqrt(a_s * t))) / math.erf(lam)
    liquid = t_i - (t_i - t_m) * erfc(x / (2 * np.sqrt(a_l * t))) / math.erfc(lam * math.sqrt(a_s / a_l))
    return np.where(x < front, solid, liquid)


def line_sink_lambda(q: float, c_s: float, k_s: float, c_l: float, k_l: float, latent: float,
                     t_m: float, t_i: float) -> float:
    """Freezing around a line heat sink of strength q (W/m) from t = 0 (Carslaw & Jaeger 1959,
    §11.2 eq. (29); Paterson, Proc Glasgow Math Assoc 1 (1952) 42):
    (q/4 pi) e^(-l^2) + k_l (T_i - T_m) e^(-l^2 a_s/a_l) / Ei(-l^2 a_s/a_l) = l^2 a_s L;
    front R = 2 l sqrt(a_s t).

    Parameters
    ----------
    q : float
        Strength of the line sink, heat taken per metre [W/m].
    c_s : float
        Volumetric heat capacity of the frozen phase [J/(m^3 K)].
    k_s : float
        Thermal conductivity of the frozen phase [W/(m K)].
    c_l : float
        Volumetric heat capacity of the unfrozen phase [J/(m^3 K)].
    k_l : float
        Thermal conductivity of the unfrozen phase [W/(m K)].
    latent : float
        Volumetric latent heat [J/m^3].
    t_m : float
        Phase-change temperature [any temperature unit, consistently].
    t_i : float
        Initial temperature (same unit as ``t_m``).

    Returns
    -------
    float
        lambda [-].

    References
    ----------
    .. [1] Carslaw & Jaeger, Conduction of Heat in Solids, 2nd ed., 1959, §11.2, eq. (29).
    .. [2] Paterson, Proc Glasgow Math Assoc 1 (1952) 42.

    Examples
    --------
    >>> round(line_sink_lambda(300.0, 1.8e6, 2.0, 3.6e6, 0.5, 3.0e8, -1.0, 37.0), 5)
    0.16962
    """
    a_s, a_l = k_s / c_s, k_l / c_l
    ratio = a_s / a_l

    def f(lam: float) -> float:
        x = lam * lam
        return (q / (4 * math.pi) * math.exp(-x)
                + k_l * (t_i - t_m) * math.exp(-x * ratio) / expi(-x * ratio)
                - x * a_s * latent)

    return brentq(f, 1e-6, 5.0, xtol=1e-14)


def line_sink_temperature(r: np.ndarray, t: float, q: float, c_s: float, k_s: float, c_l: float,
                          k_l: float, latent: float, t_m: float, t_i: float) -> np.ndarray:
    """Temperature of the line-sink solution at radius r and time t.

    Parameters
    ----------
    r : numpy.ndarray
        Distance from the line sink [m], > 0.
    t : float
        Time since the sink started [s], > 0.
    q : float
        Strength of the line sink [W/m].
    c_s : float
        Volumetric heat capacity of the frozen phase [J/(m^3 K)].
    k_s : float
        Thermal conductivity of the frozen phase [W/(m K)].
    c_l : float
        Volumetric heat capacity of the unfrozen phase [J/(m^3 K)].
    k_l : float
        Thermal conductivity of the unfrozen phase [W/(m K)].
    latent : float
        Volumetric latent heat [J/m^3].
    t_m : float
        Phase-change temperature [any temperature unit, consistently].
    t_i : float
        Initial temperature (same unit as ``t_m``).

    Returns
    -------
    numpy.ndarray
        Temperature at each radius (the unit of ``t_m``).

    References
    ----------
    .. [1] Carslaw & Jaeger, Conduction of Heat in Solids, 2nd ed., 1959, §11.2, eq. (29).
    .. [2] Paterson, Proc Glasgow Math Assoc 1 (1952) 42.
    """
    lam = line_sink_lambda(q, c_s, k_s, c_l, k_l, latent, t_m, t_i)
    a_s, a_l = k_s / c_s, k_l / c_l
    r = np.asarray(r, float)
    front = 2 * lam * math.sqrt(a_s * t)
    frozen = t_m + q / (4 * math.pi * k_s) * (expi(-r * r / (4 * a_s * t)) - expi(-lam * lam))
    unfrozen = t_i - (t_i - t_m) * expi(-r * r / (4 * a_l * t)) / expi(-lam * lam * a_s / a_l)
    return np.where(r < front, frozen, unfrozen)


def steady_radius(a: float, t_p: float, t_a: float, t_m: float, k_s: float, k_l: float,
                  perfusion_w_per_m3_k: float) -> tuple[float, float]:
    """Steady ice-ball radius (cylinder, sphere) around a probe of radius a held at t_p with
    perfusion only in unfrozen tissue, delta = sqrt(k_l / (w_b rho_b c_b)) (Rubinsky & Pegg,
    Proc R Soc Lond B 234 (1988) 343):
    cylinder: k_s (T_m - T_p) / (R ln(R/a)) = k_l (T_a - T_m) K1(R/delta) / (delta K0(R/delta));
    sphere:   k_s (T_m - T_p) / (R^2 (1/a - 1/R)) = k_l (T_a - T_m) (1/R + 1/delta).

    Parameters
    ----------
    a : float
        Probe radius [m].
    t_p : float
        Probe surface temperature [°C or K, as the other temperatures].
    t_a : float
        Arterial (and far-field) temperature (same unit).
    t_m : float
        Phase-change temperature (same unit).
    k_s : float
        Conductivity of frozen tissue [W/(m K)].
    k_l : float
        Conductivity of unfrozen tissue [W/(m K)].
    perfusion_w_per_m3_k : float
        Perfusion w_b rho_b c_b [W/(m^3 K)].

    Returns
    -------
    cylinder : float
        Steady radius around a cylindrical probe [m].
    sphere : float
        Steady radius around a spherical probe [m].

    References
    ----------
    .. [1] Rubinsky & Pegg, Proc R Soc Lond B 234 (1988) 343.

    Examples
    --------
    >>> [round(r * 1e3, 2) for r in steady_radius(1.2e-3, -88.5, 37.0, -1.0, 2.0, 0.5, 4e4)]
    [12.32, 5.52]
    """
    delta = math.sqrt(k_l / perfusion_w_per_m3_k)

    def cyl(r: float) -> float:
        return (k_s * (t_m - t_p) / (r * math.log(r / a))
                - k_l * (t_a - t_m) * k1(r / delta) / (delta * k0(r / delta)))

    def sph(r: float) -> float:
        return k_s * (t_m - t_p) / (r * r * (1 / a - 1 / r)) - k_l * (t_a - t_m) * (1 / r + 1 / delta)

    return brentq(cyl, a * 1.0001, 100 * delta), brentq(sph, a * 1.0001, 100 * delta)
