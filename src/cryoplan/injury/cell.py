"""Why cold kills, cell by cell: water loss (Mazur) and intracellular ice (Toner).

As ice forms outside a cell, the remaining extracellular solution concentrates; water leaves the
cell through its membrane at a finite rate (Mazur P, J Gen Physiol 47 (1963) 347, eq. 19):

    dV/dt = (L_p A R T / v_w) [ln a_out(T) - ln x_in(V)]
    ln a_out(T) = (dH_f / R) (1/T_m - 1/T)        (water activity in equilibrium with ice)
    x_in(V) = n_w / (n_w + n_s),  n_w = (V - V_b) / v_w
    L_p(T) = L_pg exp[-(E_Lp / R) (1/T - 1/T_ref)]

at a constant cooling rate B (T = T_f0 - B t). Slow cooling keeps the cell near equilibrium and
dehydrates it (solution effects); fast cooling traps water, the cytoplasm supercools and ice
nucleates inside it (Mazur P, Am J Physiol 247 (1984) C125). Intracellular ice formation (IIF)
follows surface-catalysed nucleation (Toner M, Cravalho EG, Karel M, J Appl Phys 67 (1990) 1582):

    P_IIF = 1 - exp(-int A Omega dt),
    Omega = Omega_0 sqrt(T / T_f0) exp[-kappa_0 (T_f0 / T_f)^4 / ((T_f - T)^2 T^3)]

with T_f the equilibrium freezing temperature of the current cytoplasm and T_f0 the isotonic one
(the viscosity ratio of Toner's form is taken as 1). Parameter sets: data/injury.toml [cells.*]
(``cell_model(name)``, ``CELLS``): mouse ova (Leibo 1980), human and pig hepatocytes (Darr &
Hubel 1997), adipose stem cells (Devireddy et al. 2005), erythrocytes (2006 DSC study); their
nucleation parameters are Toner's oocyte values for all (unverified, data/injury.toml).

>>> sorted(CELLS)
['adipose-stem-cell', 'erythrocyte', 'human-hepatocyte', 'mouse-ovum', 'pig-hepatocyte']
>>> cell = default_cell()
>>> slow, fast = respond(cell, 1 / 60, 253.15), respond(cell, 100 / 60, 253.15)
>>> slow.dehydration_fraction > 0.8 > fast.dehydration_fraction
True
>>> slow.supercooling_k < fast.supercooling_k
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.integrate import solve_ivp

from cryoplan.errors import InputError
from cryoplan.injury.thresholds import injury_data
from cryoplan.units import ATM_PA, c_to_k

R = 8.314462618  # J/mol/K
V_WATER = 18.02e-6  # m^3/mol, molar volume of water
DH_FUSION = 6007.0  # J/mol, enthalpy of fusion of ice at 0 C (CRC Handbook, 85th ed.)
T_MELT = 273.15
#: Water transport practically stops below this (L_p has fallen by > 1e3); integration ends here.
T_FLOOR = c_to_k(-60.0)


@dataclass(frozen=True)
class CellModel:
    """A cell's water-transport and ice-nucleation parameters (SI)."""

    name: str
    volume: float  # isotonic volume V_0, m^3
    area: float  # membrane area A, m^2
    inactive_volume: float  # V_b, m^3
    solute_osmoles: float  # n_s, osmol
    lp_ref: float  # m/(Pa s) at t_ref
    lp_activation: float  # J/mol
    t_ref: float  # K
    omega0: float  # 1/(m^2 s)
    kappa0: float  # K^5
    source: str = ""

    @property
    def freezing_point(self) -> float:
        """Equilibrium freezing temperature of the isotonic cytoplasm, T_f0 (K).

        Returns
        -------
        float
            T_f0 [K], ``freezing_temperature(cell, cell.volume)``.

        Examples
        --------
        >>> round(float(default_cell().freezing_point), 2)
        272.59
        """
        return freezing_temperature(self, self.volume)


CELLS: tuple[str, ...] = tuple(injury_data()["cells"])


@cache
def cell_model(name: str) -> CellModel:
    """The published parameter set ``name`` (one of ``CELLS``) as a ``CellModel``.

    Parameters
    ----------
    name : str
        One of ``CELLS``.

    Returns
    -------
    CellModel
        Volume [m^3], membrane area [m^2], inactive volume [m^3], solutes [osmol], hydraulic
        permeability L_pg [m/(Pa s)] at its reference temperature [K], activation energy [J/mol],
        nucleation Omega_0 [1/(m^2 s)] and kappa_0 [K^5], with the sources.

    Raises
    ------
    InputError
        When ``name`` is not one of ``CELLS``.

    References
    ----------
    .. [1] Leibo SP, J Membr Biol 53 (1980) 179-188 (mouse ova).
    .. [2] Darr TB & Hubel A, Cell Transplant 6 (1997) 173-183 (human and pig hepatocytes).
    .. [3] Devireddy RV, Thirumala S & Gimble JM, J Biomech Eng 127 (2005) 1081-1086 (adipose
       stem cells).
    .. [4] Toner M, Cravalho EG & Karel M, J Appl Phys 67 (1990) 1582 (nucleation parameters, from
       secondary summaries, unverified).

    Examples
    --------
    >>> round(cell_model("mouse-ovum").volume * 1e18)
    220893
    """
    cells = injury_data()["cells"]
    if name not in cells:
        raise InputError("injury.cell", name, f"one of {', '.join(cells)}")
    d, rule = cells[name], injury_data()["cell_rule"]
    if "volume_um3" in d:
        volume, area = d["volume_um3"] * 1e-18, d["area_um2"] * 1e-12
    else:
        radius = d["diameter_um"] * 0.5e-6
        volume, area = 4 / 3 * math.pi * radius**3, 4 * math.pi * radius**2
    vb = d["inactive_volume_fraction"] * volume
    lp = (d["lp_ref_m_per_pa_s"] if "lp_ref_m_per_pa_s" in d
          else d["lp_ref_um_per_min_per_atm"] * 1e-6 / 60 / ATM_PA)
    return CellModel(
        name=name, volume=volume, area=area, inactive_volume=vb,
        solute_osmoles=d["isotonic_osmolality_osm_per_kg"] * (volume - vb) * 1000.0,
        lp_ref=lp, lp_activation=d["lp_activation_energy_kj_per_mol"] * 1e3,
        t_ref=c_to_k(d["lp_reference_temperature_c"]),
        omega0=rule["toner_omega0_per_m2_s"], kappa0=rule["toner_kappa0_k5"],
        source=f"{d['lp_source']}; {d['geometry_source']}; nucleation: {rule['toner_source']}",
    )


def default_cell() -> CellModel:
    """The default cell model, ``data/injury.toml`` [cell_rule] ``default``.

    Returns
    -------
    CellModel
        The parameter set (SI), the mouse ovum with the data as shipped.

    Examples
    --------
    >>> default_cell().name
    'mouse-ovum'
    """
    return cell_model(injury_data()["cell_rule"]["default"])


def _ln_x_in(cell: CellModel, volume):
    n_w = np.maximum(volume - cell.inactive_volume, 1e-30) / V_WATER
    return np.log(n_w / (n_w + cell.solute_osmoles))


def freezing_temperature(cell: CellModel, volume) -> float:
    """T at which cytoplasm of this volume is in equilibrium with ice (K).

    1 / T_f = 1 / T_m - R ln x_in(V) / dH_f, with x_in(V) = n_w / (n_w + n_s) and
    n_w = (V - V_b) / v_w.

    Parameters
    ----------
    cell : CellModel
        The cell's parameters (SI).
    volume : float or numpy.ndarray
        Cell volume [m^3].

    Returns
    -------
    float or numpy.ndarray
        Equilibrium freezing temperature [K].

    References
    ----------
    .. [1] Mazur P, J Gen Physiol 47 (1963) 347.
    """
    return 1.0 / (1.0 / T_MELT - R * _ln_x_in(cell, volume) / DH_FUSION)


def equilibrium_volume(cell: CellModel, temperature) -> np.ndarray:
    """Cell volume in osmotic equilibrium with ice at ``temperature`` (infinitely slow cooling):
    x_in = a_out(T) solved for V (Boyle-van't Hoff with the ice line).

    V = V_b + v_w n_s x / (1 - x), x = exp[(dH_f / R) (1/T_m - 1/T)].

    Parameters
    ----------
    cell : CellModel
        The cell's parameters (SI).
    temperature : float or numpy.ndarray
        Temperature [K].

    Returns
    -------
    numpy.ndarray
        Cell volume [m^3].

    References
    ----------
    .. [1] Mazur P, J Gen Physiol 47 (1963) 347.

    Examples
    --------
    >>> cell = default_cell()
    >>> round(float(equilibrium_volume(cell, 263.15) / cell.volume), 3)
    0.231
    """
    x = np.exp(DH_FUSION / R * (1.0 / T_MELT - 1.0 / np.asarray(temperature, dtype=float)))
    return cell.inactive_volume + V_WATER * cell.solute_osmoles * x / (1.0 - x)


@dataclass(frozen=True)
class CellResponse:
    """End state of a cell cooled at a constant rate to a temperature."""

    temperatures: np.ndarray  # K, the integration path
    volume_fraction: np.ndarray  # V / V_0 along it
    dehydration_fraction: float  # share of the osmotically active water lost at the end
    iif_probability: float
    supercooling_k: float  # largest T_f - T on the way
    iif_cumulative: np.ndarray  # P_IIF reached at each temperature of the path

    def mean_iif_temperature(self) -> float | None:
        """Mean temperature at which the cells that formed intracellular ice did so (K);
        None when (almost) none did.

        Returns
        -------
        float or None
            Mean IIF temperature [K], weighted by the increase of P_IIF along the path; None when
            P_IIF stays below 1e-6.
        """
        p = self.iif_cumulative
        if p[-1] < 1e-6:
            return None
        return float(np.sum(0.5 * (self.temperatures[1:] + self.temperatures[:-1]) * np.diff(p)) / p[-1])


def respond(cell: CellModel, cooling_rate: float, end_temperature: float, points: int = 200) -> CellResponse:
    """Cool from the cytoplasm's freezing point at ``cooling_rate`` (K/s) to ``end_temperature``
    (K; the model stops at -60 C, where water transport has stopped).

    Integrates Mazur's water transport and Toner's intracellular nucleation along
    T = T_f0 - B t (see the module docstring).

    Parameters
    ----------
    cell : CellModel
        The cell's parameters (SI).
    cooling_rate : float
        Cooling rate B [K/s], > 0.
    end_temperature : float
        Temperature to cool to [K]; at most the freezing point, at least -60 °C.
    points : int, optional
        Number of temperatures on the integration path (default 200).

    Returns
    -------
    CellResponse
        Path temperatures [K], volume fraction V/V_0 [-], dehydration fraction [-], P_IIF [-],
        largest supercooling [K] and cumulative P_IIF along the path [-].

    Raises
    ------
    ValueError
        When ``cooling_rate`` is not > 0.

    References
    ----------
    .. [1] Mazur P, J Gen Physiol 47 (1963) 347, eq. 19.
    .. [2] Mazur P, Am J Physiol 247 (1984) C125.
    .. [3] Toner M, Cravalho EG, Karel M, J Appl Phys 67 (1990) 1582.
    """
    if not cooling_rate > 0:
        raise ValueError(f"cooling_rate = {cooling_rate!r}: allowed is a rate > 0 (K/s)")
    t0 = cell.freezing_point
    t1 = max(min(end_temperature, t0), T_FLOOR)
    if t1 >= t0:
        grid = np.array([t0])
        return CellResponse(grid, np.ones(1), 0.0, 0.0, 0.0, np.zeros(1))

    def rhs(temp, y):
        vol = y[0]
        lp = cell.lp_ref * math.exp(-cell.lp_activation / R * (1.0 / temp - 1.0 / cell.t_ref))
        ln_a_out = DH_FUSION / R * (1.0 / T_MELT - 1.0 / temp)
        dv_dt = lp * cell.area * R * temp / V_WATER * (ln_a_out - _ln_x_in(cell, vol))
        tf = freezing_temperature(cell, vol)
        under = tf - temp
        omega = 0.0
        if under > 0:
            omega = cell.omega0 * math.sqrt(temp / t0) * math.exp(
                -cell.kappa0 * (t0 / tf) ** 4 / (under**2 * temp**3))
        # d/dT = -(1/B) d/dt along T = T_f0 - B t
        return [-dv_dt / cooling_rate, -cell.area * omega / cooling_rate]

    grid = np.linspace(t0, t1, points)
    sol = solve_ivp(rhs, (t0, t1), [cell.volume, 0.0], method="LSODA", t_eval=grid, rtol=1e-7,
                    atol=[cell.volume * 1e-9, 1e-12])
    vol = sol.y[0]
    active0 = cell.volume - cell.inactive_volume
    supercool = np.asarray(freezing_temperature(cell, vol)) - grid
    return CellResponse(
        temperatures=grid,
        volume_fraction=vol / cell.volume,
        dehydration_fraction=float(1.0 - (vol[-1] - cell.inactive_volume) / active0),
        iif_probability=float(1.0 - math.exp(-sol.y[1][-1])),
        supercooling_k=float(max(supercool.max(), 0.0)),
        iif_cumulative=1.0 - np.exp(-sol.y[1]),
    )
