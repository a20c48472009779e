"""The run's figure: ice-ball size against time per isotherm, and the temperature map at the end."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm  # noqa: E402

from cryoplan.atomic import write_atomic  # noqa: E402
from cryoplan.procedure import Result  # noqa: E402
from cryoplan.report.palette import T_MAX_C, T_MIN_C, TEMPERATURE_STOPS, isotherm_colour  # noqa: E402

#: The report's temperature scale (white at 0 °C), as a matplotlib colour map.
TEMPERATURE_MAP = LinearSegmentedColormap.from_list("cryoplan-temperature", list(TEMPERATURE_STOPS))


def plot(result: Result, path: str | Path, write=write_atomic) -> None:
    """Draw the figure and write it (PNG) with ``write(path, writer)``."""
    th = result.thermal
    grid = th.grid
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    for t_iso, series in sorted(th.isotherms.items(), reverse=True):
        label = f"{t_iso - 273.15:g} °C"
        line, = ax1.plot(th.times, series.radius * 1e3, label=f"{label} radius",
                         color=isotherm_colour(t_iso - 273.15))
        if grid.geometry == "axisymmetric":
            ax1.plot(th.times, series.length * 1e3 / 2, "--", color=line.get_color(),
                     label=f"{label} half-length")
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("mm")
    ax1.set_title("Ice-ball size")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    t_c = np.where(grid.tissue, th.temperature - 273.15, np.nan)
    levels = sorted(t - 273.15 for t in th.isotherms)
    if grid.geometry == "axisymmetric":
        r, z = grid.r * 1e3, grid.z * 1e3
        rr = np.concatenate([-r[::-1], r])
        field = np.concatenate([t_c[::-1, :], t_c], axis=0)
        mesh = ax2.pcolormesh(rr, z, field.T, cmap=TEMPERATURE_MAP, shading="auto",
                              norm=TwoSlopeNorm(vmin=T_MIN_C, vcenter=0.0, vmax=T_MAX_C))
        lines = ax2.contour(rr, z, field.T, levels=levels, colors=[isotherm_colour(lv) for lv in levels],
                            linewidths=1.2)
        ax2.clabel(lines, fmt="%g °C", fontsize=8)
        a, length = grid.probe_radius * 1e3, grid.active_length * 1e3
        ax2.fill_betweenx([0, z.max()], -a, a, color="0.5")
        ax2.fill_betweenx([0, length], -a, a, color="0.2")
        ax2.set_xlabel("r (mm)")
        ax2.set_ylabel("z (mm, tip at 0)")
        ax2.set_aspect("equal")
        fig.colorbar(mesh, ax=ax2, label="°C")
    else:
        ax2.plot(grid.r * 1e3, t_c[:, 0])
        for lv in levels:
            ax2.axhline(lv, color=isotherm_colour(lv), lw=0.8, label=f"{lv:g} °C")
        ax2.set_xlabel("r (mm)")
        ax2.set_ylabel("°C")
        ax2.grid(alpha=0.3)
    ax2.set_title(f"Temperature at {th.times[-1]:g} s")
    fig.tight_layout()
    try:
        write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    finally:
        plt.close(fig)
