"""The vendor-style isotherm chart of a probe: the 0, -20 and -40 °C contours (or any others)
around the probe at chosen times, one panel per medium, on a millimetre grid with the probe drawn
to scale, as PNG or SVG (matplotlib).

A panel is plain data (``panel``: the temperature field kept by the run at each time, cropped to
the cold region, in mm and °C), so the same panel drawn here is what ``cryoplan chart`` writes
and what the HTML report of a simulation shows (its JSON's ``chart``). This module only draws;
``cryoplan.isotherm_chart`` runs the media that ``cryoplan chart`` shows.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from cryoplan.atomic import write_atomic
from cryoplan.errors import InputError
from cryoplan.procedure import Result

#: Colour of each isotherm (as in the report's figures); line styles of the times, the last solid.
COLOURS = {0.0: "#1f77b4", -20.0: "#2ca02c", -40.0: "#9467bd"}
OTHER_COLOURS = ("#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
STYLES = ((0, (2, 3)), (0, (6, 2, 1, 2)), (0, (1, 1.5)), (0, (5, 2)), "-")
#: Cold region plus this margin (mm) is what a panel shows.
MARGIN_MM = 3.0
MOST_TIMES = len(STYLES)


def _bounds(grid, fields: list[np.ndarray], warmest_k: float) -> tuple[float, float, float]:
    """(largest r, lowest z, highest z) in mm shown: cells within MARGIN_MM of any cell at or
    below the warmest isotherm, or of the probe's active segment."""
    cold = np.zeros(grid.shape, bool)
    for t in fields:
        cold |= grid.tissue & (t <= warmest_k)
    r, z = grid.r * 1e3, grid.z * 1e3
    r_top = max(r[cold.any(axis=1)].max(initial=0.0), grid.probe_radius * 1e3) + MARGIN_MM
    z_lo = min(z[cold.any(axis=0)].min(initial=0.0), 0.0) - MARGIN_MM
    z_hi = max(z[cold.any(axis=0)].max(initial=0.0), grid.active_length * 1e3) + MARGIN_MM
    return r_top, z_lo, z_hi


def _lerp(y0: np.ndarray, y1: np.ndarray, x0: float, x1: float, at: float) -> np.ndarray:
    return y0 + (y1 - y0) * (at - x0) / (x1 - x0)


def surface_field(grid, t: np.ndarray, wall: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r m, z m, T K) on the cell centres plus a column at the probe radius and a row at the
    tip's plane, so that a contour meets the probe where the sizes (``thermal.isotherms``) put
    it: the cooled side wall and tip face take their own temperatures (``wall``, as
    ``isotherms.wall_temperatures`` lays them out), tissue elsewhere on the new lines is linear
    between the two centres either side, and the probe's inside is NaN."""
    nr, nz = grid.shape
    a = grid.probe_radius
    ia, jz = int(np.searchsorted(grid.r, a)), int(np.searchsorted(grid.z, 0.0))
    cells = np.where(grid.tissue, t, np.nan)
    side, tip = wall[:nz], wall[nz:]
    column = _lerp(cells[ia - 1], cells[ia], grid.r[ia - 1], grid.r[ia], a) if ia > 0 else cells[0]
    column = np.where(np.isnan(side), column, side)
    with_column = np.insert(cells, ia, column, axis=0)
    r = np.insert(grid.r, ia, a)
    below, above = with_column[:, jz - 1], with_column[:, jz]
    row = _lerp(below, above, grid.z[jz - 1], grid.z[jz], 0.0)
    tip_row = np.insert(tip, ia, np.nan)
    row = np.where(np.isnan(tip_row), row, tip_row)
    rim = [x for x in (tip[ia - 1], side[jz]) if ia > 0 and np.isfinite(x)]
    if rim:  # the tip's rim: between the end face and the side wall
        row[ia] = sum(rim) / len(rim)
    return r, np.insert(grid.z, jz, 0.0), np.insert(with_column, jz, row, axis=1)


def panel(result: Result, title: str | None = None) -> dict[str, Any] | None:
    """The chart panel of an axisymmetric run: its isotherms at the times it kept its field (None
    for a radial run or one that kept none)."""
    th, prob = result.thermal, result.case.problem
    grid = th.grid
    if grid.geometry != "axisymmetric" or not th.snapshots:
        return None
    times = sorted(th.snapshots)
    r_top, z_lo, z_hi = _bounds(grid, [th.snapshots[t] for t in times], max(prob.isotherms))
    sizes = {}
    for t in times:
        k = int(np.argmin(np.abs(th.times - t)))
        sizes[f"{t:g}"] = {f"{iso - 273.15:g}": {"width_mm": round(2e3 * float(s.radius[k]), 3),
                                                  "length_mm": round(1e3 * float(s.length[k]), 3)}
                           for iso, s in th.isotherms.items()}
    fields = [surface_field(grid, th.snapshots[t], th.wall_snapshots[t]) for t in times]
    r_mm, z_mm = fields[0][0] * 1e3, fields[0][1] * 1e3
    rows, cols = r_mm <= r_top, (z_mm >= z_lo) & (z_mm <= z_hi)

    def table(t: np.ndarray) -> list[list[float | None]]:
        c = (t - 273.15)[np.ix_(rows, cols)]
        return [[None if not math.isfinite(v) else round(float(v), 2) for v in row] for row in c.T]

    tissue = prob.tissue
    return {
        "title": title or (f"{tissue.name}, {prob.initial_temperature - 273.15:g} °C, "
                           + ("perfused" if tissue.perfusion_per_s > 0 else "no perfusion")),
        "times_s": [float(t) for t in times],
        "isotherms_c": sorted((round(t - 273.15, 6) for t in prob.isotherms), reverse=True),
        "r_mm": [round(float(x), 4) for x in r_mm[rows]],
        "z_mm": [round(float(x), 4) for x in z_mm[cols]],
        "layout": "rows along z, columns along r; cell centres plus the probe's radius and tip plane",
        "temperature_c": [table(f[2]) for f in fields],
        "probe_radius_mm": round(grid.probe_radius * 1e3, 4),
        "active_length_mm": round(grid.active_length * 1e3, 4),
        "sizes": sizes,
    }


def _colour(iso: float, k: int) -> str:
    return COLOURS.get(iso, OTHER_COLOURS[k % len(OTHER_COLOURS)])


def _style(i: int, n: int):
    """The line style of the i-th of n times (the last solid, the one before dashed, ...)."""
    return STYLES[max(0, len(STYLES) - n + i)] if n <= len(STYLES) else STYLES[i % len(STYLES)]


def draw(panels: list[dict[str, Any]], title: str):
    """The chart as a matplotlib figure, and its contour sets by (panel, time, isotherm) (what is
    drawn, for checks)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MultipleLocator

    half = max(max(p["r_mm"]) for p in panels)
    z_lo, z_hi = min(min(p["z_mm"]) for p in panels), max(max(p["z_mm"]) for p in panels)
    panel_width = float(np.clip(5.4 * 2 * half / (z_hi - z_lo), 2.6, 6.0)) + 1.0  # inches, with labels
    fig, axes = plt.subplots(1, len(panels), squeeze=False, figsize=(len(panels) * panel_width + 1.6, 6.6),
                             layout="constrained")
    drawn = {}
    for n, (ax, p) in enumerate(zip(axes[0], panels, strict=True)):
        r, z = np.array(p["r_mm"]), np.array(p["z_mm"])
        x = np.concatenate([-r[::-1], r])
        for i, (t, rows) in enumerate(zip(p["times_s"], p["temperature_c"], strict=True)):
            t_c = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
            mirrored = np.concatenate([t_c[:, ::-1], t_c], axis=1)
            for k, iso in enumerate(p["isotherms_c"]):
                if np.nanmin(mirrored, initial=np.inf) > iso:
                    continue  # not reached yet
                drawn[(n, t, iso)] = ax.contour(x, z, np.ma.masked_invalid(mirrored), levels=[iso],
                                                colors=[_colour(iso, k)], linewidths=1.6,
                                                linestyles=[_style(i, len(p["times_s"]))])
        a, active = p["probe_radius_mm"], p["active_length_mm"]
        ax.add_patch(Rectangle((-a, 0.0), 2 * a, z_hi - 0.0, color="0.7", zorder=3))
        ax.add_patch(Rectangle((-a, 0.0), 2 * a, active, color="0.35", zorder=3))
        ax.set_xlim(-half, half)
        ax.set_ylim(z_lo, z_hi)
        ax.set_aspect("equal")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MultipleLocator(5))
            axis.set_minor_locator(MultipleLocator(1))
        ax.grid(which="major", color="0.55", lw=0.7)
        ax.grid(which="minor", color="0.85", lw=0.4)
        ax.set_axisbelow(True)
        ax.set_xlabel("distance from the probe axis (mm)")
        ax.set_ylabel("along the probe from its tip (mm)")
        ax.set_title(p["title"], fontsize=10)
        last = f"{p['times_s'][-1]:g}"
        sizes = [f"{k} °C: {s['width_mm']:.1f} x {s['length_mm']:.1f} mm"
                 for k, s in p["sizes"][last].items()]
        ax.text(0.03, 0.02, f"at {last} s (width x length)\n" + "\n".join(sizes), transform=ax.transAxes,
                fontsize=7, va="bottom", zorder=4, bbox={"fc": "white", "ec": "0.7", "alpha": 0.9})
    p = panels[0]
    handles = [Line2D([], [], color=_colour(iso, k), lw=2, label=f"{iso:g} °C")
               for k, iso in enumerate(p["isotherms_c"])]
    handles += [Line2D([], [], color="0.2", lw=1.6, ls=_style(i, len(p["times_s"])), label=f"{t:g} s")
                for i, t in enumerate(p["times_s"])]
    handles += [Rectangle((0, 0), 1, 1, color="0.35", label="active tip"),
                Rectangle((0, 0), 1, 1, color="0.7", label="shaft")]
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig, drawn


def write(panels: list[dict[str, Any]], title: str, path: str | Path) -> dict:
    """Draw the chart and write it (PNG or SVG by the file's suffix, atomically); returns the
    contour sets drawn."""
    import matplotlib.pyplot as plt

    fmt = chart_format(path)
    fig, drawn = draw(panels, title)
    try:
        write_atomic(path, lambda p: fig.savefig(p, format=fmt, dpi=130))
    finally:
        plt.close(fig)
    return drawn


def png(panels: list[dict[str, Any]], title: str) -> bytes:
    """The chart as PNG bytes (for the HTML report)."""
    import matplotlib.pyplot as plt

    fig, _ = draw(panels, title)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    return buf.getvalue()


def chart_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise InputError("-o", str(path), "a .png or .svg file")
    return suffix[1:]


def chart_title(result: Result) -> str:
    s = result.case
    probe = s.problem.probe
    name = s.catalog.name if s.catalog else f"{probe.diameter * 1e3:g} mm probe"
    op = s.operating
    gas = "" if op is None else f", {op.design.gas}, {op.mass_flow * 1e3:.3g} g/s"
    return f"{name}{gas}: isotherms simulated by cryoplan (not measured)"
