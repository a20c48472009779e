"""The temperature at fixed points of a radial or axisymmetric grid (thermocouples), sampled from
the cell-centred field at every output time.

Points are (r, z) in m: r from the probe axis, z along it from the tip (shaft towards +z); a
radial grid has no z. Temperatures are bilinear between cell centres (linear in r on a radial
grid), held constant beyond the outermost centres (by symmetry at the axis). Cells inside the
probe take the temperature of the first tissue cell of their row, as ``cryoplan.injury.point_history``
does, so a point between the probe wall and the first cell centre sees that cell.

>>> from cryoplan.thermal.grid import radial_grid
>>> g = radial_grid(1e-3, 11e-3, 1e-3)
>>> T = np.linspace(250.0, 300.0, g.shape[0])[:, None]
>>> PointSampler(g, np.array([[6e-3, 0.0]]))(T).round(2).tolist()   # halfway between centres 5 and 6
[275.0]
"""

from __future__ import annotations

import numpy as np

from cryoplan.errors import InputError
from cryoplan.thermal.grid import Grid


def _bracket(centres: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper neighbouring centre of each x and the weight of the upper one."""
    if centres.size == 1:
        zero = np.zeros(x.shape, dtype=np.int64)
        return zero, zero, np.zeros(x.shape)
    xc = np.clip(x, centres[0], centres[-1])
    hi = np.clip(np.searchsorted(centres, xc, side="right"), 1, centres.size - 1)
    lo = hi - 1
    return lo, hi, (xc - centres[lo]) / (centres[hi] - centres[lo])


class PointSampler:
    """Bilinear weights of a set of points, computed once; calling it with a field (K per cell)
    gives the temperature at each point."""

    def __init__(self, grid: Grid, points: np.ndarray, where: str = "output.points_mm"):
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        check_points(grid, points, where)
        r, z = points[:, 0], points[:, 1]
        i0, i1, wr = _bracket(grid.r, r)
        j0, j1, wz = _bracket(grid.z, z)
        first = np.argmax(grid.tissue, axis=0)  # first tissue cell of each row (along r)
        cells_i, cells_j, weights = [], [], []
        for i, j, w in ((i0, j0, (1 - wr) * (1 - wz)), (i1, j0, wr * (1 - wz)),
                        (i0, j1, (1 - wr) * wz), (i1, j1, wr * wz)):
            cells_i.append(np.where(grid.tissue[i, j], i, first[j]))
            cells_j.append(j)
            weights.append(w)
        self.i, self.j = np.stack(cells_i, axis=1), np.stack(cells_j, axis=1)
        self.w = np.stack(weights, axis=1)

    def __call__(self, temperature: np.ndarray) -> np.ndarray:
        return (temperature[self.i, self.j] * self.w).sum(axis=1)


def check_points(grid: Grid, points: np.ndarray, where: str) -> None:
    """Every point in the tissue of the domain (InputError naming the first that is not).

    Parameters
    ----------
    grid : Grid
        A radial or axisymmetric grid.
    points : numpy.ndarray, shape (..., 3)
        Points relative to the probe tip, probe along +z [m].
    where : str
        Name of the input for the error message.

    Raises
    ------
    InputError
        For the first point outside the tissue of the domain.
    """
    a = grid.probe_radius
    for k, (r, z) in enumerate(points):
        shown = [round(float(r) * 1e3, 4), round(float(z) * 1e3, 4)]
        if grid.geometry == "radial":
            if z != 0.0:
                raise InputError(f"{where}[{k}]", shown, "z = 0 on a radial grid (an infinitely long probe "
                                                         "has no position along it): leave z empty or 0")
            inside, outside = r < a * (1 - 1e-9), not 0 <= r <= grid.r_faces[-1]
        else:
            inside = r < a * (1 - 1e-9) and z > 0
            outside = not (0 <= r <= grid.r_faces[-1] and grid.z_faces[0] <= z <= grid.z_faces[-1])
        if inside:
            raise InputError(f"{where}[{k}]", shown, f"a point outside the probe (radius {a * 1e3:g} mm, "
                                                     "shaft towards +z from the tip at z = 0)")
        if outside:
            raise InputError(f"{where}[{k}]", shown,
                             f"a point inside the simulated domain (0 <= r <= {grid.r_faces[-1] * 1e3:g} mm"
                             + ("" if grid.geometry == "radial" else
                                f", {grid.z_faces[0] * 1e3:g} <= z <= {grid.z_faces[-1] * 1e3:g} mm")
                             + "): enlarge grid.extent_mm")
