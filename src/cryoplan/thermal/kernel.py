"""The compiled time loop: explicit finite-volume enthalpy stepping of Pennes' bioheat equation
with phase change, a probe boundary and per-cell thermal history.

    V dH/dt = sum_faces G (u_N - u_P) + V f(T) [w_b rho_b c_b (T_a - T) + q_m] - Q_probe

(Pennes, J Appl Physiol 1 (1948) 93; enthalpy method: Voller & Prakash, Int J Heat Mass Transfer
30 (1987) 1709). u is the Kirchhoff variable of the cell's material; across two different
materials the face uses the harmonic mean conductivity. Forward Euler in time is stable and
monotone for dt <= V / (alpha_max sum G) (``stable_time_step``).

Probe modes (``mode``)::

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
    P_FILM_FORCED,
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
    C_F,
    C_U,
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
from cryoplan.tissue.perfusion import perfusion_weight

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
    film boiling (pool or forced convection, whichever passes more)."""
    if regime == DRY:
        h = law[P_H_VAPOUR]
        return h * (tw_in - t_gas), h
    superheat = tw_in - law[P_T_SAT]
    if regime == FILM:  # the larger of pool (Bromley) and forced-convection film boiling
        dt = max(superheat, 1e-3)
        pool, forced = law[P_FILM] * dt ** 0.75, law[P_FILM_FORCED] * dt ** 0.5
        if forced > pool:
            return forced, 0.5 * law[P_FILM_FORCED] * dt ** -0.5
        return pool, 0.75 * law[P_FILM] * dt ** -0.25
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
def _absorbed_to_reach(temp, tab_h, tab_t, tab_x):
    """Enthalpy (J/kg) the cryogen must absorb to come out of boiling and reach ``temp`` as gas
    (the dry part of the table; its start if ``temp`` is not above the boiling point)."""
    n = tab_h.size
    k0 = 0
    while k0 < n - 1 and tab_x[k0] < 1.0:
        k0 += 1
    if temp <= tab_t[k0]:
        return tab_h[k0]
    if temp >= tab_t[n - 1]:
        return tab_h[n - 1]
    k = k0
    while tab_t[k + 1] < temp:
        k += 1
    w = (temp - tab_t[k]) / (tab_t[k + 1] - tab_t[k])
    return tab_h[k] + w * (tab_h[k + 1] - tab_h[k])


@njit(cache=True)
def _through_wall(t_w, t_gas, x, regime, kind, q_prev, law):
    """The inside flux q'' (W/m2) that a tissue-side wall temperature ``t_w`` drives through the
    steel (and a shaft's insulation) into the cryogen, its slope in ``t_w``, and the inside wall
    temperature: t_w = T_in + q''(T_in) r R'' (safeguarded Newton on T_in)."""
    if kind == FACE_TIP:
        r_wall, ratio = law[P_R_TIP], 1.0
    elif kind == FACE_SHAFT:
        r_wall, ratio = law[P_R_SIDE] + law[P_R_SHAFT], law[P_RATIO_SIDE]
    else:
        r_wall, ratio = law[P_R_SIDE], law[P_RATIO_SIDE]
    lo, hi = min(t_gas, t_w), max(t_gas, t_w)
    ti = 0.5 * (lo + hi)
    for _ in range(80):
        q, dq = _inside_flux(ti, t_gas, x, regime, kind, q_prev, law)
        res = ti + q * ratio * r_wall - t_w
        if res > 0.0:
            hi = ti
        else:
            lo = ti
        new = ti - res / (1.0 + dq * ratio * r_wall)
        if not lo <= new <= hi:
            new = 0.5 * (lo + hi)
        if abs(new - ti) < 1e-9:
            ti = new
            break
        ti = new
    q, dq = _inside_flux(ti, t_gas, x, regime, kind, q_prev, law)
    return q * ratio, dq * ratio / (1.0 + dq * ratio * r_wall), ti


@njit(cache=True)
def _capped(q, dq, t_w, absorbed, mass_flow, area, tab_h, tab_t, tab_x):
    """A station cannot heat the cryogen past its own wall's temperature: its uptake is at most
    m_dot (h(T_w) - h) (the pinch of a heat exchanger); flux and slope per m2 of the station."""
    if q <= 0.0:
        return q, dq
    limit = mass_flow * (_absorbed_to_reach(t_w, tab_h, tab_t, tab_x) - absorbed) / area
    if limit >= q:
        return q, dq
    # the limit grows with the wall temperature as the gas's heat capacity: d(absorbed)/dT
    h1 = _absorbed_to_reach(t_w + 0.5, tab_h, tab_t, tab_x)
    h0 = _absorbed_to_reach(t_w - 0.5, tab_h, tab_t, tab_x)
    return max(limit, 0.0), mass_flow * (h1 - h0) / area


@njit(cache=True)
def _station_state(fluid, t_set, absorbed, regime, kind, tab_h, tab_t, tab_x):
    """The cryogen's temperature, quality and boiling regime at a station that has taken up
    ``absorbed`` (J/kg) downstream of the tip: the marched cryogen (``fluid`` 2) or the thaw gas
    at ``t_set`` (1, dry); a station's remembered regime, except that the end face stays wetted."""
    if fluid == 2:
        t_gas, x = _state_after(absorbed, tab_h, tab_t, tab_x)
    else:
        t_gas, x = t_set, 1.0
    reg = DRY if (fluid == 1 or x >= 1.0) else regime
    if reg == FILM and kind == FACE_TIP:
        reg = NUCLEATE  # the supply's jet keeps the end face wetted (no vapour film there)
    return t_gas, x, reg


@njit(cache=True)
def _solve_wall(fluid, t_set, mass_flow, law, tab_h, tab_t, tab_x, order, stations, kind, link,
                cells, pg, area, mat, props, t, u, st_t, st_regime, st_q, st_x):
    """Wall temperatures of every station and the cryogen's state along the wall, for one state
    of the tissue. Each station (a ring of the steel wall, isothermal round the probe) balances
    the heat its tissue faces conduct in, sum_f G_f (u_P - u(T_s)), the conduction along the
    steel to its neighbours, G_link (T_nb - T_s), and the flux into the cryogen through its
    inside, q''(T_s) A (Newton with a tridiagonal Jacobian, the cryogen re-marched from the tip
    each iteration). ``fluid``: 0 none (gas stopped), 1 gas at ``t_set`` (active thaw), 2 the
    cryogen marched from the tip. Returns the cryogen's temperature leaving the active segment."""
    n = stations.size - 1
    if n == 0:
        return np.nan
    phi = np.empty(n)
    dphi = np.empty(n)
    a = np.empty(n)
    b = np.empty(n)
    c = np.empty(n)
    r = np.empty(n)
    t_out = t_set
    for _ in range(60):
        absorbed = 0.0
        for st in range(n):
            f0 = order[stations[st]]
            t_gas, x, reg = _station_state(fluid, t_set, absorbed, st_regime[st], kind[f0],
                                           tab_h, tab_t, tab_x)
            tw = st_t[st]
            tissue_in, slope, area_st = 0.0, 0.0, 0.0
            for k in range(stations[st], stations[st + 1]):
                f = order[k]
                i, j = cells[f, 0], cells[f, 1]
                m = mat[i, j]
                tissue_in += pg[f] * (u[i, j] - kirchhoff(tw, props, m))
                slope -= pg[f] * conductivity(tw, props, m)
                area_st += area[f]
            q, dq = 0.0, 0.0
            if fluid != 0:
                q, dq, _ = _through_wall(tw, t_gas, x, reg, kind[f0], st_q[st], law)
            if fluid == 2:
                q, dq = _capped(q, dq, tw, absorbed, mass_flow, area_st, tab_h, tab_t, tab_x)
            phi[st] = tissue_in - q * area_st
            dphi[st] = slope - dq * area_st
            st_x[st] = x
            if fluid == 2:
                absorbed += q * area_st / mass_flow
        # tridiagonal Newton step for the wall temperatures
        for st in range(n):
            g_lo = link[st - 1] if st > 0 else 0.0
            g_hi = link[st] if st < n - 1 else 0.0
            res = phi[st]
            if st > 0:
                res += g_lo * (st_t[st - 1] - st_t[st])
            if st < n - 1:
                res += g_hi * (st_t[st + 1] - st_t[st])
            a[st] = g_lo
            c[st] = g_hi
            b[st] = dphi[st] - g_lo - g_hi
            r[st] = -res
        for st in range(1, n):  # Thomas: forward elimination
            w = a[st] / b[st - 1]
            b[st] -= w * c[st - 1]
            r[st] -= w * r[st - 1]
        worst = 0.0
        delta_next = 0.0
        for st in range(n - 1, -1, -1):
            d = (r[st] - c[st] * delta_next) / b[st]
            delta_next = d
            d = min(max(d, -20.0), 20.0)  # damped: the boiling law is steep
            st_t[st] += d
            worst = max(worst, abs(d))
        if worst < 1e-7:
            break
    # final fluxes from the converged wall, and the boiling-curve hysteresis: film boiling ends
    # below the Leidenfrost point, the boiling crisis starts it above the critical heat flux
    absorbed = 0.0
    for st in range(n):
        f0 = order[stations[st]]
        t_gas, x, reg = _station_state(fluid, t_set, absorbed, st_regime[st], kind[f0], tab_h, tab_t, tab_x)
        area_st = 0.0
        for k in range(stations[st], stations[st + 1]):
            area_st += area[order[k]]
        q = 0.0
        t_in = st_t[st]
        if fluid != 0:
            q, dq, t_in = _through_wall(st_t[st], t_gas, x, reg, kind[f0], st_q[st], law)
        if fluid == 2:
            q, _ = _capped(q, dq, st_t[st], absorbed, mass_flow, area_st, tab_h, tab_t, tab_x)
        st_q[st] = q
        st_x[st] = x
        if fluid == 2:
            absorbed += q * area_st / mass_flow
            if reg == FILM and t_in < law[P_T_LEIDENFROST]:
                st_regime[st] = NUCLEATE
            elif reg == NUCLEATE and q > law[P_Q_CHF]:
                st_regime[st] = FILM
    if fluid == 2:
        t_out, _ = _state_after(absorbed, tab_h, tab_t, tab_x)
    return t_out


@njit(cache=True)
def probe_flows(mode, t_set, mass_flow, law, tab_h, tab_t, tab_x, order, stations, kind, link,
                cells, pg, area, mat, props, t, u, t_wall, flows, st_t, st_regime, st_q, st_x):
    """Heat flow into the probe through each cooled face (W, in ``flows``) and its wall
    temperature; returns the cryogen's temperature where it leaves the active segment (NaN when
    there is no gas).

    Parameters
    ----------
    mode : int
        ``WALL`` (a set wall temperature), ``HEAT_FLOW`` (a set power), ``CRYOGEN``, ``GAS`` or
        ``OFF`` (the cryogen marched along the wall, boiling, as dry gas, or gas off).
    t_set : float
        The set temperature [K]: the wall's (``WALL``), the warm gas's (``GAS``) or the boiling
        temperature (``CRYOGEN``); the total heat flow [W] for ``HEAT_FLOW``; NaN for ``OFF``
        (``ProbeModel.mode``).
    mass_flow : float
        The cryogen's mass flow [kg/s].
    law, tab_h, tab_t, tab_x : numpy.ndarray
        The inside wall law (``WallLaw``: regime coefficients; the enthalpy absorbed since the tip
        [J/kg] against the cryogen's temperature [K] and vapour quality [-]).
    order, stations, kind, link : numpy.ndarray
        The faces in the cryogen's marching order, each station's first face in it, each face's
        kind (side, tip or shaft) and the wall's axial conductance between stations [W/K]
        (``ProbeWall.args``).
    cells : numpy.ndarray
        (n, 2) the tissue cell (i, j) behind each cooled face.
    pg : numpy.ndarray
        Per face: its conductance factor, area / distance to the cell's centre [m].
    area : numpy.ndarray
        Per face: its wall area [m^2].
    mat, props : numpy.ndarray
        Each cell's material index, and the material table (one row per material).
    t, u : numpy.ndarray
        Each cell's temperature [K] and Kirchhoff potential [W/m].
    t_wall, flows : numpy.ndarray
        Out: per face its wall temperature [K] and the heat flow into the probe [W].
    st_t, st_regime, st_q, st_x : numpy.ndarray
        Per station, carried between calls: wall temperature [K], boiling regime, last inside
        heat flux [W/m^2], vapour quality [-] (``ProbeWall.state``).

    Returns
    -------
    float
        The cryogen's temperature leaving the active segment [K] (NaN without gas).
    """
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
    fluid = 0 if mode == OFF else (1 if mode == GAS else 2)
    t_out = _solve_wall(fluid, t_set, mass_flow, law, tab_h, tab_t, tab_x, order, stations, kind, link,
                        cells, pg, area, mat, props, t, u, st_t, st_regime, st_q, st_x)
    for st in range(stations.size - 1):
        for k in range(stations[st], stations[st + 1]):
            f = order[k]
            i, j = cells[f, 0], cells[f, 1]
            t_wall[f] = st_t[st]
            flows[f] = pg[f] * (u[i, j] - kirchhoff(st_t[st], props, mat[i, j]))
    if mode == OFF:
        return np.nan
    return t_out


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
    """T and u of every tissue cell from its enthalpy.

    Parameters
    ----------
    h : numpy.ndarray
        Volumetric enthalpy per cell [J/m^3].
    t : numpy.ndarray
        Temperature per cell [K], written.
    u : numpy.ndarray
        Kirchhoff variable per cell [W/m], written.
    mat : numpy.ndarray of int
        Material index per cell (a row of ``props``).
    props : numpy.ndarray
        Material table (``cryoplan.tissue.enthalpy``).
    tissue : numpy.ndarray of bool
        Tissue mask; other cells are left as they are.

    References
    ----------
    .. [1] Voller & Prakash, Int J Heat Mass Transfer 30 (1987) 1709 (enthalpy method).
    """
    nr, nz = h.shape
    for i in range(nr):
        for j in range(nz):
            if tissue[i, j]:
                m = mat[i, j]
                t[i, j] = temperature(h[i, j], props, m)
                u[i, j] = kirchhoff(t[i, j], props, m)


@njit(cache=True)
def _sweep(h, t, u, t_new, u_new, mat, props, tissue, vol, inv_vol, g_r, g_z, dt, t1,
           t_min, thresholds, seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles,
           perfusion, t_ref):
    """One fused explicit step over all cells: face flows from the old (t, u), perfusion
    (weighted by ``perfusion_weight`` of model ``perfusion``, with the coldest temperature before
    this step and ``t_ref``) and metabolism, the new enthalpy, the new (t_new, u_new) and the
    thermal history of (t1 - dt, t1]. Faces to the probe interior have g = 0, so neighbours need
    no tissue check. Returns (perfusion W, metabolism W)."""
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
                w = perfusion_weight(old, f, t_min[i, j], t_ref[i, j], perfusion, props, m)
                perf = w * props[m, PERFUSION] * (props[m, T_ARTERIAL] - old) * vol[i, j]
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
            cells, pg, area, order, stations, kind, link, t_wall, flows, st_t, st_regime, st_q, st_x,
            mode, t_set, mass_flow, law, tab_h, tab_t, tab_x,
            dt, n_steps, t0,
            t_min, thresholds, seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles,
            energy, perfusion, t_ref):
    """Advance ``n_steps`` explicit steps of ``dt`` from time ``t0``, updating the thermal
    history. Returns the cryogen's temperature leaving the active segment (NaN if none).

    Each step applies the probe and far-field flows (computed from the old state) to H, then
    one fused sweep adds the face flows and sources and computes the new T and u into a second
    buffer; the buffers swap, so every cell is read and written once per step.

    Parameters
    ----------
    h, t, u : numpy.ndarray
        (nr, nz) enthalpy [J/m^3], temperature [K] and Kirchhoff potential [W/m], advanced in place.
    mat, props : numpy.ndarray
        Each cell's material index, and the material table (one row per material).
    tissue : numpy.ndarray
        Boolean (nr, nz): cells of tissue (not the probe).
    vol : numpy.ndarray
        Each cell's volume [m^3] (per metre of probe on a radial grid).
    g_r, g_z : numpy.ndarray
        Radial and axial face conductance factors, area / distance between centres [m].
    t_far : float
        The far field's temperature at the outer boundary [K].
    cells, pg, area, order, stations, kind, link, t_wall, flows, st_t, st_regime, st_q, st_x
        The probe's cooled faces and wall, as ``probe_flows`` takes them.
    mode, t_set, mass_flow, law, tab_h, tab_t, tab_x
        The probe's boundary and cryogen, as ``probe_flows`` takes them.
    dt : float
        The explicit time step [s].
    n_steps : int
        Steps to take.
    t0 : float
        The time at the start [s].
    t_min, thresholds, seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles : numpy.ndarray
        The thermal history (``ThermalHistory``), updated: coldest temperature [K], the
        thresholds [K] and seconds spent below each [s], times of crossing the liquidus and the
        solidus [s], whether frozen now, and freeze cycles.
    energy : numpy.ndarray
        Running energy terms [J] (probe, boundary, perfusion, metabolism), updated.
    perfusion : int
        The perfusion model (``cryoplan.tissue.perfusion``: 0 constant; 1 temperature-dependent,
        with stasis once a cell has reached the liquidus).
    t_ref : numpy.ndarray
        (nr, nz) where the temperature-dependent flow starts to fall [K]
        (``perfusion.reference_temperatures``); unused by the constant model.

    Returns
    -------
    float
        The cryogen's temperature leaving the active segment [K] (NaN without gas).
    """
    t_gas = np.nan
    t_next = t.copy()
    u_next = u.copy()
    inv_vol = 1.0 / vol
    cur_t, cur_u, nxt_t, nxt_u = t, u, t_next, u_next
    for step in range(n_steps):
        t_gas = probe_flows(mode, t_set, mass_flow, law, tab_h, tab_t, tab_x, order, stations, kind,
                            link, cells, pg, area, mat, props, cur_t, cur_u, t_wall, flows, st_t,
                            st_regime, st_q, st_x)
        e_probe = 0.0
        for f in range(cells.shape[0]):
            i, j = cells[f, 0], cells[f, 1]
            h[i, j] -= dt * flows[f] / vol[i, j]
            e_probe += flows[f]
        e_bnd = _outer_boundary(h, cur_u, mat, props, tissue, vol, g_r, g_z, t_far, dt)
        t1 = t0 + (step + 1) * dt
        e_perf, e_met = _sweep(h, cur_t, cur_u, nxt_t, nxt_u, mat, props, tissue, vol, inv_vol, g_r, g_z,
                               dt, t1, t_min, thresholds, seconds_below, t_liquidus_at,
                               t_solidus_at, frozen, cycles, perfusion, t_ref)
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
    """Largest monotone explicit step: min over cells of 1 / (alpha_max sum G / V + perfusion/C_u).

    alpha_max is the largest k/C over the frozen and unfrozen branches of the cell's material
    (mushy cells have C_m = (C_f + C_u)/2 + L/(T_l - T_s) >> C and never limit the step). This is
    the explicit scheme's stability bound for the heat equation, dt <= dx^2 / (2 d alpha) on a
    uniform grid of d dimensions (V / sum G = dx^2 / (2 d)), with the perfusion sink's rate added.

    Parameters
    ----------
    grid : Grid
        The grid: volumes V [m^3], conductances per unit conductivity G [m].
    props : numpy.ndarray
        Material table (``cryoplan.tissue.enthalpy``; SI units).
    mat : numpy.ndarray of int
        Material index per cell.
    wall_held : bool
        Whether the probe wall is held at a temperature (its faces' conductances count).

    Returns
    -------
    float
        Time step [s].

    References
    ----------
    .. [1] Voller & Prakash, Int J Heat Mass Transfer 30 (1987) 1709 (enthalpy method).
    .. [2] Patankar, Numerical Heat Transfer and Fluid Flow, 1980, ch. 4 (the explicit scheme's
       positive coefficients).
    """
    alpha = np.maximum(props[:, K_F] / props[:, C_F], props[:, K_U] / props[:, C_U])[mat]
    perf = (props[:, PERFUSION] / props[:, C_U])[mat]
    gsum = grid.g_r[:-1, :] + grid.g_r[1:, :] + grid.g_z[:, :-1] + grid.g_z[:, 1:]
    if wall_held:
        np.add.at(gsum, (grid.probe_cells[:, 0], grid.probe_cells[:, 1]), grid.probe_g)
    rate = alpha * gsum / grid.volume + perf
    return float(1.0 / rate[grid.tissue].max())
