"""Pieces of the outputs: significant digits and isotherm keys, and the relief curve, of the
result JSON (``report.result_json``); the Wilson interval of a plan's block probability
(``report.plan_json``); a result JSON read back (``report.reading``); and the static PNG of a
report's figure (``report.static``)."""

import io
import json

import matplotlib.image
import numpy as np
import plotly.graph_objects as go
import pytest

from cryoplan.errors import InputError
from cryoplan.outcome.relief import default_model
from cryoplan.report import static
from cryoplan.report.plan_json import wilson
from cryoplan.report.reading import kind_of, load_result, read_result, reading_result
from cryoplan.report.result_json import isotherm_key, relief_curve, sig


def test_numbers_are_written_to_their_meaning():
    assert sig(-0.0012345678) == -0.001235 and sig(310.15, 3) == 310.0
    assert json.dumps(sig(1 / 3)) == "0.3333"
    assert [isotherm_key(c) for c in (-40.0, 0.0, -0.5)] == ["-40", "0", "-0.5"]


def test_the_relief_curve_falls_from_one_to_the_99th_percentile():
    dist = default_model().distribution()
    curve = relief_curve(dist, points=41)
    months, still = np.array(curve["months"]), np.array(curve["still_relieved"])
    assert len(months) == 41 and months[0] == 0.0
    assert months[-1] == pytest.approx(dist.quantile(0.99), abs=0.01)
    assert still[0] == pytest.approx(1.0) and still[-1] == pytest.approx(0.01, abs=1e-3)
    assert np.all(np.diff(still) <= 0)
    half = np.interp(0.5, still[::-1], months[::-1])
    assert half == pytest.approx(dist.median, rel=0.03)


def test_the_wilson_interval_of_a_block_probability():
    assert wilson(0, 10) == (0.0, 0.278)  # never zero width: 0 of 10 is not certainty
    assert wilson(5, 10) == pytest.approx((0.237, 0.763), abs=1e-3)
    low, high = wilson(230, 256)
    assert low < 230 / 256 < high and high - low < wilson(23, 26)[1] - wilson(23, 26)[0]


def test_a_result_json_read_back_or_refused_in_one_line(tmp_path):
    plan = {"kind": "plan", "anatomy": {}, "status": "plan", "why": "x"}
    assert kind_of(plan) == "plan" and kind_of({"iceball": {}}) == "simulation"
    assert read_result(plan) is plan
    with pytest.raises(InputError, match="missing: why"):
        read_result({"kind": "plan", "anatomy": {}, "status": "plan"})
    with pytest.raises(InputError, match="a JSON object"):
        read_result([1, 2])
    path = tmp_path / "r.json"
    path.write_text(json.dumps(plan))
    assert load_result(path) == plan
    path.write_text('{"iceball": ')
    with pytest.raises(InputError, match="a JSON file"):
        load_result(path)
    with pytest.raises(InputError, match="an existing file"):
        load_result(tmp_path / "none.json")
    with pytest.raises(InputError, match="as it was written \\(KeyError"):
        with reading_result(path):
            plan["iceball"]["isotherms"]


def test_a_figure_s_static_copy_is_a_png_of_its_size():
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[3, 1, 2], name="radius", line={"dash": "dot"}))
    fig.update_layout(title="ice ball", xaxis_title="time (s)", yaxis_title="radius (mm)")
    data = static.png(fig, width_in=4, height_in=3, dpi=50)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(io.BytesIO(data)).shape[:2] == (150, 200)
