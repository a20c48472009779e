"""Label volumes: an integer image whose labels a table maps to tissues and roles.

Each label names a structure, its tissue (``tissue/library``) and its role: ``tissue`` only
conducts heat, ``target`` is a nerve to block, ``protected`` must stay above its limit
(data/anatomy.toml [limits]). A volume comes from a template (``templates``) or a NIfTI file
whose affine is axis-aligned (any order and sign of the axes; nibabel's RAS+ reorientation
makes it diagonal); oblique or sheared affines are refused, as the voxel solver needs faces
along the axes.

>>> import numpy as np
>>> table = label_table({"1": {"name": "muscle", "tissue": "muscle"}})
>>> vol = LabelVolume(np.ones((3, 4, 5), dtype=np.int64), np.full(3, 1e-3), np.zeros(3), table)
>>> vol.voxel_grid().materials[0].name, vol.voxel_grid().shape
('muscle', (3, 4, 5))
"""

from __future__ import annotations

import gzip
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from cryoplan.data import read_toml
from cryoplan.errors import InputError
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.tissue.library import get_tissue, tissue_names
from cryoplan.units import c_to_k

ROLES = ("tissue", "target", "protected")
#: Largest label of a NIfTI volume (a 32-bit label image holds no more).
MAX_LABEL = 2**31 - 1


@lru_cache(maxsize=1)
def anatomy_data() -> dict:
    """Templates, default labels, limits and placement error (data/anatomy.toml).

    Returns
    -------
    dict
        Its tables (``lumbar``, ``sacral``, ``labels``, ``limits``, ``placement``), each number in
        the unit its key names: millimetres (``_mm``), degrees (``_deg``), degrees Celsius (``_c``).
    """
    return read_toml("anatomy.toml")


@dataclass(frozen=True)
class Structure:
    label: int
    name: str
    tissue: str
    role: str = "tissue"
    limit_k: float | None = None  # protected structures: coldest allowed temperature


def label_table(entries: dict[str, Any], where: str = "labels") -> dict[int, Structure]:
    """Validate a label table ({"label": {name, tissue, role, limit_c}}) into structures.

    Parameters
    ----------
    entries : dict
        Label (as text) to its ``name``, ``tissue`` (tissue-library name), ``role`` and
        ``limit_c`` (coldest allowed temperature [°C]; protected structures default to
        data/anatomy.toml [limits]).
    where : str, optional
        The input field named in an InputError.

    Returns
    -------
    dict of int to Structure
        Each label's structure, its limit in kelvin [K].
    """
    table = {}
    default_limit = anatomy_data()["limits"]["frozen_below_c"]
    for key, entry in entries.items():
        field = f"{where}.{key}"
        try:
            label = int(key)
        except ValueError:
            raise InputError(field, key, "an integer label") from None
        if not 0 <= label <= MAX_LABEL:
            raise InputError(field, label, f"a label from 0 to {MAX_LABEL}")
        if not isinstance(entry, dict) or "tissue" not in entry:
            raise InputError(f"{field}.tissue", "<missing>", "one of " + ", ".join(tissue_names()))
        unknown = set(entry) - {"name", "tissue", "role", "limit_c"}
        if unknown:
            raise InputError(
                f"{field}.{sorted(unknown)[0]}",
                entry[sorted(unknown)[0]],
                "no such key (name, tissue, role, limit_c)",
            )
        if not isinstance(entry.get("name", ""), str):
            raise InputError(f"{field}.name", entry["name"], "a name (text)")
        if not isinstance(entry["tissue"], str) or entry["tissue"] not in tissue_names():
            raise InputError(f"{field}.tissue", entry["tissue"], "one of " + ", ".join(tissue_names()))
        role = entry.get("role", "tissue")
        if role not in ROLES:
            raise InputError(f"{field}.role", role, "one of " + ", ".join(ROLES))
        limit = entry.get("limit_c", default_limit if role == "protected" else None)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float)
                                  or not -100.0 <= float(limit) <= 40.0):
            raise InputError(f"{field}.limit_c", limit, "a temperature between -100 and 40 C")
        table[label] = Structure(
            label,
            str(entry.get("name", entry["tissue"])),
            entry["tissue"],
            role,
            None if limit is None else c_to_k(float(limit)),
        )
    if not table:
        raise InputError(where, {}, "at least one label")
    return table


def default_labels() -> dict[int, Structure]:
    """The labels the templates use (data/anatomy.toml [labels]).

    Returns
    -------
    dict of int to Structure
        Each label's structure, limits [K].
    """
    return label_table(anatomy_data()["labels"])


@dataclass(frozen=True)
class LabelVolume:
    """Labels on a voxel grid (spacing and origin in m; origin is the centre of voxel 0)."""

    labels: np.ndarray
    spacing: np.ndarray
    origin: np.ndarray
    structures: dict[int, Structure]
    sides: tuple[str, ...] = ("far-field",) * 6

    def __post_init__(self) -> None:
        present = np.unique(self.labels)
        unmapped = [int(v) for v in present if int(v) not in self.structures]
        if unmapped:
            raise InputError(
                "labels",
                unmapped[:10],
                "labels listed in the label table ("
                + ", ".join(str(k) for k in sorted(self.structures))
                + ")",
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.labels.shape

    def voxel_grid(self) -> VoxelGrid:
        """The solver's grid: one material per tissue used.

        Returns
        -------
        VoxelGrid
            The grid, spacing and origin [m], a material index per voxel.
        """
        present, where = np.unique(self.labels, return_inverse=True)
        names = sorted({self.structures[int(v)].tissue for v in present})
        # by the labels present, not a table as long as the largest label (which a file chooses)
        material = np.array([names.index(self.structures[int(v)].tissue) for v in present], dtype=np.int64)
        return VoxelGrid(
            np.asarray(self.spacing, float),
            np.asarray(self.origin, float),
            material[where.reshape(self.labels.shape)],
            tuple(get_tissue(n) for n in names),
            self.sides,
        )

    def with_role(self, role: str) -> list[Structure]:
        """The structures of one role present in the volume.

        Parameters
        ----------
        role : str
            One of ``ROLES``: "tissue", "target" or "protected".

        Returns
        -------
        list of Structure
            In label order.
        """
        present = {int(v) for v in np.unique(self.labels)}
        return [s for k, s in sorted(self.structures.items()) if s.role == role and k in present]

    def centres_of(self, label: int) -> np.ndarray:
        """Centres (n, 3) in m of the voxels carrying ``label``.

        Parameters
        ----------
        label : int
            A label of the volume.

        Returns
        -------
        numpy.ndarray
            Voxel centres (n x 3) [m].
        """
        idx = np.argwhere(self.labels == label)
        return self.origin + idx * self.spacing


def read_label_table(path: str | Path) -> dict[int, Structure]:
    """A label table file (TOML, [labels.N] sections as in data/anatomy.toml).

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML file.

    Returns
    -------
    dict of int to Structure
        Each label's structure (``label_table``), limits [K].
    """
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise InputError("anatomy.label_table", str(path), "an existing label table (.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError("anatomy.label_table", str(path), f"a valid UTF-8 TOML file ({err})") from None
    if not isinstance(data.get("labels"), dict):
        raise InputError("anatomy.label_table", str(path), "a [labels.N] section per label")
    return label_table(data["labels"], "labels")


def _axis_aligned(affine: np.ndarray, path: Path) -> None:
    rot = affine[:3, :3]
    norms = np.linalg.norm(rot, axis=0)
    if not np.all(norms > 0):
        raise InputError("anatomy.nifti", str(path), "an affine with non-zero voxel sizes")
    unit = np.abs(rot / norms)
    if not np.allclose(np.sort(unit, axis=0), [[0, 0, 0], [0, 0, 0], [1, 1, 1]], atol=1e-4):
        raise InputError(
            "anatomy.nifti",
            str(path),
            "an axis-aligned affine (voxel axes along the scanner axes, in any order and "
            "sign); this one is oblique or sheared: reslice the labels first, e.g. in 3D "
            "Slicer (Resample Image) with nearest-neighbour interpolation",
        )


def _load_nifti(path: Path):
    import nibabel as nib

    if not path.is_file():
        raise InputError("anatomy.nifti", str(path), "an existing NIfTI file (.nii or .nii.gz)")
    try:
        with warnings.catch_warnings():  # a malformed header's complaints: what matters is checked below
            warnings.simplefilter("ignore")
            img = nib.load(str(path))
    except Exception as err:  # nibabel raises several types for a file that is not NIfTI
        raise InputError("anatomy.nifti", str(path), f"a readable NIfTI file ({err})") from None
    if not isinstance(img, nib.Nifti1Pair | nib.Nifti2Pair):  # NIfTI images are pairs too
        raise InputError("anatomy.nifti", str(path), "a NIfTI file (.nii or .nii.gz), not "
                         + type(img).__name__)
    if len(img.shape) != 3:
        raise InputError("anatomy.nifti", list(img.shape), "a 3D label volume")
    return img


def nifti_shape(path: str | Path) -> tuple[int, int, int]:
    """The voxels of a NIfTI label volume along each axis, from its header (nothing more is read).

    Parameters
    ----------
    path : str or pathlib.Path
        The NIfTI file (.nii or .nii.gz).

    Returns
    -------
    tuple of int
        Voxels along each of the three axes.
    """
    return nifti_header(path)[0]


def nifti_header(path: str | Path) -> tuple[tuple[int, int, int], np.ndarray]:
    """A NIfTI label volume's voxels along each axis and their sizes (m), from its header alone
    (raises InputError for a file that is not one, or an oblique affine), so a run's cost is
    known before its voxels are read.

    Parameters
    ----------
    path : str or pathlib.Path
        The NIfTI file (.nii or .nii.gz).

    Returns
    -------
    tuple
        Voxels along each axis (tuple of int) and the voxel sizes along them (numpy.ndarray) [m].
    """
    path = Path(path)
    img = _load_nifti(path)
    _axis_aligned(img.affine, path)
    return tuple(int(n) for n in img.shape), np.linalg.norm(img.affine[:3, :3], axis=0) * 1e-3


def read_nifti(path: str | Path, structures: dict[int, Structure]) -> LabelVolume:
    """A label volume from a NIfTI file (.nii or .nii.gz) with an axis-aligned affine, in the
    frame of its affine (mm; nibabel's RAS+: voxels reordered, world coordinates unchanged).

    Parameters
    ----------
    path : str or pathlib.Path
        The NIfTI file (.nii or .nii.gz), integer labels from 0 to ``MAX_LABEL``.
    structures : dict of int to Structure
        The label table; every label in the file must be in it.

    Returns
    -------
    LabelVolume
        The labels in RAS+ order, voxel size and the centre of voxel 0 [m].
    """
    import nibabel as nib

    path = Path(path)
    img = _load_nifti(path)
    _axis_aligned(img.affine, path)
    dtype = img.get_data_dtype()
    if dtype.kind not in "biuf":  # RGB, complex, ...: no label in a voxel
        raise InputError("anatomy.nifti", str(path), f"integer labels (this file holds {dtype} voxels)")
    try:
        with warnings.catch_warnings():  # nibabel's and numpy's warnings on a damaged file: refused below
            warnings.simplefilter("ignore")
            img = nib.as_closest_canonical(img)
            data = np.asanyarray(img.dataobj)
    except Exception as err:  # a header promising more voxels than the file holds, a broken gzip
        raise InputError("anatomy.nifti", str(path), f"a complete NIfTI file ({err})") from None
    if not np.all(np.isfinite(data)) or not np.array_equal(data, np.round(data)):
        raise InputError("anatomy.nifti", str(path), "integer labels")
    if data.size and (data.min() < 0 or data.max() > MAX_LABEL):
        raise InputError("anatomy.nifti", str(path), f"labels from 0 to {MAX_LABEL}")
    aff = img.affine
    return LabelVolume(data.astype(np.int64), np.diag(aff)[:3] * 1e-3, aff[:3, 3] * 1e-3, structures)


def load_label_volume(nifti: str, label_table: str, base: str | Path = ".") -> LabelVolume:
    """``[anatomy] nifti`` and ``label_table`` (paths from ``base``, the input file's folder):
    the label volume of a plan and of a 3D procedure alike.

    Parameters
    ----------
    nifti : str
        Path of the NIfTI label volume, relative to ``base``.
    label_table : str
        Path of its label table (TOML), relative to ``base``.
    base : str or pathlib.Path, optional
        The input file's folder (default: the working directory).

    Returns
    -------
    LabelVolume
        As ``read_nifti``: voxel size and origin [m].
    """
    base = Path(base)
    return read_nifti(base / nifti, read_label_table(base / label_table))


def nifti_bytes(values: np.ndarray, affine_mm: np.ndarray, gzip_it: bool) -> bytes:
    """A NIfTI-1 image of ``values`` (for ``atomic.write_atomic``).

    Parameters
    ----------
    values : numpy.ndarray
        The 3D image.
    affine_mm : numpy.ndarray
        4 x 4 voxel-to-world affine [mm].
    gzip_it : bool
        Gzip the file (.nii.gz) or not (.nii).

    Returns
    -------
    bytes
        The file's content, spatial units mm and time units s in its header.
    """
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(values), affine_mm)
    img.header.set_xyzt_units("mm", "sec")
    raw = img.to_bytes()
    return gzip.compress(raw) if gzip_it else raw
