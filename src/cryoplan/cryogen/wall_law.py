"""The inside of a probe's active segment as the thermal kernels see it: regime coefficients and
the cryogen's state tables (built by ``cryoplan.cryogen.operation``, read by
``cryoplan.thermal.kernel``). Numpy only, so the compiled kernel can share the indices without
importing the fluid libraries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# positions in WallLaw.params
(P_T_SAT, P_H_LIQUID, P_H_LIQUID_TIP, P_MASS_FLUX, P_H_FG, P_RE_LIQUID, P_MARTINELLI, P_COOPER,
 P_H_VAPOUR, P_FILM, P_T_LEIDENFROST, P_Q_CHF, P_R_SIDE, P_RATIO_SIDE, P_R_TIP, P_R_SHAFT,
 P_FILM_FORCED) = range(17)
N_PARAMS = 17

#: Boiling regimes of a wall face.
DRY, NUCLEATE, FILM = 0, 1, 2
#: Kinds of wall face: the active segment's side, the closed end, the shaft above the active
#: segment (cooled by the returning exhaust through its insulation).
FACE_SIDE, FACE_TIP, FACE_SHAFT = 0, 1, 2


@dataclass(frozen=True)
class WallLaw:
    """Regime coefficients (``params``, indices ``P_*``: boiling temperature K; liquid-only
    coefficients of the wall and the end face, W/(m2 K); mass flux kg/(m2 s); latent heat J/kg;
    liquid-only Reynolds number; Lockhart-Martinelli factor; Cooper coefficient; dry-gas
    coefficient W/(m2 K); Bromley film constant W/(m2 K^0.75); forced-convection film constant
    W/(m2 K^0.5); Leidenfrost temperature K; critical
    heat flux W/m2; wall resistances m2 K/W and inner/outer radius ratio; the shaft insulation's
    resistance m2 K/W) and the cryogen's
    temperature (K) and vapour quality against the enthalpy it has absorbed since the tip (J/kg;
    quality >= 1: dry gas)."""

    params: np.ndarray
    absorbed: np.ndarray
    temperature: np.ndarray
    quality: np.ndarray

    @classmethod
    def fixed(cls, h_vapour: float = 0.0) -> WallLaw:
        """A placeholder for probes without a cryogen (fixed temperature or heat flow): a dry gas
        law of coefficient ``h_vapour`` (used by an active thaw).

        Parameters
        ----------
        h_vapour : float, optional
            Dry-gas heat-transfer coefficient [W/(m2 K)] (default 0).

        Returns
        -------
        WallLaw
            A law with no boiling: infinite critical heat flux and shaft resistance, the cryogen at
            293.15 K and quality 1 whatever it absorbs.

        Examples
        --------
        >>> float(WallLaw.fixed(50.0).params[P_H_VAPOUR])
        50.0
        """
        params = np.zeros(N_PARAMS)
        params[P_H_VAPOUR] = h_vapour
        params[P_RATIO_SIDE] = 1.0
        params[P_Q_CHF] = np.inf
        params[P_R_SHAFT] = np.inf
        return cls(params, np.array([0.0, 1.0]), np.array([293.15, 293.15]), np.array([1.0, 1.0]))
