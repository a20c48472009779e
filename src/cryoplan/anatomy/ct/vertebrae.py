"""The vertebrae of a CT, separated and labelled, and their levels named.

Method (numbers in data/ct_tissues.toml [vertebra], with their sources):

1. the spine's axis: the centres of the spinal canal (``tissues``: the soft tissue a vertebral
   ring encloses) in each axial slice, fitted by a line, or by a parabola in z over a longer
   span (the lordosis), after dropping centres more than 5 mm off a first fit;
2. each bone voxel's place along the axis: the axis point whose normal plane holds it;
3. the vertebral bodies: bone in front of the canal and near the midline; the area of dense
   body bone (before the cortex-enclosed fill of ``tissues``) per millimetre of axis falls at
   each disc (the disc is not bone; the endplates are), so the disc spaces are the deep, narrow
   minima of that profile, at least a body's height apart: a minimum is a disc when it holds
   less than ``disc_depth`` of the bone on either side of it and its width at half depth is at
   most ``disc_max_width_mm`` (an osteoporotic body, its inside below the bone range, makes a
   trough between its two endplates as deep as a disc but as wide as the body);
4. each vertebra's body between two discs seeds a flood of its bone (scipy's image foresting
   transform, ``ndimage.watershed_ift``, on the cost 2000 - HU): the pedicles, laminae and
   processes go to the body they reach through the densest bone, so a facet joint's cartilage
   (low HU) separates the processes of neighbouring vertebrae (Falcao, Stolfi & Lotufo 2004,
   IEEE TPAMI 26:19, the image foresting transform).

Levels: counted up from an anchor the caller gives (``name_levels(v, lowest="L4")``), or from a
sacrum found at the bottom of the volume (a body below the last disc, taller than any lumbar
body). Transitional lumbosacral vertebrae (4-30 % of people: Konin GP & Walz DM,
AJNR 31 (2010) 1778) make a count from the sacrum uncertain, so it always carries the named
warning ``vertebra-level-uncertain``; with neither an anchor nor a sacrum the vertebrae stay
unnamed, with the same warning.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.ct.tissues import (
    BONE,
    CANAL,
    TissueMap,
    axial_axis,
    check_image,
    classify_tissues,
    ct_data,
    smoothed,
)
from cryoplan.errors import InputError
from cryoplan.named_warnings import NamedWarning

#: The vertebral levels from the head down (the sacrum last).
LEVELS = tuple([f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)]
               + [f"L{i}" for i in range(1, 6)] + ["S"])
#: Outliers of the canal's centres from the axis's first fit (mm).
AXIS_OUTLIER_MM = 5.0
#: A sacrum's body is taller along the axis than this (mm): the sacrum is about 100 mm long, a
#: lumbar body about 27 mm high (assumed: data/anatomy.toml's level_spacing_source).
SACRUM_MIN_HEIGHT_MM = 50.0


@dataclass(frozen=True)
class SpineAxis:
    """The spine's axis through the canal: x(z) and y(z) polynomials (RAS+ mm)."""

    x_poly: np.ndarray
    y_poly: np.ndarray
    z_range: tuple[float, float]

    def centre(self, z: np.ndarray) -> np.ndarray:
        """The axis's points (n, 3) at heights ``z`` (mm).

        Parameters
        ----------
        z : numpy.ndarray
            Heights along RAS+ z (n,) [mm].

        Returns
        -------
        numpy.ndarray
            The axis's points in RAS+ (n x 3) [mm].
        """
        z = np.asarray(z, float)
        return np.stack([np.polyval(self.x_poly, z), np.polyval(self.y_poly, z), z], axis=-1)

    def tangent(self, z: np.ndarray) -> np.ndarray:
        """Unit vectors (n, 3) along the axis, towards the head.

        Parameters
        ----------
        z : numpy.ndarray
            Heights along RAS+ z (n,) [mm].

        Returns
        -------
        numpy.ndarray
            Unit tangents in RAS+ (n x 3) [-].
        """
        z = np.asarray(z, float)
        d = np.stack([np.polyval(np.polyder(self.x_poly), z), np.polyval(np.polyder(self.y_poly), z),
                      np.ones_like(z)], axis=-1)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def project(self, points: np.ndarray) -> np.ndarray:
        """The axis height (mm) whose normal plane holds each point (n x 3 mm); two Newton steps.

        Parameters
        ----------
        points : numpy.ndarray
            Points in RAS+ (n x 3) [mm].

        Returns
        -------
        numpy.ndarray
            Each point's axis height along RAS+ z (n,) [mm].
        """
        p = np.asarray(points, float)
        z = p[:, 2].copy()
        for _ in range(2):
            t = self.tangent(z)
            stretch = 1.0 / t[:, 2]  # |dc/dz|
            z = z + np.einsum("ij,ij->i", p - self.centre(z), t) / stretch
        return z

    def frame(self, z: float) -> np.ndarray:
        """The axis's frame at height ``z``: rows right, anterior, superior (unit vectors, RAS+),
        the anterior one the patient's +y made normal to the axis.

        Parameters
        ----------
        z : float
            Height along RAS+ z [mm].

        Returns
        -------
        numpy.ndarray
            3 x 3, rows the right, anterior and superior unit vectors in RAS+ [-].
        """
        t = self.tangent(np.array([z]))[0]
        anterior = np.array([0.0, 1.0, 0.0]) - t[1] * t
        anterior /= np.linalg.norm(anterior)
        return np.array([np.cross(anterior, t), anterior, t])


@dataclass(frozen=True)
class Vertebra:
    """One vertebra: its label in ``Vertebrae.labels``, its level (None: not named), the axis
    heights it spans between its discs (mm), its body's centroid and the canal's centre at its
    middle (RAS+ mm), whether a disc bounds it on both sides within the volume, and its body's
    height along the axis (mm)."""

    label: int
    name: str | None
    span_mm: tuple[float, float]
    body_centroid_mm: np.ndarray
    canal_centre_mm: np.ndarray
    complete: bool
    height_mm: float


@dataclass(frozen=True)
class Vertebrae:
    """The vertebrae found in a CT: ``labels`` (int, the CT's grid, 0 none) and one ``Vertebra``
    per label, from the head down; the axis, the discs' heights on it (mm), warnings."""

    labels: np.ndarray
    affine: np.ndarray
    vertebrae: tuple[Vertebra, ...]
    axis: SpineAxis
    discs_mm: np.ndarray
    warnings: tuple[NamedWarning, ...] = ()
    sacrum: int | None = None  # the label of a sacrum found below the last disc

    def named(self, name: str) -> Vertebra:
        """The vertebra of one level (raises InputError when none is named so).

        Parameters
        ----------
        name : str
            A level, e.g. "L4" (``LEVELS``).

        Returns
        -------
        Vertebra
            Its vertebra.
        """
        for v in self.vertebrae:
            if v.name == name:
                return v
        found = [v.name for v in self.vertebrae if v.name]
        raise InputError("ct.level", name, "one of the levels found: " + (", ".join(found) or "none named"))


def _points(mask: np.ndarray, image: CTImage) -> tuple[np.ndarray, np.ndarray]:
    idx = np.argwhere(mask)
    return idx, image.world_mm(idx)


def spine_axis(image: CTImage, canal: np.ndarray) -> SpineAxis:
    """The axis through the canal's centres (method step 1).

    Parameters
    ----------
    image : CTImage
        The CT (its affine: voxel to RAS+ mm).
    canal : numpy.ndarray
        Boolean mask of the spinal canal on the CT's grid.

    Returns
    -------
    SpineAxis
        x(z) and y(z) in RAS+ mm.
    """
    axis = axial_axis(image.affine)
    slices = np.flatnonzero(canal.any(axis=tuple(a for a in range(3) if a != axis)))
    if len(slices) < 2:
        raise InputError("ct", "no spinal canal", "a CT showing the spinal canal in at least two slices")
    centres = []
    for k in slices:
        index = [slice(None)] * 3
        index[axis] = k
        idx = np.argwhere(canal[tuple(index)]).astype(float)
        idx = np.insert(idx, axis, float(k), axis=1)
        centres.append(image.world_mm(idx).mean(axis=0))
    c = np.array(centres)
    span = float(np.ptp(c[:, 2]))
    degree = 2 if span > 80.0 and len(c) >= 6 else 1  # a lordosis shows over more than two levels
    keep = np.ones(len(c), bool)
    for _ in range(2):
        px = np.polyfit(c[keep, 2], c[keep, 0], degree)
        py = np.polyfit(c[keep, 2], c[keep, 1], degree)
        off = np.hypot(np.polyval(px, c[:, 2]) - c[:, 0], np.polyval(py, c[:, 2]) - c[:, 1])
        if (off <= AXIS_OUTLIER_MM).sum() >= max(2, degree + 1):
            keep = off <= AXIS_OUTLIER_MM
    px = np.polyfit(c[keep, 2], c[keep, 0], degree)
    py = np.polyfit(c[keep, 2], c[keep, 1], degree)
    return SpineAxis(px, py, (float(c[:, 2].min()), float(c[:, 2].max())))


def _half_rise_width(profile: np.ndarray, i: int, window: int) -> int:
    """Bins between where the profile, going out from its minimum ``i``, first climbs half way to
    its highest value within ``window`` bins on that side (a valley's width at half depth)."""
    ends = []
    for direction in (-1, 1):
        side = profile[max(0, i - window):i][::-1] if direction < 0 else profile[i + 1:i + window + 1]
        half = (profile[i] + side.max()) / 2
        ends.append(int(np.argmax(side >= half)) + 1)
    return ends[0] + ends[1]


def _discs(heights: np.ndarray, weights: np.ndarray, step: float) -> np.ndarray:
    """The disc heights (mm): deep, narrow minima of the dense body-bone profile (method step 3)."""
    d = ct_data()["vertebra"]
    lo, hi = heights.min(), heights.max()
    edges = np.arange(lo - step, hi + 2 * step, step)
    profile = np.histogram(heights, edges, weights=weights)[0]
    profile = ndi.gaussian_filter1d(profile.astype(float), 1.5 / step)
    centres = (edges[:-1] + edges[1:]) / 2
    window = int(round(d["min_height_mm"] / step))
    found = []
    for i in np.argsort(profile):
        if i < 1 or i > len(profile) - 2 or profile[i] > profile[i - 1] or profile[i] > profile[i + 1]:
            continue
        left, right = profile[max(0, i - 2 * window):i].max(), profile[i + 1:i + 2 * window + 1].max()
        if profile[i] >= d["disc_depth"] * min(left, right):
            continue
        if _half_rise_width(profile, i, 2 * window) * step > d["disc_max_width_mm"]:
            continue  # a mid-body trough between two endplates, wider than a disc
        if all(abs(centres[i] - f) >= d["min_height_mm"] for f in found):
            found.append(float(centres[i]))
    return np.sort(np.array(found))


def find_vertebrae(image: CTImage, tissues: TissueMap | None = None) -> Vertebrae:
    """The vertebrae of a CT, separated and labelled (unnamed: see ``name_levels``).

    Parameters
    ----------
    image : CTImage
        Hounsfield units with the voxel-to-RAS+ affine (mm).
    tissues : TissueMap, optional
        Its tissue classes (``classify_tissues``), if already computed.

    Returns
    -------
    Vertebrae
        Labels 1..n from the head down on the CT's grid, a ``Vertebra`` per label, the spine's
        axis and the disc heights (mm along the axis's z).
    """
    check_image(image)
    tissues = classify_tissues(image) if tissues is None else tissues
    if tissues.labels.shape != image.shape:
        raise InputError("ct.tissues", tissues.labels.shape, f"tissue labels on the CT's grid {image.shape}")
    d = ct_data()["vertebra"]
    axis = spine_axis(image, tissues.labels == CANAL)
    bone = tissues.labels == BONE
    idx, world = _points(bone, image)
    z = axis.project(world)
    rel = world - axis.centre(z)
    t = axis.tangent(z)
    anterior = np.array([0.0, 1.0, 0.0]) - t[:, 1:2] * t
    anterior /= np.linalg.norm(anterior, axis=1, keepdims=True)
    right = np.cross(anterior, t)
    ant = np.einsum("ij,ij->i", rel, anterior)
    lat = np.einsum("ij,ij->i", rel, right)
    near = np.abs(lat) <= d["region_lateral_mm"]
    near &= np.abs(ant) <= d["region_lateral_mm"]
    body = near & (ant >= d["body_min_anterior_mm"]) & (np.abs(lat) <= d["body_max_lateral_mm"])
    if body.sum() < 10:
        raise InputError("ct", "no vertebral body", "a CT showing a vertebral body in front of the canal")
    step = float(np.min(image.spacing_mm))
    voxel = float(np.prod(image.spacing_mm))
    # the profile counts dense bone only: an osteoporotic body's inside, enclosed by a cortex
    # that the basivertebral foramen opens at mid-height, would make troughs there
    dense = body if tissues.dense_bone is None else body & tissues.dense_bone[tuple(idx.T)]
    discs = _discs(z[dense], np.full(int(dense.sum()), voxel / step), step)
    zb = z[body]
    bounds = np.concatenate([[zb.min() - 1.0], discs, [zb.max() + 1.0]])
    # one seed per segment between discs (top first), clear of the discs by 2 mm
    markers = np.zeros(image.shape, np.int32)
    segments = []
    for top, bottom in zip(bounds[::-1][:-1], bounds[::-1][1:], strict=True):
        inside = body & (z < top - 2.0) & (z > bottom + 2.0)
        if inside.sum() * voxel < 200.0:  # a sliver of a body cut by the crop: no vertebra
            continue
        segments.append((top, bottom, inside))
        markers[tuple(idx[inside].T)] = len(segments)
    if not segments:
        raise InputError("ct", "no vertebra", "a CT showing at least one vertebral body")
    # flood the bone from the bodies through the densest bone (method step 4), in a box around it
    region = np.zeros(image.shape, bool)
    region[tuple(idx[near].T)] = True
    lo = idx[near].min(axis=0)
    hi = idx[near].max(axis=0) + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    hu = smoothed(image)[box]
    cost = np.clip(2000.0 - hu, 0, 65000).astype(np.uint16)
    cost[~region[box]] = 65535
    flooded = ndi.watershed_ift(cost, markers[box])
    labels = np.zeros(image.shape, np.int16)
    labels[box] = np.where(region[box], flooded, 0)
    out = []
    for n, (top, bottom, inside) in enumerate(segments, start=1):
        zc = float(np.mean(z[inside]))
        # its body's height along the axis (the flooded processes may reach a neighbour's)
        zs = z[body & (z < top) & (z > bottom)]
        out.append(Vertebra(
            n, None, (float(bottom), float(top)),
            world[inside].mean(axis=0), axis.centre(np.array([zc]))[0],
            bool(np.any(np.isclose(discs, top)) and np.any(np.isclose(discs, bottom))),
            float(np.ptp(zs)) if zs.size else 0.0,
        ))
    return Vertebrae(labels, np.asarray(image.affine, float), tuple(out), axis, discs)


def _sacrum(vertebrae: Vertebrae) -> int | None:
    """The label of the lowest segment when it is a sacrum: below the last disc, its body taller
    along the axis than a lumbar body (``SACRUM_MIN_HEIGHT_MM``)."""
    if not vertebrae.vertebrae or not len(vertebrae.discs_mm):
        return None
    low = vertebrae.vertebrae[-1]
    below_disc = low.span_mm[1] <= vertebrae.discs_mm.min() + 1e-6  # its top is the last disc
    return low.label if below_disc and low.height_mm >= SACRUM_MIN_HEIGHT_MM else None


def check_lowest(lowest: str | None, where: str = "ct.lowest") -> None:
    """``lowest`` is a vertebral level, or None (raises InputError).

    Parameters
    ----------
    lowest : str or None
        The level of the lowest vertebra in a CT (e.g. "L4"), not the sacrum; None: not given.
    where : str, optional
        The input field named in an InputError.
    """
    if lowest is not None and lowest not in LEVELS[:-1]:
        raise InputError(where, lowest, "a vertebral level, e.g. L4 (" + ", ".join(LEVELS[:-1]) + ")")


def name_levels(vertebrae: Vertebrae, lowest: str | None = None) -> Vertebrae:
    """The vertebrae with their levels named, counted up from the lowest one.

    Parameters
    ----------
    vertebrae : Vertebrae
        From ``find_vertebrae``.
    lowest : str, optional
        The level of the lowest vertebra found (e.g. "L4"), as the caller knows it (from the
        whole scan or the report). Without it the levels are counted from a sacrum found at the
        bottom of the volume, with the ``vertebra-level-uncertain`` warning; with neither they
        stay unnamed, with the same warning.

    Returns
    -------
    Vertebrae
        The same vertebrae with ``name`` set (and ``sacrum`` when one was found).
    """
    check_lowest(lowest)
    items = list(vertebrae.vertebrae)
    warnings = list(vertebrae.warnings)
    sacrum = None
    if lowest is None:
        sacrum = _sacrum(vertebrae)
        if sacrum is None:
            warnings.append(NamedWarning(
                "vertebra-level-uncertain",
                "no sacrum in the CT and no level given: the vertebrae are not named", "vertebrae"))
            return replace(vertebrae, warnings=tuple(warnings))
        warnings.append(NamedWarning(
            "vertebra-level-uncertain",
            "levels counted up from the sacrum found: a transitional lumbosacral vertebra would "
            "shift them by one; check the count on the whole spine", "vertebrae"))
        start = LEVELS.index("S")
    else:
        start = LEVELS.index(lowest) + 1
    named = []
    for i, v in enumerate(reversed(items)):  # from the bottom up
        k = start - i
        if sacrum is not None and i == 0:
            named.append(replace(v, name="S"))
            continue
        if sacrum is None:
            k -= 1
        named.append(replace(v, name=LEVELS[k] if k >= 0 else None))
    return replace(vertebrae, vertebrae=tuple(reversed(named)), warnings=tuple(warnings), sacrum=sacrum)


def relabelled(vertebrae: Vertebrae, was: str, is_: str) -> Vertebrae:
    """The vertebrae renamed by hand: the one named ``was`` is ``is_``, and every other named one
    shifts with it (a count from the wrong end, a transitional vertebra).

    Parameters
    ----------
    vertebrae : Vertebrae
        Named by ``name_levels``.
    was : str
        A level some vertebra was named (``LEVELS``).
    is_ : str
        The level it is (``LEVELS``; "S" the sacrum).

    Returns
    -------
    Vertebrae
        The same vertebrae, renamed, with a ``vertebra-relabelled`` warning saying so (raises
        InputError when no vertebra was named ``was`` or a name would leave ``LEVELS``).
    """
    names = [v.name for v in vertebrae.vertebrae]
    if was not in names:
        found = ", ".join(n for n in names if n) or "none named"
        raise InputError("corrections.relabel.was", was, f"a level the survey named: {found}")
    shift = LEVELS.index(is_) - LEVELS.index(was)
    renamed = []
    for v in vertebrae.vertebrae:
        if v.name is None:
            renamed.append(v)
            continue
        k = LEVELS.index(v.name) + shift
        if not 0 <= k < len(LEVELS):
            raise InputError("corrections.relabel.is", is_,
                             f"a level that keeps every vertebra named ({v.name} would leave C1-S)")
        renamed.append(replace(v, name=LEVELS[k]))
    sacrum = next((v.label for v in renamed if v.name == "S"), None)
    note = NamedWarning("vertebra-relabelled", f"levels renamed by hand: what was found as {was} is {is_}",
                        "vertebrae")
    kept = tuple(w for w in vertebrae.warnings if w.code != "vertebra-level-uncertain")
    return replace(vertebrae, vertebrae=tuple(renamed), warnings=(*kept, note), sacrum=sacrum)
