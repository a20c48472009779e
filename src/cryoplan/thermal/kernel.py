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
    2 GAS     gas at ``t_set`` behind the dry-gas coefficient of the wall law (active thaw);
    4 HEAT_FLOW a set total heat flow ``t_set`` (W) leaves through the cooled faces in proportion
              to their area (a probe of known cooling power; exact line-sink verification);
    3 CRYOGEN the cryogen enters at the tip in the state of the wall law's table and is marched
              along the wall (stations ordered from the tip's centre, over the end face, then
              back along the side): each face takes heat by its regime's law (flow boiling,
              film boiling with hysteresis, or dry gas; ``cryoplan.cryogen.heat_transfer``) and
              the cryogen's absorbed enthalpy grows by the station's heat over the mass flow, so
              it warms and dries out when the load exceeds what the flow can boil.
For modes 2 and 3 each face solves G (u_P - u(T_w)) = q''(T_in) A_in with T_w = T_in + the drop
across the steel wall (safeguarded Newton on the inside wall temperature T_in).

Everything runs inside one compiled call per output interval; the state stays consistent
(T and u are those of H) at the call's entry and exit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cryoplan.cryogen.wall_law import (
    DRY,
    FACE_SHAFT,
    FACE_TIP,
    FILM,
    NUCLEATE,
    P_COOPER,
    P_FILM,
    P_H_FG,
    P_H_LIQUID,
    P_H_LIQUID_TIP,
    P_H_VAPOUR,
    P_MARTINELLI,
    P_MASS_FLUX,
    P_Q_CHF,
    P_R_SHAFT,
    P_R_SIDE,
    P_R_TIP,
    P_RATIO_SIDE,
    P_RE_LIQUID,
    P_T_LEIDENFROST,
    P_T_SAT,
)
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


COOPER_POWER = 1.0 / (1.0 - 0.67)  # Cooper's h = c q^0.67 written as q = (c dT)^(1/0.33)


@njit(cache=True)
def _inside_flux(tw_in, t_gas, x, regime, kind, q_prev, law):
    """Heat flux into the cryogen (W/m2 of inside wall) and its slope in the inside wall
    temperature, for one regime (cryoplan.cryogen.heat_transfer): forced convection of dry gas;
    Gungor-Winterton flow boiling (convective E h_l plus Cooper's nucleate S h_pool); or
    Bromley film boiling."""
    if regime == DRY:
        h = law[P_H_VAPOUR]
        return h * (tw_in - t_gas), h
    superheat = tw_in - law[P_T_SAT]
    if regime == FILM:
        dt = max(superheat, 1e-3)
        return law[P_FILM] * dt ** 0.75, 0.75 * law[P_FILM] * dt ** -0.25
    xc = min(max(x, 1e-4), 1.0 - 1e-4)
    h_l = (law[P_H_LIQUID_TIP] if kind == FACE_TIP else law[P_H_LIQUID]) * (1.0 - xc) ** 0.8
    inv_xtt = 1.0 / (((1.0 - xc) / xc) ** 0.9 * law[P_MARTINELLI])
    boiling = abs(q_prev) / (law[P_MASS_FLUX] * law[P_H_FG])
    e = 1.0 + 24000.0 * boiling ** 1.16 + 1.37 * inv_xtt ** 0.86
    s = 1.0 / (1.0 + 1.15e-6 * e * e * (law[P_RE_LIQUID] * (1.0 - xc)) ** 1.17)
    q = e * h_l * (tw_in - t_gas)
    dq = e * h_l
    if superheat > 0.0:
        c = law[P_COOPER]
        q += s * (c * superheat) ** COOPER_POWER
        dq += s * COOPER_POWER * c * (c * superheat) ** (COOPER_POWER - 1.0)
    return q, dq


@njit(cache=True)
def _solve_face(g, area, kind, t_gas, x, regime, q_prev, law, t_p, u_p, props, m):
    """Heat flow (W) from the tissue cell into the cryogen through one face of the wall, the
    tissue-side wall temperature and the inside heat flux: G (u_P - u(T_w)) = q'' A_in, with
    T_w = T_in + q'' r R'' across the steel (and the shaft's insulation; safeguarded Newton on
    the inside wall temperature T_in)."""
    if kind == FACE_TIP:
        r_wall, ratio = law[P_R_TIP], 1.0
    elif kind == FACE_SHAFT:
        r_wall, ratio = law[P_R_SIDE] + law[P_R_SHAFT], law[P_RATIO_SIDE]
    else:
        r_wall, ratio = law[P_R_SIDE], law[P_RATIO_SIDE]
    lo, hi = min(t_gas, t_p), max(t_gas, t_p)
    tw = min(max(0.5 * (t_gas + t_p), lo), hi)
    q = 0.0
    for _ in range(60):
        q, dq = _inside_flux(tw, t_gas, x, regime, kind, q_prev, law)
        t_out = tw + q * ratio * r_wall
        res = g * (u_p - kirchhoff(t_out, props, m)) - q * ratio * area
        if res > 0.0:
            lo = tw
        else:
            hi = tw
        slope = -g * conductivity(t_out, props, m) * (1.0 + dq * ratio * r_wall) - dq * ratio * area
        new = tw - res / slope if slope < 0.0 else 0.5 * (lo + hi)
        if not lo <= new <= hi:
            new = 0.5 * (lo + hi)
        if abs(new - tw) < 1e-7:
            tw = new
            break
        tw = new
    q, _ = _inside_flux(tw, t_gas, x, regime, kind, q_prev, law)
    return q * ratio * area, tw + q * ratio * r_wall, q, tw


@njit(cache=True)
def _state_after(absorbed, tab_h, tab_t, tab_x):
    """Cryogen temperature and quality after absorbing ``absorbed`` J/kg (linear in the table)."""
    n = tab_h.size
    if absorbed <= tab_h[0]:
        return tab_t[0], tab_x[0]
    if absorbed >= tab_h[n - 1]:
        return tab_t[n - 1], tab_x[n - 1]
    k = np.searchsorted(tab_h, absorbed) - 1
    w = (absorbed - tab_h[k]) / (tab_h[k + 1] - tab_h[k])
    return tab_t[k] + w * (tab_t[k + 1] - tab_t[k]), tab_x[k] + w * (tab_x[k + 1] - tab_x[k])


@njit(cache=True)
def _march(mass_flow, law, tab_h, tab_t, tab_x, order, stations, face_kind, cells, pg, area, mat,
           props, t, u, t_wall, flows, regime, q_last, face_x):
    """The cryogen marched along the wall from the tip: every face of a station sees the state
    the cryogen has when it reaches that station, and the station's heat is added to it before
    the next. Each face's regime (film or nucleate boiling with hysteresis; dry gas) follows its
    wall. Returns the cryogen's temperature where it leaves the active segment."""
    absorbed = 0.0
    for st in range(stations.size - 1):
        t_gas, x = _state_after(absorbed, tab_h, tab_t, tab_x)
        heat = 0.0
        for k in range(stations[st], stations[st + 1]):
            f = order[k]
            i, j = cells[f, 0], cells[f, 1]
            m = mat[i, j]
            if x >= 1.0:
                reg = DRY
            elif regime[f] == FILM:
                reg = FILM
            else:
                reg = NUCLEATE
            flow, tw_out, q, tw_in = _solve_face(pg[f], area[f], face_kind[f], t_gas, x, reg, q_last[f],
                                                 law, t[i, j], u[i, j], props, m)
            # boiling-curve hysteresis: film boiling ends below the Leidenfrost point, the
            # boiling crisis starts it above the critical heat flux
            if reg == FILM and tw_in < law[P_T_LEIDENFROST]:
                regime[f] = NUCLEATE
            elif reg == NUCLEATE and q > law[P_Q_CHF]:
                regime[f] = FILM
            flows[f] = flow
            t_wall[f] = tw_out
            q_last[f] = q
            face_x[f] = x
            heat += flow
        absorbed += heat / mass_flow
    t_out, _ = _state_after(absorbed, tab_h, tab_t, tab_x)
    return t_out


@njit(cache=True)
def _gas_flows(t_set, cells, pg, area, face_kind, law, mat, props, t, u, t_wall, flows, q_last):
    """Warm gas at ``t_set`` behind the dry-gas coefficient (active thaw)."""
    for f in range(cells.shape[0]):
        i, j = cells[f, 0], cells[f, 1]
        flow, tw_out, q, _ = _solve_face(pg[f], area[f], face_kind[f], t_set, 1.0, DRY, 0.0, law,
                                         t[i, j], u[i, j], props, mat[i, j])
        flows[f] = flow
        t_wall[f] = tw_out
        q_last[f] = q


@njit(cache=True)
def probe_flows(mode, t_set, mass_flow, law, tab_h, tab_t, tab_x, order, stations, face_kind,
                cells, pg, area, mat, props, t, u, t_wall, flows, regime, q_last, face_x):
    """Heat flow into the probe through each cooled face (W, in ``flows``); returns the
    cryogen's temperature where it leaves the active segment (NaN when there is no gas)."""
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
        total_area = area.sum()
        for f in range(cells.shape[0]):
            i, j = cells[f, 0], cells[f, 1]
            flows[f] = t_set * area[f] / total_area
            t_wall[f] = t[i, j] - flows[f] / (pg[f] * conductivity(t[i, j], props, mat[i, j]))
        return np.nan
    if mode == GAS:
        _gas_flows(t_set, cells, pg, area, face_kind, law, mat, props, t, u, t_wall, flows, q_last)
        return t_set
    return _march(mass_flow, law, tab_h, tab_t, tab_x, order, stations, face_kind, cells, pg, area,
                  mat, props, t, u, t_wall, flows, regime, q_last, face_x)


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
            cells, pg, area, face_kind, order, stations, t_wall, flows, regime, q_last, face_x,
            mode, t_set, mass_flow, law, tab_h, tab_t, tab_x,
            dt, n_steps, t0,
            t_min, thresholds, seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles,
            energy):
    """Advance ``n_steps`` explicit steps of ``dt`` from time ``t0``, updating the thermal
    history. Returns the cryogen's temperature leaving the active segment (NaN if none).

    Each step applies the probe and far-field flows (computed from the old state) to H, then
    one fused sweep adds the face flows and sources and computes the new T and u into a second
    buffer; the buffers swap, so every cell is read and written once per step."""
    t_gas = np.nan
    t_next = t.copy()
    u_next = u.copy()
    inv_vol = 1.0 / vol
    cur_t, cur_u, nxt_t, nxt_u = t, u, t_next, u_next
    for step in range(n_steps):
        t_gas = probe_flows(mode, t_set, mass_flow, law, tab_h, tab_t, tab_x, order, stations,
                            face_kind, cells, pg, area, mat, props, cur_t, cur_u, t_wall, flows,
                            regime, q_last, face_x)
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
