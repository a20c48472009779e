"""The physics packages' public names (``cryoplan.injury``, ``cryoplan.outcome``): what they
export is what their modules define, and it works as documented."""

import pytest

import cryoplan.injury as injury
import cryoplan.outcome as outcome
from cryoplan.injury import nerve, thresholds
from cryoplan.outcome import relief


def test_the_injury_package_exports_its_modules_functions():
    assert all(hasattr(injury, name) for name in injury.__all__)
    assert injury.straight_nerve is nerve.straight_nerve
    th = injury.default_thresholds()
    assert isinstance(th, injury.InjuryThresholds) and th == thresholds.default_thresholds()
    n = injury.straight_nerve("medial branch", 1e-3, 2e-3, "perpendicular", 0.0, 20e-3)
    assert isinstance(n, injury.Nerve) and n.name == "medial branch"


def test_the_outcome_package_predicts_relief_for_a_patient():
    model = outcome.default_model()
    assert isinstance(model, outcome.ReliefModel) and outcome.Patient is relief.Patient
    typical = model.distribution()
    depressed = model.distribution(patient=outcome.Patient(depression=True))
    assert isinstance(typical, outcome.ReliefDistribution)
    assert 0 < typical.quantile(0.1) < typical.median < typical.quantile(0.9)
    assert depressed.median < typical.median  # a documented factor shortens relief
    reference = model.distribution(patient=outcome.Patient(susceptibility=1.0))
    assert reference.median == pytest.approx(typical.median)
