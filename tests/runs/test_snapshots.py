"""A run's snapshots and sampled points: the solver keeps each freeze's end (or the times asked
for) and the temperature at the points asked for, bad times and points are named, and a
simulation's JSON and report carry its isotherm chart and points."""

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import config, procedure
from cryoplan.case import build
from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.thermal.points import PointSampler
from cryoplan.thermal.solver import output_times

runner = CliRunner()


SMALL = {"probe": {"catalog": "n2o-2.0mm"}, "tissue": {"type": "muscle"},
         "protocol": {"phases": [{"kind": "freeze", "seconds": 12.5}, {"kind": "passive-thaw", "seconds": 4},
                                 {"kind": "freeze", "seconds": 10}]},
         "grid": {"spacing_mm": 0.5, "extent_mm": 10.0, "growth": 1.1, "uniform_extent_mm": 6.0}}


def test_snapshots_and_points_of_a_run():
    result = procedure.run(build(config.parse({**SMALL, "output": {"points_mm": [[2.0, 3.0], [0.0, -1.5]]}})))
    th, prob = result.thermal, result.case.problem
    assert np.array_equal(th.times, output_times(prob.protocol, 1.0))
    assert 12.5 in th.times and sorted(th.snapshots) == [12.5, 26.5]  # by default each freeze's end
    assert np.array_equal(th.snapshots[26.5], th.temperature)
    assert th.samples.shape == (len(th.times), 2)
    assert np.allclose(th.samples[-1], PointSampler(th.grid, prob.sample_points)(th.temperature))
    assert th.samples[0] == pytest.approx([310.15, 310.15]) and (th.samples[-1] < 273.15).all()
    chosen = procedure.run(build(config.parse({**SMALL, "output": {"snapshot_times_s": [3, 12.5, 20.5]}})))
    assert sorted(chosen.thermal.snapshots) == [3, 12.5, 20.5]
    assert np.array_equal(chosen.thermal.snapshots[12.5], th.snapshots[12.5])


@pytest.mark.parametrize("output,message", [
    ({"snapshot_times_s": [13]}, "output.snapshot_times_s = 13"),
    ({"snapshot_times_s": [40]}, "up to 26.5 s"),
    ({"points_mm": [[0.5, 2.0]]}, "output.points_mm[0] = [0.5, 2.0]: allowed is a point outside the probe"),
    ({"points_mm": [[2.0, 40.0]]}, "inside the simulated domain"),
])
def test_bad_snapshots_and_points_are_named(output, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build(config.parse({**SMALL, "output": output}))


def test_a_simulations_report_shows_its_chart(tmp_path):
    import tomli_w

    path = tmp_path / "p.toml"
    path.write_text(tomli_w.dumps({**SMALL, "output": {"points_mm": [[2.0, 3.0]]}}))
    out = runner.invoke(app, ["simulate", str(path), "--json", str(tmp_path / "r.json"), "--report",
                              str(tmp_path / "r.html")])
    assert out.exit_code == 0, out.output
    import json

    data = json.loads((tmp_path / "r.json").read_text())
    p = data["chart"]["panels"][0]
    assert p["times_s"] == [12.5, 26.5] and p["title"] == "muscle, 37 °C, perfused"
    assert p["sizes"]["26.5"]["-20"]["width_mm"] == pytest.approx(
        2 * data["iceball"]["isotherms"]["-20"]["radius_mm"][-1], abs=1e-3)
    assert len(data["points"]["temperature_c"]) == len(data["iceball"]["times_s"])
    page = (tmp_path / "r.html").read_text()
    assert "<h2>Isotherm chart</h2>" in page and "alt='isotherm chart' src='data:image/png;base64," in page
