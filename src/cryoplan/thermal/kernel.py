"""The compiled time loop: explicit finite-volume enthalpy stepping of Pennes' bioheat equation
with phase change, a probe boundary and per-cell thermal history.

    V dH/dt = sum_faces G (u_N - u_P) + V f(T) [w_b rho_b c_b (T_a - T) + q_m] - Q_probe

(Pennes, J Appl Physiol 1 (1948) 93; enthalpy method: Voller & Prakash, Int J Heat Mass Transfer
30 (1987) 1709). u is the Kirchhoff variable of the cell's material; across two different
materials the face uses the harmonic mean conductivity. Forward Euler in time is stable and
monotone for dt <= V / (alpha_max sum G) (``stable_time_step``).

Probe modes (``mode``):
    0 OFF     no heat flow at the probe surface (passive thaw: gas stopped);
    1 WALL    wall held at ``t_set`` (fixed-temperature probe);
    2 GAS     gas at ``t_set`` behind an internal heat-transfer coefficient (active thaw);
    4 HEAT_FLOW a set total heat flow ``t_set`` (W) leaves through the cooled faces in proportion
              to their area (a probe of known cooling power; exact line-sink verification);
    3 CRYOGEN gas boiling at ``cap_t[0]`` behind the heat-transfer coefficient, with refrigeration
              limited to m_dot q(T_g): when the load exceeds it the gas warms until
              sum_faces hA (T_w - T_g) = m_dot q(T_g), q from the cryogen model's curve.
For modes 2 and 3 each face's wall temperature solves G (u_P - u(T_w)) = hA (T_w - T_g)
(Newton, warm-started from the last step).

Everything runs inside one compiled call per output interval; the state stays consistent
(T and u are those of H) at the call's entry and exit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cryoplan.tissue.enthalpy import (
    K_F,
    K_U,
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

OFF, WALL, GAS, CRYOGEN, HEAT_FLOW = 0, 1, 2, 3, 4
E_PROBE, E_PERFUSION, E_METABOLIC, E_BOUNDARY = range(4)


@njit(cache=True)
def _mixed_face_flow(g, t0, m0, t1, m1, props):
    """Heat flow (W) from cell 1 into cell 0 across two materials: harmonic-mean conductivity
    (Patankar 1980, eq. 4.9). Kept out of line: the common same-material face is written out
    in the loop, since an inlined general face function costs ~10x there."""
    k0 = conductivity(t0, props, m0)
    k1 = conductivity(t1, props, m1)
    return g * 2.0 * k0 * k1 / (k0 + k1) * (t1 - t0)


@njit(cache=True)
def _wall_flows(t_gas, cells, pg, pha, mat, props, t, u, t_wall, flows):
    """Heat flows into the probe (W) for a gas temperature; returns (total, d total / d t_gas)."""
    total, slope = 0.0, 0.0
    for f in range(cells.shape[0]):
        i, j = cells[f, 0], cells[f, 1]
        m = mat[i, j]
        g, ha = pg[f], pha[f]
        tw = t_wall[f]
        for _ in range(20):
            res = g * (u[i, j] - kirchhoff(tw, props, m)) - ha * (tw - t_gas)
            step = res / (g * conductivity(tw, props, m) + ha)
            tw += step
            if abs(step) < 1e-9:
                break
        t_wall[f] = tw
        flows[f] = ha * (tw - t_gas)
        gk = g * conductivity(tw, props, m)
        total += flows[f]
        slope -= ha * gk / (gk + ha)
    return total, slope


@njit(cache=True)
def _capacity(t_gas, mass_flow, cap_t, cap_q):
    """m_dot q(T_g) and its slope, linear in the tabulated refrigeration curve."""
    n = cap_t.size
    k = np.searchsorted(cap_t, t_gas) - 1
    k = min(max(k, 0), n - 2)
    slope = (cap_q[k + 1] - cap_q[k]) / (cap_t[k + 1] - cap_t[k])
    return mass_flow * (cap_q[k] + slope * (t_gas - cap_t[k])), mass_flow * slope


@njit(cache=True)
def probe_flows(mode, t_set, t_gas_prev, mass_flow, cap_t, cap_q, cells, pg, pha, mat, props,
                t, u, t_wall, flows):
    """Heat flow into the probe through each cooled face (W, in ``flows``); returns the gas
    temperature used (NaN when there is no gas)."""
    if mode == OFF:
        for f in range(cells.shape[0]):
            flows[f] = 0.0
            t_wall[f] = t[cells[f, 0], cells[f, 1]]
        return np.nan
    if mode == WALL:
        for f in range(cells.shape[0]):
            i, j = cells[f, 0], cells[f, 1]
            flows[f] = pg[f] * (u[i, j] - kirchhoff(t_set, props, mat[i, j]))
            t_wall[f] = t_set
        return np.nan
    if mode == HEAT_FLOW:
        total_area = pha.sum()
        for f in range(cells.shape[0]):
            i, j = cells[f, 0], cells[f, 1]
            flows[f] = t_set * pha[f] / total_area
            t_wall[f] = t[i, j] - flows[f] / (pg[f] * conductivity(t[i, j], props, mat[i, j]))
        return np.nan
    if mode == GAS:
        _wall_flows(t_set, cells, pg, pha, mat, props, t, u, t_wall, flows)
        return t_set
    # CRYOGEN: boil at cap_t[0] unless the load exceeds the refrigeration there
    t_boil = cap_t[0]
    load, _ = _wall_flows(t_boil, cells, pg, pha, mat, props, t, u, t_wall, flows)
    cap, _ = _capacity(t_boil, mass_flow, cap_t, cap_q)
    if load <= cap:
        return t_boil
    lo, hi = t_boil, cap_t[-1]
    tg = lo if np.isnan(t_gas_prev) else min(max(t_gas_prev, lo), hi)
    for _ in range(60):
        load, dload = _wall_flows(tg, cells, pg, pha, mat, props, t, u, t_wall, flows)
        cap, dcap = _capacity(tg, mass_flow, cap_t, cap_q)
        res = load - cap  # decreasing in tg
        if res > 0:
            lo = tg
        else:
            hi = tg
        new = tg - res / (dload - dcap)
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - tg) < 1e-7:
            tg = new
            break
        tg = new
    _wall_flows(tg, cells, pg, pha, mat, props, t, u, t_wall, flows)
    return tg


@njit(cache=True)
def _outer_boundary(h, u, mat, props, tissue, vol, g_r, g_z, t_far, dt):
    """Heat flow in from the far field (held at t_far) through the outer faces; returns W."""
    nr, nz = h.shape
    total = 0.0
    for j in range(nz):
        if g_r[nr, j] > 0.0 and tissue[nr - 1, j]:
            b = g_r[nr, j] * (kirchhoff(t_far, props, mat[nr - 1, j]) - u[nr - 1, j])
            h[nr - 1, j] += dt * b / vol[nr - 1, j]
            total += b
    for i in range(nr):
        for j, g in ((0, g_z[i, 0]), (nz - 1, g_z[i, nz])):
            if g > 0.0 and tissue[i, j]:
                b = g * (kirchhoff(t_far, props, mat[i, j]) - u[i, j])
                h[i, j] += dt * b / vol[i, j]
                total += b
    return total


@njit(cache=True)
def refresh(h, t, u, mat, props, tissue):
    """T and u of every tissue cell from its enthalpy."""
    nr, nz = h.shape
    for i in range(nr):
        for j in range(nz):
            if tissue[i, j]:
                m = mat[i, j]
                t[i, j] = temperature(h[i, j], props, m)
                u[i, j] = kirchhoff(t[i, j], props, m)


@njit(cache=True)
def _sweep(h, t, u, t_new, u_new, mat, props, tissue, vol, inv_vol, g_r, g_z, dt, t1,
           t_min, thresholds, seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles):
    """One fused explicit step over all cells: face flows from the old (t, u), perfusion and
    metabolism, the new enthalpy, the new (t_new, u_new) and the thermal history of
    (t1 - dt, t1]. Faces to the probe interior have g = 0, so neighbours need no tissue check.
    Returns (perfusion W, metabolism W)."""
    nr, nz = h.shape
    n_thr = thresholds.size
    e_perf = 0.0
    e_met = 0.0
    for i in range(nr):
        for j in range(nz):
            if not tissue[i, j]:
                continue
            m = mat[i, j]
            up = u[i, j]
            old = t[i, j]
            q = 0.0
            if i > 0:
                if mat[i - 1, j] == m:
                    q += g_r[i, j] * (u[i - 1, j] - up)
                else:
                    q += _mixed_face_flow(g_r[i, j], old, m, t[i - 1, j], mat[i - 1, j], props)
            if i < nr - 1:
                if mat[i + 1, j] == m:
                    q += g_r[i + 1, j] * (u[i + 1, j] - up)
                else:
                    q += _mixed_face_flow(g_r[i + 1, j], old, m, t[i + 1, j], mat[i + 1, j], props)
            if j > 0:
                if mat[i, j - 1] == m:
                    q += g_z[i, j] * (u[i, j - 1] - up)
                else:
                    q += _mixed_face_flow(g_z[i, j], old, m, t[i, j - 1], mat[i, j - 1], props)
            if j < nz - 1:
                if mat[i, j + 1] == m:
                    q += g_z[i, j + 1] * (u[i, j + 1] - up)
                else:
                    q += _mixed_face_flow(g_z[i, j + 1], old, m, t[i, j + 1], mat[i, j + 1], props)
            f = unfrozen_fraction(old, props, m)
            if f > 0.0:
                perf = f * props[m, PERFUSION] * (props[m, T_ARTERIAL] - old) * vol[i, j]
                met = f * props[m, METABOLIC] * vol[i, j]
                q += perf + met
                e_perf += perf
                e_met += met
            hn = h[i, j] + dt * q * inv_vol[i, j]
            h[i, j] = hn
            new = temperature(hn, props, m)
            t_new[i, j] = new
            u_new[i, j] = kirchhoff(new, props, m)
            # thermal history
            if new < t_min[i, j]:
                t_min[i, j] = new
            for k in range(n_thr):
                if new <= thresholds[k]:
                    seconds_below[k, i, j] += dt
            tl, ts = props[m, T_L], props[m, T_S]
            if old > tl >= new and np.isnan(t_liquidus_at[i, j]):
                t_liquidus_at[i, j] = t1 - dt * (tl - new) / (old - new)
            if old > ts >= new and np.isnan(t_solidus_at[i, j]):
                t_solidus_at[i, j] = t1 - dt * (ts - new) / (old - new)
            if new <= ts and not frozen[i, j]:
                frozen[i, j] = True
                cycles[i, j] += 1
            elif new >= tl and frozen[i, j]:
                frozen[i, j] = False
    return e_perf, e_met


@njit(cache=True)
def advance(h, t, u, mat, props, tissue, vol, g_r, g_z, t_far,
            cells, pg, pha, t_wall, flows,
            mode, t_set, t_gas, mass_flow, cap_t, cap_q,
            dt, n_steps, t0,
            t_min, thresholds, seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles,
            energy):
    """Advance ``n_steps`` explicit steps of ``dt`` from time ``t0``, updating the thermal
    history. Returns the last gas temperature (NaN if none).

    Each step applies the probe and far-field flows (computed from the old state) to H, then
    one fused sweep adds the face flows and sources and computes the new T and u into a second
    buffer; the buffers swap, so every cell is read and written once per step."""
    t_next = t.copy()
    u_next = u.copy()
    inv_vol = 1.0 / vol
    cur_t, cur_u, nxt_t, nxt_u = t, u, t_next, u_next
    for step in range(n_steps):
        t_gas = probe_flows(mode, t_set, t_gas, mass_flow, cap_t, cap_q, cells, pg, pha, mat,
                            props, cur_t, cur_u, t_wall, flows)
        e_probe = 0.0
        for f in range(cells.shape[0]):
            i, j = cells[f, 0], cells[f, 1]
            h[i, j] -= dt * flows[f] / vol[i, j]
            e_probe += flows[f]
        e_bnd = _outer_boundary(h, cur_u, mat, props, tissue, vol, g_r, g_z, t_far, dt)
        t1 = t0 + (step + 1) * dt
        e_perf, e_met = _sweep(h, cur_t, cur_u, nxt_t, nxt_u, mat, props, tissue, vol, inv_vol, g_r, g_z,
                               dt, t1, t_min, thresholds, seconds_below, t_liquidus_at,
                               t_solidus_at, frozen, cycles)
        energy[E_PROBE] += dt * e_probe
        energy[E_PERFUSION] += dt * e_perf
        energy[E_METABOLIC] += dt * e_met
        energy[E_BOUNDARY] += dt * e_bnd
        cur_t, nxt_t = nxt_t, cur_t
        cur_u, nxt_u = nxt_u, cur_u
    if n_steps % 2 == 1:
        t[:] = cur_t
        u[:] = cur_u
    return t_gas


def stable_time_step(grid, props: np.ndarray, mat: np.ndarray, wall_held: bool) -> float:
    """Largest monotone explicit step: min over cells of V / (alpha_max sum G + perfusion/C_u).

    alpha_max is the largest k/C over the frozen and unfrozen branches of the cell's material
    (mushy cells have C_m >> C and never limit the step; ../shared/NUMERICS.md).
    """
    from cryoplan.tissue.enthalpy import C_F, C_U

    alpha = np.maximum(props[:, K_F] / props[:, C_F], props[:, K_U] / props[:, C_U])[mat]
    perf = (props[:, PERFUSION] / props[:, C_U])[mat]
    gsum = grid.g_r[:-1, :] + grid.g_r[1:, :] + grid.g_z[:, :-1] + grid.g_z[:, 1:]
    if wall_held:
        np.add.at(gsum, (grid.probe_cells[:, 0], grid.probe_cells[:, 1]), grid.probe_g)
    rate = alpha * gsum / grid.volume + perf
    return float(1.0 / rate[grid.tissue].max())
