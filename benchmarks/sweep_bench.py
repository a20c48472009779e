"""Samples per second of ``cryoplan sweep``: a plain serial loop over the samples in this
process against the same samples on a LocalCluster of 1 and of 2 worker processes, in the same
run (the overhead per sample, and the scaling).

    python benchmarks/sweep_bench.py                    # the coarse case, 32 samples, 3 repeats
    python benchmarks/sweep_bench.py --case demo --samples 16

Each timing is the median of ``--repeats``. The serial loop calls the sweep's own task function
(validation, the run, the outputs) after one warm-up run; the clusters are started and every
worker warmed up (cryoplan imported, the compiled kernels loaded) before the clock starts, so
the cluster figures hold what a study pays per sample: sending it, the scheduler, the results
coming back and the table saved. The cluster's start-up is printed apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

CASES = {
    # a coarse axisymmetric run with a nerve (a few tenths of a second): the overhead shows
    "coarse": """
[probe]
catalog = "n2o-2.0mm"
[protocol]
phases = [{ kind = "freeze", seconds = 120 }]
[grid]
spacing_mm = 0.5
extent_mm = 15.0
growth = 1.2
uniform_extent_mm = 6.0
[[nerve]]
name = "medial branch"
distance_mm = 2.0
orientation = "perpendicular"
offset_along_axis_mm = 3.0
""",
    "demo": None,  # the built-in demo (a few seconds a run): the scaling shows
}
OUTPUTS = ["iceball.isotherms.-20.radius_mm", "nerves.0.min_temperature_c"]


def _study(folder: Path, case: str, samples: int) -> Path:
    base = 'template = "demo"' if CASES[case] is None else 'base = "base.toml"'
    if CASES[case] is not None:
        (folder / "base.toml").write_text(CASES[case])
    path = folder / "study.toml"
    path.write_text(f'{base}\noutputs = {OUTPUTS!r}\n[sampling]\nmethod = "lhs"\nsamples = {samples}\n'
                    'seed = 1\n[[vary]]\nkey = "tissue.perfusion_per_s"\ndistribution = "uniform"\n'
                    'low = 0.0\nhigh = 0.002\n')
    return path


def serial(study, samples) -> float:
    from cryoplan.sweep.task import run_sample

    run_sample(study.kind, samples[0].data, str(study.folder), study.outputs)  # warm-up
    start = time.perf_counter()
    for s in samples:
        row = run_sample(study.kind, s.data, str(study.folder), study.outputs)
        assert row["status"] == "ok", row["error"]
    return time.perf_counter() - start


def on_cluster(study, workers: int, folder: Path) -> tuple[float, float]:
    """(start-up s, run s) of the study on a fresh LocalCluster of ``workers`` processes."""
    from cryoplan.sweep import cluster, execute
    from cryoplan.sweep.task import run_sample

    start = time.perf_counter()
    with cluster.connect(workers=workers) as client:
        client.wait_for_workers(workers)
        sample = study.samples()[0]
        client.run(run_sample, study.kind, sample.data, str(study.folder), study.outputs)  # warm every worker
        up = time.perf_counter() - start
        prepared = execute.prepare(study, Path(tempfile.mkdtemp(dir=folder)) / "r.parquet")
        start = time.perf_counter()
        state = execute.run(prepared, client)
        took = time.perf_counter() - start
    assert state.failed == 0 and state.done == len(prepared.todo)
    return up, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), default="coarse")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from cryoplan.sweep import study as studies

    folder = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    study = studies.load(_study(folder, args.case, args.samples))
    samples = study.samples()
    times: dict[str, list[float]] = {"serial": [], "1 worker": [], "2 workers": []}
    startup: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    for _ in range(args.repeats):
        times["serial"].append(serial(study, samples))
        for n, name in ((1, "1 worker"), (2, "2 workers")):
            up, took = on_cluster(study, n, folder)
            startup[name].append(up)
            times[name].append(took)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = args.samples
    print(f"case {args.case}: {n} samples, median of {args.repeats} repeats "
          f"(all times: { {k: [round(t, 2) for t in v] for k, v in times.items()} })")
    print()
    print("| how | wall time (s) | samples/s | overhead per sample vs serial (ms) | speed-up vs serial |")
    print("|---|---|---|---|---|")
    for name, t in med.items():
        workers = 1 if name == "serial" else int(name[0])
        overhead = "-" if name == "serial" else f"{(t * workers - med['serial']) / n * 1e3:.0f}"
        print(f"| {name} | {t:.2f} | {n / t:.2f} | {overhead} | {med['serial'] / t:.2f} |")
    print()
    print("cluster start-up with warm-up (s, median): "
          + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in startup.items()))
    print(f"scaling 1 -> 2 workers: {med['1 worker'] / med['2 workers']:.2f}x")


if __name__ == "__main__":
    main()
