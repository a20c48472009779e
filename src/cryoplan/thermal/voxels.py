"""A 3D Cartesian voxel grid with heterogeneous tissue, and what its six sides do.

Voxel (i, j, k) is a cell centred at ``origin + (i, j, k) * spacing`` (the NIfTI convention for an
axis-aligned affine), holding one material: an index into ``materials`` (a tuple of ``Tissue``).
Conductances per unit conductivity are A / d along each axis: (dy dz / dx, dx dz / dy, dx dy / dz).

Each side of the box is one of

* ``far-field``: held at the initial temperature half a cell outside the last centre;
* ``insulated``: no heat flow;
* ``skin``: convection to room air, q = h_air (T_s - T_air), in series with half a cell of tissue
  (Newton's law of cooling; the coefficient and air temperature are data/environment.toml).

>>> from cryoplan.tissue.library import get_tissue
>>> g = VoxelGrid.uniform((4, 5, 6), 0.5e-3, (get_tissue("muscle"),))
>>> g.n_cells, [round(float(x) * 1e3, 2) for x in g.extent_min], round(float(g.centres(2)[-1]) * 1e3, 3)
(120, [-1.0, -1.25, -1.5], 1.25)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from cryoplan.data import read_toml
from cryoplan.errors import InputError
from cryoplan.tissue.properties import Tissue
from cryoplan.units import c_to_k

SIDES = ("-x", "+x", "-y", "+y", "-z", "+z")
SIDE_KINDS = ("far-field", "insulated", "skin")


@lru_cache(maxsize=1)
def environment() -> dict:
    """Room air at the skin (data/environment.toml).

    Returns
    -------
    dict
        The ``[skin]`` table's heat-transfer coefficient [W/(m2 K)] and air temperature [°C],
        with their sources.

    References
    ----------
    .. [1] de Dear et al., Int J Biometeorol 40 (1997) 141 (the coefficient).
    .. [2] ANSI/ASHRAE/ASHE Standard 170 (the air temperature).
    """
    return read_toml("environment.toml")


@dataclass(frozen=True)
class SkinSurface:
    """Convection from the skin to room air."""

    htc: float = field(default_factory=lambda: environment()["skin"]["htc_w_per_m2_k"])
    air_temperature: float = field(default_factory=lambda: c_to_k(environment()["skin"]["air_temperature_c"]))


@dataclass(frozen=True)
class VoxelGrid:
    """Geometry and materials of a 3D voxel grid (SI units)."""

    spacing: np.ndarray  # (3,) m
    origin: np.ndarray  # (3,) m, centre of voxel (0, 0, 0)
    material: np.ndarray  # (nx, ny, nz) int64 index into ``materials``
    materials: tuple[Tissue, ...]
    sides: tuple[str, ...] = ("far-field",) * 6
    skin: SkinSurface = field(default_factory=SkinSurface)

    def __post_init__(self) -> None:
        if self.material.ndim != 3 or min(self.material.shape) < 3:
            raise InputError("grid.shape", list(self.material.shape), "three axes of at least 3 voxels each")
        if not (np.all(np.isfinite(self.spacing)) and np.all(self.spacing > 0)):
            raise InputError("grid.spacing_mm", (self.spacing * 1e3).tolist(), "three numbers > 0")
        if self.material.min() < 0 or self.material.max() >= len(self.materials):
            raise InputError("grid.material", int(self.material.max()),
                             f"indices into the {len(self.materials)} materials")
        if len(self.sides) != 6:
            raise InputError("grid.sides", list(self.sides), "six entries, for " + ", ".join(SIDES))
        for name, kind in zip(SIDES, self.sides, strict=True):
            if kind not in SIDE_KINDS:
                raise InputError(f"grid.sides.{name}", kind, "one of " + ", ".join(SIDE_KINDS))

    @classmethod
    def uniform(cls, shape: tuple[int, int, int], spacing: float, materials: tuple[Tissue, ...],
                centre: tuple[float, float, float] = (0.0, 0.0, 0.0), **kw) -> VoxelGrid:
        """A box of ``shape`` cubic voxels of ``materials[0]`` centred on ``centre``.

        Parameters
        ----------
        shape : tuple of int
            Voxels along x, y, z.
        spacing : float
            Edge of a voxel [m].
        materials : tuple of Tissue
            The materials; every voxel is ``materials[0]``.
        centre : tuple of float, optional
            Centre of the box [m] (default the origin).
        **kw
            Other fields of ``VoxelGrid`` (``sides``, ``skin``).

        Returns
        -------
        VoxelGrid
            The grid.
        """
        shape_a = np.array(shape)
        spacing_a = np.full(3, float(spacing))
        origin = np.asarray(centre, float) - 0.5 * (shape_a - 1) * spacing_a
        return cls(spacing_a, origin, np.zeros(shape, dtype=np.int64), materials, **kw)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Voxels along x, y, z.

        Returns
        -------
        tuple of int
            (nx, ny, nz).
        """
        return self.material.shape

    @property
    def n_cells(self) -> int:
        """Number of voxels.

        Returns
        -------
        int
            nx ny nz.
        """
        return int(self.material.size)

    @property
    def min_spacing(self) -> float:
        """The smallest voxel edge.

        Returns
        -------
        float
            Spacing [m].
        """
        return float(self.spacing.min())

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel.

        Returns
        -------
        float
            dx dy dz [m^3].
        """
        return float(np.prod(self.spacing))

    @property
    def conductance(self) -> np.ndarray:
        """A / d per unit conductivity for faces normal to x, y, z (m).

        Returns
        -------
        numpy.ndarray, shape (3,)
            (dy dz / dx, dx dz / dy, dx dy / dz) [m].
        """
        dx, dy, dz = self.spacing
        return np.array([dy * dz / dx, dx * dz / dy, dx * dy / dz])

    @property
    def extent_min(self) -> np.ndarray:
        """Corner of the box (m).

        Returns
        -------
        numpy.ndarray, shape (3,)
            The lowest corner (half a voxel before the first centre) [m].
        """
        return self.origin - 0.5 * self.spacing

    @property
    def extent_max(self) -> np.ndarray:
        """Opposite corner of the box.

        Returns
        -------
        numpy.ndarray, shape (3,)
            The highest corner (half a voxel past the last centre) [m].
        """
        return self.origin + (np.array(self.shape) - 0.5) * self.spacing

    def centres(self, axis: int) -> np.ndarray:
        """Voxel-centre coordinates along one axis (m).

        Parameters
        ----------
        axis : int
            0, 1 or 2 for x, y, z.

        Returns
        -------
        numpy.ndarray
            Coordinates [m].
        """
        return self.origin[axis] + np.arange(self.shape[axis]) * self.spacing[axis]

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which points (..., 3) lie inside the box.

        Parameters
        ----------
        points : numpy.ndarray, shape (..., 3)
            Points [m].

        Returns
        -------
        numpy.ndarray of bool, shape (...)
            True inside the box (faces included).
        """
        return np.all((points >= self.extent_min) & (points <= self.extent_max), axis=-1)

    def index_of(self, points: np.ndarray) -> np.ndarray:
        """Integer voxel index (..., 3) of points inside the box.

        Parameters
        ----------
        points : numpy.ndarray, shape (..., 3)
            Points inside the box [m].

        Returns
        -------
        numpy.ndarray of int, shape (..., 3)
            Voxel indices.
        """
        idx = np.floor((points - self.extent_min) / self.spacing).astype(np.int64)
        return np.clip(idx, 0, np.array(self.shape) - 1)

    def material_at(self, points: np.ndarray) -> np.ndarray:
        """The material of the voxel holding each point.

        Parameters
        ----------
        points : numpy.ndarray, shape (..., 3)
            Points inside the box [m].

        Returns
        -------
        numpy.ndarray of int, shape (...)
            Indices into ``materials``.
        """
        i = self.index_of(points)
        return self.material[i[..., 0], i[..., 1], i[..., 2]]

    def material_index(self, name: str) -> int | None:
        """The index of the material named ``name``.

        Parameters
        ----------
        name : str
            A tissue name.

        Returns
        -------
        int or None
            Its index into ``materials``, or None when the grid has none of it.
        """
        for m, t in enumerate(self.materials):
            if t.name == name:
                return m
        return None


def neighbour(values: np.ndarray, axis: int, sign: int) -> np.ndarray:
    """values at the neighbour (i + sign along ``axis``) of each voxel; zero (False) past the box.

    Parameters
    ----------
    values : numpy.ndarray, shape (nx, ny, nz)
        Values per voxel.
    axis : int
        0, 1 or 2.
    sign : int
        +1 or -1.

    Returns
    -------
    numpy.ndarray
        The neighbours' values, the shape and dtype of ``values``.

    Examples
    --------
    >>> neighbour(np.arange(3)[:, None, None], 0, 1).ravel().tolist()
    [1, 2, 0]
    """
    out = np.roll(values, -sign, axis=axis)
    edge = [slice(None)] * 3
    edge[axis] = -1 if sign > 0 else 0
    out[tuple(edge)] = 0
    return out


def boundary_faces(grid: VoxelGrid,
                   tissue: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The box's outer faces that pass heat: (flat cell index, kind 0 far-field / 1 skin,
    conductance per unit k from the cell centre to the side, A / (d/2)), and area A.

    Parameters
    ----------
    grid : VoxelGrid
        The grid; its ``sides`` say which faces pass heat.
    tissue : numpy.ndarray of bool, shape (nx, ny, nz)
        Tissue mask (no face from a probe's voxel).

    Returns
    -------
    cells : numpy.ndarray of int
        Flat index of each face's voxel.
    kind : numpy.ndarray of int
        0 far-field, 1 skin.
    conductance : numpy.ndarray
        A / (d/2) per unit conductivity [m].
    area : numpy.ndarray
        Face area A [m^2].
    """
    nx, ny, nz = grid.shape
    flat = np.arange(grid.n_cells).reshape(grid.shape)
    cells, kinds, gs, areas = [], [], [], []
    for s, kind in enumerate(grid.sides):
        if kind == "insulated":
            continue
        axis, end = divmod(s, 2)
        sl = [slice(None)] * 3
        sl[axis] = -1 if end else 0
        idx = flat[tuple(sl)].ravel()
        idx = idx[tissue.ravel()[idx]]
        area = float(np.prod(np.delete(grid.spacing, axis)))
        cells.append(idx)
        kinds.append(np.full(idx.size, 1 if kind == "skin" else 0))
        gs.append(np.full(idx.size, area / (0.5 * grid.spacing[axis])))
        areas.append(np.full(idx.size, area))
    if not cells:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return (np.concatenate(cells).astype(np.int64), np.concatenate(kinds).astype(np.int64),
            np.concatenate(gs), np.concatenate(areas))
