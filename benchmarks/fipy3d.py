"""Benchmark: cryoplan's 3D solver against FiPy on the same 3D freezing problem, at equal accuracy
of the -20 C radius (the target: at least 20 times faster than FiPy).

    pip install -e ".[bench]" && python benchmarks/fipy3d.py [--quick]

The problem of bench.py's axisymmetric comparison, now in a box: a 2 mm probe with a 6 mm active
segment held at -70 C and an insulated shaft, muscle without perfusion or metabolism, 120 s,
insulated sides 12 mm from the probe's axis (the box is 24 x 24 x 30 mm, the axis on voxel
corners). Both solvers' fields are measured by the same routine (``isotherms3d.measure``). The
reference is the grid-converged axisymmetric radius of the same problem (bench.py), which the
cryoplan 3D runs also approach. Prints tables (record them in benchmarks/README.md); not a test.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from bench import (
    ACTIVE,
    EXTENT,
    SECONDS,
    T20,
    T_PROBE,
    A,
    cryoplan_fixed,
    equal_accuracy_table,
    fipy_freeze,
    fixed_probe_config,
    radius20,
)

from cryoplan import resolve
from cryoplan.case import build
from cryoplan.protocol import Phase, Protocol
from cryoplan.thermal.isotherms3d import measure
from cryoplan.thermal.placement import PlacedProbe
from cryoplan.thermal.solver3d import ThermalProblem3D, solve3d
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.units import c_to_k

HEIGHT = ACTIVE + 2 * EXTENT  # the box runs from EXTENT below the tip to EXTENT above the active end


def box(spacing: float, tissue) -> VoxelGrid:
    n, nz = round(2 * EXTENT / spacing), round(HEIGHT / spacing)
    return VoxelGrid.uniform((n, n, nz), spacing, (tissue,), centre=(0.0, 0.0, HEIGHT / 2 - EXTENT),
                             sides=("insulated",) * 6)


def cryoplan_3d(spacing_mm: float, max_step: float) -> tuple[float, object]:
    cfg = fixed_probe_config()
    tissue = build(cfg).problem.tissue
    model = resolve.probe(cfg.probe, cfg.cryogen)[0]
    probe = PlacedProbe.at(model, (0.0, 0.0, 0.0), (0, 0, 1))
    freeze = Protocol.of([Phase("freeze", SECONDS)])
    problem = ThermalProblem3D(box(spacing_mm * 1e-3, tissue), (probe,), freeze,
                               initial_temperature=c_to_k(37.0), isotherms=(T20,), history_thresholds=(T20,),
                               output_interval=SECONDS, max_step=max_step)
    res = solve3d(problem)
    return float(res.isotherms[T20].radius[-1, 0] * 1e3), res


def fipy_3d(spacing_mm: float, dt: float, sweeps: int = 3) -> tuple[float, int]:
    """bench.fipy_freeze's model on a 3D grid, the probe's shaft cells non-conducting. A 3D
    direct solve fills in too much, so the linear solver is FiPy's preconditioned conjugate
    gradient (the system is symmetric positive definite). Returns the -20 C radius (mm) and the
    number of cells."""
    import fipy as fp

    d = spacing_mm * 1e-3
    n, nz = round(2 * EXTENT / d), round(HEIGHT / d)
    mesh = fp.Grid3D(dx=d, dy=d, dz=d, nx=n, ny=n, nz=nz) + ((-EXTENT,), (-EXTENT,), (-EXTENT,))
    x, y, z = (np.asarray(c) for c in mesh.cellCenters)
    probe = (x * x + y * y < A * A) & (z > 0)
    solver = fp.LinearPCGSolver(tolerance=1e-10, criterion="initial", iterations=5000)
    temperatures = fipy_freeze(mesh, probe, probe & (z < ACTIVE), solver, dt, sweeps)
    field = temperatures.reshape(nz, n, n).transpose(2, 1, 0)  # FiPy numbers cells x-fastest
    spacing = np.full(3, d)
    origin = np.array([-EXTENT, -EXTENT, -EXTENT]) + d / 2
    tissue = ~probe.reshape(nz, n, n).transpose(2, 1, 0)
    _, radius, _ = measure(np.ascontiguousarray(field), np.ascontiguousarray(tissue), origin, spacing,
                           np.array([T20]), np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]),
                           np.array([0, n, 0, n, 0, nz]))
    return float(radius[0, 0] * 1e3), mesh.numberOfCells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="coarser reference, fewer grids")
    args = parser.parse_args()
    print(f"numba threads: {numba.get_num_threads()}")
    print(f"\n## cryoplan 3D vs FiPy 3D: fixed {T_PROBE:g} C probe (2 mm, {ACTIVE * 1e3:g} mm active), "
          f"muscle, {SECONDS:g} s, -20 C radius\n")
    ref_dx = 0.125 if args.quick else 0.0625
    start = time.perf_counter()
    ref = radius20(cryoplan_fixed(ref_dx))
    print(f"Reference: cryoplan axisymmetric at {ref_dx} mm: {ref:.4f} mm "
          f"({time.perf_counter() - start:.0f} s)\n")
    print("| solver | spacing (mm) | cells | step (s) | explicit limit (s) | wall time (s) | radius (mm) "
          "| error vs reference |")
    print("|---|---|---|---|---|---|---|---|")
    cryoplan_3d(1.0, 2.0)  # compile
    runs: dict[str, list[tuple[float, float]]] = {"cryoplan": [], "FiPy": []}  # (error, wall time)
    for dx in (1.0, 0.5) if args.quick else (1.0, 0.5, 0.25):
        start = time.perf_counter()
        rad, res = cryoplan_3d(dx, 2.0)
        wall = time.perf_counter() - start
        runs["cryoplan"].append((abs(rad - ref) / ref, wall))
        print(f"| cryoplan 3D (RKL2) | {dx} | {res.grid.n_cells} | 2.0 | {res.time_step:.4f} | {wall:.2f} | "
              f"{rad:.4f} | {100 * runs['cryoplan'][-1][0]:.2f} % |")
    for dx in (1.0, 0.5) if args.quick else (1.0, 0.5, 0.333):
        start = time.perf_counter()
        rad, n = fipy_3d(dx, 1.0)
        wall = time.perf_counter() - start
        runs["FiPy"].append((abs(rad - ref) / ref, wall))
        print(f"| FiPy 3D (implicit, PCG) | {dx} | {n} | 1.0 | - | {wall:.1f} | {rad:.4f} | "
              f"{100 * runs['FiPy'][-1][0]:.2f} % |")
    equal_accuracy_table(runs, (0.05, 0.02, 0.01), digits=2)


if __name__ == "__main__":
    main()
