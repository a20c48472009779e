"""Relief duration after cryoneurolysis: the prior model, its refit from outcomes, re-treatment."""

from cryoplan.outcome.relief import Patient, ReliefDistribution, ReliefModel, default_model

__all__ = ["Patient", "ReliefDistribution", "ReliefModel", "default_model"]
