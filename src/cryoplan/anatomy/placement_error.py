"""Needle placement error: the per-axis spread of a probe tip about where it was aimed, from a
published mean miss distance (CT-guided) or a 95 % radius (stimulation-guided), with the cited
defaults of data/anatomy.toml [placement].

>>> round(sigma_from_mean_error(3.3e-3) * 1e3, 3)
2.068
>>> placement_sigma("stimulation", None) < placement_sigma("ct", None)
True
"""

from __future__ import annotations

import math

from cryoplan.anatomy.labels import anatomy_data


def sigma_from_mean_error(mean_error: float) -> float:
    """Per-axis standard deviation of an isotropic 3D Gaussian error of a given mean length.

    The length of such an error follows a Maxwell distribution, whose mean is
    2 sigma sqrt(2 / pi).

    Parameters
    ----------
    mean_error : float
        Mean distance between the tip and its aim [m].

    Returns
    -------
    float
        Per-axis standard deviation [m].
    """
    return mean_error / (2.0 * math.sqrt(2.0 / math.pi))


def sigma_from_radius95(radius: float) -> float:
    """Per-axis standard deviation of a 2D Gaussian error that stays within ``radius`` in 95 %
    of placements.

    Rayleigh distribution: P(r < R) = 1 - exp(-R^2 / 2 sigma^2).

    Parameters
    ----------
    radius : float
        Radius holding 95 % of the tips [m].

    Returns
    -------
    float
        Per-axis standard deviation [m].
    """
    return radius / math.sqrt(-2.0 * math.log(0.05))


def placement_sigma(kind: str, mean_error_mm: float | None) -> float:
    """Per-axis placement error of a plan: a given mean error, or the cited default of ``kind``.

    Parameters
    ----------
    kind : str
        ``"ct"`` (CT-guided: Busser et al. 2013's mean miss) or ``"stimulation"`` (a tip within
        data/anatomy.toml's radius in 95 % of placements).
    mean_error_mm : float or None
        A mean miss distance that replaces the default [mm].

    Returns
    -------
    float
        Per-axis standard deviation [m].

    References
    ----------
    Busser WMH et al., Br J Radiol 86 (2013) 20130310 (the CT default; data/anatomy.toml).
    """
    data = anatomy_data()["placement"]
    if mean_error_mm is not None:
        return sigma_from_mean_error(mean_error_mm * 1e-3)
    if kind == "stimulation":
        return sigma_from_radius95(data["stimulation"]["radius95_mm"] * 1e-3)
    return sigma_from_mean_error(data["error_mm"] * 1e-3)
