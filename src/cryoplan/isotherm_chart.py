"""``cryoplan chart``: a probe's vendor-style isotherm chart, simulated. Each medium (a gel, tissue:
data/chart_media.toml) is one run through the service (``service.prepare`` and ``service.run``:
validated, bounded, with its named warnings); ``cryoplan.report.chart`` draws the panels.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cryoplan import resolve, service
from cryoplan.atomic import check_writable
from cryoplan.config import CryogenConfig, ProbeConfig
from cryoplan.data import read_toml
from cryoplan.errors import InputError
from cryoplan.report.chart import MOST_TIMES, chart_format, chart_title, panel, write


def media() -> dict[str, dict[str, Any]]:
    """The media a chart can show: name -> label, [tissue] section and source."""
    return read_toml("chart_media.toml")["medium"]


def parse_list(option: str, text: str, whole: bool, low: float, high: float) -> list[float]:
    """A comma-separated option: distinct numbers in [low, high] (whole numbers if ``whole``).

    >>> parse_list("--times", "60, 120,180", True, 1, 3600)
    [60.0, 120.0, 180.0]
    """
    what = (f"comma-separated {'whole numbers' if whole else 'numbers'} from {low:g} to {high:g}, "
            "each once")
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise InputError(option, text, what) from None
    bad = [v for v in values if not (math.isfinite(v) and low <= v <= high and (not whole or v == int(v)))]
    if bad or len(set(values)) != len(values) or not values:
        raise InputError(option, text, what)
    return values


def procedure(probe: dict[str, Any], cryogen: dict[str, Any], tissue: dict[str, Any], times: list[float],
              isotherms: list[float], probe_radius_mm: float) -> dict[str, Any]:
    """The chart's run of one medium: a freeze to the last time, the field kept at each time, on a
    uniform 0.25 mm grid (at most the probe radius) that covers the ice ball."""
    t_max = max(times)
    uniform = 5.0 + math.sqrt(t_max)  # mm; diffusion length of ice ~ sqrt(1e-6 m^2/s * t)
    return {
        "probe": probe, "cryogen": cryogen, "tissue": tissue,
        "protocol": {"phases": [{"kind": "freeze", "seconds": t_max}]},
        "grid": {"geometry": "axisymmetric", "spacing_mm": min(0.25, probe_radius_mm),
                 "extent_mm": 2 * uniform, "growth": 1.1, "uniform_extent_mm": uniform},
        "output": {"isotherms_c": sorted(isotherms, reverse=True), "interval_s": 1.0,
                   "snapshot_times_s": sorted(times)},
    }


def sizes_table(panels: list[dict[str, Any]]):
    """Width x length of every isotherm at every time, per medium (a rich table)."""
    from rich.table import Table

    table = Table(title="Isotherm width x length (mm)")
    table.add_column("medium")
    table.add_column("t (s)", justify="right")
    for level in panels[0]["isotherms_c"]:
        table.add_column(f"{level:g} °C", justify="right")
    for p in panels:
        for t, sizes in p["sizes"].items():
            table.add_row(p["title"], t, *(f"{sizes[f'{lv:g}']['width_mm']:.1f} x "
                                           f"{sizes[f'{lv:g}']['length_mm']:.1f}" for lv in p["isotherms_c"]))
    return table


def make(probe: ProbeConfig, cryogen: CryogenConfig, names: list[str], times: list[float],
         isotherms: list[float], out: str | Path) -> list[dict[str, Any]]:
    """Simulate the probe in each medium and write its chart to ``out``; returns the panels (with
    each run's warnings)."""
    chart_format(out)
    check_writable("-o", out)
    known = media()
    for name in names:
        if name not in known:
            raise InputError("--medium", name, "one or more of " + ", ".join(known))
    if len(times) > MOST_TIMES:
        raise InputError("--times", times, f"at most {MOST_TIMES} times (one line style each)")
    radius_mm = resolve.probe(probe, cryogen)[0].radius * 1e3
    keys = {"probe": probe.model_dump(exclude_none=True), "cryogen": cryogen.model_dump(exclude_none=True)}
    runs = [service.run(service.prepare("simulation", procedure(keys["probe"], keys["cryogen"],
                                                                known[n]["tissue"], times, isotherms,
                                                                radius_mm)))
            for n in names]
    panels = [{**panel(r.native, known[n]["label"]),
               "warnings": [f"[{w['code']}]: {w['message']}" for w in r.warnings]}
              for r, n in zip(runs, names, strict=True)]
    write(panels, chart_title(runs[0].native), out)
    return panels
