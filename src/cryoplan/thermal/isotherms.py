"""Size of the region colder than an isotherm: radius, length along the axis, and volume.

Temperatures are taken as piecewise linear between cell centres (and the probe wall, where a row
touches the cooled surface), so sizes move smoothly as the ice grows instead of in whole cells:

* radius: the largest distance from the probe axis at which T <= theta, over all rows;
* length: extent along the axis, from the lowest to the highest point with T <= theta;
* volume: sum over rows of the annuli where the interpolated T <= theta, times the row height.

>>> import numpy as np
>>> from cryoplan.thermal.grid import radial_grid
>>> g = radial_grid(1e-3, 11e-3, 1e-3)
>>> T = np.linspace(250.0, 300.0, g.shape[0])[:, None]
>>> r, _, _ = measure(g, T, wall_temperatures(g, np.array([240.0])), 275.0)
>>> round(r * 1e3, 3)   # T = 275 K halfway between the 5th and 6th centres
6.0
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cryoplan.thermal.grid import Grid


def wall_temperatures(grid: Grid, t_wall_faces: np.ndarray) -> np.ndarray:
    """Per row, the temperature of the cooled side wall touching it, then per column the
    temperature of the cooled tip face above it (NaN where none): nr + nz values.

    Parameters
    ----------
    grid : Grid
        The grid.
    t_wall_faces : numpy.ndarray
        Wall temperature of each cooled face [K].

    Returns
    -------
    numpy.ndarray, shape (nr + nz,)
        Wall temperatures [K], NaN where no cooled face touches.
    """
    nr, nz = grid.shape
    out = np.full(nz + nr, np.nan)
    i, j = grid.probe_cells[:, 0], grid.probe_cells[:, 1]
    side = grid.r_faces[i] >= grid.probe_radius - 1e-12
    out[j[side]] = t_wall_faces[side]
    out[nz + i[~side]] = t_wall_faces[~side]
    return out


def measure(grid: Grid, temperature: np.ndarray, wall_rows: np.ndarray,
            theta: float) -> tuple[float, float, float]:
    """(radius m, length m or NaN for radial grids, volume m^3) of the region T <= theta.

    Radial grids report the volume along the probe's active length (an infinitely long probe
    has no length of its own).

    Parameters
    ----------
    grid : Grid
        The grid.
    temperature : numpy.ndarray, shape (nr, nz)
        Temperature per cell [K].
    wall_rows : numpy.ndarray
        Wall temperatures from ``wall_temperatures`` [K].
    theta : float
        The isotherm [K].

    Returns
    -------
    radius : float
        Radius of the region [m].
    length : float
        Length along the axis [m], NaN for a radial grid.
    volume : float
        Volume [m^3].
    """
    nz = grid.shape[1]
    radius, length, volume = _measure(temperature, grid.tissue, grid.r_faces, grid.z_faces,
                                      wall_rows[:nz], wall_rows[nz:], grid.probe_radius, theta)
    if grid.geometry != "axisymmetric":
        return radius, float("nan"), volume * grid.active_length
    return radius, length, volume


@njit(cache=True)
def _crossing(x0, t0, x1, t1, theta):
    return x0 + (theta - t0) / (t1 - t0) * (x1 - x0)


@njit(cache=True)
def _measure(t, tissue, rf, zf, wall_rows, tip_cols, a, theta):
    nr, nz = t.shape
    rc = 0.5 * (rf[1:] + rf[:-1])
    zc = 0.5 * (zf[1:] + zf[:-1])
    radius, volume = 0.0, 0.0
    rs = np.empty(nr + 1)
    ts = np.empty(nr + 1)
    for j in range(nz):
        # nodes of this row: optional wall node, then tissue cell centres
        n = 0
        first = 0
        while first < nr and not tissue[first, j]:
            first += 1
        if first == nr:
            continue
        inner = rf[first]
        if not np.isnan(wall_rows[j]):
            rs[0], ts[0] = a, wall_rows[j]
            n = 1
        for i in range(first, nr):
            rs[n], ts[n] = rc[i], t[i, j]
            n += 1
        dz = zf[j + 1] - zf[j]
        # outermost crossing
        last = -1
        for k in range(n):
            if ts[k] <= theta:
                last = k
        if last < 0:
            continue
        if last == n - 1:
            r_out = rf[nr]
        else:
            r_out = _crossing(rs[last], ts[last], rs[last + 1], ts[last + 1], theta)
        radius = max(radius, r_out)
        # volume: inner piece, segments, outer half cell
        if ts[0] <= theta and rs[0] > inner:
            volume += np.pi * (rs[0] ** 2 - inner**2) * dz
        for k in range(n - 1):
            r0, r1, t0, t1 = rs[k], rs[k + 1], ts[k], ts[k + 1]
            if t0 <= theta and t1 <= theta:
                lo, hi = r0, r1
            elif t0 <= theta:
                lo, hi = r0, _crossing(r0, t0, r1, t1, theta)
            elif t1 <= theta:
                lo, hi = _crossing(r0, t0, r1, t1, theta), r1
            else:
                continue
            volume += np.pi * (hi * hi - lo * lo) * dz
        if ts[n - 1] <= theta:
            volume += np.pi * (rf[nr] ** 2 - rs[n - 1] ** 2) * dz
    # length along the axis, column by column, from the same nodes: cell centres, the side wall
    # (a column of its own at r = a) and the tip face (a node at z = 0 on top of each column
    # under it), so that any region the radius or volume counts also has a length
    bottom, top = np.inf, -np.inf
    zs = np.empty(nz + 1)
    ts = np.empty(nz + 1)
    for i in range(nr + 1):
        n = 0
        if i < nr:
            for j in range(nz):
                if tissue[i, j]:
                    zs[n], ts[n] = zc[j], t[i, j]
                    n += 1
                elif n > 0 and not np.isnan(tip_cols[i]) and zs[n - 1] < 0.0:
                    zs[n], ts[n] = 0.0, tip_cols[i]
                    n += 1
                    # the slab between the last cell centre and the tip face, as the rows do
                    # between the first centre and the side wall
                    z0, t0 = zs[n - 2], ts[n - 2]
                    ring = np.pi * (rf[i + 1] ** 2 - rf[i] ** 2)
                    if tip_cols[i] <= theta:
                        radius = max(radius, rc[i])
                        if t0 > theta:  # the rows count that cell only where its centre is cold
                            volume += ring * (0.0 - _crossing(0.0, tip_cols[i], z0, t0, theta))
                    break
        else:
            for j in range(nz):
                if not np.isnan(wall_rows[j]):
                    zs[n], ts[n] = zc[j], wall_rows[j]
                    n += 1
        for k in range(n):
            if ts[k] > theta:
                continue
            if k > 0 and ts[k - 1] > theta and zs[k - 1] < zs[k]:
                zb = _crossing(zs[k], ts[k], zs[k - 1], ts[k - 1], theta)
            elif k == 0 and i < nr and zs[0] == zc[0]:
                zb = zf[0]
            else:
                zb = zs[k]
            if k < n - 1 and ts[k + 1] > theta:
                zt = _crossing(zs[k], ts[k], zs[k + 1], ts[k + 1], theta)
            elif k == n - 1 and i < nr and zs[k] == zc[nz - 1]:
                zt = zf[nz]
            else:
                zt = zs[k]
            bottom = min(bottom, zb)
            top = max(top, zt)
    length = top - bottom if top >= bottom else 0.0
    return radius, length, volume
