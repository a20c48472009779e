"""The steady, unfrozen temperature of a voxel grid: where the body sits before the probe cools.

With the tissue unfrozen the Pennes balance of ``kernel3d`` is linear. At steady state, per
tissue voxel P (Pennes, J Appl Physiol 1 (1948) 93):

    sum_faces G k_f (T_N - T_P) + V (w_b rho_b c_b (T_a - T_P) + q_m) + sum_skin U A (T_air - T_P) = 0

with k_f the harmonic mean of the two voxels' conductivities (Patankar 1980, eq. 4.9) and, on a
skin side, U = 1 / (d / (2 k) + 1 / h_air) (``voxels.boundary_faces``). Far-field sides are held
at each voxel's own starting temperature, so they pass no heat at the start and drop out; probe
voxels are left out (a probe at rest passes no heat). The system is symmetric positive definite
(perfusion > 0), solved by conjugate gradients.

``unsteady_voxels`` tells, for any start, which voxels would change: the solver's active box
grows from them, so a steady start lets it skip the body at rest around the ice ball.

>>> from cryoplan.tissue.library import get_tissue
>>> g = VoxelGrid.uniform((5, 5, 5), 1e-3, (get_tissue("muscle"),))
>>> t = steady_temperature(g)
>>> round(float(t.max() - get_tissue("muscle").resting_temperature), 9)
0.0
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import cg
from threadpoolctl import threadpool_limits

from cryoplan.cache import kept
from cryoplan.thermal.voxels import VoxelGrid, boundary_faces
from cryoplan.tissue.enthalpy import C_U, K_U, METABOLIC, PERFUSION, T_ARTERIAL, T_L

#: Relative residual at which conjugate gradients stop: the voxels then drift by at most ~5e-6 K
#: over a 5-minute procedure (0.75 mm lumbar template with a probe in place; 5e-8 K at 1e-10),
#: 200 times below the solver's 1e-3 K notice, in three quarters of the iterations 1e-10 takes.
CG_RTOL = 1e-8


def _links(grid: VoxelGrid, k: np.ndarray, tissue: np.ndarray, axis: int) -> tuple[tuple, tuple, np.ndarray]:
    """The faces between each voxel and its neighbour along +``axis``: the slices of the lower and
    upper voxels, and the faces' G k_f (W/K), 0 unless both voxels are tissue."""
    lo, hi = [slice(None)] * 3, [slice(None)] * 3
    lo[axis], hi[axis] = slice(0, -1), slice(1, None)
    lo, hi = tuple(lo), tuple(hi)
    k_lo, k_hi = k[lo], k[hi]
    g = grid.conductance[axis] * 2.0 * k_lo * k_hi / (k_lo + k_hi)
    return lo, hi, np.where(tissue[lo] & tissue[hi], g, 0.0)


def _skin(grid: VoxelGrid, tissue: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The skin faces' flat cell indices and U A (W/K), U = 1 / (d / (2 k) + 1 / h_air)."""
    cells, kinds, g_side, area = boundary_faces(grid, tissue)
    skin = kinds == 1
    c = cells[skin]
    return c, 1.0 / (1.0 / (g_side[skin] * k.reshape(-1)[c]) + 1.0 / (grid.skin.htc * area[skin]))


def _sources(grid: VoxelGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per voxel (grid-shaped): conductivity (W/m/K), perfusion conductance V w_b rho_b c_b (W/K)
    and the heat that does not depend on T, V (w_b rho_b c_b T_a + q_m) (W)."""
    props = np.stack([m.row() for m in grid.materials])
    mat = grid.material
    w = props[mat, PERFUSION] * grid.voxel_volume
    return props[mat, K_U], w, w * props[mat, T_ARTERIAL] + props[mat, METABOLIC] * grid.voxel_volume


def pennes_operator(grid: VoxelGrid, tissue: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(A, b) with A T = b the unfrozen steady balance over all voxels (W); non-tissue rows are
    the identity with b = 0 (their value does not matter).

    Parameters
    ----------
    grid : VoxelGrid
        The grid and its materials (SI).
    tissue : numpy.ndarray of bool
        Tissue mask (False in a probe's voxels).

    Returns
    -------
    A : scipy.sparse.csr_matrix
        Conductances, perfusion and skin coefficients [W/K], n_cells x n_cells.
    b : numpy.ndarray
        Sources [W]: perfusion times arterial temperature, metabolism, skin times air temperature.

    References
    ----------
    .. [1] Pennes, J Appl Physiol 1 (1948) 93.
    .. [2] Patankar 1980, eq. 4.9 (harmonic-mean face conductivity).
    """
    n = grid.n_cells
    k, w, rhs = _sources(grid)
    diag, rhs = np.zeros(grid.shape), rhs.reshape(-1)
    flat = np.arange(n).reshape(grid.shape)
    rows, cols, vals = [], [], []
    for axis in range(3):
        lo, hi, g = _links(grid, k, tissue, axis)
        linked = g > 0
        a, b, g_ab = flat[lo][linked], flat[hi][linked], g[linked]
        rows += [a, b]
        cols += [b, a]
        vals += [-g_ab, -g_ab]
        diag[lo] += g
        diag[hi] += g
    diag = (diag + w).reshape(-1)
    cells, ua = _skin(grid, tissue, k)
    np.add.at(diag, cells, ua)
    np.add.at(rhs, cells, ua * grid.skin.air_temperature)
    tis = tissue.reshape(-1)
    diag[~tis] = 1.0
    rhs[~tis] = 0.0
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    a_mat = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                              shape=(n, n))
    return a_mat, rhs


def pennes_residual(grid: VoxelGrid, tissue: np.ndarray, t: np.ndarray) -> np.ndarray:
    """b - A T of ``pennes_operator`` (W, grid-shaped; 0 off tissue): the net unfrozen heat into
    each voxel at ``t``, without assembling A (a fifth of the time on the L4 template: 5 ms).

    Parameters
    ----------
    grid : VoxelGrid
        The grid and its materials (SI).
    tissue : numpy.ndarray of bool
        Tissue mask.
    t : numpy.ndarray
        Temperature per voxel [K], grid-shaped.

    Returns
    -------
    numpy.ndarray
        Net heat into each voxel [W], grid-shaped.

    References
    ----------
    .. [1] Pennes, J Appl Physiol 1 (1948) 93.
    .. [2] Patankar 1980, eq. 4.9 (harmonic-mean face conductivity).
    """
    k, w, fixed = _sources(grid)
    r = fixed - w * t
    for axis in range(3):
        lo, hi, g = _links(grid, k, tissue, axis)
        f = g * (t[hi] - t[lo])
        r[lo] += f
        r[hi] -= f
    cells, ua = _skin(grid, tissue, k)
    flat = r.reshape(-1)
    np.add.at(flat, cells, ua * (grid.skin.air_temperature - t.reshape(-1)[cells]))
    r[~tissue] = 0.0
    return r


def steady_temperature(grid: VoxelGrid, tissue: np.ndarray | None = None,
                       guess: np.ndarray | None = None) -> np.ndarray:
    """Steady unfrozen temperature (K) of every voxel; voxels outside ``tissue`` (default: all
    tissue; a probe's voxels are not) take their tissue's resting temperature. ``guess`` (e.g.
    the steady field without the probe) speeds it up.

    Solved by conjugate gradients to a relative residual ``CG_RTOL``.

    Parameters
    ----------
    grid : VoxelGrid
        The grid and its materials (SI).
    tissue : numpy.ndarray of bool or None, optional
        Tissue mask (default None: every voxel).
    guess : numpy.ndarray or None, optional
        Starting temperatures [K], grid-shaped.

    Returns
    -------
    numpy.ndarray
        Temperature per voxel [K], grid-shaped.

    References
    ----------
    .. [1] Pennes, J Appl Physiol 1 (1948) 93.
    .. [2] Patankar 1980, eq. 4.9 (harmonic-mean face conductivity).
    """
    tissue = np.ones(grid.shape, dtype=bool) if tissue is None else tissue
    a_mat, rhs = pennes_operator(grid, tissue)
    rest = np.array([m.resting_temperature for m in grid.materials])[grid.material].reshape(-1)
    if not np.any(rhs):  # no blood, heat or skin drives it (a label volume of CSF or gel alone):
        return rest.reshape(grid.shape)  # it rests where it is (CG would answer 0 K for b = 0)
    precondition = sparse.diags(1.0 / a_mat.diagonal())
    x0 = rest if guess is None else np.asarray(guess, float).reshape(-1)
    # one BLAS thread: the iterations' dot products are small, and OpenBLAS's threads, spinning
    # after each one, made the solve 10-20 times slower on a busy machine
    with threadpool_limits(limits=1, user_api="blas"):
        t, info = cg(a_mat, rhs, x0=x0, rtol=CG_RTOL, atol=0.0, M=precondition, maxiter=20 * round(
            grid.n_cells ** (1 / 3)) + 2000)
    if info != 0:
        raise ArithmeticError(f"the steady temperature did not converge ({info} iterations)")
    t[~tissue.reshape(-1)] = rest[~tissue.reshape(-1)]
    return t.reshape(grid.shape)


def resting_temperature(grid: VoxelGrid) -> np.ndarray:
    """``steady_temperature(grid)``, every voxel tissue, kept between runs (``cryoplan.cache``,
    named by a hash of the grid's labels, geometry, materials and skin): the same anatomy at the
    same spacing is solved once.

    Parameters
    ----------
    grid : VoxelGrid
        The grid and its materials (SI).

    Returns
    -------
    numpy.ndarray
        Temperature per voxel [K], grid-shaped.

    References
    ----------
    .. [1] Pennes, J Appl Physiol 1 (1948) 93.
    .. [2] Patankar 1980, eq. 4.9 (harmonic-mean face conductivity).
    """
    key = (hashlib.sha256(np.ascontiguousarray(grid.material).tobytes()).hexdigest(), grid.shape,
           tuple(map(float, grid.spacing)), tuple(map(float, grid.origin)), grid.materials, grid.sides,
           grid.skin, CG_RTOL)
    return kept("resting-temperature", key, lambda: steady_temperature(grid))


def unsteady_voxels(grid: VoxelGrid, t: np.ndarray, tissue: np.ndarray, seconds: float,
                    tolerance_k: float) -> np.ndarray:
    """Flat indices of tissue voxels that would drift by more than ``tolerance_k`` over
    ``seconds`` without the probes (frozen voxels always count: the balance above is unfrozen).

    Parameters
    ----------
    grid : VoxelGrid
        The grid and its materials (SI).
    t : numpy.ndarray
        Temperature per voxel [K], grid-shaped.
    tissue : numpy.ndarray of bool
        Tissue mask.
    seconds : float
        Time over which the drift is judged [s].
    tolerance_k : float
        Largest drift that counts as steady [K].

    Returns
    -------
    numpy.ndarray of int
        Flat indices of the unsteady voxels.
    """
    props = np.stack([m.row() for m in grid.materials])
    mat = grid.material.reshape(-1)
    heat_capacity = props[mat, C_U] * grid.voxel_volume
    drift = np.abs(pennes_residual(grid, tissue, t).reshape(-1)) / heat_capacity * seconds
    frozen = t.reshape(-1) < props[mat, T_L]
    return np.flatnonzero(tissue.reshape(-1) & ((drift > tolerance_k) | frozen))
