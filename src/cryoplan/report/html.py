"""One self-contained HTML report of a simulation or a plan, from its JSON.

The page carries its own copy of plotly.js (no network needed to open it), the interactive
figures, the same figures as static PNGs, the inputs, every warning and the sources of the models
and data used.

>>> render({"kind": "plan"})
Traceback (most recent call last):
...
cryoplan.errors.InputError: RESULT.json = {'kind': 'plan'}: allowed is the JSON of cryoplan simulate \
or cryoplan plan (missing: anatomy, status, why)
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from cryoplan import __version__
from cryoplan.atomic import write_atomic
from cryoplan.data import read_toml
from cryoplan.report import figures, static
from cryoplan.report.chart import png
from cryoplan.report.plan_rows import probe_rows, relief_text
from cryoplan.report.reading import kind_of, read_result

GRADE_NAMES = {0: "none", 1: "neurapraxia", 2: "axonotmesis", 3: "neurotmesis risk"}
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f4f4f4}.warn{background:#fff4d6;border-left:4px solid
#e6a700;padding:.4em .8em;margin:.3em 0}.bad{background:#fde2e1;border-left:4px solid #c0392b;
padding:.4em .8em}.ok{background:#e3f6e5;border-left:4px solid #2e8b57;padding:.4em .8em}
img{max-width:100%}small{color:#666}
"""


def _e(x: Any) -> str:
    return html.escape("—" if x is None else str(x))


def _table(rows: list[tuple[str, Any]], head: tuple[str, ...] = ()) -> str:
    out = ["<table>"]
    if head:
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    return "".join(out) + "</table>"


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested inputs as (dotted key, value) rows; sources (listed under Sources) and long
    series (outputs, drawn in the figures) are left out."""
    if isinstance(d, dict):
        rows = []
        for k, v in d.items():
            if not _is_source(k):
                rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    if isinstance(d, list) and d and all(isinstance(x, dict) for x in d):
        rows = []
        for i, v in enumerate(d):
            rows += _flatten(v, f"{prefix}[{i}]")
        return rows
    if isinstance(d, list) and len(d) > 12:
        return []
    return [(prefix, d)]


def _size(x: float | None, digits: int) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


def iceball_rows(data: dict[str, Any]) -> list[tuple[str, ...]]:
    """Per isotherm (warmest first): the ice ball at its largest (the output time of its largest
    volume: a protocol that ends with a thaw has lost its cold core by the end) and at the end;
    sizes to 0.1 mm and 0.01 ml, what a measurement can tell apart.

    Parameters
    ----------
    data : dict
        A simulation's result JSON.

    Returns
    -------
    list of tuple of str
        Isotherm, time of the largest extent [s], its radius and length [mm] and volume [ml], then
        the radius, length and volume at the end.
    """
    iso, times = data["iceball"]["isotherms"], data["iceball"]["times_s"]
    rows = []
    for key in sorted(iso, key=lambda k: -float(k)):
        s = iso[key]
        volumes = [v if v is not None else -1.0 for v in s["volume_ml"]]
        k = max(range(len(volumes)), key=volumes.__getitem__)
        if volumes[k] <= 0:
            largest = ("never reached", "-", "-", "-")
        else:
            largest = (f"{times[k]:g}", _size(s["radius_mm"][k], 1), _size(s["length_mm"][k], 1),
                       _size(s["volume_ml"][k], 2))
        rows.append((f"{key} °C", *largest, _size(s["radius_mm"][-1], 1), _size(s["length_mm"][-1], 1),
                     _size(s["volume_ml"][-1], 2)))
    return rows


def _simulation_summary(data: dict[str, Any]) -> str:
    iso = data["iceball"]["isotherms"]
    parts = ["<h2>Ice ball at its largest and at the end</h2>",
             _table(iceball_rows(data), ("isotherm", "largest at s", "radius mm", "length mm", "volume ml",
                                         "end: radius mm", "end: length mm", "end: volume ml"))]
    if data.get("geometry") == "3d":  # each probe's ice from its own axis; the volume above is the union's
        keys = sorted(iso, key=lambda k: -float(k))
        parts.append(_table([(p["name"], p["tip_mm"], p["direction_tip_to_hub"], p["catalog"] or "-",
                              *(p["isotherms"][k]["radius_mm"][-1] for k in keys)) for p in data["probes"]],
                            ("probe", "tip mm", "direction (tip to hub)", "catalog",
                             *(f"{k} °C radius mm at the end" for k in keys))))
    nerves = data.get("nerves") or []
    if nerves:
        parts.append("<h2>Nerves</h2>")
        parts.append(_table([(n["name"], f"{n['sunderland_grade']} ({GRADE_NAMES[n['sunderland_grade']]})",
                              f"{n['block_probability']:.2f}", n["block_reason"], n["blocked_length_mm"],
                              n["min_temperature_c"], "yes" if n["reversible"] else "NO", n.get("mechanism"))
                             for n in nerves],
                            ("nerve", "Sunderland grade", "block probability", "why (block)",
                             "below -20 °C mm", "coldest °C", "reversible", "why (cells)")))
    o = data.get("outcome")
    if o and o.get("relief_months"):
        r = o["relief_months"]
        parts.append(
            f"<p class='ok'>Expected relief once blocked (probability {o['block_probability']:.2f}): "
            f"{relief_text(r)}, regrowth floor {r['regrowth_floor_months']:.1f} months; plan re-treatment "
            f"after {o['retreat_after_months']:.0f} "
            f"months. Patient factors: {_e(', '.join(r['patient_factors']))}. Model: {_e(o['model'])} "
            "(calibration on the clinical series: docs/injury.md).</p>")
    elif o:
        parts.append(f"<p class='bad'>{_e(o.get('note'))}</p>")
    return "".join(parts)


def _session_summary(data: dict[str, Any]) -> str:
    s = data["session"]
    rows = []
    for t in data["plans"]:
        if t["status"] != "plan":
            rows.append((t["name"], "no safe plan", "-", "-", "-", t["why"]))
            continue
        p = t["plan"]
        worst = min(t["margins"], key=lambda m: m["margin_k"], default=None)
        rows.append((t["name"], f"{len(p['probes'])}", f"{p['cycles']} x {p['freeze_seconds']:g} s",
                     f"{t['block_probability']:.2f}",
                     "-" if worst is None else f"{worst['name']}: {worst['margin_k']:.1f} K", t["why"]))
    head = (f"<p class='{'ok' if not s['failed'] else 'bad'}'><b>Session.</b> {s['planned']} of "
            f"{s['targets']} targets planned; order {_e(', '.join(s['order']))}; total freezing "
            f"{s['total_freeze_seconds']:g} s "
            f"({s['total_protocol_seconds']:g} s with thaws); {s['probe_insertions']} insertions of "
            f"{_e(s['probe'])} (at most {s['most_probes_at_once']} at once); {s['gas_g']:g} g of "
            f"{_e(s['gas'])}; expected targets blocked {s['expected_targets_blocked']:g}.</p>")
    columns = ("target", "probes", "protocol", "block probability", "closest margin", "why")
    parts = [head, _table(rows, columns)]
    for t in data["plans"]:
        parts.append(f"<h3>{_e(t['name'])}</h3>" + _plan_summary(t))
    return "".join(parts)


def _plan_summary(data: dict[str, Any]) -> str:
    if len(data.get("plans") or []) > 1:
        return _session_summary(data)
    if data["status"] != "plan":
        return f"<p class='bad'><b>No safe plan.</b> {_e(data['why'])}</p>"
    p, ci = data["plan"], data["block_probability_ci95"]
    rows = probe_rows(p)
    rows += [("protocol", f"{p['cycles']} x {p['freeze_seconds']:g} s freeze, "
                         f"{p['thaw_seconds']:g} s passive thaw"),
            ("block probability", f"{data['block_probability']:.2f} (95 % CI {ci[0]:.2f}-{ci[1]:.2f}; "
                                  f"required {data['required_block_probability']:g})"),
            ("grade 3 probability", data["grade3_probability"])]
    for m in data["margins"]:
        rows.append((f"{m['name']} (limit {m['limit_c']:g} °C)",
                     f"coldest {m['worst_min_c']:.1f} °C, margin {m['margin_k']:.1f} K"))
    r = data.get("relief_months")
    if r:
        rows.append(("expected relief once blocked",
                     f"median {r['median']:g} months (5-95 %: {r['p5']:g}-{r['p95']:g}); patient factors: "
                     f"{', '.join(r['patient_factors'])}"))
    for t in data.get("targets", []):
        rows.append((f"{t['name']} block (nominal)", f"{t['block_probability']:.2f}: {t['block_reason']}"))
    a = data.get("approximation")
    if a:
        diff = a["chosen_difference"]
        rows.append(("screening", f"{a['screened']} placements screened from moved runs, "
                                  f"{a['simulated']} simulated in 3D; the plan's block probability screened "
                                  + ("- (simulated first)" if diff is None else
                                     f"{a['chosen_screened_block_probability']:.3f}, simulated "
                                     f"{data['block_probability']:.3f} ({diff:+.3f})")
                                  + f"; largest difference {a['largest_difference']:.3f}"))
    checks = _table([(k["offset_mm"], k["block_probability"], k["rigid_block_probability"],
                      k["min_temperature_c"], k["rigid_min_temperature_c"])
                     for k in data.get("rigid_shift_check", [])],
                    ("probe displaced by mm", "block probability (re-simulated)",
                     "block probability (Monte Carlo)",
                     "coldest °C (re-simulated)", "coldest °C (Monte Carlo)"))
    return (f"<p class='ok'><b>Plan: {_e(data.get('anatomy'))}.</b> {_e(data['why'])}</p>" + _table(rows)
            + "<h3>Re-simulation checks of the Monte Carlo</h3>" + checks)


def warnings(data: dict[str, Any]) -> list[str]:
    """Every warning of the result (its named warnings, or for an older result its nerves'),
    and the lesions that may not be reversible."""
    nerves = (data.get("nerves") or []) + (data.get("targets") or [])
    named = data.get("warnings")
    if named is None:  # a result written before warnings were named
        named = [{"about": n["name"], "message": w} for n in nerves for w in n.get("warnings", [])]
    out = [f"{w['about']}: {w['message']}" if w.get("about") else w["message"] for w in named]
    for n in nerves:
        if not n.get("reversible", True):
            out.append(f"{n['name']}: the lesion may not be reversible (grade 3 risk)")
    return out


def _is_source(key: str) -> bool:
    return key.endswith("source") or key in ("sources", "references")


def _collect_sources(d: Any, found: dict[str, None]) -> None:
    """Every citation in ``d``: the values of keys named like ``source``, ``x_source``,
    ``sources`` or ``references``, in order, without repeats."""
    if isinstance(d, dict):
        for k, v in d.items():
            if _is_source(k) and isinstance(v, str):
                found[v] = None
            elif _is_source(k) and isinstance(v, list | dict):
                for s in v.values() if isinstance(v, dict) else v:
                    found[str(s)] = None
            else:
                _collect_sources(v, found)
    elif isinstance(d, list):
        for v in d:
            _collect_sources(v, found)


def _data_file_sources(name: str, already: dict[str, None]) -> list[str]:
    found: dict[str, None] = {}
    _collect_sources(read_toml(name), found)
    return [s for s in found if s not in already]


#: The data files whose sources a report may show (and whose citation keys it spells out).
DATA_FILES = ("tissues.toml", "injury.toml", "outcome.toml", "anatomy.toml", "probes.toml")
_KEY = re.compile(r"^# ([A-Z][A-Z0-9]+)\s+= (.*)$")


def citation_keys() -> dict[str, str]:
    """The short keys the data files cite by (``ITIS (muscle)``), each with its full citation: the
    files define them in their header comments (``# ITIS = Hasgall PA et al., ...``, continued on
    indented comment lines)."""
    from importlib import resources

    keys: dict[str, str] = {}
    for name in DATA_FILES:
        current = None
        for line in resources.files("cryoplan.data").joinpath(name).read_text(encoding="utf-8").splitlines():
            match = _KEY.match(line)
            if match:
                current = match.group(1)
                keys[current] = match.group(2).strip()
            elif current and line.startswith("#   "):
                keys[current] += " " + line[1:].strip()
            else:
                current = None
    return keys


def _keys_cited(texts) -> str:
    """The citation keys used in ``texts``, spelled out."""
    keys = citation_keys()
    used = [k for k in keys if any(re.search(rf"\b{k}\b", t) for t in texts)]
    if not used:
        return ""
    return ("<h3>Citation keys</h3><ul>" + "".join(f"<li><b>{_e(k)}</b>: {_e(keys[k])}</li>" for k in used)
            + "</ul>")


def sources(data: dict[str, Any]) -> str:
    kind = kind_of(data)
    models = [m for m in read_toml("models.toml").values() if kind in m["used_by"]]
    parts = ["<h3>Models</h3>", _table([(m["model"], m["source"], m["module"]) for m in models],
                                       ("model", "source", "code"))]
    in_result: dict[str, None] = {}
    _collect_sources(data, in_result)
    if in_result:
        parts.append("<h3>Data in this result</h3><ul>"
                     + "".join(f"<li>{_e(s)}</li>" for s in in_result) + "</ul>")
    files = ["injury.toml", "outcome.toml"] + (["anatomy.toml"] if kind == "plan" else [])
    shown = list(in_result)
    for name in files:
        cited = _data_file_sources(name, in_result)
        shown += cited
        if cited:
            parts.append(f"<h3>More in data/{name}</h3><ul>"
                         + "".join(f"<li>{_e(s)}</li>" for s in cited) + "</ul>")
    parts.append(_keys_cited(shown))
    return "".join(parts)


def _plot_div(fig: go.Figure, k: int) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{k}",
                       config={"responsive": True, "displaylogo": False})


def _chart_section(chart: dict[str, Any] | None) -> str:
    """The vendor-style isotherm chart (the same drawing as ``cryoplan chart``), as a PNG."""
    if not chart:
        return ""

    times = ", ".join(f"{t:g} s" for t in chart["panels"][0]["times_s"])
    image = base64.b64encode(png(chart["panels"], chart["title"])).decode()
    return (f"<h2>Isotherm chart</h2><p>The isotherms at {_e(times)} on a millimetre grid, the probe to "
            f"scale (as <code>cryoplan chart</code> draws them).</p>"
            f"<p><img alt='isotherm chart' src='data:image/png;base64,{image}'></p>")


def render(data: dict[str, Any], title: str | None = None) -> str:
    """The report page for a result JSON (a dict), as one HTML string."""
    data = read_result(data)
    kind = kind_of(data)
    figs = figures.figures(data)
    title = title or (f"cryoplan plan: {data['anatomy']}" if kind == "plan" else "cryoplan simulation")
    warn = warnings(data)
    inputs = data.get("inputs") or {k: data.get(k) for k in ("probe", "cryogen", "tissue", "protocol",
                                                              "injury_thresholds") if data.get(k)}
    pngs = [base64.b64encode(static.png(f)).decode() for f in figs]
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p><small>cryoplan {_e(data.get('cryoplan_version'))} result; report by cryoplan {__version__} "
        f"on {dt.date.today().isoformat()}. Simulated estimates for planning; not a substitute for "
        "clinical judgement.</small></p>",
        "<h2>Warnings</h2>" + ("".join(f"<div class='warn'>{_e(w)}</div>" for w in warn) or "<p>None.</p>"),
        _plan_summary(data) if kind == "plan" else _simulation_summary(data),
        "<h2>Figures</h2>",
        *(_plot_div(f, k) for k, f in enumerate(figs)),
        _chart_section(data.get("chart")),
        "<h2>Inputs</h2>",
        _table(_flatten(inputs), ("input", "value")),
        "<h2>Static figures</h2><details><summary>PNG copies of the figures</summary>",
        *(f"<p><img alt='{_e(f.layout.title.text)}' src='data:image/png;base64,{p}'></p>"
          for f, p in zip(figs, pngs, strict=True)),
        "</details>",
        "<h2>Sources</h2>",
        sources(data),
    ]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
            + "\n".join(body) + "</body></html>")


def write_report(data: dict[str, Any], path: str | Path, title: str | None = None,
                 write=write_atomic) -> None:
    """Render and write the report atomically (nothing is written if rendering fails), with
    ``write(path, writer)``."""
    page = render(data, title)
    write(path, lambda p: p.write_text(page, encoding="utf-8"))

