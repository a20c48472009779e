"""Benchmark of the 3D solver: the 3-probe case, the kernel's throughput against this
machine's memory bandwidth (a STREAM-like triad in the same process), and the step's effect on
accuracy.

    pip install -e ".[bench]" && python benchmarks/bench3d.py [--quick]

Prints tables (record them in benchmarks/README.md). Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from numba import njit, prange

from cryoplan import config, resolve
from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal.placement import PlacedProbe
from cryoplan.thermal.solver3d import ThermalProblem3D, solve3d
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.tissue.library import get_tissue

ZERO, MINUS20 = 273.15, 253.15
#: Bytes one stage sweep moves per voxel: reads Y_{j-1}, Y_{j-2}, Y_0, r0, T, u (8 B each),
#: material (8 B), tissue flag (1 B); writes Y_j, T, u (8 B each, plus as much again for the
#: write-allocate reads). Neighbours come from cache.
BYTES_PER_VOXEL = 6 * 8 + 8 + 1 + 3 * 16


@njit(parallel=True)
def _triad(a, b, c, s):
    for i in prange(a.size):
        a[i] = b[i] + s * c[i]


def triad_bandwidth(n: int = 20_000_000, repeat: int = 10) -> float:
    """Best STREAM triad a = b + s c in GB/s, counted as STREAM does (24 B per element)."""
    a, b, c = np.zeros(n), np.ones(n), np.ones(n)
    _triad(a, b, c, 3.0)
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        _triad(a, b, c, 3.0)
        best = min(best, time.perf_counter() - start)
    return 24 * n / best / 1e9


def n2o_probe():
    cfg = config.parse({"probe": {"catalog": "n2o-2.0mm"},
                        "protocol": {"phases": [{"kind": "freeze", "seconds": 1}]}})
    return resolve.probe(cfg.probe, cfg.cryogen)[0]


def three_probes() -> tuple[PlacedProbe, ...]:
    """A central probe and two tilted 15 degrees away from it, 8-10 mm apart at their tips."""
    m, tilt = n2o_probe(), np.radians(15.0)
    return (PlacedProbe.at(m, (0.0, -4e-3, -3e-3), (0, 0, 1), "centre"),
            PlacedProbe.at(m, (6e-3, 4e-3, -3e-3), (np.sin(tilt), 0, np.cos(tilt)), "right"),
            PlacedProbe.at(m, (-6e-3, 4e-3, -3e-3), (-np.sin(tilt), 0, np.cos(tilt)), "left"))


def three_probe_table(steps: tuple[float, ...], bandwidth: float) -> None:
    print("\n## 3-probe case: 3 cm cube of muscle at 0.25 mm (120^3 voxels), 2.0 mm N2O probes, "
          "120 s freeze / 30 s passive thaw / 120 s freeze\n")
    print("| RKL2 step (s) | stages | sweeps | wall time (s) | voxel updates/s (M), whole run | GB/s moved | "
          "of triad | -20 C radii (mm) | 0 C volume (ml) | energy error |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    grid = VoxelGrid.uniform((120, 120, 120), 0.25e-3, (get_tissue("muscle"),))
    protocol = Protocol.of([Phase("freeze", 120), Phase("passive-thaw", 30), Phase("freeze", 120)])
    for step in steps:
        problem = ThermalProblem3D(grid, three_probes(), protocol, max_step=step, output_interval=step)
        start = time.perf_counter()
        res = solve3d(problem)
        wall = time.perf_counter() - start
        rate = res.voxel_updates / wall
        gbs = rate * BYTES_PER_VOXEL / 1e9
        radii = ", ".join(f"{r * 1e3:.3f}" for r in res.isotherms[MINUS20].radius[-1])
        print(f"| {step:g} | {res.stages} | {res.sweeps} | {wall:.1f} | {rate / 1e6:.0f} | {gbs:.1f} | "
              f"{gbs / bandwidth:.0%} | {radii} | {res.isotherms[ZERO].volume[-1] * 1e6:.3f} | "
              f"{res.energy_balance_error:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one step size only")
    args = parser.parse_args()
    print(f"numba threads: {numba.get_num_threads()}")
    bandwidth = triad_bandwidth()
    print(f"\nSTREAM-like triad (numba, {numba.get_num_threads()} threads): {bandwidth:.1f} GB/s")
    three_probe_table((2.0,) if args.quick else (1.0, 2.0, 4.0), bandwidth)


if __name__ == "__main__":
    main()
