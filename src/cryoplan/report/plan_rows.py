"""What the terminal and the HTML report both say, worded and rounded once: the rows a plan's
summary shows for its probes (where each needle enters and ends, its direction, and its approach
in a physician's terms), and the expected relief.

>>> probe = {"entry_mm": [1, 2, 3], "tip_mm": [0, 0, 0], "direction_tip_to_hub": [0, 0, 1]}
>>> [label for label, _ in probe_rows({"probes": [probe]})]
['entry (skin) mm', 'tip mm', 'direction (tip to hub)']
"""

from __future__ import annotations

from typing import Any

from cryoplan.anatomy.frame import approach_text


def probe_rows(plan: dict[str, Any], prefix: str = "probe {k}: ") -> list[tuple[str, Any]]:
    """(label, value) rows for each probe of a plan's JSON ``plan`` block.

    Parameters
    ----------
    plan : dict
        The ``plan`` block of one target's plan JSON (its ``probes``).
    prefix : str, optional
        What precedes each label when there are several probes (``{k}``: the probe's number).

    Returns
    -------
    list of tuple
        The rows: entry, tip and direction in the target's frame, the approach (a sentence), and
        on a patient's CT the tip and entry in its RAS+ millimetres.
    """
    probes = plan.get("probes") or [plan]
    rows: list[tuple[str, Any]] = []
    for k, probe in enumerate(probes):
        which = prefix.format(k=k + 1) if len(probes) > 1 else ""
        rows += [(f"{which}entry (skin) mm", probe["entry_mm"]), (f"{which}tip mm", probe["tip_mm"]),
                 (f"{which}direction (tip to hub)", probe["direction_tip_to_hub"])]
        if probe.get("approach"):
            rows.append((f"{which}approach", approach_text(probe["approach"])))
        if probe.get("patient_ras_mm"):
            ras = probe["patient_ras_mm"]
            rows.append((f"{which}on the CT (RAS mm)", f"tip {ras['tip']}, entry {ras['entry']}"))
    return rows


def relief_text(r: dict[str, Any]) -> str:
    """The expected relief with its 5-95 % band, in whole months (the series it is calibrated on
    report months; a decimal would be false precision).

    Parameters
    ----------
    r : dict
        A result's ``relief_months`` block: ``median``, ``p5``, ``p95`` [months].

    Returns
    -------
    str
        One phrase.

    Examples
    --------
    >>> relief_text({"median": 15.2, "p5": 4.6, "p95": 56.51})
    'median 15 months (5-95 %: 5-57)'
    """
    return f"median {r['median']:.0f} months (5-95 %: {r['p5']:.0f}-{r['p95']:.0f})"
