"""How blood flow responds to cold: the weight the kernels give a cell's Pennes perfusion term.

Two models (``[tissue] perfusion`` of the procedure file):

* ``constant`` (the default, and the one the verification uses): w = w_0 f(T), with f the unfrozen
  fraction of ``cryoplan.tissue.enthalpy``, so the flow is unchanged down to the liquidus and fades
  across the freezing range (Pennes, J Appl Physiol 1 (1948) 93, with perfusion stopped in frozen
  tissue as in Rabin & Shitzer, J Biomech Eng 120 (1998) 32).
* ``temperature-dependent``: the flow falls as the tissue cools and stops where it freezes, and a
  cell that has once reached the liquidus stays unperfused for the rest of the run::

      w = 0                                              if min_t T <= T_l (stasis)
      w = w_0 (T - T_l) / (T_ref - T_l)  clipped to [0, 1]  otherwise,
      T_ref = min(T_a, T_start)

  Blood flow falls on cooling (vasoconstriction) and stops in frozen tissue; after the thaw the
  frozen region's microcirculation does not recover (endothelial damage, platelet aggregation and
  microthrombi: vascular stasis within hours) (Gage AA & Baust JG, Mechanisms of tissue injury in
  cryosurgery, Cryobiology 37 (1998) 171). Stasis lasts far longer than a procedure, so it is kept
  to the run's end. *Assumption*: the flow's fall between the two cited end states (full flow at
  rest, none at the freezing point) is taken linear in temperature, the simplest monotone
  continuous form; no source here gives its shape. It starts at the arterial temperature T_a, or
  at the cell's start temperature where that is lower (tissue already cooled by the skin's air is
  at its resting flow, so a steady start stays steady). The memory is the coldest temperature so
  far, which the thermal history already keeps (``ThermalHistory.min_temperature``).

Metabolism is not changed by either model: it stays weighted by the unfrozen fraction.

>>> import numpy as np
>>> from cryoplan.tissue.library import get_tissue
>>> p = get_tissue("muscle").row()[None, :]
>>> t_l, t_a = p[0, T_L], 310.15
>>> [round(perfusion_weight(t, 1.0, t, t_a, TEMPERATURE_DEPENDENT, p, 0), 3)
...  for t in (t_a + 1, t_a, 0.5 * (t_a + t_l), t_l)]
[1.0, 1.0, 0.5, 0.0]
>>> perfusion_weight(t_a, 1.0, t_l - 0.1, t_a, TEMPERATURE_DEPENDENT, p, 0)  # thawed after freezing
0.0
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cryoplan.tissue.enthalpy import T_ARTERIAL, T_L

#: The perfusion models, as ``[tissue] perfusion`` names them; their index is the kernels' code.
PERFUSION_MODELS = ("constant", "temperature-dependent")
CONSTANT, TEMPERATURE_DEPENDENT = 0, 1
#: The model of a procedure or plan that names none: blood flow does fall in cold tissue and stops
#: for good where it froze (Gage & Baust 1998), so the constant flow, which overstates the heat
#: sink of perfused tissue, is kept for verification and comparison only.
DEFAULT_MODEL = "temperature-dependent"


def model_code(name: str) -> int:
    """The kernels' code of a perfusion model.

    Parameters
    ----------
    name : str
        One of ``PERFUSION_MODELS``.

    Returns
    -------
    int
        ``CONSTANT`` or ``TEMPERATURE_DEPENDENT``.

    Examples
    --------
    >>> model_code("constant"), model_code("temperature-dependent")
    (0, 1)
    """
    return PERFUSION_MODELS.index(name)


@njit(cache=True, inline="always")
def perfusion_weight(t: float, f: float, t_min: float, t_ref: float, mode: int, p: np.ndarray,
                     m: int) -> float:
    """The factor on the cell's perfusion term w_0 rho_b c_b (T_a - T).

    Parameters
    ----------
    t : float
        The cell's temperature [K].
    f : float
        Its unfrozen fraction [-] (``enthalpy.unfrozen_fraction``).
    t_min : float
        The coldest it has been so far [K].
    t_ref : float
        Where the temperature-dependent flow starts to fall [K] (``reference_temperatures``).
    mode : int
        ``CONSTANT`` or ``TEMPERATURE_DEPENDENT``.
    p : numpy.ndarray
        Material table (``cryoplan.tissue.enthalpy``; SI units).
    m : int
        Index of the cell's material in ``p``.

    Returns
    -------
    float
        The weight [-], in [0, 1]: ``f`` for the constant model; 0 after the cell has reached the
        liquidus, else (T - T_l) / (T_ref - T_l) clipped to [0, 1].

    References
    ----------
    .. [1] Gage AA & Baust JG, Cryobiology 37 (1998) 171 (flow stops in frozen tissue; stasis
       after the thaw). The linear fall between is an assumption (module docstring).
    """
    if mode == CONSTANT:
        return f
    t_l = p[m, T_L]
    if t_min <= t_l or t <= t_l:
        return 0.0
    if t >= t_ref:
        return 1.0
    return (t - t_l) / (t_ref - t_l)


def reference_temperatures(t_start: np.ndarray, material: np.ndarray, props: np.ndarray) -> np.ndarray:
    """Per cell, where the temperature-dependent flow starts to fall: its material's arterial
    temperature, or its start temperature where that is lower.

    Parameters
    ----------
    t_start : numpy.ndarray
        Each cell's temperature at the start [K].
    material : numpy.ndarray of int
        Each cell's material index (a row of ``props``), the shape of ``t_start``.
    props : numpy.ndarray
        Material table (``cryoplan.tissue.enthalpy``; SI units).

    Returns
    -------
    numpy.ndarray
        T_ref = min(T_a, T_start) per cell [K].

    Examples
    --------
    >>> props = np.zeros((1, 16)); props[0, T_ARTERIAL] = 310.15
    >>> reference_temperatures(np.array([306.0, 311.0]), np.zeros(2, dtype=int), props).tolist()
    [306.0, 310.15]
    """
    return np.minimum(props[:, T_ARTERIAL][material], t_start)
