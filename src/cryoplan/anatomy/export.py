"""Voxel fields to files that 3D Slicer and ParaView open: NIfTI-1 (.nii / .nii.gz, one field per
file, affine in mm) and VTK XML image data (.vti, every field in one file, base64 binary).
Both are written atomically (``atomic.write_atomic``, or any ``write(path, writer)`` given, such
as a run's ``OutputSet.stage``).

>>> import numpy as np, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_vti(d / "f.vti", np.zeros(3), np.full(3, 1e-3), {"t": np.arange(24.0).reshape(2, 3, 4)})
>>> (d / "f.vti").read_text().count("<DataArray")
1
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from cryoplan.anatomy.labels import nifti_bytes
from cryoplan.atomic import write_atomic


def affine_mm(origin: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """NIfTI affine (mm) of an axis-aligned grid (origin: centre of voxel 0, m).

    Parameters
    ----------
    origin : numpy.ndarray
        Centre of voxel 0 (3,) [m].
    spacing : numpy.ndarray
        Voxel size along each axis (3,) [m].

    Returns
    -------
    numpy.ndarray
        4 x 4 voxel-to-world affine [mm].
    """
    aff = np.eye(4)
    aff[:3, :3] = np.diag(np.asarray(spacing) * 1e3)
    aff[:3, 3] = np.asarray(origin) * 1e3
    return aff


def write_nifti(path: str | Path, values: np.ndarray, origin: np.ndarray, spacing: np.ndarray,
                write=write_atomic, affine: np.ndarray | None = None) -> None:
    """One field as NIfTI (gzip-compressed when the name ends in .gz).

    Parameters
    ----------
    path : str or pathlib.Path
        The file (.nii or .nii.gz).
    values : numpy.ndarray
        The 3D field, in its own unit.
    origin : numpy.ndarray
        Centre of voxel 0 (3,) [m].
    spacing : numpy.ndarray
        Voxel size along each axis (3,) [m].
    write : callable, optional
        ``write(path, writer)`` that has ``writer(tmp_path)`` produce the file (default
        ``atomic.write_atomic``).
    affine : numpy.ndarray, optional
        4 x 4 voxel-to-world affine [mm] replacing the axis-aligned one of ``origin`` and
        ``spacing`` (a patient's region: ``frame.PatientFrame.affine_mm``).
    """
    path = Path(path)
    aff = affine_mm(origin, spacing) if affine is None else affine
    data = nifti_bytes(values, aff, path.name.endswith(".gz"))
    write(path, lambda p: p.write_bytes(data))


def _data_array(name: str, values: np.ndarray) -> str:
    flat = np.ascontiguousarray(values.transpose(2, 1, 0)).ravel()  # VTK: x varies fastest
    kind = {
        "f": ("Float64", np.float64),
        "i": ("Int32", np.int32),
        "u": ("Int32", np.int32),
        "b": ("UInt8", np.uint8),
    }[values.dtype.kind]
    raw = flat.astype(kind[1]).tobytes()
    blob = base64.b64encode(np.uint32(len(raw)).tobytes() + raw).decode("ascii")
    return f'<DataArray type="{kind[0]}" Name="{name}" format="binary">{blob}</DataArray>'


def write_vti(
    path: str | Path, origin: np.ndarray, spacing: np.ndarray, fields: dict[str, np.ndarray],
    write=write_atomic,
) -> None:
    """Several fields of one grid as VTK XML image data (point data at the voxel centres, mm).

    Parameters
    ----------
    path : str or pathlib.Path
        The file (.vti).
    origin : numpy.ndarray
        Centre of voxel 0 (3,) [m]; written in mm.
    spacing : numpy.ndarray
        Voxel size along each axis (3,) [m]; written in mm.
    fields : dict of str to numpy.ndarray
        Each field's name and 3D values (each in its own unit), all of the grid's shape.
    write : callable, optional
        ``write(path, writer)`` that has ``writer(tmp_path)`` produce the file (default
        ``atomic.write_atomic``).
    """
    shape = next(iter(fields.values())).shape
    if any(v.shape != shape for v in fields.values()):
        raise ValueError("every field must have the grid's shape")
    extent = " ".join(f"0 {n - 1}" for n in shape)
    o = " ".join(f"{x * 1e3:.9g}" for x in origin)
    s = " ".join(f"{x * 1e3:.9g}" for x in spacing)
    arrays = "\n".join(_data_array(k, np.asarray(v)) for k, v in fields.items())
    text = (
        '<?xml version="1.0"?>\n'
        '<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt32">\n'
        f'<ImageData WholeExtent="{extent}" Origin="{o}" Spacing="{s}">\n'
        f'<Piece Extent="{extent}">\n<PointData>\n{arrays}\n</PointData>\n</Piece>\n'
        "</ImageData>\n</VTKFile>\n"
    )
    write(path, lambda p: p.write_text(text, encoding="ascii"))


def write_vtm(path: str | Path, blocks: list[tuple[str, Path]], write=write_atomic) -> Path:
    """A VTK multiblock file naming image data files (relative to it), so ParaView opens a
    whole session at once.

    Parameters
    ----------
    path : str or pathlib.Path
        The file (.vtm).
    blocks : list of tuple of (str, pathlib.Path)
        Each block's name and its image data file, relative to ``path``'s folder.
    write : callable, optional
        ``write(path, writer)`` that has ``writer(tmp_path)`` produce the file (default
        ``atomic.write_atomic``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from xml.sax.saxutils import quoteattr

    rows = "\n".join(f'<DataSet index="{k}" name={quoteattr(name)} file={quoteattr(str(file))}/>'
                     for k, (name, file) in enumerate(blocks))
    text = ('<?xml version="1.0"?>\n<VTKFile type="vtkMultiBlockDataSet" version="1.0">\n'
            f"<vtkMultiBlockDataSet>\n{rows}\n</vtkMultiBlockDataSet>\n</VTKFile>\n")
    write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return Path(path)
