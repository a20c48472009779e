"""Read a patient's CT into a :class:`~cryoplan.anatomy.ct.image.CTImage`: Hounsfield units on
a voxel grid whose affine gives RAS+ millimetres.

What is read
------------
``read_ct(path)`` takes a DICOM folder (searched with its sub-folders; one or several series), a
``.zip`` of one, or a NIfTI file (``.nii`` / ``.nii.gz``).

DICOM (read with pydicom; compressed transfer syntaxes through the pylibjpeg plugins):

- Only DICOM Part 10 files (the ``DICM`` marker at byte 128) are read. Other files (a README, a
  ``.DS_Store``, a thumbnail) are left aside with the warning ``ct-files-not-dicom``; a folder
  with no DICOM file at all is refused. A file that has the marker but cannot be read to its
  end (truncated, damaged) is refused: a series with a damaged slice is not guessed around.
- Files are grouped by SeriesInstanceUID. Only CT images (Modality ``CT``, with pixels, not a
  ``LOCALIZER``) count; the CT series with the most slices is read (on a tie, the one met first)
  and the others, with non-CT series, localizers and non-image objects (DICOMDIR, reports), are
  left aside with the warning ``ct-series-left-aside`` (counts and modalities only). No CT series,
  or a CT series of a single slice, is refused.
- Multi-frame (Enhanced CT) images are refused: not read yet.

Geometry (DICOM PS3.3 C.7.6.2.1.1, the Image Plane Module): the pixel in column ``c`` and row
``r`` of a slice lies at ``S + X * dc * c + Y * dr * r`` (LPS mm), where ``S`` is
ImagePositionPatient, ``X`` and ``Y`` are ImageOrientationPatient's row and column direction
cosines and ``(dr, dc)`` is PixelSpacing (between rows, between columns). The CTImage's index
``[i, j, k]`` is (column, row, slice). Slices are ordered by their position projected on the slice
normal ``n = X x Y``, never by file name or InstanceNumber. DICOM's LPS (+x left, +y posterior)
becomes RAS+ (nibabel's convention) by negating x and y: ``affine = diag(-1, -1, 1, 1) @ A_lps``.
An oblique orientation is kept in the affine (a rotation, not a resampling). Each slice's
RescaleSlope and RescaleIntercept are applied (both are required: they are Type 1 in the CT
Image Module); pixels a slice marks with its PixelPaddingValue (outside the scanner's field of
view) become air, ``AIR_HU``, not the HU their stored value would rescale to.

Uneven stacks, decided from the slices' positions alone:

- Slices whose gaps along ``n`` differ from the median gap by more than ``GAP_TOLERANCE`` of it (a
  missing slice, a series assembled from two spacings), or that drift from a regular grid by as
  much, are resampled linearly along ``n`` onto a regular grid at the median gap (warning
  ``ct-resampled``). A gap wider than ``MAX_GAP_FACTOR`` median gaps is refused: interpolating
  across it would invent anatomy.
- Slices displaced in their own plane along the stack by more than ``TILT_TOLERANCE_PX`` of a
  pixel (a sheared stack, as a gantry tilt makes) are shifted back in-plane by linear
  interpolation onto an orthogonal grid (warning ``ct-gantry-tilt``); voxels that no slice covers
  after the shift are set to ``AIR_HU``. Refused: in-plane offsets that do not grow linearly
  along the stack (not a tilt, but slices out of place) and tilts steeper than ``MAX_TILT_DEG``.
- Refused outright: two slices at one position, slices of different sizes (Rows x Columns),
  pixels of different sizes (PixelSpacing), different orientations within the series, and
  direction cosines that are not unit and orthogonal.

NIfTI (read with nibabel): a 3D volume (a 4D one holding a single volume is allowed), of numbers,
whose affine nibabel gives in RAS+ mm (its sform, or its qform; a file with neither, whose
orientation is unknown, is refused). nibabel applies ``scl_slope`` and ``scl_inter``; the values
are taken to be Hounsfield units. The affine is kept as it is (no reorientation).

Every value read, DICOM or NIfTI, must be finite.

Limits (bounded cost, hostile inputs)
-------------------------------------
``MAX_FILES`` files in a folder or members in a zip (8192); ``MAX_FILE_BYTES`` per file or member
(64 MiB); ``MAX_TOTAL_BYTES`` in all (4 GiB, the zip's declared uncompressed sizes included, and
counted again while extracting, so a member that inflates beyond its declared size is refused);
``MAX_VOXELS`` in the volume read (1024 x 1024 x 2048, checked from the headers before any pixel
is read, and again after resampling; a JPEG, JPEG-LS or JPEG 2000 frame whose own header declares
another size than Rows x Columns is refused before it is decoded, as a decoder allocates what
that header says). Headers are read first with ``stop_before_pixels`` and a
``defer_size`` (values larger than ``DEFER_SIZE`` bytes are not loaded), pixels only for the
chosen series. A zip is extracted into a private temporary folder (mode 0700, deleted after
reading) under names this module makes up: member names are never used as paths, and a zip whose
names climb out (``..``, absolute paths), that holds symbolic links or encrypted members is refused.
Sub-folders of a DICOM folder are searched without following symbolic links to folders; a file
that is not a regular file (a device, a pipe) counts as not DICOM.

Privacy
-------
Nothing that could identify the patient is copied out: no name, ID, birth date, accession
number, institution, physician, study date or time, description, UID, nor any file or zip member
name, nor the path given. ``description``, the warnings and every error message are built from
the geometry, counts, modalities and a file's position (``file 3 of 120``) only. pydicom's and
nibabel's own warnings and log records (which may quote a tag's value) are silenced while
reading. Every failure is an :class:`~cryoplan.errors.InputError` on the field ``ct`` saying what
is allowed, never a traceback.

References
----------
DICOM PS3.3, C.7.6.2 Image Plane Module (ImagePositionPatient, ImageOrientationPatient,
PixelSpacing) and C.8.2.1 CT Image Module (RescaleSlope, RescaleIntercept),
https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.7.6.2.html.
nibabel, "Coordinate systems and affines" (RAS+ and DICOM's LPS),
https://nipy.org/nibabel/coordinate_systems.html.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cryoplan.anatomy.ct.image import CTImage
from cryoplan.errors import InputError
from cryoplan.named_warnings import NamedWarning

FIELD = "ct"
ALLOWED = "a DICOM folder (one or several series), a .zip of one, or a NIfTI file (.nii or .nii.gz)"

#: Files in a folder, or members in a zip.
MAX_FILES = 8192
#: Bytes in one file, or one zip member uncompressed (a 2048 x 2048 16-bit slice is 8 MiB).
MAX_FILE_BYTES = 64 * 2**20
#: Bytes in all the files, or a zip's members uncompressed.
MAX_TOTAL_BYTES = 4 * 2**30
#: Voxels in the volume read (8 GiB of float32 at the limit; twice that at the peak of a
#: resampling along the stack, which writes a second volume).
MAX_VOXELS = 1024 * 1024 * 2048
#: DICOM values longer than this (bytes) are not loaded while the headers are read.
DEFER_SIZE = 4096
#: A gap differing from the median gap by more than this fraction of it makes the stack uneven.
GAP_TOLERANCE = 0.05
#: Widest gap (in median gaps) that an uneven stack is resampled across; wider is refused.
MAX_GAP_FACTOR = 3.0
#: In-plane displacement (in pixels) along the stack that counts as a gantry tilt.
TILT_TOLERANCE_PX = 0.1
#: Steepest gantry tilt (degrees) resliced; steeper is refused.
MAX_TILT_DEG = 45.0
#: Hounsfield units given to voxels no slice covers after a tilt's in-plane shift.
AIR_HU = -1000.0

#: The Media Storage SOP Class of a DICOMDIR (PS3.10), an index with no pixels.
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"

#: LPS (DICOM) to RAS+ (nibabel): x and y change sign.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: Modalities a warning may name (a hostile file's Modality could hold any text).
_MODALITIES = frozenset(
    "CT MR PT NM US CR DX MG XA RF OT SC SR SEG REG RTSTRUCT RTDOSE RTPLAN RTIMAGE PR KO DOC".split()
)


class _Told(str):
    """A value an error message shows without quotes: a position or a count, never a name."""

    def __repr__(self) -> str:
        return str(self)


def _refuse(value: str, allowed: str) -> InputError:
    return InputError(FIELD, _Told(value), allowed)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence pydicom's and nibabel's warnings and log records while reading: they may quote
    a tag's value (a patient's name) or a file's path. (``warnings.catch_warnings`` is
    process-wide: another thread's warnings are silenced meanwhile too.)"""
    loggers = [logging.getLogger(name) for name in ("pydicom", "nibabel", "nibabel.global")]
    disabled = [lg.disabled for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.disabled = True
        try:
            yield
        finally:
            for lg, was in zip(loggers, disabled, strict=True):
                lg.disabled = was


def read_ct(path: str | os.PathLike[str]) -> CTImage:
    """A patient's CT in Hounsfield units on a RAS+ affine.

    Parameters
    ----------
    path : str or os.PathLike
        A DICOM folder (one or several series; sub-folders searched), a ``.zip`` of one, or a
        NIfTI file (``.nii`` or ``.nii.gz``).

    Returns
    -------
    CTImage
        ``hu`` float32 indexed [column, row, slice] for DICOM (the file's own axes for NIfTI);
        ``affine`` voxel index -> RAS+ mm; ``description`` (size, spacing, source; nothing of the
        patient); ``warnings`` for what was left aside, resampled or resliced.

    Raises
    ------
    InputError
        On the field ``ct``, one line, for anything that cannot be read as described in this
        module's docstring (no CT series, a single slice, a damaged file, an unsafe zip, a limit
        exceeded, non-finite values, ...). The message names at most a file's position.
    """
    path = Path(path)
    with _quiet():
        if path.is_dir():
            files = _folder_files(path)
            return _read_dicom(files, [f"file {n} of {len(files)}" for n in range(1, len(files) + 1)],
                               "a DICOM folder")
        if not path.is_file():  # a device, a pipe or a socket is there but is not a file
            raise _refuse("(not a regular file or folder)" if path.exists() else "(no such file or folder)",
                          ALLOWED)
        name = path.name.lower()
        if name.endswith((".nii", ".nii.gz")):
            return _read_nifti(path)
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        raise _refuse("(a file that is neither a zip nor a NIfTI file)", ALLOWED)


# ---- files: a folder or a zip --------------------------------------------------------------


def _folder_files(folder: Path) -> list[Path]:
    """The folder's files, sub-folders included (symbolic links to folders are not followed:
    no loop, no escape), in a stable order so that a file's position means something."""
    files: list[Path] = []
    folders = 0
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        folders += len(dirs)
        if folders > MAX_FILES:  # a tree of empty folders costs time too
            raise _refuse(f"more than {MAX_FILES} sub-folders",
                          f"a DICOM folder of at most {MAX_FILES} sub-folders")
        for name in sorted(names):
            files.append(Path(root, name))
            if len(files) > MAX_FILES:
                raise _refuse(f"more than {MAX_FILES} files", f"a DICOM folder of at most {MAX_FILES} files")
    if not files:
        raise _refuse("(an empty folder)", "a folder holding a DICOM CT series")
    return files


def _unsafe_member(name: str) -> bool:
    """A member name that would climb out of the folder it is extracted to, were it used."""
    if not name or "\x00" in name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.replace("\\", "/").split("/")


def _zip_entries(path: Path) -> int | None:
    """The member count a zip's end record declares (zip64 included), read before zipfile
    parses a central directory that could list millions of members; None if not found (zipfile
    then judges the file)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - (2**16 + 22)))  # the end record and its comment, at most 64 KiB
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            return None
        entries = int.from_bytes(tail[at + 10:at + 12], "little")
        locator = at - 20  # a zip64 end-of-central-directory locator sits just before it
        if entries == 0xFFFF and locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
            handle.seek(int.from_bytes(tail[locator + 8:locator + 16], "little"))
            record = handle.read(56)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                entries = int.from_bytes(record[32:40], "little")
    return entries


def _read_zip(path: Path) -> CTImage:
    """Extract a zip's regular members under made-up names into a private temporary folder,
    counting the bytes as they come, then read it as a DICOM folder."""
    declared = _zip_entries(path)
    if declared is not None and declared > MAX_FILES:
        raise _refuse(f"a zip of {declared} members", f"a zip of at most {MAX_FILES} members")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _refuse("(a zip that cannot be opened)", "a readable .zip of a DICOM folder") from None
    with archive, tempfile.TemporaryDirectory(prefix="cryoplan-ct-") as tmp:
        members = archive.infolist()
        count = len(members)
        if count > MAX_FILES:
            raise _refuse(f"a zip of {count} members", f"a zip of at most {MAX_FILES} members")
        wanted, total = [], 0
        for number, info in enumerate(members, 1):
            where = f"zip member {number} of {count}"
            if _unsafe_member(info.filename):
                raise _refuse(f"{where}: its name leaves the folder",
                              "a zip whose member names stay inside it (no '..', no absolute path)")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _refuse(f"{where}: a symbolic link", "a zip of regular files and folders")
            if info.flag_bits & 0x1:
                raise _refuse(f"{where}: encrypted", "a zip without encryption")
            if info.is_dir():
                continue
            if info.file_size > MAX_FILE_BYTES:
                raise _refuse(f"{where}: {info.file_size} bytes uncompressed",
                              f"zip members of at most {MAX_FILE_BYTES} bytes uncompressed")
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise _refuse(f"a zip of more than {MAX_TOTAL_BYTES} bytes uncompressed",
                              f"a zip of at most {MAX_TOTAL_BYTES} bytes uncompressed")
            wanted.append((number, info))
        files, labels = [], []
        for number, info in wanted:
            where = f"zip member {number} of {count}"
            target = Path(tmp, f"{number:06d}")
            _extract(archive, info, target, where)
            files.append(target)
            labels.append(where)
        if not files:
            raise _refuse("(an empty zip)", "a zip holding a DICOM CT series")
        return _read_dicom(files, labels, "a zip")


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, where: str) -> None:
    """Copy one member, refusing it as soon as it inflates beyond its declared size (zipfile
    stops there too; counting here does not depend on it)."""
    copied = 0
    try:
        with archive.open(info) as source, open(target, "xb") as sink:
            while chunk := source.read(2**20):
                copied += len(chunk)
                if copied > min(info.file_size, MAX_FILE_BYTES):
                    raise _refuse(f"{where}: inflates beyond its declared size",
                                  "a zip whose members hold what they declare")
                sink.write(chunk)
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError):
        raise _refuse(f"{where}: damaged or compressed in an unsupported way",
                      "a complete zip (stored or deflated members)") from None


# ---- DICOM ----------------------------------------------------------------------------------


@dataclass
class _Header:
    """What the reader keeps of a file's header: nothing that identifies anyone (the series UID
    is used to group files and never shown)."""

    index: int
    modality: str
    series: str
    image: bool
    localizer: bool


def _header(path: Path, index: int, label: str):
    """The header of a DICOM Part 10 file, or None for a file that is not one."""
    import pydicom

    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):  # a device or a pipe behind a link: not a file to read
        return None
    if info.st_size > MAX_FILE_BYTES:
        raise _refuse(f"{label}: {info.st_size} bytes", f"files of at most {MAX_FILE_BYTES} bytes")
    with open(path, "rb") as handle:
        start = handle.read(132)
    if len(start) < 132 or start[128:132] != b"DICM":
        return None
    try:
        ds = pydicom.dcmread(path, defer_size=DEFER_SIZE, stop_before_pixels=True)
        meta = getattr(ds, "file_meta", None) or {}
        if str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS:
            return _Header(index, "other", "", False, False)
        # pydicom stops quietly at a file's premature end: an object without its SOP class, or
        # an image without its size, is a damaged file, not a non-image object to leave aside
        if "TransferSyntaxUID" not in meta or "SOPClassUID" not in ds:
            raise ValueError("no transfer syntax or SOP class")
        syntax = meta["TransferSyntaxUID"].value  # one UID pydicom knows: the pixels' encoding
        if not isinstance(syntax, pydicom.uid.UID) or not syntax.is_transfer_syntax:
            raise ValueError("not a transfer syntax")
        modality = str(ds.get("Modality", "") or "").strip().upper()
        image = "Rows" in ds and "Columns" in ds
        if "Image Storage" in str(getattr(ds.SOPClassUID, "name", "")) and not (image and modality):
            raise ValueError("an image without its size or modality")
        image_type = ds.get("ImageType", [])
        image_type = [image_type] if isinstance(image_type, str) else list(image_type or [])
        localizer = any(str(v).strip().upper() == "LOCALIZER" for v in image_type)
        series = str(ds.get("SeriesInstanceUID", "") or "")
    except Exception:  # pydicom raises many types for a damaged file; none is shown (privacy)
        raise _refuse(f"{label}: cannot be read", "complete, readable DICOM files") from None
    return _Header(index, modality if modality in _MODALITIES else "other", series, image, localizer)


@dataclass
class _Slice:
    """One CT image's geometry (mm, LPS) and where it came from."""

    index: int
    label: str
    rows: int
    columns: int
    pixel: np.ndarray  # PixelSpacing: (between rows, between columns)
    orientation: np.ndarray  # ImageOrientationPatient (6)
    position: np.ndarray  # ImagePositionPatient (3)


def _numbers(ds, keyword: str, count: int, label: str) -> np.ndarray:
    try:
        values = np.array([float(v) for v in ds[keyword].value], float)
    except Exception:  # missing, empty, or text that is no number
        raise _refuse(f"{label}: no valid {keyword}",
                      f"CT images with {count} numbers in {keyword}") from None
    if values.shape != (count,) or not np.all(np.isfinite(values)):
        raise _refuse(f"{label}: {keyword} of {values.size} values",
                      f"CT images with {count} finite numbers in {keyword}")
    return values


def _geometry(path: Path, index: int, label: str) -> _Slice:
    import pydicom

    try:
        ds = pydicom.dcmread(path, defer_size=DEFER_SIZE, stop_before_pixels=True)
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except Exception:
        raise _refuse(f"{label}: cannot be read", "complete, readable DICOM files") from None
    if frames != 1:
        raise _refuse(f"{label}: {frames} frames", "single-frame CT images (Enhanced CT is not read yet)")
    if rows < 1 or columns < 1:
        raise _refuse(f"{label}: {rows} x {columns} pixels", "CT images of at least one pixel")
    pixel = _numbers(ds, "PixelSpacing", 2, label)
    if not np.all(pixel > 0):
        raise _refuse(f"{label}: PixelSpacing {pixel.tolist()}", "pixels of positive size")
    return _Slice(index, label, rows, columns, pixel, _numbers(ds, "ImageOrientationPatient", 6, label),
                  _numbers(ds, "ImagePositionPatient", 3, label))


def _which(slices: list[_Slice], flags: np.ndarray) -> str:
    return ", ".join(s.label for s, f in zip(slices, flags, strict=True) if f)


def _consistent(slices: list[_Slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One size, one pixel size and one orientation across the series: (X, Y, pixel)."""
    first = slices[0]
    for s in slices[1:]:
        if (s.rows, s.columns) != (first.rows, first.columns):
            raise _refuse(f"{s.label}: {s.rows} x {s.columns} pixels, {first.label}: "
                          f"{first.rows} x {first.columns}", "slices of one size across the series")
        if not np.allclose(s.pixel, first.pixel, rtol=1e-4, atol=1e-6):
            raise _refuse(f"{s.label}: pixels of {s.pixel[1]:g} x {s.pixel[0]:g} mm, {first.label}: "
                          f"{first.pixel[1]:g} x {first.pixel[0]:g} mm",
                          "pixels of one size across the series")
        if not np.allclose(s.orientation, first.orientation, atol=1e-4):
            raise _refuse(f"{s.label}: another ImageOrientationPatient than {first.label}",
                          "one orientation across the series")
    row, column = first.orientation[:3], first.orientation[3:]
    if (abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(column) - 1) > 1e-3
            or abs(row @ column) > 1e-3):
        raise _refuse(f"ImageOrientationPatient {first.orientation.round(4).tolist()}",
                      "two unit, orthogonal direction cosines")
    row, column = row / np.linalg.norm(row), column / np.linalg.norm(column)
    column = column - (column @ row) * row  # orthogonal to rounding
    return row, column / np.linalg.norm(column), first.pixel


@dataclass
class _Plan:
    """How the stack becomes a regular, orthogonal grid."""

    order: np.ndarray  # input slices sorted along the normal
    distance: np.ndarray  # their positions along the normal (mm), sorted
    shift_px: np.ndarray  # in-plane shift of each sorted slice (columns, rows); zero if untilted
    output: np.ndarray  # positions along the normal of the output slices (mm)
    origin: np.ndarray  # LPS mm of voxel (0, 0, 0)
    step: float  # mm between output slices
    warnings: list[NamedWarning]


def _stack(slices: list[_Slice], row: np.ndarray, column: np.ndarray, pixel: np.ndarray) -> _Plan:
    """Order the slices along the normal and decide the resampling (module docstring)."""
    normal = np.cross(row, column)
    positions = np.array([s.position for s in slices])
    distance = positions @ normal
    order = np.argsort(distance, kind="stable")
    distance, positions = distance[order], positions[order]
    ranked = [slices[i] for i in order]
    gaps = np.diff(distance)
    dc, dr = pixel[1], pixel[0]
    same = gaps <= 1e-3 * max(dc, dr)
    if np.any(same):
        k = int(np.argmax(same))
        raise _refuse(f"{ranked[k].label} and {ranked[k + 1].label} at one position",
                      "one slice per position (a series holding one stack)")
    median = float(np.median(gaps))
    warns: list[NamedWarning] = []

    # In-plane offsets of each slice from the first (mm along X and Y): zero for a straight
    # stack, growing linearly along it for a gantry tilt (a sheared stack).
    offsets = np.stack([(positions - positions[0]) @ row, (positions - positions[0]) @ column], axis=1)
    middle = (offsets.max(axis=0) + offsets.min(axis=0)) / 2
    shift_mm = offsets - middle
    shift_px = shift_mm / np.array([dc, dr])
    tilted = bool(np.abs(shift_px).max() > TILT_TOLERANCE_PX)
    origin = positions[0].copy()
    if tilted:
        design = np.stack([np.ones_like(distance), distance - distance[0]], axis=1)
        fit, *_ = np.linalg.lstsq(design, offsets, rcond=None)
        misfit_px = np.abs((offsets - design @ fit) / np.array([dc, dr])).max()
        if misfit_px > 0.5:
            raise _refuse(f"slices displaced in-plane irregularly (up to {misfit_px:.1f} pixels off a tilt)",
                          "a stack whose in-plane offsets grow linearly along it (a gantry tilt) or none")
        angle = float(np.degrees(np.arctan(np.linalg.norm(fit[1]))))
        if angle > MAX_TILT_DEG:
            raise _refuse(f"a gantry tilt of {angle:.0f} degrees",
                          f"a tilt of at most {MAX_TILT_DEG:g} degrees")
        origin = origin + middle[0] * row + middle[1] * column
        warns.append(NamedWarning(
            "ct-gantry-tilt",
            f"the slices were offset in-plane along the stack by up to {np.abs(offsets).max():.1f} mm "
            f"(a gantry tilt of about {angle:.1f} degrees): each slice was shifted back by linear "
            f"interpolation onto an orthogonal grid, voxels no slice covers set to {AIR_HU:g} HU",
            "ct",
        ))
    else:
        shift_px = np.zeros_like(shift_px)

    steps = np.arange(len(distance)) * (distance[-1] - distance[0]) / (len(distance) - 1)
    drift = np.abs(distance - distance[0] - steps).max()
    uneven = bool(np.abs(gaps - median).max() > GAP_TOLERANCE * median or drift > GAP_TOLERANCE * median)
    if uneven:
        if gaps.max() > MAX_GAP_FACTOR * median:
            k = int(np.argmax(gaps))
            raise _refuse(f"a gap of {gaps[k]:.2f} mm between {ranked[k].label} and {ranked[k + 1].label} "
                          f"(median {median:.2f} mm)",
                          f"gaps of at most {MAX_GAP_FACTOR:g} median gaps (missing slices are "
                          "interpolated across no wider a hole)")
        count = int(round((distance[-1] - distance[0]) / median)) + 1
        output = np.linspace(distance[0], distance[-1], count)
        warns.append(NamedWarning(
            "ct-resampled",
            f"the {len(distance)} slices were unevenly spaced (gaps from {gaps.min():.2f} to "
            f"{gaps.max():.2f} mm, "
            f"median {median:.2f} mm): resampled linearly along the stack onto {count} slices "
            f"{(output[1] - output[0]):.3f} mm apart",
            "ct",
        ))
    else:
        output = distance
    step = float((output[-1] - output[0]) / (len(output) - 1))
    return _Plan(order, distance, shift_px, output, origin, step, warns)


#: JPEG's start-of-frame markers (ITU T.81 Table B.1; not DHT C4, JPG C8, DAC CC), JPEG-LS's F7.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}


def _declared_size(ds) -> tuple[int, int] | None:
    """(columns, rows) that a JPEG, JPEG-LS or JPEG 2000 frame declares in its own header, read
    before decoding: a decoder allocates what that header says, not what Rows and Columns say.
    None for uncompressed or RLE pixels (decoded to Rows x Columns), or a header not found
    (the decoder then judges it)."""
    data = ds.get("PixelData")
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if not isinstance(data, bytes) or syntax is None or not syntax.is_encapsulated:
        return None
    # Encapsulated pixel data (PS3.5 A.4): items (FFFE,E000) with a 4-byte length; the first is
    # the basic offset table, the second the first fragment of the first frame.
    item = b"\xfe\xff\x00\xe0"
    if data[:4] != item:
        return None
    at = 8 + int.from_bytes(data[4:8], "little")
    if data[at:at + 4] != item:
        return None
    frame = data[at + 8:at + 8 + min(int.from_bytes(data[at + 4:at + 8], "little"), 2**16)]
    if frame[:2] == b"\xff\xd8":  # JPEG, JPEG-LS: markers up to the start of frame
        at = 2
        while at + 9 <= len(frame) and frame[at] == 0xFF:
            marker = frame[at + 1]
            if marker == 0xFF:  # a fill byte
                at += 1
            elif marker in _SOF:
                columns, rows = frame[at + 7:at + 9], frame[at + 5:at + 7]
                return int.from_bytes(columns, "big"), int.from_bytes(rows, "big")
            else:
                at += 2 + int.from_bytes(frame[at + 2:at + 4], "big")
        return None
    siz = frame.find(b"\xff\x4f\xff\x51")  # JPEG 2000: SOC then SIZ (ISO 15444-1 A.5.1)
    if siz < 0 or siz + 24 > len(frame):
        return None
    x, y, x0, y0 = (int.from_bytes(frame[siz + 2 + o:siz + 6 + o], "big") for o in (6, 10, 14, 18))
    return x - x0, y - y0


def _padded(ds, stored: np.ndarray, label: str) -> np.ndarray:
    """The pixels a scanner marks as not reconstructed (outside its field of view): stored values
    equal to PixelPaddingValue, or between it and PixelPaddingRangeLimit (DICOM PS3.3
    C.7.5.1.1.2); none when the slice declares no padding."""
    pad, limit = ds.get("PixelPaddingValue"), ds.get("PixelPaddingRangeLimit")
    if pad is None:
        return np.zeros(stored.shape, bool)
    try:
        lo, hi = sorted((int(pad), int(pad if limit is None else limit)))
    except (TypeError, ValueError):
        raise _refuse(f"{label}: PixelPaddingValue {str(pad)[:20]!r}", "an integer pixel value") from None
    return (stored >= lo) & (stored <= hi)


def _hu(path: Path, shape: tuple[int, int], label: str) -> np.ndarray:
    """One slice's pixels in HU, transposed to [column, row]."""
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        for _ in ds.iterall():  # pydicom parses elements when first touched: a damaged one fails here
            pass
    except Exception:
        raise _refuse(f"{label}: cannot be read", "complete, readable DICOM files") from None
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise _refuse(f"{label}: colour pixels", "grey-scale CT images (one sample per pixel)")
    try:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    except Exception:
        raise _refuse(f"{label}: no valid RescaleSlope and RescaleIntercept",
                      "CT images with RescaleSlope and RescaleIntercept (Type 1 in the CT Image "
                      "Module)") from None
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope == 0:
        raise _refuse(f"{label}: RescaleSlope {slope:g}, RescaleIntercept {intercept:g}",
                      "a finite, non-zero RescaleSlope and a finite RescaleIntercept")
    declared = _declared_size(ds)
    if declared is not None and declared != (shape[1], shape[0]):
        raise _refuse(f"{label}: compressed pixels declaring {declared[0]} x {declared[1]}",
                      f"compressed frames of the image's own size ({shape[1]} x {shape[0]})")
    try:
        stored = ds.pixel_array
    except Exception:  # truncated pixel data, or a transfer syntax no installed plugin decodes
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        named = getattr(syntax, "name", "an unknown transfer syntax")  # a standard's name, not a patient's
        raise _refuse(f"{label}: its pixels cannot be decoded ({named})",
                      "complete pixel data in a transfer syntax pydicom decodes here (uncompressed, RLE, "
                      "or JPEG / JPEG-LS / JPEG 2000 with the pylibjpeg plugins)") from None
    if stored.shape != shape:
        raise _refuse(f"{label}: pixels of shape {tuple(stored.shape)}",
                      f"one frame of {shape[0]} x {shape[1]}")
    hu = stored.astype(np.float64) * slope + intercept
    hu[_padded(ds, stored, label)] = AIR_HU
    if not np.all(np.isfinite(hu)):
        raise _refuse(f"{label}: non-finite Hounsfield units", "finite values")
    return hu.astype(np.float32).T


def _left_aside(headers: list[_Header], chosen: str, not_dicom: list[str], total: int) -> list[NamedWarning]:
    """What was not read, in counts and modalities (never a UID or a description)."""
    out = []
    series: dict[str, list[_Header]] = {}
    localizers = others = 0
    for h in headers:
        if not h.image:
            others += 1
        elif h.modality == "CT" and h.localizer:
            localizers += 1
        elif not (h.modality == "CT" and h.series == chosen):
            series.setdefault(h.series, []).append(h)
    parts = [f"a series of {len(g)} {g[0].modality} image{'s' if len(g) > 1 else ''}"
             for g in series.values()]
    if localizers:
        parts.append(f"{localizers} localizer image{'s' if localizers > 1 else ''}")
    if others:
        parts.append(f"{others} DICOM object{'s' if others > 1 else ''} without pixels (DICOMDIR, reports)")
    if parts:
        out.append(NamedWarning("ct-series-left-aside", "not read: " + "; ".join(parts), "ct"))
    if not_dicom:
        more = f" and {len(not_dicom) - 10} more" if len(not_dicom) > 10 else ""
        shown = ", ".join(not_dicom[:10]) + more
        out.append(NamedWarning(
            "ct-files-not-dicom",
            f"{len(not_dicom)} of {total} files are not DICOM Part 10 files and were not read: {shown}",
            "ct",
        ))
    return out


def _read_dicom(files: list[Path], labels: list[str], source: str) -> CTImage:
    total_bytes = 0
    headers, not_dicom = [], []
    for index, (path, label) in enumerate(zip(files, labels, strict=True)):
        header = _header(path, index, label)
        if header is None:
            not_dicom.append(label.split(" of ")[0])
            continue
        total_bytes += os.stat(path).st_size
        if total_bytes > MAX_TOTAL_BYTES:
            raise _refuse(f"more than {MAX_TOTAL_BYTES} bytes of DICOM",
                          f"at most {MAX_TOTAL_BYTES} bytes in all")
        headers.append(header)
    if not headers:
        raise _refuse(f"{len(files)} files, none of them DICOM", "a folder holding a DICOM CT series")
    groups: dict[str, list[_Header]] = {}
    for h in headers:
        if h.image and h.modality == "CT" and not h.localizer:
            groups.setdefault(h.series, []).append(h)
    if not groups:
        found: dict[str, int] = {}
        for h in headers:
            kind = "objects without pixels"
            if h.image:
                kind = f"{h.modality} localizer images" if h.localizer else f"{h.modality} images"
            found[kind] = found.get(kind, 0) + 1
        raise _refuse("no CT image (found " + ", ".join(f"{n} {k}" for k, n in found.items()) + ")",
                      "a DICOM CT series (Modality CT)")
    chosen_uid, chosen = max(groups.items(), key=lambda item: len(item[1]))  # the first on a tie
    if len(chosen) < 2:
        raise _refuse("a CT series of a single slice", "a CT series of at least 2 slices")

    slices = [_geometry(files[h.index], h.index, labels[h.index]) for h in chosen]
    row, column, pixel = _consistent(slices)
    columns, rows = slices[0].columns, slices[0].rows
    if columns * rows * len(slices) > MAX_VOXELS:
        raise _refuse(f"{columns} x {rows} x {len(slices)} voxels", f"at most {MAX_VOXELS} voxels")
    plan = _stack(slices, row, column, pixel)
    if columns * rows * len(plan.output) > MAX_VOXELS:
        raise _refuse(f"{columns} x {rows} x {len(plan.output)} voxels after resampling",
                      f"at most {MAX_VOXELS} voxels")

    volume = np.empty((columns, rows, len(slices)), np.float32)
    for k, i in enumerate(plan.order):
        s = slices[i]
        volume[:, :, k] = _hu(files[s.index], (rows, columns), s.label)
    if np.any(plan.shift_px):
        from scipy import ndimage

        for k in range(volume.shape[2]):
            # output[c, r] = input[c - shift]: slice k's pixel (c, r) moved onto the orthogonal grid
            volume[:, :, k] = ndimage.shift(volume[:, :, k], plan.shift_px[k], order=1, mode="constant",
                                            cval=AIR_HU)
    if len(plan.output) != len(plan.distance) or not np.array_equal(plan.output, plan.distance):
        volume = _along_stack(volume, plan.distance, plan.output)

    lps = np.eye(4)
    lps[:3, 0] = row * pixel[1]
    lps[:3, 1] = column * pixel[0]
    lps[:3, 2] = np.cross(row, column) * plan.step
    lps[:3, 3] = plan.origin
    affine = LPS_TO_RAS @ lps
    warns = _left_aside(headers, chosen_uid, not_dicom, len(files)) + plan.warnings
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    changed = ", resampled" if plan.warnings else ""
    description = (f"CT {volume.shape[0]}x{volume.shape[1]}x{volume.shape[2]} voxels of "
                   f"{spacing[0]:.3g} x {spacing[1]:.3g} x {spacing[2]:.3g} mm, from a DICOM series of "
                   f"{len(slices)} slices in {source}{changed}")
    return CTImage(volume, affine, description, tuple(warns))


def _along_stack(volume: np.ndarray, distance: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Linear interpolation along the slice axis, from the slices at ``distance`` onto ``output``
    (both sorted, same ends)."""
    out = np.empty(volume.shape[:2] + (len(output),), np.float32)
    upper = np.clip(np.searchsorted(distance, output, side="right"), 1, len(distance) - 1)
    for k, (d, u) in enumerate(zip(output, upper, strict=True)):
        w = float(np.clip((d - distance[u - 1]) / (distance[u] - distance[u - 1]), 0.0, 1.0))
        out[:, :, k] = (1 - w) * volume[:, :, u - 1] + w * volume[:, :, u]
    return out


# ---- NIfTI ----------------------------------------------------------------------------------


def _read_nifti(path: Path) -> CTImage:
    import nibabel as nib

    try:
        img = nib.load(str(path))
    except Exception:  # nibabel raises several types for a file that is not NIfTI (no path shown)
        raise _refuse("(a .nii or .nii.gz file nibabel cannot read)", "a readable NIfTI file") from None
    if not isinstance(img, nib.Nifti1Pair | nib.Nifti2Pair):  # NIfTI images are pairs too
        raise _refuse(f"(a {type(img).__name__} file)", "a NIfTI file (.nii or .nii.gz)")
    shape = tuple(int(n) for n in img.shape)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise _refuse(f"a volume of shape {shape}", "a 3D NIfTI volume (or a 4D one holding a single volume)")
    if min(shape) < 2:
        raise _refuse(f"a volume of shape {shape}", "a 3D volume of at least 2 voxels along each axis")
    if int(np.prod(shape, dtype=np.int64)) > MAX_VOXELS:
        raise _refuse(f"{shape[0]} x {shape[1]} x {shape[2]} voxels", f"at most {MAX_VOXELS} voxels")
    if img.get_data_dtype().kind not in "biuf":
        raise _refuse(f"voxels of type {img.get_data_dtype()}", "numbers (Hounsfield units)")
    if int(img.header["sform_code"]) == 0 and int(img.header["qform_code"]) == 0:
        raise _refuse("sform_code and qform_code both 0 (no orientation)",
                      "a NIfTI file whose sform or qform gives its orientation in the scanner")
    affine = np.asarray(img.affine, float)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise _refuse("an affine that is not finite and invertible", "a NIfTI affine mapping voxels to mm")
    try:
        hu = np.asarray(img.get_fdata(dtype=np.float32)).reshape(shape)
    except Exception:  # a header promising more voxels than the file holds, a broken gzip
        raise _refuse("(an incomplete or damaged NIfTI file)", "a complete NIfTI file") from None
    if not np.all(np.isfinite(hu)):
        raise _refuse("non-finite values", "finite Hounsfield units")
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    description = (f"CT {shape[0]}x{shape[1]}x{shape[2]} voxels of {spacing[0]:.3g} x {spacing[1]:.3g} x "
                   f"{spacing[2]:.3g} mm, from a NIfTI file")
    return CTImage(np.ascontiguousarray(hu, np.float32), affine, description, ())
