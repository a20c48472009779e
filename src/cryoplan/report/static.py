"""Static PNG copies of the report's plotly figures, drawn with matplotlib (no browser needed).

Understands what ``figures.py`` uses: line and marker scatters (dash, step shape, text labels),
heatmaps and single-level contours, axis titles and ranges, equal aspect.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

DASHES = {None: "-", "solid": "-", "dash": "--", "dot": ":", "dashdot": "-."}


def _values(v) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def _grid(z) -> np.ndarray:
    return np.array([[np.nan if x is None else x for x in row] for row in z], dtype=float)


def _scatter(ax, t) -> None:
    x, y = _values(t.x), _values(t.y)
    mode = t.mode or "lines"
    colour = t.line.color if "lines" in mode else t.marker.color
    if "lines" in mode:
        ax.plot(x, y, DASHES.get(t.line.dash, "-"), color=colour, label=t.name,
                lw=(t.line.width or 2) * 0.75, drawstyle="steps-post" if t.line.shape == "hv" else "default",
                marker="o" if "markers" in mode else None, ms=4)
    else:
        ax.plot(x, y, "o", color=colour, label=t.name, ms=5)
    if "text" in mode and t.text is not None:
        for xi, yi, s in zip(x, y, t.text, strict=False):
            ax.annotate(s, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)


def _draw(fig: go.Figure, ax) -> None:
    for t in fig.data:
        if t.type == "scatter":
            _scatter(ax, t)
        elif t.type == "heatmap":
            mesh = ax.pcolormesh(_values(t.x), _values(t.y), _grid(t.z), cmap="RdBu_r", vmin=t.zmin,
                                 vmax=t.zmax, shading="nearest")
            ax.figure.colorbar(mesh, ax=ax, label="°C")
        elif t.type == "contour":
            z = _grid(t.z)
            level = t.contours.start
            if np.nanmin(z) < level < np.nanmax(z):
                ax.contour(_values(t.x), _values(t.y), z, levels=[level], colors=[t.line.color or "k"],
                           linewidths=1.5, linestyles="solid")
                ax.plot([], [], color=t.line.color or "k", label=t.name)  # legend entry


def png(fig: go.Figure, width_in: float = 7.5, height_in: float = 4.6, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    mfig, ax = plt.subplots(figsize=(width_in, height_in))
    try:
        _draw(fig, ax)
        lay = fig.layout
        ax.set_title(lay.title.text or "", fontsize=10)
        ax.set_xlabel(lay.xaxis.title.text or "")
        ax.set_ylabel(lay.yaxis.title.text or "")
        if lay.xaxis.range:
            ax.set_xlim(lay.xaxis.range)
        if lay.yaxis.range:
            ax.set_ylim(lay.yaxis.range)
        if lay.yaxis.scaleanchor == "x":
            ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
        mfig.tight_layout()
        buf = io.BytesIO()
        mfig.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()
    finally:
        plt.close(mfig)
