"""What a clinic learns from its registry: Kaplan-Meier curves of relief duration by protocol
(Kaplan EL & Meier P, J Am Stat Assoc 53 (1958) 457; lifelines: Davidson-Pilon C, J Open Source
Softw 4 (2019) 1317) and a refit of the relief model's prior that later predictions use.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lifelines import KaplanMeierFitter

from cryoplan.atomic import write_atomic
from cryoplan.errors import InputError, masked
from cryoplan.outcome.refit import refit
from cryoplan.outcome.relief import ReliefModel, default_model
from cryoplan.store.registry import Duration, Registry


@dataclass(frozen=True)
class Curve:
    """Kaplan-Meier estimate of the probability that relief still lasts, with its 95 % band."""

    protocol: str
    patients: int
    events: int
    months: np.ndarray
    still_relieved: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    median_months: float | None  # None while more than half still have relief


def kaplan_meier(durations: list[Duration]) -> list[Curve]:
    """One curve per protocol, protocols in order of name."""
    groups: dict[str, list[Duration]] = defaultdict(list)
    for d in durations:
        groups[d.protocol].append(d)
    curves = []
    for protocol in sorted(groups):
        ds = groups[protocol]
        km = KaplanMeierFitter().fit([d.months for d in ds], [d.event for d in ds], label=protocol)
        band = km.confidence_interval_survival_function_
        median = float(km.median_survival_time_)
        curves.append(Curve(protocol, len(ds), sum(d.event for d in ds), km.timeline.copy(),
                            km.survival_function_.iloc[:, 0].to_numpy(), band.iloc[:, 0].to_numpy(),
                            band.iloc[:, 1].to_numpy(), median if math.isfinite(median) else None))
    return curves


def curves_json(curves: list[Curve]) -> list[dict]:
    return [{"protocol": c.protocol, "patients": c.patients, "events": c.events,
             "median_months": None if c.median_months is None else round(c.median_months, 2),
             "months": [round(float(x), 3) for x in c.months],
             "still_relieved": [round(float(x), 4) for x in c.still_relieved],
             "lower": [round(float(x), 4) for x in c.lower], "upper": [round(float(x), 4) for x in c.upper]}
            for c in curves]


def km_png(curves: list[Curve], path: Path | None = None) -> bytes:
    """The curves as a step plot (PNG bytes; also written atomically to ``path`` if given)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for c in curves:
        line, = ax.step(c.months, c.still_relieved, where="post",
                        label=f"{c.protocol} (n={c.patients}, {c.events} returned)")
        ax.fill_between(c.months, c.lower, c.upper, step="post", alpha=0.15, color=line.get_color())
    ax.set_xlabel("months after treatment")
    ax.set_ylabel("probability of relief")
    ax.set_ylim(0, 1.05)
    ax.set_title("Relief duration by protocol (Kaplan-Meier, 95 % band)")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    if path is not None:
        write_atomic(path, lambda p: p.write_bytes(buf.getvalue()))
    return buf.getvalue()


def refit_from_registry(registry: Registry, min_records: int = 10) -> ReliefModel:
    """Refit the relief model to the registry's outcomes (procedures with a blocked nerve and
    a follow-up; their patient factors and regrowth distances) and store it; predictions that
    name this registry use it from then on."""
    records = registry.outcome_records()
    model = refit(records, default_model(), min_records=min_records)
    registry.save_fit(model, len(records))
    return model


def model_from_registry(url: str) -> ReliefModel:
    """The newest refit stored in the registry at ``url``."""
    model = Registry(url).latest_fit()
    if model is None:
        raise InputError("outcome.registry", masked(url),
                         "a registry with a refit (run: cryoplan registry refit)")
    return model
