"""Conduction block of a nerve as a probability, from the coldest temperature of its points.

A lasting block is Wallerian degeneration of every axon distal to a cross-section where all
axons die (Waller 1850); to count, the whole cross-section must die over at least
``min_block_length_m`` of nerve (the internodes an acute conduction block of the pain fibres
needs; data/injury.toml [block]). Below -20 C the axons die whatever the duration, the cycles or
how much colder (Evans, Lloyd & Green, Br J Anaesth 53 (1981) 1121); between the freezing point
and -20 C the outcome is unpredictable. cryoplan reads that as an unknown kill temperature T*
of the nerve, uniform between the two (``thresholds.kill_probability``): a cross-section dies
when its warmest point got colder than T*, and since T* is one number per nerve,

    P(block) = P(T* >= T_block),
    T_block  = min over stretches of length >= L_min of (max over the stretch of T_section),

the warmest point of the coldest stretch ("block temperature"). Longer freezing, more cycles or
a colder probe change P(block) only while T_block is above -20 C.

>>> s = np.linspace(0.0, 4e-3, 9)  # stations every 0.5 mm
>>> p = np.array([0, 0.2, 1, 1, 1, 0.6, 0, 0, 0])
>>> window_probability(p, s, 1e-3)  # the best 1 mm stretch: stations 2-4
(1.0, 2, 4)
>>> window_probability(p, s, 1.5e-3)[0]  # stations 2-5 (or 1-4): the weakest is 0.6
0.6
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _span(s: np.ndarray, length: float) -> int:
    """Number of station steps a stretch of ``length`` (m) covers (stations evenly spaced)."""
    if len(s) < 2:
        return 0
    ds = (s[-1] - s[0]) / (len(s) - 1)
    return min(len(s) - 1, int(np.ceil((length - 1e-12) / ds - 1e-9)))


def window_probabilities(section_p: np.ndarray, s: np.ndarray, length: float) -> np.ndarray:
    """P(block) of every stretch of ``length`` (m): the least probability of its stations,
    for sections (..., n) at evenly spaced arc lengths ``s`` (n,); shape (..., n - span).

    Parameters
    ----------
    section_p : numpy.ndarray, shape (..., n)
        Probability that each cross-section dies [-].
    s : numpy.ndarray, shape (n,)
        Arc length of each station along the nerve [m], evenly spaced.
    length : float
        Shortest stretch whose death blocks the nerve [m].

    Returns
    -------
    numpy.ndarray, shape (..., n - span)
        Block probability of the stretch that starts at each station [-].

    References
    ----------
    .. [1] Evans, Lloyd & Green, Br J Anaesth 53 (1981) 1121.

    Examples
    --------
    >>> window_probabilities(np.array([0.0, 1.0, 1.0, 0.5]), np.array([0.0, 1e-3, 2e-3, 3e-3]), 1e-3)
    array([0. , 1. , 0.5])
    """
    w = _span(s, length) + 1
    return sliding_window_view(section_p, w, axis=-1).min(axis=-1)


def window_probability(section_p: np.ndarray, s: np.ndarray, length: float) -> tuple[float, int, int]:
    """The nerve's P(block) and the first and last station of the stretch that gives it.

    Parameters
    ----------
    section_p : array (n,)
        Probability that each cross-section dies (its warmest point's kill probability).
    s : array (n,)
        Arc length of each station along the nerve (m), evenly spaced.
    length : float
        Shortest stretch whose death blocks the nerve (m).

    Returns
    -------
    (float, int, int)
        Block probability, first and last station index of the deciding stretch.

    References
    ----------
    .. [1] Evans, Lloyd & Green, Br J Anaesth 53 (1981) 1121.
    """
    windows = window_probabilities(section_p, s, length)
    k = int(np.argmax(windows))
    return float(windows[k]), k, k + _span(s, length)
