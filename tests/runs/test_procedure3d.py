"""3D procedure files: one or more probes anywhere, each with its own probe, console and
protocol, nerves as polylines; the single [probe] file agrees with its axisymmetric twin."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import service
from cryoplan.cli import app
from cryoplan.errors import InputError

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "3d"


def example(name: str) -> dict:
    return tomllib.loads((EXAMPLES / name).read_text())


@pytest.fixture(scope="module")
def single():
    """The single-probe example in 3D and, changing only the geometry, axisymmetric."""
    data = example("single-probe.toml")
    axisymmetric = {**data, "grid": {**data["grid"], "geometry": "axisymmetric"}}
    return service.simulate(data), service.simulate(axisymmetric)


def test_a_single_probe_in_3d_agrees_with_the_axisymmetric_run_within_3_percent(single):
    three, two = single
    assert three["geometry"] == "3d" and two["geometry"] == "axisymmetric"
    assert three["probe"]["tip_mm"] == [0.0, 0.0, 0.0] and three["probe"]["direction_tip_to_hub"] == [0, 0, 1]
    for key in ("0", "-20"):
        r3 = three["iceball"]["isotherms"][key]["radius_mm"][-1]
        r2 = two["iceball"]["isotherms"][key]["radius_mm"][-1]
        assert r3 == pytest.approx(r2, rel=0.03), (key, r3, r2)
        assert r3 > 2.0  # a real ice ball, not two empty ones
    assert three["solver"]["energy_balance_error"] < 1e-6


def test_a_3d_run_reports_three_planes_and_its_budget(single):
    three, _ = single
    slices = three["map"]["slices"]
    assert [s["normal"] for s in slices] == ["x", "y", "z"]
    coldest = min(v for s in slices for row in s["min_temperature_c"] for v in row if v is not None)
    assert coldest < -20.0
    assert three["estimate"]["cells"] == three["solver"]["cells"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The two-probe example at 1 mm voxels (cheap), through the CLI with a report."""
    d = tmp_path_factory.mktemp("pair")
    text = (EXAMPLES / "two-probes.toml").read_text().replace("spacing_mm = 0.5", "spacing_mm = 1.0")
    (d / "pair.toml").write_text(text)
    r = runner.invoke(app, ["simulate", str(d / "pair.toml"), "--json", str(d / "pair.json"),
                            "--report", str(d / "pair.html")])
    return r, d


def test_two_probes_each_with_its_own_protocol_freeze_one_nerve(pair):
    r, d = pair
    assert r.exit_code == 0, r.output
    data = json.loads((d / "pair.json").read_text())
    lateral, medial = data["probes"]
    assert (lateral["name"], medial["name"]) == ("lateral", "medial")
    assert not lateral["own_protocol"] and medial["own_protocol"]
    tilt = np.radians(10)
    np.testing.assert_allclose(lateral["direction_tip_to_hub"], [np.sin(tilt), 0, np.cos(tilt)], atol=1e-4)
    t = np.array(lateral["times_s"])
    early = np.searchsorted(t, 15.0)
    # the medial probe waits 20 s (its own protocol starts with a thaw): warm while the other freezes
    assert lateral["tip_temperature_c"][early] < -50 and medial["tip_temperature_c"][early] > 30
    for p in (lateral, medial):
        assert max(p["isotherms"]["0"]["radius_mm"]) > 3.0
    union = max(data["iceball"]["isotherms"]["0"]["volume_ml"])
    assert union > 0 and len(data["iceball"]["isotherms"]["0"]["per_probe"]) == 2
    (nerve,) = data["nerves"]
    assert nerve["name"] == "medial branch" and nerve["min_temperature_c"] < 0
    html = (d / "pair.html").read_text()
    assert "lateral" in html and "medial" in html and "plane z" in html


@pytest.mark.parametrize("change, field", [
    (lambda d: d["grid"].update(geometry="axisymmetric"), "grid.geometry"),
    (lambda d: d["probe"][1].update(tip_mm=[1.0, 2.0]), "probe[1].tip_mm"),
    (lambda d: d["probe"][0].update(direction=[0.0, 0.0, 0.0]), "probe[0].direction"),
    (lambda d: d["probe"][0].update(direction=[0.0, 0.0, 1.0]), "probe[0].direction"),  # and tilt_deg
    (lambda d: d["grid"].update(box_min_mm=[-5.0, -5.0, -5.0]), "grid.box_max_mm"),
    (lambda d: d["grid"].update(growth=1.1), "grid.growth"),
    (lambda d: d["probe"][0].update(catalog="no-such-probe"), "probe[0].catalog"),
    (lambda d: d["nerve"][0].update(points_mm=[[0.0, -70.0, 3.0], [0.0, 7.0, 3.0]]), "nerve[0].points_mm"),
    (lambda d: d["grid"].update(spacing_mm=0.05, extent_mm=200.0), "grid.spacing_mm"),
    (lambda d: d["grid"].update(box_min_mm=[-9.0, -9.0, -9.0], box_max_mm=[9.0, 9.0, 20.0])
     or d["probe"][1].update(tip_mm=[-30.0, 0.0, 0.0]), "probe[1].tip_mm"),
    (lambda d: d["probe"][1].update(tip_mm=[3.0, 0.5, 1.0], direction=None, tilt_deg=10.0),
     "probe[1].tip_mm"),  # touching the first
    (lambda d: d.update(probe=[]), "probe"),
])
def test_a_bad_3d_file_is_refused_naming_the_field(change, field):
    data = example("two-probes.toml")
    change(data)
    with pytest.raises(InputError) as err:
        service.prepare("simulation", data)
    assert err.value.field == field, str(err.value)


def test_an_anatomy_template_gives_the_box_its_tissues_and_its_nerve():
    data = example("l4-tandem-anatomy.toml")
    data["protocol"] = {"phases": [{"kind": "freeze", "seconds": 10}]}
    out = service.simulate(data)
    assert [n["name"] for n in out["nerves"]] == ["L4 medial branch"]
    assert {st["role"] for st in out["structures"].values()} >= {"target", "protected"}
    assert max(out["iceball"]["isotherms"]["0"]["radius_mm"]) > 1.0
    through_bone = example("l4-tandem-anatomy.toml")
    through_bone["probe"][0]["direction"] = [0.0, 0.0, -1.0]  # pointing its hub into the TP
    with pytest.raises(InputError) as err:
        service.prepare("simulation", through_bone)
    assert err.value.field == "probe[0].direction" and "bone" in err.value.allowed


def test_a_plot_of_a_3d_run_is_refused_before_it_runs(pair):
    _, d = pair
    r = runner.invoke(app, ["simulate", str(d / "pair.toml"), "--plot", str(d / "pair.png")])
    assert r.exit_code == 2 and "--plot" in r.output and "three planes" in r.output
    assert not (d / "pair.png").exists()
