"""Parametric anatomy of the back-pain targets: schematic label volumes built from boxes and
tubes with the dimensions of data/anatomy.toml (each cited or marked assumed there).

Frame: x lateral (away from the midline), y cranial, z posterior; the origin is the target point
on bone and the skin is the box's +z side (convection to room air). Units are metres.

* ``lumbar_medial_branch(level)``: the medial branch of the dorsal ramus crossing the root of
  the transverse process (TP) and running caudally in the groove against the superior articular
  process (SAP), to the mamillo-accessory ligament (Bogduk, Wilson & Tynan 1982); the dorsal ramus
  joins it from its bifurcation above the TP (Shuang et al. 2015 per level). Protected: the spinal
  nerve in front of the TP, the dural sac medial to the SAP, and the skin, at the measured depth
  of each level (Yoon et al. 2021: 45-59 mm from L1 to L5).
* ``sacral_lateral_branch(level)``: a lateral branch leaving a posterior sacral foramen and running
  laterally on the dorsal sacral surface. Protected: the ventral ramus in front of the sacrum, and
  the skin.

These are schematic (boxes, not patient bone): use a NIfTI label volume for a patient.

>>> a = lumbar_medial_branch("L4", spacing_mm=1.0)
>>> a.volume.shape, sorted(s.name for s in a.volume.with_role("protected"))
((32, 32, 73), ['dural sac', 'nerve root', 'skin'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


@dataclass(frozen=True)
class Anatomy:
    """A target region: labels, the target nerve(s), candidate tips and the approach cone."""

    name: str
    volume: LabelVolume
    targets: tuple[Nerve, ...]
    beside: np.ndarray  # (n, 3) m: points on the bone at the nerve's edge (plus a clearance)
    outward: np.ndarray  # unit vector from the nerve towards where the probe goes
    approach_axis: np.ndarray  # unit vector, tip towards the hub
    cone_deg: float

    def tips(self, probe_radius: float, gaps: tuple[float, ...] = (0.0,)) -> np.ndarray:
        """Candidate tip positions (n, 3): the probe's wall ``gap`` (m) beyond ``beside``."""
        out = [b + (probe_radius + g) * self.outward for g in gaps for b in self.beside]
        return np.unique(np.round(np.array(out), 12), axis=0)


class _Painter:
    """Paints labels onto voxel centres given in mm."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, spacing: float):
        n = np.round((hi - lo) / spacing).astype(int)
        self.origin = lo + spacing / 2
        self.spacing = spacing
        axes = [self.origin[a] + spacing * np.arange(n[a]) for a in range(3)]
        self.x, self.y, self.z = np.meshgrid(*axes, indexing="ij")
        self.labels = np.full(tuple(n), MUSCLE, dtype=np.int64)

    def box(self, label: int, lo, hi) -> None:
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
        p = np.stack([self.x, self.y, self.z], axis=-1)
        best = np.full(self.x.shape, np.inf)
        pts = np.asarray(points, float)
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            ab = b - a
            s = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
            best = np.minimum(best, np.linalg.norm(p - (a + s[..., None] * ab), axis=-1))
        self.labels[best <= radius] = label

    def volume(self, sides: tuple[str, ...]) -> LabelVolume:
        return LabelVolume(
            self.labels, np.full(3, self.spacing * 1e-3), self.origin * 1e-3, default_labels(), sides
        )


SIDES = ("far-field", "far-field", "far-field", "far-field", "far-field", "skin")


def _level(section: str, level: str) -> int:
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

    >>> [v.tolist() for v in box_mm("lumbar-medial-branch", "L4", 1.0)]
    [[-16.0, -16.0, -16.0], [16.0, 16.0, 57.0]]
    """
    if name not in TEMPLATES:
        raise InputError("anatomy.template", name, "one of " + ", ".join(TEMPLATES))
    if name == "lumbar-medial-branch":
        d = anatomy_data()["lumbar"]
        return _box(spacing_mm, d["skin_to_target_mm"][_level("lumbar", level or "L4")])
    d = anatomy_data()["sacral"]
    _level("sacral", level or "S1")
    return _box(spacing_mm, d["skin_to_target_mm"],
                front=d["sacrum_thickness_mm"] + d["ventral_ramus_diameter_mm"] + 2.0)


def lumbar_medial_branch(level: str = "L4", spacing_mm: float = 0.5) -> Anatomy:
    """The medial branch at the SAP-TP junction of ``level`` (L1..L5)."""
    _check_spacing(spacing_mm)
    d = anatomy_data()["lumbar"]
    k = _level("lumbar", level)
    depth = d["skin_to_target_mm"][k]
    p = _Painter(*box_mm("lumbar-medial-branch", level, spacing_mm), spacing_mm)
    _layers(p, d, depth)
    tp_t, tp_h, sap_w = d["tp_thickness_mm"], d["tp_height_mm"], d["sap_width_mm"]
    # transverse process (posterior surface z = 0, superior border y = 0), SAP, pedicle, lamina
    p.box(BONE, (0, -tp_h, -tp_t), (d["tp_length_mm"], 0, 0))
    p.box(BONE, (-sap_w, -tp_h, -tp_t - 10), (0, d["sap_height_above_tp_mm"], d["sap_posterior_mm"]))
    p.box(BONE, (-sap_w, -tp_h, -99), (2, 0, -tp_t))
    p.box(BONE, (-99, -tp_h - 4, -6), (-sap_w, d["sap_height_above_tp_mm"], 2))
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
    # spinal nerve in front of the TP, running caudally and laterally
    b = d["bifurcation_above_tp_mm"][k]
    r_root = d["spinal_nerve_diameter_mm"] / 2
    front = -tp_t - d["spinal_nerve_anterior_mm"] / 2 - r_root
    ramus = d["dorsal_ramus_length_mm"]
    p.tube(ROOT, [(-3, b + ramus + 3, front + 1), (10, -tp_h, front - 2)], r_root)
    # the medial branch: from the bifurcation over the TP's superior border into the groove
    r = default_nerve_diameter_m() * 1e3 / 2
    c = r + 0.05
    path = np.array([(1.2, b, -3.0), (0.8, 0.7, 0.2), (c, -1.0, c), (c, -d["groove_length_mm"], c)])
    p.tube(TARGET, path, r)
    nerve = Nerve(f"{level} medial branch", 2 * r * 1e-3, path * 1e-3)
    beside = np.array([(c + r + CLEARANCE_MM, y, CLEARANCE_MM) for y in (-1.5, -4.0)]) * 1e-3
    axis = np.asarray(d["approach_axis"], float)
    return Anatomy(
        f"lumbar medial branch {level}",
        p.volume(SIDES),
        (nerve,),
        beside,
        np.array([1.0, 0.0, 0.0]),
        axis / np.linalg.norm(axis),
        float(d["approach_cone_deg"]),
    )


def sacral_lateral_branch(level: str = "S1", spacing_mm: float = 0.5) -> Anatomy:
    """A lateral branch of the ``level`` (S1..S3) dorsal ramus beside its posterior foramen."""
    _check_spacing(spacing_mm)
    d = anatomy_data()["sacral"]
    k = _level("sacral", level)
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
    beside = (
        np.array([out * s + side * (c + r + CLEARANCE_MM) + (0, 0, CLEARANCE_MM) for s in (0.0, 4.0)]) * 1e-3
    )
    axis = np.asarray(d["approach_axis"], float)
    return Anatomy(
        f"sacral lateral branch {level}",
        p.volume(SIDES),
        (nerve,),
        beside,
        side,
        axis / np.linalg.norm(axis),
        float(d["approach_cone_deg"]),
    )


TEMPLATES = {"lumbar-medial-branch": lumbar_medial_branch, "sacral-lateral-branch": sacral_lateral_branch}


def template(name: str, level: str, spacing_mm: float) -> Anatomy:
    if name not in TEMPLATES:
        raise InputError("anatomy.template", name, "one of " + ", ".join(TEMPLATES))
    return TEMPLATES[name](level, spacing_mm)
