"""The QC report of a CT's survey (``cryoplan ct --report``): one self-contained HTML page with
the levels and targets found, the warnings, and the QC pictures (``ct_views``), so a physician can
check every level in a minute before planning on the CT. Made from the survey's JSON and the
pictures only: nothing identifying the patient is in it.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from typing import Any

from cryoplan import __version__
from cryoplan.report.ct_views import View
from cryoplan.report.html import STYLE


def _e(x: Any) -> str:
    return html.escape("—" if x is None else str(x))


def _targets_table(data: dict[str, Any]) -> str:
    rows = ["<table><tr><th>level</th><th>nerve</th><th>side</th><th>on</th><th>point (RAS+ mm)</th>"
            "<th>confidence</th></tr>"]
    for lv in data["levels"]:
        if not lv["targets"]:
            rows.append(f"<tr><td>{_e(lv['name'])}</td><td colspan='5'>no target</td></tr>")
        for t in lv["targets"]:
            point = ", ".join(f"{x:.1f}" for x in t["point_mm"])
            rows.append(f"<tr><td>{_e(lv['name'])}</td><td>{_e(t['nerve'])}</td><td>{_e(t['side'])}</td>"
                        f"<td>{_e(t['bone'])}</td><td>{_e(point)}</td><td>{t['confidence']:.2f}</td></tr>")
    return "".join(rows) + "</table>"


def ct_report(data: dict[str, Any], views: list[View]) -> str:
    """The QC report page.

    Parameters
    ----------
    data : dict
        The survey's JSON (``ct_json.ct_json``).
    views : list of View
        Its QC pictures (``ct_views.qc_views``).

    Returns
    -------
    str
        One HTML page, its pictures embedded.
    """
    warnings = "".join(f"<div class='warn'>[{_e(w['code'])}] {_e(w['about'] or '')} {_e(w['message'])}</div>"
                       for w in data["warnings"]) or "<p>None.</p>"
    pictures = "".join(f"<h3>{_e(v.title)}</h3><p><img alt='{_e(v.title)}' "
                       f"src='data:image/png;base64,{base64.b64encode(v.png).decode()}'></p>" for v in views)
    title = "cryoplan: the levels and targets found on a CT"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p><small>{_e(data['ct'])}; cryoplan {_e(__version__)} on {dt.date.today().isoformat()}. Check "
        "each level's name and each target on the pictures before planning on this CT: the targets are "
        "found from the bone alone, and a level counted from the wrong end names every level wrongly. "
        "Not a substitute for clinical judgement.</small></p>",
        "<h2>Warnings</h2>" + warnings,
        "<h2>Levels and targets</h2>",
        "<p>Each lumbar medial branch's target is the junction of the superior articular process and "
        "the transverse process of the vertebra below (column <i>on</i>); points in the CT's RAS+ "
        "millimetres (as 3D Slicer shows them). In the pictures: each vertebra found coloured and "
        "named, the targets as red crosses (L3 L: the left target of the L3 medial branch).</p>",
        _targets_table(data),
        "<h2>Pictures</h2>",
        pictures,
    ]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head><body>" + "\n".join(body) + "</body></html>")
