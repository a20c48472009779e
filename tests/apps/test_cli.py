"""The command line: the demo, simulate's JSON, probe, and bad input (one line, exit 2, no file)."""

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cryoplan.cli import app

runner = CliRunner()

SMALL = """
[probe]
catalog = "n2o-2.0mm"
[tissue]
type = "muscle"
[protocol]
phases = [ {{ kind = "freeze", seconds = 20 }}, {{ kind = "passive-thaw", seconds = 5 }} ]
[grid]
geometry = "{geometry}"
spacing_mm = 0.25
extent_mm = 10.0
growth = 1.1
uniform_extent_mm = 5.0
[output]
isotherms_c = [0, -20, -40]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "procedure.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("geometry", ["axisymmetric", "radial"])
def test_simulate_writes_json_and_plot(tmp_path, geometry):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    result = runner.invoke(app, ["simulate", str(_write(tmp_path, SMALL.format(geometry=geometry))),
                                 "--json", str(out), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    iso = data["iceball"]["isotherms"]
    assert set(iso) == {"0", "-20", "-40"}
    n = len(data["iceball"]["times_s"])
    assert n == 26 and len(data["probe"]["tip_temperature_c"]) == n
    for key in ("radius_mm", "length_mm", "volume_ml"):
        assert len(iso["-20"][key]) == n
    radius = iso["0"]["radius_mm"]
    assert radius[20] > iso["-20"]["radius_mm"][20] > 1.0  # nested isotherms
    assert data["probe"]["cooling_power_w"][1] > 0 and data["probe"]["cooling_power_w"][-1] == 0
    # the N2O expands to the tip's pressure, a little above the console's 1 atm exhaust
    cryo = data["cryogen"]
    assert 1.01325 < cryo["tip_pressure_bar"] < 1.3 and -88.47 < cryo["inlet_temperature_c"] < -85.0
    assert len(data["probe"]["tip_pressure_bar"]) == n
    if geometry == "radial":
        assert all(x is None for x in iso["-20"]["length_mm"])
    else:
        assert iso["-20"]["length_mm"][20] > 2 * iso["-20"]["radius_mm"][20] - 2.5
    assert png.stat().st_size > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_simulate_json_to_stdout_is_pure_json(tmp_path):
    result = runner.invoke(app, ["simulate", str(_write(tmp_path, SMALL.format(geometry="radial"))),
                                 "--json", "-"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["geometry"] == "radial"


def _noisy_numbers(x, path=""):
    """Numbers written with more digits than they mean (1.8143500000000001)."""
    if isinstance(x, float):
        digits = len(f"{x!r}".split("e")[0].replace("-", "").replace(".", "").strip("0"))
        return [(path, x)] if digits > 7 else []
    if isinstance(x, dict):
        return [n for k, v in x.items() for n in _noisy_numbers(v, f"{path}.{k}")]
    if isinstance(x, list):
        return [n for k, v in enumerate(x) for n in _noisy_numbers(v, f"{path}[{k}]")]
    return []


def test_demo_writes_its_files(tmp_path):
    result = runner.invoke(app, ["demo", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "cryoplan-demo.json").read_text())
    assert [p["kind"] for p in data["protocol"]] == ["freeze", "passive-thaw", "freeze"]
    assert data["probe"]["cannula_bore_mm"] == pytest.approx(2.159)
    assert data["warnings"] == []  # a domain sized for the run, cited tissue properties
    assert _noisy_numbers(data) == []
    assert (tmp_path / "cryoplan-demo.png").exists()
    assert "Ice ball" in result.stdout


def test_probe_command_json():
    """A family probe given by gas and gauge: its flow, tip state and capacity, consistent with
    each other (the boiling capacity is the flow times what its liquid fraction can boil)."""
    result = runner.invoke(app, ["probe", "--gas", "n2o", "--gauge", "16", "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["family"] == "jt-n2o" and data["design"]["outer_diameter_mm"] == pytest.approx(1.651)
    assert data["supply_choked"] and data["mass_flow_g_per_s"] > 0
    assert data["standard_flow_l_per_min"] == pytest.approx(
        data["mass_flow_g_per_s"] * 60 / 1.9781, rel=0.01)  # N2O gas at 0 C, 1 atm: 1.978 kg/m3
    latent = data["mass_flow_g_per_s"] * 1e-3 * (1 - data["inlet_quality"]) * 374e3
    assert data["latent_capacity_w"] == pytest.approx(latent, rel=0.03)
    assert -88.5 < data["inlet_temperature_c"] < -80.0
    argon = json.loads(runner.invoke(app, ["probe", "--catalog", "argon-2.4mm", "--json", "-"]).stdout)
    assert math.isclose(argon["console"]["supply_pressure_bar"], 300)
    assert argon["design"]["recuperator_effectiveness"] == 0.9 and argon["inlet_quality"] is not None


def test_an_argon_probe_without_recuperator_says_it_cannot_boil(tmp_path):
    result = runner.invoke(app, ["probe", "--catalog", "argon-2.4mm", "--json", "-"],
                           catch_exceptions=False)
    assert result.exit_code == 0
    path = tmp_path / "argon_no_recuperator.toml"
    path.write_text('[probe]\ncatalog = "argon-2.4mm"\nrecuperator_effectiveness = 0.0\n')
    data = json.loads(runner.invoke(app, ["probe", str(path), "--json", "-"]).stdout)
    assert data["inlet_quality"] is None and data["latent_capacity_w"] == 0.0
    assert [w["code"] for w in data["warnings"]] == ["probe-no-liquid"]
    assert "-65" in data["warnings"][0]["message"] or "-6" in data["warnings"][0]["message"]


BAD = [
    ('[cryogen]\ngas = "helium"\n', "cryogen.gas"),
    ('[tissue]\ntype = "liverwurst"\n', "tissue.type"),
    ('[probe]\ncatalog = "n2o-2.0mm"\ncannula_gauge = 14\n', "probe.diameter_mm"),
    ('[grid]\nspacing_mm = 2.0\n', "grid.spacing_mm"),
    ('[tissue]\nt_solidus_c = -1.0\nt_liquidus_c = -8.0\n', "tissue.t_solidus_c"),
    ('[grid]\nspacing_mm = "fine"\n', "grid.spacing_mm"),
    ('[grid]\nresolution = 3\n', "grid.resolution"),
    ('[tissue]\ntype = "custom"\nk_unfrozen_w_per_m_k = 0.5\n', "tissue."),
]


@pytest.mark.parametrize("extra, field", BAD)
def test_bad_input_is_one_clear_line_exit_2_no_output(tmp_path, extra, field):
    base = '[probe]\ncatalog = "n2o-2.0mm"\n[protocol]\nphases = [{kind = "freeze", seconds = 10}]\n'
    text = base + extra if not extra.startswith("[probe]") else extra + base.split("\n", 2)[2]
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["simulate", str(_write(tmp_path, text)), "--json", str(out)])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message and field in message
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("seconds", [0, -5])
def test_non_positive_duration(tmp_path, seconds):
    phases = f'phases = [{{kind = "freeze", seconds = {seconds}}}]'
    text = f'[probe]\ncatalog = "n2o-2.0mm"\n[protocol]\n{phases}\n'
    result = runner.invoke(app, ["simulate", str(_write(tmp_path, text))])
    assert result.exit_code == 2
    assert "protocol.phases[0].seconds" in result.stderr


def test_missing_and_malformed_files(tmp_path):
    result = runner.invoke(app, ["simulate", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "FILE" in result.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[probe\n")
    result = runner.invoke(app, ["simulate", str(broken)])
    assert result.exit_code == 2 and "valid TOML" in result.stderr


def test_probe_command_bad_gas():
    result = runner.invoke(app, ["probe", "--gas", "helium"])
    assert result.exit_code == 2 and "--gas = 'helium'" in result.stderr
