"""Benchmark: cryoplan's demo cases, their grid convergence, and cryoplan against FiPy on the same
axisymmetric freezing problem at equal accuracy of the -20 C radius.

    pip install -e ".[bench]" && python benchmarks/bench.py [--quick]

Prints tables (record them in benchmarks/README.md). Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from cryoplan import config, procedure
from cryoplan.case import build
from cryoplan.data import read_toml
from cryoplan.units import c_to_k

T20 = c_to_k(-20.0)


def run(cfg: config.ProcedureConfig) -> procedure.Result:
    """A procedure resolved into its case and simulated (the case's set-up timed with it)."""
    return procedure.run(build(cfg))


def demo_config(**grid) -> config.ProcedureConfig:
    data = read_toml("demo.toml")
    data["grid"].update(grid)
    return config.parse(data)


def median_of(fn, repeat=3):
    """The median wall time of ``repeat`` calls (the machine is shared: one lucky or slow run must
    not move the figure), and the last call's result."""
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def radius20(result) -> float:
    return float(result.thermal.isotherms[T20].radius[-1] * 1e3)


def demo_table(quick: bool) -> None:
    print("\n## Demo cases (2.0 mm N2O probe, muscle, 120 s freeze / 30 s thaw / 120 s freeze)\n")
    print("| case | cells | time step (ms) | wall time (s) | -20 C radius at 270 s (mm) |")
    print("|---|---|---|---|---|")
    run(demo_config())  # compile
    for name, grid in (("radial", {"geometry": "radial"}), ("axisymmetric (demo grid)", {})):
        wall, res = median_of(lambda g=grid: run(demo_config(**g)))
        print(f"| {name} | {int(res.case.problem.grid.tissue.sum())} | "
              f"{res.thermal.time_step * 1e3:.2f} | {wall:.2f} | {radius20(res):.4f} |")
    stepping_table()
    print("\n### Grid convergence of the axisymmetric demo (-20 C radius at 270 s)\n")
    print("| spacing (mm) | cells | wall time (s) | radius (mm) |")
    print("|---|---|---|---|")
    spacings = (0.25, 0.125) if quick else (0.25, 0.125, 0.0625)
    radii = []
    for dx in spacings:
        start = time.perf_counter()
        res = run(demo_config(spacing_mm=dx))
        radii.append(radius20(res))
        print(f"| {dx} | {int(res.case.problem.grid.tissue.sum())} | "
              f"{time.perf_counter() - start:.1f} | {radii[-1]:.4f} |")
    ref = radii[-1]
    print(f"\nDemo grid (0.25 mm) against the finest ({spacings[-1]} mm): "
          f"{100 * abs(radii[0] - ref) / ref:.2f} % off.")


def stepping_table(repeat: int = 5) -> None:
    """The axisymmetric demo in forward-Euler steps (``grid.max_step_s = 0``, how the solver
    stepped before its RKL2 super-steps) and in super-steps of up to 0.25, 0.5 and 1 s (the
    default; the output interval, 1 s, bounds a step), interleaved in this process so the
    machine's load falls on all alike."""
    print("\n### Time stepping of the axisymmetric demo (medians of interleaved runs)\n")
    print("| steps | sweeps | steps redone | wall time (s) | vs forward Euler | -20 C radius at 270 s (mm) "
          "| 0 C volume at 270 s (ml) |")
    print("|---|---|---|---|---|---|---|")
    steps = (0.0, 0.25, 0.5, 1.0)
    configs = {s: demo_config(max_step_s=s) for s in steps}
    times: dict[float, list[float]] = {s: [] for s in steps}
    results = {}
    for _ in range(repeat):
        for s in steps:
            start = time.perf_counter()
            results[s] = run(configs[s])
            times[s].append(time.perf_counter() - start)
    euler = statistics.median(times[0.0])
    for s in steps:
        th, wall = results[s].thermal, statistics.median(times[s])
        name = "forward Euler" if s == 0.0 else f"RKL2, up to {s:g} s"
        volume = th.isotherms[c_to_k(0.0)].volume[-1] * 1e6
        print(f"| {name} | {th.sweeps} | {th.redone_steps} | {wall:.2f} | {euler / wall:.2f}x | "
              f"{radius20(results[s]):.4f} | {volume:.4f} |")


# --- the common problem: fixed-temperature probe, uniform grid, insulated outer boundary -------
A, ACTIVE, EXTENT, T_PROBE, SECONDS = 1.0e-3, 6.0e-3, 12.0e-3, -70.0, 120.0


def fixed_probe_config(**sections) -> config.ProcedureConfig:
    """The common problem's probe, tissue and protocol, plus any other ``sections``."""
    return config.parse({
        "probe": {"boundary": "fixed-temperature", "diameter_mm": 2 * A * 1e3,
                  "active_length_mm": ACTIVE * 1e3, "temperature_c": T_PROBE},
        "tissue": {"type": "muscle", "perfusion_per_s": 0.0, "metabolic_w_per_m3": 0.0},
        "protocol": {"phases": [{"kind": "freeze", "seconds": SECONDS}]},
        **sections,
    })


def cryoplan_fixed(spacing_mm: float):
    return run(fixed_probe_config(
        grid={"spacing_mm": spacing_mm, "extent_mm": EXTENT * 1e3, "outer_boundary": "insulated"},
        output={"isotherms_c": [-20], "interval_s": SECONDS},
    ))


def fipy_freeze(mesh, probe: np.ndarray, active: np.ndarray, solver, dt: float,
                sweeps: int = 3) -> np.ndarray:
    """FiPy written the way a careful researcher would, on any FiPy mesh: implicit Euler with an
    energy-conserving apparent heat capacity, C = (H(T) - H(T_old)) / (T - T_old) (the chord of
    the enthalpy curve, so a converged step releases exactly the latent heat crossed; Morgan,
    Lewis & Zienkiewicz, Int J Numer Meth Eng 12 (1978) 1191), and conductivity updated between
    sweeps. The probe's ``active`` cells conduct well and are held at the probe temperature by a
    large implicit source (FiPy's documented way to fix a value inside the domain); its other
    ``probe`` cells do not conduct. Muscle without perfusion, SECONDS long. Returns the cells'
    final temperatures (K) in FiPy's order."""
    import fipy as fp

    from cryoplan.tissue import get_tissue

    tis = get_tissue("muscle")
    T = fp.CellVariable(mesh=mesh, value=c_to_k(37.0), hasOld=True)
    capacity = fp.CellVariable(mesh=mesh, value=tis.c_unfrozen)
    k = fp.CellVariable(mesh=mesh, value=tis.k_unfrozen)
    hold = fp.CellVariable(mesh=mesh, value=1e12 * active)
    eq = (fp.TransientTerm(coeff=capacity) == fp.DiffusionTerm(coeff=k.harmonicFaceValue)
          - fp.ImplicitSourceTerm(coeff=hold) + hold * c_to_k(T_PROBE))
    ts, tl = tis.t_solidus, tis.t_liquidus

    def update_coefficients() -> None:
        t, t_old = np.asarray(T.value), np.asarray(T.old.value)
        dh = tis.enthalpy(t) - tis.enthalpy(t_old)
        dtemp = t - t_old
        mushy = (t > ts) & (t < tl)
        slope = np.where(t <= ts, tis.c_frozen, np.where(mushy, tis.capacity_mushy, tis.c_unfrozen))
        chord = np.where(np.abs(dtemp) > 1e-6, dh / np.where(dtemp == 0, 1.0, dtemp), slope)
        capacity.setValue(chord)
        f = np.clip((t - ts) / (tl - ts), 0.0, 1.0)
        kt = tis.k_frozen + (tis.k_unfrozen - tis.k_frozen) * f
        k.setValue(np.where(active, 1e3, np.where(probe, 1e-9, kt)))

    for _ in range(round(SECONDS / dt)):
        T.updateOld()
        for _ in range(sweeps):
            update_coefficients()
            eq.sweep(var=T, dt=dt, solver=solver)
    return np.asarray(T.value)


def fipy_fixed(spacing_mm: float, dt: float, sweeps: int = 3):
    """The problem in FiPy (``fipy_freeze``) on its axisymmetric grid. Returns the -20 C radius
    at the end (mm), interpolated between cell centres like cryoplan's."""
    import fipy as fp

    d = spacing_mm * 1e-3
    nr, nz = round(EXTENT / d), round((ACTIVE + 2 * EXTENT) / d)
    mesh = fp.CylindricalGrid2D(dr=d, dz=d, nr=nr, nz=nz) + ((0.0,), (-EXTENT,))
    r, z = (np.asarray(c) for c in mesh.cellCenters)
    probe = (r < A) & (z > 0)
    # A direct solver, judged against the initial residual: the default criterion scales by the
    # right-hand side, which the holding source dominates, and then accepts the old field unsolved.
    solver = fp.LinearLUSolver(tolerance=1e-10, criterion="initial")
    temperatures = fipy_freeze(mesh, probe, probe & (z < ACTIVE), solver, dt, sweeps)
    field = temperatures.reshape(nz, nr).T  # FiPy numbers cells r-fastest: (nr, nz)
    rc = (np.arange(nr) + 0.5) * d
    radius = 0.0
    for j in range(nz):
        col = field[:, j]
        tissue = rc >= A if (j + 0.5) * d - EXTENT > 0 else np.ones(nr, bool)
        idx = np.flatnonzero((col <= T20) & tissue)
        if idx.size == 0:
            continue
        i = idx[-1]
        x = rc[i] + (T20 - col[i]) / (col[i + 1] - col[i]) * d if i + 1 < nr else EXTENT
        radius = max(radius, x)
    return radius * 1e3


def fipy_table(quick: bool) -> None:
    print(f"\n## cryoplan vs FiPy: fixed {T_PROBE:g} C probe (2 mm, {ACTIVE * 1e3:g} mm active), "
          f"muscle, {SECONDS:g} s, -20 C radius\n")
    cryoplan_fixed(0.5)  # compile
    ref_dx = 0.125 if quick else 0.0625
    start = time.perf_counter()
    ref = radius20(cryoplan_fixed(ref_dx))
    print(f"Reference: cryoplan at {ref_dx} mm: {ref:.4f} mm ({time.perf_counter() - start:.1f} s)\n")
    print("| solver | spacing (mm) | time step (s) | wall time (s) | radius (mm) | error vs reference |")
    print("|---|---|---|---|---|---|")
    runs = {"cryoplan": [], "FiPy": []}  # (error, wall time)
    for dx in (0.5, 0.25, 0.125):
        wall, res = median_of(lambda d=dx: cryoplan_fixed(d), repeat=2)
        rad = radius20(res)
        runs["cryoplan"].append((abs(rad - ref) / ref, wall))
        print(f"| cryoplan | {dx} | {res.thermal.time_step:.4f} | {wall:.3f} | {rad:.4f} "
              f"| {100 * runs['cryoplan'][-1][0]:.2f} % |")
    # One-second steps: halving them moves FiPy's radius by < 0.02 %, far below its space error.
    for dx in (0.5, 0.25) if quick else (0.5, 0.25, 0.125):
        start = time.perf_counter()
        rad = fipy_fixed(dx, 1.0)
        wall = time.perf_counter() - start
        runs["FiPy"].append((abs(rad - ref) / ref, wall))
        print(f"| FiPy | {dx} | 1.0 | {wall:.2f} | {rad:.4f} | {100 * runs['FiPy'][-1][0]:.2f} % |")
    equal_accuracy_table(runs, (0.01, 0.003, 0.002), digits=3)


def equal_accuracy_table(runs: dict[str, list[tuple[float, float]]], tolerances, digits: int) -> None:
    """Print, per accuracy asked, the fastest cryoplan and FiPy runs that reach it and the ratio;
    ``runs`` maps "cryoplan" and "FiPy" to (relative error, wall time) pairs."""
    print("\n| accuracy asked | cryoplan (s) | FiPy (s) | cryoplan faster by |")
    print("|---|---|---|---|")
    for tol in tolerances:
        ours, theirs = (min((w for e, w in runs[name] if e <= tol), default=None)
                        for name in ("cryoplan", "FiPy"))
        if ours and theirs:
            print(f"| within {100 * tol:g} % | {ours:.{digits}f} | {theirs:.1f} | {theirs / ours:.0f}x |")
        else:
            fmt = [f"{x:.{digits}f}" if x else "not reached" for x in (ours, theirs)]
            print(f"| within {100 * tol:g} % | {fmt[0]} | {fmt[1]} | - |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="coarser sweeps")
    parser.add_argument("--skip-fipy", action="store_true")
    args = parser.parse_args()
    demo_table(args.quick)
    if not args.skip_fipy:
        fipy_table(args.quick)
