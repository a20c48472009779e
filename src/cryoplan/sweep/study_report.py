"""The summary of a study's table, as JSON and as one self-contained HTML page in the style of
the other reports (plotly inlined: no network needed to open it).

The page shows how complete the study is (samples ok, failed, missing), what varied and over
which range, the distribution of every output, its sensitivity to each input (the method the
sampling allows, named, with what it cannot give), scatter plots of the strongest inputs, the
named warnings of the runs and the failed samples with their errors.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from cryoplan import __version__
from cryoplan.atomic import OutputSet
from cryoplan.named_warnings import CODES
from cryoplan.report.html import STYLE, _e, _plot_div, _table
from cryoplan.service import finite
from cryoplan.sweep import output_stats, table

#: Failed samples listed one by one (the rest are counted by error).
MAX_FAILURES_SHOWN = 20

METHOD_TEXT = {
    "sobol-saltelli": "First-order (S1) and total (ST) Sobol' indices from Saltelli's design (SALib; "
                      "Saltelli et al. 2010), with bootstrap 95 % intervals.",
    "grid": "Exact first-order (S1) and total (ST) indices of the full grid, each level equally likely.",
    "rbd-fast": "First-order Sobol' indices (S1) estimated from these points by RBD-FAST (Tarantola et al. "
                "2006; Plischke 2010), with bootstrap 95 % intervals. This sampling does not allow total "
                "indices: use method = \"saltelli\" for them.",
}
SOURCES = [
    "Sobol' IM. Global sensitivity indices for nonlinear mathematical models and their Monte Carlo "
    "estimates. Math Comput Simul 2001;55:271-280. doi:10.1016/S0378-4754(00)00270-6",
    "Saltelli A. Making best use of model evaluations to compute sensitivity indices. Comput Phys Commun "
    "2002;145:280-297. doi:10.1016/S0010-4655(02)00280-1",
    "Saltelli A, Annoni P, Azzini I, Campolongo F, Ratto M, Tarantola S. Variance based sensitivity analysis "
    "of model output: design and estimator for the total sensitivity index. Comput Phys Commun "
    "2010;181:259-270. doi:10.1016/j.cpc.2009.09.018",
    "Tarantola S, Gatelli D, Mara TA. Random balance designs for the estimation of first order global "
    "sensitivity indices. Reliab Eng Syst Saf 2006;91:717-727. doi:10.1016/j.ress.2005.06.003",
    "Plischke E. An effective algorithm for computing global sensitivity indices (EASI). Reliab Eng Syst Saf "
    "2010;95:354-360. doi:10.1016/j.ress.2009.11.005",
    "McKay MD, Beckman RJ, Conover WJ. A comparison of three methods for selecting values of input variables "
    "in the analysis of output from a computer code. Technometrics 1979;21:239-245",
    "Iwanaga T, Usher W, Herman J. Toward SALib 2.0: advancing the accessibility and interpretability of "
    "global sensitivity analyses. Socio-Environmental Systems Modelling 2022;4:18155. "
    "doi:10.18174/sesmo.18155",
    "Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat Assoc "
    "1927;22:209-212",
]


def summarize(meta: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary of a study's table (plain data, the JSON of ``cryoplan sweep report``)."""
    cfg, runs = meta["study"]["config"], meta["runs"]
    by_index = {r["sample"]: r for r in rows}
    ok = [r for r in rows if r["status"] == "ok"]
    ordered = [by_index.get(i) if by_index.get(i, {}).get("status") == "ok" else None for i in range(runs)]
    failed = [r for r in rows if r["status"] != "ok"]
    errors: dict[str, int] = {}
    for r in failed:
        errors[r["error"] or "(no message)"] = errors.get(r["error"] or "(no message)", 0) + 1
    codes: dict[str, int] = {}
    for r in ok:
        for code in (r.get("warnings") or "").split(","):
            if code:
                codes[code] = codes.get(code, 0) + 1
    times = [r["wall_time_s"] for r in rows if r.get("wall_time_s") is not None]
    data = {
        "kind": "sweep-report",
        "cryoplan_version": __version__,
        "title": cfg.get("title"),
        "study": {"base": meta["study"]["source"], "kind": meta["study"]["kind"], **cfg["sampling"],
                  "runs": runs, "vary": cfg["vary"], "outputs": meta["outputs"],
                  "written_by": meta["study"]["cryoplan_version"]},
        "samples": {"runs": runs, "in_table": len(rows), "ok": len(ok), "failed": len(failed),
                    "missing": runs - len(rows),
                    "computing_s": round(sum(times), 1),
                    "median_wall_time_s": output_stats.distribution(times).get("p50")},
        "inputs": {k: output_stats.distribution([r[k] for r in rows]) for k in meta["inputs"]},
        "outputs": {p: output_stats.distribution([r.get(p) for r in ok]) for p in meta["outputs"]},
        "sensitivity": {p: output_stats.sensitivity(meta, ordered, p) for p in meta["outputs"]
                        if output_stats.distribution([r.get(p) for r in ok])["kind"] != "text"},
        "warnings": dict(sorted(codes.items(), key=lambda kv: -kv[1])),
        "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
        "failed_samples": [{"sample": r["sample"], "error": r["error"]} for r in failed[:MAX_FAILURES_SHOWN]],
    }
    return finite(data)[0]


def _g(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _spec(v: dict[str, Any]) -> str:
    names = ("low", "high", "mean", "sd", "median", "log_sd", "levels")
    parts = [f"{n} {v[n]:g}" for n in names if v.get(n) is not None]
    if v.get("values") is not None:
        parts.append("values " + ", ".join(map(str, v["values"])))
    rounded = " (rounded to integers)" if v.get("integer") else ""
    return f"{v['distribution']}: " + ", ".join(parts) + rounded


def _completeness(s: dict[str, Any]) -> str:
    missing = f", {s['missing']} not run yet (cryoplan sweep --resume computes them)" if s["missing"] else ""
    text = f"{s['in_table']} of {s['runs']} samples in the table: {s['ok']} ran, {s['failed']} failed"
    text += missing
    css = "ok" if s["ok"] == s["runs"] else ("warn" if s["ok"] else "bad")
    return f"<p class='{css}'>{_e(text)}. Computing time {s['computing_s']:g} s in all.</p>"


def _outputs_table(data: dict[str, Any]) -> str:
    rows = []
    for path, d in data["outputs"].items():
        if d["kind"] == "number" and d["n"]:
            rows.append((path, d["n"], d["missing"], _g(d["mean"]), _g(d["sd"]),
                         *(_g(d[f"p{q}"]) for q in output_stats.PERCENTILES)))
        elif d["kind"] == "boolean" and d["n"]:
            lo, hi = d["ci95"]
            share = f"true in {d['fraction_true']:.3f} (95 % CI {lo:.3f}-{hi:.3f})"
            rows.append((path, d["n"], d["missing"], share, *[""] * (1 + len(output_stats.PERCENTILES))))
        else:
            counts = ", ".join(f"{k}: {n}" for k, n in (d.get("counts") or {}).items()) or "no values"
            rows.append((path, d["n"], d["missing"], counts, *[""] * (1 + len(output_stats.PERCENTILES))))
    percentiles = (f"p{q}" for q in output_stats.PERCENTILES)
    return _table(rows, ("output", "n", "missing", "mean", "sd", *percentiles))


def _sensitivity_table(sens: dict[str, Any]) -> str:
    sobol = sens["sobol"]
    indices = sobol.get("indices") or {}

    def interval(d: dict[str, Any] | None, name: str) -> str:
        if not d or name not in d:
            return "—"
        conf = d.get(f"{name}_conf")
        return _g(d[name]) + (f" ± {_g(conf)}" if conf is not None else "")

    rows = [(k, interval(indices.get(k), "S1"), interval(indices.get(k), "ST"),
             _g(rho["rho"]), _g(rho["p"])) for k, rho in sens["spearman"].items()]
    parts = []
    if sobol.get("method"):
        parts.append(f"<p><small>{_e(METHOD_TEXT[sobol['method']])}</small></p>")
    if sobol.get("note"):
        parts.append(f"<p class='warn'>{_e(sobol['note'])}</p>")
    parts.append(_table(rows, ("input", "S1 (first-order Sobol')", "ST (total Sobol')",
                               "Spearman rank correlation (not a variance share)", "p-value")))
    for s2 in sobol.get("second_order", []):
        pair = _e(" × ".join(s2["keys"]))
        parts.append(f"<small>S2 {pair}: {_g(s2['S2'])} ± {_g(s2['S2_conf'])}</small><br>")
    return "".join(parts)


def _figures(data: dict[str, Any], rows: list[dict[str, Any]]) -> list:
    """A histogram of each numeric output and scatter plots of its strongest inputs."""
    ok = [r for r in rows if r["status"] == "ok"]
    figs = []
    for path, d in data["outputs"].items():
        if d["kind"] != "number" or not d["n"]:
            continue
        values = [r[path] for r in ok if r.get(path) is not None]
        fig = go.Figure(go.Histogram(x=values, marker_color="#4a7ab5"))
        fig.update_layout(title=path, xaxis_title=path, yaxis_title="samples", height=320,
                          margin={"l": 50, "r": 20, "t": 40, "b": 45})
        figs.append((path, fig))
    for path, sens in data["sensitivity"].items():
        for key in output_stats.strongest(sens):
            pts = [(r[key], r[path]) for r in ok if r.get(path) is not None]
            fig = go.Figure(go.Scatter(x=[p[0] for p in pts], y=[float(p[1]) for p in pts], mode="markers",
                                       marker={"size": 5, "color": "#c0392b", "opacity": 0.7}))
            fig.update_layout(title=f"{path} against {key}", xaxis_title=key, yaxis_title=path, height=320,
                              margin={"l": 50, "r": 20, "t": 40, "b": 45})
            figs.append((path, fig))
    return figs


def render(data: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The HTML page of a summary (``rows``: the table, for the figures)."""
    st, s = data["study"], data["samples"]
    title = data.get("title") or f"Study of {st['base']}"
    vary = [(v["key"], _spec(v), _g(data["inputs"][v["key"]].get("min", "")),
             _g(data["inputs"][v["key"]].get("max", ""))) for v in st["vary"]]
    figs = _figures(data, rows)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>",
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>{_e(st['kind'])} study of {_e(st['base'])}: {_e(st['method'])} sampling, seed {st['seed']}, "
        f"{st['runs']} runs.</p>",
        _completeness(s),
        "<h2>What varied</h2>", _table(vary, ("key", "distribution", "lowest sampled", "highest sampled")),
        "<h2>Outputs</h2>", _outputs_table(data),
        "<h2>Sensitivity</h2>",
    ]
    for path, sens in data["sensitivity"].items():
        parts += [f"<h3>{_e(path)}</h3>", _sensitivity_table(sens)]
    parts.append("<h2>Figures</h2>")
    parts += [_plot_div(fig, k) for k, (_, fig) in enumerate(figs)]
    if data["warnings"]:
        parts += ["<h2>Warnings of the runs</h2>",
                  _table([(c, n, CODES.get(c, "")) for c, n in data["warnings"].items()],
                         ("warning", "samples", "meaning"))]
    if data["errors"]:
        parts += ["<h2>Failed samples</h2>", _table(list(data["errors"].items()), ("error", "samples")),
                  _table([(f["sample"], f["error"]) for f in data["failed_samples"]], ("sample", "error"))]
    parts += ["<h2>Sources</h2><ul>", *(f"<li>{_e(x)}</li>" for x in SOURCES), "</ul>",
              f"<p><small>cryoplan {_e(__version__)} (table written by {_e(st['written_by'])}), "
              f"{dt.date.today().isoformat()}</small></p></body></html>"]
    return "".join(parts)


def write(results: str | Path, html_out: str | Path | None, json_out: str | Path | None) -> dict[str, Any]:
    """Read a study's table and write its HTML and JSON summaries, all or none."""
    meta, rows = table.read(results)
    data = summarize(meta, rows)
    with OutputSet() as out:
        if html_out is not None:
            page = render(data, rows)
            out.stage(html_out, lambda p: p.write_text(page, encoding="utf-8"))
        if json_out is not None:
            out.stage_json(json_out, data)
    return data
