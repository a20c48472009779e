"""``cryoplan ct``: a real CT (the TPTBox sample, Hendrik-code/TPTBox, Apache-2.0) surveyed from
its NIfTI file and from a DICOM series written from it here, carrying identifying tags: the same
levels and targets either way, in RAS+ mm, and no identifying tag in any output."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DSfloat
from typer.testing import CliRunner

from cryoplan import service
from cryoplan.anatomy.ct.survey import nerve_of
from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.report.ct_json import ct_json
from tests.ct.phantom import IDENTIFYING, NAME_PREFIX

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "ct" / "tptbox-L2-L4" / "sub-ct_label-22_ct.nii.gz"


def _ds(values) -> list[DSfloat]:
    return [DSfloat(float(v), auto_format=True) for v in values]


def write_as_dicom(nifti: Path, folder: Path) -> None:
    """The NIfTI CT as axial DICOM slices in LPS (rows anterior to posterior, columns right to
    left), one file per slice under identifying names and tags: pixel (r, c) of slice k is the
    RAS-canonical voxel (nx-1-c, ny-1-r, k)."""
    img = nib.as_closest_canonical(nib.load(nifti))
    data, affine = np.asarray(img.dataobj, dtype=np.float64), img.affine
    nx, ny, nz = data.shape
    dx, dy, dz = np.abs(np.diag(affine)[:3])
    a0, b0, c0 = affine[:3, 3]
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for k in range(nz):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.ImageType = "CT", ["ORIGINAL", "PRIMARY", "AXIAL"]
        for keyword, value in IDENTIFYING.items():
            setattr(ds, keyword, value)
        ds.SeriesNumber, ds.InstanceNumber = 2, nz - k  # numbered head to foot: not the order to read
        ds.Rows, ds.Columns = ny, nx
        ds.PixelSpacing = _ds([dy, dx])
        ds.SliceThickness = DSfloat(float(dz), auto_format=True)
        ds.ImageOrientationPatient = _ds([1, 0, 0, 0, 1, 0])  # rows +L, columns +P
        ds.ImagePositionPatient = _ds([-(a0 + (nx - 1) * dx), -(b0 + (ny - 1) * dy), c0 + k * dz])
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = DSfloat(1, auto_format=True), DSfloat(-1024, auto_format=True)
        pixels = data[::-1, ::-1, k].T  # [row r, column c] = voxel (nx-1-c, ny-1-r, k)
        ds.PixelData = np.round(pixels + 1024).astype("<i2").tobytes()
        ds.save_as(folder / f"{NAME_PREFIX}_{(k * 37) % nz:04d}.dcm", enforce_file_format=True)


def _targets(data: dict) -> dict[tuple[str, str], np.ndarray]:
    return {(lv["name"], t["side"]): np.array(t["point_mm"]) for lv in data["levels"] for t in lv["targets"]}


@pytest.fixture(scope="module")
def from_nifti():
    return service.survey_ct(SAMPLE, lowest="L4")[0]


def test_the_sample_gives_named_levels_and_targets_on_the_bone_below(from_nifti):
    data = from_nifti
    assert data["frame"] == "RAS" and [lv["name"] for lv in data["levels"]] == ["L2", "L3", "L4"]
    l3 = next(lv for lv in data["levels"] if lv["name"] == "L3")
    assert {t["side"] for t in l3["targets"]} == {"left", "right"}
    assert all(t["bone"] == "L4" and t["nerve"] == "L3 medial branch" for t in l3["targets"])
    left, right = (np.array(t["point_mm"]) for t in sorted(l3["targets"], key=lambda t: t["side"]))
    assert right[0] > left[0]  # RAS: +x is the patient's right
    codes = [w["code"] for w in data["warnings"]]
    assert "ct-target-not-found" in codes  # L4's targets lie on L5, which the crop does not hold


@pytest.fixture(scope="module")
def from_dicom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    write_as_dicom(SAMPLE, folder)
    out, report, export = folder.parent / "ct.json", folder.parent / "qc.html", folder.parent / "slicer"
    result = CliRunner().invoke(app, ["ct", str(folder), "--lowest", "L4", "--json", str(out),
                                      "--report", str(report), "--export", str(export)])
    assert result.exit_code == 0, result.output
    exported = "".join(f.read_bytes().decode("latin-1") for f in sorted(export.iterdir()))
    shown = out.read_text() + result.output + report.read_text() + exported
    return json.loads(out.read_text()), shown, folder.parent


def test_the_qc_report_and_the_slicer_files_show_every_level_and_target(from_dicom):
    data, _, root = from_dicom
    page = (root / "qc.html").read_text()
    with_targets = [lv for lv in data["levels"] if lv["targets"]]
    assert page.count("<img") == 2 + len(with_targets)  # sagittal, coronal, one axial per level
    for lv in with_targets:
        assert f"Axial view through {lv['targets'][0]['bone']}" in page
    marks = json.loads((root / "slicer" / "targets.mrk.json").read_text())["markups"][0]
    assert marks["coordinateSystem"] == "RAS"
    found = {p["label"]: np.array(p["position"]) for p in marks["controlPoints"]}
    for (level, side), point in _targets(data).items():
        # the JSON rounds to 0.01 mm
        assert np.allclose(found[f"{level} medial branch {side}"], point, atol=0.01)
    labels = nib.load(root / "slicer" / "vertebrae.nii.gz")
    assert set(np.unique(np.asarray(labels.dataobj))) == {0, 21, 22, 23}  # L2, L3, L4 as TPTBox numbers them
    table = (root / "slicer" / "vertebrae.ctbl").read_text().splitlines()
    assert table[2:] == ["21 L2 31 119 180 255", "22 L3 255 127 14 255", "23 L4 44 160 44 255"]


def test_a_dicom_series_of_the_same_ct_carries_no_identifying_tag_to_the_output(from_dicom):
    _, shown, _ = from_dicom
    for secret in [*IDENTIFYING.values(), NAME_PREFIX, "Doe", "Jane", "998877"]:
        assert secret not in shown, secret


def test_a_dicom_series_of_the_same_ct_gives_the_same_l3_targets(from_dicom, from_nifti):
    found, expected = _targets(from_dicom[0]), _targets(from_nifti)
    for key in (("L3", "left"), ("L3", "right")):
        assert np.linalg.norm(found[key] - expected[key]) < 2.0, key


def test_a_dicom_series_of_the_same_ct_gives_the_same_levels(from_dicom, from_nifti):
    # the finder once depended on the voxels' order (read as an axial LPS series the sample lost
    # its L2-L3 disc); the dense-bone profile with the disc's width finds the same discs
    assert [lv["name"] for lv in from_dicom[0]["levels"]] == [lv["name"] for lv in from_nifti["levels"]]
    found, expected = _targets(from_dicom[0]), _targets(from_nifti)
    assert found.keys() == expected.keys()
    for key in expected:
        assert np.linalg.norm(found[key] - expected[key]) < 2.0, key


def test_the_survey_json_is_plain_data_in_the_ras_frame():
    data, found = service.survey_ct(SAMPLE, lowest="L4")
    assert json.loads(json.dumps(ct_json(found))) == data  # plain values only
    assert data["ct"] == found.description and "NIfTI" in data["ct"]


def test_a_level_is_checked_before_the_ct_is_read(tmp_path):
    with pytest.raises(InputError, match="ct.lowest"):
        service.survey_ct(tmp_path / "absent", lowest="L9")
    result = CliRunner().invoke(app, ["ct", str(tmp_path / "absent.nii.gz")])
    assert result.exit_code == 2 and result.output.count("\n") == 1


def test_each_lumbar_bone_carries_the_medial_branch_of_the_level_above():
    assert [nerve_of(b) for b in ("L1", "L3", "L5")] == ["T12 medial branch", "L2 medial branch",
                                                         "L4 medial branch"]
