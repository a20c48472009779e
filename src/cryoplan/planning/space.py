"""What the planner searches over: probe directions in the approach cone, freeze protocols in
order of total freezing time, and the samples of needle placement error it integrates over
(their spread: ``cryoplan.anatomy.placement_error``).

>>> d = directions(np.array([0.0, 0.0, 1.0]), rings_deg=[20.0], per_ring=4)
>>> len(d), [round(float(np.degrees(np.arccos(v[2]))), 1) for v in d]
(5, [0.0, 20.0, 20.0, 20.0, 20.0])
>>> [(c, f) for c, f, _ in protocols([60, 90], [1, 2], thaw=30, observe=60)]
[(1, 60.0), (1, 90.0), (2, 60.0), (2, 90.0)]
"""

from __future__ import annotations

import math

import numpy as np

from cryoplan.protocol import Protocol
from cryoplan.protocol import cycles as freeze_thaw

#: Bounds of a probe moved by hand in the web planner's 3D view (``adjust``): the tip's offset
#: per axis (mm) and the needle's tilt about the tip (degrees).
MAX_OFFSET_MM = 10.0
MAX_TILT_DEG = 30.0


def _normal_pair(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors normal to ``axis`` and to each other (the first in the x-z plane when it can)."""
    helper = np.array([0.0, 1.0, 0.0]) if abs(axis[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, axis)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


def directions(axis: np.ndarray, rings_deg: list[float], per_ring: int) -> list[np.ndarray]:
    """The approach axis, then ``per_ring`` directions tilted by each ring's angle around it."""
    axis = axis / np.linalg.norm(axis)
    u, v = _normal_pair(axis)
    out = [axis]
    for ring in rings_deg:
        if ring <= 0:
            continue
        tilt = math.radians(ring)
        for k in range(per_ring):
            phi = 2 * math.pi * k / per_ring
            out.append(math.cos(tilt) * axis + math.sin(tilt) * (math.cos(phi) * u + math.sin(phi) * v))
    return out


def protocols(
    freeze_seconds: list[float], cycles: list[int], thaw: float, observe: float
) -> list[tuple[int, float, Protocol]]:
    """(cycles, freeze s, protocol) by total freezing time, then fewer cycles. Each cycle is a
    freeze and a passive thaw; the last thaw is ``observe`` long, so the cold that keeps spreading
    after the gas stops is followed."""
    out = []
    for n in sorted(set(cycles)):
        for f in sorted(set(float(x) for x in freeze_seconds)):
            out.append((n, f, Protocol.of(freeze_thaw(n, f, thaw, observe))))
    return sorted(out, key=lambda x: (x[0] * x[1], x[0]))


def placement_offsets(axis: np.ndarray, sigma: float, n: int, seed: int | list[int]) -> np.ndarray:
    """``n`` tip offsets (n, 3) in the plane normal to the approach axis (the needles come in
    within a cone around it), the first one zero (the nominal placement): the tip is advanced
    until it touches bone, so the error along the needle is taken up by the bone
    (data/anatomy.toml [placement]). Each probe of a plan draws its own from its own ``seed``."""
    rng = np.random.default_rng(seed)
    u, v = _normal_pair(axis / np.linalg.norm(axis))
    ab = rng.standard_normal((n, 2)) * sigma
    ab[0] = 0.0
    return ab[:, :1] * u + ab[:, 1:] * v
