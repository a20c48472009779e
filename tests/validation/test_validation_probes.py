"""Validation of the probe model against published ice balls and probe temperatures
(docs/validation.md). The setups are the files in validation/ as their authors ran them, on grids
coarser than the table's where the figure is grid-converged to a few percent (said below). Each
assertion is the published figure or its stated spread, not a value tuned to the model; what the
model misses is asserted as the documented shortfall, so a change in either direction shows."""

import tomllib
from pathlib import Path

import pytest

from cryoplan import config
from cryoplan.case import build
from cryoplan.checks import probe_operation
from cryoplan.procedure import run

VALIDATION = Path(__file__).resolve().parents[2] / "validation"


def _run(name: str, **grid):
    data = tomllib.loads((VALIDATION / f"{name}.toml").read_text())
    data["grid"].update(grid)
    return run(build(config.parse(data)))


def _isotherm(thermal, celsius: float):
    return thermal.isotherms[min(thermal.isotherms, key=lambda k: abs(k - 273.15 - celsius))]


@pytest.fixture(scope="module")
def said():
    return {g: _run(f"said-{g}", spacing_mm=0.25) for g in ("18g", "14g")}


def test_said_gauge_effect_is_the_probe_not_the_surface(said):
    """Said et al.: going from an 18 G to a 14 G probe grew the ice ball's width, length and
    volume by up to 70 %, 113 % and 512 %. A model with one flow and one heat transfer for both
    gives about +17 % / +10 % / +50 % (surface area only); the probe physics, with the N2O family's
    orifice fitted on a published probe temperature and not on this experiment
    (validation/family_fit.py), must give at least 40 % of each published (maximum) effect and not
    more than it (0.25 mm grid: ratios within 2 % of 0.1 mm). It gives about +52 %, +98 %, +340 %:
    74, 86 and 66 % of the maxima."""
    thin, thick = (_isotherm(said[g].thermal, 0.0) for g in ("18g", "14g"))
    published = {"width": 0.70, "length": 1.13, "volume": 5.12}
    model = {"width": thick.radius[-1] / thin.radius[-1] - 1,
             "length": thick.length[-1] / thin.length[-1] - 1,
             "volume": thick.volume[-1] / thin.volume[-1] - 1}
    for key, effect in published.items():
        assert 0.4 * effect <= model[key] <= 1.05 * effect, key


def test_thin_probes_are_limited_by_their_flow(said):
    """The mechanism: the 18 G probe's liquid boils off before the end of its active tip (it says
    so), the 14 G probe's does not."""
    thin, thick = said["18g"], said["14g"]
    assert "probe-capacity-binds" in [w.code for w in probe_operation(thin)]
    assert thin.thermal.dry_fraction[-1] > 0.3 > thick.thermal.dry_fraction[-1]
    assert thin.case.operating.mass_flow < 0.5 * thick.case.operating.mass_flow


def test_ln2_probe_tip_after_two_minutes_in_muscle():
    """LN2 boils at -196 C at the tip (StatPearls; IIR). The closed end, wetted by the liquid's
    jet, must come within 25 K of it after 2 minutes in muscle; the shortfall (about 18 K: the
    exhaust's back pressure, ~3 K, and the superheat of nucleate boiling at the tip's flux) is
    documented. The side wall stays in film boiling longer (warmer), as LN2 probes do. (0.4 mm
    grid: the tip within 2 K of the file's 0.25 mm, 8 times faster.)"""
    th = _run("ln2-muscle", spacing_mm=0.4).thermal
    tip, wall = th.tip_temperature[-1] - 273.15, th.wall_temperature[-1] - 273.15
    assert -196.0 < tip < -171.0
    assert wall > tip + 20


@pytest.fixture(scope="module")
def littrup():  # two 15-minute freezes: the slow suite
    return {d: _run(f"littrup-argon-{d}", spacing_mm=0.5).thermal for d in ("2.4mm", "1.7mm")}


@pytest.mark.slow
def test_the_argon_probe_is_cold_along_its_freezing_zone(littrup):
    """The argon family's orifice is fitted on the probe's own published temperature (six clinical
    argon probes in phantoms stabilise at -140 to -150 C: its active wall's mean must hold it
    within 10 K), and with it the gas lasts along the 40 mm active segment: at most a quarter of
    the wall is reached by dry gas (it was nine tenths when the orifice was fitted on Littrup's
    lethal core, the probe then starved of gas)."""
    th = littrup["2.4mm"]
    assert -155.0 < th.wall_temperature[-1] - 273.15 < -135.0
    assert th.dry_fraction[-1] < 0.3


@pytest.mark.slow
def test_littrup_argon_ice_ball_is_predicted(littrup):
    """Littrup 2009, predicted (not fitted): the 0 C ice ball, about 33 mm by the published 13 %
    area share, is about 37 mm in the model (+12 %); the -30 C core, published 12 mm, is about
    21 mm: the documented disagreement (a -145 C wall, conduction in the ice and the published
    12/33 mm cannot all hold: docs/validation.md)."""
    th = littrup["2.4mm"]
    assert 0.9 * 33e-3 < 2 * _isotherm(th, 0).radius[-1] < 1.25 * 33e-3
    assert 12e-3 < 2 * _isotherm(th, -30).radius[-1] < 24e-3


@pytest.mark.slow
def test_littrup_thin_argon_probe(littrup):
    """The 1.7 mm probe gave 84 % of the 2.4 mm probe's diameters (predicted). The model gives
    about 74 %: its thin probe is more limited by its flow than the published one (documented)."""
    ratio = _isotherm(littrup["1.7mm"], -30).radius[-1] / _isotherm(littrup["2.4mm"], -30).radius[-1]
    assert 0.65 < ratio < 0.84


def test_a_second_freeze_grows_the_lethal_ice():
    """FrostBite-BC: a second 2-minute freeze took the -20 C diameter from 6.1 to 8.2 mm (+34 %).
    The model's second freeze grows it too, by less (about +12 %: documented shortfall). (0.3 mm
    grid: the growth within 0.2 % of the file's 0.2 mm.)"""
    th = _run("frostbite-repeat", spacing_mm=0.3).thermal
    s = _isotherm(th, -20)
    k = int(th.times.searchsorted(120.0))
    growth = s.radius[-1] / s.radius[k]
    assert 1.0 < growth < 1.34
