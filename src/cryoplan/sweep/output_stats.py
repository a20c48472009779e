"""What a study's table says: the distribution of every output, and which inputs drive it.

Distributions: the count, mean, standard deviation and percentiles (5, 25, 50, 75, 95, linear
between order statistics) of each numeric output over the samples that ran; for a true/false
output the fraction true with its 95 % Wilson interval; for text the count of each value.

Sensitivity, by what the sampling allows:

- ``saltelli``: first-order and total Sobol' indices (Sobol', Math. Comput. Simul. 2001,
  55:271-280) by SALib's estimators (Saltelli et al., Comput. Phys. Commun. 2010, 181:259-270),
  second-order ones with ``second_order``, each with a bootstrap 95 % interval. A failed sample
  breaks its block of the design: the blocks with any missing value are left out, and the
  report says how many.
- ``grid``: the exact first-order and total indices of the grid itself (each level equally
  likely): Var(E[Y|X_i]) / Var(Y) and E[Var(Y|X_~i)] / Var(Y) from the full factorial table.
- ``mc``, ``lhs``, ``sobol``: first-order indices estimated from the points as they are by
  RBD-FAST (Tarantola, Gatelli & Mara, Reliab. Eng. Syst. Saf. 2006, 91:717-727; Plischke,
  Reliab. Eng. Syst. Saf. 2010, 95:354-360), with a bootstrap interval; such a design does not
  give total indices (that needs ``saltelli``).

Always, clearly labelled as what they are: Spearman rank correlations of each input with each
output (monotone association, not a share of variance).

>>> rows = [{"sample": k, "x": float(k), "y": 2.0 * k, "status": "ok"} for k in range(5)]
>>> s = distribution([r["y"] for r in rows])
>>> s["p50"], s["n"]
(4.0, 5)
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np

#: Percentiles reported for every numeric output.
PERCENTILES = (5, 25, 50, 75, 95)
#: Fewest points for an RBD-FAST estimate (its Fourier analysis uses M = 10 harmonics).
MIN_RBD_POINTS = 64
#: Fewest complete blocks of a Saltelli design for Sobol' indices.
MIN_SALTELLI_BLOCKS = 4


def _number(v: Any) -> float | None:
    """A numeric view of an output or input value (true/false as 1/0), None for text or null."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float) and math.isfinite(v):
        return float(v)
    return None


def _kind(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(_number(v) is not None for v in present):
        return "number"
    return "text"


def distribution(values: list[Any]) -> dict[str, Any]:
    """Summary of one output's values (None: the sample did not give it)."""
    present = [v for v in values if v is not None]
    kind = _kind(values)
    out: dict[str, Any] = {"kind": kind, "n": len(present), "missing": len(values) - len(present)}
    if not present:
        return out
    if kind == "boolean":
        from scipy.stats import binomtest

        hits = int(sum(present))
        ci = binomtest(hits, len(present)).proportion_ci(0.95, method="wilson")
        out.update(true=hits, fraction_true=round(hits / len(present), 4),
                   ci95=[round(ci.low, 4), round(ci.high, 4)])
    elif kind == "number":
        x = np.array(present, dtype=float)
        out.update(mean=float(x.mean()), sd=float(x.std(ddof=1)) if len(x) > 1 else 0.0,
                   min=float(x.min()), max=float(x.max()),
                   **{f"p{q}": float(np.percentile(x, q)) for q in PERCENTILES})
    else:
        counts: dict[str, int] = {}
        for v in present:
            counts[str(v)] = counts.get(str(v), 0) + 1
        out["counts"] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    return out


def encode(value: Any, levels: list[Any] | None) -> float:
    """An input value as a number: itself, or for listed text or true/false its position in the
    list.

    >>> encode(0.5, None), encode("fat", ["muscle", "fat"])
    (0.5, 1.0)
    """
    number = _number(value)
    if levels is not None and (number is None or isinstance(value, bool)):
        return float(levels.index(value))
    return np.nan if number is None else number


def spearman(x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """Spearman's rank correlation and its p-value (None when either does not vary)."""
    from scipy import stats

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"rho": None, "p": None}
    r = stats.spearmanr(x, y)
    return {"rho": float(r.statistic), "p": float(r.pvalue)}


@contextmanager
def _quiet():
    """SALib and NumPy warn on degenerate inputs: the report states those cases itself."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def sobol_saltelli(y: np.ndarray, keys: list[str], second_order: bool, seed: int) -> dict[str, Any]:
    """Sobol' indices of a Saltelli design's outputs (NaN for a sample without a value)."""
    from SALib.analyze import sobol

    d = len(keys)
    block = 2 * d + 2 if second_order else d + 2
    blocks = y.reshape(-1, block)
    complete = blocks[~np.isnan(blocks).any(axis=1)]
    dropped = len(blocks) - len(complete)
    note = f"{dropped} of {len(blocks)} blocks of the design left out (a sample without a value)"
    note = note if dropped else ""
    if len(complete) < MIN_SALTELLI_BLOCKS:
        few = f"too few complete blocks of the design ({len(complete)}, at least {MIN_SALTELLI_BLOCKS})"
        return {"method": "sobol-saltelli", "note": f"{few} for Sobol' indices" + (f"; {note}" * bool(note))}
    problem = {"num_vars": d, "names": keys, "bounds": [[0.0, 1.0]] * d}
    with _quiet():
        si = sobol.analyze(problem, complete.ravel(), calc_second_order=second_order, seed=seed)
    out: dict[str, Any] = {"method": "sobol-saltelli", "blocks": len(complete), "note": note, "indices": {
        k: {"S1": float(si["S1"][i]), "S1_conf": float(si["S1_conf"][i]), "ST": float(si["ST"][i]),
            "ST_conf": float(si["ST_conf"][i])} for i, k in enumerate(keys)}}
    if second_order:
        out["second_order"] = [{"keys": [keys[i], keys[j]], "S2": float(si["S2"][i, j]),
                                "S2_conf": float(si["S2_conf"][i, j])}
                               for i in range(d) for j in range(i + 1, d)]
    return out


def sobol_grid(y: np.ndarray, keys: list[str], shape: list[int]) -> dict[str, Any]:
    """Exact first-order and total indices on a full grid (each level equally likely)."""
    if np.isnan(y).any():
        return {"method": "grid", "note": f"{int(np.isnan(y).sum())} grid points without a value: the grid's "
                "indices need every point"}
    cube = y.reshape(shape)
    var = cube.var()
    indices = {}
    for i, k in enumerate(keys):
        others = tuple(j for j in range(len(keys)) if j != i)
        main = cube.mean(axis=others).var() if others else var
        total = cube.var(axis=i).mean()
        indices[k] = {"S1": float(main / var), "ST": float(total / var)}
    return {"method": "grid", "note": "", "indices": indices}


def sobol_rbd(x: np.ndarray, y: np.ndarray, keys: list[str], seed: int) -> dict[str, Any]:
    """First-order indices estimated by RBD-FAST from any points (rows of ``x`` with a value)."""
    from SALib.analyze import rbd_fast

    ok = ~np.isnan(y) & ~np.isnan(x).any(axis=1)
    if ok.sum() < MIN_RBD_POINTS:
        return {"method": "rbd-fast", "note": f"too few samples with a value ({int(ok.sum())}, at least "
                f"{MIN_RBD_POINTS}) for RBD-FAST first-order indices"}
    problem = {"num_vars": len(keys), "names": keys, "bounds": [[0.0, 1.0]] * len(keys)}
    with _quiet():
        si = rbd_fast.analyze(problem, x[ok], y[ok], seed=seed)
    return {"method": "rbd-fast", "note": "", "indices": {
        k: {"S1": float(si["S1"][i]), "S1_conf": float(si["S1_conf"][i])} for i, k in enumerate(keys)}}


def sensitivity(meta: dict[str, Any], rows: list[dict[str, Any]], path: str) -> dict[str, Any]:
    """Which inputs drive the output ``path``: Sobol' indices as the sampling allows, and rank
    correlations. ``rows`` are every sample of the study in order (missing ones as None)."""
    cfg = meta["study"]["config"]
    keys = meta["inputs"]
    method, seed = cfg["sampling"]["method"], cfg["sampling"]["seed"]
    y = np.array([np.nan if r is None or _number(r.get(path)) is None else _number(r[path]) for r in rows])
    levels = {v["key"]: v.get("values") for v in cfg["vary"]}
    x = np.array([[np.nan] * len(keys) if r is None else [encode(r[k], levels[k]) for k in keys]
                  for r in rows], dtype=float).reshape(len(rows), len(keys))
    ok = ~np.isnan(y)
    out: dict[str, Any] = {"spearman": {k: spearman(x[ok, i], y[ok]) for i, k in enumerate(keys)}}
    if ok.sum() < 2 or np.ptp(y[ok]) == 0:
        out["sobol"] = {"method": None, "note": "the output does not vary over the samples: no indices"}
        return out
    if method == "saltelli":
        out["sobol"] = sobol_saltelli(y, keys, cfg["sampling"]["second_order"], seed)
    elif method == "grid":
        shape = [len(v["values"]) if v.get("values") is not None else v["levels"] for v in cfg["vary"]]
        out["sobol"] = sobol_grid(y, keys, shape)
    else:
        out["sobol"] = sobol_rbd(x, y, keys, seed)
    return out


def strongest(sens: dict[str, Any], most: int = 3) -> list[str]:
    """The inputs that drive an output most: by total index, else first-order, else |rho|."""
    indices = (sens.get("sobol") or {}).get("indices")
    if indices:
        by = "ST" if all("ST" in v for v in indices.values()) else "S1"
        ranked = sorted(indices, key=lambda k: -abs(indices[k][by]))
    else:
        rho = sens["spearman"]
        ranked = sorted(rho, key=lambda k: -abs(rho[k]["rho"] or 0.0))
    return ranked[:most]
