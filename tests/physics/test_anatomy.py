"""Anatomy: templates, label tables, NIfTI input (and its bad input), NIfTI/VTK export, and the
steady start that lets the 3D solver skip the body at rest."""

from __future__ import annotations

import base64

import nibabel as nib
import numpy as np
import pytest

from cryoplan.anatomy.export import write_nifti, write_vti
from cryoplan.anatomy.labels import default_labels, label_table, read_nifti
from cryoplan.anatomy.templates import (
    BONE,
    DURA,
    FAT,
    MUSCLE,
    ROOT,
    SKIN,
    TARGET,
    lumbar_medial_branch,
    sacral_lateral_branch,
)
from cryoplan.errors import InputError
from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal import solver3d
from cryoplan.thermal.placement import PlacedProbe
from cryoplan.thermal.probe import ProbeModel
from cryoplan.thermal.solver3d import ThermalProblem3D, solve3d
from cryoplan.thermal.steady import pennes_operator, pennes_residual, steady_temperature, unsteady_voxels
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.tissue.library import get_tissue


@pytest.mark.parametrize("level", ["L1", "L3", "L5"])
def test_lumbar_template_puts_the_nerve_in_the_groove_and_the_root_in_front(level):
    a = lumbar_medial_branch(level, spacing_mm=0.5)
    vol = a.volume
    assert {s.name for s in vol.with_role("protected")} == {"skin", "nerve root", "dural sac"}
    # the target nerve runs along the SAP-TP junction: bone medial (-x) and anterior (-z) of it
    groove = np.array([0.55e-3, -4e-3, 0.55e-3])
    idx = np.round((groove - vol.origin) / vol.spacing).astype(int)
    assert vol.labels[tuple(idx)] == TARGET
    assert vol.labels[tuple(idx - [3, 0, 0])] == BONE and vol.labels[tuple(idx - [0, 0, 3])] == BONE
    # the spinal nerve lies in front of the transverse process, the dural sac medially
    root = vol.centres_of(ROOT)
    assert root[:, 2].max() < -6e-3 and vol.centres_of(DURA)[:, 0].max() < -9e-3
    # the skin is the box's +z side
    assert vol.sides[5] == "skin" and np.all(vol.labels[:, :, -1] == 3)


def test_lumbar_skin_lies_at_the_measured_depth_of_each_level():
    """Yoon et al. 2021 (MRI, 158 adults): skin to transverse process 45, 49, 53, 57, 59 mm from
    L1 to L5; the template's skin surface (the box's +z side) is there, the fat and skin under it."""
    for level, depth_mm in zip(["L1", "L2", "L3", "L4", "L5"], [45, 49, 53, 57, 59], strict=True):
        vol = lumbar_medial_branch(level, spacing_mm=1.0).volume
        top = vol.origin[2] + (vol.labels.shape[2] - 0.5) * vol.spacing[2]
        assert abs(top - depth_mm * 1e-3) < 1e-9, level
        column = vol.labels[0, 0, :]  # a corner column, away from bone: 2 mm skin over 12 mm fat
        assert list(column[-2:]) == [SKIN] * 2 and list(column[-14:-2]) == [FAT] * 12
        assert column[-15] == MUSCLE


def test_sacral_template_branch_leaves_the_foramen_laterally():
    a = sacral_lateral_branch("S2", spacing_mm=0.5)
    nerve = a.targets[0]
    start, end = nerve.points
    assert end[0] > start[0]  # runs laterally
    assert np.all(np.abs(a.volume.centres_of(ROOT)[:, 2]) > 15e-3)  # in front of the sacrum


def test_unknown_level_and_spacing_are_refused():
    with pytest.raises(InputError, match="anatomy.level"):
        lumbar_medial_branch("L6")
    with pytest.raises(InputError, match="anatomy.spacing_mm"):
        lumbar_medial_branch("L4", spacing_mm=5.0)


def _nifti(tmp_path, labels, affine, name="labels.nii.gz"):
    path = tmp_path / name
    nib.save(nib.Nifti1Image(labels.astype(np.int16), affine), str(path))
    return path


def test_nifti_round_trip_and_axis_flips(tmp_path):
    a = lumbar_medial_branch("L4", spacing_mm=1.0)
    vol = a.volume
    write_nifti(tmp_path / "l4.nii.gz", vol.labels.astype(np.int16), vol.origin, vol.spacing)
    back = read_nifti(tmp_path / "l4.nii.gz", default_labels())
    assert np.array_equal(back.labels, vol.labels)
    assert np.allclose(back.origin, vol.origin) and np.allclose(back.spacing, vol.spacing)
    # the same volume stored with x flipped and x/y swapped comes back in the same orientation
    aff = np.array([[0, -1.0, 0, 0], [1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1]])
    labels = np.arange(24).reshape(2, 3, 4) % 3 + 1
    turned = read_nifti(_nifti(tmp_path, labels, aff, "t.nii"), default_labels())
    assert turned.shape == (3, 2, 4) and np.all(turned.spacing > 0)
    # world x = -j, y = i: the canonical (RAS) array is the stored one transposed, x reversed
    assert np.array_equal(turned.labels, np.flip(labels.transpose(1, 0, 2), axis=0))


def test_nifti_bad_input_is_refused_naming_the_problem(tmp_path):
    labels = np.ones((4, 4, 4), dtype=np.int16)
    oblique = np.eye(4)
    oblique[:3, :3] = [[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]]
    with pytest.raises(InputError, match="axis-aligned affine"):
        read_nifti(_nifti(tmp_path, labels, oblique), default_labels())
    labels[0, 0, 0] = 42
    with pytest.raises(InputError, match=r"labels = \[42\]"):
        read_nifti(_nifti(tmp_path, labels, np.eye(4)), default_labels())
    with pytest.raises(InputError, match="anatomy.nifti"):
        read_nifti(tmp_path / "missing.nii", default_labels())
    (tmp_path / "junk.nii").write_text("not a nifti")
    with pytest.raises(InputError, match="readable NIfTI"):
        read_nifti(tmp_path / "junk.nii", default_labels())


def test_label_table_errors():
    with pytest.raises(InputError, match=r"labels.1.tissue"):
        label_table({"1": {"tissue": "granite"}})
    with pytest.raises(InputError, match=r"labels.x"):
        label_table({"x": {"tissue": "muscle"}})
    with pytest.raises(InputError, match=r"labels.2.role"):
        label_table({"2": {"tissue": "muscle", "role": "decorative"}})


def test_vti_holds_the_fields_in_vtk_order(tmp_path):
    values = np.arange(24, dtype=float).reshape(2, 3, 4)
    write_vti(tmp_path / "f.vti", np.zeros(3), np.full(3, 1e-3), {"v": values})
    text = (tmp_path / "f.vti").read_text()
    assert 'WholeExtent="0 1 0 2 0 3"' in text
    blob = text.split('format="binary">')[1].split("</DataArray>")[0]
    raw = base64.b64decode(blob)
    data = np.frombuffer(raw[4:], dtype=np.float64)
    assert np.frombuffer(raw[:4], dtype=np.uint32)[0] == values.nbytes
    assert data[1] == values[1, 0, 0] and data[2] == values[0, 1, 0]  # x varies fastest


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
