"""Measuring an isotherm: on the axisymmetric and radial grids (``thermal.isotherms``) and on a
voxel grid (``thermal.isotherms3d``), temperatures linear between cell centres give the exact
size of a field linear in the radius."""

import math

import numpy as np
import pytest

from cryoplan.thermal import isotherms, isotherms3d
from cryoplan.thermal.grid import radial_grid


def test_a_field_linear_in_the_radius_gives_its_exact_isotherm_radius_and_volume():
    grid = radial_grid(1e-3, 20e-3, 0.1e-3)
    centres = 0.5 * (grid.r_faces[:-1] + grid.r_faces[1:])
    t = np.repeat((233.15 + 2000.0 * (centres - 1e-3))[:, None], grid.shape[1], axis=1)  # 2 K/mm
    rows = isotherms.wall_temperatures(grid, np.full(len(grid.probe_cells), 233.15))
    radius, length, volume = isotherms.measure(grid, t, rows, 253.15)
    assert radius == pytest.approx(11e-3, abs=1e-9)
    assert math.isnan(length)  # a radial grid's probe has no length of its own
    assert volume == pytest.approx(math.pi * (11e-3 ** 2 - 1e-3 ** 2) * grid.active_length, rel=1e-9)
    assert isotherms.measure(grid, t, rows, 230.0)[0] == 0.0  # nothing that cold


def test_each_probe_measures_the_cold_column_round_its_own_axis():
    """Two parallel cold columns, 4 and 2 mm in radius, 10 mm apart in a 0.5 mm voxel box:
    each probe's radius is its own column's within a voxel, the volume that of two cylinders
    within 3 %, and the length the box's height (the cold reaches its top and bottom)."""
    n, spacing = (41, 21, 21), 0.5e-3
    axes_x = [(np.arange(k) - (k - 1) / 2) * spacing for k in n]
    x, y, _ = np.meshgrid(*axes_x, indexing="ij")
    tips = np.array([[-5e-3, 0, -3e-3], [5e-3, 0, -3e-3]])
    r1, r2 = np.hypot(x - tips[0, 0], y), np.hypot(x - tips[1, 0], y)
    t = np.minimum(253.15 + 5000 * (r1 - 4e-3), 253.15 + 5000 * (r2 - 2e-3))  # -20 C at r = 4 and 2 mm
    origin = np.array([a[0] for a in axes_x])
    volume, radius, length = isotherms3d.measure(
        t, np.ones(n, dtype=bool), origin, np.full(3, spacing), np.array([253.15]), tips,
        np.array([[0, 0, 1.0], [0, 0, 1.0]]), np.array([0, n[0], 0, n[1], 0, n[2]]))
    assert radius[0] == pytest.approx([4e-3, 2e-3], abs=spacing)
    height = n[2] * spacing
    assert volume[0] == pytest.approx(math.pi * (4e-3 ** 2 + 2e-3 ** 2) * height, rel=0.03)
    assert length[0] == pytest.approx([height, height], abs=spacing)
