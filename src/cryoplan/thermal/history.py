"""Per-cell thermal history: what the injury models read from a run.

* ``min_temperature``: the coldest the cell got (K);
* ``seconds_below[k]``: total time at or below ``thresholds[k]``;
* ``cooling_rate``: mean cooling rate through the freezing range on the first freeze,
  (T_l - T_s) / (t(T_s) - t(T_l)) in K/s, from interpolated crossing times; NaN if the cell never
  froze through. Cooling rate decides between solution effects and intracellular ice
  (Mazur, Am J Physiol 247 (1984) C125);
* ``freeze_cycles``: how many times the cell froze (fell to the solidus after being above the
  liquidus), so a freeze-thaw-freeze protocol counts 2 where the tissue thawed in between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ThermalHistory:
    thresholds: np.ndarray
    min_temperature: np.ndarray
    seconds_below: np.ndarray
    liquidus_time: np.ndarray
    solidus_time: np.ndarray
    frozen: np.ndarray
    freeze_cycles: np.ndarray
    tissue: np.ndarray

    @classmethod
    def start(cls, temperature: np.ndarray, thresholds, tissue: np.ndarray) -> ThermalHistory:
        """The history of a run before its first step: nothing frozen, no time below a threshold.

        Parameters
        ----------
        temperature : numpy.ndarray
            Initial temperature per cell [K] (copied as the minimum so far).
        thresholds : sequence of float
            Temperatures whose time at or below is counted [K].
        tissue : numpy.ndarray of bool
            Tissue mask of the grid (the cells the history is for).

        Returns
        -------
        ThermalHistory
            Minimum temperatures [K], zero seconds below each threshold [s], no crossing times.
        """
        shape = temperature.shape
        return cls(
            thresholds=np.array(thresholds, dtype=float),
            min_temperature=temperature.copy(),
            seconds_below=np.zeros((len(thresholds), *shape)),
            liquidus_time=np.full(shape, np.nan),
            solidus_time=np.full(shape, np.nan),
            frozen=np.zeros(shape, dtype=np.bool_),
            freeze_cycles=np.zeros(shape, dtype=np.int64),
            tissue=tissue,
        )

    def cooling_rate(self, t_liquidus: float, t_solidus: float) -> np.ndarray:
        """K/s through the freezing range on the first freeze (NaN where it never froze).

        Parameters
        ----------
        t_liquidus : float
            Liquidus temperature, where freezing starts [K].
        t_solidus : float
            Solidus temperature, where freezing ends [K].

        Returns
        -------
        numpy.ndarray
            Mean cooling rate per cell, (T_l - T_s) / (t(T_s) - t(T_l)) [K/s]; NaN where the cell
            never froze through.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            dt = self.solidus_time - self.liquidus_time
            return np.where(dt > 0, (t_liquidus - t_solidus) / dt, np.nan)
