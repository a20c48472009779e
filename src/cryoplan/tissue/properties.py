"""A tissue's thermal properties in SI units, and its row for the compiled kernels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cryoplan.errors import InputError
from cryoplan.tissue import enthalpy as ent


@dataclass(frozen=True)
class Tissue:
    """Thermal properties of one tissue (SI: W/m/K, J/m^3/K, J/m^3, K, 1/s, W/m^3).

    ``perfusion_per_s`` is the volumetric blood flow per tissue volume (w_b in Pennes' equation,
    Pennes, J Appl Physiol 1 (1948) 93); the perfusion heat sink is
    w_b rho_b c_b (T_a - T) with ``blood_heat_capacity_j_per_m3_k`` = rho_b c_b.

    >>> t = Tissue("demo", 0.5, 2.0, 3.6e6, 1.8e6, 2.5e8, 265.15, 272.15)
    >>> round(t.capacity_mushy / 1e6, 3)   # (C_f + C_u)/2 + L / (T_l - T_s)
    38.414
    """

    name: str
    k_unfrozen: float
    k_frozen: float
    c_unfrozen: float
    c_frozen: float
    latent_heat: float
    t_solidus: float
    t_liquidus: float
    perfusion_per_s: float = 0.0
    blood_heat_capacity: float = 3.8e6
    metabolic: float = 0.0
    t_arterial: float = 310.15
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        checks = {
            "k_unfrozen_w_per_m_k": self.k_unfrozen,
            "k_frozen_w_per_m_k": self.k_frozen,
            "c_unfrozen_j_per_m3_k": self.c_unfrozen,
            "c_frozen_j_per_m3_k": self.c_frozen,
        }
        for name, value in checks.items():
            if not value > 0:
                raise InputError(f"tissue.{name}", value, "a number > 0")
        for name, value in {
            "latent_heat_j_per_m3": self.latent_heat,
            "perfusion_per_s": self.perfusion_per_s,
            "blood_heat_capacity_j_per_m3_k": self.blood_heat_capacity,
            "metabolic_w_per_m3": self.metabolic,
        }.items():
            if not value >= 0:
                raise InputError(f"tissue.{name}", value, "a number >= 0")
        if not self.t_solidus < self.t_liquidus:
            raise InputError(
                "tissue.t_solidus_c",
                round(self.t_solidus - 273.15, 3),
                f"below t_liquidus_c ({self.t_liquidus - 273.15:g}): the freezing range "
                "must not be inverted or empty",
            )

    @property
    def capacity_mushy(self) -> float:
        """C_m: apparent volumetric capacity in the freezing range (J/m^3/K).

        C_m = (C_f + C_u)/2 + L/(T_l - T_s).

        Returns
        -------
        float
            Apparent volumetric heat capacity [J/m^3/K].

        References
        ----------
        .. [1] Voller, Swaminathan & Thomas, Int J Numer Meth Eng 30 (1990) 875.

        Examples
        --------
        >>> t = Tissue("demo", 0.5, 2.0, 3.6e6, 1.8e6, 2.5e8, 265.15, 272.15)
        >>> round(t.capacity_mushy / 1e6, 3)
        38.414
        """
        dt = self.t_liquidus - self.t_solidus
        return 0.5 * (self.c_frozen + self.c_unfrozen) + self.latent_heat / dt

    @property
    def max_diffusivity(self) -> float:
        """Largest k/C of the three branches (sets the explicit time-step limit).

        Returns
        -------
        float
            Thermal diffusivity [m^2/s], the larger of k_f/C_f and k_u/C_u (the mushy branch's
            k/C_m is smaller than both).

        Examples
        --------
        >>> t = Tissue("demo", 0.5, 2.0, 3.6e6, 1.8e6, 2.5e8, 265.15, 272.15)
        >>> f"{t.max_diffusivity:.3e}"
        '1.111e-06'
        """
        return max(self.k_frozen / self.c_frozen, self.k_unfrozen / self.c_unfrozen)

    @property
    def resting_temperature(self) -> float:
        """Temperature at which perfusion balances metabolism, T_a + q_m / (w_b rho_b c_b) (K):
        the steady state of Pennes' equation without conduction (Pennes 1948); T_a without
        perfusion.

        Returns
        -------
        float
            Resting temperature [K].

        References
        ----------
        .. [1] Pennes, J Appl Physiol 1 (1948) 93.

        Examples
        --------
        >>> t = Tissue("demo", 0.5, 2.0, 3.6e6, 1.8e6, 2.5e8, 265.15, 272.15,
        ...            perfusion_per_s=1e-3, blood_heat_capacity=4e6, metabolic=400.0)
        >>> round(t.resting_temperature, 2)
        310.25
        """
        sink = self.perfusion_per_s * self.blood_heat_capacity
        return self.t_arterial + (self.metabolic / sink if sink > 0 else 0.0)

    def row(self) -> np.ndarray:
        """The material row the kernels read (layout in ``cryoplan.tissue.enthalpy``).

        Returns
        -------
        numpy.ndarray
            ``ROW`` float64 values in SI units: capacities [J/m^3/K], solidus and liquidus [K],
            conductivities [W/m/K], enthalpy at the liquidus [J/m^3], Kirchhoff variable at the
            liquidus [W/m], perfusion sink w_b rho_b c_b [W/m^3/K], metabolism [W/m^3], arterial
            temperature [K], and the reciprocals of the capacities and of the freezing range.
        """
        p = np.zeros(ent.ROW)
        dt = self.t_liquidus - self.t_solidus
        p[ent.C_F], p[ent.C_U], p[ent.C_M] = self.c_frozen, self.c_unfrozen, self.capacity_mushy
        p[ent.T_S], p[ent.T_L] = self.t_solidus, self.t_liquidus
        p[ent.K_F], p[ent.K_U] = self.k_frozen, self.k_unfrozen
        p[ent.H_L] = self.capacity_mushy * dt
        p[ent.U_L] = 0.5 * (self.k_frozen + self.k_unfrozen) * dt
        p[ent.PERFUSION] = self.perfusion_per_s * self.blood_heat_capacity
        p[ent.METABOLIC] = self.metabolic
        p[ent.T_ARTERIAL] = self.t_arterial
        p[ent.INV_C_F], p[ent.INV_C_U] = 1.0 / self.c_frozen, 1.0 / self.c_unfrozen
        p[ent.INV_C_M], p[ent.INV_RANGE] = 1.0 / self.capacity_mushy, 1.0 / dt
        return p

    def enthalpy(self, temperature_k: np.ndarray | float) -> np.ndarray:
        """H(T) in J/m^3 (zero at the solidus).

        Parameters
        ----------
        temperature_k : float or numpy.ndarray
            Temperature [K].

        Returns
        -------
        numpy.ndarray
            Volumetric enthalpy [J/m^3], at least 1-D.

        References
        ----------
        .. [1] Voller, Swaminathan & Thomas, Int J Numer Meth Eng 30 (1990) 875.
        """
        return ent.enthalpy_array(np.atleast_1d(np.asarray(temperature_k, float)), self.row())

    def temperature(self, enthalpy: np.ndarray | float) -> np.ndarray:
        """T(H) in K.

        Parameters
        ----------
        enthalpy : float or numpy.ndarray
            Volumetric enthalpy [J/m^3], zero at the solidus.

        Returns
        -------
        numpy.ndarray
            Temperature [K], at least 1-D.

        References
        ----------
        .. [1] Voller, Swaminathan & Thomas, Int J Numer Meth Eng 30 (1990) 875.
        """
        return ent.temperature_array(np.atleast_1d(np.asarray(enthalpy, float)), self.row())
