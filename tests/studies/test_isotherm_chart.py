"""cryoplan chart: the chart's drawn contours are the simulation's isotherms, the chart is written
atomically, bad options give one line and exit 2 (a run's snapshots and points, and the chart in a
simulation's report, are in tests/runs/test_snapshots.py)."""

from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import config, isotherm_chart
from cryoplan.cli import app
from cryoplan.report import chart

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
    (["--catalog", "nope", "-o", "c.png"], "--catalog = 'nope'"),  # named as typed
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
