"""The ``cryoplan`` command line: demo, simulate, probe, plan, ct, report, serve, registry, sweep.

Every command goes through ``cryoplan.service``: the file is validated, the run's cost is
estimated and refused over the limits (``--allow-large`` lifts them), the outputs are checked to
be writable before the run and written all or none after it. Bad input prints one line naming
the field, the value and what is allowed, exits with 2 and writes nothing. Text from files
(names) is printed as it is, never read as markup. The physics, CoolProp and the report's
libraries are imported only by the commands that use them, so ``--help`` answers at once.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cryoplan import __version__
from cryoplan.anatomy.frame import approach_text
from cryoplan.atomic import check_writable, write_json
from cryoplan.errors import InputError, exit_on_input_error
from cryoplan.progress import clock, eta
from cryoplan.report.plan_rows import probe_rows, relief_text
from cryoplan.report.reading import load_result, reading_result
from cryoplan.sweep import cluster

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from cryoplan.progress import Progress
    from cryoplan.service import Ran


def _version(value: bool) -> None:
    if value:
        print(f"cryoplan {__version__}")
        raise typer.Exit()


# An unexpected error's traceback shows no local variables (they could hold a database password).
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_show_locals=False,
                  help="Simulate and plan percutaneous cryoneurolysis.")


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="print the version and exit")] = False) -> None:
    """Simulate and plan percutaneous cryoneurolysis."""


_guarded = exit_on_input_error
ALLOW_LARGE = Annotated[bool, typer.Option(
    "--allow-large", help="run even when the estimated cells, memory or time exceed the limits "
                          "(docs/config.md)")]


def _console(stderr: bool = False) -> Console:
    """A console that prints text as it is: no markup, no emoji codes, no highlighting."""
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


def _progress_bar(console: Console):
    """A labelled progress bar: the phase and its count, the whole run's share, the time so far
    and the time left (an upper bound for plans, marked "at most")."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(bar_width=20), TaskProgressColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[left]}"), console=console, transient=True)


def _run(job, show: bool, executor=None) -> Ran:
    """Run a prepared job, with a progress bar on a terminal."""
    from cryoplan import service  # the command line starts fast: numba, CoolProp, plotly per command

    if not show:
        return service.run(job, executor=executor)
    err = _console(stderr=True)
    start = time.monotonic()
    with _progress_bar(err) as bar:
        task = bar.add_task("starting", total=1.0, left="")

        def report(p: Progress) -> None:
            left = eta(p, time.monotonic() - start)
            text = "" if left is None else ("at most " if p.at_most else "about ") + clock(left) + " left"
            bar.update(task, completed=p.fraction, description=p.text(), left=text)

        return service.run(job, report, executor)


def _prepare(kind: str, data: dict, allow_large: bool, outputs, base: Path | str = "."):
    """Validate and bound the input and check its outputs, before anything runs."""
    from cryoplan import service  # the command line starts fast: numba, CoolProp, plotly per command

    job = service.prepare(kind, data, base=base, allow_large=allow_large)  # type: ignore[arg-type]
    outputs.check()
    return job


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _summary(data: dict) -> Table:
    """The ice ball at the end of each phase: one row per isotherm (fits 80 columns)."""
    from rich import box
    from rich.table import Table

    axisymmetric = data["geometry"] in ("axisymmetric", "3d")  # a length along the probe
    table = Table(title="Ice ball at the end of each phase", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("phase", "t s", "tip °C", "isotherm", "radius mm", "length mm", "volume ml"):
        if col != "length mm" or axisymmetric:
            table.add_column(col, justify="left" if col == "phase" else "right", overflow="fold")
    times, phases = data["iceball"]["times_s"], data["probe"]["phase"]
    tips = data["probe"]["tip_temperature_c"]
    iso = data["iceball"]["isotherms"]
    ends = [k for k in range(1, len(times)) if k == len(times) - 1 or phases[k + 1] != phases[k]]
    for k in ends:
        for n, key in enumerate(sorted(iso, key=float, reverse=True)):
            s = iso[key]
            row = [phases[k] if n == 0 else "", f"{times[k]:.0f}" if n == 0 else "",
                   _fmt(tips[k]) if n == 0 else "", f"{float(key):g} °C", _fmt(s["radius_mm"][k], 2)]
            if axisymmetric:
                row.append(_fmt(s["length_mm"][k], 2))
            row.append(_fmt(s["volume_ml"][k], 3))
            table.add_row(*row)
    return table


def _nerve_table(nerves: list[dict]) -> Table:
    """One row per nerve: its name and what happened to it (two folding columns fit any width)."""
    from rich import box
    from rich.table import Table

    table = Table(title="Nerves", box=box.SIMPLE_HEAD, pad_edge=False, show_header=False)
    table.add_column("nerve", overflow="fold", ratio=1)
    table.add_column("injury", overflow="fold", ratio=3)
    for n in nerves:
        grade = n["sunderland_grade"]
        table.add_row(n["name"], f"Sunderland grade {grade} ({n['grade_name']}), block probability "
                                 f"{n['block_probability']:.2f} (block temperature "
                                 f"{_fmt(n['block_temperature_c'])} °C), "
                                 f"below -20 °C over {_fmt(n['blocked_length_mm'])} mm, coldest "
                                 f"{_fmt(n['min_temperature_c'], 0)} °C, "
                                 + ("reversible" if n["reversible"] else "NOT reversible (grade 3 risk)"))
    return table


def _print_warnings(out: Console, ran: Ran) -> None:
    from rich.text import Text

    for w in ran.warnings:
        about = f" ({w['about']})" if w.get("about") else ""
        out.print(Text.assemble(("warning", "yellow"), f" [{w['code']}]{about}: {w['message']}"))


def _print_simulation(out: Console, ran: Ran) -> None:
    data = ran.data
    out.print(_summary(data))
    if len(data.get("probes") or []) > 1:  # 3D: the first probe's radius above, the union's volume
        for p in data["probes"]:
            sizes = ", ".join(f"{k} °C {max((r for r in v['radius_mm'] if r is not None), default=0):.2f} mm"
                              for k, v in p["isotherms"].items())
            out.print(f"{p['name']} at {p['tip_mm']} mm, largest radius from its axis: {sizes}")
    if data["nerves"]:
        out.print(_nerve_table(data["nerves"]))
        for n in data["nerves"]:
            out.print(f"{n['name']}: block {n['block_reason']}")
            out.print(f"{n['name']}: {n['mechanism']}")
    o = data.get("outcome")
    if o is not None:
        if o["relief_months"] is None:
            out.print(f"relief: {o['note']}")
        else:
            r = o["relief_months"]
            share = 100 * o["retreat_at_probability"]
            out.print(f"expected relief once blocked (block probability {o['block_probability']:.2f}): "
                      f"{relief_text(r)}, regrowth floor {r['regrowth_floor_months']:.1f} months; plan "
                      f"re-treatment after {o['retreat_after_months']:.0f} months (when {share:.0f} % would "
                      f"have pain again); patient factors: {', '.join(r['patient_factors'])}; model: "
                      f"{o['model']} (docs/injury.md)")
    c = data.get("cryogen")
    if c is not None:
        out.print(f"cryogen {c['gas']}: {c['mass_flow_g_per_s']:.3g} g/s ({c['standard_flow_l_per_min']:.3g} "
                  f"standard L/min), tip {c['tip_pressure_bar']:.2f} bar, enters at "
                  f"{c['inlet_temperature_c']:.1f} °C; boiling capacity {c['latent_capacity_w']:.1f} W")
    s = data["solver"]
    explicit_ms = s["time_step_s"] * 1e3
    steps = (f"RKL2 steps of up to {s['max_step_s']:g} s, {s['stages']} stages (explicit limit "
             f"{explicit_ms:.2f} ms)" if s["stages"] > 1 else f"explicit steps of {explicit_ms:.2f} ms")
    out.print(f"solved {s['cells']} cells, {steps}, {s['wall_time_s']:.1f} s; energy balance error "
              f"{s['energy_balance_error']:.1e}")
    _print_warnings(out, ran)


def _print_written(out: Console, written: list[Path]) -> None:
    for path in written:
        out.print(f"wrote {path}")


def _finish(ran: Ran, outputs, json_out: Path | None, printer) -> list[Path]:
    """Write the outputs (all or none), then tell the user: the JSON alone on stdout with
    ``--json -``, else the tables, the warnings and the files written."""
    from cryoplan import service  # the command line starts fast: numba, CoolProp, plotly per command

    piped = json_out is not None and str(json_out) == "-"
    written = service.write(ran, outputs)
    if piped:
        sys.stdout.write(json.dumps(ran.data, indent=1, allow_nan=False) + "\n")
        return written
    out = _console()
    printer(out, ran)
    _print_written(out, written)
    return written


def _outputs(json_out: Path | None, **paths: Path | None):
    from cryoplan.service import Outputs  # the command line starts fast: numba, CoolProp, plotly per command

    return Outputs(json=None if json_out is None or str(json_out) == "-" else json_out, **paths)


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
    allow_large: ALLOW_LARGE = False,
) -> None:
    """Simulate the ice ball of one probe, or of several in a 3D file, through a freeze/thaw protocol."""
    from cryoplan import service  # the command line starts fast: numba, CoolProp, plotly per command

    outputs = _outputs(json_out, plot=plot_out, report=html_out)
    job = _prepare("simulation", service.read_file(file), allow_large, outputs, base=file.parent)
    if plot_out is not None and job.config.grid.geometry == "3d":  # refused, not silently skipped
        raise InputError("--plot", str(plot_out), "nothing for a 3d run: its report (--report) draws "
                         "three planes through the probes")
    piped = json_out is not None and str(json_out) == "-"
    ran = _run(job, show=_console(stderr=True).is_terminal and not piped)
    _finish(ran, outputs, json_out, _print_simulation)


@app.command()
@_guarded
def demo(
    out_dir: Annotated[Path, typer.Option(help="folder for cryoplan-demo.json, .png and .html")] = Path("."),
) -> None:
    """Run the built-in example: 2.0 mm N2O probe, 12 G cannula, muscle, 2 x 2 min freezes."""
    from cryoplan import service  # the command line starts fast: numba, CoolProp, plotly per command

    outputs = _outputs(out_dir / "cryoplan-demo.json", plot=out_dir / "cryoplan-demo.png",
                       report=out_dir / "cryoplan-demo.html")
    job = _prepare("simulation", service.builtin("demo")[1], False, outputs)
    _console().print("cryoplan demo: 2.0 mm N2O probe through a 12 G cannula in muscle, freeze 120 s / "
                     "passive thaw 30 s / freeze 120 s, a lumbar medial branch crossing the active tip "
                     "2 mm from the probe axis")
    ran = _run(job, show=_console(stderr=True).is_terminal)
    _finish(ran, outputs, None, _print_simulation)


def _probe_sections(file: Path | None, catalog: str | None, gas: str | None, diameter_mm: float | None,
                    gauge: int | None, active_length_mm: float | None, supply_pressure_bar: float | None,
                    supply_temperature_c: float | None, back_pressure_bar: float | None):
    """[probe] and [cryogen] from a procedure file, with the options on top (validated by the
    same schema and probe rules as the file)."""
    from cryoplan import config, rules  # the command line starts fast: CoolProp, numba per command

    data = config.read_toml_file(file) if file is not None else {}
    options = {("probe", "catalog"): catalog, ("probe", "diameter_mm"): diameter_mm,
               ("probe", "gauge"): gauge,
               ("probe", "active_length_mm"): active_length_mm, ("cryogen", "gas"): gas,
               ("cryogen", "supply_pressure_bar"): supply_pressure_bar,
               ("cryogen", "supply_temperature_c"): supply_temperature_c,
               ("cryogen", "back_pressure_bar"): back_pressure_bar}
    sections = {"probe": dict(data.get("probe", {})), "cryogen": dict(data.get("cryogen", {}))}
    for (section, key), value in options.items():
        if value is not None:
            sections[section][key] = value
    if sections["probe"].get("diameter_mm") is not None or sections["probe"].get("gauge") is not None:
        sections["probe"].setdefault("active_length_mm", 6.0)
    try:
        parsed = config.parse_sections(sections)
        rules.check_probe(parsed.probe, parsed.cryogen, needs_length=False)
    except InputError as err:  # a bad option is named as the user typed it
        section, _, key = err.field.partition(".")
        if options.get((section, key)) is None:
            raise
        raise InputError("--" + key.replace("_", "-"), err.value, err.allowed) from None
    return parsed.probe, parsed.cryogen


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
    from cryoplan import resolve  # the command line starts fast: CoolProp, numba per command
    from cryoplan.cryogen.summary import operating_json, operating_rows, operating_warnings  # CoolProp

    pc, cc = _probe_sections(file, catalog, gas, diameter_mm, gauge, active_length_mm, supply_pressure_bar,
                             supply_temperature_c, back_pressure_bar)
    if pc.boundary != "cryogen":
        raise InputError("probe.boundary", pc.boundary, '"cryogen" (a fixed-temperature probe has no gas)')
    if json_out is not None and str(json_out) != "-":
        check_writable("--json", json_out)
    _, op = resolve.probe(pc, cc)
    assert op is not None
    data = {**operating_json(op), "warnings": [w.as_json() for w in operating_warnings(op)]}
    if json_out is not None and str(json_out) == "-":
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
        return
    if json_out is not None:
        write_json(json_out, data)
    from rich import box
    from rich.table import Table

    table = Table(title=f"{pc.catalog or 'probe'} on its console", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("")
    table.add_column("value", overflow="fold")
    for label, value in operating_rows(data):
        table.add_row(label, value)
    _console().print(table)


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
    allow_large: ALLOW_LARGE = False,
) -> None:
    """Fit a probe's unknown internals to a bench test and write its catalog entry."""
    from rich.progress import Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from cryoplan.calibrate import calibrate as run_calibration  # the command line starts fast: matplotlib
    from cryoplan.calibrate.output import tables  # the same (the service's physics, matplotlib)

    piped = json_out is not None and str(json_out) == "-"
    err, out = _console(stderr=True), _console()
    with Progress(TextColumn("calibrating: {task.completed} simulations"), TimeElapsedColumn(),
                  console=err, transient=True, disable=piped or not err.is_terminal) as bar:
        task = bar.add_task("fit", total=None)
        data, written = run_calibration(file, out_dir, name, bootstrap, json_out,
                                        lambda n: bar.update(task, completed=n), allow_large)
    if piped:
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
        return
    for table in tables(data):
        out.print(table)
    for w in data["warnings"]:
        out.print(Text.assemble(("warning", "yellow"), f" (fitted probe) [{w['code']}]: {w['message']}"))
    out.print(f"{data['simulations']} simulations ({data['simulation_wall_time_s']:.1f} s)")
    for path in written:
        out.print(f"wrote {path}")


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
    from cryoplan import isotherm_chart  # the command line starts fast: the service, matplotlib

    isotherm_chart.chart_format(out)
    when = isotherm_chart.parse_list("--times", times, True, 1, 3600)
    levels = isotherm_chart.parse_list("--isotherms", isotherms, False, -273, 0)
    pc, cc = _probe_sections(file, catalog, gas, diameter_mm, gauge, None, None, None, None)
    from rich.progress import Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    err, out_console = _console(stderr=True), _console()
    with Progress(TextColumn("simulating the chart's media"), TimeElapsedColumn(), console=err,
                  transient=True, disable=not err.is_terminal):
        panels = isotherm_chart.make(pc, cc, [m.strip() for m in medium.split(",")], when, levels, out)
    out_console.print(isotherm_chart.sizes_table(panels))
    for p in panels:
        for w in p["warnings"]:
            out_console.print(Text.assemble(("warning", "yellow"), f" ({p['title']}) {w}"))
    out_console.print(f"wrote chart: {out}")


def _plan_table(data: dict) -> Table:
    from rich import box
    from rich.table import Table

    p = data["plan"]
    table = Table(title=f"Plan: {data['anatomy']}", box=box.SIMPLE_HEAD, pad_edge=False, show_header=False)
    table.add_column("", overflow="fold", ratio=2)
    table.add_column("", overflow="fold", ratio=3)
    ci = data["block_probability_ci95"]
    rows = probe_rows(p, "probe {k} ")
    rows += [
        ("protocol", f"{p['cycles']} x {p['freeze_seconds']:g} s freeze, "
                     f"{p['thaw_seconds']:g} s passive thaw"),
        ("total freezing", f"{p['total_freeze_seconds']:g} s"),
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
    if data["relief_months"]:
        rows.append(("expected relief", relief_text(data["relief_months"])))
    a = data["approximation"]
    diff = a["chosen_difference"]
    rows.append(("screening", f"{a['screened']} placements screened, {a['simulated']} simulated in 3D"
                 + ("" if diff is None else
                    f"; the plan screened at {a['chosen_screened_block_probability']:.3f}, "
                    f"simulated {data['block_probability']:.3f} ({diff:+.3f})")))
    for k in data["rigid_shift_check"]:
        if k["min_temperature_c"] is None:
            rows.append((f"re-simulated {k['offset_mm']} mm off", f"not simulated: {k['not_simulated']}"))
            continue
        rows.append((f"re-simulated {k['offset_mm']} mm off",
                     f"block probability {k['block_probability']} "
                     f"(Monte Carlo: {k['rigid_block_probability']}), coldest "
                     f"{k['min_temperature_c']:.1f} °C (Monte Carlo {k['rigid_min_temperature_c']:.1f})"))
    for label, value in rows:
        table.add_row(label, str(value))
    return table


def _session_table(data: dict) -> Table:
    """One row per target of a session: its probes, protocol, probability and closest margin."""
    from rich import box
    from rich.table import Table

    s = data["session"]
    table = Table(title=f"Session: {s['planned']} of {s['targets']} targets planned",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("target", "probes", "protocol", "block p", "closest margin"):
        table.add_column(col, overflow="fold")
    for t in data["plans"]:
        if t["status"] != "plan":
            table.add_row(t["name"], "-", "no safe plan", "-", "-")
            continue
        p = t["plan"]
        worst = min(t["margins"], key=lambda m: m["margin_k"], default=None)
        margin = "-" if worst is None else f"{worst['name']} {worst['margin_k']:.1f} K"
        table.add_row(t["name"], str(len(p["probes"])), f"{p['cycles']} x {p['freeze_seconds']:g} s",
                      f"{t['block_probability']:.2f}", margin)
    return table


def _print_plan(out: Console, ran: Ran) -> None:
    data = ran.data
    if len(data.get("plans", [])) > 1:
        s = data["session"]
        out.print(_session_table(data))
        out.print(f"order: {', '.join(s['order'])}; total freezing {s['total_freeze_seconds']:g} s "
                  f"({s['total_protocol_seconds']:g} s with thaws); {s['probe_insertions']} insertions of "
                  f"{s['probe']} (at most {s['most_probes_at_once']} at once), "
                  f"{s['gas_g']:g} g of {s['gas']}; "
                  f"expected targets blocked {s['expected_targets_blocked']:g}")
        for t in data["plans"]:
            out.print(f"{t['name']}: {t['why']}")
            for k, probe in enumerate(t["plan"]["probes"] if t["status"] == "plan" else []):
                if probe.get("approach"):
                    out.print(f"  probe {k + 1}: {approach_text(probe['approach'])}")
        n = sum(len(t["candidates"]) for t in data["plans"])
        out.print(f"{n} candidates in {data['wall_time_s']:.0f} s")
    else:
        if data["status"] == "plan":
            out.print(_plan_table(data))
            out.print("why: " + data["why"])
        out.print(f"{len(data['candidates'])} candidates in {data['wall_time_s']:.0f} s")
    _print_warnings(out, ran)


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
    allow_large: ALLOW_LARGE = False,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", envvar="DASK_SCHEDULER_ADDRESS", show_envvar=True,
        help="simulate the candidates on this dask cluster (tcp://HOST:PORT or a scheduler file) instead of "
             "this machine's cores: the same plan")] = None,
    ct: Annotated[Path | None, typer.Option(
        "--ct", help="plan on this patient's CT (a DICOM folder, a zip of one, or a NIfTI file): the levels "
                     "and targets found on it (docs/ct.md), with FILE's probe and constraints (default: the "
                     "example's)")] = None,
    lowest: Annotated[str | None, typer.Option(
        help="with --ct: the lowest vertebra's level (e.g. L5) if known, else counted from the sacrum",
    )] = None,
    levels: Annotated[str | None, typer.Option(
        help="with --ct: the medial branches to treat, e.g. L3,L4 (default: FILE's, or L4)")] = None,
    sides: Annotated[str | None, typer.Option(
        help="with --ct: left, right or left,right (default: both)")] = None,
    corrections: Annotated[Path | None, typer.Option(
        help="with --ct: a corrections file of its survey (TOML, docs/ct.md)")] = None,
) -> None:
    """Choose the probe placements and freeze protocols of a session: for each target the least
    freezing that blocks it with the required probability under placement error, safely (one
    probe, or two). Exit 1 when a target has no safe plan."""
    from cryoplan import service  # the command line starts fast: numba, CoolProp, plotly per command

    if file is not None and example:
        raise InputError("FILE", str(file), "a plan file, or --example (not both)")
    if file is None and not example and ct is None:
        raise InputError("FILE", None, "a plan file, --example, or --ct CT")
    data = service.read_file(file) if file is not None else service.builtin("plan-l4")[1]
    if ct is not None:
        data = _on_ct(data, ct, lowest, levels, sides, corrections)
    else:
        for name, value in (("--lowest", lowest), ("--levels", levels), ("--sides", sides),
                            ("--corrections", corrections)):
            if value is not None:
                raise InputError(name, value, "only with --ct")
    outputs = _outputs(json_out, report=html_out, export_dir=export_dir)
    job = _prepare("plan", data, allow_large, outputs, base=Path(".") if file is None else file.parent)
    piped = json_out is not None and str(json_out) == "-"
    with cluster.executor(scheduler) as on_cluster:
        ran = _run(job, show=_console(stderr=True).is_terminal and not piped, executor=on_cluster)
    _finish(ran, outputs, json_out, _print_plan)
    if ran.data["status"] != "plan":
        raise typer.Exit(1)


def _on_ct(data: dict, ct: Path, lowest: str | None, levels: str | None, sides: str | None,
           corrections: Path | None = None) -> dict:
    """A plan's data with its anatomy on the patient's CT (``service.on_ct``), its levels, sides
    and voxel size kept unless given."""
    from cryoplan import service  # the command line starts fast: numba, CoolProp, plotly per command

    data = service.on_ct("plan", data, ct.absolute())
    anatomy = data["anatomy"]
    if corrections is not None:
        anatomy["corrections"] = str(corrections.absolute())
    for key, value in (("lowest", lowest), ("levels", levels), ("sides", sides)):
        if value is None:
            continue
        if key == "lowest":
            anatomy[key] = value
        else:
            anatomy.pop(key[:-1], None)  # level or side: replaced by the list
            anatomy[key] = [v.strip() for v in value.split(",")]
    return data


@app.command()
@_guarded
def report(
    result_json: Annotated[Path, typer.Argument(help="the JSON of cryoplan simulate or cryoplan plan")],
    out: Annotated[Path, typer.Option("-o", "--out", help="the HTML file to write")] = Path("report.html"),
) -> None:
    """Turn a result JSON into one self-contained HTML report (figures, inputs, warnings, sources)."""
    data = load_result(result_json)
    check_writable("--out", out)
    from cryoplan.report.html import write_report  # the command line starts fast: plotly, matplotlib

    with reading_result(result_json):
        write_report(data, out)
    _console().print(f"wrote {out}")


LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Shortest token ``serve`` accepts (a made-up one is 32 characters).
MIN_TOKEN = 16


@app.command()
@_guarded
def serve(
    host: Annotated[str, typer.Option(help="address to listen on (default: loopback only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="runs and the default registry live here")] = Path(
        "cryoplan-data"),
    token: Annotated[str | None, typer.Option(
        help=f"required on every request, at least {MIN_TOKEN} characters; made up and printed when "
             "HOST is not loopback")] = None,
    registry: Annotated[str | None, typer.Option(help="registry database URL")] = None,
    workers: Annotated[int, typer.Option(help="runs executed at once, each in its own process")] = 1,
    plan_workers: Annotated[int, typer.Option(
        help="worker processes of each plan (0: one per core); an upload cannot set them")] = 0,
    max_ct_mb: Annotated[int, typer.Option(help="largest CT upload (MiB)")] = 512,
) -> None:
    """The local web planner: pick a template or upload a file, run it, see the report, record
    outcomes."""
    import secrets

    if not 1 <= port <= 65535:
        raise InputError("--port", port, "1-65535")
    if not 1 <= workers <= 64:
        raise InputError("--workers", workers, "an integer from 1 to 64")
    if not 0 <= plan_workers <= 256:
        raise InputError("--plan-workers", plan_workers, "an integer from 0 (one per core) to 256")
    if not 1 <= max_ct_mb <= 4096:
        raise InputError("--max-ct-mb", max_ct_mb, "an integer from 1 to 4096 (the CT reader's limit: 4 GiB)")
    if token is not None and (len(token) < MIN_TOKEN or not token.isprintable() or " " in token):
        raise InputError("--token", "(the token given)",
                         f"at least {MIN_TOKEN} printable characters, no spaces")
    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(24)
    import uvicorn

    from cryoplan.web.app import create_app  # the command line starts fast: FastAPI, the service

    web = create_app(data_dir, token=token, registry_url=registry, workers=workers, plan_workers=plan_workers,
                     max_ct_bytes=max_ct_mb * 2**20)
    shown = f"[{host}]" if ":" in host else host
    _console().print(f"cryoplan web planner: http://{shown}:{port}/" + (f"?token={token}" if token else ""))
    uvicorn.run(web, host=host, port=port, log_level="warning")


from cryoplan.registry_commands import registry_app  # noqa: E402 (after the app it joins)

app.add_typer(registry_app, name="registry")

from cryoplan.sweep.commands import sweep_app  # noqa: E402

app.add_typer(sweep_app, name="sweep")


def main() -> None:  # pragma: no cover
    """The ``cryoplan`` console script: the command, then an exit that does not walk the heap
    again (the interpreter's last collection skips what ``gc.freeze`` set aside: 0.15 s for the
    demo's 256,000 objects, more after a plan)."""
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()


@app.command()
@_guarded
def ct(
    scan: Annotated[Path, typer.Argument(help="the CT: a DICOM folder, a zip of one, or a NIfTI file")],
    lowest: Annotated[str | None, typer.Option(
        help="the lowest vertebra's level (e.g. L4), if known; else counted up from the sacrum")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write JSON here ('-' for stdout)")] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--report", help="write the QC report here (HTML: the levels and targets drawn on the CT)")] = None,
    export_dir: Annotated[Path | None, typer.Option(
        "--export", help="write the vertebrae, tissues (NIfTI) and targets (Slicer markups) here")] = None,
    corrections: Annotated[Path | None, typer.Option(
        help="a corrections file (TOML, docs/ct.md): levels renamed, targets moved by hand")] = None,
) -> None:
    """Find the vertebrae and the lumbar medial branch targets on a patient's CT (RAS+ mm)."""
    from cryoplan import service  # the command line starts fast: numba, CoolProp, plotly per command

    outputs = _outputs(json_out, report=html_out, export_dir=export_dir)
    data, _ = service.survey_ct(scan, lowest, outputs, corrections)
    if json_out is not None and str(json_out) == "-":
        sys.stdout.write(json.dumps(data, indent=1) + "\n")
        return
    _console().print(_ct_table(data))
    for w in data["warnings"]:
        _console(stderr=True).print(f"warning [{w['code']}]: {w['message']}")
    for path in (json_out, html_out, export_dir):
        if path is not None:
            _console().print(f"wrote {path}")


def _ct_table(data: dict) -> Table:
    """The levels found and each target's point (RAS+ mm) and confidence."""
    from rich import box
    from rich.table import Table

    table = Table(title=f"Levels and targets (RAS+ mm) on {data['ct']}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("level", "nerve", "side", "on", "point mm", "confidence"):
        table.add_column(col, overflow="fold")
    for lv in data["levels"]:
        if not lv["targets"]:
            table.add_row(lv["name"], "-", "", "", "", "")
        for k, t in enumerate(lv["targets"]):
            table.add_row(lv["name"] if k == 0 else "", t["nerve"], t["side"], t["bone"],
                          ", ".join(f"{x:.1f}" for x in t["point_mm"]), f"{t['confidence']:.2f}")
    return table
