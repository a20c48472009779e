"""Nerve injury from the thermal history: grades, conduction block, cell-level mechanisms."""

from cryoplan.injury.assess import NerveAssessment, assess
from cryoplan.injury.nerve import Nerve, straight_nerve
from cryoplan.injury.thresholds import InjuryThresholds, default_thresholds

__all__ = ["InjuryThresholds", "Nerve", "NerveAssessment", "assess", "default_thresholds", "straight_nerve"]
