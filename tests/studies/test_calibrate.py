"""cryoplan calibrate: synthetic bench data made by cryoplan from a known probe, noise added, the
probe's unknowns fitted back from a perturbed start and recovered within their stated
uncertainty; the written catalog entry reproduces the fitted ice ball; fits the data cannot
determine are refused naming the key; bad files give one line and exit 2 with nothing written."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from cryoplan import config, procedure
from cryoplan.calibrate import calibrate, least_squares, spec
from cryoplan.calibrate.least_squares import NotDetermined
from cryoplan.calibrate.output import write_outputs
from cryoplan.calibrate.spec import set_key
from cryoplan.calibrate.values import value_text
from cryoplan.case import build
from cryoplan.catalog import read_catalog_file
from cryoplan.cli import app
from cryoplan.errors import InputError

runner = CliRunner()

#: A bench: the 2.0 mm N2O probe placed directly in a 20 °C unperfused medium, 60 s freeze.
GEL = {"type": "muscle", "perfusion_per_s": 0.0, "metabolic_w_per_m3": 0.0,
       "initial_temperature_c": 20.0, "arterial_temperature_c": 20.0}


def bench(geometry: str = "radial", **probe) -> dict:
    spacing = 0.25 if geometry == "radial" else 0.5
    return {"probe": {"catalog": "n2o-2.0mm", "cannula_gauge": "none", **probe}, "tissue": dict(GEL),
            "protocol": {"phases": [{"kind": "freeze", "seconds": 60}]},
            "grid": {"geometry": geometry, "spacing_mm": spacing, "extent_mm": 20.0, "growth": 1.1,
                     "uniform_extent_mm": 10.0}}


def truth_run(setup: dict, truth: dict[str, float], points=None) -> procedure.Result:
    d = copy.deepcopy(setup)
    for key, value in truth.items():
        set_key(d, key, value)
    d["output"] = {"isotherms_c": [0.0, -20.0]}
    if points:
        d["output"]["points_mm"] = points
    return procedure.run(build(config.parse(d)))


def sizes_csv(result: procedure.Result, noise_mm: float, seed: int, lengths: bool) -> str:
    rng, th = np.random.default_rng(seed), result.thermal
    head = "time_s,isotherm_c,width_mm,width_sd_mm" + (",length_mm,length_sd_mm" if lengths else "")
    rows = ["# synthetic bench: cryoplan's own ice ball plus Gaussian noise", head]
    for t in range(10, 61, 10):
        k = int(np.argmin(np.abs(th.times - t)))
        for iso in (0.0, -20.0):
            s = th.isotherms[iso + 273.15]
            row = f"{t},{iso:g},{2e3 * s.radius[k] + rng.normal(0, noise_mm):.4f},{noise_mm}"
            if lengths:
                row += f",{1e3 * s.length[k] + rng.normal(0, noise_mm):.4f},{noise_mm}"
            rows.append(row)
    return "\n".join(rows) + "\n"


def thermocouple_csv(result: procedure.Result, noise_c: float, seed: int) -> str:
    rng, th = np.random.default_rng(seed), result.thermal
    rows = ["time_s,r_mm,z_mm,temperature_c,temperature_sd_c"]
    for k, (r, z) in enumerate(result.case.problem.sample_points * 1e3):
        for t in range(5, 61, 5):
            i = int(np.argmin(np.abs(th.times - t)))
            rows.append(f"{t},{r:g},{'' if result.case.problem.grid.geometry == 'radial' else z},"
                        f"{th.samples[i, k] - 273.15 + rng.normal(0, noise_c):.3f},{noise_c}")
    return "\n".join(rows) + "\n"


def write_calibration(tmp_path: Path, setup: dict, unknowns: list[dict], **data_files: str) -> Path:
    data = {}
    for kind, text in data_files.items():
        (tmp_path / f"{kind}.csv").write_text(text)
        data[kind] = f"{kind}.csv"
    path = tmp_path / "bench.toml"
    path.write_text(tomli_w.dumps({**setup, "unknown": unknowns, "data": data}))
    return path


HTM = {"key": "probe.heat_transfer_multiplier", "initial": 1.0, "lower": 0.05, "upper": 20.0, "log": True}
FLOW = {"key": "probe.mass_flow_g_per_s", "initial": 0.05, "lower": 0.005, "upper": 1.0, "log": True}


def assert_recovered(result: least_squares.Fit, truth: list[float]) -> None:
    """Within two of its standard deviations (the 95 % interval), and the SD small enough to mean
    something."""
    for u, value, sd, true in zip(result.cal.unknowns, result.values, result.sd, truth, strict=True):
        assert abs(value - true) < 2 * sd, (u.key, value, sd, true)
        assert sd < 0.25 * true, (u.key, sd)


def test_two_unknowns_recovered_and_the_entry_reproduces_the_ice_ball(tmp_path):
    """Axisymmetric bench, widths and lengths of the 0 and -20 °C isotherms with 0.1 mm noise;
    flow and inside heat transfer fitted from twice / 2.5 x their true values."""
    setup, truth = bench("axisymmetric"), {FLOW["key"]: 0.025, HTM["key"]: 0.4}
    csv = sizes_csv(truth_run(setup, truth), 0.1, seed=1, lengths=True)
    path = write_calibration(tmp_path, setup, [FLOW, HTM], isotherms=csv)
    cal = spec.load(path)
    result = least_squares.fit(cal)
    assert_recovered(result, list(truth.values()))
    assert abs(result.correlation[0, 1]) < 0.99 and result.reduced_chi2 < 3

    data, written = write_outputs(result, tmp_path / "out", None)
    entry_file = tmp_path / "out" / "bench-probe.toml"
    assert set(written) == {entry_file, tmp_path / "out" / "bench-probe-fit.png",
                            tmp_path / "out" / "bench-probe-fit.json"}
    entry = read_catalog_file(entry_file)["bench-probe"]
    assert entry.keys.mass_flow_g_per_s == pytest.approx(result.values[0], rel=1e-12)
    assert "calibrated by cryoplan calibrate from bench.toml" in entry.sources["mass_flow"]
    assert value_text(result.values[0], result.sd[0], FLOW["key"]) in entry.sources["mass_flow"]
    assert data["unknowns"][0]["sd"] == pytest.approx(result.sd[0])
    # the entry alone (no fitted keys in the file) reproduces the fitted ice ball
    again = copy.deepcopy(setup)
    again["probe"] = {"catalog_file": str(entry_file), "catalog": "bench-probe", "cannula_gauge": "none"}
    again["output"] = {"isotherms_c": [0.0, -20.0]}
    again["grid"]["max_step_s"] = 0.0  # the fit's forward-Euler steps (Calibration.with_values)
    reproduced = procedure.run(build(config.parse(again)))
    from cryoplan.calibrate.model import predict

    assert np.allclose(predict(reproduced, cal.data), result.predicted, rtol=0, atol=1e-9)
    saved = json.loads((tmp_path / "out" / "bench-probe-fit.json").read_text())
    assert [r["model"] for r in saved["residuals"]] == pytest.approx(result.predicted, abs=1e-5)


def test_thermocouples_recovered_in_radial_geometry(tmp_path):
    setup, truth = bench("radial"), {HTM["key"]: 0.4}
    run = truth_run(setup, truth, points=[[2.0, 0.0], [3.5, 0.0], [5.0, 0.0]])
    path = write_calibration(tmp_path, setup, [HTM], thermocouples=thermocouple_csv(run, 0.5, seed=2))
    result = least_squares.fit(spec.load(path))
    assert_recovered(result, [0.4])
    assert len(result.cal.data) == 36 and result.cal.data.weighted


def test_bootstrap_is_seeded_and_agrees_with_the_jacobian(tmp_path):
    setup = bench("radial")
    csv = sizes_csv(truth_run(setup, {HTM["key"]: 0.4}), 0.1, seed=3, lengths=False)
    cal = spec.load(write_calibration(tmp_path, setup, [HTM], isotherms=csv))
    a, b = least_squares.fit(cal, bootstrap=6), least_squares.fit(cal, bootstrap=2)
    assert np.array_equal(a.bootstrap.samples[:2], b.bootstrap.samples)  # the same draws, in order
    print(f"bootstrap: {a.simulations} simulations; sd {a.bootstrap.sd[0]:.4f} against {a.sd[0]:.4f}")
    assert 1 / 3 < a.bootstrap.sd[0] / a.sd[0] < 3
    lo, hi = a.bootstrap.interval()[0]
    assert lo < a.values[0] < hi


def test_a_key_the_data_do_not_depend_on_is_refused(tmp_path):
    """With the flow given, the orifice no longer sets it: its Jacobian column is near zero."""
    setup = bench("radial", mass_flow_g_per_s=0.03)
    orifice = {"key": "probe.supply.inner_diameter_mm", "initial": 0.05, "lower": 0.01, "upper": 0.3,
               "log": True}
    csv = sizes_csv(truth_run(setup, {}), 0.1, seed=4, lengths=False)
    with pytest.raises(NotDetermined, match=r"probe\.supply\.inner_diameter_mm: .*near-zero Jacobian"):
        least_squares.fit(spec.load(write_calibration(tmp_path, setup, [orifice], isotherms=csv)))


def test_two_keys_that_act_together_are_refused(tmp_path):
    """The choked flow goes as C_d d^2: from ice-ball widths only their product is known."""
    setup = bench("radial")
    unknowns = [{"key": "probe.supply.inner_diameter_mm", "initial": 0.04, "lower": 0.01, "upper": 0.3,
                 "log": True},
                {"key": "probe.supply.discharge_coefficient", "initial": 0.6, "lower": 0.1, "upper": 1.0,
                 "log": True}]
    truth = {"probe.supply.inner_diameter_mm": 0.03, "probe.supply.discharge_coefficient": 0.8}
    csv = sizes_csv(truth_run(setup, truth), 0.1, seed=1, lengths=False)
    with pytest.raises(NotDetermined, match=r"discharge_coefficient: its correlation with "
                                            r"probe\.supply\.inner_diameter_mm is -0\.99"):
        least_squares.fit(spec.load(write_calibration(tmp_path, setup, unknowns, isotherms=csv)))


def test_an_optimum_on_a_bound_is_refused(tmp_path):
    setup = bench("radial")
    csv = sizes_csv(truth_run(setup, {HTM["key"]: 0.4}), 0.1, seed=5, lengths=False)
    narrow = {**HTM, "lower": 0.8, "initial": 1.5}
    with pytest.raises(NotDetermined, match=r"multiplier: the best fit lies on its lower bound \(0\.8\)"):
        least_squares.fit(spec.load(write_calibration(tmp_path, setup, [narrow], isotherms=csv)))


def test_more_unknowns_than_values_is_refused_before_any_run(tmp_path):
    path = write_calibration(tmp_path, bench("radial"), [HTM, FLOW],
                             isotherms="time_s,isotherm_c,width_mm\n30,0,8.0\n60,0,10.0\n")
    with pytest.raises(InputError, match="fewer unknowns than measured values"):
        spec.load(path)


BAD_FILES = [
    ("time_s,isotherm_c,width_mm\n30,0,eight\n", "isotherms.csv: row 2, width_mm = 'eight'"),
    ("time_s,isotherm_c,width_mm\n90,0,8\n", "at most 60 s"),
    ("time_s,width_mm\n30,8\n", "a column isotherm_c"),
    ("time_s,isotherm_c,width_mm,colour\n30,0,8,red\n", "header = 'colour'"),
    ("time_s,isotherm_c,width_mm,width_sd_mm\n30,0,8,0.1\n40,0,9,\n50,0,9.5,0.1\n",
     "for every value or for none"),
    ("time_s,isotherm_c,length_mm\n30,0,8\n", "lengths only with grid.geometry"),
    ("time_s,isotherm_c,width_mm\n30,0,nan\n", "width_mm = 'nan'"),
    ("time_s,isotherm_c,width_mm\n30,0\n", "one per column"),
]


@pytest.mark.parametrize("csv,message", BAD_FILES)
def test_bad_measurements_are_one_line_and_exit_2(tmp_path, csv, message):
    path = write_calibration(tmp_path, bench("radial"), [HTM], isotherms=csv)
    out = tmp_path / "out"
    result = runner.invoke(app, ["calibrate", str(path), "--out-dir", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("unknown,message", [
    ({**HTM, "key": "probe.gauge"}, "unknown[0].key = 'probe.gauge': allowed is a probe design key"),
    ({**HTM, "lower": 0.0, "initial": 1.0}, "unknown[0].lower = 0.0"),
    ({**HTM, "initial": 50.0}, "unknown[0].initial = 50.0: allowed is within the bounds"),
    ({**HTM, "upper": 50.0}, "unknown[0].upper = 50.0: allowed is a value probe.heat_transfer_multiplier "
                             "may take"),
    ({"key": "probe.supply.inner_diameter_mm", "initial": 0.05, "lower": 0.01, "upper": 1.0},
     "unknown[0].upper = 1.0: allowed is a value the bench setup can run with"),
    ({**HTM, "initial": "1"}, "unknown[0].initial"),
])
def test_bad_unknowns_are_named(tmp_path, unknown, message):
    path = write_calibration(tmp_path, bench("radial"), [unknown],
                             isotherms="time_s,isotherm_c,width_mm\n30,0,8.0\n60,0,10.0\n")
    with pytest.raises(InputError) as err:
        spec.load(path)
    assert message in str(err.value)


def test_cli_writes_the_entry_plot_and_json_or_refuses_with_nothing_written(tmp_path):
    setup = bench("radial")
    csv = sizes_csv(truth_run(setup, {HTM["key"]: 0.4}), 0.1, seed=6, lengths=False)
    path = write_calibration(tmp_path, setup, [HTM], isotherms=csv)
    result = runner.invoke(app, ["calibrate", str(path), "--out-dir", str(tmp_path / "out"),
                                 "--name", "gel-2mm", "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == "calibration" and data["unknowns"][0]["key"] == HTM["key"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gel-2mm-fit.png", "gel-2mm.toml"]
    assert "gel-2mm" in read_catalog_file(tmp_path / "out" / "gel-2mm.toml")
    # refused: the entry would overwrite the calibration's own file
    result = runner.invoke(app, ["calibrate", str(path), "--out-dir", str(tmp_path), "--name", "bench"])
    assert result.exit_code == 2 and "does not overwrite an input" in result.output
    assert not (tmp_path / "bench-fit.png").exists()
    # refused fit: nothing written
    setup_fixed = bench("radial", mass_flow_g_per_s=0.03)
    orifice = {"key": "probe.supply.inner_diameter_mm", "initial": 0.05, "lower": 0.01, "upper": 0.3}
    bad = write_calibration(tmp_path / "out", setup_fixed, [orifice], isotherms=csv)
    result = runner.invoke(app, ["calibrate", str(bad), "--out-dir", str(tmp_path / "refused")])
    assert result.exit_code == 2 and result.output.startswith("error: the data cannot determine")
    assert not (tmp_path / "refused").exists()


def test_calibrate_refuses_a_bad_bootstrap_count(tmp_path):
    with pytest.raises(InputError, match="--bootstrap = -1"):
        calibrate(tmp_path / "none.toml", bootstrap=-1)


def test_a_procedure_file_with_inline_overrides(tmp_path):
    """The setup from a procedure file, the grid coarsened inline; nerves in it are not used."""
    procedure_file = tmp_path / "bench-procedure.toml"
    proc = bench("radial")
    proc["grid"]["spacing_mm"] = 0.1
    proc["nerve"] = [{"name": "n", "distance_mm": 3.0, "orientation": "parallel"}]
    proc["output"] = {"interval_s": 2.0, "isotherms_c": [-60.0]}
    procedure_file.write_text(tomli_w.dumps(proc))
    path = tmp_path / "bench.toml"
    (tmp_path / "iceball.csv").write_text("time_s,isotherm_c,width_mm\n30,0,8.0\n60,0,10.0\n")
    path.write_text(tomli_w.dumps({"procedure": "bench-procedure.toml", "grid": {"spacing_mm": 0.25},
                                   "unknown": [HTM], "data": {"isotherms": "iceball.csv"}}))
    cal = spec.load(path)
    assert cal.procedure["grid"]["spacing_mm"] == 0.25 and cal.procedure["grid"]["geometry"] == "radial"
    assert "nerve" not in cal.procedure
    assert cal.procedure["output"] == {"isotherms_c": [0.0], "interval_s": 2.0}  # the interval only
    path.write_text(tomli_w.dumps({"procedure": "bench-procedure.toml", "output": {"interval_s": 0.0},
                                   "unknown": [HTM], "data": {"isotherms": "iceball.csv"}}))
    with pytest.raises(InputError, match="output.interval_s = 0.0"):
        spec.load(path)


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "calibration" / "calibration.toml"


def test_the_example_is_a_valid_calibration():
    cal = spec.load(EXAMPLE)
    assert [u.key for u in cal.unknowns] == [FLOW["key"], HTM["key"]]
    assert len(cal.data) == 39 and cal.data.weighted and cal.name == "n2o-2.0mm-gel-bench"
    assert cal.procedure["output"]["points_mm"] == [[2.0, -2.0], [3.0, 3.0], [5.0, 3.0]]


@pytest.mark.slow
def test_the_example_recovers_the_probe_it_was_made_from():
    """examples/calibration holds sizes and thermocouples made from flow 0.03 g/s and
    heat-transfer multiplier 0.5 (about 6 s of simulation)."""
    assert_recovered(least_squares.fit(spec.load(EXAMPLE)), [0.03, 0.5])


@pytest.mark.parametrize("text,message", [
    ("\x00\x01", "CALIBRATION.toml"),
    ("probe = 5\nunknown = []\ndata = {}", "probe = 5"),
    ('unknown = [{key = "probe.mass_flow_g_per_s", initial = nan, lower = 0.01, upper = 1}]\n'
     'data = {isotherms = "x.csv"}', "unknown[0].initial = nan"),
    ('procedure = "missing.toml"\nunknown = [{key = "probe.mass_flow_g_per_s", initial = 0.1, lower = 0.01, '
     'upper = 1}]\ndata = {isotherms = "x.csv"}', "procedure = 'missing.toml'"),
    ('protocol = {phases = [{kind = "freeze", seconds = 60}]}\nprobe = {catalog = "n2o-2.0mm"}\n'
     'unknown = [{key = "probe.mass_flow_g_per_s", initial = 0.1, lower = 0.01, upper = 1}]\n'
     'data = {isotherms = "x.csv"}\nentry = {name = "../evil"}', "data.isotherms = 'x.csv'"),
])
def test_hostile_calibration_files_are_one_line(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["calibrate", str(path), "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_an_entry_name_that_is_a_path_is_refused(tmp_path):
    path = write_calibration(tmp_path, bench("radial"), [HTM],
                             isotherms="time_s,isotherm_c,width_mm\n30,0,8\n60,0,10\n")
    with pytest.raises(InputError, match="entry.name = '../evil'"):
        spec.load(path, name="../evil")


def test_the_fit_s_figure_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """``calibrate.plot``: one panel per measured series and one of residuals, as a PNG; a
    figure that fails to save leaves no file."""
    import matplotlib.figure
    import matplotlib.image

    from cryoplan.calibrate.fit_figure import plot_fit
    from cryoplan.calibrate.output import catalog_entry

    setup = bench("radial")
    run = truth_run(setup, {HTM["key"]: 0.4}, points=[[2.0, 0.0], [5.0, 0.0]])
    result = least_squares.fit(spec.load(write_calibration(tmp_path, setup, [HTM],
                                                 thermocouples=thermocouple_csv(run, 0.5, seed=2))))
    _, fitted = catalog_entry(result, "2025-01-01")
    png = tmp_path / "out" / "fit.png"
    plot_fit(result, fitted, png)
    image = matplotlib.image.imread(png)
    assert image.shape[1] > 1.5 * image.shape[0]  # the thermocouples' panel beside the residuals'

    def broken(self, path, **kw):
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(OSError):
        plot_fit(result, fitted, tmp_path / "out" / "again.png")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fit.png"]
