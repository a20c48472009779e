"""Injury thresholds as cited data (data/injury.toml), overridable per procedure.

>>> t = default_thresholds()
>>> round(t.axonotmesis_below_k - 273.15, 2), round(t.min_block_length_m * 1e3, 3)
(-20.0, 1.0)
>>> [round(float(p), 2) for p in kill_probability(c_to_k(np.array([0.0, -10.5, -20.0, -60.0])), t)]
[0.0, 0.5, 1.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from cryoplan.data import read_toml
from cryoplan.errors import InputError
from cryoplan.units import c_to_k


@dataclass(frozen=True)
class InjuryThresholds:
    """Sunderland grade thresholds (SI units); ``sources`` names where each one comes from.

    Grade 1 (neurapraxia): colder than ``neurapraxia_below_k``.
    Grade 2 (axonotmesis): colder than ``axonotmesis_below_k`` for ``axonotmesis_min_seconds`` in
    total over at least ``axonotmesis_min_cycles`` freezes.
    Grade 3 (risk of neurotmesis): colder than ``neurotmesis_below_k``.
    Conduction block: the whole cross-section killed over ``min_block_length_m`` of nerve
    (``cryoplan.injury.block``); a point is killed with ``kill_probability``.
    """

    neurapraxia_below_k: float
    axonotmesis_below_k: float
    axonotmesis_min_seconds: float
    axonotmesis_min_cycles: int
    neurotmesis_below_k: float
    min_block_length_m: float
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.neurotmesis_below_k < self.axonotmesis_below_k < self.neurapraxia_below_k:
            raise InputError(
                "injury",
                {"neurapraxia_below_c": round(self.neurapraxia_below_k - 273.15, 3),
                 "axonotmesis_below_c": round(self.axonotmesis_below_k - 273.15, 3),
                 "neurotmesis_below_c": round(self.neurotmesis_below_k - 273.15, 3)},
                "neurotmesis_below_c < axonotmesis_below_c < neurapraxia_below_c",
            )
        if self.axonotmesis_min_seconds < 0:
            raise InputError("injury.axonotmesis_min_seconds", self.axonotmesis_min_seconds, "a number >= 0")
        if self.axonotmesis_min_cycles < 1:
            raise InputError("injury.axonotmesis_min_cycles", self.axonotmesis_min_cycles, "an integer >= 1")
        if not self.min_block_length_m > 0:
            raise InputError("injury.min_block_length_mm", self.min_block_length_m * 1e3, "a number > 0")

    @property
    def history_temperatures(self) -> tuple[float, ...]:
        """The temperatures whose time-below the thermal history must record.

        Returns
        -------
        tuple of float
            Neurapraxia, axonotmesis and neurotmesis thresholds [K].

        Examples
        --------
        >>> [round(t - 273.15, 2) for t in default_thresholds().history_temperatures]
        [-1.0, -20.0, -100.0]
        """
        return (self.neurapraxia_below_k, self.axonotmesis_below_k, self.neurotmesis_below_k)


@lru_cache(maxsize=1)
def injury_data() -> dict:
    """The injury model's numbers and their sources, ``data/injury.toml`` (read once).

    Returns
    -------
    dict
        The TOML tables (thresholds in °C, durations in s, lengths in mm and um, cell parameters).
    """
    return read_toml("injury.toml")


def kill_probability(min_temperature: np.ndarray, th: InjuryThresholds) -> np.ndarray:
    """Probability that the axons at a point whose coldest temperature was ``min_temperature``
    (K) die: 0 where no ice formed (warmer than ``th.neurapraxia_below_k``), 1 at and below
    ``th.axonotmesis_below_k``, linear in between (Evans et al., Br J Anaesth 53 (1981) 1121:
    above -20 C the block is unpredictable; the linear curve is an assumption, data/injury.toml).

    Parameters
    ----------
    min_temperature : array of float
        Coldest temperature reached (K).
    th : InjuryThresholds
        The neurapraxia and axonotmesis thresholds (K).

    Returns
    -------
    array of float
        Probability in [0, 1], same shape.

    References
    ----------
    .. [1] Evans, Lloyd & Green, Br J Anaesth 53 (1981) 1121.

    Examples
    --------
    >>> kill_probability(np.array([273.15, 250.0]), default_thresholds()).tolist()
    [0.0, 1.0]
    """
    span = th.neurapraxia_below_k - th.axonotmesis_below_k
    return np.clip((th.neurapraxia_below_k - np.asarray(min_temperature, dtype=float)) / span, 0.0, 1.0)


def min_block_length_m() -> float:
    """The length of nerve whose whole cross-section must die for a lasting block (m): the
    (nodes - 1) internodes of the largest pain fibre, internode = ratio x fibre diameter.

    Returns
    -------
    float
        Minimum block length [m]: (3 - 1) x 100 x 5 um = 1.0 mm with the data's numbers.

    References
    ----------
    .. [1] Franz DN & Perry RS, J Physiol 236 (1974) 193-210 (three consecutive inexcitable nodes).
    .. [2] Vizoso AD & Young JZ, J Anat 82 (1948) 110-134; Rushton WAH, J Physiol 115 (1951)
       101-122 (internode about 100 fibre diameters).

    Examples
    --------
    >>> round(min_block_length_m() * 1e3, 3)
    1.0
    """
    b = injury_data()["block"]
    internode_um = b["internode_per_fibre_diameter"] * b["pain_fibre_max_diameter_um"]
    return (b["nodes_required"] - 1) * internode_um * 1e-6


def default_thresholds() -> InjuryThresholds:
    """The thresholds of ``data/injury.toml``, each with its source.

    Returns
    -------
    InjuryThresholds
        Thresholds [K], minimum dwell [s], minimum freeze cycles [-] and minimum block length [m].

    References
    ----------
    .. [1] Evans, Lloyd & Green, Br J Anaesth 53 (1981) 1121.

    Examples
    --------
    >>> round(default_thresholds().neurotmesis_below_k - 273.15, 2)
    -100.0
    """
    d = injury_data()
    return InjuryThresholds(
        neurapraxia_below_k=c_to_k(d["neurapraxia"]["below_c"]),
        axonotmesis_below_k=c_to_k(d["axonotmesis"]["below_c"]),
        axonotmesis_min_seconds=d["axonotmesis"]["min_seconds"],
        axonotmesis_min_cycles=d["axonotmesis"]["min_freeze_cycles"],
        neurotmesis_below_k=c_to_k(d["neurotmesis"]["below_c"]),
        min_block_length_m=min_block_length_m(),
        sources={
            "neurapraxia_below_c": d["neurapraxia"]["source"],
            "axonotmesis_below_c": d["axonotmesis"]["source"],
            "axonotmesis_min_seconds": d["axonotmesis"]["min_seconds_source"],
            "axonotmesis_min_cycles": d["axonotmesis"]["min_freeze_cycles_source"],
            "neurotmesis_below_c": d["neurotmesis"]["source"],
            "min_block_length_mm": "(nodes_required - 1) x internode_per_fibre_diameter x "
                                   f"pain_fibre_max_diameter_um: {d['block']['nodes_source']}; "
                                   f"{d['block']['internode_source']}; {d['block']['pain_fibre_source']}",
            "block_probability": d["block"]["probability_curve_source"],
        },
    )


def with_overrides(base: InjuryThresholds, **given: float | int | None) -> InjuryThresholds:
    """``base`` with the procedure file's [injury] values (degrees C and mm) replacing defaults;
    an overridden value's source becomes "given in the procedure file".

    Parameters
    ----------
    base : InjuryThresholds
        The thresholds to start from.
    **given : float or int or None
        Any of ``neurapraxia_below_c``, ``axonotmesis_below_c``, ``neurotmesis_below_c`` [°C],
        ``axonotmesis_min_seconds`` [s], ``axonotmesis_min_cycles`` [-], ``min_block_length_mm``
        [mm]; None keeps the base value.

    Returns
    -------
    InjuryThresholds
        The thresholds in SI units [K, s, m].

    Examples
    --------
    >>> t = with_overrides(default_thresholds(), axonotmesis_below_c=-25.0, min_block_length_mm=None)
    >>> round(t.axonotmesis_below_k - 273.15, 2), t.sources["axonotmesis_below_c"]
    (-25.0, 'given in the procedure file')
    """
    convert = {
        "neurapraxia_below_c": ("neurapraxia_below_k", c_to_k),
        "axonotmesis_below_c": ("axonotmesis_below_k", c_to_k),
        "axonotmesis_min_seconds": ("axonotmesis_min_seconds", float),
        "axonotmesis_min_cycles": ("axonotmesis_min_cycles", int),
        "neurotmesis_below_c": ("neurotmesis_below_k", c_to_k),
        "min_block_length_mm": ("min_block_length_m", lambda mm: mm * 1e-3),
    }
    changes, sources = {}, dict(base.sources)
    for key, value in given.items():
        if value is None:
            continue
        attr, fn = convert[key]
        changes[attr] = fn(value)
        sources[key] = "given in the procedure file"
    return replace(base, **changes, sources=sources)


def default_nerve_diameter_m() -> float:
    """The default nerve diameter, a lumbar medial branch.

    Returns
    -------
    float
        Diameter [m].

    References
    ----------
    .. [1] Bogduk N, Clinical and radiological anatomy of the lumbar spine, 5th ed., 2012, ch. 12
       (cited in ``data/injury.toml`` for an assumed diameter of about 1 mm).

    Examples
    --------
    >>> default_nerve_diameter_m()
    0.001
    """
    return injury_data()["nerve"]["medial_branch_diameter_mm"] * 1e-3
