"""The QC pictures of a CT's survey: what a physician checks in a minute before planning on it.

A sagittal view through the spine's mid-sagittal plane and a coronal view through the targets,
each with the vertebrae found coloured and named, and one axial view per level through its
targets' bone, with the targets marked ("L3 L": the left target of the L3 medial branch). Every
view is a plane of the patient's RAS+ frame resampled from the CT at ``PIXEL_MM`` (linear for
the Hounsfield units, nearest for the labels), drawn in a bone window with its directions
written on its edges (R/L, A/P, S/I), so no display convention needs to be known.
Nothing identifying the patient is drawn: the titles come from the survey's levels only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.ct.survey import Survey

#: Pixel size of the views (mm) and the most pixels along a side.
PIXEL_MM = 1.0
MOST_PIXELS = 640
#: The bone window (HU): level 300, width 1500.
WINDOW_HU = (-450.0, 1050.0)
#: Half-width (mm) of an axial view about the canal: a lumbar vertebra and its processes.
AXIAL_HALF_MM = 80.0


@dataclass(frozen=True)
class View:
    """One picture: its title and its PNG."""

    title: str
    png: bytes


def _extent(image: CTImage) -> tuple[np.ndarray, np.ndarray]:
    """The RAS+ box (mm) the CT's voxel centres span."""
    n = np.array(image.shape) - 1
    corners = np.array([[i, j, k] for i in (0, n[0]) for j in (0, n[1]) for k in (0, n[2])], float)
    world = image.world_mm(corners)
    return world.min(axis=0), world.max(axis=0)


def _plane(image: CTImage, labels: np.ndarray, fixed: int, at: float, lo: np.ndarray,
           hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """HU and labels on the plane where RAS axis ``fixed`` equals ``at``, over ``lo``..``hi`` of
    the two others (rows: the second free axis, top = its high end; columns: the first)."""
    free = [a for a in range(3) if a != fixed]
    step = max(PIXEL_MM, float(np.max((hi - lo)[free])) / MOST_PIXELS)
    u = np.arange(lo[free[0]], hi[free[0]] + step / 2, step)
    v = np.arange(hi[free[1]], lo[free[1]] - step / 2, -step)
    points = np.zeros((len(v), len(u), 3))
    points[..., fixed] = at
    points[..., free[0]] = u[None, :]
    points[..., free[1]] = v[:, None]
    ijk = image.voxel(points.reshape(-1, 3)).T
    hu = ndi.map_coordinates(np.asarray(image.hu, np.float32), ijk, order=1, cval=-1000.0)
    lab = ndi.map_coordinates(labels, ijk, order=0, cval=0)
    return hu.reshape(len(v), len(u)), lab.reshape(len(v), len(u)), (free[0], free[1])


_DIRECTIONS = (("R", "L"), ("A", "P"), ("S", "I"))  # the +/- end of each RAS axis


def _draw(hu: np.ndarray, lab: np.ndarray, free: tuple[int, int], lo: np.ndarray, hi: np.ndarray,
          marks: list[tuple[str, np.ndarray]], names: list[tuple[str, np.ndarray]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b = free
    extent = (lo[a], hi[a], lo[b], hi[b])
    height = 5.0 * (hi[b] - lo[b]) / max(hi[a] - lo[a], 1.0)
    fig, ax = plt.subplots(figsize=(5.0, min(max(height, 2.5), 9.0)))
    try:
        ax.imshow(hu, cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], extent=extent, origin="upper",
                  interpolation="nearest")
        overlay = np.ma.masked_equal(lab, 0)
        if overlay.count():
            # the n-th vertebra from the head in tab10's n-th colour, as the exported colour table
            ax.imshow((overlay - 1) % 10, cmap="tab10", vmin=-0.5, vmax=9.5, alpha=0.35, extent=extent,
                      origin="upper", interpolation="nearest")
        for text, p in names:
            ax.text(p[a], p[b], text, color="yellow", fontsize=9, ha="center", va="center", weight="bold")
        for text, p in marks:
            ax.plot(p[a], p[b], marker="+", color="red", markersize=10, mew=2)
            ax.annotate(text, (p[a], p[b]), xytext=(4, 4), textcoords="offset points", color="red",
                        fontsize=8, bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.7, "lw": 0})
        # the patient's right on the picture's left (the radiological convention), and anterior
        # on the left of a sagittal view (as a lateral radiograph is hung)
        ax.invert_xaxis()
        plus, minus = _DIRECTIONS[a]
        ax.set_xlabel(f"{plus} <- RAS {'xyz'[a]} (mm) -> {minus}", fontsize=8)
        ax.set_ylabel(f"{_DIRECTIONS[b][1]} <- RAS {'xyz'[b]} (mm) -> {_DIRECTIONS[b][0]}", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=7)
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100)
    finally:
        plt.close(fig)
    return buf.getvalue()


def qc_views(image: CTImage, found: Survey) -> list[View]:
    """The survey's QC pictures (module docstring).

    Parameters
    ----------
    image : CTImage
        The CT surveyed (Hounsfield units, voxel-to-RAS+ affine in mm).
    found : Survey
        Its survey (``anatomy.ct.survey.survey``), on the same grid.

    Returns
    -------
    list of View
        The sagittal and coronal views, then one axial view per level with targets.
    """
    lo, hi = _extent(image)
    labels = np.asarray(found.vertebrae.labels, np.int16)
    named = {v.label: v for v in found.vertebrae.vertebrae}
    names = [(v.name or f"#{v.label}", v.body_centroid_mm) for v in named.values()]
    targets = [(f"{lv.name} {t.side[0].upper()}", t.point_mm) for lv in found.levels for t in lv.targets]
    canal = np.median([v.canal_centre_mm for v in named.values()], axis=0) if named else (lo + hi) / 2
    coronal_y = float(np.mean([p[1] for _, p in targets])) if targets else float(canal[1])
    views = []
    for fixed, at, what in ((0, float(canal[0]), "Sagittal view through the spinal canal"),
                            (1, coronal_y, "Coronal view through the targets")):
        hu, lab, free = _plane(image, labels, fixed, at, lo, hi)
        views.append(View(what, _draw(hu, lab, free, lo, hi, targets, names, what)))
    for lv in found.levels:
        if not lv.targets:
            continue
        z = float(np.mean([t.point_mm[2] for t in lv.targets]))
        box_lo, box_hi = lo.copy(), hi.copy()
        box_lo[:2] = np.maximum(lo[:2], canal[:2] - AXIAL_HALF_MM)
        box_hi[:2] = np.minimum(hi[:2], canal[:2] + AXIAL_HALF_MM)
        bone = lv.targets[0].bone
        title = f"Axial view through {bone}: the {lv.name} medial branch's targets"
        hu, lab, free = _plane(image, labels, 2, z, box_lo, box_hi)
        marks = [(f"{lv.name} {t.side[0].upper()}", t.point_mm) for t in lv.targets]
        views.append(View(title, _draw(hu, lab, free, box_lo, box_hi, marks, [], title)))
    return views
