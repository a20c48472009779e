"""Sunderland grade of nerve tissue from its thermal history (thresholds in ``thresholds.py``). ::

    0 none          never colder than the neurapraxia threshold
    1 neurapraxia   frozen, but not cold enough or not long enough for axonotmesis: a short,
                    transient block (Evans et al., Br J Anaesth 53 (1981) 1121)
    2 axonotmesis   colder than the axonotmesis threshold (-20 C) for the minimum time over the
                    minimum number of freezes: Wallerian degeneration with the endoneurium and
                    Schwann-cell tubes intact, so the axon regrows (the therapeutic lesion)
    3 neurotmesis risk  colder than the neurotmesis threshold (-100 C): connective tissue at
                    risk, regrowth not reliable, neuroma possible

Grades are monotone by construction: colder or longer never lowers a grade.

>>> import numpy as np
>>> from cryoplan.injury.thresholds import default_thresholds
>>> th = default_thresholds()
>>> tmin = np.array([300.0, 270.0, 250.0, 160.0])
>>> below = {k: np.where(tmin <= k, 60.0, 0.0) for k in th.history_temperatures}
>>> grade(tmin, below, np.ones(4, int), th).tolist()
[0, 1, 2, 3]
"""

from __future__ import annotations

import numpy as np

from cryoplan.injury.thresholds import InjuryThresholds

GRADE_NAMES = {0: "none", 1: "neurapraxia", 2: "axonotmesis", 3: "neurotmesis risk"}


def seconds_below(below: dict[float, np.ndarray], temperature: float) -> np.ndarray:
    """The time-below series recorded for ``temperature`` (K).

    Parameters
    ----------
    below : dict of float to numpy.ndarray
        Time spent below each recorded threshold [s], keyed by the threshold [K].
    temperature : float
        The threshold wanted [K], matched within 1e-6 K.

    Returns
    -------
    numpy.ndarray
        Time below ``temperature`` [s].

    Raises
    ------
    KeyError
        When the history has no series for ``temperature``.

    Examples
    --------
    >>> seconds_below({253.15: np.array([30.0])}, 253.15).tolist()
    [30.0]
    """
    for key, value in below.items():
        if abs(key - temperature) < 1e-6:
            return value
    raise KeyError(f"the thermal history has no time below {temperature - 273.15:g} C")


def grade(min_temperature: np.ndarray, below: dict[float, np.ndarray], freeze_cycles: np.ndarray,
          th: InjuryThresholds) -> np.ndarray:
    """Sunderland grade 0-3 per point.

    Parameters
    ----------
    min_temperature : numpy.ndarray
        Coldest temperature reached at each point [K].
    below : dict of float to numpy.ndarray
        Time below each threshold at each point [s], keyed by the threshold [K]
        (``th.history_temperatures``).
    freeze_cycles : numpy.ndarray
        Number of freezes at each point [-].
    th : InjuryThresholds
        Thresholds [K], minimum dwell [s] and minimum cycles [-].

    Returns
    -------
    numpy.ndarray of int
        Grade 0-3 per point, the shape of ``min_temperature``.

    References
    ----------
    .. [1] Evans et al., Br J Anaesth 53 (1981) 1121.
    """
    g = np.zeros(np.shape(min_temperature), dtype=int)
    g[min_temperature <= th.neurapraxia_below_k] = 1
    cold_long = (seconds_below(below, th.axonotmesis_below_k) >= th.axonotmesis_min_seconds) & (
        min_temperature <= th.axonotmesis_below_k)
    g[cold_long & (freeze_cycles >= th.axonotmesis_min_cycles)] = 2
    g[min_temperature <= th.neurotmesis_below_k] = 3
    return g
