"""The HTML report: self-contained, every section present, built from simulate's and plan's JSON;
bad result files are refused without writing anything."""

import base64
import json
import re

import pytest
from typer.testing import CliRunner

from cryoplan.cli import app
from cryoplan.report import figures
from cryoplan.report.html import render

runner = CliRunner()

PROCEDURE = """
[probe]
catalog = "n2o-2.0mm"
[tissue]
type = "muscle"
[protocol]
phases = [ { kind = "freeze", seconds = 120 }, { kind = "passive-thaw", seconds = 5 } ]
[grid]
geometry = "axisymmetric"
spacing_mm = 0.25
extent_mm = 10.0
growth = 1.1
uniform_extent_mm = 5.0
[[nerve]]
name = "test branch"
distance_mm = 1.55
orientation = "perpendicular"
offset_along_axis_mm = 3.0
length_mm = 12.0
"""


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    (folder / "p.toml").write_text(PROCEDURE)
    res = runner.invoke(app, ["simulate", str(folder / "p.toml"), "--json", str(folder / "r.json"),
                              "--report", str(folder / "r.html")])
    assert res.exit_code == 0, res.output
    return json.loads((folder / "r.json").read_text()), (folder / "r.html").read_text()


def test_the_report_is_self_contained_and_complete(simulated):
    data, page = simulated
    assert "<script src" not in page and "<link" not in page  # opens without a network
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js inlined
    figs = figures.figures(data)
    titles = [f.layout.title.text for f in figs]
    assert titles == ["Ice-ball growth", "Probe wall temperature",
                      "Coldest temperature reached (mirrored about the probe axis)",
                      "Injury along each nerve", "Expected pain relief"]
    assert page.count('class="plotly-graph-div"') == len(figs)
    assert "Citation keys" in page and "Hasgall PA" in page  # "ITIS (muscle)" spelled out
    pngs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(pngs) == len(figs) + 1  # and the isotherm chart
    assert "<h2>Isotherm chart</h2>" in page
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    for text in ("Warnings", "Inputs", "Sources", "test branch", "Pennes HH, J Appl Physiol 1 (1948) 93",
                 "probe.catalog", "n2o-2.0mm", "Evans PJ, Lloyd JW, Green CJ"):
        assert text in page, text


def test_the_map_draws_the_nerve_where_it_lies(simulated):
    data, _ = simulated
    path = data["nerves"][0]["path_rz_mm"]
    assert min(r for r, _ in path) == pytest.approx(1.55, abs=1e-3)  # closest approach
    assert {z for _, z in path} == {3.0}
    m = data["map"]
    assert len(m["min_temperature_c"]) == len(m["z_mm"]) and len(m["min_temperature_c"][0]) == len(m["r_mm"])
    fig = figures.rz_map(data)
    nerve = next(t for t in fig.data if t.name == "test branch")
    assert min(nerve.x) == pytest.approx(1.55, abs=1e-3)


def test_relief_curve_falls_through_its_percentiles(simulated):
    data, _ = simulated
    o = data["outcome"]
    assert data["nerves"][0]["blocked"]
    curve = o["curve"]
    still = curve["still_relieved"]
    assert still[0] == 1.0 and all(a >= b for a, b in zip(still, still[1:], strict=False))
    k = min(range(len(still)), key=lambda i: abs(still[i] - 0.5))
    assert curve["months"][k] == pytest.approx(o["relief_months"]["median"], abs=0.5)


def test_a_warning_reaches_the_page(simulated):
    data, _ = simulated
    data = json.loads(json.dumps(data))
    data["warnings"].append({"code": "nerve", "message": "an isotherm only grazes the nerve",
                             "about": "test branch"})
    data["nerves"][0]["reversible"] = False
    page = render(data)
    assert "test branch: an isotherm only grazes the nerve" in page
    assert "may not be reversible" in page
    del data["warnings"]  # a result written before warnings were named: its nerves' are shown
    data["nerves"][0]["warnings"] = ["an older caveat"]
    assert "test branch: an older caveat" in render(data)


def test_report_command_and_bad_results(simulated, tmp_path):
    data, _ = simulated
    src = tmp_path / "r.json"
    src.write_text(json.dumps(data))
    res = runner.invoke(app, ["report", str(src), "-o", str(tmp_path / "out.html")])
    assert res.exit_code == 0 and (tmp_path / "out.html").stat().st_size > 3_000_000
    broken = '{"kind": "simulation", "iceball": 1, "probe": 1, "protocol": 1}'  # the keys, not the contents
    deep = '{"kind": "plan", "anatomy": ' + "[" * 100000 + "]" * 100000 + "}"
    for name, text in (("junk.json", "{not json"), ("other.json", '{"hello": 1}'), ("list.json", "[1, 2]"),
                       ("broken.json", broken), ("deep.json", deep)):
        (tmp_path / name).write_text(text)
        out = tmp_path / f"{name}.html"
        res = runner.invoke(app, ["report", str(tmp_path / name), "-o", str(out)])
        assert res.exit_code == 2 and "RESULT.json" in res.output and not out.exists(), name
    res = runner.invoke(app, ["report", str(tmp_path / "missing.json"), "-o", str(tmp_path / "m.html")])
    assert res.exit_code == 2 and "an existing file" in res.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_ice_ball_is_reported_at_its_largest_as_well_as_at_the_end():
    """A protocol that ends with a thaw has lost its cold core by the end: the table a physician
    reads first gives the largest extent (and when), then the end, rounded to 0.1 mm / 0.01 ml."""
    from cryoplan.report.html import iceball_rows

    def sizes(radius, length, volume):
        return {"radius_mm": radius, "length_mm": length, "volume_ml": volume}

    series = {"0": sizes([0.0, 5.4712, 5.52], [0.0, 14.9, 15.1], [0.0, 0.8749, 0.91]),
              "-40": sizes([0.0, 2.1543, 0.0], [0.0, 8.5, 0.0], [0.0, 0.0723, 0.0]),
              "-80": sizes([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])}
    rows = iceball_rows({"iceball": {"times_s": [0.0, 120.0, 125.0], "isotherms": series}})
    assert rows == [("0 °C", "125", "5.5", "15.1", "0.91", "5.5", "15.1", "0.91"),
                    ("-40 °C", "120", "2.2", "8.5", "0.07", "0.0", "0.0", "0.00"),
                    ("-80 °C", "never reached", "-", "-", "-", "0.0", "0.0", "0.00")]


def test_every_figure_draws_0_c_white_and_each_isotherm_in_its_colour():
    """One palette: the HTML figures' scale and the PNG's colour map are white at 0 °C (frozen
    blue below it, unfrozen red above), and an isotherm has one colour in both."""
    from cryoplan.report import run_figure
    from cryoplan.report.palette import T_MAX_C, T_MIN_C, ZERO_AT, isotherm_colour

    assert ZERO_AT == round(-T_MIN_C / (T_MAX_C - T_MIN_C), 4)
    assert dict((p, c) for p, c in figures.COLORSCALE)[ZERO_AT] == "#f7f7f7"
    white = run_figure.TEMPERATURE_MAP(ZERO_AT)[:3]
    cold, warm = run_figure.TEMPERATURE_MAP(0.0)[:3], run_figure.TEMPERATURE_MAP(1.0)[:3]
    assert min(white) > 0.95 and cold[2] > cold[0] and warm[0] > warm[2]
    assert isotherm_colour(-20.0) == figures.ISOTHERM_COLOURS["-20"] != isotherm_colour(0.0)
