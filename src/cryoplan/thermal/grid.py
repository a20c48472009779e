"""Finite-volume grids: 1D planar (for tests), 1D radial (an infinitely long probe) and 2D
axisymmetric r-z (one probe with a finite active tip and an insulated shaft).

All three are tensor-product grids stored as (nr, nz) arrays, so one compiled kernel advances them
all: 1D grids have nz = 1 and a unit length (radial: per metre of probe) or unit area (planar).
A grid carries only geometry: cell volumes, face conductances per unit conductivity (so a face's
conductance is ``G * k`` and its heat flow ``G * (u_P - u_N)`` with the Kirchhoff variable u),
which cells are tissue, and the faces of the probe surface.

Radial faces use the exact steady cylindrical conductance 2 pi dz / ln(r_N / r_P)
(Patankar, Numerical Heat Transfer and Fluid Flow, 1980, §4.2-5); the face next to the axis
uses 2 pi r_f dz / dr, exact for the parabolic profile there. Axial faces use A / dz.

Cells may grow geometrically beyond a uniform core (``growth`` > 1) so the far field costs few
cells; the explicit time step is set by the smallest cell, so coarse far cells are free.

>>> g = radial_grid(probe_radius=1e-3, extent=5e-3, spacing=1e-3)
>>> g.shape, [round(float(x) * 1e3, 3) for x in g.r]
((4, 1), [1.5, 2.5, 3.5, 4.5])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cryoplan.cryogen.wall_law import FACE_SHAFT, FACE_SIDE, FACE_TIP
from cryoplan.errors import InputError


@dataclass(frozen=True)
class Grid:
    """Geometry of a finite-volume grid (SI units).

    g_r[i, j]: radial face between cells (i-1, j) and (i, j); i = 0 is the inner boundary and
    i = nr the outer one, whose entry is the conductance from the cell centre to the boundary.
    g_z[i, j]: axial face between (i, j-1) and (i, j), boundaries likewise.
    probe_cells / probe_g / probe_area: cooled probe-surface faces: the tissue cell, its
    conductance centre-to-wall per unit k, and the wall area (for the internal heat transfer).
    probe_path / probe_kind: each face's distance along the cryogen's path from the tip's centre
    (over the end face, then back along the side wall and the shaft) and its kind (FACE_SIDE,
    FACE_TIP or FACE_SHAFT of ``cryoplan.cryogen.wall_law``).
    """

    geometry: str
    r_faces: np.ndarray
    z_faces: np.ndarray
    volume: np.ndarray
    g_r: np.ndarray
    g_z: np.ndarray
    tissue: np.ndarray
    probe_cells: np.ndarray
    probe_g: np.ndarray
    probe_area: np.ndarray
    probe_radius: float
    active_length: float
    probe_path: np.ndarray
    probe_kind: np.ndarray

    @property
    def r(self) -> np.ndarray:
        """Cell-centre radii (or x for planar grids).

        Returns
        -------
        numpy.ndarray, shape (nr,)
            Radii [m].
        """
        return 0.5 * (self.r_faces[1:] + self.r_faces[:-1])

    @property
    def z(self) -> np.ndarray:
        """Cell-centre axial positions (tip at z = 0, shaft towards +z).

        Returns
        -------
        numpy.ndarray, shape (nz,)
            Axial positions [m].
        """
        return 0.5 * (self.z_faces[1:] + self.z_faces[:-1])

    @property
    def shape(self) -> tuple[int, int]:
        """Number of cells along r and z.

        Returns
        -------
        tuple of int
            (nr, nz).
        """
        return self.volume.shape

    @property
    def min_spacing(self) -> float:
        """The smallest cell width along r or z.

        Returns
        -------
        float
            Spacing [m].

        Examples
        --------
        >>> round(radial_grid(1e-3, 10e-3, 0.5e-3).min_spacing * 1e3, 6)
        0.5
        """
        return float(min(np.diff(self.r_faces).min(), np.diff(self.z_faces).min()))

    def probe_wall_position(self) -> np.ndarray:
        """(r, z) of the centre of each cooled face.

        Returns
        -------
        numpy.ndarray, shape (n_faces, 2)
            r and z [m]: the probe radius and the cell's z on the side wall, the cell's r and 0 on
            the end face.
        """
        i, j = self.probe_cells[:, 0], self.probe_cells[:, 1]
        on_side = self.r_faces[i] >= self.probe_radius - 1e-12
        r = np.where(on_side, self.probe_radius, self.r[i])
        z = np.where(on_side, self.z[j], 0.0)
        return np.column_stack([r, z])


def stretched_faces(start: float, end: float, spacing: float, uniform_until: float,
                    growth: float) -> np.ndarray:
    """Faces from ``start`` towards ``end`` (either direction): uniform ``spacing`` up to
    ``uniform_until`` away from start, then each cell ``growth`` times the last; the last cell
    ends exactly on ``end``.

    Parameters
    ----------
    start : float
        First face [m].
    end : float
        Last face [m].
    spacing : float
        Uniform cell width near ``start`` [m].
    uniform_until : float
        Distance from ``start`` over which cells stay uniform [m].
    growth : float
        Ratio of each further cell's width to the last's [-].

    Returns
    -------
    numpy.ndarray
        Face positions [m], from ``start`` to ``end``.

    Examples
    --------
    >>> stretched_faces(0.0, 10.0, 1.0, 3.0, 2.0).tolist()
    [0.0, 1.0, 2.0, 3.0, 5.0, 10.0]
    """
    sign = 1.0 if end >= start else -1.0
    length = abs(end - start)
    faces, x, dx = [0.0], 0.0, spacing
    while x < length - 1e-12:
        if x >= uniform_until - 1e-12:
            dx *= growth
        step = min(dx, length - x)
        if length - (x + step) < 0.3 * dx:  # no sliver cell at the end
            step = length - x
        x += step
        faces.append(x)
    return start + sign * np.array(faces)


def _check(spacing: float, probe_radius: float, extent: float) -> None:
    if not spacing > 0:
        raise InputError("grid.spacing_mm", spacing * 1e3, "a number > 0")
    if spacing > probe_radius:
        raise InputError(
            "grid.spacing_mm", spacing * 1e3,
            f"at most the probe radius ({probe_radius * 1e3:g} mm), so the probe is resolved",
        )
    if not extent > probe_radius + 2 * spacing:
        raise InputError(
            "grid.extent_mm", extent * 1e3,
            f"more than the probe radius plus two cells ({(probe_radius + 2 * spacing) * 1e3:g} mm)",
        )


def _radial_conductance(r_faces: np.ndarray) -> np.ndarray:
    """Per unit length, between neighbouring cell centres: 2 pi / ln(r_N / r_P); next to the axis
    (a grid starting at r = 0), 2 pi r_f / dr instead, which is exact for the parabolic profile."""
    rc = 0.5 * (r_faces[1:] + r_faces[:-1])
    g = 2 * np.pi / np.log(rc[1:] / rc[:-1])
    if r_faces[0] == 0.0:
        g[0] = 2 * np.pi * r_faces[1] / (rc[1] - rc[0])
    return g


def planar_grid(length: float, spacing: float) -> Grid:
    """A 1D slab x in [0, length] of unit cross-section, cooled at x = 0 (for verification).

    Parameters
    ----------
    length : float
        Thickness of the slab [m].
    spacing : float
        Cell width [m].

    Returns
    -------
    Grid
        A planar grid, per m^2 of cross-section.

    Examples
    --------
    >>> planar_grid(1e-2, 1e-3).shape
    (10, 1)
    """
    n = max(2, round(length / spacing))
    x = np.linspace(0.0, length, n + 1)
    xc = 0.5 * (x[1:] + x[:-1])
    g_r = np.zeros((n + 1, 1))
    g_r[1:-1, 0] = 1.0 / np.diff(xc)
    g_r[-1, 0] = 1.0 / (length - xc[-1])
    return Grid(
        geometry="planar", r_faces=x, z_faces=np.array([0.0, 1.0]),
        volume=np.diff(x)[:, None].copy(), g_r=g_r, g_z=np.zeros((n, 2)),
        tissue=np.ones((n, 1), bool), probe_cells=np.array([[0, 0]]),
        probe_g=np.array([1.0 / xc[0]]), probe_area=np.array([1.0]),
        probe_radius=0.0, active_length=1.0, probe_path=np.zeros(1), probe_kind=np.zeros(1, np.int64),
    )


def radial_grid(probe_radius: float, extent: float, spacing: float, growth: float = 1.0,
                uniform_extent: float | None = None, active_length: float = 1.0) -> Grid:
    """Tissue from the probe wall r = a to r = extent around an infinitely long probe.

    The arrays are per metre of probe; ``active_length`` is the probe length they stand for
    (the solver divides the probe's gas flow by it and multiplies powers and volumes by it).

    Parameters
    ----------
    probe_radius : float
        Outer radius of the probe, a [m].
    extent : float
        Outer radius of the domain [m].
    spacing : float
        Cell width next to the probe [m].
    growth : float, optional
        Ratio of each cell's width to the last's beyond ``uniform_extent`` [-] (default 1: uniform).
    uniform_extent : float or None, optional
        Radius up to which cells stay uniform [m] (default None: the whole domain).
    active_length : float, optional
        Probe length the per-metre arrays stand for [m] (default 1).

    Returns
    -------
    Grid
        The radial grid (volumes [m^3] and conductances [m] per metre of probe).

    Examples
    --------
    >>> g = radial_grid(1e-3, 10e-3, 0.5e-3)
    >>> g.shape, round(float(g.r[0]) * 1e3, 2)
    ((18, 1), 1.25)
    """
    _check(spacing, probe_radius, extent)
    uniform = extent if uniform_extent is None else uniform_extent
    r = stretched_faces(probe_radius, extent, spacing, uniform - probe_radius, growth)
    rc = 0.5 * (r[1:] + r[:-1])
    n = rc.size
    g_r = np.zeros((n + 1, 1))
    g_r[1:-1, 0] = _radial_conductance(r)
    g_r[-1, 0] = 2 * np.pi / math.log(extent / rc[-1])
    return Grid(
        geometry="radial", r_faces=r, z_faces=np.array([0.0, 1.0]),
        volume=(np.pi * (r[1:] ** 2 - r[:-1] ** 2))[:, None], g_r=g_r, g_z=np.zeros((n, 2)),
        tissue=np.ones((n, 1), bool), probe_cells=np.array([[0, 0]]),
        probe_g=np.array([2 * np.pi / math.log(rc[0] / probe_radius)]),
        probe_area=np.array([2 * np.pi * probe_radius]),
        probe_radius=probe_radius, active_length=active_length,
        probe_path=np.zeros(1), probe_kind=np.zeros(1, np.int64),
    )


def axisymmetric_grid(probe_radius: float, active_length: float, extent: float, spacing: float,
                      growth: float = 1.0, uniform_extent: float | None = None,
                      shaft_cooled: bool = False) -> Grid:
    """r in [0, extent], z in [-extent, active_length + extent]; the probe fills r < a, z > 0.

    The probe's flat tip face (z = 0, r < a) and its side wall over 0 < z < active_length are
    cooled; the shaft above is insulated, or cooled through its insulation by the returning
    exhaust when ``shaft_cooled``. ``extent`` is measured from the probe axis radially and from
    the tip (and the end of the active segment) axially.

    Parameters
    ----------
    probe_radius : float
        Outer radius of the probe, a [m].
    active_length : float
        Length of the active segment [m].
    extent : float
        Extent of the domain from the axis and from the tip and the active segment's end [m].
    spacing : float
        Cell width near the probe [m].
    growth : float, optional
        Ratio of each cell's width to the last's beyond ``uniform_extent`` [-] (default 1).
    uniform_extent : float or None, optional
        Distance up to which cells stay uniform [m] (default None: the whole domain).
    shaft_cooled : bool, optional
        Cool the shaft above the active segment through its insulation (default False).

    Returns
    -------
    Grid
        The axisymmetric grid (volumes [m^3], conductances per unit conductivity [m]).
    """
    _check(spacing, probe_radius, extent)
    if not active_length > 0:
        raise InputError("probe.active_length_mm", active_length * 1e3, "a number > 0")
    uniform = extent if uniform_extent is None else uniform_extent
    n_core = max(1, round(probe_radius / spacing))
    r = np.concatenate([
        np.linspace(0.0, probe_radius, n_core + 1)[:-1],
        stretched_faces(probe_radius, extent, spacing, uniform - probe_radius, growth),
    ])
    n_active = max(1, math.ceil(active_length / spacing - 1e-9))
    z = np.concatenate([
        stretched_faces(0.0, -extent, spacing, uniform, growth)[::-1][:-1],
        np.linspace(0.0, active_length, n_active + 1)[:-1],
        stretched_faces(active_length, active_length + extent, spacing, uniform, growth),
    ])
    rc, zc = 0.5 * (r[1:] + r[:-1]), 0.5 * (z[1:] + z[:-1])
    nr, nz = rc.size, zc.size
    dz = np.diff(z)
    ring = np.pi * (r[1:] ** 2 - r[:-1] ** 2)

    g_r = np.zeros((nr + 1, nz))
    g_r[1:-1, :] = _radial_conductance(r)[:, None] * dz[None, :]
    g_r[-1, :] = 2 * np.pi * dz / math.log(extent / rc[-1])
    g_z = np.zeros((nr, nz + 1))
    g_z[:, 1:-1] = ring[:, None] / np.diff(zc)[None, :]
    g_z[:, 0] = ring / (zc[0] - z[0])
    g_z[:, -1] = ring / (z[-1] - zc[-1])

    inside = (rc[:, None] < probe_radius) & (zc[None, :] > 0)
    tissue = ~inside
    # no conduction into the probe: its surface is handled by the probe boundary
    g_r[n_core, zc > 0] = 0.0
    g_z[:n_core, int(np.searchsorted(zc, 0.0))] = 0.0

    j_tip = int(np.searchsorted(zc, 0.0)) - 1  # last tissue row below the tip
    side = np.flatnonzero((zc > 0) & (zc < (np.inf if shaft_cooled else active_length)))
    cells = [(i, j_tip) for i in range(n_core)] + [(n_core, j) for j in side]
    g = [ring[i] / (0.0 - zc[j_tip]) for i in range(n_core)]
    g += [2 * np.pi * dz[j] / math.log(rc[n_core] / probe_radius) for j in side]
    area = [ring[i] for i in range(n_core)] + [2 * np.pi * probe_radius * dz[j] for j in side]
    path = [rc[i] for i in range(n_core)] + [probe_radius + zc[j] for j in side]
    kind = [FACE_TIP] * n_core + [FACE_SIDE if zc[j] < active_length else FACE_SHAFT for j in side]
    return Grid(
        geometry="axisymmetric", r_faces=r, z_faces=z, volume=ring[:, None] * dz[None, :],
        g_r=g_r, g_z=g_z, tissue=tissue, probe_cells=np.array(cells, dtype=np.int64),
        probe_g=np.array(g), probe_area=np.array(area),
        probe_radius=probe_radius, active_length=active_length,
        probe_path=np.array(path), probe_kind=np.array(kind, dtype=np.int64),
    )
