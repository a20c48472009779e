"""``cryoplan calibrate``: a probe's unknown internals fitted to a bench test (docs/calibrate.md).

``spec`` reads and checks the calibration file and its CSV measurements, ``model`` predicts them
by simulation, ``fit`` fits the unknowns with their uncertainty and refuses what the data cannot
determine, ``output`` (and ``plot``) write the residual table, the plot, the fit's JSON and the
catalog entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryoplan import budget, config
from cryoplan.calibrate import least_squares, output, spec
from cryoplan.errors import InputError


def estimate(cal: spec.Calibration, bootstrap: int) -> budget.Estimate:
    """The most a calibration may cost: one bench simulation's estimate (its cells and memory)
    times the simulations the fit may make, ``fit.max_simulations`` for the fit and for each of
    the ``bootstrap`` refits (its time), so a fit is bounded like any run."""
    one = budget.simulation(config.parse(cal.procedure), cal.path.parent)
    runs = cal.fit.max_simulations * (1 + bootstrap)
    why = (f"{runs} bench simulations at most (fit.max_simulations = {cal.fit.max_simulations} for the fit "
           f"and each of {bootstrap} bootstrap refits), each of {one.cells} cells for {one.seconds:.2g} s")
    return replace(one, kind="calibration", steps=one.steps * runs, seconds=one.seconds * runs,
                   driver={**one.driver, "seconds": ("fit.max_simulations", why)})


def calibrate(path: str | Path, out_dir: str | Path = ".", name: str | None = None,
              bootstrap: int | None = None, json_out: str | Path | None = None,
              progress: Callable[[int], None] | None = None,
              allow_large: bool = False) -> tuple[dict[str, Any], list[Path]]:
    """Read the calibration file, bound its cost (refused over ``budget.LIMITS`` unless
    ``allow_large``), fit, and write the catalog entry, the plot and the fit's JSON (nothing is
    written if the file is bad or the fit is refused). Returns the fit's JSON and the files
    written."""
    if bootstrap is not None and not 0 <= bootstrap <= 1000:
        raise InputError("--bootstrap", bootstrap, "a number of refits from 0 to 1000")
    cal = spec.load(path, name)
    budget.check(estimate(cal, cal.fit.bootstrap if bootstrap is None else bootstrap), budget.LIMITS,
                 allow_large)
    result = least_squares.fit(cal, bootstrap, progress)
    return output.write_outputs(result, Path(out_dir), None if json_out is None else Path(json_out))
