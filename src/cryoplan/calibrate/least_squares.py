"""Least-squares fit of a probe's unknown internals to bench measurements, with the uncertainty
of the fitted values, their correlations, and refusals where the data cannot determine them.

The residuals are r_i = (model_i - measured_i) / sd_i (sd_i = 1, in mm or °C, when the data give
none); ``scipy.optimize.least_squares`` (trust-region reflective, bounded) minimises
cost = 1/2 sum r_i^2 over the fit variables v = ln x (unknowns fitted in log space) or v = x / |x0|.
The Jacobian is a forward difference of 1 % in v. At the optimum the covariance of v is

    C = s^2 (J^T J)^-1,   s^2 = sum r_i^2 / (m - n)

(m values, n unknowns; the Gauss-Newton approximation of nonlinear regression, Bates DM & Watts DG,
Nonlinear Regression Analysis and Its Applications, Wiley 1988, §2.3), carried to x by the delta
method (sd_x = x sd_v in log space). When the data give standard deviations, s^2 is at least 1:
the stated measurement error bounds the uncertainty from below even where the residuals happen to
be smaller (assumed; a misfit, s^2 > 1, still widens it). With ``bootstrap`` = B the fit is
repeated on B data sets made from the fitted values plus resampled residuals (the residual
bootstrap, scaled by sqrt(m/(m-n)); Davison AC & Hinkley DV, Bootstrap Methods and Their
Application, Cambridge 1997, §6.2), seeded.

A fit is refused (``NotDetermined``, one line naming the unknown and why) when an unknown does not
move the predictions (a near-zero Jacobian column, at the start or at the optimum), when the best
fit lies on a bound, when two unknowns are correlated above 0.99 or J^T J is singular, when the
data fix an unknown only to more than +-100 %, or when the fit stopped where the local model still
points more than one standard deviation away (a Gauss-Newton step from the optimum; it happens in
flat valleys of the cost and where the enthalpy method's cell-by-cell freezing makes the sizes
kink as the parameters change: a finer grid, fewer unknowns or more data help).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from cryoplan.calibrate.model import BenchModel
from cryoplan.calibrate.spec import Calibration, Unknown
from cryoplan.errors import InputError

#: Forward-difference step of the Jacobian, in the fit variable (1 % of x in log space).
STEP = 0.01
#: A 10 % change of an unknown that moves the predictions by less than this share of their size
#: leaves it undetermined (a near-zero Jacobian column).
MIN_SENSITIVITY = 1e-3
#: Largest correlation between two unknowns that a fit reports rather than refuses.
MAX_CORRELATION = 0.99
#: Largest standard deviation of a fitted value, as a share of the value.
MAX_RELATIVE_SD = 1.0
#: Largest Gauss-Newton step left at the optimum, in standard deviations of each unknown.
MAX_STEP_LEFT = 1.0


class NotDetermined(InputError):
    """The data cannot determine an unknown: names it and says why (one line, exit code 2)."""

    def __init__(self, key: str, why: str):
        super().__init__(key, None, why)
        self.args = (f"the data cannot determine {key}: {why}",)

    def __reduce__(self):
        return type(self), (self.field, self.allowed)


@dataclass(frozen=True)
class Bootstrap:
    samples: np.ndarray  # (B, n) fitted values of each replicate
    seed: int

    @property
    def sd(self) -> np.ndarray:
        if len(self.samples) < 2:
            return np.full(self.samples.shape[1], np.nan)
        return self.samples.std(axis=0, ddof=1)

    def interval(self, level: float = 0.95) -> np.ndarray:
        """(n, 2) percentile interval of each unknown."""
        q = 50 * (1 - level)
        return np.percentile(self.samples, [q, 100 - q], axis=0).T


@dataclass(frozen=True)
class Fit:
    """The fitted unknowns (physical units, their standard deviations and correlations), the
    model at the optimum against the data, and how the fit went."""

    cal: Calibration
    values: np.ndarray
    sd: np.ndarray
    correlation: np.ndarray
    predicted: np.ndarray
    cost: float
    reduced_chi2: float  # sum r_i^2 / (m - n)
    simulations: int
    wall_time_s: float
    message: str
    bootstrap: Bootstrap | None = None

    @property
    def residuals(self) -> np.ndarray:
        """model - measured (mm or °C)."""
        return self.predicted - self.cal.data.value

    @property
    def weighted_residuals(self) -> np.ndarray:
        return self.residuals / _sigma(self.cal)

    @property
    def dof(self) -> int:
        return len(self.cal.data) - len(self.values)


def _sigma(cal: Calibration) -> np.ndarray:
    return cal.data.sd if cal.data.weighted else np.ones(len(cal.data))


def _scale(u: Unknown) -> float:
    return abs(u.initial) if u.initial != 0 else u.upper - u.lower


def to_v(u: Unknown, x: float) -> float:
    return math.log(x) if u.log else x / _scale(u)


def to_x(u: Unknown, v: float) -> float:
    return math.exp(v) if u.log else v * _scale(u)


def _ten_percent(u: Unknown) -> float:
    """The change of v for a 10 % change of x (in linear space: of the start's size)."""
    return math.log(1.1) if u.log else 0.1


class _Problem:
    """Weighted residuals and their forward-difference Jacobian in the fit variables."""

    def __init__(self, cal: Calibration, model: BenchModel):
        self.cal, self.model, self.sigma = cal, model, _sigma(cal)
        self.lo = np.array([to_v(u, u.lower) for u in cal.unknowns])
        self.hi = np.array([to_v(u, u.upper) for u in cal.unknowns])

    def x(self, v: np.ndarray) -> np.ndarray:
        return np.array([to_x(u, float(vi)) for u, vi in zip(self.cal.unknowns, v, strict=True)])

    def predicted(self, v: np.ndarray) -> np.ndarray:
        return self.model(self.x(np.clip(v, self.lo, self.hi)))

    def residual(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (self.predicted(v) - y) / self.sigma

    def jacobian(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        f0 = self.residual(v, y)
        jac = np.empty((len(y), len(v)))
        for k in range(len(v)):
            h = STEP if v[k] + STEP <= self.hi[k] else -STEP  # step back from an upper bound
            dv = v.copy()
            dv[k] += h
            jac[:, k] = (self.residual(dv, y) - f0) / h
        return jac

    def solve(self, v0: np.ndarray, y: np.ndarray):
        return least_squares(self.residual, v0, jac=self.jacobian, bounds=(self.lo, self.hi), args=(y,),
                             method="trf", x_scale=1.0, xtol=1e-6, ftol=1e-8, gtol=1e-8)


def _check_sensitivity(cal: Calibration, jac: np.ndarray, y_w: np.ndarray, where: str) -> None:
    size = float(np.linalg.norm(y_w)) or 1.0
    for k, u in enumerate(cal.unknowns):
        moved = float(np.linalg.norm(jac[:, k])) * _ten_percent(u) / size
        if moved < MIN_SENSITIVITY:
            raise NotDetermined(u.key, f"a 10 % change {where} moves the predictions by {100 * moved:.2g} "
                                       "% of their size (a near-zero Jacobian column): these data do not "
                                       "depend on it here (is it set by another key, as "
                                       "probe.mass_flow_g_per_s sets the flow, or at a flat extremum of the "
                                       "sizes?)")


def _covariance(cal: Calibration, jac: np.ndarray, s2: float) -> np.ndarray:
    jtj = jac.T @ jac
    w, vecs = np.linalg.eigh(jtj)
    if w[0] <= 1e-12 * max(w[-1], 1e-300):
        null = vecs[:, 0]
        keys = [cal.unknowns[k].key for k in np.argsort(-np.abs(null))[:2]]
        if len(keys) == 1:
            raise NotDetermined(keys[0], "J^T J is singular: the predictions do not depend on it")
        raise NotDetermined(keys[0], f"J^T J is singular: only a combination with {keys[1]} is fixed by "
                                     "the data")
    return s2 * np.linalg.inv(jtj)


def _check_bounds(cal: Calibration, res) -> None:
    for k, u in enumerate(cal.unknowns):
        if res.active_mask[k] != 0:
            side, bound = ("lower", u.lower) if res.active_mask[k] < 0 else ("upper", u.upper)
            raise NotDetermined(u.key, f"the best fit lies on its {side} bound ({bound:g}): the data want a "
                                       "value beyond it (widen the bounds, or check that the setup is the "
                                       "bench's)")


def _check_correlation(cal: Calibration, corr: np.ndarray) -> None:
    n = len(cal.unknowns)
    for i in range(n):
        for j in range(i + 1, n):
            if abs(corr[i, j]) > MAX_CORRELATION:
                raise NotDetermined(cal.unknowns[j].key,
                                    f"its correlation with {cal.unknowns[i].key} is {corr[i, j]:.4f} "
                                    f"(above {MAX_CORRELATION}): these data fix only a combination of the "
                                    "two; fit one of them, or add data that separate them (e.g. lengths as "
                                    "well as widths, or thermocouples)")


def _check_converged(cal: Calibration, jac: np.ndarray, r: np.ndarray, sd_v: np.ndarray) -> None:
    step = np.linalg.solve(jac.T @ jac, -jac.T @ r)
    left = np.abs(step) / np.maximum(sd_v, 1e-6)  # data fitted exactly: steps of 1e-6 in v are nothing
    k = int(np.argmax(left))
    if left[k] > MAX_STEP_LEFT:
        raise NotDetermined(cal.unknowns[k].key,
                            f"the fit stopped where the local model still points {left[k]:.2g} standard "
                            "deviations away (a flat valley of the cost, or sizes that kink as cells freeze "
                            "one by one): try a finer grid, fewer unknowns or more data")


def fit(cal: Calibration, bootstrap: int | None = None,
        progress: Callable[[int], None] | None = None) -> Fit:
    """Fit the calibration's unknowns to its data (raises NotDetermined or InputError)."""
    n_boot = cal.fit.bootstrap if bootstrap is None else bootstrap
    model = BenchModel(cal, cal.fit.max_simulations * (1 + n_boot), progress)  # per fit and refit
    prob = _Problem(cal, model)
    y = cal.data.value
    v0 = np.array([to_v(u, u.initial) for u in cal.unknowns])
    _check_sensitivity(cal, prob.jacobian(v0, y), y / prob.sigma, "at the start")
    res = prob.solve(v0, y)
    _check_bounds(cal, res)
    v = res.x
    jac = prob.jacobian(v, y)
    _check_sensitivity(cal, jac, y / prob.sigma, "at the optimum")
    r = prob.residual(v, y)
    dof = len(y) - len(v)
    chi2 = float(r @ r) / dof
    cov = _covariance(cal, jac, max(chi2, 1.0) if cal.data.weighted else chi2)
    sd_v = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    _check_converged(cal, jac, r, sd_v)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd_v, sd_v)
    corr = np.where(np.isfinite(corr), corr, 0.0)
    np.fill_diagonal(corr, 1.0)
    _check_correlation(cal, corr)
    x = prob.x(v)
    sd = np.array([xi * s if u.log else _scale(u) * s
                   for u, xi, s in zip(cal.unknowns, x, sd_v, strict=True)])
    for u, xi, si in zip(cal.unknowns, x, sd, strict=True):
        if si > MAX_RELATIVE_SD * abs(xi):
            raise NotDetermined(u.key, f"the data fix it only to {xi:.4g} +- {si:.2g} (more than "
                                       f"+-{100 * MAX_RELATIVE_SD:.0f} %)")
    boot = None if n_boot == 0 else _bootstrap(prob, v, r, n_boot, cal.fit.seed)
    return Fit(cal, x, sd, corr, prob.predicted(v),
               float(res.cost), chi2, model.simulations, model.wall_time_s, str(res.message), boot)


def _bootstrap(prob: _Problem, v: np.ndarray, r: np.ndarray, n: int, seed: int) -> Bootstrap:
    """Refits to the fitted values plus residuals drawn with replacement (scaled for the degrees of
    freedom the fit used)."""
    rng = np.random.default_rng(seed)
    m = len(r)
    e = r * math.sqrt(m / (m - len(v)))
    y_hat = prob.predicted(v)
    samples = []
    for _ in range(n):
        y_star = y_hat + prob.sigma * rng.choice(e, size=m, replace=True)
        samples.append(prob.x(prob.solve(v, y_star).x))
    return Bootstrap(np.array(samples), seed)
