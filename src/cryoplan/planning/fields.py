"""The coldest-temperature field of a 3D run, sampled where a moved probe would put it.

A placement error, a tilt within the approach cone or a tip a few millimetres along the nerve
moves the probe, and with it its ice ball, against the anatomy. The planner samples one run's
field at the points the anatomy would occupy in the moved probe's frame (a rigid motion: a
rotation about the tip and a translation) instead of simulating every placement:

    T_moved(x) = T_run(R^T (x - o - c) + a)

with ``a`` the run's tip, ``c`` the moved tip, ``R`` the rotation taking the run's needle axis to
the moved one (about their common normal) and ``o`` a placement error. This neglects how bone and
tissue boundaries near the probe reshape the ice ball when it moves; the planner re-simulates
what it chooses and reports the difference (``search``).

Two probes, each with its own placement error, are two such moved fields: where both cool a
point, their ice balls merge and the point gets colder than either would make it. The pair's own
run at the nominal placement gives that excess, ``D(x) = T_pair(x) - min(T_1(x), T_2(x))``,
which moves with the pair's mean displacement:

    T(x) = min(T_1(x - o_1), T_2(x - o_2)) + D(x - (o_1 + o_2) / 2)

exact at the nominal placement (an assumption elsewhere; without a pair run D = 0, the coldest
of the two, which underestimates the cold where they merge).

Fields are sampled trilinearly between voxel centres; a probe's own voxels carry the nearest
tissue voxel's value (as ``injury.sampling.VoxelSampler``), points beyond the outer centres the
edge value.

>>> import numpy as np
>>> f = Field(np.arange(27.0).reshape(3, 3, 3), np.zeros(3), np.ones(3))
>>> m = Moved(f, Rigid.identity(np.zeros(3)))
>>> m.sample(np.array([[1.0, 1.0, 1.0], [0.5, 0.0, 0.0]]), np.zeros((1, 3))).tolist()
[[13.0, 4.5]]
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np
from numba import njit, prange
from scipy import ndimage
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class Field:
    """Coldest temperature (K) on voxel centres ``origin + index * spacing`` (m), probe voxels
    (``tissue`` False) filled with their nearest tissue voxel's value."""

    values: np.ndarray
    origin: np.ndarray
    spacing: np.ndarray
    tissue: np.ndarray | None = None
    # per limit (K): the cold points and their k-d tree, for every placement screened from this field
    _cold: dict = dataclass_field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, history, grid) -> Field:
        """The coldest temperature of a run's thermal history on its grid."""
        nearest = ndimage.distance_transform_edt(~history.tissue, return_distances=False, return_indices=True)
        filled = np.ascontiguousarray(history.min_temperature[tuple(nearest)])
        return cls(filled, np.asarray(grid.origin, float), np.asarray(grid.spacing, float), history.tissue)

    def cold_points(self, limit_k: float) -> np.ndarray:
        """Centres (n, 3) of the tissue voxels colder than ``limit_k`` (kept: read only)."""
        if limit_k not in self._cold:
            cold = self.values < limit_k
            if self.tissue is not None:
                cold &= self.tissue
            points = self.origin + np.argwhere(cold) * self.spacing
            points.setflags(write=False)
            self._cold[limit_k] = (points, None)
        return self._cold[limit_k][0]

    def cold_tree(self, limit_k: float) -> cKDTree:
        """A k-d tree of ``cold_points(limit_k)`` (kept)."""
        points = self.cold_points(limit_k)
        tree = self._cold[limit_k][1]
        if tree is None:
            tree = cKDTree(points)
            self._cold[limit_k] = (points, tree)
        return tree


def rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation taking unit vector ``a`` to ``b`` about their common normal (Rodrigues).

    >>> np.round(rotation(np.array([0.0, 0, 1]), np.array([1.0, 0, 0])) @ [0, 0, 1], 12).tolist()
    [1.0, 0.0, 0.0]
    """
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        if c > 0:
            return np.eye(3)
        # opposite: a half turn about any normal
        n = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        n /= np.linalg.norm(n)
        return 2 * np.outer(n, n) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


@dataclass(frozen=True)
class Rigid:
    """The map from a moved probe's frame back into a run's frame: y = inverse (x - tip) + anchor."""

    inverse: np.ndarray  # R^T (3, 3)
    tip: np.ndarray  # the moved tip (m)
    anchor: np.ndarray  # the run's tip (m)

    @classmethod
    def identity(cls, tip: np.ndarray) -> Rigid:
        return cls(np.eye(3), np.asarray(tip, float), np.asarray(tip, float))

    @classmethod
    def between(cls, run_tip, run_axis, tip, axis) -> Rigid:
        """Moving a probe from (``run_tip``, ``run_axis``) to (``tip``, ``axis``)."""
        r = rotation(np.asarray(run_axis, float), np.asarray(axis, float))
        return cls(np.ascontiguousarray(r.T), np.asarray(tip, float), np.asarray(run_tip, float))

    def to_run(self, x: np.ndarray) -> np.ndarray:
        return (x - self.tip) @ self.inverse.T + self.anchor

    def from_run(self, y: np.ndarray) -> np.ndarray:
        return (y - self.anchor) @ self.inverse + self.tip


@njit(cache=True, parallel=True)
def _sample(values, origin, spacing, points, offsets, inv, tip, anchor, out):
    """out[s, p] = values at inv (points[p] - offsets[s] - tip) + anchor, trilinear."""
    nx, ny, nz = values.shape
    for s in prange(offsets.shape[0]):
        for p in range(points.shape[0]):
            w0 = points[p, 0] - offsets[s, 0] - tip[0]
            w1 = points[p, 1] - offsets[s, 1] - tip[1]
            w2 = points[p, 2] - offsets[s, 2] - tip[2]
            y0 = inv[0, 0] * w0 + inv[0, 1] * w1 + inv[0, 2] * w2 + anchor[0]
            y1 = inv[1, 0] * w0 + inv[1, 1] * w1 + inv[1, 2] * w2 + anchor[1]
            y2 = inv[2, 0] * w0 + inv[2, 1] * w1 + inv[2, 2] * w2 + anchor[2]
            fx = min(max((y0 - origin[0]) / spacing[0], 0.0), nx - 1.0)
            fy = min(max((y1 - origin[1]) / spacing[1], 0.0), ny - 1.0)
            fz = min(max((y2 - origin[2]) / spacing[2], 0.0), nz - 1.0)
            i, j, k = min(int(fx), nx - 2), min(int(fy), ny - 2), min(int(fz), nz - 2)
            a, b, c = fx - i, fy - j, fz - k
            v00 = values[i, j, k] * (1 - c) + values[i, j, k + 1] * c
            v01 = values[i, j + 1, k] * (1 - c) + values[i, j + 1, k + 1] * c
            v10 = values[i + 1, j, k] * (1 - c) + values[i + 1, j, k + 1] * c
            v11 = values[i + 1, j + 1, k] * (1 - c) + values[i + 1, j + 1, k + 1] * c
            out[s, p] = (v00 * (1 - b) + v01 * b) * (1 - a) + (v10 * (1 - b) + v11 * b) * a


@dataclass(frozen=True)
class Moved:
    """A run's field carried by a rigid motion (a moved probe), with per-sample placement errors."""

    field: Field
    motion: Rigid

    def sample(self, points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Temperatures (n_samples, n_points) at ``points`` (n, 3) with the probe displaced by
        each row of ``offsets`` (n_samples, 3)."""
        f, m = self.field, self.motion
        out = np.empty((offsets.shape[0], points.shape[0]))
        _sample(f.values, f.origin, f.spacing, np.ascontiguousarray(points, dtype=float),
                np.ascontiguousarray(offsets, dtype=float), m.inverse, m.tip, m.anchor, out)
        return out


@dataclass(frozen=True)
class Model:
    """The coldest temperature a plan's probes leave, under per-probe placement errors: one
    moved field per probe, and the excess cold of their merging from the plan's own run (None:
    not simulated together)."""

    probes: tuple[Moved, ...]
    together: Moved | None = None

    def sample(self, points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Temperatures (n_samples, n_points); ``offsets`` is (n_probes, n_samples, 3)."""
        if len(self.probes) == 1:
            return self.probes[0].sample(points, offsets[0])
        coldest = np.minimum.reduce([m.sample(points, o) for m, o in zip(self.probes, offsets, strict=False)])
        if self.together is None:
            return coldest
        mean = offsets[:len(self.probes)].mean(axis=0)
        apart = np.minimum.reduce([m.sample(points, mean) for m in self.probes])
        return coldest + self.together.sample(points, mean) - apart
