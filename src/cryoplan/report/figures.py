"""The report's figures, built from a result's JSON (``cryoplan simulate --json`` or
``cryoplan plan --json``) as plotly figures.

Each figure has one set of axes and uses only line/marker scatters, heatmaps and single-level
contours, so ``static.py`` can draw the same figure as a PNG with matplotlib.

>>> data = {"iceball": {"times_s": [0, 60], "isotherms": {"0": {"radius_mm": [1.0, 5.0],
...         "length_mm": [6.0, 14.0]}}}}
>>> [t.name for t in growth(data["iceball"]).data]
['0 °C radius', '0 °C half-length']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from cryoplan.report.palette import ISOTHERM_COLOURS, T_MAX_C, T_MIN_C, TEMPERATURE_STOPS

#: Temperature colour scale of every map (``palette``: white at 0 °C).
COLORSCALE = [[position, colour] for position, colour in TEMPERATURE_STOPS]
STRUCTURE_COLOURS = {"target": "#ffd700", "protected": "#d62728", "bone": "#555555"}


def _figure(title: str, xlabel: str, ylabel: str, equal: bool = False) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white",
                      height=480, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.18})
    if equal:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def growth(iceball: dict[str, Any]) -> go.Figure:
    """Ice-ball radius and half-length against time, per isotherm."""
    fig = _figure("Ice-ball growth", "time (s)", "mm")
    t = iceball["times_s"]
    for key, series in sorted(iceball["isotherms"].items(), key=lambda kv: -float(kv[0])):
        colour = ISOTHERM_COLOURS.get(key)
        fig.add_scatter(x=t, y=series["radius_mm"], name=f"{key} °C radius", mode="lines",
                        line={"color": colour})
        half = [None if v is None else v / 2 for v in series["length_mm"]]
        fig.add_scatter(x=t, y=half, name=f"{key} °C half-length", mode="lines",
                        line={"color": colour, "dash": "dash"})
    return fig


def tip_temperature(times_s: list[float], tip_c: list[float | None]) -> go.Figure:
    fig = _figure("Probe wall temperature", "time (s)", "°C")
    fig.add_scatter(x=times_s, y=tip_c, name="tip", mode="lines", line={"color": "#17becf"})
    return fig


def _heatmap(fig: go.Figure, x, y, z, name: str) -> None:
    fig.add_heatmap(x=x, y=y, z=z, colorscale=COLORSCALE, zmin=T_MIN_C, zmax=T_MAX_C, name=name,
                    colorbar={"title": {"text": "°C"}}, hovertemplate="%{x} mm, %{y} mm: %{z} °C")


def _isolines(fig: go.Figure, x, y, z, levels: list[float]) -> None:
    for level in levels:
        key = f"{level:g}"
        fig.add_contour(x=x, y=y, z=z, name=f"{key} °C", showscale=False, contours_coloring="none",
                        contours={"start": level, "end": level, "size": 1.0},
                        line={"color": ISOTHERM_COLOURS.get(key, "black"), "width": 2},
                        hoverinfo="skip", showlegend=True)


def rz_map(data: dict[str, Any]) -> go.Figure | None:
    """Coldest temperature in the (r, z) plane, mirrored about the probe axis, with isotherms,
    the probe and each nerve (an axisymmetric simulation)."""
    m = data.get("map")
    if not m:
        return None
    r, z = np.array(m["r_mm"], float), m["z_mm"]
    x = np.concatenate([-r[::-1], r]).tolist()
    rows = [row[::-1] + row for row in m["min_temperature_c"]]
    fig = _figure("Coldest temperature reached (mirrored about the probe axis)", "r (mm)",
                  "z (mm, tip at 0)", equal=True)
    _heatmap(fig, x, z, rows, "coldest")
    _isolines(fig, x, z, rows, sorted(float(k) for k in data["iceball"]["isotherms"]))
    a, top, active = m["probe_radius_mm"], max(z), m["active_length_mm"]
    fig.add_scatter(x=[-a, -a, a, a], y=[top, 0, 0, top], name="probe", mode="lines",
                    line={"color": "black", "width": 3})
    fig.add_scatter(x=[-a, a], y=[active, active], name="end of active tip", mode="lines",
                    line={"color": "black", "dash": "dot"})
    for nerve in data.get("nerves") or []:
        path = np.array(nerve["path_rz_mm"], float)
        fig.add_scatter(x=path[:, 0], y=path[:, 1], name=nerve["name"], mode="lines",
                        line={"color": "#ffd700", "width": 4})
    # Open on the cold region (coldest below 30 °C) with 3 mm around it; zoom out to see it all.
    cold = np.array([[np.nan if v is None else v for v in row] for row in rows]) < 30.0
    if cold.any():
        xs, zs = np.array(x)[cold.any(axis=0)], np.array(z)[cold.any(axis=1)]
        half = max(abs(xs).max(), a) + 3.0
        fig.update_xaxes(range=[-half, half])
        fig.update_yaxes(range=[zs.min() - 3.0, zs.max() + 3.0])
    return fig


def injury(nerves: list[dict[str, Any]]) -> go.Figure | None:
    """Sunderland grade along each nerve: the whole cross-section (what decides the block) and
    its most injured point."""
    if not nerves:
        return None
    fig = _figure("Injury along each nerve", "arc length along the nerve (mm)", "Sunderland grade")
    for nerve in nerves:
        along = nerve["along_nerve"]
        fig.add_scatter(x=along["arc_length_mm"], y=along["cross_section_grade"], mode="lines",
                        name=f"{nerve['name']}: whole cross-section", line={"shape": "hv", "width": 3})
        fig.add_scatter(x=along["arc_length_mm"], y=along["max_grade"], mode="lines",
                        name=f"{nerve['name']}: most injured point", line={"shape": "hv", "dash": "dash"})
    fig.update_yaxes(range=[-0.2, 3.3], tickvals=[0, 1, 2, 3])
    return fig


def relief(months: dict[str, Any] | None) -> go.Figure | None:
    """Probability that pain relief still lasts, against months, with the 5th, 50th and 95th
    percentiles."""
    if not months or not months.get("curve"):
        return None
    curve = months["curve"]
    fig = _figure("Expected pain relief", "months after treatment", "probability of relief")
    fig.add_scatter(x=curve["months"], y=curve["still_relieved"], mode="lines", name="still relieved",
                    line={"color": "#2ca02c", "width": 3})
    marks = [(k, months[k]) for k in ("p5", "median", "p95") if months.get(k) is not None]
    fig.add_scatter(x=[v for _, v in marks], y=[1 - {"p5": 0.05, "median": 0.5, "p95": 0.95}[k]
                                              for k, _ in marks],
                    mode="markers+text", text=[f"{k} {v:g}" for k, v in marks], textposition="top right",
                    name="percentiles of return", marker={"size": 9, "color": "black"})
    fig.update_yaxes(range=[0, 1.05])
    return fig


def _label_outlines(fig: go.Figure, sl: dict[str, Any], structures: dict[str, Any]) -> None:
    labels = np.array(sl["labels"])
    for key, st in structures.items():
        colour = STRUCTURE_COLOURS.get(st["role"]) or STRUCTURE_COLOURS.get(st["tissue"])
        mask = labels == int(key)
        if colour is None or not mask.any():
            continue
        fig.add_contour(x=sl["u_mm"], y=sl["v_mm"], z=mask.astype(float).tolist(), showscale=False,
                        contours_coloring="none", contours={"start": 0.5, "end": 0.5, "size": 1.0},
                        line={"color": colour, "width": 2}, name=st["name"], hoverinfo="skip",
                        showlegend=True)


def plan_slices(data: dict[str, Any]) -> list[go.Figure]:
    """Per axis-aligned plane through the tip: coldest temperature, 0 and -20 °C isotherms, the
    outlines of the target and protected structures, and the needle's projection."""
    m = data.get("map")
    if not m:
        return []
    figs = []
    needles = m.get("needles") or [{"tip_mm": m["tip_mm"], "entry_mm": m["entry_mm"]}]
    for sl in m["slices"]:
        ia, ib = ("xyz".index(sl["axes"][0]), "xyz".index(sl["axes"][1]))
        fig = _figure(f"Coldest temperature, plane {sl['normal']} = {sl['at_mm']:g} mm through the tip",
                      f"{sl['axes'][0]} (mm)", f"{sl['axes'][1]} (mm)", equal=True)
        _heatmap(fig, sl["u_mm"], sl["v_mm"], sl["min_temperature_c"], "coldest")
        _isolines(fig, sl["u_mm"], sl["v_mm"], sl["min_temperature_c"], [0.0, -20.0])
        _label_outlines(fig, sl, data.get("structures", {}))
        for k, needle in enumerate(needles):
            tip, entry = np.array(needle["tip_mm"]), np.array(needle["entry_mm"])
            fig.add_scatter(x=[tip[ia], entry[ia]], y=[tip[ib], entry[ib]], mode="lines+markers",
                            name="needle (projected)" if len(needles) == 1 else f"needle {k + 1} (projected)",
                            line={"color": "black", "width": 3})
        fig.update_xaxes(range=[min(sl["u_mm"]), max(sl["u_mm"])])
        fig.update_yaxes(range=[min(sl["v_mm"]), max(sl["v_mm"])])
        figs.append(fig)
    return figs


def candidates(data: dict[str, Any]) -> go.Figure | None:
    """Block probability of every simulated candidate against its total freezing time."""
    tried = [c for c in data.get("candidates", []) if c["block_probability"] is not None]
    if not tried:
        return None
    fig = _figure("Candidates simulated", "total freezing time (s)", "block probability")
    for ok, name, colour in ((False, "fails a constraint", "#7f7f7f"), (True, "meets every constraint",
                                                                         "#2ca02c")):
        pick = [c for c in tried if (not c["failures"]) == ok]
        fig.add_scatter(x=[c["cycles"] * c["freeze_seconds"] for c in pick],
                        y=[c["block_probability"] for c in pick], mode="markers", name=name,
                        marker={"color": colour, "size": 8})
    fig.add_scatter(x=[min(c["cycles"] * c["freeze_seconds"] for c in tried),
                       max(c["cycles"] * c["freeze_seconds"] for c in tried)],
                    y=[data["required_block_probability"]] * 2, mode="lines", name="required",
                    line={"color": "#d62728", "dash": "dash"})
    return fig


def _target_figures(t: dict[str, Any]) -> list[go.Figure]:
    figs = [growth(t["iceball"]) if t.get("iceball") else None, *plan_slices(t),
            relief(t.get("relief_months")), candidates(t)]
    if t.get("iceball"):
        figs.insert(1, tip_temperature(t["iceball"]["times_s"], t["iceball"]["tip_temperature_c"]))
    return [f for f in figs if f is not None]


def figures(data: dict[str, Any]) -> list[go.Figure]:
    """Every figure the result's JSON supports, in the report's order (a session's: each
    target's in turn, titled with its name)."""
    if data.get("kind") == "plan":
        plans = data.get("plans") or []
        if len(plans) <= 1:
            return _target_figures(data)
        figs = []
        for t in plans:
            for f in _target_figures(t):
                f.update_layout(title=f"{t['name']}: {f.layout.title.text}")
                figs.append(f)
        return figs
    else:
        outcome = data.get("outcome") or {}
        tip = tip_temperature(data["probe"]["times_s"], data["probe"]["tip_temperature_c"])
        if data.get("geometry") == "3d":  # every probe's wall, and three planes through the probes
            for p in data["probes"][1:]:
                tip.add_scatter(x=p["times_s"], y=p["tip_temperature_c"], name=p["name"], mode="lines")
            maps = plan_slices(data)
        else:
            maps = [rz_map(data)]
        figs = [growth(data["iceball"]), tip, *maps, injury(data.get("nerves") or []),
                relief({**(outcome.get("relief_months") or {}), "curve": outcome.get("curve")})]
    return [f for f in figs if f is not None]
