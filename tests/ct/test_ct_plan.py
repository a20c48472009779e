"""Planning on a patient's CT: each target's region (``anatomy.ct.region``) against the synthetic
phantom whose anatomy is known and on the real TPTBox sample, the approach told in a physician's
terms (``anatomy.frame``), and ``cryoplan plan --ct`` from the command line."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan.anatomy import templates
from cryoplan.anatomy.ct.region import target_region
from cryoplan.anatomy.ct.survey import survey
from cryoplan.anatomy.frame import approach_angles, clinical_approach
from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.report.plan_json import NOT_COPIED
from cryoplan.report.plan_rows import probe_rows
from tests.ct.spine_phantom import spine_phantom
from tests.ct.tptbox import sample

SIDE = {"left": -1, "right": 1}


@pytest.fixture(scope="module")
def phantom():
    ph = spine_phantom(1.0)
    return ph, survey(ph.image, "L4")


@pytest.fixture(scope="module")
def tptbox():
    image, _, _ = sample()
    return survey(image, "L4")


def _skin_distance(ph, origin_mm: np.ndarray, direction: np.ndarray) -> float:
    """Distance (mm) from a point along a direction to the phantom's skin plane (air behind it)."""
    o, d = origin_mm @ ph.rotation, direction @ ph.rotation  # in the phantom's frame
    return float((o[1] - ph.skin_y()) / -d[1])


@pytest.mark.parametrize("side", ["left", "right"])
def test_the_phantom_region_lies_where_the_template_put_the_target(phantom, side):
    ph, found = phantom
    region = target_region(found, "L2", side, 0.75)  # the L2 medial branch, on L3's junction
    frame = region.patient
    truth = ph.world("L3", SIDE[side], np.zeros(3))[0]
    # the junction is found within 0.6-1.2 mm on this phantom; the surface adds half a step
    assert np.linalg.norm(frame.origin_mm - truth) < 2.0
    assert np.allclose(frame.axes @ frame.axes.T, np.eye(3), atol=1e-9)
    nerve = frame.to_patient(region.targets[0].points)
    course = templates.medial_branch_course("L2").path_mm
    assert np.max(np.linalg.norm(nerve - ph.world("L3", SIDE[side], course), axis=1)) < 2.5
    # the midline: the phantom's canal centre is at x = 0, the template's target 18 mm lateral
    assert abs(-frame.midline_x_m * 1e3 - templates.anatomy_data()["lumbar"]["midline_mm"]) < 2.0


def test_the_phantom_region_reaches_the_skin_at_its_depth(phantom):
    ph, found = phantom
    region = target_region(found, "L2", "left", 0.75)
    frame = region.patient
    assert region.volume.sides[5] == "skin"
    top_mm = (region.volume.origin[2] + (region.volume.shape[2] - 0.5) * region.volume.spacing[2]) * 1e3
    assert abs(top_mm - _skin_distance(ph, frame.origin_mm, frame.axes[2])) < 1.0
    tip = region.tips(1e-3)[0]
    assert region.path_checked(tip, region.approach_axis)
    length = region.path_length(tip, region.approach_axis) * 1e3
    axis_ras = region.approach_axis @ frame.axes
    assert abs(length - _skin_distance(ph, frame.to_patient(tip), axis_ras)) < 1.0


def test_a_needle_through_the_lamina_meets_the_patients_bone(phantom):
    _, found = phantom
    region = target_region(found, "L2", "right", 0.75)
    tip = region.tips(1e-3)[0]
    medial = np.array([-0.7, 0.0, 0.714])  # towards the lamina and the spinous process
    assert region.bone_on_path(tip, medial / np.linalg.norm(medial), 1e-3) is not None


@pytest.mark.parametrize("level,side", [("L3", "left"), ("L3", "right"), ("L2", "right")])
def test_on_the_cropped_sample_the_nerve_lies_on_the_patients_bone(tptbox, level, side):
    region = target_region(tptbox, level, side, 0.75)
    labels = region.volume.labels
    nerve = labels == templates.TARGET
    bone = labels == templates.BONE
    touching = nerve & (np.roll(bone, 1, 2) | np.roll(bone, 2, 2))  # bone one or two voxels in front
    assert nerve.sum() > 10 and touching.any()
    assert (labels == templates.DURA).any()  # the canal, from the CT
    assert region.volume.sides[5] == "far-field"  # the crop ends inside the body
    assert not region.path_checked(region.tips(1e-3)[0], region.approach_axis)


def test_a_level_the_survey_did_not_find_is_refused_naming_those_found(tptbox):
    with pytest.raises(InputError, match="L2 left, L2 right, L3 left, L3 right"):
        target_region(tptbox, "L4", "left", 0.75)


@pytest.mark.parametrize("lateral,caudal", [(0.0, 20.0), (15.0, 30.0), (-10.0, 5.0), (40.0, 45.0)])
def test_the_approach_angles_invert_the_templates_approach(lateral, caudal):
    assert np.allclose(approach_angles(templates.approach(lateral, caudal)), (caudal, lateral), atol=1e-9)


def test_the_entry_is_told_from_the_midline_and_the_target():
    told = clinical_approach(np.zeros(3), np.array([0.0, 0.0, 1.0]), np.array([0.01, -0.005, 0.05]), -0.02)
    assert told["entry_lateral_mm"] == 30.0 and told["entry_cranial_mm"] == -5.0
    assert told["entry_cranial_from"] == "the target"


PLAN = """
[anatomy]
spacing_mm = 0.75

[probe]
catalog = "n2o-2.0mm"

[plan]
placement = "stimulation"
probes = 1
samples = 32
checks = 0
freeze_seconds = [120]
cycles = [1]
"""


def test_plan_on_the_phantoms_ct_puts_the_needle_on_its_bone_from_its_skin(phantom, tmp_path):
    ph, _ = phantom
    ct = tmp_path / "pt-secret-name" / "ct.nii.gz"
    ct.parent.mkdir()
    nib.save(nib.Nifti1Image(ph.image.hu, ph.image.affine), ct)
    (tmp_path / "plan.toml").write_text(PLAN)
    out = tmp_path / "plan.json"
    ran = CliRunner().invoke(app, ["plan", str(tmp_path / "plan.toml"), "--ct", str(ct), "--lowest", "L4",
                                   "--levels", "L2", "--sides", "left", "--json", str(out),
                                   "--export", str(tmp_path / "export")])
    assert ran.exit_code in (0, 1), ran.output
    text = out.read_text()
    assert "pt-secret-name" not in text  # a CT's path is never copied
    data = json.loads(text)
    assert data["inputs"]["anatomy"]["ct"] == NOT_COPIED
    assert data["ct"]["frame"] == "RAS" and data["patient"]["frame"] == "RAS"
    candidate = data["candidates"][0]
    assert candidate  # the search ran on the patient's region
    if data["status"] != "plan":
        pytest.skip("no safe plan on the phantom at these settings: " + data["why"])
    probe = data["plan"]["probes"][0]
    tip, entry = (np.array(probe["patient_ras_mm"][k]) for k in ("tip", "entry"))
    # where the template would put a tip beside the nerve (its candidates, seated on its bone)
    template = templates.lumbar_medial_branch("L2", 0.75)
    candidates = [template.seated(t, template.approach_axis, 1e-3) for t in template.tips(1e-3, (0.0, 2e-3))]
    world = ph.world("L3", -1, np.array([c for c in candidates if c is not None]) * 1e3)
    assert np.min(np.linalg.norm(world - tip, axis=1)) < 3.0
    assert abs((entry @ ph.rotation)[1] - ph.skin_y()) < 1.0  # the entry is on the skin
    told = probe["approach"]
    assert told["skin_reached"]
    assert abs(told["depth_mm"] - np.linalg.norm(entry - tip)) < 0.2
    # the phantom's midline: its canal's centre, 18 mm medial of the template's target
    lateral = (np.linalg.solve(ph.rotation, entry)[0] * -1)  # the left side: lateral is -x
    assert abs(told["entry_lateral_mm"] - lateral) < 2.5
    # the exported labels lie on the CT: the nerve where the phantom's anatomy puts it
    labels = nib.load(tmp_path / "export" / "labels.nii.gz")
    nerve = np.argwhere(np.asarray(labels.dataobj) == templates.TARGET)
    on_ct = nerve @ labels.affine[:3, :3].T + labels.affine[:3, 3]
    course = ph.world("L3", -1, templates.medial_branch_course("L2").path_mm)
    assert np.median(templates.tube_distance(on_ct, course)) < 2.5


@pytest.mark.parametrize("args,field", [
    (["--ct", "/nonexistent/ct.nii.gz"], "ct"),
    (["--example", "--lowest", "L4"], "--lowest"),
    (["--ct", "x.nii.gz", "--levels", "L5"], "anatomy.levels"),
])
def test_plan_on_a_ct_refuses_bad_input_in_one_line(args, field):
    ran = CliRunner().invoke(app, ["plan", *args])
    assert ran.exit_code == 2, ran.output
    assert field in ran.output and "Traceback" not in ran.output


def test_the_probe_rows_tell_the_approach_and_the_ct_position():
    probe = {"entry_mm": [1, 2, 3], "tip_mm": [0, 0, 0], "direction_tip_to_hub": [0, 0, 1],
             "approach": {"caudal_deg": 30.0, "lateral_deg": 20.0, "depth_mm": 50.0, "entry_lateral_mm": 35.0,
                          "entry_cranial_mm": 5.0, "entry_cranial_from": "the target",
                          "skin_reached": True},
             "patient_ras_mm": {"tip": [1.0, 2.0, 3.0], "entry": [4.0, 5.0, 6.0]}}
    rows = dict(probe_rows({"probes": [probe, probe]}))
    assert rows["probe 2: approach"].startswith("30° caudal, 20° lateral; 50 mm deep; skin entry 35 mm")
    assert rows["probe 1: on the CT (RAS mm)"] == "tip [1.0, 2.0, 3.0], entry [4.0, 5.0, 6.0]"


def test_a_regions_affine_puts_its_voxels_on_the_patient(tptbox):
    region = target_region(tptbox, "L3", "left", 0.75)
    vol, frame = region.volume, region.patient
    affine = frame.affine_mm(vol.origin, vol.spacing)
    ijk = np.array([[0, 0, 0], [5, 7, 11], [42, 42, 80]], float)
    centres = vol.origin + ijk * vol.spacing  # in the frame, m
    assert np.allclose(ijk @ affine[:3, :3].T + affine[:3, 3], frame.to_patient(centres), atol=1e-9)
    assert np.linalg.det(affine[:3, :3]) < 0  # the left side's frame is mirrored
