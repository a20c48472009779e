"""Tissue classes from Hounsfield units: on the TPTBox sample (its vertebra labels as the bone's
truth) and on the synthetic spine phantom."""

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.ct.tissues import (
    AIR,
    BONE,
    CANAL,
    FAT,
    SKIN,
    SOFT,
    TABLE,
    canonical,
    classify_tissues,
    ct_data,
)
from cryoplan.errors import InputError
from cryoplan.tissue.library import tissue_names
from tests.ct import tptbox
from tests.ct.spine_phantom import CANAL as PHANTOM_CANAL
from tests.ct.spine_phantom import spine_phantom


@pytest.fixture(scope="module")
def sample():
    image, vert, sub = tptbox.sample()
    return image, vert, sub, classify_tissues(image)


@pytest.fixture(scope="module")
def phantom():
    ph = spine_phantom()
    return ph, classify_tissues(ph.image)


def test_every_threshold_is_cited():
    data = ct_data()
    for section, values in data.items():
        numbers = [k for k, v in values.items() if isinstance(v, int | float)]
        sources = [k for k in values if k.endswith("_source")]
        assert numbers and sources, section
    hu = data["hu"]
    assert (hu["fat_min"], hu["fat_max"], hu["muscle_min"], hu["muscle_max"]) == (-190, -30, -29, 150)
    assert "Kvist" in data["hu"]["fat_source"] or "KVIST1988" in data["hu"]["fat_source"]


def test_the_table_uses_the_tissue_library_names():
    assert {entry["tissue"] for entry in TABLE.values()} <= set(tissue_names())
    assert TABLE[CANAL]["tissue"] == "csf" and TABLE[CANAL]["role"] == "protected"
    assert AIR not in TABLE  # the library has no air


def test_bone_on_the_sample_covers_its_processes(sample):
    _, vert, sub, tissues = sample
    bone = tissues.labels == BONE
    # measured: SAP 96/97 %, IAP 100 %, arch 94 %, TP 66 / 87 % (thin, 100-300 HU), body border 91 %
    for label, least in ((45, 0.93), (46, 0.93), (47, 0.97), (48, 0.97), (41, 0.9), (43, 0.6), (44, 0.8)):
        assert bone[sub == label].mean() >= least, label
    # the osteoporotic body's inside (median 51 HU) is bone only where the cortex encloses it
    assert bone[sub == 50].mean() >= 0.5
    assert (bone & (vert > 0)).sum() / bone.sum() >= 0.65  # the rest: unlabelled bone and margins


def test_the_canal_on_the_sample_lies_between_body_and_arch(sample):
    image, vert, sub, tissues = sample
    canal = tissues.labels == CANAL
    assert canal.sum() > 300
    assert (vert[canal] == 0).mean() >= 0.75  # soft tissue, not a vertebra (measured 0.82)
    y_canal = image.world_mm(np.argwhere(canal))[:, 1].mean()
    y_body = image.world_mm(np.argwhere(sub == 50))[:, 1].mean()
    y_arch = image.world_mm(np.argwhere(sub == 41))[:, 1].mean()
    assert y_arch < y_canal < y_body  # RAS+: anterior is +y


def test_the_sample_is_a_crop_without_skin(sample):
    *_, tissues = sample
    assert not (tissues.labels == SKIN).any()
    assert any("no skin" in note for note in tissues.notes)
    # a few voxels of bowel gas cut by the crop are air, not the room's
    assert 0 < (tissues.labels == AIR).sum() < 100


def test_the_phantom_classes(phantom):
    ph, tissues = phantom
    labels = tissues.labels
    assert set(tissues.present()) == {"air", "fat", "soft tissue", "skin", "bone", "spinal canal"}
    bone_truth = (ph.parts > 10) & (ph.parts % 10 != 0)
    assert (labels[bone_truth] == BONE).mean() > 0.97
    assert (labels[labels == CANAL] != BONE).all()
    # the skin: a 2 mm shell on the air outside (the posterior surface, tilted with the phantom)
    depth = ndimage.distance_transform_edt(labels != AIR, sampling=ph.image.spacing_mm)
    assert (labels == SKIN).sum() > 1000
    assert depth[labels == SKIN].max() <= ct_data()["skin"]["thickness_mm"] + 1e-9
    assert (labels[(depth > 0) & (depth <= 1.0)] == SKIN).all()
    # carried across the discs between the outermost rings (measured 0.61: not beyond them)
    assert (labels[ph.parts == PHANTOM_CANAL] == CANAL).mean() > 0.55
    assert (labels == FAT).sum() > 0 and (labels == SOFT).sum() > 0


def test_label_volume_needs_a_stand_in_for_air(phantom):
    _, tissues = phantom
    with pytest.raises(InputError, match="air_as"):
        tissues.label_volume()
    with pytest.raises(InputError, match="air_as"):
        tissues.label_volume(air_as="vacuum")
    volume = tissues.label_volume(air_as="fat")
    assert volume.structures[CANAL].tissue == "csf"
    assert volume.voxel_grid().shape == volume.shape


def test_canonical_matches_nibabel_on_the_sample(sample):
    image, *_ = sample
    values, spacing, origin = canonical(image.hu, image.affine)
    img = nib.as_closest_canonical(nib.Nifti1Image(image.hu, image.affine))
    np.testing.assert_array_equal(values, np.asanyarray(img.dataobj))
    np.testing.assert_allclose(spacing, np.diag(img.affine)[:3])
    np.testing.assert_allclose(origin, img.affine[:3, 3])


def test_bad_input_is_refused():
    with pytest.raises(InputError):
        classify_tissues(np.zeros((4, 4, 4)))
    with pytest.raises(InputError):
        classify_tissues(CTImage(np.zeros((4, 4), np.float32), np.eye(4), "2D"))
    oblique = np.eye(4)
    oblique[:3, :3] = [[0.9, 0.1, 0], [-0.1, 0.9, 0], [0, 0, 1]]
    with pytest.raises(InputError, match="axis-aligned"):
        canonical(np.zeros((3, 3, 3)), oblique)


def test_nan_hounsfield_units_are_refused():
    hu = np.zeros((4, 4, 4), np.float32)
    hu[1, 1, 1] = np.nan
    with pytest.raises(InputError, match="finite"):
        classify_tissues(CTImage(hu, np.eye(4), "NaN"))
