"""cryoplan chart and the solver's snapshots and points: the chart's drawn contours are the
simulation's isotherms, the chart is written atomically and also appears in a simulation's
report, bad options give one line and exit 2."""

from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import config, isotherm_chart, procedure
from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.report import chart
from cryoplan.thermal.points import PointSampler
from cryoplan.thermal.solver import output_times

runner = CliRunner()


@pytest.fixture(scope="module")
def panels(tmp_path_factory):
    sections = config.parse_sections({"probe": {"catalog": "n2o-2.0mm"}})
    out = tmp_path_factory.mktemp("chart") / "chart.png"
    panels = isotherm_chart.make(sections.probe, sections.cryogen, ["gel", "tissue"], [20, 40], [0, -20, -40],
                                 out)
    return panels, out


def test_the_drawn_contours_are_the_simulations_isotherms(panels):
    """Each contour's widest point and its extent along the probe are the run's isotherm width
    and length at that time, within a cell (0.25 mm)."""
    drawn = chart.draw(panels[0], "test")[1]
    assert len(drawn) == 2 * 2 * 3
    for (n, t, iso), contours in drawn.items():
        vertices = np.concatenate([p.vertices for p in contours.get_paths()])
        size = panels[0][n]["sizes"][f"{t:g}"][f"{iso:g}"]
        assert 2 * np.abs(vertices[:, 0]).max() == pytest.approx(size["width_mm"], abs=0.25), (n, t, iso)
        extent = vertices[:, 1].max() - vertices[:, 1].min()
        assert extent == pytest.approx(size["length_mm"], abs=0.25), (n, t, iso)
    gel, tissue = panels[0]
    assert "agar gel" in gel["title"] and tissue["title"].startswith("muscle, 37")
    # the ice grows between the two times, and more in the unperfused 20 °C gel than in tissue
    assert gel["sizes"]["40"]["0"]["width_mm"] > gel["sizes"]["20"]["0"]["width_mm"]
    assert gel["sizes"]["40"]["0"]["width_mm"] > tissue["sizes"]["40"]["0"]["width_mm"]


def test_the_chart_file_is_written_whole_or_not_at_all(panels, tmp_path, monkeypatch):
    assert panels[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in panels[1].parent.iterdir()] == ["chart.png"]  # no temporary file left
    svg = tmp_path / "chart.svg"
    chart.write(panels[0], "t", svg)
    assert b"<svg" in svg.read_bytes()[:400]
    before = svg.read_bytes()

    def broken(self, path, **kw):
        Path(path).write_text("half a chart")
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(OSError):
        chart.write(panels[0], "t", svg)
    assert svg.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["chart.svg"]


@pytest.mark.parametrize("args,message", [
    (["--catalog", "n2o-2.0mm", "-o", "c.pdf"], "-o = 'c.pdf': allowed is a .png or .svg file"),
    (["--catalog", "n2o-2.0mm", "--times", "0,60", "-o", "c.png"], "--times = '0,60'"),
    (["--catalog", "n2o-2.0mm", "--times", "60,60", "-o", "c.png"], "each once"),
    (["--catalog", "n2o-2.0mm", "--times", "1.5", "-o", "c.png"], "whole numbers"),
    (["--catalog", "n2o-2.0mm", "--times", "1,2,3,4,5,6", "-o", "c.png"], "at most 5 times"),
    (["--catalog", "n2o-2.0mm", "--isotherms", "5", "-o", "c.png"], "--isotherms = '5'"),
    (["--catalog", "n2o-2.0mm", "--isotherms", "nan", "-o", "c.png"], "--isotherms = 'nan'"),
    (["--catalog", "n2o-2.0mm", "--medium", "gel,water", "-o", "c.png"], "--medium = 'water'"),
    (["--gas", "n2o", "--gauge", "99", "-o", "c.png"], "--gauge = 99"),
    (["--catalog", "nope", "-o", "c.png"], "probe.catalog = 'nope'"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["chart", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_prints_the_sizes(tmp_path):
    out = tmp_path / "c.svg"
    result = runner.invoke(app, ["chart", "--gas", "n2o", "--gauge", "16", "--times", "15", "--medium",
                                 "tissue", "--isotherms", "0,-20", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "muscle, 37 °C, perfused" in result.output and out.exists()


SMALL = {"probe": {"catalog": "n2o-2.0mm"}, "tissue": {"type": "muscle"},
         "protocol": {"phases": [{"kind": "freeze", "seconds": 12.5}, {"kind": "passive-thaw", "seconds": 4},
                                 {"kind": "freeze", "seconds": 10}]},
         "grid": {"spacing_mm": 0.5, "extent_mm": 10.0, "growth": 1.1, "uniform_extent_mm": 6.0}}


def test_snapshots_and_points_of_a_run():
    result = procedure.run(config.parse({**SMALL, "output": {"points_mm": [[2.0, 3.0], [0.0, -1.5]]}}))
    th, prob = result.thermal, result.setup.problem
    assert np.array_equal(th.times, output_times(prob.protocol, 1.0))
    assert 12.5 in th.times and sorted(th.snapshots) == [12.5, 26.5]  # by default each freeze's end
    assert np.array_equal(th.snapshots[26.5], th.temperature)
    assert th.samples.shape == (len(th.times), 2)
    assert np.allclose(th.samples[-1], PointSampler(th.grid, prob.sample_points)(th.temperature))
    assert th.samples[0] == pytest.approx([310.15, 310.15]) and (th.samples[-1] < 273.15).all()
    chosen = procedure.run(config.parse({**SMALL, "output": {"snapshot_times_s": [3, 12.5, 20.5]}}))
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
        procedure.setup(config.parse({**SMALL, "output": output}))


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
