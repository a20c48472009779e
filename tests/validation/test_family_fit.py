"""The probe families' fitted constants: each says what it was fitted on, the catalog holds what
validation/family_fit.py found, the fit finds the best ratio even where a figure is not monotone
in it, and a run names the fitted constants its probe used (docs/validation.md)."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from cryoplan import config, resolve
from cryoplan.cryogen.design import families
from cryoplan.cryogen.summary import operating_json

VALIDATION = Path(__file__).resolve().parents[2] / "validation"


@pytest.fixture(scope="module")
def family_fit():
    spec = importlib.util.spec_from_file_location("family_fit", VALIDATION / "family_fit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["family_fit"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded():
    return json.loads((VALIDATION / "family_fit.json").read_text())


@pytest.mark.parametrize("gas", ["n2o", "argon"])
def test_the_catalog_holds_the_recorded_fit_on_the_probe_itself(gas, recorded):
    rec = recorded[gas]
    family = families()[rec["family"]]
    value = family["supply_inner_diameter_to_bore"]
    assert value == float(f"{rec['fitted_on_probe']:.2g}")  # two significant digits of the fit
    assert family["supply_inner_diameter_to_bore_source"].startswith("fitted on the probe's own")
    assert "validation/family_fit.py" in family["supply_inner_diameter_to_bore_source"]
    fitted_on = [r for r in rec["rows"] if r["kind"] == "probe"]
    assert fitted_on and all(r["kind"] in ("probe", "ice ball") for r in rec["rows"])
    assert all(abs(r["residual_fitted on the probe"]) < 0.5 for r in fitted_on)


def test_the_fit_finds_the_best_ratio_of_a_figure_that_turns_back(family_fit):
    # a wall that cools with more flow, then warms again (the exhaust chokes): -70 is crossed
    # once on the way down; a local search started on the warm-again side misses it
    ratios = np.geomspace(0.01, 0.1, 9)
    wall = [-10.0, -30.0, -55.0, -72.0, -78.0, -77.0, -75.0, -73.0, -71.0]
    fig = family_fit.Figure("wall", "probe", (), None, -70.0, 10.0, False, "C", "synthetic")
    model = {"wall": PchipInterpolator(np.log(ratios), wall)}
    best = family_fit.fit([fig], model, (0.01, 0.1))
    assert float(model["wall"](math.log(best))) == pytest.approx(-70.0, abs=0.05)
    assert best < ratios[4]
    lo, hi = family_fit.within([fig], model, (0.01, 0.1))
    assert float(model["wall"](math.log(lo))) == pytest.approx(-60.0, abs=0.5) and hi == pytest.approx(0.1)


def test_a_figure_compared_in_logarithms_counts_spreads_both_ways(family_fit):
    fig = family_fit.Figure("ratio", "ice ball", (), None, 2.0, 0.25, True, "x", "synthetic")
    assert fig.residual(2.5) == pytest.approx(1.0) and fig.residual(1.6) == pytest.approx(-1.0)


def _design(probe: dict):
    cfg = config.parse({"probe": probe, "protocol": {"phases": [{"kind": "freeze", "seconds": 10}]}})
    return resolve.probe_demand(cfg.probe, cfg.cryogen).design


def test_a_run_names_the_fitted_constants_its_probe_used():
    d = _design({"catalog": "n2o-2.0mm"})
    sources = dict(d.sources)
    assert sources["supply_inner_diameter_to_bore"].startswith("fitted on")
    given = dict(_design({"catalog": "n2o-2.0mm", "supply": {"inner_diameter_mm": 0.05}}).sources)
    assert given["supply_inner_diameter_to_bore"].startswith("replaced: probe.supply.inner_diameter_mm")
    flow = dict(_design({"catalog": "n2o-2.0mm", "mass_flow_g_per_s": 0.03}).sources)
    assert flow["supply_inner_diameter_to_bore"].startswith("replaced: probe.mass_flow_g_per_s")


def test_the_operating_json_lists_the_fitted_constants():
    cfg = config.parse({"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [{"kind": "freeze",
                                                                                     "seconds": 10}]}})
    _, op = resolve.probe(cfg.probe, cfg.cryogen)
    assert operating_json(op)["design"]["fitted"] == ["supply_inner_diameter_to_bore"]
