"""A target's frame and the needle's approach told as a physician places it.

Every target is planned in its own frame (m): x lateral (away from the midline), y cranial, z
posterior, the origin on the bone at the target. A template's frame is fixed by its dimensions; a
patient's is set on the vertebra's own axes (``anatomy.ct.region``) and a ``PatientFrame`` maps it
to the CT's RAS+ millimetres.

The approach is given in the terms of the clinical papers the planner's angles come from (Tran,
Campisi, Agur & Loh 2023, Pain Med 24:488): the needle's hub **caudal** to the endplate in a
lateral view and **lateral** to the parasagittal plane in a posterior view (both in degrees, the
inverse of ``templates.approach``), the **depth** from the skin to the tip, and the skin entry
point in millimetres lateral of the midline and cranial or caudal of the target.

>>> import numpy as np
>>> angles = approach_angles(np.array([0.5, -0.5, 0.70710678]))
>>> [round(a, 1) for a in angles]
[35.3, 45.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def approach_angles(axis: np.ndarray) -> tuple[float, float]:
    """The caudal and lateral angles of a needle (the inverse of ``templates.approach``).

    Parameters
    ----------
    axis : numpy.ndarray
        Unit vector (3,) from the tip towards the hub, in a target's frame (x lateral, y
        cranial, z posterior) [-].

    Returns
    -------
    tuple of float
        The hub's angle caudal to the endplate in a lateral view (negative: cranial) and its
        angle lateral to the parasagittal plane in a posterior view (negative: medial; 0 when the
        needle lies in the parasagittal plane or has no caudal tilt) [deg].

    References
    ----------
    .. [1] Tran J, Campisi ES, Agur AMR & Loh E, Pain Med 24 (2023) 488: the angles' definitions.
    """
    d = np.asarray(axis, float)
    caudal = float(np.degrees(np.arctan2(-d[1], d[2])))
    lateral = float(np.degrees(np.arctan2(d[0], -d[1]))) if abs(d[1]) > 1e-9 else 0.0
    return caudal, lateral


@dataclass(frozen=True)
class PatientFrame:
    """A target's frame on a patient's CT: its origin and axes in RAS+ mm (rows: the frame's x
    lateral, y cranial, z posterior, orthonormal; left-handed on the left side, where lateral is
    the patient's left), and the x (m) of the vertebra's mid-sagittal plane in the frame."""

    origin_mm: np.ndarray
    axes: np.ndarray
    midline_x_m: float

    def to_patient(self, points_m: np.ndarray) -> np.ndarray:
        """Points of the frame in the patient's RAS+ millimetres.

        Parameters
        ----------
        points_m : numpy.ndarray
            Points (..., 3) in the target's frame [m].

        Returns
        -------
        numpy.ndarray
            The points (..., 3) in RAS+ [mm].
        """
        return self.origin_mm + (np.asarray(points_m, float) * 1e3) @ self.axes

    def to_frame(self, points_mm: np.ndarray) -> np.ndarray:
        """Points of the patient (RAS+ mm) in the target's frame.

        Parameters
        ----------
        points_mm : numpy.ndarray
            Points (..., 3) in RAS+ [mm].

        Returns
        -------
        numpy.ndarray
            The points (..., 3) in the target's frame [m].
        """
        return ((np.asarray(points_mm, float) - self.origin_mm) @ self.axes.T) * 1e-3

    def affine_mm(self, origin_m: np.ndarray, spacing_m: np.ndarray) -> np.ndarray:
        """The voxel-to-RAS+ affine of a grid laid in the frame (a region's label volume), so its
        fields lie on the patient's CT in a viewer.

        Parameters
        ----------
        origin_m : numpy.ndarray
            Centre of the grid's voxel 0 (3,) in the frame [m].
        spacing_m : numpy.ndarray
            Voxel size along the frame's x, y, z (3,) [m].

        Returns
        -------
        numpy.ndarray
            4 x 4 voxel-to-RAS+ affine [mm] (a negative determinant on the left side).
        """
        out = np.eye(4)
        out[:3, :3] = self.axes.T * (np.asarray(spacing_m, float) * 1e3)
        out[:3, 3] = self.to_patient(np.asarray(origin_m, float))
        return out


def clinical_approach(tip_m: np.ndarray, axis: np.ndarray, entry_m: np.ndarray,
                      midline_x_m: float) -> dict[str, float | str | None]:
    """A needle's approach in a physician's terms: its angles, its depth and where it enters the
    skin (module docstring).

    Parameters
    ----------
    tip_m : numpy.ndarray
        The tip (3,) in the target's frame [m].
    axis : numpy.ndarray
        Unit vector (3,) from the tip towards the hub [-].
    entry_m : numpy.ndarray
        Where the needle meets the skin (3,) [m].
    midline_x_m : float
        The x of the mid-sagittal plane in the frame [m].

    Returns
    -------
    dict
        ``caudal_deg``, ``lateral_deg`` [deg], ``depth_mm``, ``entry_lateral_mm`` (from the
        midline), ``entry_cranial_mm`` (negative: caudal) [mm] and ``entry_cranial_from`` (what
        that offset is measured from).

    Examples
    --------
    >>> d = clinical_approach(np.zeros(3), np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.05]), -0.018)
    >>> d["caudal_deg"], d["depth_mm"], d["entry_lateral_mm"], d["entry_cranial_from"]
    (0.0, 50.0, 18.0, 'the target')
    """
    caudal, lateral = approach_angles(axis)
    ref = np.asarray(tip_m, float)
    entry = np.asarray(entry_m, float)
    return {
        "caudal_deg": round(caudal, 1) + 0.0,  # no -0.0
        "lateral_deg": round(lateral, 1) + 0.0,
        "depth_mm": round(float(np.linalg.norm(entry - tip_m)) * 1e3, 1),
        "entry_lateral_mm": round((float(entry[0]) - midline_x_m) * 1e3, 1),
        "entry_cranial_mm": round(float(entry[1] - ref[1]) * 1e3, 1),
        "entry_cranial_from": "the target",
    }


def approach_text(approach: dict) -> str:
    """A needle's approach (``clinical_approach``, as the plan JSON holds it) in one sentence.

    Parameters
    ----------
    approach : dict
        ``clinical_approach``'s keys and ``skin_reached`` (bool: whether the depth is to the skin).

    Returns
    -------
    str
        The angles, the depth and the skin entry point, rounded to what a needle is placed by.

    Examples
    --------
    >>> approach_text({"caudal_deg": 20.0, "lateral_deg": -5.0, "depth_mm": 51.2, "entry_lateral_mm": 30.1,
    ...                "entry_cranial_mm": -18.0, "entry_cranial_from": "the target", "skin_reached": True})
    '20° caudal, 5° medial; 51 mm deep; skin entry 30 mm lateral of the midline, 18 mm caudal of the target'
    """
    def way(value: float, plus: str, minus: str) -> str:
        return f"{abs(value):.0f}° {plus if value >= 0 else minus}"

    a = approach
    depth = f"{a['depth_mm']:.0f} mm deep"
    if not a["skin_reached"]:
        depth += " to the CT's edge (skin not in it)"
    cranial = a["entry_cranial_mm"]
    along = f"{abs(cranial):.0f} mm {'cranial' if cranial >= 0 else 'caudal'} of {a['entry_cranial_from']}"
    angles = f"{way(a['caudal_deg'], 'caudal', 'cranial')}, {way(a['lateral_deg'], 'lateral', 'medial')}"
    entry = f"skin entry {abs(a['entry_lateral_mm']):.0f} mm lateral of the midline, {along}"
    return f"{angles}; {depth}; {entry}"
