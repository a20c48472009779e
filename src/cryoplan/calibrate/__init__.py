"""``cryoplan calibrate``: a probe's unknown internals fitted to a bench test (docs/calibrate.md).

``spec`` reads and checks the calibration file and its CSV measurements, ``model`` predicts them
by simulation, ``fit`` fits the unknowns with their uncertainty and refuses what the data cannot
determine, ``output`` (and ``plot``) write the residual table, the plot, the fit's JSON and the
catalog entry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryoplan.errors import InputError


def calibrate(path: str | Path, out_dir: str | Path = ".", name: str | None = None,
              bootstrap: int | None = None, json_out: str | Path | None = None,
              progress: Callable[[int], None] | None = None) -> tuple[dict[str, Any], list[Path]]:
    """Read the calibration file, fit, and write the catalog entry, the plot and the fit's JSON
    (nothing is written if the file is bad or the fit is refused). Returns the fit's JSON and the
    files written."""
    from cryoplan.calibrate import fit, output, spec

    if bootstrap is not None and not 0 <= bootstrap <= 1000:
        raise InputError("--bootstrap", bootstrap, "a number of refits from 0 to 1000")
    cal = spec.load(path, name)
    result = fit.fit(cal, bootstrap, progress)
    return output.write_outputs(result, Path(out_dir), None if json_out is None else Path(json_out))
