"""The probe rules that need the catalog (``cryoplan.rules``), checked after the schema: a
catalog entry that exists, a probe that fits its cannula, and a grid that resolves the probe."""

import pytest

from cryoplan import config, plan_config, rules
from cryoplan.errors import InputError

GRID = {"spacing_mm": 0.25, "extent_mm": 10.0}


def _procedure(probe, grid=GRID):
    return config.parse({"probe": probe, "protocol": {"phases": [{"kind": "freeze", "seconds": 20}]},
                         "grid": grid})


def test_a_good_procedure_passes_and_each_broken_rule_names_its_key():
    rules.check_procedure(_procedure({"catalog": "n2o-2.0mm"}))  # radius 1 mm, 0.25 mm cells
    cases = [({"catalog": "n2o-2.0mm"}, {"spacing_mm": 1.5, "extent_mm": 10.0}, "grid.spacing_mm"),
             ({"catalog": "n2o-2.0mm"}, {"spacing_mm": 0.5, "extent_mm": 1.5}, "grid.extent_mm"),
             ({"catalog": "no-such-probe"}, GRID, "probe.catalog"),
             ({"catalog": "n2o-2.0mm", "cannula_gauge": 14}, GRID, "probe.diameter_mm")]
    for probe, grid, field in cases:
        cfg = _procedure(probe, grid)  # the schema alone admits each
        with pytest.raises(InputError) as err:
            rules.check_procedure(cfg)
        assert err.value.field == field, (probe, grid, str(err.value))


def test_a_plan_s_probe_is_checked_against_the_catalog():
    plan = {"anatomy": {"template": "lumbar-medial-branch", "level": "L4"}, "probe": {"catalog": "n2o-2.0mm"}}
    rules.check_plan(plan_config.parse(plan))
    with pytest.raises(InputError, match="probe.catalog"):
        rules.check_plan(plan_config.parse({**plan, "probe": {"catalog": "n2o-9mm"}}))


@pytest.mark.parametrize(("cryogen", "field"), [
    ({"supply_temperature_c": 40.0}, "cryogen.supply_temperature_c"),  # above N2O's critical point
    ({"supply_temperature_c": -95.0}, "cryogen.supply_temperature_c"),  # below its triple point
    ({"supply_pressure_bar": 0.5}, "cryogen.supply_pressure_bar"),  # below the back pressure
])
def test_a_console_its_gas_cannot_be_fed_from_is_refused_before_the_run(cryogen, field):
    """Checked with the rules (so the web planner refuses it with 422, not at run time)."""
    cfg = config.parse({"probe": {"catalog": "n2o-2.0mm"}, "cryogen": cryogen,
                        "protocol": {"phases": [{"kind": "freeze", "seconds": 30}]}})
    with pytest.raises(InputError) as caught:
        rules.check_procedure(cfg)
    assert caught.value.field == field
