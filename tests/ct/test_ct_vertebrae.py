"""The vertebrae separated, labelled and named: on the synthetic spine phantom (three vertebrae
37 mm apart, tilted) and on the TPTBox sample (L3 whole, L2 and L4 in part)."""

from dataclasses import replace

import numpy as np
import pytest

from cryoplan.anatomy.ct.tissues import classify_tissues
from cryoplan.anatomy.ct.vertebrae import (
    SACRUM_MIN_HEIGHT_MM,
    Vertebrae,
    find_vertebrae,
    name_levels,
    spine_axis,
)
from cryoplan.errors import InputError
from tests.ct import tptbox
from tests.ct.spine_phantom import spine_phantom


@pytest.fixture(scope="module")
def phantom():
    ph = spine_phantom()
    return ph, find_vertebrae(ph.image, classify_tissues(ph.image))


@pytest.fixture(scope="module")
def sample():
    image, vert, sub = tptbox.sample()
    return image, vert, sub, find_vertebrae(image)


def test_the_phantom_vertebrae_are_separated(phantom):
    ph, found = phantom
    assert len(found.vertebrae) == 3
    # the discs lie between the bodies (27 mm high, 37 mm apart, centred 37 mm from each other)
    np.testing.assert_allclose(found.discs_mm, [-27.5, 9.5], atol=2.0)
    for v, level in zip(found.vertebrae, (1, 2, 3), strict=True):
        mask = found.labels == v.label
        bone = (ph.parts > 10) & (ph.parts % 10 != 0)
        mine = bone & (ph.parts // 10 == level)
        assert (found.labels[mine] == v.label).mean() > 0.99  # its own bone is all found
        assert ((ph.parts[mask & bone] // 10) == level).mean() > 0.99  # none of another's
    assert [v.complete for v in found.vertebrae] == [False, True, False]


def test_the_axis_follows_the_tilt(phantom):
    _, found = phantom
    t = found.axis.tangent(np.array([0.0]))[0]
    # the phantom is tilted 4 degrees about the left-right axis: the axis leans posteriorly going up
    assert np.degrees(np.arctan2(-t[1], t[2])) == pytest.approx(4.0, abs=1.0)


def test_levels_are_named_from_an_anchor(phantom):
    _, found = phantom
    named = name_levels(found, lowest="L4")
    assert [v.name for v in named.vertebrae] == ["L2", "L3", "L4"]
    assert named.named("L3").label == 2
    assert not named.warnings
    with pytest.raises(InputError, match="L5"):
        named.named("L5")
    with pytest.raises(InputError):
        name_levels(found, lowest="L7")


def test_without_anchor_or_sacrum_the_levels_stay_unnamed_with_a_warning(phantom):
    _, found = phantom
    named = name_levels(found)
    assert all(v.name is None for v in named.vertebrae)
    assert [w.code for w in named.warnings] == ["vertebra-level-uncertain"]


def test_a_sacrum_below_the_last_disc_anchors_the_count(phantom):
    _, found = phantom
    # the rule on its own: a lowest segment below the last disc and taller than a lumbar vertebra
    low = found.vertebrae[-1]
    taller = replace(low, height_mm=SACRUM_MIN_HEIGHT_MM + 10)
    tall = Vertebrae(found.labels, found.affine, found.vertebrae[:-1] + (taller,), found.axis, found.discs_mm)
    named = name_levels(tall)
    assert [v.name for v in named.vertebrae] == ["L4", "L5", "S"]
    assert named.sacrum == low.label
    assert [w.code for w in named.warnings] == ["vertebra-level-uncertain"]


def test_the_sample_vertebrae_match_its_labels(sample):
    image, vert, sub, found = sample
    named = name_levels(found, lowest="L4")
    assert [v.name for v in named.vertebrae] == ["L2", "L3", "L4"]
    l3 = named.named("L3").label
    # measured on L3: SAP 97 / 96 %, TP 70 / 86 % (the rest of the TP is below the bone threshold)
    for label, least in ((45, 0.93), (46, 0.93), (43, 0.65), (44, 0.8)):
        assert (named.labels[(vert == 22) & (sub == label)] == l3).mean() >= least, label
    # a limit found here: L3's inferior articular processes and spinous process go to a neighbour
    # (the flood reaches them across the facet joints); the SAP and TP, the target's, stay with L3
    assert (named.labels[(vert == 22) & (sub == 47)] == l3).mean() < 0.5


def test_no_canal_is_refused():
    image, *_ = tptbox.sample()
    with pytest.raises(InputError, match="canal"):
        spine_axis(image, np.zeros(image.shape, bool))


def test_the_sample_has_no_sacrum(sample):
    *_, found = sample
    # L4's body is cut by the crop 21 mm below the L3-L4 disc: not taken for a sacrum
    assert max(v.height_mm for v in found.vertebrae) < SACRUM_MIN_HEIGHT_MM
    named = name_levels(found)
    assert named.sacrum is None and all(v.name is None for v in named.vertebrae)
