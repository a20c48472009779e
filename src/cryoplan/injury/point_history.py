"""The thermal history at arbitrary points of a run: 1D radial or 2D axisymmetric (points in m
relative to the probe tip, the probe along +z), or 3D voxels (points in the box's frame, m).

Minimum temperature and time below each threshold are interpolated bilinearly between cell
centres (linearly in r for a radial run); the freeze count and the cooling rate are taken from
the nearest cell, as they are not smooth. Cells inside the probe carry no tissue history: for
interpolation they take the values of the first tissue cell of their row (in 3D, of the nearest
tissue voxel), so a point between the probe wall and the first cell centre sees that cell
(slightly warmer than the wall side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.interpolate import RegularGridInterpolator

from cryoplan.errors import InputError
from cryoplan.thermal.grid import Grid
from cryoplan.thermal.history import ThermalHistory
from cryoplan.thermal.voxels import VoxelGrid


@dataclass(frozen=True)
class PointHistory:
    """History sampled at points (arrays shaped like the points without their last axis)."""

    min_temperature: np.ndarray  # K
    seconds_below: dict[float, np.ndarray]  # threshold K -> s
    freeze_cycles: np.ndarray
    cooling_rate: np.ndarray  # K/s through the freezing range, NaN if never frozen


def check_in_voxels(grid: VoxelGrid, tissue: np.ndarray, points: np.ndarray, where: str) -> None:
    """Points must lie in the box and not in a probe's voxels.

    Parameters
    ----------
    grid : VoxelGrid
        The 3D grid.
    tissue : numpy.ndarray of bool
        Tissue mask of the voxels (False in a probe).
    points : numpy.ndarray, shape (..., 3)
        Points in the box's frame [m].
    where : str
        Name of the input for the error message.

    Raises
    ------
    InputError
        When a point lies outside the box or in a probe's voxel.
    """
    outside = ~grid.contains(points)
    if outside.any():
        p = points[outside][0] * 1e3
        raise InputError(where, [round(float(x), 3) for x in p],
                         "a nerve inside the simulated volume "
                         f"({np.round(grid.extent_min * 1e3, 2).tolist()} to "
                         f"{np.round(grid.extent_max * 1e3, 2).tolist()} mm)")
    idx = grid.index_of(points)
    in_probe = ~tissue[idx[..., 0], idx[..., 1], idx[..., 2]]
    if in_probe.any():
        p = points[in_probe][0] * 1e3
        raise InputError(where, [round(float(x), 3) for x in p],
                         "a nerve outside the probe: this point lies in a probe's voxel "
                         "(mind the nerve's own radius)")


class VoxelSampler:
    """The thermal history of a 3D run at any points, built once per run (a planner samples
    thousands of shifted nerves): probe voxels take the values of the nearest tissue voxel."""

    def __init__(self, grid: VoxelGrid, history: ThermalHistory, t_liquidus: float, t_solidus: float):
        self.grid, self.tissue = grid, history.tissue
        nearest = tuple(ndimage.distance_transform_edt(~history.tissue, return_distances=False,
                                                       return_indices=True))
        centres = tuple(grid.centres(a) for a in range(3))
        self.lo = np.array([c[0] for c in centres])
        self.hi = np.array([c[-1] for c in centres])

        def interp(values: np.ndarray, method: str) -> RegularGridInterpolator:
            return RegularGridInterpolator(centres, values[nearest], method=method)

        self.min_temperature = interp(history.min_temperature, "linear")
        self.below = {float(th): interp(history.seconds_below[k], "linear")
                      for k, th in enumerate(history.thresholds)}
        self.cycles = interp(history.freeze_cycles.astype(float), "nearest")
        self.rate = interp(history.cooling_rate(t_liquidus, t_solidus), "nearest")

    def __call__(self, points: np.ndarray, where: str = "nerve",
                 inside_probe_ok: bool = False) -> PointHistory:
        """History at ``points`` (..., 3); points in a probe's voxels are an error unless
        ``inside_probe_ok`` (a placement error may push the probe onto the nerve)."""
        if inside_probe_ok:
            check_in_voxels(self.grid, np.ones_like(self.tissue), points, where)
        else:
            check_in_voxels(self.grid, self.tissue, points, where)
        q = np.clip(points, self.lo, self.hi)
        return PointHistory(self.min_temperature(q), {th: f(q) for th, f in self.below.items()},
                            self.cycles(q).astype(int), self.rate(q))


def to_grid_coordinates(grid: Grid, points: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(r, z) of points, checked to lie in the tissue of the grid's domain.

    Parameters
    ----------
    grid : Grid
        A radial or axisymmetric grid.
    points : numpy.ndarray, shape (..., 3)
        Points relative to the probe tip, probe along +z [m].
    where : str
        Name of the input for the error message.

    Returns
    -------
    r : numpy.ndarray
        Distance from the probe axis [m].
    z : numpy.ndarray
        Height along the axis from the tip [m].

    Raises
    ------
    InputError
        When a point lies inside the probe or outside the domain.
    """
    r = np.hypot(points[..., 0], points[..., 1])
    z = points[..., 2]
    a = grid.probe_radius
    if grid.geometry == "radial":
        inside_probe = r < a * (1 - 1e-9)
        outside = r > grid.r_faces[-1]
    else:
        inside_probe = (r < a * (1 - 1e-9)) & (z > 0)
        outside = (r > grid.r_faces[-1]) | (z < grid.z_faces[0]) | (z > grid.z_faces[-1])
    if inside_probe.any():
        p = points[inside_probe][0] * 1e3
        raise InputError(where, [round(float(x), 3) for x in p],
                         f"a nerve outside the probe: this point is {np.hypot(p[0], p[1]):.3f} mm from the "
                         f"axis, inside the probe radius {a * 1e3:g} mm (mind the nerve's own radius)")
    if outside.any():
        p = points[outside][0] * 1e3
        raise InputError(where, [round(float(x), 3) for x in p],
                         f"a nerve inside the simulated domain (r <= {grid.r_faces[-1] * 1e3:g} mm, "
                         f"{grid.z_faces[0] * 1e3:g} <= z <= {grid.z_faces[-1] * 1e3:g} mm): "
                         "enlarge grid.extent_mm")
    return r, z


def _fill_probe(grid: Grid, values: np.ndarray) -> np.ndarray:
    """Non-tissue cells take the value of the first tissue cell in their row (along r)."""
    out = values.copy()
    for j in range(grid.shape[1]):
        col = grid.tissue[:, j]
        if not col.all():
            first = int(np.argmax(col))
            out[~col, j] = values[first, j]
    return out


def _interpolator(grid: Grid, values: np.ndarray, method: str):
    values = _fill_probe(grid, values)
    rc, zc = grid.r, grid.z
    if grid.geometry == "radial":
        def f(r, z):
            if method == "nearest":
                idx = np.clip(np.searchsorted(grid.r_faces, r, side="right") - 1, 0, len(rc) - 1)
                return values[idx, 0]
            return np.interp(r, rc, values[:, 0])
        return f
    interp = RegularGridInterpolator((rc, zc), values, method=method, bounds_error=False, fill_value=None)

    def g(r, z):
        rr = np.clip(r, rc[0], rc[-1])
        zz = np.clip(z, zc[0], zc[-1])
        return interp(np.stack([rr, zz], axis=-1))
    return g


def sample(grid: Grid | VoxelGrid, history: ThermalHistory, points: np.ndarray, t_liquidus: float,
           t_solidus: float, where: str = "nerve", inside_probe_ok: bool = False) -> PointHistory:
    """The thermal history at ``points`` (..., 3) (``inside_probe_ok``: see ``VoxelSampler``).

    Minimum temperature and time below are interpolated (bilinearly, or linearly in r); freeze
    count and cooling rate are taken from the nearest cell.

    Parameters
    ----------
    grid : Grid or VoxelGrid
        The run's grid.
    history : ThermalHistory
        The run's thermal history.
    points : numpy.ndarray, shape (..., 3)
        Points [m]: relative to the probe tip (radial, axisymmetric) or in the box's frame (3D).
    t_liquidus : float
        Liquidus of the tissue [K], for the cooling rate through the freezing range.
    t_solidus : float
        Solidus of the tissue [K].
    where : str, optional
        Name of the input for error messages (default ``"nerve"``).
    inside_probe_ok : bool, optional
        Allow 3D points in a probe's voxels (default False).

    Returns
    -------
    PointHistory
        Minimum temperature [K], time below each threshold [s], freeze cycles [-] and cooling
        rate through the freezing range [K/s] at each point.
    """
    if isinstance(grid, VoxelGrid):
        return VoxelSampler(grid, history, t_liquidus, t_solidus)(points, where, inside_probe_ok)
    r, z = to_grid_coordinates(grid, points, where)
    tmin = _interpolator(grid, history.min_temperature, "linear")(r, z)
    below = {float(th): _interpolator(grid, history.seconds_below[k], "linear")(r, z)
             for k, th in enumerate(history.thresholds)}
    cycles = _interpolator(grid, history.freeze_cycles.astype(float), "nearest")(r, z).astype(int)
    rate = _interpolator(grid, history.cooling_rate(t_liquidus, t_solidus), "nearest")(r, z)
    return PointHistory(tmin, below, cycles, rate)
