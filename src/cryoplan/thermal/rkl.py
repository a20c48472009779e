"""Second-order Runge-Kutta-Legendre super-time-stepping (RKL2).

An s-stage explicit scheme for dy/dt = M(y) whose stability interval on the negative real axis
grows as s^2: a step tau is stable when tau <= dt_explicit (s^2 + s - 2) / 4, where dt_explicit
is the forward-Euler limit. Stages (Meyer, Balsara & Aslam, J Comput Phys 257 (2014) 594, eqs.
16-18):

    Y_0 = y^n,   Y_1 = Y_0 + mu~_1 tau M(Y_0)
    Y_j = mu_j Y_{j-1} + nu_j Y_{j-2} + (1 - mu_j - nu_j) Y_0 + mu~_j tau M(Y_{j-1}) + gamma~_j tau M(Y_0)
    y^{n+1} = Y_s

    b_0 = b_1 = b_2 = 1/3,  b_j = (j^2 + j - 2) / (2 j (j + 1)),  a_j = 1 - b_j
    mu~_1 = 4 / (3 (s^2 + s - 2)),  mu_j = (2j - 1)/j b_j/b_{j-1},  nu_j = -(j - 1)/j b_j/b_{j-2}
    mu~_j = mu_j 4 / (s^2 + s - 2),  gamma~_j = -a_{j-1} mu~_j

Each stage costs one evaluation of M, so s stages cover (s^2 + s - 2)/4 explicit steps.

>>> stages_for(1.0), stages_for(100.0)
(2, 20)
>>> c = coefficients(5)
>>> bool(abs(c.mu[3] + c.nu[3] + (1 - c.mu[3] - c.nu[3]) - 1) < 1e-15)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def stages_for(ratio: float) -> int:
    """Fewest stages s >= 2 with (s^2 + s - 2)/4 >= ratio = tau / dt_explicit.

    Parameters
    ----------
    ratio : float
        Super-step over the forward-Euler limit, tau / dt_explicit [-].

    Returns
    -------
    int
        Number of stages s.

    References
    ----------
    .. [1] Meyer, Balsara & Aslam, J Comput Phys 257 (2014) 594, eqs. 16-18.

    Examples
    --------
    >>> stages_for(1.0), stages_for(100.0)
    (2, 20)
    """
    return max(2, math.ceil(math.sqrt(4.0 * ratio + 2.25) - 0.5 - 1e-12))


def max_ratio(s: int) -> float:
    """Largest tau / dt_explicit that ``s`` stages keep stable.

    Parameters
    ----------
    s : int
        Number of stages.

    Returns
    -------
    float
        (s^2 + s - 2) / 4 [-].

    References
    ----------
    .. [1] Meyer, Balsara & Aslam, J Comput Phys 257 (2014) 594, eqs. 16-18.

    Examples
    --------
    >>> max_ratio(20)
    104.5
    """
    return (s * s + s - 2) / 4.0


@dataclass(frozen=True)
class Coefficients:
    """Stage coefficients, indexed by stage j = 1..s (index 0 unused)."""

    s: int
    mu: np.ndarray
    nu: np.ndarray
    mu_t: np.ndarray
    gamma_t: np.ndarray


@lru_cache(maxsize=64)
def coefficients(s: int) -> Coefficients:
    """The RKL2 stage coefficients of an ``s``-stage step.

    Parameters
    ----------
    s : int
        Number of stages, >= 2.

    Returns
    -------
    Coefficients
        mu, nu, mu~ and gamma~ per stage [-] (mu~ and gamma~ multiply tau M(Y)).

    References
    ----------
    .. [1] Meyer, Balsara & Aslam, J Comput Phys 257 (2014) 594, eqs. 16-18.
    """
    if s < 2:
        raise ValueError(f"RKL2 needs at least 2 stages, got {s}")
    w1 = 4.0 / (s * s + s - 2)
    b = np.array([1 / 3 if j < 2 else (j * j + j - 2) / (2 * j * (j + 1)) for j in range(s + 1)])
    a = 1.0 - b
    mu, nu, mu_t, gamma_t = (np.zeros(s + 1) for _ in range(4))
    mu_t[1] = w1 / 3.0
    for j in range(2, s + 1):
        mu[j] = (2 * j - 1) / j * b[j] / b[j - 1]
        nu[j] = -(j - 1) / j * b[j] / b[j - 2]
        mu_t[j] = mu[j] * w1
        gamma_t[j] = -a[j - 1] * mu_t[j]
    return Coefficients(s, mu, nu, mu_t, gamma_t)
