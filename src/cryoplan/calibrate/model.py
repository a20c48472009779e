"""The model of a bench test: the measured quantities predicted for values of the unknowns, each
by one simulation through the service (``service.prepare`` then ``service.run``: the schema,
the probe rules, the case resolved once, the run and its named warnings), never a copy of the
physics.

Widths are twice the isotherm's largest radius, lengths its extent along the probe axis, both as
``cryoplan.thermal.isotherms`` measures them; temperatures are the field at the thermocouple's
(r, z) (``cryoplan.thermal.points``). Between output times the quantities are interpolated
linearly in time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from cryoplan import service
from cryoplan.calibrate.spec import Calibration, Measurements
from cryoplan.errors import InputError
from cryoplan.procedure import Result
from cryoplan.units import c_to_k


def predict(result: Result, data: Measurements) -> np.ndarray:
    """The run's value of every measurement (mm or °C, in the data's order)."""
    th = result.thermal
    out = np.full(len(data), np.nan)
    for kind in ("width", "length"):
        of_kind = data.kind == kind
        for iso in np.unique(data.isotherm_c[of_kind]):
            series = th.isotherms[c_to_k(float(iso))]
            size = 2.0 * series.radius if kind == "width" else series.length
            sel = of_kind & (data.isotherm_c == iso)
            out[sel] = np.interp(data.time_s[sel], th.times, size * 1e3)
    temps = data.kind == "temperature"
    if temps.any():
        points = result.case.problem.sample_points * 1e3
        for k, (r, z) in enumerate(points):
            sel = temps & np.isclose(data.r_mm, r, atol=1e-9) & np.isclose(data.z_mm, z, atol=1e-9)
            out[sel] = np.interp(data.time_s[sel], th.times, th.samples[:, k] - 273.15)
    return out


def bench_run(cal: Calibration, values: np.ndarray | list[float]) -> Result:
    """The bench simulated with the unknowns at ``values``, through the service. The
    calibration's own bound (``calibrate.estimate``) covers its runs, so each is admitted
    without the one-run limits."""
    return service.run(service.prepare("simulation", cal.with_values(values), allow_large=True)).native


class BenchModel:
    """Predictions for values of the unknowns (physical units), each set simulated once (cached);
    refuses to run more than ``max_simulations``; ``progress(n)`` is called after the n-th."""

    def __init__(self, cal: Calibration, max_simulations: int,
                 progress: Callable[[int], None] | None = None):
        self.cal, self.max_simulations, self.progress = cal, max_simulations, progress
        self._cache: dict[tuple[float, ...], np.ndarray] = {}
        self.simulations, self.wall_time_s = 0, 0.0

    def result(self, values: np.ndarray) -> Result:
        """The whole run at ``values`` (not cached: for the fitted probe's report)."""
        return bench_run(self.cal, values)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        key = tuple(float(v) for v in values)
        if key not in self._cache:
            if self.simulations >= self.max_simulations:
                raise InputError("fit.max_simulations", self.cal.fit.max_simulations,
                                 "enough simulations for the fit to converge (per fit and bootstrap "
                                 "refit): raise it, or start nearer the optimum")
            start = time.perf_counter()
            self._cache[key] = predict(self.result(values), self.cal.data)
            self.wall_time_s += time.perf_counter() - start
            self.simulations += 1
            if self.progress is not None:
                self.progress(self.simulations)
        return self._cache[key]
