"""A synthetic CT phantom written as a DICOM series by pydicom, for the CT reader's tests.

The phantom is defined in the patient's LPS frame (mm) and sampled at each pixel's position by
the Image Plane Module's equation (DICOM PS3.3 C.7.6.2.1.1), so any orientation, spacing, tilt or
missing slice samples the same anatomy: air (-1000 HU), a body ellipse of fat (-100 HU) around
soft tissue (40 HU), a bone cylinder along z (700 HU) and a bright spherical marker (2000 HU) at a
known LPS position. Pixels are stored as int16 with RescaleSlope 1 and RescaleIntercept -1024 by
default, with Gaussian noise (10 HU). Every file carries identifying tags set to known strings
(``IDENTIFYING``) and identifying file names, so tests can check that none of them leaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import DSfloat

#: Identifying tags every phantom file carries (no message of the reader may repeat them).
IDENTIFYING = {
    "PatientName": "Doe^Jane",
    "PatientID": "ID-998877",
    "PatientBirthDate": "19500101",
    "AccessionNumber": "ACC-555",
    "InstitutionName": "St Elsewhere General",
    "ReferringPhysicianName": "House^Gregory",
    "StudyDate": "20240229",
    "StudyTime": "235959",
    "SeriesDescription": "JANE DOE LUMBAR",
    "StudyDescription": "DOE SPINE WORKUP",
}
#: File names start with this (names inside a zip must not leak either).
NAME_PREFIX = "Doe_Jane_ID-998877"

MARKER_LPS = (20.0, -15.0, 7.5)
MARKER_RADIUS_MM = 5.0
MARKER_HU = 2000.0


def phantom_hu(points_lps: np.ndarray, marker_lps=MARKER_LPS) -> np.ndarray:
    """The noiseless phantom (HU) at LPS points (n x 3, mm)."""
    p = np.asarray(points_lps, float)
    x, y = p[..., 0], p[..., 1]
    hu = np.full(p.shape[:-1], -1000.0)
    hu[(x / 70.0) ** 2 + (y / 55.0) ** 2 <= 1] = -100.0  # fat
    hu[(x / 62.0) ** 2 + (y / 47.0) ** 2 <= 1] = 40.0  # soft tissue
    hu[x**2 + (y - 20.0) ** 2 <= 12.0**2] = 700.0  # bone, posterior (LPS +y)
    hu[np.linalg.norm(p - np.asarray(marker_lps), axis=-1) <= MARKER_RADIUS_MM] = MARKER_HU
    return hu


@dataclass
class Series:
    """What was written: the files, every UID (none may leak) and each slice's geometry."""

    files: list[Path]
    uids: list[str] = field(default_factory=list)
    positions: np.ndarray | None = None  # ImagePositionPatient of each file (LPS mm)


def _ds(values) -> list[DSfloat]:
    return [DSfloat(float(v), auto_format=True) for v in values]


def write_series(
    folder: Path,
    *,
    shape: tuple[int, int, int] = (64, 64, 40),
    spacing: tuple[float, float, float] = (2.5, 2.5, 2.5),
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0),
    gaps: list[float] | None = None,
    missing: tuple[int, ...] = (),
    tilt_deg: float = 0.0,
    jitter_mm: float = 0.0,
    shuffle: bool = False,
    slope: float = 1.0,
    intercept: float = -1024.0,
    modality: str = "CT",
    noise_hu: float = 10.0,
    marker_lps=MARKER_LPS,
    study_uid: str | None = None,
    seed: int = 0,
    tag: str = "",
    transfer_syntax: str = ExplicitVRLittleEndian,
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    padding: int | None = None,
) -> Series:
    """Write one series into ``folder``.

    ``shape`` is (columns, rows, slices) and ``spacing`` (between columns, between rows, between
    slices) in mm; ``orientation`` is ImageOrientationPatient (row cosine, then column cosine;
    oblique allowed). ``gaps`` (mm, one fewer than the slices) overrides the slice spacing;
    ``missing`` drops slices by index; ``tilt_deg`` shears the stack along the column cosine, as a
    gantry tilt does; ``jitter_mm`` moves each slice in-plane at random (not a tilt);
    ``shuffle`` gives the files random names and InstanceNumbers. The stack is centred on
    ``centre`` (LPS mm). ``transfer_syntax`` other than Explicit VR Little Endian compresses the
    pixels with pydicom's encoders (RLE Lossless natively, JPEG 2000 with pylibjpeg-openjpeg).
    ``padding``: a stored value written outside a circular field of view (the inscribed circle)
    and declared as PixelPaddingValue, as scanners mark the pixels they did not reconstruct.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    nx, ny, nz = shape
    dc, dr, dz = spacing
    row = np.asarray(orientation[:3], float)
    column = np.asarray(orientation[3:], float)
    normal = np.cross(row, column)
    distance = np.concatenate([[0.0], np.cumsum(gaps)]) if gaps is not None else np.arange(nz) * dz
    distance = distance - (distance[0] + distance[-1]) / 2
    keep = [k for k in range(len(distance)) if k not in missing]
    study_uid = study_uid or generate_uid()
    series_uid, frame_uid = generate_uid(), generate_uid()
    out = Series([], [study_uid, series_uid, frame_uid])
    numbers = rng.permutation(len(keep)) + 1 if shuffle else np.arange(len(keep)) + 1
    cc, rr = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")  # [column, row]
    corner = np.asarray(centre, float) - row * dc * (nx - 1) / 2 - column * dr * (ny - 1) / 2
    positions = []
    for n, k in enumerate(keep):
        d = distance[k]
        origin = corner + normal * d + column * np.tan(np.radians(tilt_deg)) * d
        if jitter_mm:
            origin = origin + row * rng.uniform(-jitter_mm, jitter_mm)
        positions.append(origin)
        points = origin + cc[..., None] * dc * row + rr[..., None] * dr * column
        hu = phantom_hu(points, marker_lps) + (rng.normal(0.0, noise_hu, cc.shape) if noise_hu else 0.0)
        stored = np.clip(np.round((hu - intercept) / slope), -32768, 32767).astype("<i2")
        if padding is not None:
            outside = np.hypot(cc - (nx - 1) / 2, rr - (ny - 1) / 2) > min(nx, ny) / 2
            stored[outside] = padding
        sop_uid = generate_uid()
        out.uids.append(sop_uid)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage if modality == "CT" else MRImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality = modality
        ds.ImageType = list(image_type)
        for keyword, value in IDENTIFYING.items():
            setattr(ds, keyword, value)
        ds.SeriesNumber = 3
        ds.InstanceNumber = int(numbers[n])
        ds.Rows, ds.Columns = ny, nx
        ds.PixelSpacing = _ds([dr, dc])
        ds.SliceThickness = DSfloat(dz, auto_format=True)
        ds.ImageOrientationPatient = _ds(orientation)
        ds.ImagePositionPatient = _ds(origin)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        if modality == "CT":
            ds.RescaleSlope = DSfloat(slope, auto_format=True)
            ds.RescaleIntercept = DSfloat(intercept, auto_format=True)
            ds.RescaleType = "HU"
        if padding is not None:
            ds.PixelPaddingValue = padding
        ds.PixelData = stored.T.tobytes()  # rows of the image: [row, column]
        if transfer_syntax != ExplicitVRLittleEndian:
            ds.compress(transfer_syntax)
        name = (f"{NAME_PREFIX}{tag}_{rng.integers(1 << 30):09d}.dcm" if shuffle
                else f"{NAME_PREFIX}{tag}_{n:04d}.dcm")
        path = folder / name
        try:
            ds.save_as(path, enforce_file_format=True)
        except TypeError:  # pydicom 2.4
            ds.save_as(path, write_like_original=False)
        out.files.append(path)
    out.positions = np.array(positions)
    return out


def write_report(path: Path) -> Series:
    """A DICOM object without pixels (a Basic Text SR) carrying the identifying tags."""
    from pydicom.uid import BasicTextSRStorage

    uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = BasicTextSRStorage, uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = BasicTextSRStorage, uid, "SR"
    ds.SeriesInstanceUID = generate_uid()
    for keyword, value in IDENTIFYING.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return Series([path], [uid, ds.SeriesInstanceUID])


def secrets(*series: Series) -> list[str]:
    """Strings no description, warning or error message may hold."""
    found = [v for v in IDENTIFYING.values()] + ["Doe", "Jane", "998877", NAME_PREFIX]
    for s in series:
        found += s.uids
    return found
