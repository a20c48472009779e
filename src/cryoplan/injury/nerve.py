"""A nerve's path and cross-section near the probe.

Coordinates are in metres relative to the probe tip: z runs along the probe axis from the tip
towards the handle (the active segment spans 0 <= z <= active length), x and y across it;
``Nerve.placed`` moves a nerve given so into a 3D box's frame.
In an axisymmetric run the field depends only on r = sqrt(x^2 + y^2) and z, so a nerve is a
passive line that samples it: the nerve's own properties, and any shadowing by bone or vessels,
do not change the ice ball. In a 3D run the nerve also samples the field; its tissue is whatever
the label volume puts there.

>>> n = straight_nerve("mb", 1e-3, distance=2e-3, orientation="perpendicular", offset=3e-3,
...                    length=10e-3)
>>> n.points[0].round(4).tolist(), n.points[-1].round(4).tolist()
([0.002, -0.005, 0.003], [0.002, 0.005, 0.003])
>>> round(n.length * 1e3, 3)
10.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryoplan.errors import InputError


@dataclass(frozen=True)
class Nerve:
    """A nerve of ``diameter`` (m) along a polyline ``points`` (n x 3, m) that runs from the
    spine outwards; ``end_organ_m`` is the arc length from the first point to the end organ its
    pain fibres serve (None: not given, the anatomy's default regrowth distance applies)."""

    name: str
    diameter: float
    points: np.ndarray
    end_organ_m: float | None = None

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2:
            raise InputError(f"nerve[{self.name}].points_mm", pts.tolist(), "two or more [x, y, z] points")
        if not self.diameter > 0:
            raise InputError(f"nerve[{self.name}].diameter_mm", self.diameter * 1e3, "a number > 0")
        if np.any(np.linalg.norm(np.diff(pts, axis=0), axis=1) == 0):
            raise InputError(f"nerve[{self.name}].points_mm", (pts * 1e3).tolist(),
                             "points without repeats (each segment needs a length)")

    @property
    def length(self) -> float:
        """Length of the nerve's path, the sum of its segments.

        Returns
        -------
        float
            Arc length [m].
        """
        return float(np.linalg.norm(np.diff(self.points, axis=0), axis=1).sum())

    def stations(self, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points every ``step`` (or closer) along the path: (arc length s, centre, unit tangent).

        Parameters
        ----------
        step : float
            Largest spacing of the stations [m].

        Returns
        -------
        s : numpy.ndarray, shape (n,)
            Arc length of each station from the first point [m].
        centres : numpy.ndarray, shape (n, 3)
            Station positions [m].
        tangents : numpy.ndarray, shape (n, 3)
            Unit tangent of the path at each station [-].

        Examples
        --------
        >>> n = straight_nerve("mb", 1e-3, 2e-3, "perpendicular", 3e-3, 10e-3)
        >>> len(n.stations(1e-3)[0])
        11
        """
        seg = np.diff(self.points, axis=0)
        seg_len = np.linalg.norm(seg, axis=1)
        s_knots = np.concatenate([[0.0], np.cumsum(seg_len)])
        s = np.linspace(0.0, s_knots[-1], max(2, int(np.ceil(s_knots[-1] / step)) + 1))
        k = np.clip(np.searchsorted(s_knots, s, side="right") - 1, 0, len(seg) - 1)
        frac = (s - s_knots[k]) / seg_len[k]
        centres = self.points[k] + frac[:, None] * seg[k]
        tangents = seg[k] / seg_len[k, None]
        return s, centres, tangents

    def placed(self, tip: np.ndarray, axis: np.ndarray) -> Nerve:
        """The nerve moved from the probe's frame (tip at the origin, probe along +z) into a
        frame where the tip is at ``tip`` and the probe runs along the unit vector ``axis``
        (the rotation taking z to ``axis`` about their common normal, Rodrigues' formula).

        Parameters
        ----------
        tip : numpy.ndarray, shape (3,)
            Position of the probe tip in the new frame [m].
        axis : numpy.ndarray, shape (3,)
            Direction of the probe (tip towards handle) in the new frame [-]; normalised here.

        Returns
        -------
        Nerve
            The same nerve, points in the new frame [m].
        """
        z = np.array([0.0, 0.0, 1.0])
        a = np.asarray(axis, float) / np.linalg.norm(axis)
        v, c = np.cross(z, a), float(z @ a)
        if np.linalg.norm(v) < 1e-12:
            rot = np.diag([1.0, 1.0, 1.0]) if c > 0 else np.diag([1.0, -1.0, -1.0])
        else:
            k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
            rot = np.eye(3) + k + k @ k / (1.0 + c)
        return Nerve(self.name, self.diameter, self.points @ rot.T + np.asarray(tip, float), self.end_organ_m)

    def regrowth_distance(self, lesion_arc_m: float) -> float | None:
        """Distance from a lesion at ``lesion_arc_m`` along the path to the end organ (m; None
        without an end organ; 0 for a lesion beyond it).

        Parameters
        ----------
        lesion_arc_m : float
            Arc length of the lesion from the first point [m].

        Returns
        -------
        float or None
            Regrowth distance [m], or None without an end organ.

        Examples
        --------
        >>> straight_nerve("mb", 1e-3, 2e-3, "parallel", 0.0, 10e-3, end_organ=0.02).regrowth_distance(0.005)
        0.015
        """
        return None if self.end_organ_m is None else max(self.end_organ_m - lesion_arc_m, 0.0)

    def cross_sections(self, step: float, ring: int = 8, extra_radius: float = 0.0) -> tuple[
            np.ndarray, np.ndarray]:
        """Arc lengths and, per station, the centre and ``ring`` points on the nerve's edge
        (radius diameter/2 + extra_radius) in the plane normal to the path: (s, pts[n, ring+1, 3]).

        Parameters
        ----------
        step : float
            Largest spacing of the stations [m].
        ring : int, optional
            Number of points on each cross-section's edge (default 8).
        extra_radius : float, optional
            Added to the nerve's radius [m] (default 0).

        Returns
        -------
        s : numpy.ndarray, shape (n,)
            Arc length of each station [m].
        pts : numpy.ndarray, shape (n, ring + 1, 3)
            Centre, then the edge points, of each cross-section [m].
        """
        s, centres, tangents = self.stations(step)
        # Two unit vectors normal to each tangent.
        helper = np.where(np.abs(tangents[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
        u = np.cross(tangents, helper)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        v = np.cross(tangents, u)
        angles = 2 * np.pi * np.arange(ring) / ring
        rad = self.diameter / 2 + extra_radius
        edge = centres[:, None, :] + rad * (np.cos(angles)[None, :, None] * u[:, None, :]
                                            + np.sin(angles)[None, :, None] * v[:, None, :])
        return s, np.concatenate([centres[:, None, :], edge], axis=1)


def straight_nerve(name: str, diameter: float, distance: float, orientation: str, offset: float,
                   length: float, end_organ: float | None = None) -> Nerve:
    """A straight nerve at ``distance`` from the probe axis (centreline to axis), crossing it
    (``perpendicular``, along y at height z = offset) or running beside it (``parallel``, centred
    at z = offset).

    Parameters
    ----------
    name : str
        The nerve's name.
    diameter : float
        Nerve diameter [m].
    distance : float
        Distance from the probe axis to the nerve's centreline [m].
    orientation : {'perpendicular', 'parallel'}
        Crossing the probe axis or beside it.
    offset : float
        Height along the probe axis from the tip [m].
    length : float
        Length of the nerve [m].
    end_organ : float or None, optional
        Arc length from the first point to the end organ [m]; None (default) for the anatomy's
        default regrowth distance.

    Returns
    -------
    Nerve
        A two-point nerve, points in the probe's frame [m].

    Raises
    ------
    InputError
        When ``orientation`` is neither.
    """
    if orientation == "perpendicular":
        pts = [[distance, -length / 2, offset], [distance, length / 2, offset]]
    elif orientation == "parallel":
        pts = [[distance, 0.0, offset - length / 2], [distance, 0.0, offset + length / 2]]
    else:
        raise InputError(f"nerve[{name}].orientation", orientation, "perpendicular or parallel")
    return Nerve(name, diameter, np.array(pts), end_organ)
