"""Sample designs and input distributions.

A design is drawn in the unit hypercube, one column per varied key, and each column is mapped
through its distribution's inverse cumulative distribution function (the quantile function), so
every method samples every distribution the same way:

- ``mc``: independent uniform points (``numpy.random.Generator``).
- ``lhs``: a Latin hypercube (McKay, Beckman & Conover, Technometrics 1979, 21:239-245): each
  input's range cut into ``samples`` equally likely strata, one point in each
  (``scipy.stats.qmc.LatinHypercube``).
- ``sobol``: a scrambled Sobol' sequence (``scipy.stats.qmc.Sobol``), balanced for a power of
  two points.
- ``saltelli``: Saltelli's design for Sobol' indices (Saltelli, Comput. Phys. Commun. 2002,
  145:280-297; Saltelli et al., Comput. Phys. Commun. 2010, 181:259-270), built on a scrambled
  Sobol' sequence by SALib: ``samples`` base points give ``samples * (D + 2)`` runs
  (``samples * (2D + 2)`` with second-order indices).
- ``grid``: every combination of each input's levels (the last key varies fastest).

Distributions: ``uniform`` (low, high), ``loguniform`` (low, high), ``normal`` (mean, sd),
``lognormal`` (median, log_sd: the standard deviation of ln x), ``truncnorm`` (mean, sd cut to
low..high) and ``values`` (a list, each equally likely).

>>> unit = unit_design("lhs", 4, 1, seed=1)
>>> sorted((unit[:, 0] * 4).astype(int).tolist())  # one point in each quarter
[0, 1, 2, 3]
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np

#: Unit points are kept this far inside (0, 1): a normal's quantile at exactly 0 is -infinity.
EDGE = 1e-12


def unit_design(method: str, n: int, d: int, seed: int, second_order: bool = False) -> np.ndarray:
    """Points in the open unit hypercube, one row per run and one column per input."""
    rng = np.random.default_rng(seed)
    if method == "mc":
        u = rng.random((n, d))
    elif method == "lhs":
        from scipy.stats import qmc

        u = qmc.LatinHypercube(d, rng=rng).random(n)
    elif method == "sobol":
        from scipy.stats import qmc

        u = qmc.Sobol(d, scramble=True, rng=rng).random_base2(int(math.log2(n)))
    elif method == "saltelli":
        from SALib.sample import sobol as saltelli

        problem = {"num_vars": d, "names": [f"x{k}" for k in range(d)], "bounds": [[0.0, 1.0]] * d}
        with warnings.catch_warnings():  # the study's schema asks for a power of two already
            warnings.simplefilter("ignore")
            u = saltelli.sample(problem, n, calc_second_order=second_order, scramble=True, seed=seed)
    else:
        raise ValueError(f"no unit design for {method!r}")
    return np.clip(u, EDGE, 1 - EDGE)


def runs(method: str, n: int, d: int, second_order: bool = False) -> int:
    """How many runs a random design of ``n`` samples over ``d`` inputs makes."""
    if method == "saltelli":
        return n * (2 * d + 2 if second_order else d + 2)
    return n


def quantiles(v: Any, u: np.ndarray) -> list:
    """Input values at probabilities ``u`` under the distribution of the [[vary]] entry ``v``."""
    from scipy import stats

    kind = v.distribution
    if kind == "values":
        index = np.minimum((u * len(v.values)).astype(int), len(v.values) - 1)
        return [v.values[k] for k in index]
    if kind == "uniform":
        x = v.low + u * (v.high - v.low)
    elif kind == "loguniform":
        x = np.exp(math.log(v.low) + u * math.log(v.high / v.low))
    elif kind == "normal":
        x = stats.norm.ppf(u, v.mean, v.sd)
    elif kind == "lognormal":
        x = v.median * np.exp(v.log_sd * stats.norm.ppf(u))
    elif kind == "truncnorm":
        x = stats.truncnorm.ppf(u, (v.low - v.mean) / v.sd, (v.high - v.mean) / v.sd, loc=v.mean, scale=v.sd)
    else:
        raise ValueError(f"no distribution {kind!r}")
    if v.integer:
        return [int(round(float(value))) for value in x]
    return [float(value) for value in x]


def grid_levels(v: Any) -> list:
    """The levels of one input on a full grid: its values, evenly spaced points from low to high
    (uniform, geometrically for loguniform), or its quantiles at the middles of ``levels``
    equally likely bins (the other distributions)."""
    if v.distribution == "values":
        return list(v.values)
    if v.distribution in ("uniform", "loguniform"):
        x = (np.linspace(v.low, v.high, v.levels) if v.distribution == "uniform"
             else np.geomspace(v.low, v.high, v.levels))
        return [int(round(float(value))) for value in x] if v.integer else [float(value) for value in x]
    return quantiles(v, (np.arange(v.levels) + 0.5) / v.levels)


def design(vary: list, method: str, n: int | None, seed: int, second_order: bool = False) -> list[list]:
    """Every run's input values: one list per run, in the order of ``vary``."""
    if method == "grid":
        return [list(p) for p in itertools.product(*(grid_levels(v) for v in vary))]
    assert n is not None
    unit = unit_design(method, n, len(vary), seed, second_order)
    columns = [quantiles(v, unit[:, k]) for k, v in enumerate(vary)]
    return [list(row) for row in zip(*columns, strict=True)]
