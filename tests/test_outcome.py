"""Relief duration: calibration, monotone behaviour, re-treatment schedule, refit from censored
outcomes, and the outcome in the demo's JSON."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.outcome.fit import OutcomeRecord, refit
from cryoplan.outcome.relief import default_model, outcome_data, regrowth_floor_months


def test_prior_is_calibrated_to_the_clinical_range():
    cal = outcome_data()["calibration"]
    d = default_model().distribution(cal["reference_blocked_length_mm"] * 1e-3,
                                     cal["reference_nerves_treated"])
    assert d.quantile(0.05) == pytest.approx(cal["p5_months"], rel=1e-9)
    assert d.quantile(0.95) == pytest.approx(cal["p95_months"], rel=1e-9)


def test_regrowth_floor():
    r = outcome_data()["regrowth"]
    days = r["wallerian_days"] + r["distance_mm"] / r["rate_mm_per_day"]
    assert regrowth_floor_months() == pytest.approx(days / (365.25 / 12))
    assert default_model().distribution(1e-3).quantile(1e-6) > regrowth_floor_months()


def test_longer_lesions_more_nerves_last_longer_susceptible_patients_less():
    m = default_model()
    medians = [m.distribution(mm * 1e-3, 2).median for mm in (2, 4, 6, 10)]
    assert medians == sorted(medians)
    assert m.distribution(6e-3, 4).median > m.distribution(6e-3, 2).median
    assert m.distribution(6e-3, 2, susceptibility=2.0).median < m.distribution(6e-3, 2).median


def test_retreatment_time_is_the_return_quantile():
    d = default_model().distribution(6e-3, 2)
    for p in (0.1, 0.25, 0.5, 0.9):
        assert d.returned_by(d.quantile(p)) == pytest.approx(p, abs=1e-9)
    with pytest.raises(InputError):
        d.quantile(1.0)


def test_refit_recovers_a_known_model_from_censored_records():
    prior = default_model()
    truth = dict(median_ref_months=18.0, length_exponent=0.8, nerves_exponent=0.1, sigma=0.4)
    rng = np.random.default_rng(7)
    records = []
    for _ in range(1500):
        length, nerves, sus = rng.uniform(2e-3, 12e-3), int(rng.integers(1, 5)), rng.uniform(0.6, 1.6)
        median = (truth["median_ref_months"] * (length / prior.reference_length_m) ** truth["length_exponent"]
                  * (nerves / prior.reference_nerves) ** truth["nerves_exponent"] / sus)
        relief = prior.floor_months + median * np.exp(truth["sigma"] * rng.standard_normal())
        follow_up = rng.uniform(3, 40)  # censored when still relieved at the last visit
        records.append(OutcomeRecord(min(relief, follow_up), relief <= follow_up, length, nerves, sus))
    fitted = refit(records, prior)
    assert fitted.median_ref_months == pytest.approx(truth["median_ref_months"], rel=0.05)
    assert fitted.sigma == pytest.approx(truth["sigma"], rel=0.08)
    assert fitted.length_exponent == pytest.approx(truth["length_exponent"], abs=0.08)
    assert fitted.nerves_exponent == pytest.approx(truth["nerves_exponent"], abs=0.08)


def test_refit_takes_pain_found_at_a_visit_as_returned_since_the_visit_before():
    """Visits every 3 months: the relief ended between the last relieved visit and the first with
    pain. Taking it as ended at that visit overstates the median by about half an interval; the
    interval-censored fit recovers it."""
    prior = default_model()
    rng = np.random.default_rng(11)
    true_median, sigma, interval = 9.0, 0.5, 3.0
    reference = (prior.reference_length_m, prior.reference_nerves)  # the median is median_ref
    at_visit, between = [], []
    for _ in range(800):
        relief = prior.floor_months + true_median * np.exp(sigma * rng.standard_normal())
        last_visit = interval * rng.integers(4, 14)
        visit = interval * np.ceil(relief / interval)  # the first visit with the pain back
        if visit > last_visit:  # still relieved at the last visit: censored there
            at_visit.append(OutcomeRecord(last_visit, False, *reference))
            between.append(at_visit[-1])
            continue
        at_visit.append(OutcomeRecord(visit, True, *reference))
        between.append(OutcomeRecord(visit, True, *reference, relieved_until_months=visit - interval))
    naive, fitted = refit(at_visit, prior), refit(between, prior)
    assert naive.median_ref_months > true_median * 1.1  # the bias this fit removes
    assert fitted.median_ref_months == pytest.approx(true_median, rel=0.05)
    assert fitted.sigma == pytest.approx(sigma, rel=0.1)


def test_refit_refuses_a_relieved_visit_after_the_pain_returned():
    bad = [OutcomeRecord(12.0, True, 6e-3, relieved_until_months=15.0)] * 10
    with pytest.raises(InputError, match="relieved_until_months"):
        refit(bad, default_model())


def test_refit_needs_enough_records():
    with pytest.raises(InputError, match="at least 10"):
        refit([OutcomeRecord(12.0, True, 6e-3)] * 3, default_model())


def test_demo_reports_nerve_and_outcome(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "cryoplan-demo.json").read_text())
    (nerve,) = data["nerves"]
    assert set(nerve) >= {"name", "sunderland_grade", "blocked", "blocked_length_mm", "min_temperature_c",
                          "reversible", "warnings"}
    assert nerve["sunderland_grade"] == 2 and nerve["blocked"] and nerve["reversible"]
    relief = data["outcome"]["relief_months"]
    assert 0 < relief["p5"] < relief["median"] < relief["p95"]
    assert data["outcome"]["retreat_after_months"] == pytest.approx(relief["median"], abs=0.01)
    assert "medial branch" in res.output and "expected relief" in res.output
