"""The inside of a cryoprobe: pipe friction and exhaust ducts (``cryogen.flow``), the cryogens'
saturation (``cryogen.fluids``), the heat-transfer correlations (``cryogen.heat_transfer``),
the wall law the kernels read (``cryogen.wall_law``), and the operating point in the outputs'
units with its warnings (``cryogen.summary``)."""

import math
from dataclasses import replace

import numpy as np
import pytest

from cryoplan.cryogen import flow, fluids, heat_transfer, summary
from cryoplan.cryogen.design import family_design
from cryoplan.cryogen.operation import operate
from cryoplan.cryogen.thermo import CryogenSupply
from cryoplan.cryogen.wall_law import P_Q_CHF, P_T_SAT, WallLaw


def test_friction_is_laminar_poiseuille_and_turbulent_blasius():
    assert flow.churchill_friction(100.0, 0.0) == pytest.approx(64 / 100, rel=1e-6)
    assert flow.churchill_friction(1e5, 0.0) == pytest.approx(0.316 * 1e5 ** -0.25, rel=0.03)
    assert flow.churchill_friction(1e5, 1e-2) > flow.churchill_friction(1e5, 0.0)  # rough is worse


def test_exhaust_ducts_have_their_hydraulic_diameters():
    gap = flow.annulus(2e-3, 3e-3, 0.1, True)
    assert gap.hydraulic_diameter == pytest.approx(1e-3)  # D_o - D_i
    assert gap.area == pytest.approx(math.pi / 4 * (3e-3 ** 2 - 2e-3 ** 2))
    tube = flow.tube(1e-3, 0.1, False)
    assert tube.hydraulic_diameter == 1e-3 and tube.area == pytest.approx(math.pi / 4 * 1e-6)


def test_nitrogen_and_nitrous_oxide_boil_at_their_normal_boiling_points():
    ln2 = fluids.saturation("ln2", 101325.0)
    assert ln2.t == pytest.approx(77.355, abs=0.01)  # NIST
    assert (ln2.h_v - ln2.h_l) / 1e3 == pytest.approx(199.2, abs=0.5)  # latent heat, kJ/kg
    assert ln2.rho_l > 100 * ln2.rho_v
    assert fluids.saturation("n2o", 101325.0).t == pytest.approx(184.7, abs=0.2)


def test_single_phase_coefficients_laminar_and_turbulent():
    k, d = 0.1, 1e-3
    assert heat_transfer.gnielinski(500.0, 2.0, k, d) == pytest.approx(4.36 * k / d)
    turbulent = heat_transfer.gnielinski(1e5, 2.0, k, d)
    assert turbulent == pytest.approx(heat_transfer.dittus_boelter(1e5, 2.0, k, d), rel=0.2)
    assert heat_transfer.dittus_boelter(1e5, 2.0, k, d) == pytest.approx(
        0.023 * 1e5 ** 0.8 * 2.0 ** 0.4 * k / d)


@pytest.fixture(scope="module")
def n2o():
    return operate(family_design("jt-n2o", 2.108e-3, 6e-3), CryogenSupply("n2o"))


def test_the_wall_law_boils_at_the_tip_pressure(n2o):
    law = n2o.law
    assert isinstance(law, WallLaw)
    assert law.params[P_T_SAT] == pytest.approx(fluids.saturation("n2o", n2o.tip_pressure).t, abs=0.05)
    assert 0 <= law.quality[0] < 1 and np.all(np.diff(law.absorbed) >= 0)
    fixed = WallLaw.fixed()
    assert fixed.params[P_Q_CHF] == np.inf and np.all(fixed.quality == 1.0)


def test_the_operating_point_in_output_units_and_its_warnings(n2o):
    data = summary.operating_json(n2o)
    assert data["gas"] == "n2o" and data["design"]["outer_diameter_mm"] == pytest.approx(2.108)
    assert data["mass_flow_g_per_s"] == pytest.approx(n2o.flow.mass_flow * 1e3, rel=2e-3)
    assert data["tip_pressure_bar"] == pytest.approx(n2o.tip_pressure / 1e5, rel=1e-3)
    assert summary.operating_warnings(n2o) == []
    rows = dict(summary.operating_rows({**data, "warnings": []}))
    assert rows["gas / family"] == "n2o / jt-n2o"
    dry = replace(n2o, law=replace(n2o.law, quality=np.ones_like(n2o.law.quality)))
    assert [w.code for w in summary.operating_warnings(dry)] == ["probe-no-liquid"]
