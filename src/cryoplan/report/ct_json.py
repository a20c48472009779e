"""A CT survey's JSON (``cryoplan ct``): the frame, the levels with their targets, the warnings.

Coordinates are RAS+ millimetres (``"frame": "RAS"``): the scanner's patient frame as nibabel
and 3D Slicer use it (+x the patient's right, +y anterior, +z superior). Nothing identifying the
patient is in it: ``ct`` says what was read from the image's geometry and modality alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cryoplan import __version__
from cryoplan.anatomy.ct.survey import Level, Survey, Target


def _mm(point: np.ndarray) -> list[float]:
    return [round(float(x), 2) for x in point]


def _target(t: Target) -> dict[str, Any]:
    out = {"side": t.side, "nerve": t.nerve, "bone": t.bone, "point_mm": _mm(t.point_mm),
           "surface_mm": _mm(t.surface_mm), "confidence": round(t.confidence, 2)}
    if t.moved_mm is not None:
        out["moved_by_hand_mm"] = _mm(t.moved_mm)
    return out


def _level(lv: Level) -> dict[str, Any]:
    confidence = lv.confidence
    return {"name": lv.name, "centre_mm": _mm(lv.centre_mm), "complete": lv.complete,
            "targets": [_target(t) for t in lv.targets],
            "confidence": None if confidence is None else round(confidence, 2)}


def ct_json(survey: Survey) -> dict[str, Any]:
    """The survey as plain data (what ``cryoplan ct --json`` writes)."""
    return {"kind": "ct", "cryoplan_version": __version__, "ct": survey.description, "frame": "RAS",
            "levels": [_level(lv) for lv in survey.levels],
            "warnings": [w.as_json() for w in survey.warnings]}
