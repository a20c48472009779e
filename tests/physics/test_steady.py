"""The steady start that lets the 3D solver skip the body at rest: the residual of the Pennes
operator, the body's resting temperature, and the active box around the probes (which changes
nothing, and grows when the cold reaches its edge)."""

from __future__ import annotations

import numpy as np

from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal import solver3d
from cryoplan.thermal.placement import PlacedProbe
from cryoplan.thermal.probe import ProbeModel
from cryoplan.thermal.solver3d import ThermalProblem3D, solve3d
from cryoplan.thermal.steady import pennes_operator, pennes_residual, steady_temperature, unsteady_voxels
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.tissue.library import get_tissue


def test_the_residual_without_the_matrix_is_the_operators_balance():
    """``pennes_residual`` (what the active box starts from) is b - A T of the assembled
    operator, on tissue voxels, with two materials, a skin side, far-field sides and a probe's
    voxels taken out, at a temperature that is nowhere at rest."""
    muscle, fat = get_tissue("muscle"), get_tissue("fat")
    base = VoxelGrid.uniform((9, 10, 12), 0.5e-3, (muscle, fat), sides=("far-field",) * 5 + ("skin",))
    mat = base.material.copy()
    mat[:, :, 8:] = 1
    mat[2:4, 6:, :5] = 1
    grid = VoxelGrid(base.spacing, base.origin, mat, base.materials, base.sides)
    tissue = np.ones(grid.shape, dtype=bool)
    tissue[4:6, 4:6, :7] = False  # a probe
    t = 300.0 + 5.0 * np.sin(np.arange(grid.n_cells)).reshape(grid.shape)
    a_mat, b = pennes_operator(grid, tissue)
    expected = (b - a_mat @ t.reshape(-1)).reshape(grid.shape)
    expected[~tissue] = 0.0
    got = pennes_residual(grid, tissue, t)
    assert np.abs(expected).max() > 1e-3  # a balance far from zero, not a trivial agreement
    assert np.allclose(got, expected, rtol=0.0, atol=1e-12 * np.abs(expected).max())


def test_steady_start_is_at_rest_and_the_active_box_changes_nothing():
    """With skin convection the body is not uniform; from its steady state only the voxels near
    the probe change, and the active box then gives the same ice ball as updating every voxel,
    with energy conserved (the heat conducted into the box from the tissue at rest is counted)."""
    muscle, fat = get_tissue("muscle"), get_tissue("fat")
    grid = VoxelGrid.uniform((24, 24, 64), 0.5e-3, (muscle, fat),
                             sides=("far-field",) * 5 + ("skin",))
    mat = grid.material.copy()
    mat[:, :, 54:] = 1
    grid = VoxelGrid(grid.spacing, grid.origin, mat, grid.materials, grid.sides)
    rest = steady_temperature(grid)
    tissue = np.ones(grid.shape, dtype=bool)
    assert unsteady_voxels(grid, rest, tissue, 300.0, 1e-3).size == 0
    assert rest[:, :, -1].mean() < rest[:, :, 0].mean() - 1.0  # the skin side is cooler
    probe = PlacedProbe.at(ProbeModel(1.6e-3, 4e-3, "fixed-temperature", wall_temperature=233.15),
                           tip=(0, 0, -10e-3), axis=(0, 0, 1))
    protocol = Protocol.of([Phase("freeze", 20)])
    boxed = solve3d(ThermalProblem3D(grid, (probe,), protocol, initial_field=rest))
    noisy = rest + 2e-3 * (np.arange(rest.size).reshape(rest.shape) % 2)  # not at rest anywhere
    whole = solve3d(ThermalProblem3D(grid, (probe,), protocol, initial_field=noisy))
    assert boxed.voxel_updates < 0.8 * whole.voxel_updates
    assert boxed.energy_balance_error < 1e-6
    assert abs(boxed.isotherms[273.15].radius[-1, 0] - whole.isotherms[273.15].radius[-1, 0]) < 1e-6
    assert np.abs(boxed.temperature - whole.temperature)[boxed.history.tissue].max() < 5e-3


def test_a_step_that_reaches_the_active_box_edge_is_redone_in_a_wider_box(monkeypatch):
    """With one voxel of margin the cold reaches the box's outer layer within a step: the step is
    redone in a wider box, so the voxels held at rest never differ from the solution by more than
    about DISTURBED_K, and the heat balance still closes to round-off."""
    grid = VoxelGrid.uniform((20, 20, 40), 0.5e-3, (get_tissue("muscle"),))
    rest = steady_temperature(grid)
    probe = PlacedProbe.at(ProbeModel(1.6e-3, 4e-3, "fixed-temperature", wall_temperature=233.15),
                           tip=(0, 0, -4e-3), axis=(0, 0, 1))
    problem = ThermalProblem3D(grid, (probe,), Protocol.of([Phase("freeze", 30), Phase("passive-thaw", 10)]),
                               initial_field=rest, max_step=2.0, output_interval=2.0)
    monkeypatch.setattr(solver3d, "BOX_MARGIN", 10**6)  # the whole grid, every step
    whole = solve3d(problem)
    monkeypatch.setattr(solver3d, "BOX_MARGIN", 1)
    narrow = solve3d(problem)
    assert whole.redone_steps == 0 < narrow.redone_steps
    assert narrow.sweeps > whole.sweeps  # a redone step's sweeps are counted
    assert narrow.energy_balance_error < 1e-11
    tissue = whole.history.tissue
    assert np.abs(narrow.history.min_temperature - whole.history.min_temperature)[tissue].max() < 2e-3
    assert np.abs(narrow.temperature - whole.temperature)[tissue].max() < 2e-3
