"""Tissue classes of a CT from its Hounsfield units: air, fat, soft tissue, skin, bone and the
spinal canal, as a label image with a label table of the tissue library's names.

Method (every number in data/ct_tissues.toml, with its source):

* the HU are smoothed by a Gaussian (``[filter] smoothing_mm``) so that voxel noise does not
  decide a class;
* fat is -190 to -30 HU (Kvist et al. 1988, Am J Clin Nutr 48:1351), soft tissue -29 to 150 HU
  (the range of skeletal muscle, Mitsiopoulos et al. 1998, J Appl Physiol 85:115); below
  ``air_max`` is air or gas;
* bone is dense bone above the muscle range (> 150 HU), grown by hysteresis into the voxels above
  100 HU that touch it, because an old patient's trabecular bone overlaps muscle (L1 means of
  89 HU at 90 years: Jang et al. 2019, Radiology 291:360; Pickhardt et al. 2013, Ann Intern Med
  158:588), plus what the cortex encloses in an axial slice (the trabecular body) up to the size
  of a vertebral body;
* the spinal canal is the soft tissue the vertebral ring encloses in an axial slice: a hole of
  the (gap-bridged) bone of a canal's size, chained from slice to slice along the spine (the
  vertebral body's trabecular hole is larger, or off the chain), carried across the slices
  where the ring is open (discs, interlaminar gaps) as the soft tissue within the canal's median
  radius of its interpolated centre;
* the skin is the body's outer shell: the body's voxels within the skin's thickness of the air
  outside (the air connected to the volume's border). A crop that ends inside the body has none.

The tissue library has no air: label 0 is air (outside and gas inside) and is not a tissue; a
label volume for the solver needs the caller to say what stands for it (``air_as``). The canal
holds the dural sac, CSF, nerve roots and epidural fat; it is mapped to ``csf`` (protected), as
the templates map the dural sac.

>>> import numpy as np
>>> from cryoplan.anatomy.ct.image import CTImage
>>> hu = np.full((20, 20, 20), 40.0, np.float32); hu[:, :, :10] = -100.0
>>> tissues = classify_tissues(CTImage(hu, np.eye(4), "CT 20x20x20"))
>>> sorted(tissues.present())
['fat', 'soft tissue']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.labels import LabelVolume, Structure, label_table
from cryoplan.data import read_toml
from cryoplan.errors import InputError
from cryoplan.tissue.library import tissue_names

AIR, FAT, SOFT, SKIN, BONE, CANAL = 0, 1, 2, 3, 4, 5

#: The label table (data/anatomy.toml's keys): label -> name, tissue-library name, role.
TABLE: dict[int, dict] = {
    FAT: {"name": "fat", "tissue": "fat"},
    SOFT: {"name": "soft tissue", "tissue": "muscle"},
    SKIN: {"name": "skin", "tissue": "skin", "role": "protected", "limit_c": 0.0},
    BONE: {"name": "bone", "tissue": "cortical-bone"},
    CANAL: {"name": "spinal canal", "tissue": "csf", "role": "protected", "limit_c": 0.0},
}


@lru_cache(maxsize=1)
def ct_data() -> dict:
    """The cited thresholds and sizes of data/ct_tissues.toml.

    Returns
    -------
    dict
        Its tables (``hu``, ``filter``, ``skin``, ``canal``, ``vertebra``, ``landmark``):
        Hounsfield units [HU] in ``hu``, elsewhere the unit each key names (``_mm``, ``_mm2``,
        ``_mm3``, ``_deg``) or a ratio [-].
    """
    return read_toml("ct_tissues.toml")


def axial_axis(affine: np.ndarray) -> int:
    """The voxel axis (0, 1 or 2) closest to the patient's head-foot direction (RAS+ z).

    Parameters
    ----------
    affine : numpy.ndarray
        4 x 4 voxel-to-RAS+ mm affine.

    Returns
    -------
    int
        The voxel axis (0, 1 or 2).
    """
    directions = np.asarray(affine, float)[:3, :3]
    return int(np.argmax(np.abs(directions[2]) / np.linalg.norm(directions, axis=0)))


def in_plane(axis: int, footprint: np.ndarray) -> np.ndarray:
    """A 2D footprint made 3D, flat along ``axis`` (so it acts within axial slices only).

    Parameters
    ----------
    axis : int
        The voxel axis to flatten along (``axial_axis``).
    footprint : numpy.ndarray
        2D structuring element, in voxels.

    Returns
    -------
    numpy.ndarray
        The footprint with a length-1 axis inserted at ``axis``.
    """
    return np.expand_dims(footprint, axis)


def _disk(radius_vox: np.ndarray) -> np.ndarray:
    r = np.maximum(np.floor(radius_vox).astype(int), 0)
    grids = np.meshgrid(*[np.arange(-n, n + 1) for n in r], indexing="ij")
    return sum((g / max(rv, 1e-9)) ** 2 for g, rv in zip(grids, radius_vox, strict=True)) <= 1.0


def check_image(image: CTImage) -> None:
    """Raise InputError unless ``image`` is a 3D CTImage with an invertible affine.

    Parameters
    ----------
    image : CTImage
        The CT to check (also its Hounsfield units: finite in every voxel).
    """
    if not isinstance(image, CTImage):
        raise InputError("ct", type(image).__name__, "a CTImage")
    if image.hu.ndim != 3 or min(image.shape) < 2:
        raise InputError("ct.shape", image.hu.shape, "a 3D image of at least 2 voxels along each axis")
    if not np.all(np.isfinite(image.affine)) or abs(np.linalg.det(image.affine[:3, :3])) < 1e-9:
        raise InputError("ct.affine", "singular", "an invertible 4 x 4 voxel-to-mm affine")
    if not np.isfinite(image.hu).all():
        raise InputError("ct.hu", "NaN or infinite", "finite Hounsfield units in every voxel")


def smoothed(image: CTImage) -> np.ndarray:
    """The HU after the Gaussian of ``[filter] smoothing_mm`` (float32).

    Parameters
    ----------
    image : CTImage
        The CT (Hounsfield units, voxel-to-RAS+ mm affine).

    Returns
    -------
    numpy.ndarray
        The smoothed Hounsfield units on the CT's grid [HU].
    """
    sigma = ct_data()["filter"]["smoothing_mm"] / image.spacing_mm
    return ndi.gaussian_filter(np.asarray(image.hu, np.float32), sigma)


def bone_mask(image: CTImage, hu: np.ndarray | None = None) -> np.ndarray:
    """Dense bone (above the muscle range) grown by hysteresis into the weak bone touching it.

    Parameters
    ----------
    image : CTImage
        The CT (Hounsfield units, voxel-to-RAS+ mm affine).
    hu : numpy.ndarray, optional
        Its smoothed HU (``smoothed``), if already computed.

    Returns
    -------
    numpy.ndarray
        Boolean bone mask on the CT's grid (the cortex-enclosed trabecular bone not included:
        ``classify_tissues`` adds it).
    """
    d = ct_data()
    hu = smoothed(image) if hu is None else hu
    dense = hu > d["hu"]["bone_dense_min"]
    weak = hu > d["hu"]["bone_weak_min"]
    # hysteresis: a weak component is bone when it holds enough dense bone (a speck is noise)
    comp, n = ndi.label(weak)
    dense_in = np.bincount(comp.ravel(), weights=dense.ravel(), minlength=n + 1)
    min_vox = d["filter"]["min_dense_bone_mm3"] / float(np.prod(image.spacing_mm))
    keep = dense_in >= max(min_vox, 1.0)
    keep[0] = False
    return keep[comp]


def _holes(bone: np.ndarray, image: CTImage, axis: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The holes of the gap-bridged bone in each axial slice: their labels (in-plane components),
    their areas (mm2, by label) and their count."""
    d = ct_data()["filter"]
    spacing = image.spacing_mm
    plane = [a for a in range(3) if a != axis]
    footprint = in_plane(axis, _disk(d["closing_mm"] / spacing[plane]))
    # pad in-plane so closing does not glue bone to the image's edge
    pad = [(0, 0)] * 3
    for a in plane:
        pad[a] = (footprint.shape[a], footprint.shape[a])
    closed = ndi.binary_closing(np.pad(bone, pad), footprint)
    closed = closed[tuple(slice(p[0], closed.shape[a] - p[1]) for a, p in enumerate(pad))]
    filled = np.empty_like(closed)
    for k in range(bone.shape[axis]):
        index = [slice(None)] * 3
        index[axis] = k
        filled[tuple(index)] = ndi.binary_fill_holes(closed[tuple(index)])
    holes = filled & ~closed
    structure = np.zeros((3, 3, 3), bool)  # in-plane neighbours only: one slice's holes
    centre = [slice(None)] * 3
    centre[axis] = 1
    structure[tuple(centre)] = ndi.generate_binary_structure(2, 1)
    labels, n = ndi.label(holes, structure)
    voxel_area = float(np.prod(spacing[plane]))
    areas = np.bincount(labels.ravel(), minlength=n + 1) * voxel_area
    return labels, areas, n


def _canal_holes(labels: np.ndarray, areas: np.ndarray, n: int, image: CTImage, axis: int) -> np.ndarray:
    """Which holes are the spinal canal (boolean by hole label): the chain of holes of a canal's
    area, at most one per slice, whose centres move little from slice to slice and whose areas
    sum to the most (the longest path of a directed acyclic graph). The ring is open in many
    slices (discs, interlaminar gaps), so links may skip slices."""
    d = ct_data()["canal"]
    is_canal = np.zeros(n + 1, bool)
    sized = np.flatnonzero((areas >= d["area_min_mm2"]) & (areas <= d["area_max_mm2"]))
    sized = sized[sized > 0]
    if not sized.size:
        return is_canal
    # the holes' centres (voxel indices) by sums over their voxels (holes are a small part of a CT)
    where = np.nonzero(labels)
    inside = labels[where]
    count = np.bincount(inside, minlength=n + 1)[sized]
    centres = np.stack([np.bincount(inside, weights=w, minlength=n + 1)[sized] for w in where], axis=1)
    centres = centres / count[:, None]
    order = np.argsort(centres[:, axis], kind="stable")
    sized, centres = sized[order], centres[order]
    world = image.world_mm(centres)
    weight = areas[sized]
    best = weight.copy()
    previous = np.full(len(sized), -1)
    slope = np.tan(np.radians(d["max_tilt_deg"]))
    for j in range(len(sized)):
        gap = np.abs(world[:j, 2] - world[j, 2])
        moved = np.linalg.norm(world[:j, :2] - world[j, :2], axis=1)
        linked = (centres[:j, axis] < centres[j, axis]) & (gap <= d["max_gap_mm"]) \
            & (moved <= d["max_step_mm"] + slope * gap)
        if linked.any():
            i = int(np.argmax(np.where(linked, best[:j], -np.inf)))
            best[j] = best[i] + weight[j]
            previous[j] = i
    j = int(np.argmax(best))
    while j >= 0:
        is_canal[sized[j]] = True
        j = previous[j]
    return is_canal


def _bridge_canal(canal: np.ndarray, bone: np.ndarray, soft: np.ndarray, image: CTImage,
                  axis: int) -> np.ndarray:
    """The canal carried across the slices where its ring is open (discs, interlaminar gaps):
    the soft tissue within the canal's median radius of its centre, interpolated between the
    enclosed slices (the dural sac runs on through them)."""
    plane = tuple(a for a in range(3) if a != axis)
    found = np.flatnonzero(canal.any(axis=plane))
    if len(found) < 2:
        return canal
    centres, areas = [], []
    voxel_area = float(np.prod(image.spacing_mm[list(plane)]))
    for k in found:
        index = [slice(None)] * 3
        index[axis] = k
        idx = np.insert(np.argwhere(canal[tuple(index)]).astype(float), axis, float(k), axis=1)
        centres.append(image.world_mm(idx).mean(axis=0))
        areas.append(len(idx) * voxel_area)
    centres = np.array(centres)
    radius = float(np.sqrt(np.median(areas) / np.pi))
    out = canal.copy()
    grid = np.indices([image.shape[a] for a in plane]).reshape(2, -1).T.astype(float)
    for k in range(found[0] + 1, found[-1]):
        if k in found:
            continue
        centre = np.array([np.interp(k, found, centres[:, c]) for c in range(3)])
        idx = np.insert(grid, axis, float(k), axis=1)
        near = np.linalg.norm(image.world_mm(idx) - centre, axis=1) <= radius
        index = [slice(None)] * 3
        index[axis] = k
        sl = tuple(index)
        out[sl] |= near.reshape(out[sl].shape) & soft[sl] & ~bone[sl]
    return out


@dataclass(frozen=True)
class TissueMap:
    """A CT's tissue labels (``labels``: int, the CT's voxel grid and ``affine``) with their table
    (``table``: label -> name, tissue-library name and role); label 0 is air, not a tissue."""

    labels: np.ndarray
    affine: np.ndarray
    table: dict[int, dict] = field(default_factory=lambda: dict(TABLE))
    notes: tuple[str, ...] = ()
    dense_bone: np.ndarray | None = None  # the bone before the cortex-enclosed fill (``bone_mask``)

    def mask(self, label: int) -> np.ndarray:
        """The voxels of one label.

        Parameters
        ----------
        label : int
            A label of ``table`` (0: air).

        Returns
        -------
        numpy.ndarray
            Boolean mask on the CT's grid.
        """
        return self.labels == label

    def present(self) -> list[str]:
        """The names of the labels present (air as "air").

        Returns
        -------
        list of str
            One name per label present, in label order.
        """
        return [("air" if v == AIR else self.table[int(v)]["name"]) for v in np.unique(self.labels)]

    def structures(self, air_as: str | None = None) -> dict[int, Structure]:
        """The label table as structures (``label_table``); air as tissue ``air_as`` if given.

        Parameters
        ----------
        air_as : str, optional
            Tissue-library name standing for the air (label 0); none: air is left out.

        Returns
        -------
        dict of int to Structure
            Each label's structure (name, tissue, role, coldest allowed temperature [K]).
        """
        entries = {str(k): v for k, v in self.table.items()}
        if air_as is not None:
            entries[str(AIR)] = {"name": f"air (as {air_as})", "tissue": air_as}
        return label_table(entries, "ct.labels")

    def label_volume(self, air_as: str | None = None) -> LabelVolume:
        """The labels as a solver's LabelVolume (axis-aligned grid, m).

        Parameters
        ----------
        air_as : str, optional
            Tissue-library name standing for the air; none: the volume must hold no air.

        Returns
        -------
        LabelVolume
            The labels reordered along RAS+ x, y, z, voxel size and origin [m], the structures.
        """
        if air_as is not None and air_as not in tissue_names():
            raise InputError("ct.air_as", air_as, "one of " + ", ".join(tissue_names()))
        if air_as is None and np.any(self.labels == AIR):
            raise InputError("ct.air_as", None, "a tissue standing for the air the CT holds (the "
                             "tissue library has no air): crop to the body or name one")
        labels, spacing, origin = canonical(self.labels, self.affine)
        return LabelVolume(labels.astype(np.int64), spacing * 1e-3, origin * 1e-3, self.structures(air_as))


def canonical(values: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An axis-aligned image reordered and flipped so that its axes run along RAS+ x, y, z.

    Parameters
    ----------
    values : numpy.ndarray
        A 3D image on the grid of ``affine``.
    affine : numpy.ndarray
        4 x 4 voxel-to-RAS+ mm; axis-aligned (any order and sign of the axes), else InputError.

    Returns
    -------
    tuple of numpy.ndarray
        The values reordered, the voxel sizes (mm) along x, y, z and the centre of voxel 0 (mm).
    """
    rot = np.asarray(affine, float)[:3, :3]
    norms = np.linalg.norm(rot, axis=0)
    unit = rot / norms
    world_of = np.argmax(np.abs(unit), axis=0)  # the world axis each voxel axis runs along
    if not np.allclose(np.abs(unit).max(axis=0), 1.0, atol=1e-4) or sorted(world_of) != [0, 1, 2]:
        raise InputError("ct.affine", "oblique", "an axis-aligned affine (reslice the CT first)")
    order = [int(np.flatnonzero(world_of == w)[0]) for w in range(3)]
    out = np.transpose(values, order)
    corner = np.zeros(3)
    for w, a in enumerate(order):
        if unit[w, a] < 0:  # this axis runs backwards: flip it, voxel 0 moves to its far end
            out = np.flip(out, w)
            corner[a] = values.shape[a] - 1
    origin = corner @ rot.T + np.asarray(affine, float)[:3, 3]
    return np.ascontiguousarray(out), norms[order], origin


def classify_tissues(image: CTImage) -> TissueMap:
    """The tissue classes of a CT (method in the module's docstring).

    Parameters
    ----------
    image : CTImage
        Hounsfield units on a voxel grid with its voxel-to-RAS+ affine (mm).

    Returns
    -------
    TissueMap
        Labels (0 air, 1 fat, 2 soft tissue, 3 skin, 4 bone, 5 spinal canal) on the CT's grid,
        the label table (tissue-library names, roles) and notes on what was not found.
    """
    check_image(image)
    d = ct_data()
    hu = smoothed(image)
    axis = axial_axis(image.affine)
    bone = dense = bone_mask(image, hu)
    holes, areas, n = _holes(bone, image, axis)
    canal_hole = _canal_holes(holes, areas, n, image, axis)
    enclosed = (areas <= d["filter"]["enclosed_bone_max_mm2"]) & ~canal_hole
    enclosed[0] = False
    canal = canal_hole[holes] & (hu <= d["hu"]["muscle_max"])
    bone = bone | enclosed[holes]
    canal = _bridge_canal(canal, bone, hu <= d["hu"]["muscle_max"], image, axis)

    labels = np.full(image.shape, SOFT, np.int16)
    labels[hu <= d["hu"]["fat_max"]] = FAT
    air = hu <= d["hu"]["air_max"]
    labels[air] = AIR
    labels[canal] = CANAL
    labels[bone] = BONE
    notes = []
    # the air outside: air components touching the volume's border
    comp, n_air = ndi.label(air)
    border = np.unique(np.concatenate([np.unique(np.take(comp, [0, -1], axis=a)) for a in range(3)]))
    volume = np.bincount(comp.ravel(), minlength=n_air + 1) * float(np.prod(image.spacing_mm))
    # bowel gas cut by the crop touches the border too; the room's air is large
    border = border[(border > 0) & (volume[border] >= d["skin"]["outside_air_min_mm3"])]
    outside = np.isin(comp, border)
    if outside.any():
        # within the skin's thickness of the air outside: a dilation by an ellipsoid of that
        # radius in voxels (a distance transform of the whole CT would take far longer)
        shell = ndi.binary_dilation(outside, _disk(d["skin"]["thickness_mm"] / image.spacing_mm))
        labels[shell & ~outside] = SKIN
    else:
        notes.append("no air outside the body: the crop ends inside it, so no skin was labelled")
    if not canal.any():
        notes.append("no spinal canal found (no soft tissue enclosed by a vertebral ring)")
    return TissueMap(labels, np.asarray(image.affine, float), dict(TABLE), tuple(notes), dense)
