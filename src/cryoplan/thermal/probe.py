"""The probe as a boundary condition: what the tissue sees at the cooled surface.

A ``cryogen`` probe carries its operating point (``cryoplan.cryogen.operation``): the mass flow,
the state of the cryogen entering the active segment and the inside wall's heat-transfer law. The
kernel marches the cryogen along the wall from the tip (``stations``), so a weak probe warms under
load and dries out from the shaft end of its active segment. A ``fixed-temperature`` probe holds
its wall at a set temperature (the limit of unlimited flow and heat transfer; used for
verification). A ``heat-flow`` probe extracts a set power (W), spread over its cooled surface by
area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from cryoplan.cryogen.wall_law import FACE_SHAFT, FACE_TIP, FILM, NUCLEATE, P_FILM, P_T_LEIDENFROST, WallLaw
from cryoplan.protocol import DEFAULT_ACTIVE_THAW_K, Phase
from cryoplan.thermal.kernel import CRYOGEN, GAS, HEAT_FLOW, OFF, WALL

if TYPE_CHECKING:
    from cryoplan.cryogen.operation import OperatingPoint

Boundary = Literal["cryogen", "fixed-temperature", "heat-flow"]

#: Dry-gas coefficient behind an active thaw of a probe without a cryogen model (W/(m2 K)):
#: assumed, the order of forced convection of warm gas in a probe's annulus.
ACTIVE_THAW_HTC = 1000.0


@dataclass(frozen=True)
class ProbeModel:
    """Probe geometry and cooling (SI units)."""

    diameter: float
    active_length: float
    boundary: Boundary
    wall_temperature: float | None = None  # fixed-temperature probes
    operating: OperatingPoint | None = None  # cryogen probes
    power: float | None = None  # heat-flow probes, W

    @property
    def radius(self) -> float:
        """Outer radius of the probe.

        Returns
        -------
        float
            Radius [m].
        """
        return 0.5 * self.diameter

    @property
    def mass_flow(self) -> float:
        """The cryogen's mass flow; 0 for a probe without a cryogen.

        Returns
        -------
        float
            Mass flow [kg/s].
        """
        return 0.0 if self.operating is None else self.operating.mass_flow

    @property
    def shaft_cooled(self) -> bool:
        """Whether the returning exhaust cools the shaft above the active segment.

        Returns
        -------
        bool
            True for a cryogen probe whose shaft insulation is finite.
        """
        return self.operating is not None and np.isfinite(self.operating.design.shaft_insulation)

    @property
    def law(self) -> WallLaw:
        """The inside wall's heat-transfer law: the operating point's, or a dry-gas placeholder for a
        probe without a cryogen (an active thaw's coefficient).

        Returns
        -------
        WallLaw
            Regime coefficients (SI) and the cryogen's tables.
        """
        return WallLaw.fixed(ACTIVE_THAW_HTC) if self.operating is None else self.operating.law

    def mode(self, phase: Phase) -> tuple[int, float]:
        """Kernel mode and set temperature for a protocol phase.

        Parameters
        ----------
        phase : Phase
            The protocol phase.

        Returns
        -------
        mode : int
            Kernel mode (``OFF``, ``WALL``, ``GAS``, ``CRYOGEN`` or ``HEAT_FLOW``).
        setting : float
            Set temperature [K] (wall, gas, or the boiling temperature for ``CRYOGEN``), total heat
            flow [W] for ``HEAT_FLOW``, NaN for ``OFF``.
        """
        if phase.kind == "passive-thaw":
            return OFF, float("nan")
        if phase.kind == "active-thaw":
            t = phase.temperature_k or DEFAULT_ACTIVE_THAW_K
            return (WALL if self.boundary == "fixed-temperature" else GAS), t
        if self.boundary == "fixed-temperature":
            assert self.wall_temperature is not None
            return WALL, self.wall_temperature
        if self.boundary == "heat-flow":
            assert self.power is not None
            return HEAT_FLOW, self.power
        assert self.operating is not None
        return CRYOGEN, self.operating.boiling_temperature


def stations(path: np.ndarray, kind: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Faces in the order the cryogen reaches them and the start of each station.

    ``path`` is each face's distance along the cryogen's path from the tip's centre (m): over the
    end face, then back along the side wall and the shaft. Faces of one kind within ``width`` of
    one another along the path (a ring of voxel faces round a 3D probe) form one station: one
    ring of the steel wall, which sees one cryogen state.

    Parameters
    ----------
    path : numpy.ndarray
        Distance of each face along the cryogen's path [m].
    kind : numpy.ndarray of int
        Kind of each face (``FACE_SIDE``, ``FACE_TIP``, ``FACE_SHAFT``).
    width : float
        Largest spread along the path of one station's faces [m].

    Returns
    -------
    order : numpy.ndarray of int
        Face indices in path order.
    start : numpy.ndarray of int
        Start of each station in ``order``, then the number of faces.

    Examples
    --------
    >>> order, start = stations(np.array([0.3, 0.1, 0.1, 0.5]), np.zeros(4, int), 0.05)
    >>> order.tolist(), start.tolist()
    ([1, 2, 0, 3], [0, 2, 3, 4])
    """
    order = np.argsort(path, kind="stable")
    if order.size == 0:
        return order.astype(np.int64), np.zeros(1, dtype=np.int64)
    bins = np.floor(path[order] / width + 1e-9).astype(np.int64)
    new = np.concatenate([[True], (np.diff(bins) != 0) | (np.diff(kind[order]) != 0)])
    return order.astype(np.int64), np.concatenate([np.flatnonzero(new), [order.size]]).astype(np.int64)


@dataclass
class ProbeWall:
    """The steel wall of one probe, station by station along the cryogen's path, carried from one
    kernel call to the next: the marching order and stations, the axial conductance of the wall
    between consecutive stations, and per station its temperature, boiling regime (film boiling
    holds until the wall falls below the Leidenfrost point), last inside heat flux (for the
    boiling number) and the cryogen's vapour quality there."""

    order: np.ndarray
    start: np.ndarray
    kind: np.ndarray
    link: np.ndarray
    station_t: np.ndarray
    regime: np.ndarray
    q_last: np.ndarray
    quality: np.ndarray
    t_wall: np.ndarray
    flows: np.ndarray

    @classmethod
    def of(cls, model: ProbeModel, path: np.ndarray, kind: np.ndarray, area: np.ndarray, width: float,
           t_start: np.ndarray) -> ProbeWall:
        """The wall of ``model`` with faces at ``path`` (m along the cryogen's path) of ``kind``
        (side, tip or shaft) and ``area`` (m2), grouped into stations ``width`` long, starting at
        temperatures ``t_start``.

        The wall conducts along the path between station centres s apart through its section
        2 pi r t (r the station's radius: its distance from the axis on the end face, the probe's
        radius on the side): G = k_w 2 pi r t / s (W/K).

        Parameters
        ----------
        model : ProbeModel
            The probe; its operating point's design gives the wall's conductivity and thickness.
        path : numpy.ndarray
            Position of each cooled face along the cryogen's path [m].
        kind : numpy.ndarray of int
            Kind of each face (side, tip or shaft).
        area : numpy.ndarray
            Wall area of each face [m^2].
        width : float
            Length of a station along the path [m].
        t_start : numpy.ndarray
            Initial wall temperature of each face [K].

        Returns
        -------
        ProbeWall
            The wall: stations, axial conductances [W/K], station temperatures [K], nucleate or
            film boiling, no heat flux [W/m^2] and no vapour quality yet.
        """
        order, start = stations(path, kind, width)
        n = start.size - 1
        centre = np.array([np.average(path[order[start[s]:start[s + 1]]],
                                      weights=area[order[start[s]:start[s + 1]]] + 1e-300)
                           for s in range(n)])
        link = np.zeros(max(n, 1))
        op = model.operating
        if op is not None and n > 1:
            d = op.design
            radius = np.minimum(0.5 * (centre[1:] + centre[:-1]), model.radius)
            link[:n - 1] = d.wall_conductivity * 2 * np.pi * radius * d.wall_thickness / np.diff(centre)
        t0 = np.array([np.average(t_start[order[start[s]:start[s + 1]]]) for s in range(n)])
        p = model.law.params
        film = (p[P_FILM] > 0) & (t0 > p[P_T_LEIDENFROST])
        return cls(order, start, np.asarray(kind, dtype=np.int64), link, t0,
                   np.where(film, FILM, NUCLEATE).astype(np.int64), np.zeros(n), np.zeros(n),
                   np.array(t_start, dtype=float), np.zeros(path.size))

    def dry_fraction(self, area: np.ndarray) -> float:
        """Share of the active segment's area that the cryogen reaches as dry gas (its liquid
        boiled off before).

        Parameters
        ----------
        area : numpy.ndarray
            Wall area of each face [m^2].

        Returns
        -------
        float
            Dry share of the active segment's area [-], 0 when it has none.
        """
        x = np.empty(self.kind.size)
        for s in range(self.start.size - 1):
            x[self.order[self.start[s]:self.start[s + 1]]] = self.quality[s]
        active = self.kind != FACE_SHAFT
        total = float(area[active].sum())
        dry = active & (x >= 1.0 - 1e-9)
        return float(area[dry].sum()) / total if total > 0 else 0.0

    def args(self) -> tuple:
        """The wall's arrays in the order ``kernel.probe_flows`` takes them after ``tab_x``.

        Returns
        -------
        tuple of numpy.ndarray
            Marching order, station starts, face kinds and axial conductances [W/K].
        """
        return (self.order, self.start, self.kind, self.link)

    def state(self) -> tuple:
        """The state arrays ``kernel.probe_flows`` updates, in its order.

        Returns
        -------
        tuple of numpy.ndarray
            Face wall temperatures [K], heat flows into the probe [W], station temperatures [K], boiling
            regimes, last inside heat fluxes [W/m^2] and vapour qualities [-].
        """
        return (self.t_wall, self.flows, self.station_t, self.regime, self.q_last, self.quality)


def tip_temperature(t_wall: np.ndarray, area: np.ndarray, kind: np.ndarray) -> float:
    """Temperature of the probe's closed end (area-weighted over its end face), where the supply's
    jet hits and where probes carry their thermocouple; the active wall's where there is no end
    face (an infinitely long probe).

    Parameters
    ----------
    t_wall : numpy.ndarray
        Wall temperature of each cooled face [K].
    area : numpy.ndarray
        Wall area of each face [m^2].
    kind : numpy.ndarray of int
        Kind of each face.

    Returns
    -------
    float
        Temperature [K].
    """
    end = kind == FACE_TIP
    if not end.any():
        return active_wall_temperature(t_wall, area, kind)
    return float(np.sum(t_wall[end] * area[end]) / np.sum(area[end]))


def active_wall_temperature(t_wall: np.ndarray, area: np.ndarray, kind: np.ndarray) -> float:
    """Area-weighted temperature of the active segment's wall (end face and side, not the shaft).

    Parameters
    ----------
    t_wall : numpy.ndarray
        Wall temperature of each cooled face [K].
    area : numpy.ndarray
        Wall area of each face [m^2].
    kind : numpy.ndarray of int
        Kind of each face.

    Returns
    -------
    float
        Temperature [K].

    Examples
    --------
    >>> active_wall_temperature(np.array([200.0, 300.0]), np.array([1.0, 3.0]), np.zeros(2, int))
    275.0
    """
    w = area * (kind != FACE_SHAFT)
    return float(np.sum(t_wall * w) / np.sum(w))
