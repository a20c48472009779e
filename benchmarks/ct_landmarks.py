"""How long the CT anatomy takes on a clinical-size CT: tissue classes, vertebrae and SAP-TP
junctions on a synthetic 512 x 512 x 300 volume (0.78 x 0.78 x 1 mm, a 400 mm field of view),
the parametric vertebra of ``cryoplan.anatomy.templates`` repeated at eight levels
(tests/ct/spine_phantom.py), and the error of the junctions found against the phantom's truth;
then what a plan on the CT adds: the QC pictures (``cryoplan ct --report``) and one target's
region (``anatomy.ct.region``, what the planner builds per target).

    PYTHONPATH=src:. python benchmarks/ct_landmarks.py            # 512 x 512 x 300
    PYTHONPATH=src:. python benchmarks/ct_landmarks.py --small    # the tests' 140 x 130 x 120 phantom

Not a test: timings depend on the machine and on what else runs on it. Record the table in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cryoplan.anatomy.ct.landmarks import find_junctions
from cryoplan.anatomy.ct.region import target_region
from cryoplan.anatomy.ct.survey import survey
from cryoplan.anatomy.ct.tissues import classify_tissues
from cryoplan.anatomy.ct.vertebrae import find_vertebrae, name_levels
from cryoplan.report.ct_views import qc_views
from tests.ct.spine_phantom import junction_truth, spine_phantom

LEVELS = ("T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the tests' small phantom only")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if args.small:
        phantom = spine_phantom()
    else:
        # 512 x 512 x 300 voxels: 400 mm across at 0.78 mm, 300 slices of 1 mm
        spacing = (400.0 / 512, 400.0 / 512, 1.0)
        phantom = spine_phantom(spacing, levels=LEVELS, lo_mm=(-200.0, -200.0, -150.0),
                                hi_mm=(200.0, 200.0, 150.0))
    image = phantom.image
    rows = [("phantom (not timed below)", time.perf_counter() - t0)]
    t = time.perf_counter()
    tissues = classify_tissues(image)
    rows.append(("tissue classes", time.perf_counter() - t))
    t = time.perf_counter()
    vertebrae = name_levels(find_vertebrae(image, tissues), lowest=phantom.levels[-1])
    rows.append(("vertebrae", time.perf_counter() - t))
    t = time.perf_counter()
    landmarks = find_junctions(image, vertebrae, tissues)
    rows.append(("SAP-TP junctions", time.perf_counter() - t))
    total = sum(s for _, s in rows[1:])
    found = survey(image, phantom.levels[-1])  # the same steps as one call (not timed again)
    t = time.perf_counter()
    views = qc_views(image, found)
    after = [(f"QC pictures ({len(views)})", time.perf_counter() - t)]
    level = next(lv for lv in found.levels if lv.targets and lv.name.startswith("L"))
    t = time.perf_counter()
    region = target_region(found, level.name, level.targets[0].side, 0.75)
    after.append((f"one target's region ({region.volume.shape[0]} x {region.volume.shape[1]} x "
                   f"{region.volume.shape[2]} voxels of 0.75 mm)", time.perf_counter() - t))
    print(f"CT {'x'.join(map(str, image.shape))} voxels, {np.round(image.spacing_mm, 2).tolist()} mm\n")
    print("| step | wall time (s) |\n|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    print(f"| total (tissues to junctions) | {total:.2f} |")
    for name, seconds in after:
        print(f"| {name} | {seconds:.2f} |")
    print()
    names = list(phantom.levels)
    print(f"vertebrae found: {[v.name for v in vertebrae.vertebrae]} (phantom: {names})\n")
    print("| level | side | error (mm) | confidence |\n|---|---|---|---|")
    for mark in landmarks:
        if mark.vertebra not in names:
            continue
        k = names.index(mark.vertebra) + 1
        truth = junction_truth(phantom.parts, phantom.side, image, k, -1 if mark.side == "left" else 1)
        print(f"| {mark.vertebra} | {mark.side} | {np.linalg.norm(mark.junction_mm - truth):.2f} | "
              f"{mark.confidence:.2f} |")


if __name__ == "__main__":
    main()
