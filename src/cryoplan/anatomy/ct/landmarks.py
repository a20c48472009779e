"""The lumbar medial branch's target on a patient's CT: the junction of the superior articular
process (SAP) and the root of the transverse process (TP), left and right, on each vertebra.

The medial branch of the dorsal ramus crosses the root of the TP where it meets the SAP, and runs
in the groove between them (Bogduk, Wilson & Tynan 1982, J Anat 134:383); that junction is the
radiological target (Shuang et al. 2015, Medicine 94:e2367). Method, in the vertebra's own frame
(``vertebra_frame``: origin the canal's centre at the body's height; superior along the spine's
axis, anterior from the canal's centre to the body's centroid, right completing them):

1. the side's bone is the vertebra's bone on that side of the canal (right: +x of the frame);
2. the transverse process is the most lateral bone: the outer ``tp_tip_band_mm`` of the side's
   lateral reach; its axis is the line that bone drifts along antero-posteriorly and
   cranio-caudally per millimetre of lateral distance (least squares);
3. the TP is followed medially along that axis, one millimetre at a time, re-centring on its
   cross-section (a slab one millimetre or one voxel thick, whichever is thicker): while it is a
   transverse process its cross-section (bone within ``section_radius_mm`` of the axis and at
   most ``front_margin_mm`` in front of it: the body and pedicle in front are not the SAP) stays
   near its lateral size; where it has grown to ``root_area_ratio`` times that size it has met
   the articular pillar (SAP, pedicle): its root;
4. the junction is the edge of that step, placed at half its height as an edge is (half way
   between the TP's size and the pillar's, the largest section within ``pillar_window_mm``
   medial of the root), on the TP's centre line (the centres of its last five sections before
   the root: the pillar's bone behind and above would pull a mixed section's centre off it),
   moved along the frame's left-right axis to the edge's distance from the midline;
   ``surface_mm`` is the bone surface behind it (moving posteriorly out of bone), where a
   probe's tip rests on the bone.

Confidence (0-1) multiplies how much TP was followed before the junction (1 from 10 mm) and the
step's contrast (1 when the pillar's section is at least twice the TP's); a TP followed to the
canal's side without a root gets at most 0.3. Below 0.5 the landmark carries the
``landmark-uncertain`` warning. The numbers are in data/ct_tissues.toml
[landmark], with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.ct.tissues import BONE, TissueMap, check_image, ct_data
from cryoplan.anatomy.ct.vertebrae import Vertebra, Vertebrae
from cryoplan.errors import InputError
from cryoplan.named_warnings import NamedWarning

#: Step (mm) of the march along the TP.
STEP_MM = 1.0
#: Length (mm) of TP followed before its root that gives full confidence.
FULL_LENGTH_MM = 10.0
#: Below this confidence a landmark carries the ``landmark-uncertain`` warning.
UNCERTAIN_BELOW = 0.5


@dataclass(frozen=True)
class Landmark:
    """The SAP-TP junction of one side of one vertebra: ``junction_mm`` (RAS+ mm, the TP's root
    where it meets the SAP), ``surface_mm`` (the bone surface behind it), ``confidence`` (0-1)
    and the TP's lateral direction (unit, RAS+)."""

    vertebra: str
    side: str
    junction_mm: np.ndarray
    surface_mm: np.ndarray
    confidence: float
    tp_direction: np.ndarray
    warnings: tuple[NamedWarning, ...] = ()


def _march(section, start: np.ndarray, direction: np.ndarray, origin: np.ndarray, outward: np.ndarray,
           reach: float) -> tuple[list[np.ndarray], list[int]]:
    """Follow the TP medially from ``start`` to the canal's side: each step's cross-section (bone
    points) and its size (points), re-centring on the section before each step."""
    trail: list[np.ndarray] = []
    profile: list[int] = []
    at = start.copy()
    for _ in range(int(reach / STEP_MM) + 1):
        cut = section(at)
        if not len(cut):
            break
        trail.append(cut)
        profile.append(len(cut))
        at = cut.mean(axis=0) + STEP_MM * direction  # re-centre on the TP, then step medially
        if (at - origin) @ outward <= 0:  # reached the midline
            break
    return trail, profile


def _side(points: np.ndarray, frame: np.ndarray, origin: np.ndarray, sign: float, bone_at,
          thickness: float) -> tuple[np.ndarray, np.ndarray, float, np.ndarray] | None:
    """The junction, surface point, confidence and TP direction of one side (method 2-4)."""
    d = ct_data()["landmark"]
    local = (points - origin) @ frame.T  # right, anterior, superior (mm)
    lateral = sign * local[:, 0]
    side = points[lateral > 0]
    lat = lateral[lateral > 0]
    if lat.size < 20:
        return None
    reach = float(np.percentile(lat, 99.5))
    tip = side[lat >= reach - d["tp_tip_band_mm"]]
    if len(tip) < 10:
        return None
    centre = tip.mean(axis=0)
    # the TP's axis: its antero-posterior and cranio-caudal drift per mm of lateral distance
    # (least squares; a principal axis is ill-defined when the band is as high as it is long)
    band = (tip - origin) @ frame.T
    slope_a, slope_s = np.polyfit(sign * band[:, 0], band[:, 1:], 1)[0]
    medial = -sign * frame[0]
    direction = -(sign * frame[0] + slope_a * frame[1] + slope_s * frame[2])
    direction /= np.linalg.norm(direction)
    if direction @ medial < 0:
        direction = -direction
    radius = d["section_radius_mm"]

    front = d["front_margin_mm"]

    def section(at: np.ndarray) -> np.ndarray:
        w = side - at
        s = w @ direction
        r = np.linalg.norm(w - np.outer(s, direction), axis=1)
        # behind the TP's front only: the body and pedicle in front of it are not the SAP
        return side[(np.abs(s) <= thickness / 2) & (r <= radius) & (w @ frame[1] <= front)]

    # the TP's lateral size: the median cross-section over its outer band
    sizes = []
    for u in np.arange(-d["tp_tip_band_mm"] / 2, d["tp_tip_band_mm"] / 2 + STEP_MM, STEP_MM):
        sizes.append(len(section(centre + u * direction)))
    reference = max(float(np.median(sizes)), 1.0)
    trail, profile = _march(section, centre, direction, origin, frame[0] * sign, reach)
    root = next((k for k, n in enumerate(profile) if n > d["root_area_ratio"] * reference), None)
    if root is None or root == 0:
        if not trail:
            return None
        # no root: the TP's last section on the way to the canal, with a low confidence
        junction = trail[-1].mean(axis=0)
        confidence = 0.3 * min(1.0, len(trail) * STEP_MM / FULL_LENGTH_MM)
    else:
        # the edge of the step from the TP's size to the pillar's, at half its height (as an
        # edge is placed at half maximum): the pillar's size is the largest section within
        # pillar_window_mm medial of the root
        window = profile[root:root + int(round(d["pillar_window_mm"] / STEP_MM)) + 1]
        plateau = float(max(window))
        half = (reference + plateau) / 2.0
        k = next(k for k, n in enumerate(profile) if n >= half)
        centres = [c.mean(axis=0) for c in trail]
        if k == 0:
            edge = centres[0]
        else:
            f = (half - profile[k - 1]) / max(profile[k] - profile[k - 1], 1e-9)
            edge = (1 - f) * centres[k - 1] + f * centres[k]
        # on the TP's own centre line (the sections before the root hold TP only; the pillar's
        # bone behind and above would pull a section's centre off the TP)
        tp = np.array(centres[max(0, root - 5):root])
        on = tp.mean(axis=0)
        outward = sign * frame[0]  # at the edge's distance from the midline
        junction = on + ((edge - on) @ outward) * outward
        contrast = min(1.0, plateau / reference - 1.0)  # a pillar at least twice the TP: 1
        confidence = min(1.0, k * STEP_MM / FULL_LENGTH_MM) * contrast
    # the bone surface behind the junction: step posteriorly until out of bone
    surface = junction.copy()
    posterior = -frame[1]
    for _ in range(40):
        ahead = surface + 0.5 * posterior
        if not bone_at(ahead):
            break
        surface = ahead
    return junction, surface, confidence, direction * -1.0


def vertebra_frame(vertebrae: Vertebrae, v: Vertebra) -> np.ndarray:
    """The vertebra's own frame (rows: right, anterior, superior; unit vectors, RAS+): superior
    along the spine's axis, anterior from the canal's centre to the body's centroid (so a
    vertebra rotated about the axis, as in a scoliosis, keeps its own left and right).

    Parameters
    ----------
    vertebrae : Vertebrae
        The patient's vertebrae, with the spine's axis (``find_vertebrae``).
    v : Vertebra
        One of them.

    Returns
    -------
    numpy.ndarray
        3 x 3, rows the right, anterior and superior unit vectors in RAS+ [-]; the spine axis's
        frame where the body's centroid is within 1 mm of the canal's centre.
    """
    z = float(vertebrae.axis.project(v.body_centroid_mm[None])[0])
    t = vertebrae.axis.tangent(np.array([z]))[0]
    anterior = v.body_centroid_mm - vertebrae.axis.centre(np.array([z]))[0]
    anterior -= (anterior @ t) * t
    if np.linalg.norm(anterior) < 1.0:  # a body on the canal: fall back on the patient's front
        return vertebrae.axis.frame(z)
    anterior /= np.linalg.norm(anterior)
    return np.array([np.cross(anterior, t), anterior, t])


def find_junctions(image: CTImage, vertebrae: Vertebrae, tissues: TissueMap | None = None,
                   levels: tuple[str, ...] | None = None) -> list[Landmark]:
    """The left and right SAP-TP junctions of the vertebrae (method in the module's docstring).

    Parameters
    ----------
    image : CTImage
        The CT (its affine maps voxels to RAS+ mm).
    vertebrae : Vertebrae
        From ``find_vertebrae`` (named by ``name_levels`` for the levels to mean anything).
    tissues : TissueMap, optional
        The CT's tissue classes, for the bone surface (default: the vertebrae's labels).
    levels : tuple of str, optional
        Only these levels (e.g. ("L3",)); default every vertebra.

    Returns
    -------
    list of Landmark
        One per side found of each vertebra, points in RAS+ mm, with a confidence (0-1). A side
        whose TP is not in the volume is left out.
    """
    check_image(image)
    if vertebrae.labels.shape != image.shape:
        raise InputError("ct.vertebrae", vertebrae.labels.shape, f"labels on the CT's grid {image.shape}")
    bone = (tissues.labels == BONE) if tissues is not None else vertebrae.labels > 0
    inverse = np.linalg.inv(image.affine)

    def bone_at(point: np.ndarray) -> bool:
        ijk = np.round(point @ inverse[:3, :3].T + inverse[:3, 3]).astype(int)
        if np.any(ijk < 0) or np.any(ijk >= image.shape):
            return False
        return bool(bone[tuple(ijk)])

    # a section one voxel thick at least: thinner slabs fall between the voxel centres of a
    # process along the grid's axes
    thickness = max(STEP_MM, float(np.max(image.spacing_mm)))
    out = []
    chosen: list[Vertebra] = [v for v in vertebrae.vertebrae
                              if levels is None or v.name in levels]
    for v in chosen:
        if v.name == "S":
            continue
        points = image.world_mm(np.argwhere(vertebrae.labels == v.label))
        z = float(vertebrae.axis.project(v.body_centroid_mm[None])[0])
        origin = vertebrae.axis.centre(np.array([z]))[0]
        frame = vertebra_frame(vertebrae, v)
        name = v.name or f"vertebra {v.label}"
        for side, sign in (("left", -1.0), ("right", 1.0)):
            found = _side(points, frame, origin, sign, bone_at, thickness)
            if found is None:
                continue
            junction, surface, confidence, direction = found
            warns = ()
            if confidence < UNCERTAIN_BELOW:
                warns = (NamedWarning("landmark-uncertain",
                                      f"SAP-TP junction found with confidence {confidence:.2f}",
                                      f"{name} {side}"),)
            out.append(Landmark(name, side, junction, surface, round(confidence, 3), direction, warns))
    return out
