"""The SAP-TP junctions found on a CT against their ground truth.

Truth, on the TPTBox sample (github.com/Hendrik-code/TPTBox, Apache-2.0; tests/data/ct/
tptbox-L2-L4/SOURCE.md) and on the synthetic phantom alike: the centroid of the transverse-process
voxels of a vertebra that touch (26 neighbours) its superior-articular-process voxels, left and
right (``tptbox.junction_truth``, ``spine_phantom.junction_truth``). On the sample L3 and L4 have
it on both sides; L2's TP is cut by the crop (5 contact voxels on the right, none on the left).

The target is 3 mm. The sample gives 2.4-6.9 mm (docs/validation.md, "CT landmarks"): the tests
assert the figures measured, with 0.5 mm of margin, and an expected failure marks the 3 mm target
on L3 that is not reached yet (it turns into a failure when it is, so the bound gets tightened).
"""

import numpy as np
import pytest

from cryoplan.anatomy.ct.landmarks import Landmark, find_junctions, vertebra_frame
from cryoplan.anatomy.ct.tissues import classify_tissues
from cryoplan.anatomy.ct.vertebrae import find_vertebrae, name_levels
from cryoplan.errors import InputError
from tests.ct import tptbox
from tests.ct.spine_phantom import junction_truth, spine_phantom

#: Errors (mm) measured on the sample at this commit, by level and side.
MEASURED_MM = {("L3", "left"): 5.75, ("L3", "right"): 4.13, ("L4", "left"): 3.79, ("L4", "right"): 2.32}
MARGIN_MM = 0.5


@pytest.fixture(scope="module")
def sample():
    image, *_ = tptbox.sample()
    tissues = classify_tissues(image)
    vertebrae = name_levels(find_vertebrae(image, tissues), lowest="L4")
    return image, vertebrae, {(m.vertebra, m.side): m for m in find_junctions(image, vertebrae, tissues)}


def errors(found: dict[tuple[str, str], Landmark]) -> dict[tuple[str, str], float]:
    out = {}
    for (level, side), mark in found.items():
        truth, _ = tptbox.junction_truth(level, side)
        if truth is not None:
            out[level, side] = float(np.linalg.norm(mark.junction_mm - truth))
    return out


def test_the_sample_junctions_are_within_the_measured_error(sample):
    _, _, found = sample
    err = errors(found)
    assert set(err) == set(MEASURED_MM)  # L3 and L4 both sides; L2 has no truth
    for key, measured in MEASURED_MM.items():
        assert err[key] < measured + MARGIN_MM, (key, err[key])
    assert np.mean(list(err.values())) < np.mean(list(MEASURED_MM.values())) + 0.25
    for key in MEASURED_MM:
        assert found[key].confidence >= 0.5 and not found[key].warnings


@pytest.mark.xfail(strict=True, reason="the 3 mm target is not reached on the TPTBox sample's L3 "
                   "(5.8 mm left, 4.1 mm right); see docs/validation.md")
def test_the_sample_l3_junctions_are_within_3_mm(sample):
    err = errors(sample[2])
    assert err["L3", "left"] < 3.0 and err["L3", "right"] < 3.0


def test_left_is_the_patients_left(sample):
    _, vertebrae, found = sample
    l3 = vertebrae.named("L3")
    right = vertebra_frame(vertebrae, l3)[0]
    assert (found["L3", "right"].junction_mm - l3.canal_centre_mm) @ right > 15.0
    assert (found["L3", "left"].junction_mm - l3.canal_centre_mm) @ right < -15.0


def test_the_surface_point_is_behind_the_junction_on_bone(sample):
    image, vertebrae, found = sample
    for key in MEASURED_MM:
        mark = found[key]
        back = vertebra_frame(vertebrae, vertebrae.named(key[0]))[1] @ (mark.surface_mm - mark.junction_mm)
        assert -12.0 <= back <= 0.0  # posterior of the junction by less than the TP's root is thick


def test_a_vertebra_cut_by_the_crop_is_flagged(sample):
    _, _, found = sample
    for side in ("left", "right"):
        mark = found.get(("L2", side))
        assert mark is None or [w.code for w in mark.warnings] == ["landmark-uncertain"]


@pytest.mark.parametrize("spacing_mm", [1.0, 1.5])
def test_the_phantom_junctions_are_within_2_mm(spacing_mm):
    ph = spine_phantom(spacing_mm)
    tissues = classify_tissues(ph.image)
    vertebrae = name_levels(find_vertebrae(ph.image, tissues), lowest="L4")
    found = find_junctions(ph.image, vertebrae, tissues)
    assert len(found) == 6
    for mark in found:
        level = list(ph.levels).index(mark.vertebra) + 1
        truth = junction_truth(ph.parts, ph.side, ph.image, level, -1 if mark.side == "left" else 1)
        # measured 0.6-1.2 mm at 1 mm voxels, 0.5-1.7 mm at 1.5 mm (15 HU of noise, tilted 4 and 3
        # degrees); sections thinner than a voxel lost the TP between voxel centres at 1.5 mm
        assert np.linalg.norm(mark.junction_mm - truth) < 2.0, mark
        assert mark.confidence == 1.0 and not mark.warnings


def test_levels_select_the_vertebrae(sample):
    image, vertebrae, _ = sample
    found = find_junctions(image, vertebrae, levels=("L3",))
    assert sorted((m.vertebra, m.side) for m in found) == [("L3", "left"), ("L3", "right")]


def test_vertebrae_of_another_grid_are_refused(sample):
    image, vertebrae, _ = sample
    small = type(image)(image.hu[:10], image.affine, "a crop")
    with pytest.raises(InputError, match="grid"):
        find_junctions(small, vertebrae)
    with pytest.raises(InputError):
        find_junctions(None, vertebrae)
