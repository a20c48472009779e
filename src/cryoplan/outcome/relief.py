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
    """The relief model's numbers and their sources, ``data/outcome.toml`` (read once).

    Returns
    -------
    dict
        The TOML tables: ``regrowth`` (days, mm/day, mm), ``calibration`` (months), ``effects``
        (hazard and odds ratios with their 95 % intervals), ``checks`` and ``retreatment``.
    """
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
        """x_k of the model: 1/0 flags and the number of joints beyond the first.

        Returns
        -------
        dict of str to float
            ``depression``, ``prior_lumbar_surgery``, ``opioid_use`` (1.0 or 0.0) and
            ``extra_joints`` (treated joints beyond the first) [-].

        Examples
        --------
        >>> Patient(depression=True, treated_joints=3).covariates()
        {'depression': 1.0, 'prior_lumbar_surgery': 0.0, 'extra_joints': 2.0, 'opioid_use': 0.0}
        """
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
        """The factor's multiplier of the median relief excess, exp(b).

        Returns
        -------
        float
            Time ratio [-]: below 1 shortens the relief.

        Examples
        --------
        >>> Effect("demo", 0.0, 0.1).time_ratio
        1.0
        """
        return math.exp(self.coefficient)


@dataclass(frozen=True)
class ReliefDistribution:
    floor_months: float
    median_excess_months: float  # m with the patient's factors applied
    sigma: float  # including the factors' uncertainty
    applied: tuple[str, ...] = ()  # the factors (or the override) applied, for reports

    def quantile(self, p: float) -> float:
        """Months by which a fraction ``p`` of patients have pain again.

        floor + m exp(sigma Phi^-1(p)), with m the median excess and Phi the standard normal
        distribution function.

        Parameters
        ----------
        p : float
            Fraction of patients [-], strictly between 0 and 1.

        Returns
        -------
        float
            Time since the treatment [months].

        Raises
        ------
        InputError
            When ``p`` is not strictly between 0 and 1.

        Examples
        --------
        >>> ReliefDistribution(1.0, 10.0, 0.8).quantile(0.5)
        11.0
        """
        if not 0 < p < 1:
            raise InputError("probability", p, "a number between 0 and 1 (exclusive)")
        return self.floor_months + self.median_excess_months * math.exp(self.sigma * norm.inv_cdf(p))

    @property
    def median(self) -> float:
        """Months by which half of the patients have pain again, ``quantile(0.5)``.

        Returns
        -------
        float
            Median relief [months]: the floor plus the median excess.

        Examples
        --------
        >>> ReliefDistribution(1.0, 10.0, 0.8).median
        11.0
        """
        return self.quantile(0.5)

    def returned_by(self, months: float) -> float:
        """Probability that pain has returned by ``months``.

        Phi(ln((months - floor) / m) / sigma), 0 before the floor.

        Parameters
        ----------
        months : float
            Time since the treatment [months].

        Returns
        -------
        float
            Probability [-], in [0, 1].

        Examples
        --------
        >>> d = ReliefDistribution(1.0, 10.0, 0.8)
        >>> d.returned_by(1.0), d.returned_by(11.0)
        (0.0, 0.5)
        """
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
        """Wallerian degeneration plus regrowth over ``distance_m`` (default: the anatomy's).

        floor = (Wallerian days + distance / regrowth rate) / (365.25 / 12 days per month).

        Parameters
        ----------
        distance_m : float or None, optional
            Regrowth distance from the lesion to the end organ [m]; None (default) for the model's
            ``default_distance_m``.

        Returns
        -------
        float
            The earliest return of pain [months].

        Raises
        ------
        InputError
            When the distance is negative or not a number.

        References
        ----------
        .. [1] Evans PJ, Lloyd JW, Green CJ, Br J Anaesth 53 (1981) 1121 (regrowth about 1 mm/day).
        .. [2] Gaudet AD et al., J Neuroinflammation 8 (2011) 110 (Wallerian degeneration in 1-3 weeks).

        Examples
        --------
        >>> round(default_model().floor_months(20e-3), 2)
        1.12
        """
        d = self.default_distance_m if distance_m is None else distance_m
        if not d >= 0:
            raise InputError("regrowth distance (mm)", d * 1e3, "a distance >= 0")
        return (self.wallerian_days + d * 1e3 / self.regrowth_mm_per_day) / DAYS_PER_MONTH

    def distribution(self, regrowth_distance_m: float | None = None, patient: Patient | None = None
                     ) -> ReliefDistribution:
        """Relief of a blocked nerve whose lesion lies ``regrowth_distance_m`` from its end organ.

        relief = floor + X, ln X ~ Normal(ln m + sum_k b_k x_k, sqrt(sigma^2 + sum_k (se_k x_k)^2));
        an explicit ``susceptibility`` s divides m instead, with no added spread.

        Parameters
        ----------
        regrowth_distance_m : float or None, optional
            Regrowth distance from the lesion to the end organ [m]; None (default) for the model's
            ``default_distance_m``.
        patient : Patient or None, optional
            The patient's factors; None (default) for the reference patient.

        Returns
        -------
        ReliefDistribution
            Floor and median excess [months] and sigma [-] (of the log of the excess).

        References
        ----------
        .. [1] Evans PJ, Lloyd JW, Green CJ, Br J Anaesth 53 (1981) 1121 (regrowth about 1 mm/day).
        .. [2] Gaudet AD et al., J Neuroinflammation 8 (2011) 110 (Wallerian degeneration in 1-3 weeks).
        .. [3] MacVicar J et al., Pain Med 14 (2013) 639-645 (the median that calibrates m).
        .. [4] Streitberger K et al., Eur Spine J 20 (2011) 2160-2165 (the decline from 6 to 12 months
           that calibrates sigma, and the patient factors' hazard ratios).

        Examples
        --------
        >>> d = default_model().distribution(20e-3)
        >>> round(d.median, 1)
        15.0
        """
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
    """The patient factors' published effects as shifts of the log relief excess.

    A Cox hazard ratio HR becomes b = -ln(HR) / k through the Weibull-equivalent shape
    k = pi / (sigma sqrt 6); an odds ratio OR of still being relieved becomes b = sigma ln(OR) / 1.702
    (logit ~ 1.702 probit). Each standard error comes from the 95 % interval,
    se = (ln hi - ln lo) / (2 x 1.96), scaled likewise.

    Parameters
    ----------
    sigma : float
        The model's sigma [-] (of the log of the relief excess).

    Returns
    -------
    tuple of Effect
        One effect per factor (depression, prior lumbar surgery, extra joints, opioid use):
        coefficient and standard error [-] of ln(relief excess), and its source.

    References
    ----------
    .. [1] Streitberger K et al., Eur Spine J 20 (2011) 2160-2165 (hazard ratios).
    .. [2] Yadav et al., Pain Pract 21 (2021) 152 (odds ratio of prior opioid use).
    .. [3] Camilli G, J Educ Behav Stat 19 (1994) 293 (logit ~ 1.702 probit).
    """
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
    (the larger of its two roots).

    Solves S(t_12) / S(t_6) = ratio for sigma in [0.7, 5], with S(t) = 1 - Phi(ln(t / m) / sigma)
    and t the months beyond the floor.

    Parameters
    ----------
    median_excess : float
        m, the median relief beyond the floor [months].
    floor : float
        The regrowth floor [months].

    Returns
    -------
    float
        sigma [-], of the log of the relief excess.

    References
    ----------
    .. [1] Streitberger K et al., Eur Spine J 20 (2011) 2160-2165: success in 32 % at 6 months and
       22 % at 1 year.

    Examples
    --------
    >>> round(calibrated_sigma(13.88, 1.117), 2)
    0.84
    """
    c = outcome_data()["calibration"]
    t1, t2, ratio = c["shape_early_months"] - floor, c["shape_late_months"] - floor, c["shape_ratio"]

    def still(t: float, s: float) -> float:
        return 1.0 - norm.cdf(math.log(t / median_excess) / s)

    return float(brentq(lambda s: still(t2, s) / still(t1, s) - ratio, SIGMA_AT_LEAST_RATIO, 5.0))


@lru_cache(maxsize=1)
def default_model() -> ReliefModel:
    """The prior, calibrated on the clinical series in data/outcome.toml (docs/injury.md).

    Returns
    -------
    ReliefModel
        The prior model: m [months] from the median relief less the floor, sigma [-] from the
        12- to 6-month ratio, the published patient effects, the regrowth floor's Wallerian days
        [days], regrowth rate [mm/day] and default distance [m], with the source of each.

    References
    ----------
    .. [1] MacVicar J, Borowczyk JM, MacVicar AM, Loughnan BM & Bogduk N, Pain Med 14 (2013)
       639-645 (median relief 15 months).
    .. [2] Streitberger K et al., Eur Spine J 20 (2011) 2160-2165 (the 12- to 6-month ratio).
    .. [3] Evans PJ, Lloyd JW, Green CJ, Br J Anaesth 53 (1981) 1121 (regrowth 1 mm per day).
    .. [4] Gaudet AD et al., J Neuroinflammation 8 (2011) 110 (Wallerian degeneration).
    .. [5] Bogduk N, Wilson AS & Tynan W, J Anat 134 (1982) 383-397 (the regrowth distance).

    Examples
    --------
    >>> m = default_model()
    >>> round(m.median_excess_months, 2), round(m.sigma, 2)
    (13.88, 0.84)
    """
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
