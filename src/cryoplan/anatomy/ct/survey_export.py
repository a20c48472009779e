"""A CT's survey as files for 3D Slicer (``cryoplan ct --export DIR``): the vertebrae and the
tissue classes as label volumes on the CT's own grid (NIfTI, the CT's affine) with their colour
tables, and the targets as a markups file, so each level and target can be checked over the CT.

* ``vertebrae.nii.gz`` with ``vertebrae.ctbl``: each named vertebra by its level's number in
  ``vertebrae.LEVELS`` (C1 = 1 ... L5 = 24, the sacrum 25), an unnamed one as 100 + its label;
* ``tissues.nii.gz`` with ``tissues.ctbl``: the classes of ``tissues`` (0 air);
* ``targets.mrk.json``: a point list in RAS+ mm (Slicer's markups JSON, schema 1.0.0), each point
  labelled with its nerve and side, its description the bone it lies on and the confidence.

A Slicer colour table is a text file of ``index name R G B A`` lines (0-255).

>>> colour_table({1: "L4"}).splitlines()[1:3]
['0 background 0 0 0 0', '1 L4 31 119 180 255']
"""

from __future__ import annotations

import json

import numpy as np

from cryoplan.anatomy.ct.survey import Survey
from cryoplan.anatomy.ct.tissues import TABLE
from cryoplan.anatomy.ct.vertebrae import LEVELS
from cryoplan.anatomy.labels import nifti_bytes

#: Colours of the labels (matplotlib's tab10, as the QC pictures colour the vertebrae).
TAB10 = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
         (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
MARKUPS_SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
                  "Resources/Schema/markups-schema-v1.0.0.json#")


def colour_table(names: dict[int, str]) -> str:
    """A Slicer colour table of labels and their names.

    Parameters
    ----------
    names : dict of int to str
        Each label (> 0) and its name (spaces become underscores).

    Returns
    -------
    str
        The table's text, background first.
    """
    lines = ["# cryoplan colour table: index name R G B A", "0 background 0 0 0 0"]
    for k, (label, name) in enumerate(sorted(names.items())):
        r, g, b = TAB10[k % len(TAB10)]
        lines.append(f"{label} {name.replace(' ', '_')} {r} {g} {b} 255")
    return "\n".join(lines) + "\n"


def vertebra_labels(found: Survey) -> tuple[np.ndarray, dict[int, str]]:
    """The vertebrae as levels' numbers (module docstring) and their names.

    Parameters
    ----------
    found : Survey
        The CT's survey.

    Returns
    -------
    tuple
        The label image (int16, the CT's grid) and each value's name.
    """
    out = np.zeros(found.vertebrae.labels.shape, np.int16)
    names = {}
    for v in found.vertebrae.vertebrae:
        value = LEVELS.index(v.name) + 1 if v.name in LEVELS else 100 + v.label
        out[found.vertebrae.labels == v.label] = value
        names[value] = v.name or f"vertebra {v.label}"
    return out, names


def markups(found: Survey) -> dict:
    """The targets as a Slicer markups point list (RAS+ mm).

    Parameters
    ----------
    found : Survey
        The CT's survey.

    Returns
    -------
    dict
        Slicer's markups JSON (schema 1.0.0) with one control point per target.
    """
    points = [{"label": f"{t.nerve} {t.side}", "position": [round(float(x), 3) for x in t.point_mm],
               "description": f"on {t.bone}, confidence {t.confidence:.2f}"}
              for lv in found.levels for t in lv.targets]
    return {"@schema": MARKUPS_SCHEMA,
            "markups": [{"type": "Fiducial", "coordinateSystem": "RAS", "controlPoints": points}]}


def survey_files(found: Survey) -> list[tuple[str, bytes]]:
    """The export's files (module docstring): names and contents.

    Parameters
    ----------
    found : Survey
        The CT's survey, with its tissue classes.

    Returns
    -------
    list of tuple
        (file name, bytes) for each file.
    """
    affine = np.asarray(found.vertebrae.affine, float)
    vertebrae, names = vertebra_labels(found)
    out = [("vertebrae.nii.gz", nifti_bytes(vertebrae, affine, True)),
           ("vertebrae.ctbl", colour_table(names).encode()),
           ("targets.mrk.json", json.dumps(markups(found), indent=1).encode())]
    if found.tissues is not None:
        out += [("tissues.nii.gz", nifti_bytes(found.tissues.labels.astype(np.int16), affine, True)),
                ("tissues.ctbl", colour_table({k: v["name"] for k, v in TABLE.items()}).encode())]
    return out
