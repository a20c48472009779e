"""Reading a patient's CT: DICOM geometry to RAS+, series selection, uneven and tilted stacks,
NIfTI and zip, hostile inputs, and that nothing identifying leaks into a message."""

from __future__ import annotations

import logging
import stat
import struct
import warnings
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless

from cryoplan.anatomy.ct import read as ct_read
from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.ct.read import read_ct
from cryoplan.errors import InputError
from tests.ct.phantom import (
    MARKER_HU,
    MARKER_LPS,
    NAME_PREFIX,
    phantom_hu,
    secrets,
    write_report,
    write_series,
)

LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])
SMALL = {"shape": (40, 40, 24), "spacing": (4.0, 4.0, 2.5)}


def marker_ras(image: CTImage) -> np.ndarray:
    """The centre (RAS+ mm) of the voxels brighter than half the marker."""
    return image.world_mm(np.argwhere(image.hu > MARKER_HU / 2)).mean(axis=0)


def truth(image: CTImage) -> np.ndarray:
    """The noiseless phantom at every voxel centre of ``image`` (RAS+ -> LPS)."""
    ras = image.world_mm(np.argwhere(np.ones(image.shape, bool)))
    return phantom_hu(ras * LPS_TO_RAS).reshape(image.shape)


def flat(values: np.ndarray, axis: int) -> np.ndarray:
    """Where ``values`` equal both neighbours along ``axis`` (a linear interpolation along it
    changes nothing there); False on the two end planes."""
    ahead, behind = np.roll(values, -1, axis), np.roll(values, 1, axis)
    out = (values == ahead) & (values == behind)
    ends = [slice(None)] * 3
    for end in (0, -1):
        ends[axis] = end
        out[tuple(ends)] = False
    return out


def refused(path, *series) -> str:
    """The one-line message ``read_ct`` refuses ``path`` with (nothing identifying in it)."""
    with pytest.raises(InputError) as caught:
        read_ct(path)
    message = str(caught.value)
    assert "\n" not in message and caught.value.field == "ct"
    assert message.startswith("ct = ")
    for secret in secrets(*series) + [str(path)]:
        assert secret not in message, (secret, message)
    return message


def assert_private(image: CTImage, *series) -> None:
    texts = [image.description] + [str(w) for w in image.warnings] + [w.code for w in image.warnings]
    for secret in secrets(*series):
        for text in texts:
            assert secret not in text, (secret, text)


def codes(image: CTImage) -> list[str]:
    return [w.code for w in image.warnings]


# ---- geometry -------------------------------------------------------------------------------


def test_axis_aligned_series_with_shuffled_files_lands_in_ras(tmp_path):
    series = write_series(tmp_path / "Doe_Jane", shuffle=True, noise_hu=0.0)
    image = read_ct(tmp_path / "Doe_Jane")
    assert image.shape == (64, 64, 40) and image.hu.dtype == np.float32
    np.testing.assert_allclose(image.spacing_mm, [2.5, 2.5, 2.5])
    np.testing.assert_allclose(marker_ras(image), np.array(MARKER_LPS) * LPS_TO_RAS, atol=0.3)
    # every voxel where the phantom is: orientation, order of the slices and rescale all right
    np.testing.assert_allclose(image.hu, truth(image), atol=0.5)
    assert image.warnings == ()
    assert_private(image, series)


def test_oblique_series_keeps_its_rotation_in_the_affine(tmp_path):
    a, b = np.radians(20.0), np.radians(-12.0)
    row = np.array([np.cos(a), np.sin(a), 0.0])
    column = np.array([-np.sin(a) * np.cos(b), np.cos(a) * np.cos(b), np.sin(b)])
    series = write_series(tmp_path / "s", orientation=tuple(row) + tuple(column), shuffle=True,
                          noise_hu=0.0, **SMALL)
    image = read_ct(tmp_path / "s")
    rotation = image.affine[:3, :3] / image.spacing_mm
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(rotation[:, 0], row * LPS_TO_RAS, atol=1e-6)
    np.testing.assert_allclose(rotation[:, 2], np.cross(row, column) * LPS_TO_RAS, atol=1e-6)
    np.testing.assert_allclose(marker_ras(image), np.array(MARKER_LPS) * LPS_TO_RAS, atol=1.0)
    assert np.mean(np.abs(image.hu - truth(image)) > 1) < 0.002  # DS rounding flips a few edge voxels
    assert_private(image, series)


def test_slices_are_ordered_along_the_normal_not_by_instance_number(tmp_path):
    # a sagittal series whose normal points to -x: slice order follows positions on it
    series = write_series(tmp_path / "s", orientation=(0, 1, 0, 0, 0, -1), noise_hu=0.0, shuffle=True,
                          **SMALL)
    image = read_ct(tmp_path / "s")
    np.testing.assert_allclose(marker_ras(image), np.array(MARKER_LPS) * LPS_TO_RAS, atol=1.0)
    np.testing.assert_allclose(image.hu, truth(image), atol=0.5)
    assert_private(image, series)


def test_rescale_slope_and_intercept_are_applied(tmp_path):
    write_series(tmp_path / "s", slope=0.5, intercept=-2048.0, noise_hu=0.0, **SMALL)
    raw = pydicom.dcmread(sorted((tmp_path / "s").iterdir())[0])
    assert raw.pixel_array.min() == (-1000 + 2048) / 0.5  # stored values are not HU
    image = read_ct(tmp_path / "s")
    np.testing.assert_allclose(image.hu, truth(image), atol=0.5)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "jpeg2000"])
def test_compressed_pixels_are_decoded(tmp_path, syntax):
    write_series(tmp_path / "s", shape=(40, 40, 4), spacing=(4.0, 4.0, 2.5), noise_hu=0.0,
                 transfer_syntax=syntax)
    image = read_ct(tmp_path / "s")
    np.testing.assert_allclose(image.hu, truth(image), atol=0.5)


def test_a_compressed_frame_declaring_a_huge_size_is_refused_before_decoding(tmp_path):
    series = write_series(tmp_path / "s", shape=(40, 40, 4), spacing=(4.0, 4.0, 2.5),
                          transfer_syntax=JPEG2000Lossless)
    ds = pydicom.dcmread(series.files[1])
    assert ct_read._declared_size(ds) == (40, 40)
    data = bytearray(ds.PixelData)
    siz = data.index(b"\xff\x4f\xff\x51") + 2
    data[siz + 6:siz + 14] = struct.pack(">II", 60000, 60000)  # Xsiz, Ysiz
    ds.PixelData = bytes(data)
    ds.save_as(series.files[1], enforce_file_format=True)
    assert "declaring 60000 x 60000" in refused(tmp_path / "s", series)


def test_a_jpeg_frames_declared_size_is_read_from_its_start_of_frame():
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + bytes(9)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 40, 48, 1) + b"\x01\x11\x00"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([b"\xff\xd8" + app0 + b"\xff" + sof + b"\xff\xd9"])
    assert ct_read._declared_size(ds) == (48, 40)  # (columns, rows), past a fill byte


# ---- several series -------------------------------------------------------------------------


def test_the_ct_series_with_most_slices_is_read_and_the_others_named_by_count(tmp_path):
    folder = tmp_path / "study"
    small = write_series(folder, shape=(40, 40, 6), tag="b", seed=1)
    main = write_series(folder, noise_hu=0.0, **SMALL)
    mr = write_series(folder, shape=(40, 40, 9), modality="MR", tag="c", seed=2)
    scout = write_series(folder, shape=(40, 40, 2), tag="d", image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    report = write_report(folder / "report.dcm")
    (folder / "README.txt").write_text("exported for Doe^Jane, ID-998877\n")
    image = read_ct(folder)
    assert image.shape == (40, 40, 24)
    np.testing.assert_allclose(image.hu, truth(image), atol=0.5)
    left = next(w for w in image.warnings if w.code == "ct-series-left-aside")
    assert "6 CT images" in left.message and "9 MR images" in left.message
    assert "2 localizer images" in left.message and "1 DICOM object without pixels" in left.message
    junk = next(w for w in image.warnings if w.code == "ct-files-not-dicom")
    assert junk.message.startswith("1 of 43 files")
    assert_private(image, small, main, mr, scout, report)


def test_mr_only_is_refused(tmp_path):
    series = write_series(tmp_path / "mr", modality="MR", **SMALL)
    assert "no CT image (found 24 MR images)" in refused(tmp_path / "mr", series)


def test_localizers_alone_are_refused(tmp_path):
    series = write_series(tmp_path / "scout", shape=(40, 40, 3),
                          image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"))
    assert "found 3 CT localizer images" in refused(tmp_path / "scout", series)


def test_a_single_slice_is_refused(tmp_path):
    series = write_series(tmp_path / "s", shape=(40, 40, 1))
    assert "single slice" in refused(tmp_path / "s", series)


# ---- uneven and tilted stacks ---------------------------------------------------------------


def test_a_missing_slice_is_interpolated_with_a_warning(tmp_path):
    series = write_series(tmp_path / "s", missing=(11,), noise_hu=0.0, shuffle=True, **SMALL)
    image = read_ct(tmp_path / "s")
    assert codes(image) == ["ct-resampled"] and image.shape == (40, 40, 24)
    np.testing.assert_allclose(image.spacing_mm, [4.0, 4.0, 2.5])
    expected = truth(image)
    kept = [k for k in range(24) if k != 11]
    np.testing.assert_allclose(image.hu[:, :, kept], expected[:, :, kept], atol=0.5)
    between = (expected[:, :, 10] + expected[:, :, 12]) / 2  # linear along the stack
    np.testing.assert_allclose(image.hu[:, :, 11], between, atol=0.5)
    assert_private(image, series)


def test_uneven_gaps_are_resampled_at_the_median_gap(tmp_path):
    gaps = [2.0, 3.0] * 11 + [2.5]
    series = write_series(tmp_path / "s", gaps=gaps, noise_hu=0.0, **SMALL)
    image = read_ct(tmp_path / "s")
    assert codes(image) == ["ct-resampled"]
    assert image.spacing_mm[2] == pytest.approx(sum(gaps) / round(sum(gaps) / 2.5), rel=1e-6)
    np.testing.assert_allclose(marker_ras(image), np.array(MARKER_LPS) * LPS_TO_RAS, atol=1.5)
    expected = truth(image)
    steady = flat(expected, 2)
    assert steady.mean() > 0.8
    np.testing.assert_allclose(image.hu[steady], expected[steady], atol=0.5)
    assert_private(image, series)


def test_a_hole_of_several_slices_is_refused(tmp_path):
    series = write_series(tmp_path / "s", missing=(10, 11, 12), **SMALL)
    assert "gap of 10.00 mm" in refused(tmp_path / "s", series)


def test_a_gantry_tilt_is_resliced_onto_an_orthogonal_grid(tmp_path):
    series = write_series(tmp_path / "s", tilt_deg=15.0, noise_hu=0.0, shuffle=True, **SMALL)
    image = read_ct(tmp_path / "s")
    assert codes(image) == ["ct-gantry-tilt"]
    assert "15.0 degrees" in image.warnings[0].message
    rotation = image.affine[:3, :3] / image.spacing_mm
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(image.spacing_mm, [4.0, 4.0, 2.5])
    np.testing.assert_allclose(marker_ras(image), np.array(MARKER_LPS) * LPS_TO_RAS, atol=1.5)
    expected = truth(image)
    steady = flat(expected, 1)  # the shift is along the rows: exact where the phantom is flat
    assert steady.mean() > 0.7
    np.testing.assert_allclose(image.hu[steady], expected[steady], atol=0.5)
    assert_private(image, series)


def test_slices_displaced_at_random_in_plane_are_refused(tmp_path):
    series = write_series(tmp_path / "s", jitter_mm=6.0, **SMALL)
    assert "irregularly" in refused(tmp_path / "s", series)


def _edit(path: Path, **values) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)


def test_pixels_of_different_sizes_are_refused(tmp_path):
    series = write_series(tmp_path / "s", **SMALL)
    _edit(series.files[5], PixelSpacing=[3.0, 3.0])
    message = refused(tmp_path / "s", series)
    assert "pixels of one size" in message and "file 6 of 24" in message


def test_two_slices_at_one_position_are_refused(tmp_path):
    series = write_series(tmp_path / "s", **SMALL)
    _edit(series.files[5], ImagePositionPatient=list(series.positions[4]))
    assert "one slice per position" in refused(tmp_path / "s", series)


# ---- NIfTI ----------------------------------------------------------------------------------


def _nifti(tmp_path, values, affine, name="ct.nii.gz"):
    path = tmp_path / name
    nib.Nifti1Image(values, affine).to_filename(path)
    return path


def test_nifti_in_a_non_ras_orientation_keeps_its_affine(tmp_path):
    affine = np.array([[0.0, -0.8, 0.0, 30.0], [-0.8, 0.0, 0.0, 12.0], [0.0, 0.0, 2.0, -40.0], [0, 0, 0, 1]])
    values = np.full((20, 24, 12), -1000.0, np.float32)
    values[3, 17, 5] = 1500.0
    image = read_ct(_nifti(tmp_path, values, affine))
    assert image.shape == (20, 24, 12) and image.warnings == ()
    np.testing.assert_allclose(image.affine, affine)
    np.testing.assert_allclose(image.world_mm(np.argwhere(image.hu > 1000)), [affine[:3, :3] @ [3, 17, 5]
                                                                              + affine[:3, 3]])


def test_nifti_scaling_is_applied(tmp_path):
    path = _nifti(tmp_path, np.full((8, 8, 4), 512, np.int16), np.eye(4), "ct.nii")
    raw = bytearray(path.read_bytes())
    raw[112:120] = struct.pack("<ff", 2.0, -1024.0)  # scl_slope, scl_inter
    path.write_bytes(bytes(raw))
    np.testing.assert_allclose(read_ct(path).hu, 0.0)


def test_nifti_4d_of_one_volume_is_read_and_of_two_refused(tmp_path):
    one = read_ct(_nifti(tmp_path, np.zeros((6, 6, 5, 1), np.float32), np.eye(4), "one.nii"))
    assert one.shape == (6, 6, 5)
    assert "3D NIfTI" in refused(_nifti(tmp_path, np.zeros((6, 6, 5, 2), np.float32), np.eye(4), "two.nii"))


def test_nifti_without_orientation_or_finite_values_is_refused(tmp_path):
    values = np.zeros((6, 6, 5), np.float32)
    values[1, 2, 3] = np.nan
    assert "non-finite" in refused(_nifti(tmp_path, values, np.eye(4), "nan.nii"))
    path = tmp_path / "bare.nii"
    nib.Nifti1Image(np.zeros((6, 6, 5), np.float32), None).to_filename(path)
    assert "orientation" in refused(path)
    (tmp_path / "junk.nii.gz").write_bytes(b"not a nifti file at all")
    refused(tmp_path / "junk.nii.gz")


def test_nifti_of_too_many_voxels_is_refused_from_its_header(tmp_path, monkeypatch):
    path = _nifti(tmp_path, np.zeros((10, 10, 10), np.float32), np.eye(4))
    monkeypatch.setattr(ct_read, "MAX_VOXELS", 999)
    assert "10 x 10 x 10 voxels" in refused(path)


# ---- zip ------------------------------------------------------------------------------------


def _zip(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, f"{NAME_PREFIX}/{path.relative_to(folder)}")
    return target


def test_a_zip_of_a_folder_is_read(tmp_path):
    series = write_series(tmp_path / "s", shuffle=True, noise_hu=0.0, **SMALL)
    image = read_ct(_zip(tmp_path / "s", tmp_path / f"{NAME_PREFIX}.zip"))
    np.testing.assert_allclose(image.hu, truth(image), atol=0.5)
    assert "zip" in image.description
    assert_private(image, series)


def test_a_zip_with_a_name_leaving_the_folder_is_refused(tmp_path):
    series = write_series(tmp_path / "s", **SMALL)
    target = _zip(tmp_path / "s", tmp_path / "a.zip")
    with zipfile.ZipFile(target, "a") as archive:
        archive.writestr(f"../../{NAME_PREFIX}.dcm", series.files[0].read_bytes())
    assert "stay inside" in refused(target, series)
    assert not (tmp_path.parent / f"{NAME_PREFIX}.dcm").exists()


def test_a_zip_holding_a_symbolic_link_is_refused(tmp_path):
    target = tmp_path / "link.zip"
    with zipfile.ZipFile(target, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    assert "symbolic link" in refused(target)


def _zip_declaring(target: Path, zeros: int, declared: int, headers: tuple[tuple[bytes, int], ...]) -> Path:
    """A zip of one member of ``zeros`` zero bytes whose listed headers (signature, offset of the
    uncompressed size) declare ``declared`` bytes instead."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.dcm", b"\0" * zeros)
    raw = bytearray(target.read_bytes())
    for signature, offset in headers:
        at = raw.index(signature)
        raw[at + offset:at + offset + 4] = struct.pack("<I", declared)
    target.write_bytes(bytes(raw))
    return target


def test_a_zip_member_declaring_a_huge_size_is_refused(tmp_path):
    target = _zip_declaring(tmp_path / "bomb.zip", 1000, 4 * 2**30 - 1, ((b"PK\x01\x02", 24),))
    assert "bytes uncompressed" in refused(target)


def test_a_zip_member_inflating_beyond_its_declared_size_is_refused(tmp_path):
    refused(_zip_declaring(tmp_path / "liar.zip", 100_000, 1000, ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24))))


def test_too_many_zip_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ct_read, "MAX_FILES", 5)
    target = tmp_path / "many.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for n in range(6):
            archive.writestr(f"{n}.dcm", b"x")
    assert "at most 5 members" in refused(target)


def test_a_zip64_end_record_declaring_too_many_members_is_refused_before_its_directory_is_read(
        tmp_path, monkeypatch):
    target = tmp_path / "many64.zip"
    with monkeypatch.context() as patched:
        patched.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 3)  # zipfile writes its zip64 records
        with zipfile.ZipFile(target, "w") as archive:
            for n in range(6):
                archive.writestr(f"{n}.dcm", b"x")
    raw = bytearray(target.read_bytes())
    end = raw.rindex(b"PK\x05\x06")
    raw[end + 8:end + 12] = b"\xff" * 4  # "see the zip64 record" for both member counts
    target.write_bytes(bytes(raw))
    assert ct_read._zip_entries(target) == 6
    monkeypatch.setattr(ct_read, "MAX_FILES", 5)
    assert "a zip of 6 members" in refused(target)


def test_a_tree_of_empty_folders_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(ct_read, "MAX_FILES", 3)
    for n in range(5):
        (tmp_path / "tree" / str(n)).mkdir(parents=True)
    assert "sub-folders" in refused(tmp_path / "tree")


# ---- hostile folders ------------------------------------------------------------------------


def test_a_truncated_file_is_refused_by_its_position(tmp_path):
    series = write_series(tmp_path / "s", **SMALL)
    path = series.files[7]
    path.write_bytes(path.read_bytes()[:-1000])
    message = refused(tmp_path / "s", series)
    assert "file 8 of 24" in message


def test_a_file_cut_inside_its_header_is_refused(tmp_path):
    series = write_series(tmp_path / "s", **SMALL)
    path = series.files[3]
    path.write_bytes(path.read_bytes()[:300])
    assert "file 4 of 24" in refused(tmp_path / "s", series)


def test_a_folder_of_junk_is_refused(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "README").write_text("Doe^Jane")
    (tmp_path / "junk" / "noise.dcm").write_bytes(np.random.default_rng(0).bytes(4096))
    assert "none of them DICOM" in refused(tmp_path / "junk")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty")
    refused(tmp_path / "nothing-here")
    (tmp_path / "file.txt").write_text("x")
    refused(tmp_path / "file.txt")


def test_junk_with_the_dicom_marker_is_refused(tmp_path):
    series = write_series(tmp_path / "s", **SMALL)
    (tmp_path / "s" / "fake.dcm").write_bytes(b"\0" * 128 + b"DICM" + np.random.default_rng(1).bytes(2000))
    assert "cannot be read" in refused(tmp_path / "s", series)


def test_too_many_voxels_are_refused_before_pixels_are_read(tmp_path, monkeypatch):
    series = write_series(tmp_path / "s", **SMALL)
    monkeypatch.setattr(ct_read, "MAX_VOXELS", 40 * 40 * 20)
    assert "at most 32000 voxels" in refused(tmp_path / "s", series)
    monkeypatch.undo()
    for path in series.files:  # headers declaring 65535 x 65535 pixels, the pixels not there
        _edit(path, Rows=65535, Columns=65535)
    assert "65535 x 65535 x 24 voxels" in refused(tmp_path / "s", series)


def test_a_file_over_the_size_limit_is_refused_and_a_long_header_value_is_not_loaded(tmp_path, monkeypatch):
    series = write_series(tmp_path / "s", **SMALL)
    ds = pydicom.dcmread(series.files[0])
    ds.add_new(0x00091010, "OB", b"\0" * 2**20)  # a private megabyte in the header
    ds.save_as(series.files[0], enforce_file_format=True)
    assert read_ct(tmp_path / "s").shape == (40, 40, 24)
    monkeypatch.setattr(ct_read, "MAX_FILE_BYTES", 2**20)
    assert "file 1 of 24" in refused(tmp_path / "s", series)


def test_non_finite_rescale_is_refused(tmp_path):
    series = write_series(tmp_path / "s", **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom says NaN is no valid DS: the point of the test
        _edit(series.files[2], RescaleSlope="NaN")
    assert "finite" in refused(tmp_path / "s", series)


def test_nothing_identifying_reaches_python_warnings_or_logs(tmp_path, caplog):
    series = write_series(tmp_path / "s", missing=(5,), tilt_deg=10.0, **SMALL)
    write_series(tmp_path / "s", modality="MR", shape=(40, 40, 5), tag="m")
    (tmp_path / "s" / "DICOMDIR-like.txt").write_text("Doe^Jane")
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_ct(tmp_path / "s")
    assert set(codes(image)) == {"ct-series-left-aside", "ct-files-not-dicom", "ct-resampled",
                                 "ct-gantry-tilt"}
    assert_private(image, series)
    said = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    for secret in secrets(series):
        assert not any(secret in text for text in said)


def test_a_path_that_is_not_a_file_is_named_so(tmp_path):
    with pytest.raises(InputError, match=r"not a regular file or folder"):
        read_ct("/dev/null")
    with pytest.raises(InputError, match=r"no such file or folder"):
        read_ct(tmp_path / "absent.nii")


def test_padding_outside_the_field_of_view_reads_as_air(tmp_path):
    """Scanners store -2000 (or another PixelPaddingValue) where they reconstructed nothing;
    rescaled, it would read as a -3024 HU 'tissue' (DICOM PS3.3 C.7.5.1.1.2): it is air."""
    write_series(tmp_path / "s", padding=-2000, noise_hu=0.0, **SMALL)
    raw = pydicom.dcmread(sorted((tmp_path / "s").iterdir())[0])
    assert (raw.pixel_array == -2000).any()
    image = read_ct(tmp_path / "s")
    assert image.hu.min() >= -1000.5
    inside = np.isclose(image.hu, truth(image), atol=0.5)
    assert inside.mean() > 0.5 and np.all(np.isclose(image.hu[~inside], -1000.0))
