"""How far a run's cost estimate (``cryoplan.budget``, ``cryoplan.planning.cost``) is from what the
run costs on this machine: each case prepared and run through the service, in its own process
(so its peak memory is its own), warm (the kernels compiled and the probe's operating point
cached by a first run of the same case).

    python benchmarks/estimates.py [--repeat 3] [--plans]

Prints a table (record it in benchmarks/README.md): the estimated and measured seconds and
memory and their ratios. The limits refuse on the estimate, so the estimate should stay within a
factor of two of the measurement. Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

BASE = {"probe": {"catalog": "n2o-2.0mm"},
        "protocol": {"phases": [{"kind": "freeze", "seconds": 120}, {"kind": "passive-thaw", "seconds": 30},
                                {"kind": "freeze", "seconds": 120}]}}
NERVE = [{"name": "L4 medial branch", "distance_mm": 3.0, "orientation": "perpendicular"}]

CASES: dict[str, tuple[str, dict]] = {
    "2D demo": ("simulation", {"template": "demo"}),
    "2D radial": ("simulation", {**BASE, "grid": {"geometry": "radial"}}),
    "2D 0.125 mm": ("simulation", {**BASE, "grid": {"spacing_mm": 0.125, "extent_mm": 10.0},
                                    "protocol": {"phases": [{"kind": "freeze", "seconds": 60}]}}),
    "2D 2 x 300 s": ("simulation", {**BASE, "nerve": NERVE, "protocol": {"phases": [
        {"kind": "freeze", "seconds": 300}, {"kind": "passive-thaw", "seconds": 60},
        {"kind": "freeze", "seconds": 300}]}}),
    "3D 1 probe, 0.5 mm": ("simulation", {**BASE, "grid": {"geometry": "3d", "spacing_mm": 0.5,
                                                             "extent_mm": 12.0}}),
    "3D 2 probes, 0.5 mm": ("simulation", {
        **BASE, "grid": {"geometry": "3d", "spacing_mm": 0.5, "extent_mm": 10.0},
        "probe": [{"catalog": "n2o-2.0mm", "tip_mm": [-4, 0, 0]},
                  {"catalog": "n2o-2.0mm", "tip_mm": [4, 0, 0]}]}),
    "3D 400 phases of 0.25 s": ("simulation", {
        **BASE, "grid": {"geometry": "3d", "spacing_mm": 1.0, "extent_mm": 8.0},
        "protocol": {"phases": [{"kind": k, "seconds": 0.25} for _ in range(200)
                                for k in ("freeze", "passive-thaw")]}}),
    "3D L4 template, 2 probes (example)": ("simulation", {"file": "examples/3d/l4-tandem-anatomy.toml"}),
}
PLANS = {"plan-l4": ("plan", {"template": "plan-l4"})}


def _one(kind: str, data: dict) -> dict:
    """Prepare and run one case three times in this process: the first warms the kernels and
    caches, the second is timed, the third traces its numpy arrays' peak (``tracemalloc``: arrays
    made inside the compiled kernels are not seen)."""
    from cryoplan import service

    if "template" in data:
        kind, data = service.builtin(data["template"])
    elif "file" in data:
        data = service.read_file(Path(__file__).parents[1] / data["file"])
    job = service.prepare(kind, data, allow_large=True)
    service.run(job)
    start = time.perf_counter()
    service.run(service.prepare(kind, data, allow_large=True))
    wall = time.perf_counter() - start
    tracemalloc.start()  # a third run: tracing slows Python's allocations
    service.run(service.prepare(kind, data, allow_large=True))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"estimate_s": job.estimate.seconds, "measured_s": wall, "cells": job.estimate.cells,
            "estimate_mb": job.estimate.memory_bytes / 2**20, "measured_mb": peak / 2**20}


def _measure(name: str, repeat: int) -> dict:
    kind, data = {**CASES, **PLANS}[name]
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--one", json.dumps([kind, data])], check=True,
                             capture_output=True, text=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    row = dict(runs[0])
    row["measured_s"] = statistics.median(r["measured_s"] for r in runs)
    row["measured_mb"] = statistics.median(r["measured_mb"] for r in runs)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case (the median is shown)")
    parser.add_argument("--plans", action="store_true", help="also the built-in plan (minutes)")
    parser.add_argument("--only", help="one case by name")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(*json.loads(args.one))))
        return
    names = [args.only] if args.only else list(CASES) + (list(PLANS) if args.plans else [])
    print(f"Median of {args.repeat} warm runs each, one process per run.\n", flush=True)
    print("| case | cells | estimated s | measured s | ratio | estimated MB | numpy peak MB | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        r = _measure(name, args.repeat)
        print(f"| {name} | {r['cells']} | {r['estimate_s']:.2f} | {r['measured_s']:.2f} | "
              f"{r['estimate_s'] / r['measured_s']:.2f} | {r['estimate_mb']:.1f} | {r['measured_mb']:.1f} | "
              f"{r['estimate_mb'] / max(r['measured_mb'], 1e-9):.2f} |", flush=True)


if __name__ == "__main__":
    main()
