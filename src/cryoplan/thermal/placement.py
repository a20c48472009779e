"""Probes placed in a voxel grid, and their cooled surface rasterised with sub-voxel accuracy.

A placed probe is a solid cylinder of the probe's radius with a flat tip, running from its tip
along ``axis`` (a unit vector from the tip towards the handle) out of the box. The first
``active_length`` from the tip and the tip face are cooled; the shaft beyond is insulated.

Voxels whose centre lies inside a probe are not tissue. Each tissue voxel next to one of them
exchanges heat with the probe through that face, over the distance d from its centre to where the
segment between the two centres enters the probe (Shortley & Weller, J Appl Phys 9 (1938) 334;
Gibou, Fedkiw, Cheng & Kang, J Comput Phys 176 (2002) 205): conduction k A / d in series with
the gas side h_int ``|n_a|`` A, where n_a is the wall normal's component along the face's axis, so
the faces of a staircase together see exactly the wall area and ``sum(h |n_a| A) = h * wall area``.
d and n move continuously with the probe, so the ice ball does not jump when the probe moves by a
fraction of a voxel; only the negligible heat capacity of a voxel whose centre crosses the wall
changes in a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryoplan.cryogen.wall_law import FACE_SHAFT, FACE_SIDE, FACE_TIP
from cryoplan.errors import InputError
from cryoplan.thermal.probe import ProbeModel
from cryoplan.thermal.voxels import VoxelGrid, neighbour

#: Smallest centre-to-wall distance, as a fraction of the voxel size: bounds the conductance of
#: a face whose centre sits on the wall (only the fixed-temperature wall needs it; a gas-cooled
#: wall is limited by h_int anyway). 0.1 changes that one face's resistance by at most 10 % of a
#: cell, against a 10x smaller stable time step.
MIN_WALL_DISTANCE = 0.1


@dataclass(frozen=True)
class PlacedProbe:
    """A probe model at a position (m) and direction (unit vector from the tip to the handle)."""

    model: ProbeModel
    tip: np.ndarray
    axis: np.ndarray
    name: str = "probe"

    @classmethod
    def at(cls, model: ProbeModel, tip, axis, name: str = "probe") -> PlacedProbe:
        """A probe model placed with its tip at ``tip``, pointing along ``axis`` (normalised here).

        Parameters
        ----------
        model : ProbeModel
            The probe.
        tip : array_like, shape (3,)
            Position of the tip [m].
        axis : array_like, shape (3,)
            Direction from the tip to the handle [-], any non-zero length.
        name : str, optional
            Name for messages (default ``"probe"``).

        Returns
        -------
        PlacedProbe
            The placed probe, ``axis`` a unit vector.

        Raises
        ------
        InputError
            When ``axis`` is zero.
        """
        axis = np.asarray(axis, float)
        norm = float(np.linalg.norm(axis))
        if not norm > 0:
            raise InputError(f"{name}.direction", axis.tolist(), "a non-zero vector")
        return cls(model, np.asarray(tip, float), axis / norm, name)

    def axial(self, points: np.ndarray) -> np.ndarray:
        """Distance along the axis from the tip (m) of points (..., 3).

        Parameters
        ----------
        points : numpy.ndarray, shape (..., 3)
            Points [m].

        Returns
        -------
        numpy.ndarray, shape (...)
            Signed distance along the axis [m], positive towards the handle.
        """
        return (points - self.tip) @ self.axis

    def radial(self, points: np.ndarray) -> np.ndarray:
        """Distance from the axis line (m).

        Parameters
        ----------
        points : numpy.ndarray, shape (..., 3)
            Points [m].

        Returns
        -------
        numpy.ndarray, shape (...)
            Distance from the axis line [m].
        """
        w = points - self.tip
        s = w @ self.axis
        return np.linalg.norm(w - s[..., None] * self.axis, axis=-1)

    def inside(self, points: np.ndarray) -> np.ndarray:
        """Which points lie inside the probe (beyond the tip, within its radius).

        Parameters
        ----------
        points : numpy.ndarray, shape (..., 3)
            Points [m].

        Returns
        -------
        numpy.ndarray of bool, shape (...)
            True inside.
        """
        return (self.axial(points) >= 0) & (self.radial(points) <= self.model.radius)


@dataclass(frozen=True)
class ProbeFaces:
    """Cooled faces of all probes, grouped by probe (``start[p]:start[p+1]``).

    cells: flat index of the tissue voxel; g: conductance per unit k centre-to-wall (A / d);
    wall_area: ``|n_a|`` A, the wall area the face stands for; point: where the face meets the wall;
    path: distance along the cryogen's path from the tip's centre (radially over the end face,
    then the probe radius plus the axial distance); kind: FACE_TIP, FACE_SIDE or FACE_SHAFT.
    """

    cells: np.ndarray
    g: np.ndarray
    wall_area: np.ndarray
    point: np.ndarray
    path: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    inside: np.ndarray  # (nx, ny, nz) bool: voxel centre inside some probe

    def of(self, p: int) -> slice:
        """The faces of probe ``p``.

        Parameters
        ----------
        p : int
            Index of the probe.

        Returns
        -------
        slice
            ``start[p]:start[p + 1]`` into the face arrays.
        """
        return slice(int(self.start[p]), int(self.start[p + 1]))


def _entry(probe: PlacedProbe, p0: np.ndarray, step: np.ndarray):
    """Parameter t in [0, 1] where segments p0 -> p0 + step enter the probe solid (inf if they
    do not), and whether the entry is through the side wall (else the tip face)."""
    a, r = probe.axis, probe.model.radius
    w0 = p0 - probe.tip
    s0 = w0 @ a
    ds = step @ a
    w_perp = w0 - s0[:, None] * a
    d_perp = step - ds[:, None] * a
    # side wall: |w_perp + t d_perp|^2 = r^2
    qa = np.einsum("ij,ij->i", d_perp, d_perp)
    qb = 2 * np.einsum("ij,ij->i", w_perp, d_perp)
    qc = np.einsum("ij,ij->i", w_perp, w_perp) - r * r
    with np.errstate(invalid="ignore", divide="ignore"):
        disc = qb * qb - 4 * qa * qc
        t_cyl = np.where(qc <= 0, 0.0, np.where((qa > 0) & (disc >= 0),
                                                (-qb - np.sqrt(np.maximum(disc, 0))) / (2 * qa), np.inf))
        t_cap = np.where(s0 >= 0, 0.0, np.where(ds > 0, -s0 / ds, np.inf))
    t = np.maximum(t_cyl, t_cap)
    t = np.where((t >= 0) & (t <= 1 + 1e-12), np.minimum(t, 1.0), np.inf)
    return t, t_cyl >= t_cap


def rasterise(grid: VoxelGrid, probes: list[PlacedProbe]) -> ProbeFaces:
    """The probes' solid voxels and cooled faces on ``grid`` (raises InputError for a tip
    outside the box or a probe through bone).

    Parameters
    ----------
    grid : VoxelGrid
        The grid (SI).
    probes : list of PlacedProbe
        The probes, positions in the grid's frame [m].

    Returns
    -------
    ProbeFaces
        Cooled faces: voxel, conductance per unit k [m], wall area [m^2], position and path [m],
        kind; and the voxels inside some probe.

    Raises
    ------
    InputError
        For a tip outside the box or a probe through bone.
    """
    axes = [grid.centres(a) for a in range(3)]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    for p in probes:
        _check_placement(grid, p)
    solids = [p.inside(centres) for p in probes]
    for p, solid in zip(probes, solids, strict=True):
        _check_bone(grid, p, solid, centres)
    inside = np.logical_or.reduce(solids) if solids else np.zeros(grid.shape, bool)
    flat = np.arange(grid.n_cells).reshape(grid.shape)
    cells, gs, areas, points, paths, kinds, start = [], [], [], [], [], [], [0]
    for p, solid in zip(probes, solids, strict=True):
        for axis in range(3):
            for sign in (-1, 1):
                # tissue voxel P with its neighbour N = P + sign e_axis inside this probe
                mask = neighbour(solid, axis, sign) & ~inside
                if not mask.any():
                    continue
                p0 = centres[mask]
                step = np.zeros(3)
                step[axis] = sign * grid.spacing[axis]
                t, on_side = _entry(p, p0, np.broadcast_to(step, p0.shape))
                x = p0 + np.minimum(t, 1.0)[:, None] * step
                s = p.axial(x)
                cooled = ~on_side | (s <= p.model.active_length) | p.model.shaft_cooled
                active = np.isfinite(t) & cooled
                w = x - p.tip
                radial = w - s[:, None] * p.axis
                r = np.linalg.norm(radial, axis=1)
                # a tip-face entry on the axis has no radial direction (r = 0): its normal is -axis
                normal = np.where(on_side[:, None], radial / np.where(r > 0, r, 1.0)[:, None], -p.axis)
                area = grid.conductance[axis] * grid.spacing[axis]
                d = np.maximum(t * grid.spacing[axis], MIN_WALL_DISTANCE * grid.spacing[axis])
                cells.append(flat[mask][active])
                gs.append((area / d)[active])
                areas.append((area * np.abs(normal[:, axis]))[active])
                points.append(x[active])
                paths.append(np.where(on_side, p.model.radius + s, r)[active])
                kinds.append(np.where(on_side, np.where(s <= p.model.active_length, FACE_SIDE, FACE_SHAFT),
                                      FACE_TIP)[active])
        start.append(sum(c.size for c in cells))
    empty = np.zeros(0)
    return ProbeFaces(
        cells=np.concatenate(cells).astype(np.int64) if cells else np.zeros(0, np.int64),
        g=np.concatenate(gs) if gs else empty,
        wall_area=np.concatenate(areas) if areas else empty,
        point=np.concatenate(points) if points else np.zeros((0, 3)),
        path=np.concatenate(paths) if paths else empty,
        kind=np.concatenate(kinds).astype(np.int64) if kinds else np.zeros(0, np.int64),
        start=np.array(start, dtype=np.int64),
        inside=inside,
    )


def _check_placement(grid: VoxelGrid, p: PlacedProbe) -> None:
    if not grid.contains(p.tip):
        raise InputError(f"{p.name}.tip_mm", np.round(p.tip * 1e3, 3).tolist(),
                         "a tip inside the simulated volume "
                         f"({np.round(grid.extent_min * 1e3, 2).tolist()} to "
                         f"{np.round(grid.extent_max * 1e3, 2).tolist()} mm)")


def _check_bone(grid: VoxelGrid, p: PlacedProbe, solid: np.ndarray, centres: np.ndarray) -> None:
    """No bone voxel inside the probe's solid (the solver would make it probe): the probe may
    rest on bone, not pass through it."""
    for name in {t.name for t in grid.materials if "bone" in t.name}:
        hits = solid & (grid.material == grid.material_index(name))
        if hits.any():
            pts = centres[hits]
            where = pts[np.argmin(p.axial(pts))]
            raise InputError(f"{p.name}.direction", np.round(p.axis, 4).tolist(),
                             f"a path that does not pass through bone: the probe meets {name} at "
                             f"{np.round(where * 1e3, 2).tolist()} mm")
