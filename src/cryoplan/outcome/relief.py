"""How long pain relief lasts once the nerves are blocked: a shifted log-normal distribution of
months (data/outcome.toml, docs/injury.md).

    relief = floor + X,   ln X ~ Normal(ln m + sum_k b_k x_k, sqrt(sigma^2 + sum_k (se_k x_k)^2))
    floor  = Wallerian degeneration + (regrowth distance) / (regrowth rate)

The floor is mechanistic (Evans et al., Br J Anaesth 53 (1981) 1121: regrowth about 1 mm/day;
Gaudet et al. 2011: Wallerian degeneration 1-3 weeks): it depends on where the lesion is, the
distance from it to the end organ, and not on how long or how often the probe froze. ``m`` and
``sigma`` are calibrated on the clinical series (MacVicar et al. 2013's median, Streitberger et
al. 2011's decline from 6 to 12 months); the patient factors x_k (depression, previous lumbar
surgery, further treated joints, prior opioid use) shift the log-time by b_k with the standard
error se_k of their published intervals, which widens the distribution (a normal coefficient
integrated out). An explicit ``susceptibility`` s replaces the factors: it divides m, with no
added spread.

>>> m = default_model()
>>> d = m.distribution(20e-3)
>>> round(d.median, 1), round(d.floor_months, 2)
(15.0, 1.12)
>>> sad = m.distribution(20e-3, Patient(depression=True))
>>> sad.median < d.median and sad.sigma > d.sigma
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist

from scipy.optimize import brentq

from cryoplan.data import read_toml
from cryoplan.errors import InputError

DAYS_PER_MONTH = 365.25 / 12
#: the standard normal distribution (the standard library's: scipy.stats alone takes 0.4 s to import)
norm = NormalDist()
Z95 = norm.inv_cdf(0.975)
LOGIT_PER_PROBIT = 1.702  # Camilli, J Educ Behav Stat 19 (1994) 293
FACTORS = ("depression", "prior_lumbar_surgery", "extra_joints", "opioid_use")


@lru_cache(maxsize=1)
def outcome_data() -> dict:
    return read_toml("outcome.toml")


@dataclass(frozen=True)
class Patient:
    """The documented patient factors, or an explicit ``susceptibility`` that replaces them
    (1 = the reference patient; 2 halves the median excess)."""

    depression: bool = False
    prior_lumbar_surgery: bool = False
    treated_joints: int = 1
    opioid_use: bool = False
    susceptibility: float | None = None

    def __post_init__(self) -> None:
        if self.treated_joints < 1:
            raise InputError("patient.treated_joints", self.treated_joints, "an integer >= 1")
        if self.susceptibility is not None and not self.susceptibility > 0:
            raise InputError("patient.susceptibility", self.susceptibility, "a number > 0 (1 = typical)")

    def covariates(self) -> dict[str, float]:
        """x_k of the model: 1/0 flags and the number of joints beyond the first."""
        return {"depression": float(self.depression),
                "prior_lumbar_surgery": float(self.prior_lumbar_surgery),
                "extra_joints": float(self.treated_joints - 1), "opioid_use": float(self.opioid_use)}


@dataclass(frozen=True)
class Effect:
    """A patient factor's shift of ln(relief excess): coefficient b and its standard error."""

    name: str
    coefficient: float
    se: float
    source: str = ""

    @property
    def time_ratio(self) -> float:
        return math.exp(self.coefficient)


@dataclass(frozen=True)
class ReliefDistribution:
    floor_months: float
    median_excess_months: float  # m with the patient's factors applied
    sigma: float  # including the factors' uncertainty
    applied: tuple[str, ...] = ()  # the factors (or the override) applied, for reports

    def quantile(self, p: float) -> float:
        """Months by which a fraction ``p`` of patients have pain again."""
        if not 0 < p < 1:
            raise InputError("probability", p, "a number between 0 and 1 (exclusive)")
        return self.floor_months + self.median_excess_months * math.exp(self.sigma * norm.inv_cdf(p))

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    def returned_by(self, months: float) -> float:
        """Probability that pain has returned by ``months``."""
        x = months - self.floor_months
        return 0.0 if x <= 0 else float(norm.cdf(math.log(x / self.median_excess_months) / self.sigma))


@dataclass(frozen=True)
class ReliefModel:
    """Parameters of the relief distribution (see the module docstring)."""

    median_excess_months: float  # m, reference patient
    sigma: float
    effects: tuple[Effect, ...]
    wallerian_days: float
    regrowth_mm_per_day: float
    default_distance_m: float
    origin: str = "prior"  # "prior" or the refit it came from
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def floor_months(self, distance_m: float | None = None) -> float:
        """Wallerian degeneration plus regrowth over ``distance_m`` (default: the anatomy's)."""
        d = self.default_distance_m if distance_m is None else distance_m
        if not d >= 0:
            raise InputError("regrowth distance (mm)", d * 1e3, "a distance >= 0")
        return (self.wallerian_days + d * 1e3 / self.regrowth_mm_per_day) / DAYS_PER_MONTH

    def distribution(self, regrowth_distance_m: float | None = None, patient: Patient | None = None
                     ) -> ReliefDistribution:
        """Relief of a blocked nerve whose lesion lies ``regrowth_distance_m`` from its end organ."""
        patient = patient or Patient()
        floor = self.floor_months(regrowth_distance_m)
        if patient.susceptibility is not None:
            return ReliefDistribution(floor, self.median_excess_months / patient.susceptibility, self.sigma,
                                      (f"susceptibility {patient.susceptibility:g} (override)",))
        x = patient.covariates()
        shift = sum(e.coefficient * x[e.name] for e in self.effects)
        extra = sum((e.se * x[e.name]) ** 2 for e in self.effects)
        applied = tuple(f"{e.name} (x{math.exp(e.coefficient * x[e.name]):.2f})"
                        for e in self.effects if x[e.name])
        return ReliefDistribution(floor, self.median_excess_months * math.exp(shift),
                                  math.sqrt(self.sigma**2 + extra), applied)


def _hazard_effect(name: str, d: dict, sigma: float, source: str) -> Effect:
    """A Cox hazard ratio as a log-time shift through the Weibull-equivalent shape."""
    per_k = sigma * math.sqrt(6) / math.pi  # 1 / k
    se = (math.log(d["hi"]) - math.log(d["lo"])) / (2 * Z95)
    return Effect(name, -math.log(d["hazard_ratio"]) * per_k, se * per_k, source)


def _odds_effect(name: str, d: dict, sigma: float, source: str) -> Effect:
    """An odds ratio of still being relieved as a log-time shift (logistic ~ 1.702 probit)."""
    se = (math.log(d["hi"]) - math.log(d["lo"])) / (2 * Z95)
    return Effect(name, sigma * math.log(d["odds_ratio"]) / LOGIT_PER_PROBIT, sigma * se / LOGIT_PER_PROBIT,
                  source)


def prior_effects(sigma: float) -> tuple[Effect, ...]:
    e = outcome_data()["effects"]
    return tuple(
        (_odds_effect if "odds_ratio" in e[k] else _hazard_effect)(k, e[k], sigma, e[f"{k}_source"])
        for k in FACTORS)


#: The ratio S(12)/S(6) is smallest near this sigma (about 0.68 for the calibrated median): it has
#: two roots, and the larger (wider, longer-tailed) is taken, which the cryoneurolysis series'
#: slow decline favours (docs/injury.md). The ratio varies little with sigma: it fixes it weakly.
SIGMA_AT_LEAST_RATIO = 0.7


def calibrated_sigma(median_excess: float, floor: float) -> float:
    """sigma that gives Streitberger's ratio of the 12- to the 6-month share still relieved
    (the larger of its two roots)."""
    c = outcome_data()["calibration"]
    t1, t2, ratio = c["shape_early_months"] - floor, c["shape_late_months"] - floor, c["shape_ratio"]

    def still(t: float, s: float) -> float:
        return 1.0 - norm.cdf(math.log(t / median_excess) / s)

    return float(brentq(lambda s: still(t2, s) / still(t1, s) - ratio, SIGMA_AT_LEAST_RATIO, 5.0))


@lru_cache(maxsize=1)
def default_model() -> ReliefModel:
    """The prior, calibrated on the clinical series in data/outcome.toml (docs/injury.md)."""
    d = outcome_data()
    r, cal = d["regrowth"], d["calibration"]
    base = ReliefModel(1.0, 1.0, (), r["wallerian_days"], r["rate_mm_per_day"], r["distance_mm"] * 1e-3)
    floor = base.floor_months()
    m = cal["median_months"] * cal["bridge"] - floor
    sigma = calibrated_sigma(m, floor)
    sources = {"median": cal["median_source"], "bridge": cal["bridge_source"], "sigma": cal["shape_source"],
               "floor": f"{r['wallerian_source']}; {r['rate_source']}; {r['distance_source']}",
               "no effect": d["effects"]["no_effect"]}
    return ReliefModel(m, sigma, prior_effects(sigma), r["wallerian_days"], r["rate_mm_per_day"],
                       r["distance_mm"] * 1e-3, "prior", sources)
