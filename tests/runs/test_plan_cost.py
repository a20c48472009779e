"""A plan's cost estimated before anything is built (``cryoplan.planning.cost``): the voxels
follow the anatomy's spacing, the explicit step its square, and screening bounds the runs."""

import pytest

from cryoplan import plan_config
from cryoplan.data import read_toml
from cryoplan.planning.cost import estimate


def _plan(anatomy=None, plan=None):
    data = read_toml("plan-l4.toml")  # the example plan: L4, 0.75 mm voxels
    data["anatomy"].update(anatomy or {})
    data["plan"].update(plan or {})
    return plan_config.parse(data)


def test_finer_voxels_cost_their_cube_in_voxels_and_their_square_in_time_step():
    coarse, fine = estimate(_plan()), estimate(_plan({"spacing_mm": 0.375}))
    assert coarse.kind == "plan" and coarse.steps == fine.steps
    assert 7.0 < fine.cells / coarse.cells < 9.0
    assert fine.time_step_s == pytest.approx(coarse.time_step_s / 4)
    assert fine.memory_bytes / coarse.memory_bytes == pytest.approx(fine.cells / coarse.cells)
    assert fine.seconds > 8 * coarse.seconds


def test_without_screening_every_placement_is_a_run():
    screened, every = estimate(_plan()), estimate(_plan(plan={"screening": False}))
    assert every.cells == screened.cells and every.steps > 2 * screened.steps
    assert every.seconds > 2 * screened.seconds
    assert "candidate runs at most" in every.driver["seconds"][1]
