"""The ``cryoplan`` command line: demo, simulate, probe, plan.

Bad input prints one line naming the field, the value and what is allowed, and exits with 2;
nothing is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cryoplan import config
from cryoplan.data import read_toml
from cryoplan.errors import InputError, exit_on_input_error
from cryoplan.injury.grade import GRADE_NAMES
from cryoplan.procedure import Result, run
from cryoplan.result import isotherm_key, to_json, write_json
from cryoplan.units import BAR_PA, k_to_c

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Simulate and plan percutaneous cryoneurolysis.")
err_console = Console(stderr=True)
out_console = Console()


_guarded = exit_on_input_error


def _run_with_progress(cfg: config.ProcedureConfig, show: bool) -> Result:
    if not show:
        return run(cfg)
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[t]:.0f} s"),
                  TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("run", total=1.0, t=0.0)
        return run(cfg, lambda now, total: bar.update(task, completed=now / total, t=now))


def _summary(result: Result) -> Table:
    th, prob = result.thermal, result.setup.problem
    table = Table(title="Ice ball at the end of each phase")
    table.add_column("phase end")
    table.add_column("t (s)", justify="right")
    table.add_column("tip °C", justify="right")
    for t_iso in sorted(th.isotherms, reverse=True):
        name = f"{k_to_c(t_iso):g} °C"
        table.add_column(f"{name} radius mm", justify="right")
        if prob.grid.geometry == "axisymmetric":
            table.add_column(f"{name} length mm", justify="right")
        table.add_column(f"{name} volume ml", justify="right")
    ends = [k for k in range(1, len(th.times)) if k == len(th.times) - 1 or th.phase[k + 1] != th.phase[k]]
    for k in ends:
        row = [th.phase[k], f"{th.times[k]:.0f}", f"{k_to_c(th.tip_temperature[k]):.1f}"]
        for t_iso in sorted(th.isotherms, reverse=True):
            s = th.isotherms[t_iso]
            row.append(f"{s.radius[k] * 1e3:.2f}")
            if prob.grid.geometry == "axisymmetric":
                row.append(f"{s.length[k] * 1e3:.2f}")
            row.append(f"{s.volume[k] * 1e6:.3f}")
        table.add_row(*row)
    return table


def _nerve_table(result: Result) -> Table:
    table = Table(title="Nerves")
    for col in ("nerve", "grade", "P(block)", "block °C", "<-20 °C mm", "min °C", "reversible"):
        table.add_column(col, justify="left" if col == "nerve" else "right")
    for a in result.nerves:
        table.add_row(a.name, f"{a.sunderland_grade} ({GRADE_NAMES[a.sunderland_grade]})",
                      f"{a.block_probability:.2f}", f"{a.block_temperature_k - 273.15:.1f}",
                      f"{a.blocked_length_m * 1e3:.1f}", f"{a.min_temperature_k - 273.15:.0f}",
                      "yes" if a.reversible else "NO")
    return table


def _print_outcome(result: Result) -> None:
    for a in result.nerves:
        out_console.print(f"{a.name}: block {a.block_reason}")
        out_console.print(f"{a.name}: {a.mechanism}")
        for w in a.warnings:
            out_console.print(f"[yellow]warning[/yellow] ({a.name}): {w}")
    o = result.outcome
    if o is None:
        return
    if o.relief is None:
        out_console.print(f"relief: {o.note}")
        return
    r = o.relief
    factors = ", ".join(r.applied) or "none (reference patient)"
    out_console.print(
        f"expected relief once blocked (probability {o.block_probability:.2f}): median {r.median:.0f} months "
        f"(5-95 %: {r.quantile(0.05):.0f}-{r.quantile(0.95):.0f}; regrowth floor {r.floor_months:.1f}); "
        f"plan re-treatment after {o.retreat_after_months:.0f} months (when "
        f"{100 * o.retreat_at_probability:.0f} % would have pain again); patient factors: {factors}; "
        f"model: {o.model} (src/cryoplan/data/outcome.toml, docs/injury.md)")


def _report(result: Result, json_out: Path | None, plot_out: Path | None, quiet: bool,
            html_out: Path | None = None) -> None:
    data = to_json(result)
    if html_out is not None:  # first: a report that fails to render leaves no other output behind
        from cryoplan.report.html import write_report

        write_report(data, html_out)
    if json_out is not None:
        if str(json_out) == "-":
            sys.stdout.write(json.dumps(data, indent=1) + "\n")
        else:
            write_json(json_out, data)
    if plot_out is not None:
        from cryoplan.report.plot import plot

        plot(result, plot_out)
    if quiet:
        return
    out_console.print(_summary(result))
    if result.nerves:
        out_console.print(_nerve_table(result))
        _print_outcome(result)
    op = result.setup.operating
    if op is not None:
        out_console.print(
            f"cryogen {op.design.gas}: {op.mass_flow * 1e3:.3g} g/s ({op.standard_flow_l_per_min:.3g} "
            f"standard L/min), tip {op.tip_pressure / BAR_PA:.2f} bar, enters at "
            f"{k_to_c(op.boiling_temperature):.1f} °C; capacity {op.latent_capacity_w:.1f} W boiling"
        )
    for code, message in result.warnings:
        out_console.print(f"[yellow]warning[/yellow] {code}: {message}", markup=True, highlight=False)
    out_console.print(
        f"solved {data['solver']['cells']} cells, dt {result.thermal.time_step * 1e3:.2f} ms, "
        f"{result.wall_time_s:.2f} s wall time; energy balance error "
        f"{result.thermal.energy_balance_error:.1e}"
    )
    for label, path in (("JSON", json_out), ("plot", plot_out), ("report", html_out)):
        if path is not None and str(path) != "-":
            out_console.print(f"wrote {label}: {path}")


@app.command()
@_guarded
def simulate(
    file: Annotated[Path, typer.Argument(help="procedure file (TOML, see docs/config.md)")],
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="write the result JSON here ('-' for stdout)")] = None,
    plot_out: Annotated[Path | None, typer.Option(
        "--plot", help="write the ice-ball figure (PNG) here")] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--report", help="write the HTML report here")] = None,
) -> None:
    """Simulate the ice ball of one probe through a freeze/thaw protocol."""
    cfg = config.load(file)
    piped = json_out is not None and str(json_out) == "-"
    result = _run_with_progress(cfg, show=err_console.is_terminal and not piped)
    _report(result, json_out, plot_out, quiet=piped, html_out=html_out)


@app.command()
@_guarded
def demo(
    out_dir: Annotated[Path, typer.Option(help="folder for cryoplan-demo.json, .png and .html")] = Path("."),
) -> None:
    """Run the built-in example: 2.0 mm N2O probe, 12 G cannula, muscle, 2 x 2 min freezes."""
    cfg = config.parse(read_toml("demo.toml"))
    out_console.print("cryoplan demo: 2.0 mm N2O probe through a 12 G cannula in muscle, "
                      "freeze 120 s / passive thaw 30 s / freeze 120 s, a lumbar medial branch "
                      "crossing the active tip 2 mm from the probe axis")
    result = _run_with_progress(cfg, show=err_console.is_terminal)
    _report(result, out_dir / "cryoplan-demo.json", out_dir / "cryoplan-demo.png", quiet=False,
            html_out=out_dir / "cryoplan-demo.html")


def _probe_sections(file: Path | None, catalog: str | None, gas: str | None, diameter_mm: float | None,
                    gauge: int | None, active_length_mm: float | None, supply_pressure_bar: float | None,
                    supply_temperature_c: float | None, back_pressure_bar: float | None
                    ) -> tuple[config.ProbeConfig, config.CryogenConfig]:
    """[probe] and [cryogen] from a procedure file, with the options on top (validated by the
    same schema as the file)."""
    data = config.read_file(file) if file is not None else {}
    probe_keys = dict(data.get("probe", {}))
    cryogen_keys = dict(data.get("cryogen", {}))
    for key, value in (("catalog", catalog), ("diameter_mm", diameter_mm), ("gauge", gauge),
                       ("active_length_mm", active_length_mm)):
        if value is not None:
            probe_keys[key] = value
    for key, value in (("gas", gas), ("supply_pressure_bar", supply_pressure_bar),
                       ("supply_temperature_c", supply_temperature_c),
                       ("back_pressure_bar", back_pressure_bar)):
        if value is not None:
            cryogen_keys[key] = value
    if probe_keys.get("diameter_mm") is not None or probe_keys.get("gauge") is not None:
        probe_keys.setdefault("active_length_mm", 6.0)
    sections = config.parse_sections({"probe": probe_keys, "cryogen": cryogen_keys})
    return sections.probe, sections.cryogen


@app.command()
@_guarded
def probe(
    file: Annotated[Path | None, typer.Argument(
        help="procedure file whose [probe] and [cryogen] to use")] = None,
    catalog: Annotated[str | None, typer.Option(help="catalog probe (see data/probes.toml)")] = None,
    gas: Annotated[str | None, typer.Option(help="n2o, ln2, argon or co2")] = None,
    diameter_mm: Annotated[float | None, typer.Option(
        help="outer diameter (with --gas: a family probe)")] = None,
    gauge: Annotated[int | None, typer.Option(help="outer diameter as a needle gauge")] = None,
    active_length_mm: Annotated[float | None, typer.Option(help="active (freezing) length")] = None,
    supply_pressure_bar: Annotated[float | None, typer.Option(
        help="default: the gas's own (see docs)")] = None,
    supply_temperature_c: Annotated[float | None, typer.Option(
        help="default 20 °C (LN2: its boiling point)")] = None,
    back_pressure_bar: Annotated[float | None, typer.Option(help="exhaust pressure at the console")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write JSON here ('-' for stdout)")] = None,
) -> None:
    """A probe on its console: gas flow, tip pressure and temperature, capacity, heat transfer."""
    from cryoplan import resolve
    from cryoplan.cryogen.summary import operating_json, operating_rows, operating_warnings

    pc, cc = _probe_sections(file, catalog, gas, diameter_mm, gauge, active_length_mm, supply_pressure_bar,
                             supply_temperature_c, back_pressure_bar)
    if pc.boundary != "cryogen":
        raise InputError("probe.boundary", pc.boundary, '"cryogen" (a fixed-temperature probe has no gas)')
    _, op, _, _ = resolve.probe(pc, cc)
    assert op is not None
    data = {**operating_json(op),
            "warnings": [{"code": c, "message": m} for c, m in operating_warnings(op)]}
    if json_out is not None and str(json_out) == "-":
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
        return
    if json_out is not None:
        write_json(json_out, data)
    table = Table(title=f"{pc.catalog or 'probe'} on its console")
    table.add_column("")
    table.add_column("value", overflow="fold")
    for label, value in operating_rows(data):
        table.add_row(label, value)
    out_console.print(table)


@app.command()
@_guarded
def calibrate(
    file: Annotated[Path, typer.Argument(help="calibration file (TOML, see docs/calibrate.md)")],
    out_dir: Annotated[Path, typer.Option(help="folder for NAME.toml (the catalog entry), NAME-fit.png "
                                               "and NAME-fit.json")] = Path("."),
    name: Annotated[str | None, typer.Option(help="the entry's name (default: [entry] name, or the "
                                                  "file's name)")] = None,
    bootstrap: Annotated[int | None, typer.Option(help="refits on resampled residuals (seeded)")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="the fit's JSON here ('-' for stdout)")] = None,
) -> None:
    """Fit a probe's unknown internals to a bench test and write its catalog entry."""
    from cryoplan.calibrate import calibrate as run_calibration
    from cryoplan.calibrate.output import tables

    piped = json_out is not None and str(json_out) == "-"
    with Progress(TextColumn("calibrating: {task.completed} simulations"), TimeElapsedColumn(),
                  console=err_console, transient=True, disable=piped or not err_console.is_terminal) as bar:
        task = bar.add_task("fit", total=None)
        data, written = run_calibration(file, out_dir, name, bootstrap, json_out,
                                        lambda n: bar.update(task, completed=n))
    if piped:
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
        return
    for table in tables(data):
        out_console.print(table)
    for w in data["warnings"]:
        out_console.print(f"[yellow]warning[/yellow] (fitted probe) {w['code']}: {w['message']}",
                          highlight=False)
    out_console.print(f"{data['simulations']} simulations ({data['simulation_wall_time_s']:.1f} s)")
    for path in written:
        out_console.print(f"wrote {path}")


@app.command()
@_guarded
def chart(
    out: Annotated[Path, typer.Option("-o", "--out", help="the chart to write: OUT.png or OUT.svg")],
    file: Annotated[Path | None, typer.Argument(help="procedure file whose probe and cryogen to use")] = None,
    catalog: Annotated[str | None, typer.Option(help="catalog probe (see data/probes.toml)")] = None,
    gas: Annotated[str | None, typer.Option(help="n2o, ln2, argon or co2")] = None,
    diameter_mm: Annotated[float | None, typer.Option(help="outer diameter (with --gas)")] = None,
    gauge: Annotated[int | None, typer.Option(help="outer diameter as a needle gauge")] = None,
    times: Annotated[str, typer.Option(help="freezing times (s) whose isotherms to draw")] = "60,120,180",
    isotherms: Annotated[str, typer.Option(help="isotherms (°C)")] = "0,-20,-40",
    medium: Annotated[str, typer.Option(help="panels: gel, tissue (data/chart_media.toml)")] = "gel,tissue",
) -> None:
    """The vendor-style isotherm chart of a probe: its isotherms at chosen times, in a gel and in
    tissue, on a millimetre grid (simulated)."""
    from cryoplan.report import chart as isotherm_chart

    isotherm_chart.chart_format(out)
    when = isotherm_chart.parse_list("--times", times, True, 1, 3600)
    levels = isotherm_chart.parse_list("--isotherms", isotherms, False, -273, 0)
    pc, cc = _probe_sections(file, catalog, gas, diameter_mm, gauge, None, None, None, None)
    with Progress(TextColumn("simulating the chart's media"), TimeElapsedColumn(), console=err_console,
                  transient=True, disable=not err_console.is_terminal):
        panels = isotherm_chart.make(pc, cc, [m.strip() for m in medium.split(",")], when, levels, out)
    out_console.print(isotherm_chart.sizes_table(panels))
    for p in panels:
        for w in p["warnings"]:
            out_console.print(f"[yellow]warning[/yellow] ({p['title']}) {w}", highlight=False)
    out_console.print(f"wrote chart: {out}")


def _plan_table(data: dict) -> Table:
    p = data["plan"]
    table = Table(title=f"Plan: {data['anatomy']}")
    table.add_column("")
    table.add_column("value", justify="right")
    ci = data["block_probability_ci95"]
    rows = [
        ("entry (skin) mm", str(p["entry_mm"])), ("tip mm", str(p["tip_mm"])),
        ("direction (tip to hub)", str(p["direction_tip_to_hub"])),
        ("protocol", f"{p['cycles']} x {p['freeze_s']:g} s freeze, {p['thaw_s']:g} s passive thaw"),
        ("total freezing", f"{p['total_freeze_s']:g} s"),
        ("block probability", f"{data['block_probability']:.2f} (95 % CI {ci[0]:.2f}-{ci[1]:.2f}; "
                              f"required {data['required_block_probability']:g})"),
        ("grade 3 probability", f"{data['grade3_probability']:.3f}"),
        ("-20 °C ice ball", f"radius {data['ice_ball']['minus20_radius_mm']:.1f} mm, "
                           f"length {data['ice_ball']['minus20_length_mm']:.1f} mm"),
    ]
    for m in data["margins"]:
        dist = m["limit_isotherm_distance_mm"]
        where = f", {dist:.1f} mm from the {m['limit_c']:g} °C isotherm)" if dist is not None else ")"
        rows.append((f"{m['name']} (limit {m['limit_c']:g} °C)",
                     f"coldest {m['worst_min_c']:.1f} °C (margin {m['margin_k']:.1f} K{where}"))
    r = data["relief_months"]
    if r:
        rows.append(("expected relief",
                     f"median {r['median']:.0f} months (25-75 %: {r['p25']:.0f}-{r['p75']:.0f})"))
    for k in data["rigid_shift_check"]:
        rows.append((f"re-simulated {k['offset_mm']} mm off",
                     f"block probability {k['block_probability']} "
                     f"(Monte Carlo: {k['rigid_block_probability']}), coldest "
                     f"{k['min_temperature_c']:.1f} °C (Monte Carlo {k['rigid_min_temperature_c']:.1f})"))
    for label, value in rows:
        table.add_row(label, value)
    return table


@app.command()
@_guarded
def plan(
    file: Annotated[Path | None, typer.Argument(help="plan file (TOML, see docs/planning.md)")] = None,
    example: Annotated[bool, typer.Option("--example", help="plan the built-in L4 medial branch")] = False,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="write the plan JSON here ('-' for stdout)")] = None,
    export_dir: Annotated[Path | None, typer.Option(
        "--export", help="write labels and coldest temperatures (NIfTI, VTK) of the plan here")] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--report", help="write the HTML report here")] = None,
) -> None:
    """Choose the probe placement and freeze protocol: the least freezing that blocks the target
    with the required probability under placement error, safely. Exit 1 when no safe plan exists."""
    from cryoplan.planning import config as plan_config
    from cryoplan.planning.report import plan_json
    from cryoplan.planning.search import export
    from cryoplan.planning.search import plan as search

    if (file is None) == (not example):
        raise InputError("FILE", None if file is None else str(file),
                         "a plan file, or --example (not both)")
    if example:
        cfg, base = plan_config.parse(read_toml("plan-l4.toml")), Path(".")
    else:
        cfg, base = plan_config.load(file)
    piped = json_out is not None and str(json_out) == "-"
    with Progress(TextColumn("planning"), BarColumn(), TextColumn("{task.fields[level]}"),
                  TimeElapsedColumn(), console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task("plan", total=1.0, level="")
        result = search(cfg, base, lambda d, n, level: bar.update(task, completed=d / n, level=level))
    data = plan_json(result, cfg)
    if html_out is not None:
        from cryoplan.report.html import write_report

        write_report(data, html_out)
    if piped:
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
    elif json_out is not None:
        write_json(json_out, data)
    if export_dir is not None and result.chosen is not None:
        written = export(result, export_dir)
    else:
        written = []
    if not piped:
        if result.chosen is not None:
            out_console.print(_plan_table(data))
            for a in data["targets"]:
                for w in a["warnings"]:
                    out_console.print(f"[yellow]warning[/yellow] ({a['name']}): {w}")
        out_console.print(("why: " if result.chosen else "[red]") + data["why"])
        out_console.print(f"{len(data['candidates'])} candidates in {data['wall_time_s']:.0f} s")
        for path in [p for p in (json_out, html_out) if p is not None] + written:
            out_console.print(f"wrote {path}")
    if result.chosen is None:
        raise typer.Exit(1)


@app.command()
@_guarded
def report(
    result_json: Annotated[Path, typer.Argument(help="the JSON of cryoplan simulate or cryoplan plan")],
    out: Annotated[Path, typer.Option("-o", "--out", help="the HTML file to write")] = Path("report.html"),
) -> None:
    """Turn a result JSON into one self-contained HTML report (figures, inputs, warnings, sources)."""
    from cryoplan.report.html import load_result, write_report

    write_report(load_result(result_json), out)
    out_console.print(f"wrote report: {out}")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
@_guarded
def serve(
    host: Annotated[str, typer.Option(help="address to listen on (default: loopback only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="runs and the default registry live here")] = Path(
        "cryoplan-data"),
    token: Annotated[str | None, typer.Option(
        help="required on every request; made up and printed when HOST is not loopback")] = None,
    registry: Annotated[str | None, typer.Option(help="registry database URL")] = None,
    workers: Annotated[int, typer.Option(help="runs executed at once")] = 1,
) -> None:
    """The local web planner: pick a template or upload a file, run it, see the report, record
    outcomes."""
    import secrets

    import uvicorn

    from cryoplan.web.app import create_app

    if not 1 <= port <= 65535:
        raise InputError("--port", port, "1-65535")
    if workers < 1:
        raise InputError("--workers", workers, "an integer >= 1")
    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(24)
    web = create_app(data_dir, token=token, registry_url=registry, workers=workers)
    shown = f"[{host}]" if ":" in host else host
    out_console.print(f"cryoplan web planner: http://{shown}:{port}/" + (f"?token={token}" if token else ""))
    uvicorn.run(web, host=host, port=port, log_level="warning")


from cryoplan.store.cli import registry_app  # noqa: E402 (after the app it joins)

app.add_typer(registry_app, name="registry")


def main() -> None:  # pragma: no cover
    app()


_ = isotherm_key  # re-exported for scripts that format isotherm keys like the JSON
