"""The planner's speed against an earlier planner, in the same run, on this machine.

    python benchmarks/plan_speed.py                      # against git ref 2b11c95 (about 15 minutes)
    python benchmarks/plan_speed.py --reference REF      # another earlier commit
    python benchmarks/plan_speed.py --no-reference       # this planner only
    python benchmarks/plan_speed.py --quick --repeat 3   # the reference's search space, medians of 3

Every case runs as its own ``cryoplan plan`` process (imports and compilation counted, as a user
sees them), one after the other, and the table gives each one's wall time, chosen plan and block
probability:

* ``reference --example``: the earlier planner (its ``src`` from ``git archive`` in a temporary
  folder) on the same example file;
* ``--example, old approach``: this planner on the same example with the earlier approach cone
  (the template's former axis, 15 deg caudal, in a 30 deg cone), so that the search space is the
  earlier one: the same plan is expected; once with nothing kept from earlier plans (an empty
  cache: a first plan on this machine), once with what an earlier plan of the same anatomy and
  probe keeps (``cryoplan.cache``: the probe's operating point, the resting temperature);
* ``--example``: this planner's built-in example (the measured approach angles);
* ``every placement simulated``: the same with ``plan.screening = false`` (what screening
  approximates);
* ``session L3-L5 bilateral``: six targets, the example's settings.

Not a test: timings depend on the machine and on what else runs on it. Record the table in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src" / "cryoplan" / "data" / "plan-l4.toml"
#: The approach of the earlier templates (data/anatomy.toml before the measured angles).
OLD_APPROACH = {"axis": [0.0, -0.26, 0.97], "cone_deg": 30.0}


def _toml(data: dict) -> str:
    """A plan dict as TOML (tables of scalars and lists only)."""
    lines = []
    for section, keys in data.items():
        lines.append(f"[{section}]")
        for k, v in keys.items():
            lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def run(args: list[str], src: Path, out: Path, cache: Path) -> dict:
    """One ``cryoplan plan`` process with ``src`` first on the path and ``cache`` as its cache
    folder (``cryoplan.cache``): its JSON and wall time."""
    env = {**os.environ, "PYTHONPATH": str(src), "CRYOPLAN_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cryoplan.cli", "plan", *args, "--json", str(out)],
                          env=env, capture_output=True, text=True, cwd=out.parent)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"cryoplan plan {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return {**json.loads(out.read_text()), "_wall_s": wall}


def summary(data: dict) -> list[tuple[str, str, str, str]]:
    """(target, plan, block probability, simulated / screened) per target of a plan JSON."""
    rows = []
    for t in data.get("plans") or [data]:
        if t.get("status") != "plan":
            rows.append((t.get("name") or "-", "no safe plan", "-", "-"))
            continue
        p = t["plan"]
        probes = p.get("probes") or [{"tip_mm": p["tip_mm"]}]
        where = " + ".join(str(q["tip_mm"]) for q in probes)
        a = t.get("approximation")
        counts = "-" if a is None else f"{a['simulated']} / {a['screened']}"
        if t.get("mirror_of"):
            counts = f"mirror of {t['mirror_of']}"
        rows.append((t.get("name") or "-", f"{len(probes)} probe(s) at {where}, {p['cycles']} x "
                     f"{p['freeze_seconds']:g} s", f"{t['block_probability']:.3f}", counts))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", default="2b11c95", help="git ref of the earlier planner")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="only the cases of the reference's search space")
    ap.add_argument("--repeat", type=int, default=1, help="run each case this many times (medians)")
    opts = ap.parse_args()

    example = tomllib.loads(EXAMPLE.read_text())
    example["plan"]["workers"] = opts.workers
    session = {**example, "anatomy": {"levels": ["L3", "L4", "L5"], "sides": ["left", "right"],
                                      "spacing_mm": example["anatomy"]["spacing_mm"]}}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = []
        if not opts.no_reference:
            ref = tmp / "reference"
            ref.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", opts.reference, "src"],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(ref)], input=archive, check=True)
            (tmp / "ref.toml").write_text(_toml(example))
            cases.append((f"reference {opts.reference}: --example", ["ref.toml"], ref / "src",
                          tmp / "ref-cache"))
        here = ROOT / "src"
        (tmp / "old.toml").write_text(_toml({**example, "approach": OLD_APPROACH}))
        (tmp / "new.toml").write_text(_toml(example))
        (tmp / "all.toml").write_text(_toml({**example, "plan": {**example["plan"], "screening": False}}))
        (tmp / "session.toml").write_text(_toml(session))
        kept, empty = tmp / "kept", tmp / "empty"
        cases += [("this planner: --example, old approach, nothing kept", ["old.toml"], here, empty),
                  ("this planner: --example, old approach", ["old.toml"], here, kept)]
        if not opts.quick:
            cases += [("this planner: --example", ["new.toml"], here, kept),
                      ("this planner: --example, every placement simulated", ["all.toml"], here, kept),
                      ("this planner: session L3-L5 bilateral", ["session.toml"], here, kept)]
        # a tiny plan first in each source tree, so that numba's compilation is not timed; on the
        # example's anatomy and probe, so that what this planner keeps between plans of them (the
        # probe's operating point, the anatomy's resting temperature: cryoplan.cache) is kept, as
        # after any earlier plan of that template at that spacing with that probe
        warm = {"anatomy": example["anatomy"], "probe": example["probe"],
                "plan": {"samples": 16, "freeze_seconds": [10], "cycles": [1], "ring_deg": [],
                         "gaps_mm": [0.0], "workers": 1}}
        (tmp / "warm.toml").write_text(_toml(warm))
        for src in {src for _, _, src, _ in cases}:
            run(["warm.toml"], src, tmp / "warm.json", kept)
        for k, (name, args, src, cache) in enumerate(cases):
            print(f"running {name} ...", flush=True)
            walls = []
            for _ in range(opts.repeat):
                if cache is empty:
                    shutil.rmtree(empty, ignore_errors=True)
                data = run(args, src, tmp / f"case{k}.json", cache)
                walls.append(data["_wall_s"])
            data["_wall_s"] = statistics.median(walls)
            results.append((name, data))
            print(f"  {' / '.join(f'{w:.1f}' for w in walls)} s", flush=True)
    print(f"\n{opts.workers} workers, median of {opts.repeat}\n")
    print("| case | wall time (s) | target | plan | block probability | simulated / screened |")
    print("|---|---|---|---|---|---|")
    for name, data in results:
        for k, (target, plan, p, counts) in enumerate(summary(data)):
            wall = f"{data['_wall_s']:.1f}" if k == 0 else ""
            print(f"| {name if k == 0 else ''} | {wall} | {target} | {plan} | {p} | {counts} |")


if __name__ == "__main__":
    main()
