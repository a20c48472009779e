"""Parametric anatomy of the back-pain targets: schematic label volumes built from boxes and
tubes with the dimensions of data/anatomy.toml (each cited or marked assumed there).

Frame: x lateral (away from the midline), y cranial, z posterior; the origin is the target point
on bone and the skin is the box's +z side (convection to room air). Units are metres.

* ``lumbar_medial_branch(level)``: the medial branch of the dorsal ramus crossing the root of
  the transverse process (TP) and running caudally in the groove against the superior articular
  process (SAP), to the mamillo-accessory ligament (Bogduk, Wilson & Tynan 1982); the dorsal ramus
  joins it from its bifurcation above the TP (Shuang et al. 2015 per level). Protected: the spinal
  nerve in front of the TP, the dural sac medial to the SAP, and the skin, at the measured depth
  of each level (Yoon et al. 2021: 45-59 mm from L1 to L5). At L5 the target is the L5 dorsal
  ramus itself, in the groove between the sacral ala and the S1 SAP (Bogduk et al. 1982): the
  ala stands in for the TP. The needle approaches along the level's measured angles (Tran,
  Campisi, Agur & Loh 2023), and the processes of the levels above and below stand where the
  whole needle, from the skin to the tip, must miss them.
* ``sacral_lateral_branch(level)``: a lateral branch leaving a posterior sacral foramen and running
  laterally on the dorsal sacral surface. Protected: the ventral ramus in front of the sacrum, and
  the skin.

These are schematic (boxes, not patient bone): use a NIfTI label volume for a patient. The
shapes are kept (``Body``) so the labels are known beyond the box too: the whole needle path is
checked against bone (``Anatomy.bone_on_path``), and a tilted probe is seated on bone so that no
part of it enters bone (``Anatomy.seated``).

>>> a = lumbar_medial_branch("L4", spacing_mm=1.0)
>>> a.volume.shape, sorted(s.name for s in a.volume.with_role("protected"))
((32, 32, 73), ['dural sac', 'nerve root', 'skin'])
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np

from cryoplan.anatomy.frame import PatientFrame
from cryoplan.anatomy.labels import LabelVolume, anatomy_data, default_labels
from cryoplan.errors import InputError
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.thresholds import default_nerve_diameter_m

MUSCLE, FAT, SKIN, BONE, TARGET, ROOT, DURA = 1, 2, 3, 4, 5, 6, 7

#: Half-width of the box around the target (mm) and its depth in front of the target.
HALF_WIDTH_MM = 16.0
DEPTH_IN_FRONT_MM = 16.0
#: Gap left between the probe wall and the nerve or the bone when placing a tip (mm).
CLEARANCE_MM = 0.2


#: Bone of a NIfTI volume's label table is any structure whose tissue is a bone.
def _is_bone(tissue: str) -> bool:
    return "bone" in tissue


class Surroundings(Protocol):
    """The labels around a target region, known beyond its label volume: a template's shapes
    (``Body``) or a patient's CT (``anatomy.ct.region.CTBody``)."""

    def labels_at(self, points_m: np.ndarray) -> np.ndarray:
        """The label at each point.

        Parameters
        ----------
        points_m : numpy.ndarray
            Points (..., 3) in the target's frame [m].

        Returns
        -------
        numpy.ndarray of int
            The label of each point (...,).
        """
        ...

    def to_skin(self, tip: np.ndarray, axis: np.ndarray) -> tuple[float, bool] | None:
        """The needle's length from its tip to the skin and whether it gets there (None: the
        anatomy's skin plane decides).

        Parameters
        ----------
        tip : numpy.ndarray
            Tip position (3,) in the target's frame [m].
        axis : numpy.ndarray
            Unit vector (3,) from the tip towards the hub [-].

        Returns
        -------
        tuple or None
            The length [m] and whether it reaches the skin.
        """
        ...


@dataclass(frozen=True)
class Body:
    """A template's labels as the shapes that painted them (mm, in painting order: the last
    shape holding a point gives its label, else muscle), so they are known at any point, inside
    the label volume or beyond it."""

    shapes: tuple[tuple, ...]  # ("box", label, lo, hi) or ("tube", label, points, radius)

    def to_skin(self, tip: np.ndarray, axis: np.ndarray) -> None:
        """None: a template's skin is its plane (``Anatomy.skin_z``).

        Parameters
        ----------
        tip : numpy.ndarray
            Tip position (3,) in the target's frame [m].
        axis : numpy.ndarray
            Unit vector (3,) from the tip towards the hub [-].

        Returns
        -------
        None
        """
        return None

    def labels_at(self, points_m: np.ndarray) -> np.ndarray:
        """The label at each point, inside the label volume or beyond it.

        Parameters
        ----------
        points_m : numpy.ndarray
            Points (..., 3) in the template's frame [m].

        Returns
        -------
        numpy.ndarray of int
            The label of each point (...,).
        """
        p = np.asarray(points_m, float) * 1e3
        out = np.full(p.shape[:-1], MUSCLE, dtype=np.int64)
        for kind, label, a, b in self.shapes:
            if kind == "box":
                inside = np.all((p >= np.asarray(a)) & (p <= np.asarray(b)), axis=-1)
            else:
                inside = tube_distance(p, np.asarray(a, float)) <= b
            out[inside] = label
        return out


def tube_distance(p: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance from points to a polyline.

    Parameters
    ----------
    p : numpy.ndarray
        Points (..., 3) [mm].
    pts : numpy.ndarray
        The polyline's vertices (n, 3) [mm].

    Returns
    -------
    numpy.ndarray
        Each point's distance to the polyline (...,) [mm].
    """
    best = np.full(p.shape[:-1], np.inf)
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        ab = b - a
        s = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(p - (a + s[..., None] * ab), axis=-1))
    return best


def _normal_pair(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([0.0, 1.0, 0.0]) if abs(axis[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, axis)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


#: Longest retraction (m) that seats a tilted probe on bone; a tip needing more is refused.
MAX_SEAT_M = 4e-3
#: Step (m) of the retraction and of the samples along the needle.
SEAT_STEP_M = 0.05e-3
PATH_STEP_M = 0.25e-3


@dataclass(frozen=True)
class Anatomy:
    """A target region: labels, the target nerve(s), candidate tips and the approach cone; for a
    template also its shapes (``body``: the labels beyond the box) and its skin plane."""

    name: str
    volume: LabelVolume
    targets: tuple[Nerve, ...]
    beside: np.ndarray  # (n, 3) m: points on the bone at the nerve's edge (plus a clearance)
    outward: np.ndarray  # unit vector from the nerve towards where the probe goes
    approach_axis: np.ndarray  # unit vector, tip towards the hub
    cone_deg: float
    body: Surroundings | None = None
    skin_z: float | None = None  # m: the skin plane of a template (the needle enters there)
    pairs: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...] = ()  # (beside, outward) x 2
    patient: PatientFrame | None = None  # a region of a patient's CT: where its frame sits

    def tips(self, probe_radius: float, gaps: tuple[float, ...] = (0.0,)) -> np.ndarray:
        """Candidate tip positions (n, 3): the probe's wall ``gap`` (m) beyond ``beside``.

        Parameters
        ----------
        probe_radius : float
            Outer radius of the probe [m].
        gaps : tuple of float, optional
            Gaps between the probe's wall and ``beside`` [m].

        Returns
        -------
        numpy.ndarray
            The distinct tip positions (n x 3) [m].
        """
        out = [b + (probe_radius + g) * self.outward for g in gaps for b in self.beside]
        return np.unique(np.round(np.array(out), 12), axis=0)

    def pair_tips(self, probe_radius: float, gap: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
        """Tips of two probes bracketing the nerve (or in tandem along it), each ``gap`` from it.

        Parameters
        ----------
        probe_radius : float
            Outer radius of each probe [m].
        gap : float, optional
            Gap between each probe's wall and its point beside the nerve [m].

        Returns
        -------
        list of tuple of numpy.ndarray
            One pair of tip positions (3,) [m] per pair of ``pairs``.
        """
        return [(b1 + (probe_radius + gap) * o1, b2 + (probe_radius + gap) * o2)
                for b1, o1, b2, o2 in self.pairs]

    @cached_property
    def _bone(self) -> np.ndarray:
        """Centres (n, 3) m of the volume's bone voxels."""
        vol = self.volume
        labels = [k for k, st in vol.structures.items() if _is_bone(st.tissue)]
        return vol.origin + np.argwhere(np.isin(vol.labels, labels)) * vol.spacing

    def _box(self) -> tuple[np.ndarray, np.ndarray]:
        vol = self.volume
        return vol.origin - vol.spacing / 2, vol.origin + (np.array(vol.shape) - 0.5) * vol.spacing

    def _bone_in_probe(self, tip: np.ndarray, axis: np.ndarray, radius: float, length: float) -> np.ndarray:
        """Bone voxel centres inside the probe's solid over ``length`` (m) from its tip: where the
        3D solver would put probe voxels in bone."""
        w = self._bone - tip
        s = w @ axis
        r = np.linalg.norm(w - s[:, None] * axis, axis=1)
        return self._bone[(s >= 0) & (s <= length) & (r <= radius)]

    def path_length(self, tip: np.ndarray, axis: np.ndarray) -> float | None:
        """Length (m) of the needle from the tip to the skin (None: it never reaches the skin; a
        patient's CT: to the skin, or to where the axis leaves the CT; a volume: to where the axis
        leaves it).

        Parameters
        ----------
        tip : numpy.ndarray
            Tip position (3,) [m].
        axis : numpy.ndarray
            Unit vector (3,) along the needle, tip towards the hub [-].

        Returns
        -------
        float or None
            Needle length from the tip to the skin or the volume's side [m].
        """
        if self.skin_z is not None:
            return None if axis[2] <= 1e-9 else max(float((self.skin_z - tip[2]) / axis[2]), 0.0)
        skin = None if self.body is None else self.body.to_skin(tip, axis)
        if skin is not None:
            return skin[0]
        lo, hi = self._box()
        with np.errstate(divide="ignore"):
            s = np.where(axis > 0, (hi - tip) / axis, np.where(axis < 0, (lo - tip) / axis, np.inf))
        return float(max(s.min(), 0.0))

    def bone_on_path(self, tip: np.ndarray, axis: np.ndarray, radius: float) -> np.ndarray | None:
        """The bone nearest the tip that the whole needle, from its tip to the skin, meets (None:
        it misses bone): inside the volume its bone voxels (as the 3D solver sees them), beyond
        it a template's shapes, along the axis and eight lines of the probe's surface.

        Parameters
        ----------
        tip : numpy.ndarray
            Tip position (3,) [m].
        axis : numpy.ndarray
            Unit vector (3,) along the needle, tip towards the hub [-].
        radius : float
            Outer radius of the probe [m].

        Returns
        -------
        numpy.ndarray or None
            The bone point nearest the tip along the axis (3,) [m].
        """
        length = self.path_length(tip, axis) or 0.0
        hits = self._bone_in_probe(tip, axis, radius, length)
        if hits.size:
            return hits[np.argmin((hits - tip) @ axis)]
        if self.body is None:
            return None
        u, v = _normal_pair(axis)
        ring = [np.zeros(3)] + [radius * (np.cos(a) * u + np.sin(a) * v)
                                for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
        s = np.arange(0.0, length + PATH_STEP_M, PATH_STEP_M)
        pts = np.concatenate([tip + np.outer(s, axis) + r for r in ring])
        lo, hi = self._box()
        beyond = pts[~np.all((pts >= lo) & (pts <= hi), axis=1)]
        bone = beyond[np.isin(self.body.labels_at(beyond), [BONE])]
        return bone[np.argmin((bone - tip) @ axis)] if bone.size else None

    def seated(self, tip: np.ndarray, axis: np.ndarray, radius: float) -> np.ndarray | None:
        """The tip drawn back along the needle until the probe holds no bone voxel near its tip
        (a tilted probe rests on bone by the rim of its tip face); None when more than
        ``MAX_SEAT_M`` would be needed.

        Parameters
        ----------
        tip : numpy.ndarray
            Tip position (3,) [m].
        axis : numpy.ndarray
            Unit vector (3,) along the needle, tip towards the hub [-].
        radius : float
            Outer radius of the probe [m].

        Returns
        -------
        numpy.ndarray or None
            The seated tip position (3,) [m].
        """
        for back in np.arange(0.0, MAX_SEAT_M + SEAT_STEP_M / 2, SEAT_STEP_M):
            t = tip + back * axis
            if not self._bone_in_probe(t, axis, radius, 2e-3).size:
                return t
        return None

    def path_checked(self, tip: np.ndarray, axis: np.ndarray) -> bool:
        """Whether the whole needle path is known (a template; a patient's CT the needle reaches the
        skin in; a volume whose +z side is skin and that the needle leaves through it).

        Parameters
        ----------
        tip : numpy.ndarray
            Tip position (3,) [m].
        axis : numpy.ndarray
            Unit vector (3,) along the needle, tip towards the hub [-].

        Returns
        -------
        bool
            True when the path from the tip to the skin is known.
        """
        if self.body is not None:
            skin = self.body.to_skin(tip, axis)
            return True if skin is None else skin[1]
        vol = self.volume
        length = self.path_length(tip, axis)
        exit_z = tip[2] + (length or 0.0) * axis[2]
        return vol.sides[5] == "skin" and abs(exit_z - self._box()[1][2]) < vol.spacing[2]


class _Painter:
    """Paints labels onto voxel centres given in mm, and keeps the shapes (``Body``)."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, spacing: float):
        n = np.round((hi - lo) / spacing).astype(int)
        self.origin = lo + spacing / 2
        self.spacing = spacing
        axes = [self.origin[a] + spacing * np.arange(n[a]) for a in range(3)]
        self.x, self.y, self.z = np.meshgrid(*axes, indexing="ij")
        self.labels = np.full(tuple(n), MUSCLE, dtype=np.int64)
        self.shapes: list[tuple] = []

    def box(self, label: int, lo, hi) -> None:
        self.shapes.append(("box", label, tuple(float(v) for v in lo), tuple(float(v) for v in hi)))
        m = (
            (self.x >= lo[0])
            & (self.x <= hi[0])
            & (self.y >= lo[1])
            & (self.y <= hi[1])
            & (self.z >= lo[2])
            & (self.z <= hi[2])
        )
        self.labels[m] = label

    def tube(self, label: int, points, radius: float) -> None:
        """Voxels whose centre is within ``radius`` of a polyline."""
        pts = np.asarray(points, float)
        self.shapes.append(("tube", label, pts, float(radius)))
        p = np.stack([self.x, self.y, self.z], axis=-1)
        self.labels[tube_distance(p, pts) <= radius] = label

    def volume(self, sides: tuple[str, ...]) -> LabelVolume:
        return LabelVolume(
            self.labels, np.full(3, self.spacing * 1e-3), self.origin * 1e-3, default_labels(), sides
        )

    def body(self) -> Body:
        return Body(tuple(self.shapes))


SIDES = ("far-field", "far-field", "far-field", "far-field", "far-field", "skin")


def level_index(section: str, level: str) -> int:
    """A level's position in a data/anatomy.toml section's ``levels`` (raises InputError).

    Parameters
    ----------
    section : str
        "lumbar" or "sacral".
    level : str
        A level of that section (e.g. "L4").

    Returns
    -------
    int
        Its index in the section's per-level tables.
    """
    levels = anatomy_data()[section]["levels"]
    if level not in levels:
        raise InputError("anatomy.level", level, "one of " + ", ".join(levels))
    return levels.index(level)


def _layers(p: _Painter, d: dict, depth: float) -> None:
    p.box(
        FAT,
        (-99, -99, depth - d["skin_thickness_mm"] - d["fat_thickness_mm"]),
        (99, 99, depth - d["skin_thickness_mm"]),
    )
    p.box(SKIN, (-99, -99, depth - d["skin_thickness_mm"]), (99, 99, 99))


def _check_spacing(spacing_mm: float) -> None:
    if not 0.1 <= spacing_mm <= 2.0:
        raise InputError("anatomy.spacing_mm", spacing_mm, "a voxel size from 0.1 to 2 mm")


def _box(spacing_mm: float, depth: float, front: float = DEPTH_IN_FRONT_MM) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([-HALF_WIDTH_MM, -HALF_WIDTH_MM, -front])
    hi = np.array([HALF_WIDTH_MM, HALF_WIDTH_MM, depth])
    # whole voxels, with the skin surface exactly on the +z side
    lo[2] = hi[2] - spacing_mm * np.ceil((hi[2] - lo[2]) / spacing_mm)
    return lo, hi


def box_mm(name: str, level: str | None, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The low and high corners (mm) of a template's label volume at ``level`` (None: the
    template's default level), in whole voxels.

    Parameters
    ----------
    name : str
        A template's name (``TEMPLATES``).
    level : str or None
        Its level (e.g. "L4", "S1"); None for the template's default.
    spacing_mm : float
        Voxel size [mm].

    Returns
    -------
    tuple of numpy.ndarray
        The low and high corners (3,) in the template's frame [mm].

    Examples
    --------
    >>> [v.tolist() for v in box_mm("lumbar-medial-branch", "L4", 1.0)]
    [[-16.0, -16.0, -16.0], [16.0, 16.0, 57.0]]
    """
    if name not in TEMPLATES:
        raise InputError("anatomy.template", name, "one of " + ", ".join(TEMPLATES))
    if name == "lumbar-medial-branch":
        d = anatomy_data()["lumbar"]
        return _box(spacing_mm, d["skin_to_target_mm"][level_index("lumbar", level or "L4")])
    d = anatomy_data()["sacral"]
    level_index("sacral", level or "S1")
    return _box(spacing_mm, d["skin_to_target_mm"],
                front=d["sacrum_thickness_mm"] + d["ventral_ramus_diameter_mm"] + 2.0)


def approach(lateral_deg: float, caudal_deg: float) -> np.ndarray:
    """The needle's direction (tip to hub, unit vector; x lateral, y cranial, z posterior) whose
    hub lies ``lateral_deg`` lateral to the parasagittal plane in a posterior view and
    ``caudal_deg`` caudal to the endplate in a lateral view (the angles of Tran et al. 2023).

    Parameters
    ----------
    lateral_deg : float
        Angle of the hub lateral to the parasagittal plane, posterior view [deg].
    caudal_deg : float
        Angle of the hub caudal to the superior endplate, lateral view [deg].

    Returns
    -------
    numpy.ndarray
        Unit vector (3,) from the tip towards the hub [-].

    References
    ----------
    .. [1] Tran J, Campisi ES, Agur AMR & Loh E, Pain Med 24 (2023) 488: needle angles for
       lumbar medial branch radiofrequency ablation.

    Examples
    --------
    >>> np.round(approach(0.0, 0.0), 3).tolist(), np.round(approach(45.0, 45.0), 3).tolist()
    ([0.0, -0.0, 1.0], [0.577, -0.577, 0.577])
    """
    tb = np.tan(np.radians(caudal_deg))
    d = np.array([np.tan(np.radians(lateral_deg)) * tb, -tb, 1.0])
    return d / np.linalg.norm(d)


def _lumbar_bones(p: _Painter, d: dict, dy: float, at_l5: bool) -> None:
    """The transverse process (or at L5 the sacral ala), SAP, pedicle and lamina, ``dy`` mm
    cranially of the treated level (0: that level)."""
    tp_t, tp_h, sap_w = d["tp_thickness_mm"], d["tp_height_mm"], d["sap_width_mm"]
    if at_l5:
        p.box(BONE, (0, -d["ala_height_mm"] + dy, -d["ala_thickness_mm"]), (d["ala_length_mm"], dy, 0))
    else:
        p.box(BONE, (0, -tp_h + dy, -tp_t), (d["tp_length_mm"], dy, 0))
    p.box(BONE, (-sap_w, -tp_h + dy, -tp_t - 10),
          (0, d["sap_height_above_tp_mm"] + dy, d["sap_posterior_mm"]))
    p.box(BONE, (-sap_w, -tp_h + dy, -99), (2, dy, -tp_t))
    p.box(BONE, (-99, -tp_h - 4 + dy, -6), (-sap_w, d["sap_height_above_tp_mm"] + dy, 2))


def lumbar_medial_branch(level: str = "L4", spacing_mm: float = 0.5) -> Anatomy:
    """The medial branch at the SAP-TP junction of ``level`` (L1..L4), or the L5 dorsal ramus at
    the junction of the sacral ala and the S1 SAP.

    Parameters
    ----------
    level : str, optional
        "L1" to "L5" (default "L4").
    spacing_mm : float, optional
        Voxel size, 0.1 to 2 [mm].

    Returns
    -------
    Anatomy
        The labels, the target nerve, candidate tips and the approach, lengths in metres [m].

    References
    ----------
    .. [1] Bogduk N, Wilson AS & Tynan W, J Anat 134 (1982) 383: the medial branch's course.
    .. [2] Shuang F et al., Medicine 94 (2015) e2367: the dorsal ramus's bifurcation per level.
    .. [3] Yoon SH et al., Integr Med Res 10 (2021) 100679: the depth from the skin per level.
    .. [4] Tran J et al., Pain Med 24 (2023) 488: the range of the needle's angles (the values
       per level interpolated across it, data/anatomy.toml).
    """
    _check_spacing(spacing_mm)
    d = anatomy_data()["lumbar"]
    k = level_index("lumbar", level)
    at_l5 = level == "L5"
    depth = d["skin_to_target_mm"][k]
    p = _Painter(*box_mm("lumbar-medial-branch", level, spacing_mm), spacing_mm)
    # the levels above and below (beyond the box: only the whole needle path meets them)
    for dy in (-d["level_spacing_mm"], d["level_spacing_mm"]):
        _lumbar_bones(p, d, dy, at_l5 and dy < 0)
    _layers(p, d, depth)
    # transverse process or ala (posterior surface z = 0, superior border y = 0), SAP, pedicle, lamina
    _lumbar_bones(p, d, 0.0, at_l5)
    # dural sac medial to the pedicle
    sac = d["dural_sac_radius_mm"]
    p.tube(
        DURA,
        [
            (-d["dural_sac_medial_mm"], -99, -d["dural_sac_anterior_mm"]),
            (-d["dural_sac_medial_mm"], 99, -d["dural_sac_anterior_mm"]),
        ],
        sac,
    )
    course = medial_branch_course(level)
    p.tube(ROOT, course.root_mm, course.root_radius_mm)
    p.tube(TARGET, course.path_mm, course.radius_mm)
    lateral = np.array([1.0, 0.0, 0.0])
    tandem = course.tandem_mm * 1e-3
    return Anatomy(
        f"lumbar {course.what} {level}",
        p.volume(SIDES),
        (course.nerve(),),
        course.beside_mm * 1e-3,
        lateral,
        approach(d["approach_lateral_deg"][k], d["approach_caudal_deg"][k]),
        float(d["approach_cone_deg"]),
        p.body(),
        depth * 1e-3,
        ((tandem[0], lateral, tandem[1], lateral),),
    )


@dataclass(frozen=True)
class MedialBranchCourse:
    """A lumbar level's medial branch (L5: its dorsal ramus) and spinal nerve in the template's
    frame (mm; x lateral from the SAP's lateral face, y cranial from the TP's superior border, z
    posterior from the TP's posterior surface), and the points beside the nerve where tips go."""

    level: str
    what: str  # "medial branch" or "dorsal ramus"
    path_mm: np.ndarray  # (4, 3) the nerve's centre line
    radius_mm: float
    root_mm: np.ndarray  # (2, 3) the spinal nerve's centre line, in front of the TP
    root_radius_mm: float
    beside_mm: np.ndarray  # (2, 3) on the bone at the nerve's lateral edge (plus a clearance)
    tandem_mm: np.ndarray  # (2, 3) two tips in tandem along the nerve

    def nerve(self, points_m: np.ndarray | None = None) -> Nerve:
        """The nerve, along ``points_m`` (m; default its path in the template's frame).

        Parameters
        ----------
        points_m : numpy.ndarray, optional
            Its centre line (n x 3) in another frame [m].

        Returns
        -------
        Nerve
            Named "<level> <what>", with the default diameter.
        """
        points = self.path_mm * 1e-3 if points_m is None else points_m
        return Nerve(f"{self.level} {self.what}", 2 * self.radius_mm * 1e-3, points)


def medial_branch_course(level: str) -> MedialBranchCourse:
    """The course of a lumbar level's medial branch (L5: the dorsal ramus) over the TP's root and
    down the groove against the SAP, with the spinal nerve in front of the TP (the sources of
    ``lumbar_medial_branch``).

    Parameters
    ----------
    level : str
        "L1" to "L5".

    Returns
    -------
    MedialBranchCourse
        The nerve, the spinal nerve and the tips beside the nerve, in the template's frame [mm].

    Examples
    --------
    >>> c = medial_branch_course("L4")
    >>> c.what, c.path_mm.shape, round(float(c.beside_mm[0, 0]), 2)
    ('medial branch', (4, 3), 1.25)
    """
    d = anatomy_data()["lumbar"]
    k = level_index("lumbar", level)
    at_l5 = level == "L5"
    tp_h = d["tp_height_mm"]
    b = d["bifurcation_above_tp_mm"][k]
    r_root = d["spinal_nerve_diameter_mm"] / 2
    thick = d["ala_thickness_mm"] if at_l5 else d["tp_thickness_mm"]
    front = -thick - d["spinal_nerve_anterior_mm"] / 2 - r_root
    ramus = d["dorsal_ramus_length_mm"]
    root = np.array([(-3, b + ramus + 3, front + 1), (10, -tp_h, front - 2)], float)
    # from above the TP's superior border into the groove
    r = default_nerve_diameter_m() * 1e3 / 2
    c = r + 0.05
    path = np.array([(1.2, b, -3.0), (0.8, 0.7, 0.2), (c, -1.0, c), (c, -d["groove_length_mm"], c)])
    beside = np.array([(c + r + CLEARANCE_MM, y, CLEARANCE_MM) for y in (-1.5, -4.0)])
    tandem = np.array([(c + r + CLEARANCE_MM, y, CLEARANCE_MM) for y in d["tandem_tips_y_mm"]])
    return MedialBranchCourse(level, "dorsal ramus" if at_l5 else "medial branch", path, r, root, r_root,
                              beside, tandem)


def sacral_lateral_branch(level: str = "S1", spacing_mm: float = 0.5) -> Anatomy:
    """A lateral branch of the ``level`` (S1..S3) dorsal ramus beside its posterior foramen.

    Parameters
    ----------
    level : str, optional
        "S1", "S2" or "S3" (default "S1").
    spacing_mm : float, optional
        Voxel size, 0.1 to 2 [mm].

    Returns
    -------
    Anatomy
        The labels, the target nerve, candidate tips and the approach, lengths in metres [m].
    """
    _check_spacing(spacing_mm)
    d = anatomy_data()["sacral"]
    k = level_index("sacral", level)
    depth = d["skin_to_target_mm"]
    thick = d["sacrum_thickness_mm"]
    r_v = d["ventral_ramus_diameter_mm"] / 2
    p = _Painter(*box_mm("sacral-lateral-branch", level, spacing_mm), spacing_mm)
    _layers(p, d, depth)
    theta = np.radians(d["branch_clock_deg"][k])
    out = np.array([np.cos(theta), np.sin(theta), 0.0])
    r_f = d["foramen_diameter_mm"] / 2
    centre = -(r_f + 4.0) * out  # the target lies 4 mm beyond the foramen's edge
    p.box(BONE, (-99, -99, -thick), (99, 99, 0))
    p.tube(MUSCLE, [centre + (0, 0, -thick - 1), centre + (0, 0, 1)], r_f)  # the foramen
    p.tube(ROOT, [centre + (0, 99, -thick - r_v - 0.5), centre + (0, -99, -thick - r_v - 0.5)], r_v)
    r = default_nerve_diameter_m() * 1e3 / 2
    c = r + 0.05
    start = centre + (r_f + 0.5) * out + (0, 0, c)
    path = np.array([start, start + d["branch_length_mm"] * out])
    p.tube(TARGET, path, r)
    nerve = Nerve(f"{level} lateral branch", 2 * r * 1e-3, path * 1e-3)
    side = np.array([-out[1], out[0], 0.0])  # beside the branch, on the bone

    def at(s: float, sign: float) -> np.ndarray:
        return (out * s + sign * side * (c + r + CLEARANCE_MM) + (0, 0, CLEARANCE_MM)) * 1e-3

    beside = np.array([at(s, 1.0) for s in (0.0, 4.0)])
    brackets = tuple((at(s, 1.0), side, at(s, -1.0), -side) for s in d["bracket_along_mm"])
    axis = np.asarray(d["approach_axis"], float)
    return Anatomy(
        f"sacral lateral branch {level}",
        p.volume(SIDES),
        (nerve,),
        beside,
        side,
        axis / np.linalg.norm(axis),
        float(d["approach_cone_deg"]),
        p.body(),
        depth * 1e-3,
        brackets,
    )


TEMPLATES = {"lumbar-medial-branch": lumbar_medial_branch, "sacral-lateral-branch": sacral_lateral_branch}


def template_of(level: str) -> str:
    """The template of a level: L1-L5 the lumbar one (L5: the dorsal ramus), S1-S3 the sacral.

    Parameters
    ----------
    level : str
        "L1" to "L5" or "S1" to "S3".

    Returns
    -------
    str
        The template's name (``TEMPLATES``).

    Examples
    --------
    >>> template_of("L5"), template_of("S2")
    ('lumbar-medial-branch', 'sacral-lateral-branch')
    """
    for name, section in (("lumbar-medial-branch", "lumbar"), ("sacral-lateral-branch", "sacral")):
        if level in anatomy_data()[section]["levels"]:
            return name
    levels = [lv for sec in ("lumbar", "sacral") for lv in anatomy_data()[sec]["levels"]]
    raise InputError("anatomy.levels", level, "one of " + ", ".join(levels))


def session_frame(level: str, side: str | None) -> tuple[np.ndarray, bool]:
    """Where a template's frame sits in a session's (x towards the patient's right, y cranial,
    z posterior, the skin at z = 0, L1's target at y = 0): the shift (m) of its origin, and
    whether its x axis is mirrored (the left side: the template's x is lateral).

    Parameters
    ----------
    level : str
        "L1" to "L5" or "S1" to "S3".
    side : str or None
        "left" or "right" (None: right).

    Returns
    -------
    tuple
        The shift of the template's origin (numpy.ndarray, (3,)) [m] and whether x is mirrored
        (bool).

    Examples
    --------
    >>> shift, mirrored = session_frame("L4", "left")
    >>> np.round(shift * 1e3, 1).tolist(), mirrored
    ([-18.0, -111.0, -57.0], True)
    """
    d = anatomy_data()
    section = "sacral" if template_of(level).startswith("sacral") else "lumbar"
    order = d["lumbar"]["levels"] + d["sacral"]["levels"]
    depth = d[section]["skin_to_target_mm"]
    depth = depth[d[section]["levels"].index(level)] if isinstance(depth, list) else depth
    left = side == "left"
    x = d[section]["midline_mm"] * (-1 if left else 1)
    return np.array([x, -order.index(level) * d["lumbar"]["level_spacing_mm"], -depth]) * 1e-3, left


def template(name: str, level: str, spacing_mm: float) -> Anatomy:
    """A template's anatomy at one level (``TEMPLATES``).

    Parameters
    ----------
    name : str
        The template's name, "lumbar-medial-branch" or "sacral-lateral-branch".
    level : str
        Its level ("L1" to "L5", "S1" to "S3").
    spacing_mm : float
        Voxel size, 0.1 to 2 [mm].

    Returns
    -------
    Anatomy
        As ``lumbar_medial_branch`` or ``sacral_lateral_branch``, lengths in metres [m].
    """
    if name not in TEMPLATES:
        raise InputError("anatomy.template", name, "one of " + ", ".join(TEMPLATES))
    return TEMPLATES[name](level, spacing_mm)
