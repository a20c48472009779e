"""Phase-change material model of freezing tissue, as small compiled functions.

Volumetric enthalpy H (J/m^3, zero at the solidus T_s) with the latent heat L released linearly
over the freezing range [T_s, T_l] and sensible heat there at the mean capacity (Voller, Swaminathan
& Thomas, Int J Numer Meth Eng 30 (1990) 875):

    H(T) = C_f (T - T_s)                       T <= T_s
    H(T) = C_m (T - T_s),  C_m = (C_f + C_u)/2 + L/(T_l - T_s)
    H(T) = C_m (T_l - T_s) + C_u (T - T_l)     T >= T_l

Conductivity is linear in the unfrozen fraction f = clip((T - T_s)/(T_l - T_s), 0, 1):
k = k_f + (k_u - k_f) f; perfusion and metabolism are weighted by f, so they stop in frozen
tissue. The Kirchhoff variable u(T) = int_{T_s}^T k dT is closed form, and a face flux
G (u_P - u_N) is exact for steady conduction across any conductivity change (Carslaw & Jaeger,
Conduction of Heat in Solids, 2nd ed., 1959, §1.7).

A material is one float64 row (see ``ROW``) of a table ``p``; the compiled functions take the
table and a material index ``m`` (passing row views costs ~5x in the kernel's inner loop).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Layout of a material row.
C_F, C_U, C_M, T_S, T_L, K_F, K_U, H_L, U_L, PERFUSION, METABOLIC, T_ARTERIAL = range(12)
# reciprocals, so the kernel multiplies instead of dividing (divisions dominate its cost)
INV_C_F, INV_C_U, INV_C_M, INV_RANGE = range(12, 16)
ROW = 16


@njit(cache=True, inline="always")
def temperature(h: float, p: np.ndarray, m: int) -> float:
    """T(H), the three linear branches inverted.

    Parameters
    ----------
    h : float
        Volumetric enthalpy [J/m^3], zero at the solidus.
    p : numpy.ndarray
        Material table, one row of ``ROW`` float64 values per material (layout in ``ROW``; SI units).
    m : int
        Index of the material's row in ``p``.

    Returns
    -------
    float
        Temperature [K].

    References
    ----------
    .. [1] Voller, Swaminathan & Thomas, Int J Numer Meth Eng 30 (1990) 875.
    """
    if h <= 0.0:
        return p[m, T_S] + h * p[m, INV_C_F]
    if h < p[m, H_L]:
        return p[m, T_S] + h * p[m, INV_C_M]
    return p[m, T_L] + (h - p[m, H_L]) * p[m, INV_C_U]


@njit(cache=True, inline="always")
def enthalpy(t: float, p: np.ndarray, m: int) -> float:
    """H(T).

    Parameters
    ----------
    t : float
        Temperature [K].
    p : numpy.ndarray
        Material table, one row of ``ROW`` float64 values per material (layout in ``ROW``; SI units).
    m : int
        Index of the material's row in ``p``.

    Returns
    -------
    float
        Volumetric enthalpy [J/m^3], zero at the solidus.

    References
    ----------
    .. [1] Voller, Swaminathan & Thomas, Int J Numer Meth Eng 30 (1990) 875.
    """
    if t <= p[m, T_S]:
        return p[m, C_F] * (t - p[m, T_S])
    if t < p[m, T_L]:
        return p[m, C_M] * (t - p[m, T_S])
    return p[m, H_L] + p[m, C_U] * (t - p[m, T_L])


@njit(cache=True, inline="always")
def unfrozen_fraction(t: float, p: np.ndarray, m: int) -> float:
    """f in [0, 1]: 0 frozen (below the solidus), 1 unfrozen (above the liquidus).

    f = clip((T - T_s)/(T_l - T_s), 0, 1).

    Parameters
    ----------
    t : float
        Temperature [K].
    p : numpy.ndarray
        Material table, one row of ``ROW`` float64 values per material (layout in ``ROW``; SI units).
    m : int
        Index of the material's row in ``p``.

    Returns
    -------
    float
        Unfrozen fraction [-], in [0, 1].
    """
    f = (t - p[m, T_S]) * p[m, INV_RANGE]
    return min(1.0, max(0.0, f))


@njit(cache=True, inline="always")
def conductivity(t: float, p: np.ndarray, m: int) -> float:
    """k(T) = k_f + (k_u - k_f) f.

    Parameters
    ----------
    t : float
        Temperature [K].
    p : numpy.ndarray
        Material table, one row of ``ROW`` float64 values per material (layout in ``ROW``; SI units).
    m : int
        Index of the material's row in ``p``.

    Returns
    -------
    float
        Thermal conductivity [W/m/K].
    """
    return p[m, K_F] + (p[m, K_U] - p[m, K_F]) * unfrozen_fraction(t, p, m)


@njit(cache=True, inline="always")
def kirchhoff(t: float, p: np.ndarray, m: int) -> float:
    """u(T) = integral of k from T_s to T (W/m).

    Closed form over the three branches of k(T); a face flux G (u_P - u_N) is exact for steady
    conduction across any conductivity change.

    Parameters
    ----------
    t : float
        Temperature [K].
    p : numpy.ndarray
        Material table, one row of ``ROW`` float64 values per material (layout in ``ROW``; SI units).
    m : int
        Index of the material's row in ``p``.

    Returns
    -------
    float
        Kirchhoff variable [W/m], zero at the solidus.

    References
    ----------
    .. [1] Carslaw & Jaeger, Conduction of Heat in Solids, 2nd ed., 1959, §1.7.
    """
    x = t - p[m, T_S]
    if x <= 0.0:
        return p[m, K_F] * x
    if x * p[m, INV_RANGE] < 1.0:
        return p[m, K_F] * x + 0.5 * (p[m, K_U] - p[m, K_F]) * x * x * p[m, INV_RANGE]
    return p[m, U_L] + p[m, K_U] * (t - p[m, T_L])


@njit(cache=True)
def temperature_array(h: np.ndarray, row: np.ndarray) -> np.ndarray:
    """T(H) of an array of one material (given as its row).

    Parameters
    ----------
    h : numpy.ndarray
        Volumetric enthalpies [J/m^3], zero at the solidus; any shape.
    row : numpy.ndarray
        The material's row, ``ROW`` float64 values (``Tissue.row()``).

    Returns
    -------
    numpy.ndarray
        Temperatures [K], the shape of ``h``.

    References
    ----------
    .. [1] Voller, Swaminathan & Thomas, Int J Numer Meth Eng 30 (1990) 875.
    """
    p = row.reshape(1, -1)
    out = np.empty(h.size)
    flat_h = h.ravel()
    for i in range(flat_h.size):
        out[i] = temperature(flat_h[i], p, 0)
    return out.reshape(h.shape)


@njit(cache=True)
def enthalpy_array(t: np.ndarray, row: np.ndarray) -> np.ndarray:
    """H(T) of an array of one material (given as its row).

    Parameters
    ----------
    t : numpy.ndarray
        Temperatures [K]; any shape.
    row : numpy.ndarray
        The material's row, ``ROW`` float64 values (``Tissue.row()``).

    Returns
    -------
    numpy.ndarray
        Volumetric enthalpies [J/m^3], zero at the solidus, the shape of ``t``.

    References
    ----------
    .. [1] Voller, Swaminathan & Thomas, Int J Numer Meth Eng 30 (1990) 875.
    """
    p = row.reshape(1, -1)
    out = np.empty(t.size)
    flat_t = t.ravel()
    for i in range(flat_t.size):
        out[i] = enthalpy(flat_t[i], p, 0)
    return out.reshape(t.shape)
