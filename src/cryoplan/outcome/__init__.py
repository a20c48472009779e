"""Relief duration after cryoneurolysis: the prior model, its refit from outcomes, re-treatment."""

from cryoplan.outcome.relief import ReliefDistribution, ReliefModel, default_model, regrowth_floor_months

__all__ = ["ReliefDistribution", "ReliefModel", "default_model", "regrowth_floor_months"]
