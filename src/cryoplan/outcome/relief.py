"""How long pain relief lasts: a shifted log-normal distribution of months (data/outcome.toml).

    relief = floor + X,   ln X ~ Normal(ln m, sigma)
    floor  = (Wallerian degeneration + regrowth distance / regrowth rate), in months
    m      = m_ref (L / L_ref)^a (n / n_ref)^b / susceptibility

The floor is mechanistic: pain cannot return before the axons have degenerated and regrown to
the end organ (Evans et al. 1981: about 1 mm/day). ``m_ref`` and ``sigma`` are calibrated so the
reference treatment (``L_ref`` blocked, ``n_ref`` nerves, susceptibility 1) has its 5th and 95th
percentiles at the cited clinical range; ``a`` and ``b`` are assumptions to be refit from
recorded outcomes (``cryoplan.outcome.fit``). An unblocked nerve gives no relief model.

>>> m = default_model()
>>> d = m.distribution(blocked_length_m=6e-3, nerves=2)
>>> round(d.quantile(0.05), 1), round(d.quantile(0.95), 1)
(6.0, 36.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from scipy.stats import norm

from cryoplan.data import read_toml
from cryoplan.errors import InputError

DAYS_PER_MONTH = 365.25 / 12


@lru_cache(maxsize=1)
def outcome_data() -> dict:
    return read_toml("outcome.toml")


@dataclass(frozen=True)
class ReliefDistribution:
    floor_months: float
    median_excess_months: float  # m
    sigma: float

    def quantile(self, p: float) -> float:
        """Months by which a fraction ``p`` of patients have pain again."""
        if not 0 < p < 1:
            raise InputError("probability", p, "a number between 0 and 1 (exclusive)")
        return self.floor_months + self.median_excess_months * math.exp(self.sigma * norm.ppf(p))

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

    median_ref_months: float
    sigma: float
    length_exponent: float
    nerves_exponent: float
    reference_length_m: float
    reference_nerves: int
    floor_months: float

    def distribution(self, blocked_length_m: float, nerves: int = 1, susceptibility: float = 1.0
                     ) -> ReliefDistribution:
        if not blocked_length_m > 0:
            raise InputError("blocked_length_mm", blocked_length_m * 1e3,
                             "a length > 0 (the nerve must be blocked)")
        if nerves < 1:
            raise InputError("outcome.nerves_treated", nerves, "an integer >= 1")
        if not susceptibility > 0:
            raise InputError("patient.susceptibility", susceptibility, "a number > 0 (1 = typical)")
        m = (self.median_ref_months * (blocked_length_m / self.reference_length_m) ** self.length_exponent
             * (nerves / self.reference_nerves) ** self.nerves_exponent / susceptibility)
        return ReliefDistribution(self.floor_months, m, self.sigma)


def regrowth_floor_months(distance_m: float | None = None) -> float:
    """Wallerian degeneration plus regrowth over ``distance_m`` at the cited rate, in months."""
    r = outcome_data()["regrowth"]
    distance_mm = r["distance_mm"] if distance_m is None else distance_m * 1e3
    if distance_mm < 0:
        raise InputError("outcome.regrowth_distance_mm", distance_mm, "a distance >= 0")
    return (r["wallerian_days"] + distance_mm / r["rate_mm_per_day"]) / DAYS_PER_MONTH


def default_model(regrowth_distance_m: float | None = None) -> ReliefModel:
    """The prior, calibrated to the clinical percentiles in data/outcome.toml."""
    d = outcome_data()
    cal, cov = d["calibration"], d["covariates"]
    floor = regrowth_floor_months(regrowth_distance_m)
    lo, hi = cal["p5_months"] - floor, cal["p95_months"] - floor
    if lo <= 0:
        raise InputError("outcome.regrowth_distance_mm", regrowth_distance_m,
                         "a regrowth time shorter than the calibration's 5th percentile "
                         f"({cal['p5_months']} months)")
    z = norm.ppf(0.95)
    return ReliefModel(
        median_ref_months=math.sqrt(lo * hi), sigma=float(math.log(hi / lo) / (2 * z)),
        length_exponent=cov["length_exponent"], nerves_exponent=cov["nerves_exponent"],
        reference_length_m=cal["reference_blocked_length_mm"] * 1e-3,
        reference_nerves=cal["reference_nerves_treated"], floor_months=floor,
    )
