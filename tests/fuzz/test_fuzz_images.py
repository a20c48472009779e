"""Property-based fuzz of the image readers: a NIfTI label volume (``anatomy.labels``) and a CT
(``anatomy.ct.read.read_ct``, NIfTI or a DICOM folder), with header bytes overwritten, files
truncated or padded at random. Whatever the bytes, a reader returns an image or raises an
InputError on one line; never another exception, never a hang, and a CT's messages never carry
the identifying tags the files hold.

A bounded number of examples keeps the default run fast; the corpus of hand-made hostile images
is in tests/ct/test_ct_read.py and tests/fuzz/test_hostile*.py.
"""

import gzip
import io
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryoplan.anatomy.ct.read import read_ct
from cryoplan.anatomy.labels import label_table, nifti_header, read_nifti
from cryoplan.errors import InputError
from tests.ct.phantom import IDENTIFYING, write_series

HEADER_BYTES = 348  # a NIfTI-1 header
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
#: Byte edits: (offset, new bytes) pairs, offsets weighted towards the header.
EDITS = st.lists(st.tuples(st.one_of(st.integers(0, HEADER_BYTES - 1), st.integers(0, 4000)),
                           st.binary(min_size=1, max_size=8)), min_size=1, max_size=6)


def _nifti_bytes(data: np.ndarray, affine: np.ndarray) -> bytes:
    img = nib.Nifti1Image(data, affine)
    out = io.BytesIO()
    out.write(img.header.binaryblock)
    out.write(b"\x00" * (int(img.header["vox_offset"]) - HEADER_BYTES))
    out.write(np.asarray(data, img.get_data_dtype()).tobytes(order="F"))
    return out.getvalue()


LABELS = _nifti_bytes(np.ones((6, 5, 4), np.int16), np.diag([0.5, 0.5, 0.5, 1.0]))
CT = _nifti_bytes(np.full((8, 7, 6), 40.0, np.float32), np.diag([-1.0, -1.0, 2.0, 1.0]))


def _mutated(blob: bytes, edits: list[tuple[int, bytes]], cut: int | None) -> bytes:
    data = bytearray(blob)
    for offset, new in edits:
        data[offset:offset + len(new)] = new
    return bytes(data[:cut] if cut is not None else data)


def _read_or_refused(read, *args):
    """``read(*args)`` and None, or None and the refusal's message (one line); any warning fails,
    since it would be printed above the line."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return read(*args), None
        except InputError as err:
            assert "\n" not in str(err) and len(str(err)) < 2000
            return None, str(err)


def _read_labels(path: Path):
    nifti_header(path)
    return read_nifti(path, label_table({"1": {"name": "muscle", "tissue": "muscle"}}))


@FUZZ
@given(edits=EDITS, cut=st.one_of(st.none(), st.integers(0, len(LABELS))), gz=st.booleans())
def test_a_mutated_label_volume_is_read_or_refused_in_one_line(tmp_path_factory, edits, cut, gz):
    folder = tmp_path_factory.mktemp("labels")
    blob = _mutated(LABELS, edits, cut)
    path = folder / ("labels.nii.gz" if gz else "labels.nii")
    path.write_bytes(gzip.compress(blob) if gz else blob)
    _read_or_refused(_read_labels, path)


@FUZZ
@given(edits=EDITS, cut=st.one_of(st.none(), st.integers(0, len(CT))))
def test_a_mutated_nifti_ct_is_read_or_refused_in_one_line(tmp_path_factory, edits, cut):
    path = tmp_path_factory.mktemp("ct") / "ct.nii"
    path.write_bytes(_mutated(CT, edits, cut))
    image, _ = _read_or_refused(read_ct, path)
    if image is not None:
        assert np.isfinite(image.hu).all() and np.isfinite(image.affine).all()


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("series")
    written = write_series(folder, shape=(16, 16, 6), spacing=(2.0, 2.0, 3.0))
    return [Path(f).read_bytes() for f in written.files]


DICOM_EDITS = st.lists(st.tuples(st.integers(0, 1200), st.binary(min_size=1, max_size=8)),
                       min_size=1, max_size=6)


@FUZZ
@given(which=st.integers(0, 5), edits=DICOM_EDITS, cut=st.one_of(st.none(), st.integers(0, 3000)))
def test_a_mutated_dicom_file_is_read_or_refused_without_identifying_anything(tmp_path_factory, series, which,
                                                                               edits, cut):
    folder = tmp_path_factory.mktemp("dicom")
    for k, blob in enumerate(series):
        (folder / f"{k:03d}.dcm").write_bytes(_mutated(blob, edits, cut) if k == which else blob)
    image, shown = _read_or_refused(read_ct, folder)
    if image is not None:
        assert np.isfinite(image.hu).all()
        shown = image.description + " ".join(w.message for w in image.warnings)
    for secret in IDENTIFYING.values():
        assert secret not in shown
