"""A synthetic lumbar CT whose truth is known: the parametric vertebra of
``cryoplan.anatomy.templates`` (its transverse process, superior articular process, pedicle and
lamina, mirrored to both sides) with a vertebral body, rasterised into Hounsfield units with
noise, tilted by a few degrees and stored with permuted, flipped axes.

Frame of the phantom (mm): RAS+ with the canal's centre of the middle vertebra at the origin. A
template's frame (x lateral from its target, y cranial, z posterior; the midline at
x = -midline_mm, the dural sac's centre at z = -dural_sac_anterior_mm) maps to it by
RAS x = side * (x + midline_mm), RAS y = -(z + dural_sac_anterior_mm), RAS z = y + level offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from cryoplan.anatomy import templates
from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.labels import anatomy_data

TP, SAP, PEDICLE, LAMINA, BODY, CANAL = 1, 2, 3, 4, 5, 6
PARTS = (TP, SAP, PEDICLE, LAMINA)  # the order _lumbar_bones paints its boxes in
HU = {0: 45.0, TP: 400.0, SAP: 400.0, PEDICLE: 400.0, LAMINA: 400.0, BODY: 130.0, CANAL: 15.0}
CORTEX_HU = 500.0
#: Where the room's air begins behind the canal's centre (mm).
SKIN_Y_MM = 60.0


class _Recorder:
    """Stands in for the template's painter: keeps the boxes ``_lumbar_bones`` paints."""

    def __init__(self):
        self.boxes: list[tuple[np.ndarray, np.ndarray]] = []

    def box(self, label, lo, hi):
        self.boxes.append((np.asarray(lo, float), np.asarray(hi, float)))


@dataclass(frozen=True)
class Phantom:
    image: CTImage
    parts: np.ndarray  # the part labels above, per vertebra: level * 10 + part (level 1 = top)
    side: np.ndarray  # +1 right, -1 left, 0 midline
    levels: tuple[str, ...]
    rotation: np.ndarray  # the phantom's frame -> RAS+: world = point @ rotation.T

    def world(self, level: str, side: int, template_mm: np.ndarray) -> np.ndarray:
        """Points of a level's template frame (x lateral, y cranial, z posterior; mm) in RAS+ mm
        (the mapping in the module's docstring, then the tilt)."""
        d = anatomy_data()["lumbar"]
        q = np.atleast_2d(np.asarray(template_mm, float))
        dz = d["level_spacing_mm"] * ((len(self.levels) - 1) / 2 - list(self.levels).index(level))
        p = np.column_stack([side * (q[:, 0] + d["midline_mm"]), -(q[:, 2] + d["dural_sac_anterior_mm"]),
                             q[:, 1] + dz])
        return p @ self.rotation.T

    def skin_y(self) -> float:
        """The phantom's skin plane (its frame's y, mm): air behind it."""
        return -SKIN_Y_MM


def template_boxes() -> list[tuple[np.ndarray, np.ndarray]]:
    d = anatomy_data()["lumbar"]
    rec = _Recorder()
    templates._lumbar_bones(rec, d, 0.0, False)
    return rec.boxes


def spine_phantom(spacing_mm: float | tuple[float, float, float] = 1.0,
                  tilt_deg: tuple[float, float] = (4.0, 3.0),
                  noise_hu: float = 15.0, seed: int = 3, levels: tuple[str, ...] = ("L2", "L3", "L4"),
                  lo_mm: tuple[float, float, float] = (-70.0, -70.0, -65.0),
                  hi_mm: tuple[float, float, float] = (70.0, 50.0, 65.0)) -> Phantom:
    """Vertebrae (``levels``, top first) 37 mm apart around z = 0, tilted by ``tilt_deg`` (about
    the left-right axis, then the antero-posterior one), with Gaussian noise of ``noise_hu``, on
    the box ``lo_mm``..``hi_mm`` (RAS+ mm) at ``spacing_mm``; built slab by slab along z so a
    clinical-size volume fits in memory."""
    d = anatomy_data()["lumbar"]
    mid, sac_front = d["midline_mm"], d["dural_sac_anterior_mm"]
    sac_r, pitch = d["dural_sac_radius_mm"], d["level_spacing_mm"]
    spacing = np.broadcast_to(np.asarray(spacing_mm, float), (3,))
    lo, hi = np.asarray(lo_mm, float), np.asarray(hi_mm, float)
    n = np.round((hi - lo) / spacing).astype(int)
    axes = [lo[a] + spacing[a] * (np.arange(n[a]) + 0.5) for a in range(3)]
    a, b = np.radians(tilt_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    rotation = rz @ rx
    parts = np.zeros(n, np.int16)
    side = np.zeros(n, np.int8)
    hu = np.full(n, HU[0], np.float32)
    boxes = template_boxes()
    centre = (len(levels) - 1) / 2
    chunk = max(1, int(4e6 // (n[0] * n[1])))
    for k0 in range(0, n[2], chunk):
        ks = slice(k0, min(k0 + chunk, n[2]))
        world = np.stack(np.meshgrid(axes[0], axes[1], axes[2][ks], indexing="ij"), axis=-1)
        p = world @ rotation  # the phantom's own frame (rotation.T applied to each point)
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        part = np.zeros(x.shape, np.int16)
        for k, _level in enumerate(levels):
            dz = pitch * (centre - k)  # the top level first
            tx = np.abs(x) - mid  # the template's x on each side
            ty = z - dz
            tz = -y - sac_front
            # the vertebral body: an elliptic cylinder in front of the canal, 27 mm high
            body = (((x / 22.0) ** 2 + ((y - sac_r - 15.0) / 15.0) ** 2) <= 1.0) & (ty >= -22.0) & (ty <= 5.0)
            part[body] = 10 * (k + 1) + BODY
            for label, (blo, bhi) in zip(PARTS, boxes, strict=True):
                blo, bhi = blo.copy(), bhi.copy()
                blo[0] = max(blo[0], -mid)  # this side of the midline only (mirrored for the other)
                if label == PEDICLE:
                    blo[2] = -sac_front - sac_r - 2.0  # into the body's back, not through it
                inside = ((tx >= blo[0]) & (tx <= bhi[0]) & (ty >= blo[1]) & (ty <= bhi[1])
                          & (tz >= blo[2]) & (tz <= bhi[2]))
                part[inside] = 10 * (k + 1) + label
        part[(np.hypot(x, y) <= sac_r) & (part == 0)] = CANAL
        value = np.full(x.shape, HU[0], np.float32)
        for label in np.unique(part):
            if label:
                value[part == label] = HU[CANAL] if label == CANAL else HU[int(label) % 10]
        value[y < -45.0] = -100.0  # subcutaneous fat
        value[y < -58.0] = 30.0  # skin
        value[y < -SKIN_Y_MM] = -1000.0  # the room's air
        parts[:, :, ks], side[:, :, ks], hu[:, :, ks] = part, np.sign(x), value
    # the body's cortex: 2 mm of dense bone around its trabecular inside
    body = (parts % 10 == BODY) & (parts > 10)
    shell = body & ~ndi.binary_erosion(body, iterations=max(1, int(round(2.0 / spacing.min()))))
    hu[shell] = CORTEX_HU
    rng = np.random.default_rng(seed)
    for k0 in range(0, n[2], chunk):
        hu[:, :, k0:k0 + chunk] += rng.normal(0.0, noise_hu, hu[:, :, k0:k0 + chunk].shape).astype(np.float32)
    # store it as a scanner might: axes permuted (P, I, R like the TPTBox sample) and flipped
    affine = np.eye(4)
    affine[:3, :3] = np.diag(spacing)
    affine[:3, 3] = lo + spacing / 2
    order = (1, 2, 0)
    hu_s = np.flip(np.transpose(hu, order), axis=(0, 1))
    parts_s = np.flip(np.transpose(parts, order), axis=(0, 1))
    side_s = np.flip(np.transpose(side, order), axis=(0, 1))
    perm = affine[:, list(order) + [3]]
    for ax in (0, 1):
        length = hu_s.shape[ax] - 1
        perm[:3, 3] = perm[:3, 3] + perm[:3, ax] * length
        perm[:3, ax] = -perm[:3, ax]
    image = CTImage(np.ascontiguousarray(hu_s), perm, "synthetic lumbar CT")
    return Phantom(image, np.ascontiguousarray(parts_s), np.ascontiguousarray(side_s), levels, rotation)


def junction_truth(parts: np.ndarray, side: np.ndarray, image: CTImage, level: int, sign: int) -> np.ndarray:
    """The centroid (RAS+ mm) of the TP voxels touching SAP voxels of one vertebra's side: the
    same definition as on the TPTBox sample."""
    tp = (parts == 10 * level + TP) & (side == sign)
    sap = (parts == 10 * level + SAP) & (side == sign)
    touch = tp & ndi.binary_dilation(sap, np.ones((3, 3, 3), bool))
    return image.world_mm(np.argwhere(touch)).mean(axis=0)
