"""Refit the relief model from recorded, censored outcomes (a log-normal accelerated failure
time model fitted by maximum likelihood with lifelines: Davidson-Pilon C, J Open Source Softw 4
(2019) 1317).

Each record: months of follow-up, whether pain had returned by then (False = censored: still
relieved at the last follow-up), the lesion's regrowth distance (None: the anatomy's default)
and the patient's factors. Pain that is found back at a visit came back some time after the
visit before, so such a record may also give ``relieved_until_months``, the last visit at which
the patient was still relieved (0: none since the treatment); the fit then takes the relief as
interval-censored between the two (Turnbull BW, J R Stat Soc B 38 (1976) 290; lifelines'
``fit_interval_censoring``) instead of ending at the visit, which would overstate it by up to
one follow-up interval. The model fitted is the one ``relief.py`` uses, on the months beyond each
record's regrowth floor:

    ln(relief - floor) = ln m + sum_k b_k x_k + sigma e,   e ~ Normal(0, 1)

m, sigma and every b_k whose factor varies among the records are fitted (with lifelines'
standard errors); a factor that never varies keeps the prior's b_k as a fixed offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from lifelines import LogNormalAFTFitter

from cryoplan.errors import InputError
from cryoplan.outcome.relief import Effect, Patient, ReliefModel

#: The smallest relief beyond the regrowth floor a record counts (months): see ``refit``.
MIN_EXCESS_MONTHS = 0.05


@dataclass(frozen=True)
class OutcomeRecord:
    months: float
    pain_returned: bool
    regrowth_distance_m: float | None = None
    patient: Patient = field(default_factory=Patient)
    relieved_until_months: float | None = None  # pain returned after this (None: at ``months``)


def _check(records: Sequence[OutcomeRecord], min_records: int) -> None:
    if len(records) < min_records:
        raise InputError("records", len(records), f"at least {min_records} recorded outcomes to refit")
    for k, r in enumerate(records):
        if not (r.months > 0 and (r.regrowth_distance_m is None or r.regrowth_distance_m >= 0)):
            raise InputError(f"records[{k}]", r, "months > 0 and a regrowth distance >= 0")
        if r.relieved_until_months is not None and not (
                r.pain_returned and 0 <= r.relieved_until_months <= r.months):
            raise InputError(f"records[{k}].relieved_until_months", r.relieved_until_months,
                             f"between 0 and months ({r.months:g}), for a record whose pain returned")


def refit(records: Sequence[OutcomeRecord], prior: ReliefModel, min_records: int = 10) -> ReliefModel:
    """A new model with m, sigma and the varying factors' effects fitted to ``records`` (the
    regrowth floor and the other effects kept from ``prior``).

    Fits ln(relief - floor) = ln m + sum_k b_k x_k + sigma e, e ~ Normal(0, 1), by maximum
    likelihood (a log-normal accelerated failure time model), each record's relief
    interval-censored between ``relieved_until_months`` (when given) and ``months``, or
    right-censored at ``months`` while pain has not returned. A relief shorter than the floor
    counts as ``MIN_EXCESS_MONTHS`` beyond it.

    Parameters
    ----------
    records : sequence of OutcomeRecord
        Recorded outcomes: follow-up [months], whether pain had returned, regrowth distance [m]
        and the patient's factors.
    prior : ReliefModel
        The model whose floor and non-varying effects are kept.
    min_records : int, optional
        Fewest records to refit (default 10).

    Returns
    -------
    ReliefModel
        The refitted model: m [months], sigma [-], effects [-] with lifelines' standard errors.

    Raises
    ------
    InputError
        When there are too few records or a record is inconsistent.

    References
    ----------
    .. [1] Davidson-Pilon C, lifelines, J Open Source Softw 4 (2019) 1317.
    .. [2] Turnbull BW, J R Stat Soc B 38 (1976) 290 (interval censoring).
    """
    _check(records, min_records)
    floor = np.array([prior.floor_months(r.regrowth_distance_m) for r in records])
    # The relief ended in (lower, upper]: at ``months`` when exact, after ``relieved_until_months``
    # when given, and not yet (upper = inf) when censored.
    upper = np.array([r.months if r.pain_returned else np.inf for r in records])
    lower = np.array([r.relieved_until_months if r.relieved_until_months is not None else r.months
                      for r in records])
    # Relief that ended before the regrowth floor cannot be the nerve regrowing (a failed block);
    # keep it at a small positive excess rather than drop it, so failures still pull the model down.
    upper_excess = np.maximum(upper - floor, MIN_EXCESS_MONTHS)
    # An exact end keeps equal bounds; a lower bound of 0 (relief that may have ended at once) is
    # a tiny positive one, as lifelines takes the logarithm of both bounds.
    lower_excess = np.where(lower == upper, upper_excess, np.clip(lower - floor, 1e-6, upper_excess))
    covariates = pd.DataFrame([r.patient.covariates() for r in records])
    # A factor that never varies cannot be fitted: its prior effect is a fixed offset of the
    # log-time, applied by rescaling the times; so is an explicit susceptibility.
    offset = np.array([1.0 / r.patient.susceptibility if r.patient.susceptibility else 1.0 for r in records])
    fixed = {}
    for e in prior.effects:
        if np.ptp(covariates[e.name]) < 1e-9:
            offset = offset * np.exp(e.coefficient * covariates[e.name].to_numpy())
            fixed[e.name] = e
            covariates = covariates.drop(columns=e.name)
    frame = covariates.assign(lower=lower_excess / offset, upper=upper_excess / offset)
    fitter = LogNormalAFTFitter()
    fitter.fit_interval_censoring(frame, lower_bound_col="lower", upper_bound_col="upper")
    mu, se = fitter.params_.loc["mu_"], fitter.standard_errors_.loc["mu_"]
    effects = tuple(fixed.get(e.name) or Effect(e.name, float(mu[e.name]), float(se[e.name]),
                                                f"refit of {len(records)} recorded outcomes")
                    for e in prior.effects)
    return replace(prior, median_excess_months=float(np.exp(mu["Intercept"])),
                   sigma=float(np.exp(fitter.params_.loc["sigma_"]["Intercept"])), effects=effects,
                   origin=f"refit of {len(records)} recorded outcomes")
