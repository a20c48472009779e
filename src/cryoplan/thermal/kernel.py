"""The compiled time loop: explicit finite-volume enthalpy stepping of Pennes' bioheat equation
with phase change, a probe boundary and per-cell thermal history.

    V dH/dt = sum_faces G (u_N - u_P) + V f(T) [w_b rho_b c_b (T_a - T) + q_m] - Q_probe

(Pennes, J Appl Physiol 1 (1948) 93; enthalpy method: Voller & Prakash, Int J Heat Mass Transfer
30 (1987) 1709). u is the Kirchhoff variable of the cell's material; across two different
materials the face uses the harmonic mean conductivity. Forward Euler in time is stable and
monotone for dt <= V / (alpha_max sum G) (``stable_time_step``); ``advance`` takes RKL2
super-steps of s such stages (``rkl.py``; Meyer, Balsara & Aslam, J Comput Phys 257 (2014) 594),
forward Euler being its one-stage case.

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
              it warms and dries out when the load exceeds what the flow can boil; the station
              where it finishes boiling is wetted over the share of its wall that evaporating the
              rest takes (``_station_flux``), so the dry-out point moves smoothly along the wall.

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
    # start from the drop the station's last flux made across the wall (the midpoint if outside)
    ti = t_w - q_prev * ratio * r_wall
    if not lo < ti < hi:
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
def _station_flux(fluid, t_set, absorbed, tw, regime, kind, q_prev, mass_flow, area_st, law, tab_h, tab_t,
                  tab_x):
    """The flux into the cryogen at a station (W/m2 of its wall) whose wall is at ``tw`` and
    whose inlet has absorbed ``absorbed`` (J/kg), its slope in ``tw``, the inside wall temperature
    and flux of its wetted part, and the inlet's quality and regime. A station in which the cryogen
    finishes boiling is wetted over the share of its wall that the boiling flux needs to
    evaporate what is left, m_dot (h_g - h) / q_boil, and swept by dry gas (from saturation) over
    the rest; so the flux is continuous as the dry-out point moves along the wall (the whole
    station boiling, then dry, made the probe's cooling jump each time the point crossed a
    station: ice-ball sizes then jumped with the probe's parameters). Assumed: the share's
    dependence on ``tw`` through the boiling flux is in the slope; that through the upstream
    stations is not (the tridiagonal Newton's Jacobian leaves it out, as before)."""
    t_gas, x, reg = _station_state(fluid, t_set, absorbed, regime, kind, tab_h, tab_t, tab_x)
    if fluid == 0:
        return 0.0, 0.0, tw, 0.0, x, reg
    q, dq, t_in = _through_wall(tw, t_gas, x, reg, kind, q_prev, law)
    if fluid != 2:
        return q, dq, t_in, q, x, reg
    q, dq = _capped(q, dq, tw, absorbed, mass_flow, area_st, tab_h, tab_t, tab_x)
    q_wet = q
    if reg != DRY and q > 0.0:
        h_g = _absorbed_to_reach(0.0, tab_h, tab_t, tab_x)  # the saturated vapour's point
        need = max(h_g - absorbed, 0.0) * mass_flow / area_st
        if q > need:
            wet = need / q
            t_g, _ = _state_after(h_g, tab_h, tab_t, tab_x)
            qd, dqd, _ = _through_wall(tw, t_g, 1.0, DRY, kind, q_prev, law)
            qd, dqd = _capped(qd, dqd, tw, h_g, mass_flow, max((1.0 - wet) * area_st, 1e-30), tab_h, tab_t,
                              tab_x)
            # need is fixed by the inlet; d(wet)/d(tw) = -wet dq / q
            dq = (1.0 - wet) * dqd + qd * wet * dq / q
            q = need + (1.0 - wet) * qd
    return q, dq, t_in, q_wet, x, reg


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
            tw = st_t[st]
            tissue_in, slope, area_st = 0.0, 0.0, 0.0
            for k in range(stations[st], stations[st + 1]):
                f = order[k]
                i, j = cells[f, 0], cells[f, 1]
                m = mat[i, j]
                tissue_in += pg[f] * (u[i, j] - kirchhoff(tw, props, m))
                slope -= pg[f] * conductivity(tw, props, m)
                area_st += area[f]
            q, dq, _, _, x, _ = _station_flux(fluid, t_set, absorbed, tw, st_regime[st], kind[f0], st_q[st],
                                              mass_flow, area_st, law, tab_h, tab_t, tab_x)
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
        # 0.1 mK: the march's dependence on the stations upstream, left out of the tridiagonal
        # Jacobian, makes convergence linear (each factor of 100 costs about 2.5 iterations)
        if worst < 1e-4:
            break
    # final fluxes from the converged wall, and the boiling-curve hysteresis: film boiling ends
    # below the Leidenfrost point, the boiling crisis starts it above the critical heat flux
    absorbed = 0.0
    for st in range(n):
        f0 = order[stations[st]]
        area_st = 0.0
        for k in range(stations[st], stations[st + 1]):
            area_st += area[order[k]]
        q, _, t_in, q_wet, x, reg = _station_flux(fluid, t_set, absorbed, st_t[st], st_regime[st], kind[f0],
                                                  st_q[st], mass_flow, area_st, law, tab_h, tab_t, tab_x)
        st_q[st] = q_wet
        st_x[st] = x
        if fluid == 2:
            absorbed += q * area_st / mass_flow
            if reg == FILM and t_in < law[P_T_LEIDENFROST]:
                st_regime[st] = NUCLEATE
            elif reg == NUCLEATE and q_wet > law[P_Q_CHF]:
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
def _outer_boundary(u, mat, props, tissue, g_r, g_z, t_far, q):
    """Heat flow (W) in from the far field (held at t_far) through the outer faces, added to each
    cell's ``q``; returns the total."""
    nr, nz = u.shape
    total = 0.0
    for j in range(nz):
        if g_r[nr, j] > 0.0 and tissue[nr - 1, j]:
            b = g_r[nr, j] * (kirchhoff(t_far, props, mat[nr - 1, j]) - u[nr - 1, j])
            q[nr - 1, j] += b
            total += b
    for i in range(nr):
        for j, g in ((0, g_z[i, 0]), (nz - 1, g_z[i, nz])):
            if g > 0.0 and tissue[i, j]:
                b = g * (kirchhoff(t_far, props, mat[i, j]) - u[i, j])
                q[i, j] += b
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
def _net_flows(t, u, mat, props, tissue, vol, g_r, g_z, t_far, cells, flows, t_min, perfusion, t_ref,
               q, e):
    """Net heat flow (W) into every tissue cell for one state, in ``q``: its faces, perfusion
    (weighted by ``perfusion_weight`` of model ``perfusion``, with the coldest temperature so far
    and ``t_ref``), metabolism, the far field, less what the probe's faces take (``flows``, from
    ``probe_flows`` for the same state). ``e`` gets the totals (W): probe, perfusion, metabolism,
    boundary. Faces to the probe interior have g = 0, so neighbours need no tissue check."""
    nr, nz = t.shape
    e_perf = 0.0
    e_met = 0.0
    for i in range(nr):
        for j in range(nz):
            if not tissue[i, j]:
                continue
            m = mat[i, j]
            up = u[i, j]
            old = t[i, j]
            qc = 0.0
            if i > 0:
                if mat[i - 1, j] == m:
                    qc += g_r[i, j] * (u[i - 1, j] - up)
                else:
                    qc += _mixed_face_flow(g_r[i, j], old, m, t[i - 1, j], mat[i - 1, j], props)
            if i < nr - 1:
                if mat[i + 1, j] == m:
                    qc += g_r[i + 1, j] * (u[i + 1, j] - up)
                else:
                    qc += _mixed_face_flow(g_r[i + 1, j], old, m, t[i + 1, j], mat[i + 1, j], props)
            if j > 0:
                if mat[i, j - 1] == m:
                    qc += g_z[i, j] * (u[i, j - 1] - up)
                else:
                    qc += _mixed_face_flow(g_z[i, j], old, m, t[i, j - 1], mat[i, j - 1], props)
            if j < nz - 1:
                if mat[i, j + 1] == m:
                    qc += g_z[i, j + 1] * (u[i, j + 1] - up)
                else:
                    qc += _mixed_face_flow(g_z[i, j + 1], old, m, t[i, j + 1], mat[i, j + 1], props)
            f = unfrozen_fraction(old, props, m)
            if f > 0.0:
                w = perfusion_weight(old, f, t_min[i, j], t_ref[i, j], perfusion, props, m)
                perf = w * props[m, PERFUSION] * (props[m, T_ARTERIAL] - old) * vol[i, j]
                met = f * props[m, METABOLIC] * vol[i, j]
                qc += perf + met
                e_perf += perf
                e_met += met
            q[i, j] = qc
    e_bnd = _outer_boundary(u, mat, props, tissue, g_r, g_z, t_far, q)
    e_probe = 0.0
    for f in range(cells.shape[0]):
        q[cells[f, 0], cells[f, 1]] -= flows[f]
        e_probe += flows[f]
    e[E_PROBE] = e_probe
    e[E_PERFUSION] = e_perf
    e[E_METABOLIC] = e_met
    e[E_BOUNDARY] = e_bnd


@njit(cache=True)
def _combine(y_out, y1, y2, y0, q, q0, vol, tissue, mu, nu, mu_t, gamma_t, tau, mat, props, t, u):
    """One RKL2 stage (``rkl.py``): Y = mu Y_1 + nu Y_2 + (1 - mu - nu) Y_0 + tau (mu~ q +
    gamma~ q0) / V over the tissue cells, and its T and u."""
    nr, nz = y0.shape
    rest = 1.0 - mu - nu
    for i in range(nr):
        for j in range(nz):
            if tissue[i, j]:
                y = (mu * y1[i, j] + nu * y2[i, j] + rest * y0[i, j]
                     + tau * (mu_t * q[i, j] + gamma_t * q0[i, j]) / vol[i, j])
                y_out[i, j] = y
                m = mat[i, j]
                t[i, j] = temperature(y, props, m)
                u[i, j] = kirchhoff(t[i, j], props, m)


@njit(cache=True, inline="always")
def time_below(old, new, thr, dt):
    """Time within a step spent at or below a threshold, with T linear in time.

    Parameters
    ----------
    old, new : float
        Temperature at the step's start and end [K].
    thr : float
        The threshold [K].
    dt : float
        The step's length [s].

    Returns
    -------
    float
        Seconds at or below ``thr`` [s].
    """
    if old <= thr and new <= thr:
        return dt
    if old > thr and new > thr:
        return 0.0
    if new <= thr:
        return dt * (thr - new) / (old - new)
    return dt * (thr - old) / (new - old)


@njit(cache=True)
def _record_history(t_old, t_new, tissue, mat, props, t1, dt, t_min, thresholds, seconds_below,
                    liquidus_time, solidus_time, frozen, cycles):
    """Add the step (t1 - dt, t1] to every tissue cell's history, T linear in time within it."""
    nr, nz = t_new.shape
    for i in range(nr):
        for j in range(nz):
            if not tissue[i, j]:
                continue
            old, new = t_old[i, j], t_new[i, j]
            if new < t_min[i, j]:
                t_min[i, j] = new
            for n in range(thresholds.size):
                seconds_below[n, i, j] += time_below(old, new, thresholds[n], dt)
            m = mat[i, j]
            tl, ts = props[m, T_L], props[m, T_S]
            if old > tl >= new and np.isnan(liquidus_time[i, j]):
                liquidus_time[i, j] = t1 - dt * (tl - new) / (old - new)
            if old > ts >= new and np.isnan(solidus_time[i, j]):
                solidus_time[i, j] = t1 - dt * (ts - new) / (old - new)
            if new <= ts and not frozen[i, j]:
                frozen[i, j] = True
                cycles[i, j] += 1
            elif new >= tl and frozen[i, j]:
                frozen[i, j] = False


@njit(cache=True)
def _probe(cryo, wall, cells, pg, area, mat, props, t, u):
    """``probe_flows`` for the state (t, u); ``cryo`` = (mode, t_set, mass_flow, law, tab_h, tab_t,
    tab_x), ``wall`` = (order, stations, kind, link, t_wall, flows, st_t, st_regime, st_q, st_x)."""
    return probe_flows(cryo[0], cryo[1], cryo[2], cryo[3], cryo[4], cryo[5], cryo[6], wall[0], wall[1],
                       wall[2], wall[3], cells, pg, area, mat, props, t, u, wall[4], wall[5], wall[6],
                       wall[7], wall[8], wall[9])


@njit(cache=True)
def _step(s, mu, nu, mu_t, gamma_t, tau, h, t, u, bufs, q0, q, e0, ej, cryo, wall, regimes, fluxes, cells,
          pg, area, mat, props, tissue, vol, g_r, g_z, t_far, t_min, perfusion, t_ref):
    """One step of ``tau``: s RKL2 stages (s = 1: forward Euler), the first with the probe's flows
    already in ``wall``'s flows for the state (t, u). The wall's remembered regimes and last
    fluxes are held at the step's start (``regimes``, ``fluxes``: the caller's copies) through the
    stages, so every stage evaluates one function of its state. Leaves the new state in h, t, u;
    returns the cryogen's outlet temperature and the step's energy terms (J)."""
    st_regime, st_q, flows = wall[7], wall[8], wall[5]
    t_gas = np.nan
    _net_flows(t, u, mat, props, tissue, vol, g_r, g_z, t_far, cells, flows, t_min, perfusion, t_ref, q0, e0)
    w1 = mu_t[1] if s > 1 else 1.0
    _combine(bufs[0], h, h, h, q0, q0, vol, tissue, 1.0, 0.0, w1, 0.0, tau, mat, props, t, u)
    e_prev = w1 * tau * e0
    e_prev2 = np.zeros(4)
    prev, prev2 = 0, -1  # buffers of Y_{j-1} and Y_{j-2}; -1 is h (Y_0)
    for j in range(2, s + 1):
        st_regime[:] = regimes
        st_q[:] = fluxes
        t_gas = _probe(cryo, wall, cells, pg, area, mat, props, t, u)
        _net_flows(t, u, mat, props, tissue, vol, g_r, g_z, t_far, cells, flows, t_min, perfusion, t_ref,
                   q, ej)
        out = 0
        while out == prev or out == prev2:
            out += 1
        y2 = h if prev2 < 0 else bufs[prev2]
        _combine(bufs[out], bufs[prev], y2, h, q, q0, vol, tissue, mu[j], nu[j], mu_t[j], gamma_t[j], tau,
                 mat, props, t, u)
        e_new = mu[j] * e_prev + nu[j] * e_prev2 + tau * (mu_t[j] * ej + gamma_t[j] * e0)
        e_prev2, e_prev = e_prev, e_new
        prev2, prev = prev, out
    st_regime[:] = regimes
    st_q[:] = fluxes
    h[:] = bufs[prev]
    return t_gas, e_prev


@njit(cache=True)
def advance(h, t, u, mat, props, tissue, vol, g_r, g_z, t_far,
            cells, pg, area, order, stations, kind, link, t_wall, flows, st_t, st_regime, st_q, st_x,
            mode, t_set, mass_flow, law, tab_h, tab_t, tab_x,
            tau, n_steps, t0, mu, nu, mu_t, gamma_t, dt_explicit,
            t_min, thresholds, seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles,
            energy, perfusion, t_ref):
    """Advance ``n_steps`` steps of ``tau`` from time ``t0``, each an s-stage RKL2 step (s =
    ``mu.size - 1``; one stage with mu~ = 1 is forward Euler), updating the thermal history at
    each step's end. Returns the cryogen's temperature leaving the active segment (NaN if none).

    Every stage evaluates the probe's flows (``probe_flows``), the far field's and the cells'
    faces and sources on the previous stage's state; the energy terms are recombined with the
    stages' weights, so the balance closes to round-off as the enthalpy's does. The wall's boiling
    regimes move on once a step; a step in which one changes is redone in forward-Euler steps.

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
    tau : float
        The step [s].
    n_steps : int
        Steps to take.
    t0 : float
        The time at the start [s].
    mu, nu, mu_t, gamma_t : numpy.ndarray
        The stage coefficients, index 1..s (``rkl.coefficients``) [-].
    dt_explicit : float
        The forward-Euler limit [s]: a step in which a boiling regime changes is redone in
        forward-Euler steps no longer than it.
    t_min, thresholds, seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles : numpy.ndarray
        The thermal history (``ThermalHistory``), updated: coldest temperature [K], the
        thresholds [K] and seconds spent below each [s], times of crossing the liquidus and the
        solidus [s], whether frozen now, and freeze cycles.
    energy : numpy.ndarray
        Running energy terms [J] (probe, perfusion, metabolism, boundary), updated.
    perfusion : int
        The perfusion model (``cryoplan.tissue.perfusion``: 0 constant; 1 temperature-dependent,
        with stasis once a cell has reached the liquidus).
    t_ref : numpy.ndarray
        (nr, nz) where the temperature-dependent flow starts to fall [K]
        (``perfusion.reference_temperatures``); unused by the constant model.

    Returns
    -------
    (float, int)
        The cryogen's temperature leaving the active segment [K] (NaN without gas), and the
        number of steps redone in forward-Euler steps.

    References
    ----------
    .. [1] Meyer, Balsara & Aslam, J Comput Phys 257 (2014) 594, eqs. 16-18 (RKL2).
    """
    s = mu.size - 1
    cryo = (mode, t_set, mass_flow, law, tab_h, tab_t, tab_x)
    wall = (order, stations, kind, link, t_wall, flows, st_t, st_regime, st_q, st_x)
    t_old = t.copy()
    t_sub = t.copy()
    h_saved, u_saved, st_t_saved, st_x_saved = h.copy(), u.copy(), st_t.copy(), st_x.copy()
    q0 = np.zeros_like(h)
    q = np.zeros_like(h)
    bufs = np.empty((3,) + h.shape)
    for k in range(3):
        bufs[k] = h  # cells outside the tissue keep their (unused) enthalpy in every stage
    e0 = np.zeros(4)
    ej = np.zeros(4)
    t_gas = _probe(cryo, wall, cells, pg, area, mat, props, t, u)
    redone = 0
    for step in range(n_steps):
        t_old[:] = t
        regimes, fluxes = st_regime.copy(), st_q.copy()
        if s > 1:
            h_saved[:] = h
            u_saved[:] = u
            st_t_saved[:] = st_t
            st_x_saved[:] = st_x
        gas, de = _step(s, mu, nu, mu_t, gamma_t, tau, h, t, u, bufs, q0, q, e0, ej, cryo, wall, regimes,
                        fluxes, cells, pg, area, mat, props, tissue, vol, g_r, g_z, t_far, t_min, perfusion,
                        t_ref)
        # the wall's memory moves on from the step's end, whose flows start the next step
        t_gas = _probe(cryo, wall, cells, pg, area, mat, props, t, u)
        if s > 1 and np.any(st_regime != regimes):
            # a station's boiling regime changed within the step (film boiling began or ended):
            # its flux jumps there, so the switch is timed to the explicit limit (the step redone
            # in forward-Euler steps), as before the super-steps; timed to a whole step, the ice
            # ball would move with the probe's parameters in jumps (a calibration's cost kinked)
            redone += 1
            h[:] = h_saved
            t[:] = t_old
            u[:] = u_saved
            st_t[:] = st_t_saved
            st_x[:] = st_x_saved
            st_regime[:] = regimes
            st_q[:] = fluxes
            t_gas = _probe(cryo, wall, cells, pg, area, mat, props, t, u)
            n_sub = max(1, int(np.ceil(tau / dt_explicit - 1e-9)))
            dt = tau / n_sub
            for k in range(n_sub):
                t_sub[:] = t
                # one stage: nothing to hold, the wall's own state is its start
                gas, de = _step(1, mu, nu, mu_t, gamma_t, dt, h, t, u, bufs, q0, q, e0, ej, cryo, wall,
                                st_regime, st_q, cells, pg, area, mat, props, tissue, vol, g_r, g_z, t_far,
                                t_min, perfusion, t_ref)
                energy += de
                _record_history(t_sub, t, tissue, mat, props, t0 + step * tau + (k + 1) * dt, dt, t_min,
                                thresholds, seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles)
                t_gas = _probe(cryo, wall, cells, pg, area, mat, props, t, u)
            continue
        energy += de
        _record_history(t_old, t, tissue, mat, props, t0 + (step + 1) * tau, tau, t_min, thresholds,
                        seconds_below, t_liquidus_at, t_solidus_at, frozen, cycles)
    return t_gas, redone


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
