"""Refit the relief model from recorded, censored outcomes (a log-normal accelerated failure
time model fitted by maximum likelihood with lifelines: Davidson-Pilon C, J Open Source Softw 4
(2019) 1317).

Each record: months of follow-up, whether pain had returned by then (False = censored: still
relieved at the last follow-up), the blocked length, the number of nerves treated and the
patient's susceptibility. Pain that is found back at a visit came back some time after the
visit before, so such a record may also give ``relieved_until_months``, the last visit at which
the patient was still relieved (0: none since the treatment); the fit then takes the relief as
interval-censored between the two (Turnbull BW, J R Stat Soc B 38 (1976) 290; lifelines'
``fit_interval_censoring``) instead of ending at the visit, which would overstate it by up to
one follow-up interval. The model fitted is the one ``relief.py`` uses, on the months beyond the
regrowth floor:

    ln(relief - floor) = ln m_ref + a ln(L / L_ref) + b ln(n / n_ref) - ln(susceptibility) + sigma e
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from lifelines import LogNormalAFTFitter

from cryoplan.errors import InputError
from cryoplan.outcome.relief import ReliefModel

#: The smallest relief beyond the regrowth floor a record counts (months): see ``refit``.
MIN_EXCESS_MONTHS = 0.05


@dataclass(frozen=True)
class OutcomeRecord:
    months: float
    pain_returned: bool
    blocked_length_m: float
    nerves: int = 1
    susceptibility: float = 1.0
    relieved_until_months: float | None = None  # pain returned after this (None: at ``months``)


def refit(records: Sequence[OutcomeRecord], prior: ReliefModel, min_records: int = 10) -> ReliefModel:
    """A new model with m_ref, a, b and sigma fitted to ``records`` (floor and references kept)."""
    if len(records) < min_records:
        raise InputError("records", len(records), f"at least {min_records} recorded outcomes to refit")
    for k, r in enumerate(records):
        if not (r.months > 0 and r.blocked_length_m > 0 and r.nerves >= 1 and r.susceptibility > 0):
            raise InputError(f"records[{k}]", r,
                             "months > 0, blocked length > 0, nerves >= 1, susceptibility > 0")
        if r.relieved_until_months is not None and not (
                r.pain_returned and 0 <= r.relieved_until_months <= r.months):
            raise InputError(f"records[{k}].relieved_until_months", r.relieved_until_months,
                             f"between 0 and months ({r.months:g}), for a record whose pain returned")
    # The relief ended in (lower, upper]: at ``months`` when exact, after ``relieved_until_months``
    # when given, and not yet (upper = inf) when censored.
    upper = np.array([r.months if r.pain_returned else np.inf for r in records])
    lower = np.array([r.relieved_until_months if r.relieved_until_months is not None else r.months
                      for r in records])
    # Relief that ended before the regrowth floor cannot be the nerve regrowing (a failed block);
    # keep it at a small positive excess rather than drop it, so failures still pull the model down.
    upper_excess = np.maximum(upper - prior.floor_months, MIN_EXCESS_MONTHS)
    # An exact end keeps equal bounds; a lower bound of 0 (relief that may have ended at once) is
    # a tiny positive one, as lifelines takes the logarithm of both bounds.
    lower_excess = np.where(lower == upper, upper_excess,
                            np.clip(lower - prior.floor_months, 1e-6, upper_excess))
    frame = pd.DataFrame({
        "lower": lower_excess,
        "upper": upper_excess,
        "log_length": np.log([r.blocked_length_m / prior.reference_length_m for r in records]),
        "log_nerves": np.log([r.nerves / prior.reference_nerves for r in records]),
    })
    # susceptibility divides the median: an offset with coefficient -1, handled by rescaling
    scale = np.array([r.susceptibility for r in records])
    # A covariate that never varies in the records cannot be fitted: keep the prior's exponent
    # and move its (constant) effect into the intercept.
    fixed = {}
    for col, exponent in (("log_length", prior.length_exponent), ("log_nerves", prior.nerves_exponent)):
        if np.ptp(frame[col]) < 1e-9:
            scale = scale / np.exp(exponent * frame[col].to_numpy())
            fixed[col] = exponent
            frame = frame.drop(columns=col)
    frame["lower"] *= scale
    frame["upper"] *= scale
    fitter = LogNormalAFTFitter()
    fitter.fit_interval_censoring(frame, lower_bound_col="lower", upper_bound_col="upper")
    mu = fitter.params_.loc["mu_"]
    sigma = float(np.exp(fitter.params_.loc["sigma_"]["Intercept"]))
    return replace(prior, median_ref_months=float(np.exp(mu["Intercept"])),
                   length_exponent=float(fixed.get("log_length", mu.get("log_length", 0.0))),
                   nerves_exponent=float(fixed.get("log_nerves", mu.get("log_nerves", 0.0))),
                   sigma=sigma)
