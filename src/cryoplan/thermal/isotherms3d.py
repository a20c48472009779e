"""Size of the region colder than an isotherm on a voxel grid: its volume, and per probe its
radius (largest distance from the probe's axis) and length (extent along the axis).

As in the axisymmetric measure (``isotherms.py``), T is taken as linear between neighbouring
voxel centres, so sizes move smoothly as the ice grows. The isotherm surface is the set of
points where T crosses theta on the segments between tissue neighbours (and the box's sides,
where the cold region reaches them); each surface point belongs to the probe whose axis is
nearest. The volume is V times the mean, over each voxel's six half-segments towards its
neighbours, of the fraction of the half-segment at or below theta.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _fraction_below(tc, tn, theta):
    """Fraction of the half-segment from a centre (tc) towards a neighbour (tn) with T <= theta."""
    tm = 0.5 * (tc + tn)
    if tc <= theta and tm <= theta:
        return 1.0
    if tc > theta and tm > theta:
        return 0.0
    x = (theta - tc) / (tm - tc)
    return x if tc <= theta else 1.0 - x


@njit(cache=True)
def _owner(p, tips, axes):
    """Nearest probe axis (the ray from the tip towards the handle) to point p, and (radial,
    axial) distance from it."""
    best, br, bs, br_rad = 0, np.inf, 0.0, 0.0
    for q in range(tips.shape[0]):
        w0 = p[0] - tips[q, 0]
        w1 = p[1] - tips[q, 1]
        w2 = p[2] - tips[q, 2]
        s = w0 * axes[q, 0] + w1 * axes[q, 1] + w2 * axes[q, 2]
        r0, r1, r2 = w0 - s * axes[q, 0], w1 - s * axes[q, 1], w2 - s * axes[q, 2]
        r = np.sqrt(r0 * r0 + r1 * r1 + r2 * r2)
        d = r if s >= 0 else np.sqrt(r * r + s * s)
        if d < br:
            best, br, bs = q, d, s
            br_rad = r
    return best, br_rad, bs


@njit(cache=True, inline="always")
def _crossing_point(p, origin, spacing, i, j, k, axis, offset):
    p[0] = origin[0] + i * spacing[0]
    p[1] = origin[1] + j * spacing[1]
    p[2] = origin[2] + k * spacing[2]
    p[axis] += offset * spacing[axis]


@njit(cache=True, parallel=True)
def _measure_slabs(t, tissue, origin, spacing, thetas, tips, axes, box):
    """Per x-slab and isotherm: volume, and per probe radius, lowest and highest axial position."""
    nx, ny, nz = t.shape
    n_th, n_p = thetas.size, tips.shape[0]
    volume = np.zeros((nx, n_th))
    radius = np.zeros((nx, n_th, n_p))
    s_lo = np.full((nx, n_th, n_p), np.inf)
    s_hi = np.full((nx, n_th, n_p), -np.inf)
    vol = spacing[0] * spacing[1] * spacing[2]
    for i in prange(box[0], box[1]):
        p = np.empty(3)
        nb = np.empty(6)
        has = np.empty(6, dtype=np.bool_)
        for j in range(box[2], box[3]):
            for k in range(box[4], box[5]):
                if not tissue[i, j, k]:
                    continue
                tc = t[i, j, k]
                # neighbour temperatures (-x, +x, -y, +y, -z, +z); has: a tissue neighbour exists
                has[0] = i > 0 and tissue[i - 1, j, k]
                has[1] = i < nx - 1 and tissue[i + 1, j, k]
                has[2] = j > 0 and tissue[i, j - 1, k]
                has[3] = j < ny - 1 and tissue[i, j + 1, k]
                has[4] = k > 0 and tissue[i, j, k - 1]
                has[5] = k < nz - 1 and tissue[i, j, k + 1]
                nb[0] = t[i - 1, j, k] if has[0] else tc
                nb[1] = t[i + 1, j, k] if has[1] else tc
                nb[2] = t[i, j - 1, k] if has[2] else tc
                nb[3] = t[i, j + 1, k] if has[3] else tc
                nb[4] = t[i, j, k - 1] if has[4] else tc
                nb[5] = t[i, j, k + 1] if has[5] else tc
                lo_nb = min(tc, nb.min())
                for n in range(n_th):
                    theta = thetas[n]
                    if lo_nb > theta:
                        continue
                    frac = 0.0
                    for f in range(6):
                        frac += _fraction_below(tc, nb[f], theta)
                    volume[i, n] += vol * frac / 6.0
                    if tc > theta or n_p == 0:
                        continue
                    for f in range(6):
                        axis, sign = f // 2, 2 * (f % 2) - 1
                        if has[f]:
                            if not nb[f] > theta:
                                continue
                            offset = sign * (theta - tc) / (nb[f] - tc)
                        else:
                            idx = (i, j, k)[axis] + sign
                            if 0 <= idx < t.shape[axis]:
                                continue  # the neighbour is a probe: no isotherm there
                            offset = 0.5 * sign  # the cold region reaches the box's side
                        _crossing_point(p, origin, spacing, i, j, k, axis, offset)
                        q, r, s = _owner(p, tips, axes)
                        radius[i, n, q] = max(radius[i, n, q], r)
                        s_lo[i, n, q] = min(s_lo[i, n, q], s)
                        s_hi[i, n, q] = max(s_hi[i, n, q], s)
    return volume, radius, s_lo, s_hi


def measure(t: np.ndarray, tissue: np.ndarray, origin: np.ndarray, spacing: np.ndarray,
            thetas: np.ndarray, tips: np.ndarray, axes: np.ndarray, box: np.ndarray):
    """For each isotherm in ``thetas``: volume (m^3), and per probe radius and length (m) of the
    region T <= theta, over the voxels in ``box`` (i0, i1, j0, j1, k0, k1; half-open; the
    caller guarantees the voxels outside are warmer than every theta).

    Returns arrays shaped (n_theta,), (n_theta, n_probes), (n_theta, n_probes).

    Parameters
    ----------
    t : numpy.ndarray, shape (nx, ny, nz)
        Temperature per voxel [K].
    tissue : numpy.ndarray of bool
        Tissue mask.
    origin : numpy.ndarray, shape (3,)
        Centre of voxel (0, 0, 0) [m].
    spacing : numpy.ndarray, shape (3,)
        Voxel edges [m].
    thetas : numpy.ndarray
        Isotherms [K].
    tips : numpy.ndarray, shape (n_probes, 3)
        Probe tips [m].
    axes : numpy.ndarray, shape (n_probes, 3)
        Unit probe directions [-].
    box : numpy.ndarray of int, shape (6,)
        The voxels to measure.

    Returns
    -------
    volume : numpy.ndarray, shape (n_theta,)
        Volume [m^3].
    radius : numpy.ndarray, shape (n_theta, n_probes)
        Radius about each probe's axis [m].
    length : numpy.ndarray, shape (n_theta, n_probes)
        Length along each probe's axis [m].
    """
    volume, radius, s_lo, s_hi = _measure_slabs(t, tissue, origin, spacing, np.asarray(thetas, float),
                                                tips, axes, box)
    lo, hi = s_lo.min(axis=0), s_hi.max(axis=0)
    return volume.sum(axis=0), radius.max(axis=0), np.where(hi >= lo, hi - lo, 0.0)
