"""Relief duration: calibration on the clinical series, patient factors with their intervals,
the regrowth floor from the lesion's position, re-treatment against Starr 2020's repeat rates,
refit from censored outcomes, and the outcome in the demo's JSON."""

import json
import math

import numpy as np
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from cryoplan import config
from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.outcome.refit import OutcomeRecord, refit
from cryoplan.outcome.relief import Patient, default_model, outcome_data


def test_prior_reproduces_the_figures_it_is_calibrated_on():
    """MacVicar 2013's median (RF, bridged 1:1) and Streitberger 2011's 12- to 6-month ratio."""
    cal = outcome_data()["calibration"]
    d = default_model().distribution()
    assert d.median == pytest.approx(cal["median_months"], rel=1e-9)
    still = [1 - d.returned_by(cal[k]) for k in ("shape_early_months", "shape_late_months")]
    assert still[1] / still[0] == pytest.approx(cal["shape_ratio"], abs=1e-6)


def test_what_the_seeds_6_months_to_3_years_corresponds_to():
    d = default_model().distribution()
    assert 0.05 < d.returned_by(6.0) < 0.2 and 0.8 < d.returned_by(36.0) < 0.95


def test_retreatment_schedule_against_starr_2020_repeat_rates():
    """Repeat RF (>= 180 days later) by 1 / 3 / 7 years in 44,936 patients: every patient whose pain
    returns may be repeated, not every one is, so the model's return share must be at least the
    repeat share, and of the same order (within a factor of 3)."""
    c = outcome_data()["checks"]
    d = default_model().distribution()
    for months, repeat in zip(c["starr_months"], c["starr_repeat_fraction"], strict=True):
        back = d.returned_by(months)
        assert repeat <= back <= 3 * repeat, (months, back, repeat)


def test_regrowth_floor_from_the_lesion_to_the_end_organ():
    m = default_model()
    r = outcome_data()["regrowth"]
    assert m.floor_months() == pytest.approx((r["wallerian_days"] + r["distance_mm"]) / (365.25 / 12))
    near, far = m.distribution(5e-3), m.distribution(50e-3)
    assert far.quantile(0.05) - near.quantile(0.05) == pytest.approx(45 / (365.25 / 12), rel=1e-9)
    assert near.quantile(1e-6) > near.floor_months


def test_patient_factors_shorten_relief_and_carry_their_intervals():
    m = default_model()
    ref = m.distribution()
    e = outcome_data()["effects"]["depression"]
    sad = m.distribution(None, Patient(depression=True))
    # HR 2.97 through the Weibull-equivalent shape k = pi / (sigma sqrt 6)
    k = math.pi / (m.sigma * math.sqrt(6))
    assert sad.median_excess_months / ref.median_excess_months == pytest.approx(e["hazard_ratio"] ** (-1 / k))
    se = (math.log(e["hi"]) - math.log(e["lo"])) / (2 * norm.ppf(0.975)) / k
    assert sad.sigma == pytest.approx(math.hypot(m.sigma, se))
    medians = [m.distribution(None, Patient(treated_joints=j)).median for j in (1, 2, 3)]
    assert medians == sorted(medians, reverse=True)
    for factor in ("prior_lumbar_surgery", "opioid_use"):
        assert m.distribution(None, Patient(**{factor: True})).median < ref.median
    assert "depression" in sad.applied[0] and ref.applied == ()


def test_susceptibility_is_an_override_of_the_factors():
    m = default_model()
    d = m.distribution(None, Patient(susceptibility=2.0))
    assert d.median_excess_months == pytest.approx(m.median_excess_months / 2) and d.sigma == m.sigma
    with pytest.raises(InputError, match="patient"):
        config.parse({"protocol": {"phases": [{"kind": "freeze", "seconds": 10}]},
                      "patient": {"susceptibility": 2.0, "depression": True}})


def test_retreatment_time_is_the_return_quantile():
    d = default_model().distribution()
    for p in (0.1, 0.25, 0.5, 0.9):
        assert d.returned_by(d.quantile(p)) == pytest.approx(p, abs=1e-9)
    with pytest.raises(InputError):
        d.quantile(1.0)


def _draw(model, patient, distance, rng):
    d = model.distribution(distance, patient)
    return d.floor_months + d.median_excess_months * np.exp(model.sigma * rng.standard_normal())


def test_refit_recovers_a_known_model_with_patient_factors_from_censored_records():
    prior = default_model()
    rng = np.random.default_rng(7)
    truth = prior.__class__(
        18.0, 0.5, tuple(type(e)(e.name, c, 0.0) for e, c in zip(prior.effects, (-0.9, -0.4, -0.3, 0.0),
                                                                strict=True)),
        prior.wallerian_days, prior.regrowth_mm_per_day, prior.default_distance_m)
    records = []
    for _ in range(1500):
        patient = Patient(depression=bool(rng.random() < 0.3), prior_lumbar_surgery=bool(rng.random() < 0.3),
                          treated_joints=int(rng.integers(1, 4)), opioid_use=bool(rng.random() < 0.4))
        distance = float(rng.uniform(5e-3, 40e-3))
        relief = _draw(truth, patient, distance, rng)
        follow_up = rng.uniform(3, 40)  # censored when still relieved at the last visit
        records.append(OutcomeRecord(min(relief, follow_up), relief <= follow_up, distance, patient))
    fitted = refit(records, prior)
    assert fitted.median_excess_months == pytest.approx(18.0, rel=0.06)
    assert fitted.sigma == pytest.approx(0.5, rel=0.08)
    for got, want in zip(fitted.effects, truth.effects, strict=True):
        assert got.coefficient == pytest.approx(want.coefficient, abs=max(3 * got.se, 0.05))
        assert 0 < got.se < 0.1
    assert fitted.origin.startswith("refit of 1500")


def test_refit_keeps_the_prior_effect_of_a_factor_that_never_varies():
    prior = default_model()
    rng = np.random.default_rng(5)
    sad = Patient(depression=True)
    records = [OutcomeRecord(t, True, None, sad) for t in (_draw(prior, sad, None, rng) for _ in range(300))]
    fitted = refit(records, prior)
    assert fitted.effects[0] == prior.effects[0]
    assert fitted.median_excess_months == pytest.approx(prior.median_excess_months, rel=0.15)


def test_refit_takes_pain_found_at_a_visit_as_returned_since_the_visit_before():
    """Visits every 3 months: the relief ended between the last relieved visit and the first with
    pain. Taking it as ended at that visit overstates the median by about half an interval; the
    interval-censored fit recovers it."""
    prior = default_model()
    rng = np.random.default_rng(11)
    true_median, sigma, interval = 9.0, 0.5, 3.0
    at_visit, between = [], []
    for _ in range(800):
        relief = prior.floor_months() + true_median * np.exp(sigma * rng.standard_normal())
        last_visit = interval * rng.integers(4, 14)
        visit = interval * np.ceil(relief / interval)  # the first visit with the pain back
        if visit > last_visit:  # still relieved at the last visit: censored there
            at_visit.append(OutcomeRecord(last_visit, False))
            between.append(at_visit[-1])
            continue
        at_visit.append(OutcomeRecord(visit, True))
        between.append(OutcomeRecord(visit, True, relieved_until_months=visit - interval))
    naive, fitted = refit(at_visit, prior), refit(between, prior)
    assert naive.median_excess_months > true_median * 1.1  # the bias this fit removes
    assert fitted.median_excess_months == pytest.approx(true_median, rel=0.05)
    assert fitted.sigma == pytest.approx(sigma, rel=0.1)


def test_refit_refuses_a_relieved_visit_after_the_pain_returned():
    bad = [OutcomeRecord(12.0, True, relieved_until_months=15.0)] * 10
    with pytest.raises(InputError, match="relieved_until_months"):
        refit(bad, default_model())


def test_refit_needs_enough_records():
    with pytest.raises(InputError, match="at least 10"):
        refit([OutcomeRecord(12.0, True)] * 3, default_model())


def test_demo_reports_nerve_and_outcome(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "cryoplan-demo.json").read_text())
    (nerve,) = data["nerves"]
    assert set(nerve) >= {"name", "sunderland_grade", "blocked", "block_probability", "block_reason",
                          "blocked_length_mm", "min_temperature_c", "reversible", "warnings"}
    assert nerve["sunderland_grade"] == 2 and nerve["blocked"] and nerve["reversible"]
    assert nerve["block_probability"] == 1.0 and nerve["block_reason"].startswith("certain")
    out = data["outcome"]
    relief = out["relief_months"]
    assert 0 < relief["p5"] < relief["median"] < relief["p95"]
    assert relief["patient_factors"] == ["none (the reference patient)"] and out["block_probability"] == 1.0
    assert out["retreat_after_months"] == pytest.approx(relief["median"], abs=0.01)
    assert "medial branch" in res.output and "expected relief once blocked" in res.output
    assert "block probability 1.00" in res.output and "block certain" in res.output
