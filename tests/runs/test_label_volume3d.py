"""3D procedure files on a NIfTI label volume (``[anatomy] nifti`` and ``label_table``, as a plan
names them): the volume's box, voxels, tissues and frame; every bad volume refused before the run
in one line, nothing written; an upload naming no path. Tiny volumes (20 x 20 x 30 voxels of
1 mm), 10 s freezes."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import service
from cryoplan.cli import app
from cryoplan.errors import InputError

runner = CliRunner()
SHAPE = (20, 20, 30)
#: x stored from the patient's right to left (a negative x axis, as many scanners write it):
#: voxel (i, j, k) lies at world (9.5 - i, j - 9.5, k - 9.5) mm, the box -10..10, -10..10, -10..20.
FLIPPED = np.array([[-1.0, 0, 0, 9.5], [0, 1.0, 0, -9.5], [0, 0, 1.0, -9.5], [0, 0, 0, 1]])
TABLE = ('[labels.1]\nname = "csf"\ntissue = "csf"\n'
         '[labels.4]\nname = "bone"\ntissue = "cortical-bone"\n')
COMMON = {"probe": [{"catalog": "n2o-2.0mm", "tip_mm": [0.0, 0.0, 0.0]}],
          "protocol": {"phases": [{"kind": "freeze", "seconds": 10}]},
          "nerve": [{"name": "n", "points_mm": [[3.0, -8.0, 2.0], [3.0, 8.0, 2.0]]}],
          "output": {"isotherms_c": [0.0, -20.0], "interval_s": 2.0}}


def _save(path, labels, affine=FLIPPED):
    import nibabel as nib

    nib.save(nib.Nifti1Image(labels, affine), str(path))


def _volume(folder, name="labels.nii.gz", labels=None, affine=FLIPPED):
    """A CSF volume (label 1) with a bone slab (label 4) at world x 4..8 mm, y -4..4 mm, all z."""
    if labels is None:
        labels = np.ones(SHAPE, np.int16)
        x = 9.5 - np.arange(SHAPE[0])  # world x of each voxel column (the flipped axis)
        y = np.arange(SHAPE[1]) - 9.5
        labels[np.ix_((x > 4) & (x < 8), (y > -4) & (y < 4), np.arange(SHAPE[2]))] = 4
    _save(folder / name, labels, affine)
    (folder / "labels.toml").write_text(TABLE)
    return {"geometry": "3d"}, {"nifti": name, "label_table": "labels.toml"}


def test_a_uniform_volume_runs_as_the_homogeneous_box_it_stands_for(tmp_path):
    """All CSF (no blood, no heat: its steady start is 37 C, as the homogeneous run's) in the
    flipped frame gives the same ice, tip and nerve as the [tissue] run on the same box."""
    grid, anatomy = _volume(tmp_path, labels=np.ones(SHAPE, np.int16))
    from_volume = service.simulate({**COMMON, "grid": grid, "anatomy": anatomy}, base=tmp_path)
    box = {"geometry": "3d", "spacing_mm": 1.0, "box_min_mm": [-10.0, -10.0, -10.0],
           "box_max_mm": [10.0, 10.0, 20.0]}
    homogeneous = service.simulate({**COMMON, "grid": box, "tissue": {"type": "csf"}})
    for key in ("0", "-20"):
        a = from_volume["iceball"]["isotherms"][key]["volume_ml"]
        b = homogeneous["iceball"]["isotherms"][key]["volume_ml"]
        assert max(b) > 0.01 and a == pytest.approx(b, rel=1e-6), key
    tip = homogeneous["probe"]["tip_temperature_c"]
    assert from_volume["probe"]["tip_temperature_c"] == pytest.approx(tip, rel=1e-6)
    assert from_volume["nerves"][0]["min_temperature_c"] == pytest.approx(
        homogeneous["nerves"][0]["min_temperature_c"], abs=1e-6)
    assert from_volume["solver"]["cells"] == from_volume["estimate"]["cells"] == 20 * 20 * 30
    assert from_volume["structures"]["1"]["tissue"] == "csf"


def test_the_probes_stand_in_the_volumes_world_frame(tmp_path):
    """The bone slab is at world x 4..8 (stored flipped): a probe at x = +6 is in bone and refused,
    its mirror at x = -6 is in CSF and accepted."""
    grid, anatomy = _volume(tmp_path)
    mirror = {**COMMON, "grid": grid, "anatomy": anatomy,
              "probe": [{"catalog": "n2o-2.0mm", "tip_mm": [-6.0, 0.0, 0.0]}]}
    job = service.prepare("simulation", mirror, base=tmp_path)
    assert job.estimate.cells == 20 * 20 * 30
    in_bone = {**mirror, "probe": [{"catalog": "n2o-2.0mm", "tip_mm": [6.0, 0.0, 0.0]}]}
    with pytest.raises(InputError) as err:
        service.prepare("simulation", in_bone, base=tmp_path)
    assert "bone" in str(err.value) and err.value.field.startswith("probe")


def _write(folder, case: str) -> str:
    """A procedure file (and its volume) for a bad case; returns the text."""
    grid, anatomy = _volume(folder)
    probe = '[[probe]]\ncatalog = "n2o-2.0mm"\ntip_mm = [-6.0, 0.0, 0.0]\n'
    rest = '[protocol]\nphases = [{kind = "freeze", seconds = 10}]\n[grid]\ngeometry = "3d"\n'
    nifti = '[anatomy]\nnifti = "labels.nii.gz"\nlabel_table = "labels.toml"\n'
    if case == "missing file":
        nifti = nifti.replace("labels.nii.gz", "nowhere.nii.gz")
    elif case == "not a NIfTI":
        (folder / "text.nii").write_text("not a volume")
        nifti = nifti.replace("labels.nii.gz", "text.nii")
    elif case == "non-integer labels":
        _save(folder / "labels.nii.gz", np.full(SHAPE, 1.5, np.float32))
    elif case == "complex voxels":
        _save(folder / "labels.nii.gz", np.ones(SHAPE, np.complex64))
    elif case == "unknown label":
        labels = np.ones(SHAPE, np.int16)
        labels[0, 0, 0] = 9
        _save(folder / "labels.nii.gz", labels)
    elif case == "probe outside":
        probe = probe.replace("-6.0, 0.0, 0.0", "-6.0, 0.0, 40.0")
    elif case == "probe in bone":
        probe = probe.replace("-6.0", "6.0")
    elif case == "coarse voxels":
        _save(folder / "labels.nii.gz", np.ones((10, 10, 15), np.int16), np.diag([2.0, 2.0, 2.0, 1.0]))
    elif case in ("huge volume", "truncated file"):
        import nibabel as nib

        header = nib.Nifti1Header()
        header.set_data_shape((2000, 2000, 2000) if case == "huge volume" else SHAPE)
        header.set_data_dtype(np.int16)
        header.set_qform(np.eye(4), code=1)
        header.set_sform(np.eye(4), code=1)
        header["vox_offset"] = 352
        (folder / "big.nii").write_bytes(header.binaryblock + b"\0" * 4)  # the header, no voxels
        nifti = nifti.replace("labels.nii.gz", "big.nii")
        probe = probe.replace("-6.0, 0.0, 0.0", "6.0, 6.0, 6.0")
    elif case == "spacing given":
        rest += "spacing_mm = 0.5\n"
    elif case == "no label table":
        nifti = '[anatomy]\nnifti = "labels.nii.gz"\n'
    elif case == "template and volume":
        nifti += 'template = "lumbar-medial-branch"\n'
    return probe + rest + nifti


BAD = {"missing file": "existing NIfTI", "not a NIfTI": "readable NIfTI",
       "non-integer labels": "integer labels",
       "complex voxels": "integer labels", "unknown label": "labels = [9]", "probe outside": "probe.tip_mm",
       "probe in bone": "bone", "coarse voxels": "probe radius", "huge volume": "cells (estimated)",
       "truncated file": "complete NIfTI", "spacing given": "grid.spacing_mm",
       "no label table": "anatomy.label_table", "template and volume": "anatomy.nifti"}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_label_volume_is_one_line_exit_2_nothing_written(tmp_path, case):
    (tmp_path / "in.toml").write_text(_write(tmp_path, case))
    before = sorted(p.name for p in tmp_path.iterdir())
    r = runner.invoke(app, ["simulate", str(tmp_path / "in.toml"), "--json", str(tmp_path / "out.json"),
                            "--report", str(tmp_path / "out.html")])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (case, r.output)
    assert BAD[case] in lines[0], (case, lines[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == before, case  # nothing written


def test_an_upload_cannot_name_a_label_volume(tmp_path):
    grid, anatomy = _volume(tmp_path)
    data = {**COMMON, "grid": grid, "anatomy": {"nifti": str(tmp_path / "labels.nii.gz"),
                                                "label_table": str(tmp_path / "labels.toml")}}
    service.prepare("simulation", {**data, "probe": [{"catalog": "n2o-2.0mm", "tip_mm": [-6.0, 0.0, 0.0]}]})
    with pytest.raises(InputError, match=r"^anatomy.nifti = .*setting of the server") as err:
        service.prepare("simulation", data, upload=True)
    assert "\n" not in str(err.value)
