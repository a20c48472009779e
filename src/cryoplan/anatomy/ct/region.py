"""A target's region of a patient's CT, as the planner reads a template: its labels on a voxel box
around the target, its nerves, the tips beside them, the approach, and the CT itself beyond the box
(the whole needle's path to the skin).

Method, for the medial branch whose target a survey found (``survey``, on the SAP-TP junction of
the vertebra below the nerve's level):

1. **The frame** is the template's (``templates.lumbar_medial_branch``: x lateral, y cranial, z
   posterior; the origin on the transverse process's posterior surface at its superior border, at
   the superior articular process's lateral face) set on the vertebra's own axes
   (``landmarks.vertebra_frame``). The junction found lies on the TP's centre line, so the origin
   is half the template's TP height above it (an assumption: the patient's TP height is not
   measured), on the TP's posterior surface the CT shows ``SURFACE_LATERAL_MM`` lateral of the
   junction (nearest voxel, sampled every ``STEP_MM``).
2. **The labels** are the CT's tissue classes (``tissues``) sampled at the nearest CT voxel on a box
   of the template's width (``templates.HALF_WIDTH_MM`` each way across and along the spine, from
   ``templates.DEPTH_IN_FRONT_MM`` in front of the target) up to the skin above the target, whose
   side then convects to room air, or to where the CT ends (a crop inside the body: the side is
   far-field and the needle's path is not checked to the skin). The tissues are the templates'
   (``labels.default_labels``): soft tissue as muscle, the spinal canal as the dural sac.
   Assumptions: air inside the box (where the back curves away from the skin above the target)
   stands as fat, the tissue library having no air (both insulate next to muscle, and the skin
   lies 40-60 mm from an ice ball of at most 15 mm radius); voxels beyond the CT stand as muscle.
3. **The nerves** are the template's (``templates.medial_branch_course``) carried into that frame:
   a medial branch is not visible on CT and runs where the anatomy puts it, over the root of the
   TP into the groove against the SAP, on the bone (Bogduk, Wilson & Tynan 1982, J Anat
   134:383). So its points on the bone are laid onto the patient's bone surface: each keeps its
   height above the bone, the bone being the first met coming down its own column
   (``DRAPE_FROM_MM`` behind the target), and the tips beside it move with it. The spinal nerve
   in front of the TP is painted only where the CT shows no bone.
4. **Beyond the box** ``CTBody`` gives the CT's labels at any point of the frame, so the whole
   needle from its tip to the skin is checked against the patient's bone, and the needle's length
   to the skin is measured on the CT (``templates.Anatomy.path_length``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryoplan.anatomy import templates
from cryoplan.anatomy.ct import tissues as ct
from cryoplan.anatomy.ct.landmarks import vertebra_frame
from cryoplan.anatomy.ct.survey import Survey, Target
from cryoplan.anatomy.frame import PatientFrame
from cryoplan.anatomy.labels import LabelVolume, anatomy_data, default_labels
from cryoplan.errors import InputError

#: Sampling step (mm) along a needle and onto the bone surface.
STEP_MM = 0.25
#: Farthest a needle is followed from its tip to the skin (mm).
MAX_DEPTH_MM = 150.0
#: How far lateral of the SAP's face (the junction) the TP's posterior surface is measured (mm):
#: beside the SAP, as the template's tips are.
SURFACE_LATERAL_MM = 2.0
#: Where the nerve is laid onto the bone from (mm behind the target) and how deep the bone is
#: looked for below the target (mm).
DRAPE_FROM_MM = 15.0
DRAPE_DEPTH_MM = 6.0

#: The CT's tissue classes as the templates' labels (air as fat: module docstring, step 2).
TEMPLATE_LABEL = np.array([templates.FAT, templates.FAT, templates.MUSCLE, templates.SKIN, templates.BONE,
                           templates.DURA])
assert len(TEMPLATE_LABEL) == max(ct.AIR, ct.FAT, ct.SOFT, ct.SKIN, ct.BONE, ct.CANAL) + 1


@dataclass(frozen=True, eq=False)
class CTBody:
    """A CT's tissue classes (``labels``, the CT's grid; ``inverse``: RAS+ mm -> voxel index) seen
    from a target's ``frame``: the templates' labels at any point, and the needle's way to the
    skin."""

    labels: np.ndarray
    inverse: np.ndarray
    frame: PatientFrame

    def _classes(self, points_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The CT's class at each point (nearest voxel) and whether the point is in the CT."""
        mm = self.frame.to_patient(points_m)
        ijk = np.rint(mm @ self.inverse[:3, :3].T + self.inverse[:3, 3]).astype(np.int64)
        inside = np.all((ijk >= 0) & (ijk < np.array(self.labels.shape)), axis=-1)
        out = np.full(ijk.shape[:-1], ct.SOFT, dtype=np.int64)
        out[inside] = self.labels[tuple(ijk[inside].T)]
        return out, inside

    def labels_at(self, points_m: np.ndarray) -> np.ndarray:
        """The templates' label at each point (beyond the CT: muscle).

        Parameters
        ----------
        points_m : numpy.ndarray
            Points (..., 3) in the target's frame [m].

        Returns
        -------
        numpy.ndarray of int
            The label of each point (...,) (``templates``: MUSCLE, FAT, SKIN, BONE, DURA).
        """
        classes, _ = self._classes(np.asarray(points_m, float))
        return TEMPLATE_LABEL[classes]

    def to_skin(self, tip: np.ndarray, axis: np.ndarray) -> tuple[float, bool]:
        """How far the needle runs from its tip to the air outside the skin, and whether it gets
        there inside the CT (False: it leaves the CT first, or runs ``MAX_DEPTH_MM`` in tissue).

        Parameters
        ----------
        tip : numpy.ndarray
            Tip position (3,) in the target's frame [m].
        axis : numpy.ndarray
            Unit vector (3,) from the tip towards the hub [-].

        Returns
        -------
        tuple
            The length (float) [m] and whether it reaches the skin (bool).
        """
        s = np.arange(0.0, MAX_DEPTH_MM + STEP_MM, STEP_MM) * 1e-3
        classes, inside = self._classes(np.asarray(tip, float) + s[:, None] * np.asarray(axis, float))
        air = np.flatnonzero(inside & (classes == ct.AIR))
        out = np.flatnonzero(~inside)
        stop_air = air[0] if air.size else len(s)
        stop_out = out[0] if out.size else len(s)
        if stop_air < stop_out:
            return float(s[stop_air]), True
        return float(s[min(stop_out, len(s) - 1)]), False


def _surface(body: CTBody, start_m: np.ndarray) -> float:
    """The z (m) where the bone at ``start_m`` ends going posteriorly (the CT's voxel face)."""
    s = np.arange(0.0, 20.0 + STEP_MM, STEP_MM) * 1e-3
    points = start_m + s[:, None] * np.array([0.0, 0.0, 1.0])
    bone = body.labels_at(points) == templates.BONE
    if not bone[0]:  # the point found is not in bone here: keep it
        return float(start_m[2])
    off = np.flatnonzero(~bone)
    return float(start_m[2] + (s[off[0]] - STEP_MM * 1e-3 / 2 if off.size else s[-1]))


def _draped(body: CTBody, points_mm: np.ndarray) -> np.ndarray:
    """Points on or over the bone (template z >= 0) laid on the patient's bone surface: each
    keeps its height above the bone, measured from the first bone met coming down its column from
    ``DRAPE_FROM_MM`` behind the target (none within ``DRAPE_DEPTH_MM``: the point is kept)."""
    out = np.array(points_mm, float)
    z = np.arange(DRAPE_FROM_MM, -DRAPE_DEPTH_MM, -STEP_MM)
    for p in out:
        if p[2] < 0:  # in front of the bone: the dorsal ramus's way from above
            continue
        column = np.column_stack([np.full_like(z, p[0]), np.full_like(z, p[1]), z]) * 1e-3
        bone = np.flatnonzero(body.labels_at(column) == templates.BONE)
        if bone.size:
            p[2] += z[bone[0]] + STEP_MM / 2
    return out


def _beside(template_path: np.ndarray, draped_path: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """Tips beside the nerve moved with it: each by the nerve's lift at its height along the spine
    (linear between the nerve's points), so a tip keeps its place beside the nerve however rough
    the bone (``seated`` then draws it back out of any bone)."""
    lift = draped_path[:, 2] - template_path[:, 2]
    order = np.argsort(template_path[:, 1])
    out = np.array(points_mm, float)
    out[:, 2] += np.interp(out[:, 1], template_path[order, 1], lift[order])
    return out


def region_box_mm(spacing_mm: float, top_mm: float = MAX_DEPTH_MM) -> tuple[np.ndarray, np.ndarray]:
    """A region's box: the templates' width, whole voxels down from its top side.

    Parameters
    ----------
    spacing_mm : float
        Voxel size [mm].
    top_mm : float, optional
        Its top (+z) side above the target: the skin (default: the deepest skin looked for) [mm].

    Returns
    -------
    tuple of numpy.ndarray
        The low and high corners (3,) in the target's frame [mm].

    Examples
    --------
    >>> [v.tolist() for v in region_box_mm(1.0, 50.0)]
    [[-16.0, -16.0, -16.0], [16.0, 16.0, 50.0]]
    """
    hi = np.array([templates.HALF_WIDTH_MM, templates.HALF_WIDTH_MM, top_mm])
    lo = np.array([-templates.HALF_WIDTH_MM, -templates.HALF_WIDTH_MM, 0.0])
    depth = top_mm + templates.DEPTH_IN_FRONT_MM
    lo[2] = top_mm - spacing_mm * np.ceil(depth / spacing_mm)
    return lo, hi


def target_region(survey: Survey, level: str, side: str, spacing_mm: float) -> templates.Anatomy:
    """The region of a patient's CT around one nerve's target (method in the module docstring).

    Parameters
    ----------
    survey : Survey
        The CT's survey, with its tissue classes (``survey.survey``).
    level : str
        The nerve's level, "L1" to "L4" (its target lies on the vertebra below).
    side : str
        "left" or "right".
    spacing_mm : float
        Voxel size of the region's label volume, 0.1 to 2 [mm].

    Returns
    -------
    templates.Anatomy
        The labels, the nerve, the tips beside it and the approach in the target's frame [m], the
        CT beyond the box (``body``) and where the frame sits in the patient (``patient``).
    """
    if survey.tissues is None:
        raise InputError("anatomy.ct", "a survey without tissue classes", "a CT surveyed with its tissues")
    found = survey.require(level, side)
    d = anatomy_data()["lumbar"]
    k = templates.level_index("lumbar", level)
    frame, body = _frame(survey, found, side)
    course = templates.medial_branch_course(level)
    path = _draped(body, course.path_mm)
    beside, tandem = (_beside(course.path_mm, path, p) for p in (course.beside_mm, course.tandem_mm))
    top, reached = body.to_skin(np.zeros(3), np.array([0.0, 0.0, 1.0]))
    lo, hi = region_box_mm(spacing_mm, top * 1e3)
    n = np.round((hi - lo) / spacing_mm).astype(int)
    centres = [lo[a] + spacing_mm * (np.arange(n[a]) + 0.5) for a in range(3)]
    grid = np.stack(np.meshgrid(*centres, indexing="ij"), axis=-1) * 1e-3
    labels = body.labels_at(grid.reshape(-1, 3)).reshape(tuple(n))
    root = templates.tube_distance(grid * 1e3, course.root_mm) <= course.root_radius_mm
    labels[root & (labels != templates.BONE)] = templates.ROOT
    labels[templates.tube_distance(grid * 1e3, path) <= course.radius_mm] = templates.TARGET
    sides = ("far-field",) * 5 + ("skin" if reached else "far-field",)
    origin = np.array([c[0] for c in centres]) * 1e-3
    volume = LabelVolume(labels.astype(np.int64), np.full(3, spacing_mm * 1e-3), origin, default_labels(),
                         sides)
    lateral = np.array([1.0, 0.0, 0.0])
    tandem = tandem * 1e-3
    return templates.Anatomy(
        f"{found.nerve} {side} on the patient's {found.bone} (CT)",
        volume,
        (course.nerve(path * 1e-3),),
        beside * 1e-3,
        lateral,
        templates.approach(d["approach_lateral_deg"][k], d["approach_caudal_deg"][k]),
        float(d["approach_cone_deg"]),
        body,
        None,
        ((tandem[0], lateral, tandem[1], lateral),),
        frame,
    )


def _frame(survey: Survey, found: Target, side: str) -> tuple[PatientFrame, CTBody]:
    """The target's frame on the patient (module docstring, step 1) and the CT seen from it."""
    vertebrae = survey.vertebrae
    v = vertebrae.named(found.bone)
    right, anterior, superior = vertebra_frame(vertebrae, v)
    axes = np.array([right if side == "right" else -right, superior, -anterior])
    tissues = survey.tissues
    assert tissues is not None
    inverse = np.linalg.inv(tissues.affine)
    half_tp = anatomy_data()["lumbar"]["tp_height_mm"] / 2
    guess = PatientFrame(np.asarray(found.point_mm, float) + half_tp * superior, axes, 0.0)
    body = CTBody(tissues.labels, inverse, guess)
    # onto the TP's posterior surface at the junction's height (half a TP below the origin), a
    # little lateral of the SAP's face, whose bone rises behind the TP
    z = _surface(body, np.array([SURFACE_LATERAL_MM, -half_tp, 0.0]) * 1e-3)
    origin = guess.to_patient(np.array([0.0, 0.0, z]))
    z_axis = float(vertebrae.axis.project(v.body_centroid_mm[None])[0])
    canal = vertebrae.axis.centre(np.array([z_axis]))[0]
    frame = PatientFrame(origin, axes, float(((canal - origin) @ axes.T)[0]) * 1e-3)
    return frame, CTBody(tissues.labels, inverse, frame)
