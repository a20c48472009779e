"""Compiled sweeps of the 3D solver: one RKL2 stage over all voxels, the sparse boundary and
probe flows, and the per-voxel thermal history.

The right-hand side is the same finite-volume Pennes bioheat balance with phase change as the
axisymmetric kernel (``kernel.py``; Pennes, J Appl Physiol 1 (1948) 93; Voller & Prakash, Int J
Heat Mass Transfer 30 (1987) 1709):

    V dH/dt = sum_faces G (u_N - u_P) + V f(T) [w_b rho_b c_b (T_a - T) + q_m] + boundary + probe

with u the Kirchhoff variable and the harmonic-mean conductivity across two materials. The
dense part (faces and sources) is evaluated inside the stage sweep, which also forms the stage
combination (``rkl.py``) and the new T and u; the sparse part (probe and outer faces) is added
afterwards by ``scatter``. Sweeps run over x-slabs in parallel (numba prange).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from cryoplan.thermal.kernel import _mixed_face_flow, time_below
from cryoplan.thermal.voxels import neighbour
from cryoplan.tissue.enthalpy import (
    METABOLIC,
    PERFUSION,
    T_ARTERIAL,
    T_L,
    T_S,
    conductivity,
    kirchhoff,
    temperature,
    unfrozen_fraction,
)
from cryoplan.tissue.perfusion import perfusion_weight


@njit(cache=True, inline="always")
def _face(q_ok, g, up, un, tp, tn, mp, mn, props):
    if not q_ok:
        return 0.0
    if mp == mn:
        return g * (un - up)
    return _mixed_face_flow(g, tp, mp, tn, mn, props)


@njit(cache=True, inline="always")
def _faces(i, j, k, nx, ny, nz, gx, gy, gz, up, tp, m, u, t, mat, props, tissue):
    """Heat flow (W) into voxel (i, j, k) through its six faces, each checked: past the box,
    the probe (no flow: the sparse part adds the wall's) or another material."""
    q = 0.0
    if i > 0:
        q += _face(tissue[i - 1, j, k], gx, up, u[i - 1, j, k], tp, t[i - 1, j, k],
                   m, mat[i - 1, j, k], props)
    if i < nx - 1:
        q += _face(tissue[i + 1, j, k], gx, up, u[i + 1, j, k], tp, t[i + 1, j, k],
                   m, mat[i + 1, j, k], props)
    if j > 0:
        q += _face(tissue[i, j - 1, k], gy, up, u[i, j - 1, k], tp, t[i, j - 1, k],
                   m, mat[i, j - 1, k], props)
    if j < ny - 1:
        q += _face(tissue[i, j + 1, k], gy, up, u[i, j + 1, k], tp, t[i, j + 1, k],
                   m, mat[i, j + 1, k], props)
    if k > 0:
        q += _face(tissue[i, j, k - 1], gz, up, u[i, j, k - 1], tp, t[i, j, k - 1],
                   m, mat[i, j, k - 1], props)
    if k < nz - 1:
        q += _face(tissue[i, j, k + 1], gz, up, u[i, j, k + 1], tp, t[i, j, k + 1],
                   m, mat[i, j, k + 1], props)
    return q


def interior_voxels(tissue: np.ndarray, material: np.ndarray) -> np.ndarray:
    """Tissue voxels whose six neighbours are tissue of the same material inside the box: the
    stage sweep's fast path (no per-face checks).

    Parameters
    ----------
    tissue : numpy.ndarray
        Boolean (nx, ny, nz): voxels of tissue (not a probe).
    material : numpy.ndarray
        Integer (nx, ny, nz): each voxel's material index.

    Returns
    -------
    numpy.ndarray
        Boolean (nx, ny, nz): the interior voxels.
    """
    out = tissue.copy()
    for axis in range(3):
        for sign in (-1, 1):  # past the box ``neighbour`` gives no tissue
            out &= neighbour(tissue, axis, sign) & (neighbour(material, axis, sign) == material)
    return out


@njit(cache=True, parallel=True)
def stage(first, y1, y2, y0, r0, t, u, y_out, t_out, u_out, mat, props, tissue, interior, g3, vol, tau,
          mu, nu, mu_t, gamma_t, box, perfusion, t_min, t_ref):
    """One RKL2 stage: Y_out from Y_{j-1} = ``y1`` (with its ``t``, ``u``), Y_{j-2} = ``y2``,
    Y_0 = ``y0`` and the dense rate of Y_0 in ``r0`` (W/m^3). With ``first`` the stage is
    Y_1 = Y_0 + mu~_1 tau M(Y_0), and ``r0`` is filled. Only voxels in ``box`` (i0, i1, j0, j1,
    k0, k1; half-open) are updated; ``interior`` marks the voxels whose faces need no checks
    (``interior_voxels``).

    Parameters
    ----------
    first : bool
        The first stage (Y_1), which also fills ``r0``.
    y1, y2, y0 : numpy.ndarray
        (nx, ny, nz) enthalpies Y_{j-1}, Y_{j-2} and Y_0 [J/m^3].
    r0 : numpy.ndarray
        The rate of Y_0 [W/m^3] (written by the first stage, read by the others).
    t, u : numpy.ndarray
        Temperature [K] and Kirchhoff potential [W/m] of Y_{j-1}.
    y_out, t_out, u_out : numpy.ndarray
        Out: Y_j [J/m^3], its temperature [K] and Kirchhoff potential [W/m].
    mat, props : numpy.ndarray
        Each voxel's material index, and the material table (one row per material).
    tissue, interior : numpy.ndarray
        Boolean: voxels of tissue; voxels with six tissue neighbours of their own material.
    g3 : numpy.ndarray
        Face conductance factors along x, y, z: face area / spacing [m].
    vol : float
        A voxel's volume [m^3].
    tau : float
        The super-step [s].
    mu, nu, mu_t, gamma_t : float
        The stage's RKL2 coefficients (``rkl.coefficients``).
    box : numpy.ndarray
        (i0, i1, j0, j1, k0, k1), half-open voxel ranges updated.
    perfusion : int
        The perfusion model (``cryoplan.tissue.perfusion``: 0 constant; 1 temperature-dependent).
    t_min : numpy.ndarray
        (nx, ny, nz) the coldest temperature of each voxel before this step [K] (stasis).
    t_ref : numpy.ndarray
        (nx, ny, nz) where the temperature-dependent flow starts to fall [K].

    Returns
    -------
    tuple of float
        Perfusion and metabolic heat [W] of Y_{j-1}.
    """
    nx, ny, nz = y1.shape
    gx, gy, gz = g3[0], g3[1], g3[2]
    inv_vol = 1.0 / vol
    c0 = 1.0 - mu - nu
    e_perf = 0.0
    e_met = 0.0
    for i in prange(box[0], box[1]):
        for j in range(box[2], box[3]):
            for k in range(box[4], box[5]):
                if not tissue[i, j, k]:
                    continue
                m = mat[i, j, k]
                up = u[i, j, k]
                tp = t[i, j, k]
                q = 0.0
                if interior[i, j, k]:
                    # six tissue neighbours of the same material: no checks (the same sums in
                    # the same order as below, so the result is identical)
                    q += gx * (u[i - 1, j, k] - up)
                    q += gx * (u[i + 1, j, k] - up)
                    q += gy * (u[i, j - 1, k] - up)
                    q += gy * (u[i, j + 1, k] - up)
                    q += gz * (u[i, j, k - 1] - up)
                    q += gz * (u[i, j, k + 1] - up)
                else:
                    q = _faces(i, j, k, nx, ny, nz, gx, gy, gz, up, tp, m, u, t, mat, props, tissue)
                f = unfrozen_fraction(tp, props, m)
                if f > 0.0:
                    w = perfusion_weight(tp, f, t_min[i, j, k], t_ref[i, j, k], perfusion, props, m)
                    perf = w * props[m, PERFUSION] * (props[m, T_ARTERIAL] - tp) * vol
                    met = f * props[m, METABOLIC] * vol
                    q += perf + met
                    e_perf += perf
                    e_met += met
                rate = q * inv_vol
                if first:
                    r0[i, j, k] = rate
                    hn = y0[i, j, k] + mu_t * tau * rate
                else:
                    hn = (mu * y1[i, j, k] + nu * y2[i, j, k] + c0 * y0[i, j, k]
                          + tau * (mu_t * rate + gamma_t * r0[i, j, k]))
                y_out[i, j, k] = hn
                tn = temperature(hn, props, m)
                t_out[i, j, k] = tn
                u_out[i, j, k] = kirchhoff(tn, props, m)
    return e_perf, e_met


@njit(cache=True)
def box_inflow(t, u, mat, props, tissue, g3, box):
    """Heat flow (W) into ``box`` through its faces from the tissue round it, each face's flow
    as the stage sweep computes it (so the energy balance closes to round-off).

    Parameters
    ----------
    t, u : numpy.ndarray
        (nx, ny, nz) temperature [K] and Kirchhoff potential [W/m] of every voxel.
    mat : numpy.ndarray
        (nx, ny, nz) material indices into ``props``.
    props : numpy.ndarray
        Material property table, one row per material (``Tissue.row()``).
    tissue : numpy.ndarray
        Boolean (nx, ny, nz): voxels of tissue.
    g3 : numpy.ndarray
        Face conductance factors along x, y, z: face area / spacing [m].
    box : numpy.ndarray
        (i0, i1, j0, j1, k0, k1), half-open voxel ranges.

    Returns
    -------
    float
        Heat flow into the box [W].
    """
    nx, ny, nz = t.shape
    total = 0.0
    for f in range(6):
        axis, high = f // 2, f % 2 == 1
        if (high and box[f] == t.shape[axis]) or (not high and box[f] == 0):
            continue
        lo = box[0::2].copy()
        hi = box[1::2].copy()
        layer = box[f] - 1 if high else box[f]
        lo[axis], hi[axis] = layer, layer + 1
        di = (1 if high else -1) if axis == 0 else 0
        dj = (1 if high else -1) if axis == 1 else 0
        dk = (1 if high else -1) if axis == 2 else 0
        for i in range(lo[0], hi[0]):
            for j in range(lo[1], hi[1]):
                for k in range(lo[2], hi[2]):
                    if tissue[i, j, k]:
                        a, b, c = i + di, j + dj, k + dk
                        total += _face(tissue[a, b, c], g3[axis], u[i, j, k], u[a, b, c], t[i, j, k],
                                       t[a, b, c], mat[i, j, k], mat[a, b, c], props)
    return total


@njit(cache=True)
def disturbed_faces(t, t_start, tissue, box, tolerance):
    """Per face of ``box`` (lo x, hi x, lo y, hi y, lo z, hi z): whether a tissue voxel of its
    outer layer differs from ``t_start`` by more than ``tolerance`` (K). Faces on the grid's
    edge are never flagged: nothing lies beyond them.

    Parameters
    ----------
    t, t_start : numpy.ndarray
        (nx, ny, nz) temperature now and at the start [K].
    tissue : numpy.ndarray
        Boolean (nx, ny, nz): voxels of tissue.
    box : numpy.ndarray
        (i0, i1, j0, j1, k0, k1), half-open voxel ranges.
    tolerance : float
        Change that counts as a disturbance [K].

    Returns
    -------
    numpy.ndarray
        Boolean (6,): each face disturbed or not.
    """
    out = np.zeros(6, dtype=np.bool_)
    shape = t.shape
    for f in range(6):
        axis, high = f // 2, f % 2 == 1
        if (high and box[f] == shape[axis]) or (not high and box[f] == 0):
            continue
        lo = box[0::2].copy()
        hi = box[1::2].copy()
        layer = box[f] - 1 if high else box[f]
        lo[axis], hi[axis] = layer, layer + 1
        for i in range(lo[0], hi[0]):
            for j in range(lo[1], hi[1]):
                for k in range(lo[2], hi[2]):
                    if tissue[i, j, k] and abs(t[i, j, k] - t_start[i, j, k]) > tolerance:
                        out[f] = True
                        break
                if out[f]:
                    break
            if out[f]:
                break
    return out


@njit(cache=True)
def boundary_flows(cells, kinds, g, area, t, u, mat, props, t_far, h_air, t_air, flows):
    """Heat flow in (W) through each outer face: far-field faces from a side held at ``t_far[f]``
    (the cell's initial temperature) half a cell away; skin faces from room air through h_air in
    series with half a cell of tissue (conductivity at the cell's temperature).

    Parameters
    ----------
    cells : numpy.ndarray
        Flat index of the voxel behind each outer face.
    kinds : numpy.ndarray
        Per face: 0 far field, 1 skin to air.
    g : numpy.ndarray
        Per face: area / half a voxel [m].
    area : numpy.ndarray
        Per face: its area [m^2].
    t, u : numpy.ndarray
        (nx, ny, nz) temperature [K] and Kirchhoff potential [W/m].
    mat : numpy.ndarray
        (nx, ny, nz) material indices into ``props``.
    props : numpy.ndarray
        Material property table, one row per material (``Tissue.row()``).
    t_far : numpy.ndarray
        Per face: the far field's temperature [K].
    h_air : float
        Skin-to-air heat-transfer coefficient [W/(m^2 K)].
    t_air : float
        Room air temperature [K].
    flows : numpy.ndarray
        Out: per face, the heat flow in [W].

    Returns
    -------
    float
        Total heat flow in [W].
    """
    tf, uf, mf = t.ravel(), u.ravel(), mat.ravel()
    total = 0.0
    for f in range(cells.size):
        c = cells[f]
        m = mf[c]
        if kinds[f] == 0:
            flows[f] = g[f] * (kirchhoff(t_far[f], props, m) - uf[c])
        else:
            k = conductivity(tf[c], props, m)
            flows[f] = (t_air - tf[c]) / (1.0 / (g[f] * k) + 1.0 / (h_air * area[f]))
        total += flows[f]
    return total


@njit(cache=True)
def scatter(cells, flows, flows0, w, w0, vol, y, t, u, mat, props):
    """y[c] += (w flows + w0 flows0) / V at each listed cell (W in, so positive heats), then
    refresh its T and u.

    Parameters
    ----------
    cells : numpy.ndarray
        Flat voxel index of each flow.
    flows, flows0 : numpy.ndarray
        Heat flows in at the stage and at Y_0 [W].
    w, w0 : float
        Their weights in the stage (seconds) [s].
    vol : float
        A voxel's volume [m^3].
    y, t, u : numpy.ndarray
        (nx, ny, nz) enthalpy [J/m^3] (updated), temperature [K] and Kirchhoff potential [W/m]
        (refreshed at the listed cells).
    mat : numpy.ndarray
        (nx, ny, nz) material indices into ``props``.
    props : numpy.ndarray
        Material property table, one row per material (``Tissue.row()``).
    """
    yf, tf, uf, mf = y.ravel(), t.ravel(), u.ravel(), mat.ravel()
    inv = 1.0 / vol
    for f in range(cells.size):
        yf[cells[f]] += (w * flows[f] + w0 * flows0[f]) * inv
    for f in range(cells.size):
        c = cells[f]
        tf[c] = temperature(yf[c], props, mf[c])
        uf[c] = kirchhoff(tf[c], props, mf[c])


@njit(cache=True, parallel=True)
def record_history(t_old, t_new, tissue, mat, props, t1, dt, t_min, thresholds, seconds_below,
                   liquidus_time, solidus_time, frozen, cycles, box, t_start, tolerance):
    """Add the step (t1 - dt, t1] to the history of each voxel in ``box``, T linear in time
    within it. Returns per x-slab the (j_lo, j_hi, k_lo, k_hi) range of the voxels that differ
    from ``t_start`` by more than ``tolerance`` (j_hi = -1: none), so the caller can grow the box.

    Parameters
    ----------
    t_old, t_new : numpy.ndarray
        (nx, ny, nz) temperatures at the step's start and end [K].
    tissue : numpy.ndarray
        Boolean (nx, ny, nz): voxels of tissue.
    mat, props : numpy.ndarray
        Each voxel's material index, and the material table (one row per material).
    t1 : float
        The step's end [s].
    dt : float
        The step's length [s].
    t_min, thresholds, seconds_below, liquidus_time, solidus_time, frozen, cycles : numpy.ndarray
        The thermal history (``ThermalHistory``), updated: coldest temperature [K], the
        thresholds [K] and seconds spent below each [s], times of crossing the liquidus and the
        solidus [s], whether frozen now, and freeze cycles.
    box : numpy.ndarray
        (i0, i1, j0, j1, k0, k1), half-open voxel ranges recorded.
    t_start : numpy.ndarray
        (nx, ny, nz) temperatures at the run's start [K].
    tolerance : float
        Change that counts as a disturbance [K].

    Returns
    -------
    numpy.ndarray
        (nx, 4) int per x-slab: j_lo, j_hi, k_lo, k_hi of the disturbed voxels (j_hi = -1: none).
    """
    nx, ny, nz = t_new.shape
    lo_hi = np.full((nx, 4), -1, dtype=np.int64)
    for i in prange(box[0], box[1]):
        j_lo, j_hi, k_lo, k_hi = ny, -1, nz, -1
        for j in range(box[2], box[3]):
            for k in range(box[4], box[5]):
                if not tissue[i, j, k]:
                    continue
                old, new = t_old[i, j, k], t_new[i, j, k]
                if abs(new - t_start[i, j, k]) > tolerance:
                    j_lo, j_hi = min(j_lo, j), max(j_hi, j)
                    k_lo, k_hi = min(k_lo, k), max(k_hi, k)
                if new < t_min[i, j, k]:
                    t_min[i, j, k] = new
                for n in range(thresholds.size):
                    seconds_below[n, i, j, k] += time_below(old, new, thresholds[n], dt)
                m = mat[i, j, k]
                tl, ts = props[m, T_L], props[m, T_S]
                if old > tl >= new and np.isnan(liquidus_time[i, j, k]):
                    liquidus_time[i, j, k] = t1 - dt * (tl - new) / (old - new)
                if old > ts >= new and np.isnan(solidus_time[i, j, k]):
                    solidus_time[i, j, k] = t1 - dt * (ts - new) / (old - new)
                if new <= ts and not frozen[i, j, k]:
                    frozen[i, j, k] = True
                    cycles[i, j, k] += 1
                elif new >= tl and frozen[i, j, k]:
                    frozen[i, j, k] = False
        lo_hi[i, 0], lo_hi[i, 1], lo_hi[i, 2], lo_hi[i, 3] = j_lo, j_hi, k_lo, k_hi
    return lo_hi
