"""Anatomy: templates, label tables, NIfTI input (and its bad input), NIfTI/VTK export (the steady
start that lets the 3D solver skip the body at rest is in test_steady.py)."""

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
