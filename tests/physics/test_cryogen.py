"""Cryogen thermodynamics against reference figures and physical limits."""

import pytest

from cryoplan.cryogen import CryogenSupply, expand
from cryoplan.cryogen.dry_ice import sublimation_temperature_k as co2_sublimation_temperature_k
from cryoplan.cryogen.thermo import saturation_pressure_pa
from cryoplan.errors import InputError


def test_n2o_cylinder_liquid_expands_to_its_boiling_point():
    e = expand(CryogenSupply("n2o"))
    assert e.supply_pressure_pa / 1e5 == pytest.approx(50.5, abs=0.1)
    assert e.outlet_temperature_k - 273.15 == pytest.approx(-88.47, abs=0.02)
    assert e.outlet_quality == pytest.approx(0.573, abs=0.001)
    assert e.refrigeration_j_per_kg == pytest.approx(160e3, rel=0.005)
    assert e.refrigeration_to_supply_temperature_j_per_kg == pytest.approx(250e3, rel=0.005)
    assert e.cooling_capacity_w(0.4e-3) == pytest.approx(0.4e-3 * e.refrigeration_j_per_kg)


def test_n2o_given_as_gas_by_t_and_p_is_the_pitfall_not_the_default():
    # below the saturation pressure the supply is vapour: the -73.5 C figure of NUMERICS.md
    e = expand(CryogenSupply("n2o", supply_pressure_pa=50e5, supply_temperature_k=293.15))
    assert e.outlet_temperature_k - 273.15 == pytest.approx(-73.5, abs=0.5)
    assert e.outlet_quality is None


@pytest.mark.parametrize("bar, celsius", [(200, -46.0), (300, -65.3)])
def test_argon_single_pass_joule_thomson(bar, celsius):
    e = expand(CryogenSupply("argon", supply_pressure_pa=bar * 1e5))
    assert e.outlet_temperature_k - 273.15 == pytest.approx(celsius, abs=0.5)
    assert e.outlet_quality is None
    assert e.refrigeration_j_per_kg == pytest.approx(0.0, abs=1.0)  # no liquid to boil


def test_argon_recuperator_reaches_boiling_point_and_refrigeration_grows():
    cold = [expand(CryogenSupply("argon", recuperator_effectiveness=x)) for x in (0.0, 0.5, 0.9, 1.0)]
    temps = [e.outlet_temperature_k for e in cold]
    assert temps == sorted(temps, reverse=True)
    assert cold[-1].outlet_temperature_k - 273.15 == pytest.approx(-185.85, abs=0.1)
    # a perfect recuperator gives the isothermal Joule-Thomson refrigeration
    assert cold[-1].refrigeration_j_per_kg == pytest.approx(
        cold[-1].refrigeration_to_supply_temperature_j_per_kg, rel=1e-3)


def test_ln2_boils_at_back_pressure():
    e = expand(CryogenSupply("ln2"))
    assert e.outlet_temperature_k - 273.15 == pytest.approx(-195.8, abs=0.05)
    assert e.refrigeration_j_per_kg == pytest.approx(199e3, rel=0.01)  # latent heat of N2
    higher = expand(CryogenSupply("ln2", back_pressure_pa=3e5))
    assert higher.outlet_temperature_k > e.outlet_temperature_k


def test_co2_forms_dry_ice_at_one_atmosphere():
    assert co2_sublimation_temperature_k(101325.0) - 273.15 == pytest.approx(-78.5, abs=0.05)
    vapour = expand(CryogenSupply("co2", supply_phase="vapour"))
    liquid = expand(CryogenSupply("co2"))  # cylinder liquid, the default
    for e in (vapour, liquid):
        assert e.outlet_temperature_k - 273.15 == pytest.approx(-78.5, abs=0.05)
        assert 0 < e.outlet_solid_fraction < 1
    assert liquid.outlet_solid_fraction > vapour.outlet_solid_fraction
    assert liquid.refrigeration_j_per_kg > vapour.refrigeration_j_per_kg


def test_refrigeration_curve_starts_at_outlet_and_rises():
    e = expand(CryogenSupply("n2o"))
    t, q = e.refrigeration_curve()
    assert t[0] == pytest.approx(e.outlet_temperature_k)
    assert q[0] == pytest.approx(e.refrigeration_j_per_kg)
    assert (q[1:] > q[:-1]).all()


@pytest.mark.parametrize("kwargs, field", [
    ({"gas": "helium"}, "cryogen.gas"),
    ({"gas": "n2o", "recuperator_effectiveness": 1.5}, "cryogen.recuperator_effectiveness"),
    ({"gas": "n2o", "supply_pressure_pa": 0.5e5}, "cryogen.supply_pressure_bar"),
    ({"gas": "n2o", "supply_temperature_k": 320.0}, "cryogen.supply_temperature_c"),
])
def test_bad_cryogen_input_names_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        expand(CryogenSupply(**kwargs))
    assert err.value.field == field


def test_saturation_pressure():
    assert saturation_pressure_pa("co2", 293.15) / 1e5 == pytest.approx(57.29, abs=0.05)
