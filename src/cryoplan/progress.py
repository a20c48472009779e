"""Progress a user can trust: what a run is doing (a labelled phase), how far that phase has
come (done of total, in its unit) and how much of the whole run is done.

Simulations know their whole length; a plan stops at the first protocol that meets every
constraint, so its ``fraction`` is of the most it may still need (``at_most``): it only jumps
forward when the search ends early, and its time left is an upper bound.

>>> p = Progress("simulating", 30, 270, "s simulated", 30 / 270)
>>> p.text()
'simulating: 30 of 270 s simulated'
>>> eta(p, elapsed_s=10.0)
80.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Progress:
    phase: str
    done: float
    total: float
    unit: str
    fraction: float  # of the whole run, 0..1
    at_most: bool = False  # the total is an upper bound (plans)

    def text(self) -> str:
        if not self.total:
            return self.phase
        return f"{self.phase}: {self.done:g} of {self.total:g} {self.unit}"

    def as_json(self) -> dict:
        return asdict(self)


Reporter = Callable[[Progress], None]


def eta(p: Progress, elapsed_s: float) -> float | None:
    """Seconds left, from the time so far and the fraction done (None until there is a fraction)."""
    if not 0 < p.fraction < 1:
        return 0.0 if p.fraction >= 1 else None
    return round(elapsed_s * (1 - p.fraction) / p.fraction, 1)


def clock(seconds: float | None) -> str:
    """
    >>> clock(75), clock(4000), clock(None)
    ('1:15', '1:06:40', '')
    """
    if seconds is None:
        return ""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
