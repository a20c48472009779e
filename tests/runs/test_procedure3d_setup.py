"""Setting up a 3D procedure (``cryoplan.case.build``), without running it: the probe
stands where the file puts it, the solver records the file's isotherms and the nerves'
injury temperatures, the report's planes cross on the probe's axis, and a nerve outside the box
or through the probe is refused."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from cryoplan import config
from cryoplan.case import build
from cryoplan.errors import InputError
from cryoplan.units import c_to_k

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "3d"


def _single():
    return config.parse(tomllib.loads((EXAMPLES / "single-probe.toml").read_text()))


def test_a_single_probe_is_set_up_where_the_file_puts_it():
    s = build(_single())
    (placed,) = s.problem.probes
    assert np.allclose(placed.tip, 0.0) and np.allclose(placed.axis, [0, 0, 1])
    assert s.problem.isotherms == (c_to_k(0.0), c_to_k(-20.0)) and s.nerves == ()
    assert s.problem.history_thresholds == s.problem.isotherms  # no nerve: nothing more to record
    assert s.protocol.total_seconds == 60 and s.volume is None
    centre = s.centre()
    assert np.allclose(centre[:2], 0.0)  # on the probe's axis
    assert 0.0 < centre[2] <= 0.5 * placed.model.active_length  # beyond the tip, within the ice


def test_a_nerve_outside_the_box_or_through_the_probe_is_refused():
    data = tomllib.loads((EXAMPLES / "single-probe.toml").read_text())
    for points, says in [([[40.0, -5.0, 2.0], [40.0, 5.0, 2.0]], "box"),
                         ([[0.0, -5.0, 2.0], [0.0, 5.0, 2.0]], "probe")]:
        cfg = config.parse({**data, "nerve": [{"name": "medial branch", "points_mm": points}]})
        with pytest.raises(InputError, match=says):  # the schema admits it: the box is only known here
            build(cfg)
