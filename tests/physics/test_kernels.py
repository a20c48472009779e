"""What the compiled kernels are given: a tissue's material row (``tissue.properties``), the
explicit step's stability bound (``thermal.kernel``), the voxels of the 3D sweep's fast path
(``thermal.kernel3d``) and the per-cell thermal history (``thermal.history``)."""

import numpy as np
import pytest

from cryoplan.thermal.grid import planar_grid
from cryoplan.thermal.history import ThermalHistory
from cryoplan.thermal.kernel import stable_time_step
from cryoplan.thermal.kernel3d import interior_voxels
from cryoplan.tissue import enthalpy as ent
from cryoplan.tissue.properties import Tissue


def _tissue(**kw):
    return Tissue("slab", 0.5, 2.0, 3.6e6, 1.8e6, 3.0e8, 265.15, 272.15, **kw)


def test_the_material_row_gives_the_enthalpy_the_tissue_gives():
    tissue = _tissue()
    row = tissue.row()
    temps = np.linspace(250.0, 290.0, 41)
    assert np.allclose(ent.enthalpy_array(temps, row), tissue.enthalpy(temps), rtol=1e-12, atol=1e-3)
    assert row[ent.INV_RANGE] == pytest.approx(1 / 7.0) and row[ent.C_M] == tissue.capacity_mushy


def test_the_explicit_step_is_set_by_the_cell_at_the_cooled_face_plus_perfusion():
    """On a uniform slab V / sum G is dx^2 / 2 inside and dx^2 / 3 in the cell whose centre is
    half a cell from the cooled face, which sets the bound; perfusion's rate adds to it."""
    dx = 0.1e-3
    still = _tissue()
    mat = np.zeros(planar_grid(0.02, dx).shape, dtype=np.int64)
    step = stable_time_step(planar_grid(0.02, dx), np.array([still.row()]), mat, wall_held=False)
    assert step == pytest.approx(dx ** 2 / (3 * still.max_diffusivity), rel=1e-9)
    fine = planar_grid(0.02, dx / 2)
    assert stable_time_step(fine, np.array([still.row()]), np.zeros(fine.shape, dtype=np.int64),
                            wall_held=False) == pytest.approx(step / 4, rel=1e-9)
    perfused = _tissue(perfusion_per_s=1e-3, blood_heat_capacity=4e6)
    step = stable_time_step(planar_grid(0.02, dx), np.array([perfused.row()]), mat, wall_held=False)
    assert step == pytest.approx(1 / (3 * still.max_diffusivity / dx ** 2 + 1e-3 * 4e6 / 3.6e6), rel=1e-9)


def test_interior_voxels_have_six_neighbours_of_their_own_material():
    tissue = np.ones((5, 6, 7), dtype=bool)
    tissue[2, 3, 3] = False  # a probe voxel
    material = np.zeros(tissue.shape, dtype=np.int64)
    material[:, :, 5:] = 1
    inner = interior_voxels(tissue, material)
    assert not inner[0].any() and not inner[-1].any() and not inner[:, :, 0].any()  # the box's sides
    assert not inner[1:4, 2:5, 2:5][tissue[1:4, 2:5, 2:5]].all()  # round the probe voxel
    assert not inner[:, :, 4].any() and not inner[:, :, 5].any()  # either side of the material change
    assert inner[1, 1, 1] and inner[3, 4, 2]
    assert inner.sum() == 3 * 4 * 3 - 6  # the 3 x 4 x 3 core (z 1..3) less the probe and 5 neighbours


def test_cooling_rate_is_the_freezing_range_over_its_crossing_time():
    history = ThermalHistory.start(np.full(3, 310.15), [253.15], np.ones(3, dtype=bool))
    history.liquidus_time[:] = [10.0, 10.0, np.nan]
    history.solidus_time[:] = [17.0, 24.0, np.nan]  # the last cell never froze
    rate = history.cooling_rate(272.15, 265.15)
    assert rate[:2] == pytest.approx([1.0, 0.5]) and np.isnan(rate[2])
    assert history.seconds_below.shape == (1, 3) and not history.frozen.any()
