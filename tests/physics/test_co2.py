"""CO2 as a cryogen: cylinder liquid expanded across its triple point into dry-ice snow that
sublimes at the tip (``cryogen.dry_ice``), through the N2O family's orifice, and a probe that
freezes tissue with it."""

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import config, rules
from cryoplan.case import build
from cryoplan.cli import app
from cryoplan.cryogen import CryogenSupply, dry_ice, expand, fluids
from cryoplan.cryogen.coolprop import CoolProp
from cryoplan.cryogen.design import family_design
from cryoplan.cryogen.dry_ice import sublimation_temperature_k as co2_sublimation_temperature_k
from cryoplan.cryogen.flow import _HEM, capillary_flow, isentropic_critical_flux
from cryoplan.cryogen.operation import operate
from cryoplan.cryogen.wall_law import P_H_FG, P_T_SAT
from cryoplan.errors import InputError
from cryoplan.procedure import run

ATM = 101325.0


def test_the_sublimation_line_and_its_enthalpy_agree_with_giauque_and_egan():
    # 194.67 K at 1 atm and 6030 cal/mol there (Giauque & Egan 1937): Span & Wagner's line and
    # Clapeyron's equation along it
    assert dry_ice.sublimation_temperature_k(ATM) == pytest.approx(dry_ice.GIAUQUE_EGAN_T_K, abs=0.05)
    assert dry_ice.sublimation_pressure_pa(dry_ice.TRIPLE_T_K) == pytest.approx(dry_ice.TRIPLE_P_PA)
    assert dry_ice.sublimation_enthalpy_j_per_kg(194.67) == pytest.approx(dry_ice.GIAUQUE_EGAN_J_PER_KG,
                                                                          rel=0.005)
    # the solid lies below the triple-point liquid (a positive enthalpy of fusion, ~200 kJ/kg)
    s = fluids.state("co2")
    s.update(CoolProp.QT_INPUTS, 0.0, s.Ttriple())
    fusion = s.hmass() - dry_ice.sublimation(dry_ice.TRIPLE_P_PA * (1 - 1e-9)).h_s
    assert 150e3 < fusion < 250e3
    # below the triple point the cryogen's boiling point is its sublimation point
    assert fluids.saturation("co2", ATM).t == pytest.approx(dry_ice.sublimation_temperature_k(ATM))
    assert fluids.saturation_temperature_or_critical("co2", ATM) == pytest.approx(194.685, abs=0.01)


def test_cylinder_liquid_expands_to_the_sublimation_temperature():
    e = expand(CryogenSupply("co2"))  # liquid from the cylinder at 20 C, its vapour pressure
    assert e.supply_pressure_pa / 1e5 == pytest.approx(57.29, abs=0.05)
    assert e.outlet_temperature_k - 273.15 == pytest.approx(-78.5, abs=0.1)
    assert e.outlet_temperature_k == pytest.approx(co2_sublimation_temperature_k(ATM), abs=1e-9)


def test_the_expansion_conserves_enthalpy_with_a_solid_fraction():
    e = expand(CryogenSupply("co2"))
    sub = dry_ice.sublimation(e.back_pressure_pa)
    solid = e.outlet_solid_fraction
    assert 0 < solid < 1 and e.outlet_quality == pytest.approx(1 - solid)
    h_out = solid * sub.h_s + (1 - solid) * sub.h_v
    assert h_out == pytest.approx(e.supply_enthalpy_j_per_kg, abs=1e-6)
    # what the tip can take up at the outlet temperature is the snow's sublimation
    assert e.refrigeration_j_per_kg == pytest.approx(solid * sub.h_sub, rel=1e-9)


def test_flashing_flow_below_the_triple_point_is_snow_and_vapour():
    e = expand(CryogenSupply("co2"))
    s = fluids.state("co2")
    s.update(CoolProp.HmassP_INPUTS, e.supply_enthalpy_j_per_kg, e.supply_pressure_pa)
    h0, s0, p0 = s.hmass(), s.smass(), e.supply_pressure_pa
    sub = dry_ice.sublimation(ATM)
    v, _, _ = _HEM("co2", h0).at(ATM)
    x = 1 - e.outlet_solid_fraction
    assert v == pytest.approx(x / sub.rho_v + (1 - x) / dry_ice.SOLID_DENSITY_KG_PER_M3, rel=1e-9)
    isentropic = dry_ice.state_ps(s0, ATM)
    assert isentropic.t == pytest.approx(sub.t) and 0 < isentropic.x < x  # less vapour than isenthalpic
    g, p_throat = isentropic_critical_flux("co2", h0, s0, p0, ATM)
    assert g > 0 and dry_ice.TRIPLE_P_PA < p_throat < p0  # the orifice chokes in the liquid-vapour dome
    # a long capillary marches into the snow: the mixture's volume jumps where the liquid freezes
    # (at the triple point, with the heat of fusion), so homogeneous flow chokes there
    cap = capillary_flow("co2", h0, s0, p0, 0.05e-3, 1.0, ATM)
    assert cap.choked and cap.exit_pressure == pytest.approx(dry_ice.TRIPLE_P_PA, rel=0.01)


@pytest.fixture(scope="module")
def co2_probe():
    return operate(family_design("jt-n2o", 2.0e-3, 6e-3, gas="co2"), CryogenSupply("co2"))


def test_the_probe_sublimes_snow_at_its_tip_pressure(co2_probe):
    op = co2_probe
    assert op.choked and op.tip_pressure < dry_ice.TRIPLE_P_PA
    t_sub = dry_ice.sublimation_temperature_k(op.tip_pressure)
    assert op.law.params[P_T_SAT] == pytest.approx(t_sub) and op.boiling_temperature == pytest.approx(t_sub)
    assert op.law.params[P_H_FG] == pytest.approx(dry_ice.sublimation(op.tip_pressure).h_sub)
    solid = 1 - op.law.quality[0]
    assert solid == pytest.approx(op.expansion.outlet_solid_fraction)
    assert op.latent_capacity_w == pytest.approx(op.mass_flow * solid * op.law.params[P_H_FG], rel=1e-6)
    assert any("subliming snow" in n for n in op.notes)
    # the exhaust's pressure drop with snow in it: a lighter load leaves more snow, a denser exhaust
    assert op.at_load(0.0).tip_pressure < op.tip_pressure


def _freeze(catalog: str, tissue: str):
    data = {"probe": {"catalog": catalog}, "tissue": {"type": tissue},
            "protocol": {"phases": [{"kind": "freeze", "seconds": 120}]},
            "grid": {"geometry": "axisymmetric", "spacing_mm": 0.25, "extent_mm": 25.0, "growth": 1.08,
                     "uniform_extent_mm": 10.0},
            "output": {"isotherms_c": [0.0, -20.0, -40.0]}}
    return run(build(config.parse(data))).thermal


def _radius(thermal, celsius: float) -> float:
    """The isotherm's radius at the end of the run (m)."""
    return thermal.isotherms[min(thermal.isotherms, key=lambda k: abs(k - 273.15 - celsius))].radius[-1]


@pytest.fixture(scope="module")
def muscle():
    return {gas: _freeze(f"{gas}-2.0mm", "muscle") for gas in ("co2", "n2o")}


def test_a_two_minute_co2_freeze_in_muscle(muscle):
    th = muscle["co2"]
    wall = th.wall_temperature[-1] - 273.15
    assert -78.5 < wall < -40.0
    for t, p in zip(th.tip_temperature[1:], th.tip_pressure[1:], strict=True):
        assert t > dry_ice.sublimation_temperature_k(p)  # no wall colder than its sink
    assert _radius(th, -40.0) > 1.5e-3  # a -40 C core beyond the 1 mm radius wall


def test_the_co2_probe_tip_in_a_bench_gel_is_near_dry_ice():
    # "the CO2 probe reaches about -78 C" (Irwin & Trescot 2015): the closed end, above its
    # subliming snow (-78.2 C at its 1.04 bar) by the wall's and the tip's resistance
    th = _freeze("co2-2.0mm", "agar-gel")
    tip = th.tip_temperature[-1] - 273.15
    assert -78.5 < tip < -70.0
    assert th.gas_temperature[-1] - 273.15 == pytest.approx(-78.2, abs=0.3)


def test_co2_against_n2o_in_the_same_probe(muscle):
    """The same 2.0 mm probe on each gas's cylinder. CO2's sink is 10 K warmer (-78.2 against
    -88.1 C), so its wall is warmer and its lethal (-20, -40 C) isotherms are narrower. Its cylinder
    pressure is higher (57.3 against 50.5 bar) and the same orifice passes 9 % more of it, each kg
    with a little more latent heat (snow 0.290 x 574 against liquid 0.427 x 374 kJ/kg), so its
    latent capacity is larger: the ice ball's 0 C volume is not smaller (the exhaust cools the bare
    shaft longer), which is why no 'CO2 freezes less' is asserted for it."""
    co2, n2o = muscle["co2"], muscle["n2o"]
    assert co2.wall_temperature[-1] > n2o.wall_temperature[-1] + 5.0
    for celsius in (-20.0, -40.0):
        assert _radius(co2, celsius) < _radius(n2o, celsius)
    assert co2.mass_flow[-1] > n2o.mass_flow[-1]
    assert np.all(co2.gas_temperature[1:] > n2o.gas_temperature[1:] + 9.0)


def test_supercritical_co2_refused_at_saturation_and_followed_at_a_given_pressure():
    with pytest.raises(InputError) as err:
        expand(CryogenSupply("co2", supply_temperature_k=308.15))  # 35 C: above 31.0 C, no liquid
    assert err.value.field == "cryogen.supply_temperature_c" and err.value.value == 35.0
    assert "31.0 C" in str(err.value) and "supply_pressure_bar" in str(err.value)
    assert "\n" not in str(err.value)
    # a supercritical feed at a stated pressure is a dense fluid: it still makes (less) snow
    hot = expand(CryogenSupply("co2", supply_pressure_pa=80e5, supply_temperature_k=308.15))
    assert 0 < hot.outlet_solid_fraction < expand(CryogenSupply("co2")).outlet_solid_fraction
    assert hot.outlet_temperature_k == pytest.approx(co2_sublimation_temperature_k(ATM))


def test_a_solid_feed_is_refused_naming_the_temperature():
    with pytest.raises(InputError, match="melting temperature") as err:
        expand(CryogenSupply("co2", supply_pressure_pa=57e5, supply_temperature_k=213.15))
    assert err.value.field == "cryogen.supply_temperature_c"


def test_a_simulation_on_a_supercritical_co2_cylinder_is_one_line_exit_2(tmp_path):
    (tmp_path / "in.toml").write_text(
        '[probe]\ncatalog = "co2-2.0mm"\n[cryogen]\nsupply_temperature_c = 35\n'
        '[protocol]\nphases = [{kind = "freeze", seconds = 20}]\n')
    res = CliRunner().invoke(app, ["simulate", str(tmp_path / "in.toml"), "--json", str(tmp_path / "o.json")])
    line = res.output.strip()
    assert res.exit_code == 2 and "\n" not in line, res.output
    assert line.startswith("error: cryogen.supply_temperature_c = 35.0: allowed is between")
    assert not (tmp_path / "o.json").exists()


def test_the_probe_command_runs_co2_and_refuses_a_supercritical_cylinder():
    runner = CliRunner()
    res = runner.invoke(app, ["probe", "--catalog", "co2-16g"])
    assert res.exit_code == 0, res.output
    assert "dry-ice snow" in res.output and "subliming" in res.output
    res = runner.invoke(app, ["probe", "--gas", "co2", "--diameter-mm", "2", "--supply-temperature-c", "35"])
    line = res.output.strip()
    assert res.exit_code == 2 and "\n" not in line  # named as the option typed
    assert line.startswith("error: --supply-temperature-c = 35.0: allowed is between")


def test_the_catalog_co2_probes_pass_the_probe_rules():
    for name, mm in (("co2-2.0mm", 2.0), ("co2-16g", 1.651)):
        cfg = config.parse({"probe": {"catalog": name}, "protocol": {"phases": [
            {"kind": "freeze", "seconds": 1}]}})
        (spec,) = rules.check_procedure(cfg)
        assert spec.diameter_m * 1e3 == pytest.approx(mm, abs=1e-3)
