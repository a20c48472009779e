"""Benchmark: what perfusion that falls with cold (``[tissue] perfusion``) costs the solvers.

The demo (axisymmetric, muscle) and a 3D case (one tilted 2.0 mm probe in kidney, 0.5 mm voxels)
run alternately with ``constant`` and ``temperature-dependent`` perfusion in one process, so the
machine's load falls on both alike; the table gives the median wall time of each and their ratio,
and the 0 C radius of each (the model's effect).

    python benchmarks/perfusion.py [--repeat 5]

Not a test: timings depend on the machine (record them in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import statistics
import time

from cryoplan import config, procedure
from cryoplan.case import build
from cryoplan.data import read_toml
from cryoplan.units import c_to_k

MODELS = ("constant", "temperature-dependent")


def demo(model: str) -> config.ProcedureConfig:
    data = read_toml("demo.toml")
    data["tissue"] = {**data.get("tissue", {}), "perfusion": model}
    return config.parse(data)


def kidney3d(model: str) -> config.ProcedureConfig:
    return config.parse({
        "probe": [{"catalog": "n2o-2.0mm", "tip_mm": [0.0, 0.0, 0.0], "direction": [0.3, 0.2, 1.0]}],
        "tissue": {"type": "kidney", "perfusion": model},
        "protocol": {"phases": [{"kind": "freeze", "seconds": 90}]},
        "grid": {"geometry": "3d", "spacing_mm": 0.5, "extent_mm": 14.0},
        "output": {"isotherms_c": [0.0, -20.0]},
    })


def timed(cfg: config.ProcedureConfig) -> tuple[float, float]:
    """Wall time (s) of the case's build and run, and the final 0 C radius (mm)."""
    start = time.perf_counter()
    result = procedure.run(build(cfg))
    seconds = time.perf_counter() - start
    iso = result.thermal.isotherms[min(result.thermal.isotherms, key=lambda k: abs(k - c_to_k(0.0)))]
    radius = iso.radius[-1]
    return seconds, float(1e3 * (radius if radius.ndim == 0 else radius.max()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"{'case':<12} {'model':<22} {'median s':>9} {'ratio':>6} {'0 C radius mm':>14}")
    for name, make in (("demo 2D", demo), ("kidney 3D", kidney3d)):
        for model in MODELS:  # compile and warm both first
            timed(make(model))
        times: dict[str, list[float]] = {m: [] for m in MODELS}
        radius = {}
        for _ in range(args.repeat):
            for model in MODELS:
                seconds, radius[model] = timed(make(model))
                times[model].append(seconds)
        base = statistics.median(times["constant"])
        for model in MODELS:
            med = statistics.median(times[model])
            print(f"{name:<12} {model:<22} {med:>9.2f} {med / base:>6.2f} {radius[model]:>14.2f}")


if __name__ == "__main__":
    main()
