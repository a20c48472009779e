"""Grid geometry: volumes, conductances and the probe surface."""

import math

import numpy as np
import pytest

from cryoplan.errors import InputError
from cryoplan.thermal.grid import axisymmetric_grid, radial_grid, stretched_faces


def test_radial_volumes_fill_the_annulus():
    g = radial_grid(1e-3, 20e-3, 0.1e-3, growth=1.1, uniform_extent=8e-3)
    assert g.volume.sum() == pytest.approx(math.pi * (20e-3**2 - 1e-3**2))
    assert np.diff(g.r_faces).min() == pytest.approx(0.1e-3)
    assert g.probe_area[0] == pytest.approx(2 * math.pi * 1e-3)


def test_axisymmetric_volumes_exclude_the_probe():
    a, length, ext = 1e-3, 6e-3, 15e-3
    g = axisymmetric_grid(a, length, ext, 0.25e-3, growth=1.1, uniform_extent=8e-3)
    height = length + 2 * ext
    inside = math.pi * a**2 * (length + ext)
    assert g.volume[g.tissue].sum() == pytest.approx(math.pi * ext**2 * height - inside)
    # cooled surface: tip disc + active side wall
    assert g.probe_area.sum() == pytest.approx(math.pi * a**2 + 2 * math.pi * a * length)
    # the probe interior is cut off from the tissue
    n_core = int(np.searchsorted(g.r_faces, a - 1e-12))
    assert g.r_faces[n_core] == pytest.approx(a)
    assert (g.g_r[n_core, g.z > 0] == 0).all()
    assert (g.g_z[:n_core, int(np.searchsorted(g.z, 0.0))] == 0).all()
    assert not g.tissue[:n_core, g.z > 0].any() and g.tissue[:, g.z < 0].all()
    assert g.z_faces.min() == pytest.approx(-ext) and g.z_faces.max() == pytest.approx(length + ext)
    assert np.any(np.isclose(g.z_faces, 0.0)) and np.any(np.isclose(g.z_faces, length))


def test_steady_conduction_through_a_ring_is_exact():
    # u linear in ln r is the exact steady state; the log-form conductance carries the same flow
    g = radial_grid(1e-3, 10e-3, 0.5e-3, growth=1.2, uniform_extent=3e-3)
    u = np.log(g.r)
    flows = g.g_r[1:-1, 0] * (u[:-1] - u[1:])
    assert np.allclose(flows, -2 * math.pi)


def test_stretched_faces_end_exactly():
    f = stretched_faces(1.0, 20.0, 0.1, 5.0, 1.07)
    assert f[0] == 1.0 and f[-1] == 20.0
    assert np.all(np.diff(f) > 0)


@pytest.mark.parametrize("spacing, extent, field", [
    (1.5e-3, 20e-3, "grid.spacing_mm"),   # coarser than the probe radius
    (-0.1e-3, 20e-3, "grid.spacing_mm"),
    (0.1e-3, 1.1e-3, "grid.extent_mm"),
])
def test_bad_grid(spacing, extent, field):
    with pytest.raises(InputError) as err:
        axisymmetric_grid(1e-3, 6e-3, extent, spacing)
    assert err.value.field == field
