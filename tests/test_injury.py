"""Nerve injury: grade boundaries, block logic, monotone behaviour, warnings, the cell model, and
bad nerve input."""

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import config
from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.injury.assess import _longest_run
from cryoplan.injury.cell import default_cell, equilibrium_volume, respond
from cryoplan.injury.grade import grade
from cryoplan.injury.thresholds import default_thresholds, with_overrides
from cryoplan.procedure import run
from cryoplan.units import c_to_k

TH = default_thresholds()


def _below(tmin, seconds):
    return {t: np.where(tmin <= t, seconds, 0.0) for t in TH.history_temperatures}


def test_grade_boundaries():
    eps = 1e-6
    tmin = np.array([TH.neurapraxia_below_k + eps, TH.neurapraxia_below_k, TH.axonotmesis_below_k + eps,
                     TH.axonotmesis_below_k, TH.neurotmesis_below_k + eps, TH.neurotmesis_below_k])
    cycles = np.ones(6, int)
    assert grade(tmin, _below(tmin, 60.0), cycles, TH).tolist() == [0, 1, 1, 2, 2, 3]
    # too short below -20 C, or not frozen often enough: grade 1
    assert grade(tmin[3:4], _below(tmin[3:4], TH.axonotmesis_min_seconds / 2), cycles[:1], TH).tolist() == [1]
    two_cycles = with_overrides(TH, axonotmesis_min_cycles=2)
    assert grade(tmin[3:4], _below(tmin[3:4], 60.0), cycles[:1], two_cycles).tolist() == [1]
    assert grade(tmin[3:4], _below(tmin[3:4], 60.0), 2 * cycles[:1], two_cycles).tolist() == [2]


def test_grade_is_monotone():
    rng = np.random.default_rng(1)
    tmin = rng.uniform(150, 300, 5000)
    secs = rng.uniform(0, 20, 5000)
    cyc = rng.integers(1, 3, 5000)
    g = grade(tmin, _below(tmin, secs), cyc, TH)
    colder = tmin - rng.uniform(0, 30, 5000)
    longer = secs + rng.uniform(0, 20, 5000)
    assert np.all(grade(colder, _below(colder, secs), cyc, TH) >= g)
    assert np.all(grade(tmin, _below(tmin, longer), cyc, TH) >= g)
    assert np.all(grade(tmin, _below(tmin, secs), cyc + 1, TH) >= g)


def test_thresholds_must_be_ordered():
    with pytest.raises(InputError, match="neurotmesis_below_c < axonotmesis_below_c"):
        with_overrides(TH, axonotmesis_below_c=-150.0)


def test_longest_run():
    s = np.arange(10) * 0.5
    mask = np.array([1, 1, 0, 1, 1, 1, 1, 0, 1, 1], bool)
    assert _longest_run(mask, s) == pytest.approx(1.5)
    assert _longest_run(np.zeros(10, bool), s) == 0.0


def _radial(seconds=60.0, gas="n2o", nerve=None, injury=None, phases=None):
    data = {
        "probe": {"catalog": "n2o-2.0mm"},
        "cryogen": {"gas": gas},
        "tissue": {"type": "muscle"},
        "protocol": {"phases": phases or [{"kind": "freeze", "seconds": seconds}]},
        "grid": {"geometry": "radial", "spacing_mm": 0.1, "extent_mm": 15.0},
        "nerve": [nerve],
    }
    if injury:
        data["injury"] = injury
    return run(config.parse(data))


def test_block_length_matches_the_isotherm_chord():
    """A nerve crossing an infinitely long probe is blocked where its far edge is inside the
    -20 C region: the chord 2 sqrt(R^2 - (d + D/2)^2), R the largest -20 C radius."""
    d, diam = 2.0e-3, 1.0e-3
    res = _radial(120.0, nerve={"name": "n", "distance_mm": 2.0, "orientation": "perpendicular",
                                "diameter_mm": 1.0},
                  injury={"axonotmesis_min_seconds": 0.0})
    r20 = float(np.nanmax(res.thermal.isotherms[c_to_k(-20.0)].radius))
    expected = 2 * math.sqrt(r20**2 - (d + diam / 2) ** 2)
    a = res.nerves[0]
    assert a.blocked and a.sunderland_grade == 2 and a.reversible
    assert a.blocked_length_m == pytest.approx(expected, abs=0.1e-3)


def test_colder_or_longer_never_lowers_the_injury():
    nerve = {"name": "n", "distance_mm": 3.0, "orientation": "perpendicular"}
    short, long = _radial(30.0, nerve=nerve).nerves[0], _radial(90.0, nerve=nerve).nerves[0]
    assert long.sunderland_grade >= short.sunderland_grade
    assert long.blocked_length_m >= short.blocked_length_m
    assert long.min_temperature_k <= short.min_temperature_k
    assert np.all(long.section_grade >= short.section_grade)


def test_ln2_probe_touching_the_nerve_warns_of_grade_3():
    a = _radial(60.0, gas="ln2", nerve={"name": "n", "distance_mm": 1.5, "orientation": "parallel"}).nerves[0]
    assert a.sunderland_grade == 3 and not a.reversible
    assert any("grade 3" in w and "neurotmesis" in w for w in a.warnings)


def test_a_grazing_isotherm_warns_and_does_not_block():
    """Place the nerve so its near edge is inside the -20 C region and its far edge outside."""
    probe = _radial(60.0, nerve={"name": "n", "distance_mm": 8.0, "orientation": "parallel"})
    r20 = float(np.nanmax(probe.thermal.isotherms[c_to_k(-20.0)].radius))
    a = _radial(60.0, nerve={"name": "n", "distance_mm": r20 * 1e3, "orientation": "parallel",
                             "diameter_mm": 1.0}).nerves[0]
    assert not a.blocked and a.max_grade.max() == 2
    assert any("only grazes" in w for w in a.warnings)


def test_thin_margin_warning():
    probe = _radial(60.0, nerve={"name": "n", "distance_mm": 8.0, "orientation": "parallel"})
    r20 = float(np.nanmax(probe.thermal.isotherms[c_to_k(-20.0)].radius))
    # far edge 0.05 mm inside the -20 C radius: blocked, but by less than one 0.1 mm cell
    a = _radial(60.0, nerve={"name": "n", "distance_mm": (r20 - 0.55e-3) * 1e3, "orientation": "parallel",
                             "diameter_mm": 1.0}, injury={"axonotmesis_min_seconds": 0.0}).nerves[0]
    assert a.blocked
    assert any("thinner than one grid cell" in w for w in a.warnings)


# --- cell model ---------------------------------------------------------------------------

def test_slow_cooling_follows_the_equilibrium_volume():
    """Infinitely slow cooling keeps the cell in osmotic equilibrium with the extracellular ice
    (Mazur 1963): the exact Boyle-van't Hoff volume on the ice line."""
    cell = default_cell()
    r = respond(cell, 0.01 / 60, c_to_k(-20.0))
    exact = equilibrium_volume(cell, r.temperatures) / cell.volume
    # Right below the freezing point the equilibrium curve is nearly vertical and any finite rate
    # lags it; 2 K lower the cell has caught up.
    settled = r.temperatures <= cell.freezing_point - 2.0
    assert np.max(np.abs(r.volume_fraction - exact)[settled]) < 0.01
    faster = respond(cell, 1.0 / 60, c_to_k(-20.0))
    assert np.max(np.abs(faster.volume_fraction - exact)[settled]) > 0.05  # and the test can fail


def test_faster_cooling_traps_more_water_and_more_ice():
    cell = default_cell()
    rates = [0.5, 2.0, 10.0, 100.0]  # C/min
    out = [respond(cell, b / 60, c_to_k(-30.0)) for b in rates]
    dehydration = [o.dehydration_fraction for o in out]
    supercooling = [o.supercooling_k for o in out]
    iif = [o.iif_probability for o in out]
    assert dehydration == sorted(dehydration, reverse=True)
    assert supercooling == sorted(supercooling)
    assert iif == sorted(iif)


# --- bad input ----------------------------------------------------------------------------

BAD_NERVE = """
[probe]
catalog = "n2o-2.0mm"
[protocol]
phases = [ {{ kind = "freeze", seconds = 10 }} ]
[grid]
geometry = "radial"
[[nerve]]
name = "mb"
{nerve}
"""


@pytest.mark.parametrize("nerve, field, allowed", [
    ('distance_mm = 1.2\norientation = "parallel"', "nerve[0] (mb)", "a nerve outside the probe"),
    ('distance_mm = 3.0\norientation = "parallel"\ndiameter_mm = -1.0', "nerve[0].diameter_mm",
     "a number > 0"),
    ('distance_mm = 3.0\norientation = "sideways"', "nerve[0].orientation", "perpendicular"),
    ('distance_mm = 40.0\norientation = "parallel"', "nerve[0] (mb)", "inside the simulated domain"),
    ('orientation = "parallel"', "nerve[0]", "a path"),
])
def test_bad_nerve_input(tmp_path, nerve, field, allowed):
    path = tmp_path / "p.toml"
    path.write_text(BAD_NERVE.format(nerve=nerve))
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["simulate", str(path), "--json", str(out)])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert "\n" not in line and line.startswith(f"error: {field}") and allowed in line
    assert not out.exists()


def test_polyline_nerve_equals_the_straight_one():
    straight = _radial(60.0, nerve={"name": "n", "distance_mm": 2.5, "orientation": "perpendicular",
                                    "length_mm": 12.0}).nerves[0]
    poly = _radial(60.0, nerve={"name": "n", "points_mm": [[2.5, -6.0, 0.0], [2.5, 0.0, 0.0],
                                                           [2.5, 6.0, 0.0]]}).nerves[0]
    assert poly.blocked_length_m == pytest.approx(straight.blocked_length_m, abs=0.05e-3)
    assert poly.sunderland_grade == straight.sunderland_grade
