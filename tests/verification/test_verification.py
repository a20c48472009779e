"""Verification against exact solutions, a converged reference, and energy conservation."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal import ProbeModel, ThermalProblem, planar_grid, radial_grid, solve
from cryoplan.thermal.analytic import (
    line_sink_lambda,
    line_sink_temperature,
    neumann_lambda,
    neumann_temperature,
)
from cryoplan.units import c_to_k

PROPS = dict(c_s=1.8e6, k_s=2.0, c_l=3.6e6, k_l=0.5, latent=3.0e8)


def _neumann_run(reference_tissue, spacing, band, seconds=600.0, length=0.08, interval=None,
                 max_step=1.0):
    tis = reference_tissue(t_solidus_c=-1 - band / 2, t_liquidus_c=-1 + band / 2)
    probe = ProbeModel(0.0, 1.0, "fixed-temperature", wall_temperature=c_to_k(-88.5))
    problem = ThermalProblem(planar_grid(length, spacing), tis, probe,
                             Protocol.of([Phase("freeze", seconds)]), c_to_k(37.0), "insulated",
                             isotherms=(c_to_k(-1.0), c_to_k(-40.0)),
                             output_interval=interval or seconds, max_step=max_step)
    return solve(problem)


def test_neumann_planar_stefan_problem(reference_tissue):
    """Front and a frozen-zone isotherm against Neumann's solution (T_0 -88.5 C, 600 s)."""
    res = _neumann_run(reference_tissue, 0.1e-3, band=1.0)
    lam = neumann_lambda(**PROPS, t_m=-1.0, t_i=37.0, t_0=-88.5)
    front = 2 * lam * math.sqrt(2.0 / 1.8e6 * 600)
    assert front == pytest.approx(19.99e-3, abs=0.01e-3)  # NUMERICS.md
    x40 = brentq(lambda x: neumann_temperature(x, 600, **PROPS, t_m=-1, t_i=37, t_0=-88.5) + 40,
                 1e-6, front * 0.999)
    assert res.isotherms[c_to_k(-1.0)].radius[-1] == pytest.approx(front, rel=1e-3)
    assert res.isotherms[c_to_k(-40.0)].radius[-1] == pytest.approx(x40, rel=1e-4)
    assert res.energy_balance_error < 1e-9


def test_front_converges_at_first_order_as_grid_and_freezing_range_shrink(reference_tissue):
    """With the mushy band held at ten cells, the front error against the isothermal exact
    solution falls linearly with the cell size (the band width is the leading error). The error
    is the RMS over 50-200 s: at any one instant the front sits somewhere inside a cell and the
    pointwise error oscillates as it crosses cells. The RKL2 step is refined with the cells (1 s at
    0.2 mm): its second-order time error then falls faster than the first-order spatial one (at a
    fixed 1 s step the last halving of the cells gave order 0.77, the time error showing)."""
    lam = neumann_lambda(**PROPS, t_m=-1.0, t_i=37.0, t_0=-88.5)
    errors = []
    for spacing in (0.2e-3, 0.1e-3, 0.05e-3):
        res = _neumann_run(reference_tissue, spacing, band=spacing * 1e4, seconds=200.0,
                           length=0.03, interval=2.0, max_step=spacing / 0.2e-3)
        late = res.times >= 50
        exact = 2 * lam * np.sqrt(2.0 / 1.8e6 * res.times[late])
        err = res.isotherms[c_to_k(-1.0)].radius[late] - exact
        errors.append(float(np.sqrt(np.mean(err**2))))
    orders = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(0.85 < p < 1.2 for p in orders), (errors, orders)


def test_line_heat_sink(reference_tissue):
    """Freezing around a line sink of 300 W/m: a 0.1 mm probe extracting 300 W/m, started from
    the exact profile at 10 s, against the exponential-integral solution at 600 s."""
    q, a, t0 = 300.0, 0.1e-3, 10.0
    tis = reference_tissue(t_solidus_c=-1.5, t_liquidus_c=-0.5)
    grid = radial_grid(a, 0.06, 0.1e-3, growth=1.05, uniform_extent=0.015)
    exact = dict(c_s=1.8e6, k_s=2.0, c_l=3.6e6, k_l=0.5, latent=3.0e8, t_m=-1.0, t_i=37.0)
    start = c_to_k(line_sink_temperature(grid.r, t0, q, **exact))[:, None]
    problem = ThermalProblem(grid, tis, ProbeModel(2 * a, 1.0, "heat-flow", power=q),
                             Protocol.of([Phase("freeze", 600 - t0)]), c_to_k(37.0),
                             isotherms=(c_to_k(-1.0), c_to_k(-20.0)), output_interval=590,
                             initial_field=start)
    res = solve(problem)
    lam = line_sink_lambda(q, **exact)
    front = 2 * lam * math.sqrt(2.0 / 1.8e6 * 600)
    assert front == pytest.approx(8.76e-3, abs=0.01e-3)  # NUMERICS.md
    r20 = brentq(lambda r: line_sink_temperature(r, 600, q, **exact) + 20, 1e-6, front * 0.999)
    assert res.isotherms[c_to_k(-1.0)].radius[-1] == pytest.approx(front, rel=2e-3)
    assert res.isotherms[c_to_k(-20.0)].radius[-1] == pytest.approx(r20, rel=1e-3)
    assert res.cooling_power[-1] == pytest.approx(q, rel=1e-9)


CYLINDER = {
    "probe": {"boundary": "fixed-temperature", "diameter_mm": 1.4, "temperature_c": -70.0},
    "tissue": {"type": "custom", "k_unfrozen_w_per_m_k": 0.5, "k_frozen_w_per_m_k": 2.0,
               "c_unfrozen_j_per_m3_k": 3.6e6, "c_frozen_j_per_m3_k": 1.8e6, "latent_heat_j_per_m3": 2.5e8,
               "t_solidus_c": -8.0, "t_liquidus_c": -1.0, "perfusion_per_s": 0.0, "metabolic_w_per_m3": 0.0,
               "initial_temperature_c": 37.0},
    "protocol": {"phases": [{"kind": "freeze", "seconds": 90}]},
    "grid": {"geometry": "radial", "extent_mm": 25.0},
}


def test_cylinder_at_fixed_temperature_matches_the_refined_reference():
    """An infinitely long 1.4 mm probe held at -70 C, 90 s, no perfusion: the isotherm radii of
    an independent 1D radial finite-volume solution refined until they changed by less than
    1e-3 mm (2000 cells from r = 0.7 to 25 mm, insulated outer boundary)."""
    from cryoplan import config
    from cryoplan.case import build
    from cryoplan.procedure import run

    data = {k: dict(v) for k, v in CYLINDER.items()}
    data["grid"]["spacing_mm"] = 0.05  # the reference is grid-converged; 0.05 mm suffices
    data["grid"]["outer_boundary"] = "insulated"
    data["output"] = {"isotherms_c": [-40, -20, 0], "interval_s": 90}
    res = run(build(config.parse(data))).thermal
    expected = {-40: 1.720e-3, -20: 3.140e-3, 0: 5.382e-3}
    for iso, radius in expected.items():
        assert res.isotherms[c_to_k(iso)].radius[-1] == pytest.approx(radius, abs=0.002e-3)


def test_energy_balance_with_cryogen_perfusion_metabolism_and_thaws():
    """Heat taken by the probe = change of tissue enthalpy + perfusion + metabolism + boundary."""
    from cryoplan import config
    from cryoplan.case import build
    from cryoplan.procedure import run

    cfg = config.parse({
        "probe": {"catalog": "n2o-2.0mm"},
        "tissue": {"type": "skin"},  # the most perfused library tissue
        "protocol": {"phases": [{"kind": "freeze", "seconds": 40},
                                {"kind": "passive-thaw", "seconds": 10},
                                {"kind": "active-thaw", "seconds": 10},
                                {"kind": "freeze", "seconds": 20}]},
        "grid": {"spacing_mm": 0.25, "extent_mm": 12, "growth": 1.1, "uniform_extent_mm": 6},
    })
    res = run(build(cfg)).thermal
    e = res.energy
    assert e["perfusion_j"] > 0 and e["metabolic_j"] > 0 and e["probe_j"] > 0
    assert res.energy_balance_error < 0.005
    assert res.energy_balance_error < 1e-9  # explicit FV is conservative to round-off


def test_capacity_limited_probe_warms_under_load():
    """A probe with little gas cannot hold its boiling point: its liquid boils off before the end
    of the active segment, its tip runs warmer, it says so, and it never takes more heat than its
    flow can carry away (the flow warming to the tissue's temperature)."""
    from cryoplan import config
    from cryoplan.case import build
    from cryoplan.procedure import run

    def tip(flow):
        cfg = config.parse({
            "probe": {"catalog": "n2o-2.0mm", "mass_flow_g_per_s": flow},
            "protocol": {"phases": [{"kind": "freeze", "seconds": 30}]},
            "grid": {"spacing_mm": 0.25, "extent_mm": 10, "growth": 1.1, "uniform_extent_mm": 5},
        })
        return run(build(cfg))

    strong, weak = tip(0.2), tip(0.005)
    assert np.nanmax(strong.thermal.dry_fraction) == 0.0
    assert weak.thermal.dry_fraction[-1] > 0.2
    assert weak.thermal.tip_temperature[-1] > strong.thermal.tip_temperature[-1] + 5
    from cryoplan.checks import probe_operation

    assert "probe-capacity-binds" in [w.code for w in probe_operation(weak)]
    assert "probe-capacity-binds" not in [w.code for w in probe_operation(strong)]
    carried = weak.case.operating.capacity_w(c_to_k(37.0))
    assert np.max(weak.thermal.cooling_power[1:]) <= carried * (1 + 1e-9)
