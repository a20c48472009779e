"""Hostile procedure and plan files: NaN and infinity in every kind of number, booleans and
strings where numbers belong, runs that would never end or not fit in memory, deep nesting,
markup in names, typos, wrong units, binary and empty files, and keys that name a path or a host.

Used by tests/fuzz/test_hostile.py; run as a script, it feeds every case to the real command line
(each in a subprocess with a time limit) and counts how each ended:

    python tests/fuzz/hostile_inputs.py [--timeout 60]
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE = '[probe]\ncatalog = "n2o-2.0mm"\n'
PHASES = '[protocol]\nphases = [{kind = "freeze", seconds = 60}]\n'
BASE = PROBE + PHASES
SMALL_GRID = "[grid]\nextent_mm = 8.0\n"
PLAN = '[anatomy]\ntemplate = "lumbar-medial-branch"\nlevel = "L4"\n[probe]\ncatalog = "n2o-2.0mm"\n'


def _with(section: str, body: str, base: str = BASE) -> str:
    """``base`` with ``body`` added to ``[section]`` (the section is appended when new)."""
    head = f"[{section}]\n"
    if head in base:
        return base.replace(head, head + body + "\n", 1)
    return base + head + body + "\n"


def _numbers() -> list[tuple[str, str]]:
    """(section, key) of every number a procedure file can hold."""
    return [
        ("probe", "diameter_mm"), ("probe", "active_length_mm"), ("probe", "cannula_inner_diameter_mm"),
        ("probe", "mass_flow_g_per_s"), ("probe", "internal_htc_w_per_m2_k"),
        ("cryogen", "supply_pressure_bar"), ("cryogen", "supply_temperature_c"),
        ("cryogen", "back_pressure_bar"), ("cryogen", "recuperator_effectiveness"),
        ("tissue", "k_unfrozen_w_per_m_k"), ("tissue", "k_frozen_w_per_m_k"),
        ("tissue", "c_unfrozen_j_per_m3_k"), ("tissue", "c_frozen_j_per_m3_k"),
        ("tissue", "latent_heat_j_per_m3"), ("tissue", "t_solidus_c"), ("tissue", "t_liquidus_c"),
        ("tissue", "perfusion_per_s"), ("tissue", "blood_heat_capacity_j_per_m3_k"),
        ("tissue", "metabolic_w_per_m3"), ("tissue", "initial_temperature_c"),
        ("tissue", "arterial_temperature_c"),
        ("grid", "spacing_mm"), ("grid", "extent_mm"), ("grid", "growth"), ("grid", "uniform_extent_mm"),
        ("output", "interval_s"),
        ("injury", "neurapraxia_below_c"), ("injury", "axonotmesis_below_c"),
        ("injury", "axonotmesis_min_seconds"), ("injury", "neurotmesis_below_c"),
        ("injury", "min_block_length_mm"),
        ("patient", "susceptibility"),
        ("outcome", "regrowth_distance_mm"), ("outcome", "retreat_at_probability"),
    ]


NERVE = '[[nerve]]\nname = "L4 medial branch"\ndistance_mm = 2.0\norientation = "perpendicular"\n'


def _phase(seconds: str) -> str:
    return f'[protocol]\nphases = [{{kind = "freeze", seconds = {seconds}}}]\n'


def _named(name: str) -> str:
    """A small valid procedure whose nerve has ``name``."""
    return BASE + SMALL_GRID + NERVE.replace("L4 medial branch", name) + "length_mm = 10.0\n"


def procedure_cases() -> list[tuple[str, str]]:
    """(name, TOML text) of hostile procedure files."""
    cases: list[tuple[str, str]] = []
    for section, key in _numbers():
        for bad in ("nan", "inf", "-inf", "true", '"1.5"', "1e308", "-1e308"):
            cases.append((f"{section}.{key} = {bad}", _with(section, f"{key} = {bad}")))
    for bad in ("nan", "inf", "true", "1e12", "0", "-1", '"60"'):
        cases.append((f"seconds = {bad}", PROBE + _phase(bad)))
    for bad in ("nan", "inf", "-inf", "true"):
        cases.append((f"isotherms {bad}", _with("output", f"isotherms_c = [0.0, {bad}]")))
        cases.append((f"history thresholds {bad}", _with("output", f"history_thresholds_c = [{bad}]")))
        points = f'[[nerve]]\nname = "n"\npoints_mm = [[2.0, -5, 1], [2, 5, {bad}]]\n'
        cases.append((f"points {bad}", BASE + points))
        cases.append((f"nerve distance {bad}", BASE + NERVE.replace("2.0", bad)))
        cases.append((f"nerve offset {bad}", BASE + NERVE + f"offset_along_axis_mm = {bad}\n"))
        cases.append((f"nerve length {bad}", BASE + NERVE + f"length_mm = {bad}\n"))
        cases.append((f"nerve diameter {bad}", BASE + NERVE + f"diameter_mm = {bad}\n"))
        cases.append((f"fixed temperature {bad}", BASE.replace(
            PROBE, f'[probe]\nboundary = "fixed-temperature"\ndiameter_mm = 2.0\nactive_length_mm = 6.0\n'
                   f"temperature_c = {bad}\n")))
        cases.append((f"active thaw temperature {bad}", PROBE + '[protocol]\nphases = [{kind = "freeze", '
                      f'seconds = 30}}, {{kind = "active-thaw", seconds = 10, temperature_c = {bad}}}]\n'))
    cases += [
        ("cannula_gauge = true", _with("probe", "cannula_gauge = true")),
        ("nerves_treated = true", _with("outcome", "nerves_treated = true")),
        ("min_cycles = 1.5", _with("injury", "axonotmesis_min_cycles = 1.5")),
        ("huge integer", _with("probe", "cannula_gauge = 100000000000000000000000000000")),
        ("duplicate isotherms", _with("output", "isotherms_c = [-20.0, -20.0]")),
        ("duplicate thresholds", _with("output", "history_thresholds_c = [-20.0, -20.0, 0.0]")),
        ("interval 1e-9", _with("output", "interval_s = 1e-9")),
        ("seconds 1e12", PROBE + '[protocol]\nphases = [{kind = "freeze", seconds = 1e12}]\n'),
        ("a million phases", PROBE + "[protocol]\nphases = [" + ", ".join(
            ['{kind = "freeze", seconds = 1}'] * 20000) + "]\n"),
        ("extent 10000 mm", _with("grid", "extent_mm = 10000.0")),
        ("spacing 1e-6 mm", _with("grid", "spacing_mm = 1e-6")),
        ("spacing 0.001 mm", _with("grid", "spacing_mm = 0.001")),
        ("extent 1000 mm growth 1", _with("grid", "extent_mm = 1000.0\nspacing_mm = 0.05")),
        ("growth 1.5 tiny spacing", _with("grid", "extent_mm = 1000.0\nspacing_mm = 1e-4\ngrowth = 1.5")),
        ("uniform beyond extent", _with("grid", "extent_mm = 10.0\nuniform_extent_mm = 1e9")),
        ("deep array", "x = " + "[" * 100_000 + "]" * 100_000 + "\n"),
        ("deep inline tables", "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"),
        ("deep dotted table", "[" + ".".join(["a"] * 5000) + "]\n"),
        ("markup in a nerve name", _named("L4 [/oops] branch")),
        ("markup tag in a name", _named("[bold red]L4[/]")),
        ("emoji code in a name", _named(":skull: L4")),
        ("control characters in a name", _named("L4\\u001b[2J\\r\\n")),
        ("a megabyte name", _named("x" * 1_000_000)),
        ("typo seconds", PROBE + '[protocol]\nphases = [{kind = "freeze", secconds = 60}]\n'),
        ("typo section", PROBE + '[protocl]\nphases = [{kind = "freeze", seconds = 60}]\n'),
        ("typo grid key", _with("grid", "spacing = 0.25")),
        ("unknown top-level key", "verbose = true\n" + BASE),
        ("diameter in metres", _with("probe", "diameter_mm = 0.002")),
        ("length in metres", _with("probe", "active_length_mm = 0.006")),
        ("extent in metres", _with("grid", "extent_mm = 0.02")),
        ("temperature in kelvin", _with("tissue", "initial_temperature_c = 310.15")),
        ("fixed temperature without temperature", BASE.replace(
            PROBE, '[probe]\nboundary = "fixed-temperature"\ndiameter_mm = 2.0\nactive_length_mm = 6.0\n')),
        ("temperature on a cryogen probe", _with("probe", "temperature_c = -80.0")),
        ("custom tissue with one property", _with("tissue", 'type = "custom"\nk_unfrozen_w_per_m_k = 0.5')),
        ("solidus above liquidus", _with("tissue", "t_solidus_c = -1.0\nt_liquidus_c = -8.0")),
        ("solidus above the library liquidus", _with("tissue", "t_solidus_c = 0.0")),
        ("points and distance", BASE + '[[nerve]]\nname = "n"\ndistance_mm = 2.0\norientation = "parallel"\n'
                                       "points_mm = [[2.0, -5, 1], [2.0, 5, 1]]\n"),
        ("nerve without a path", BASE + '[[nerve]]\nname = "n"\n'),
        ("nerve outside the domain", BASE + NERVE.replace("2.0", "500.0")),
        ("nerve through the probe", BASE + NERVE.replace("2.0", "0.5")),
        ("one nerve point", BASE + '[[nerve]]\nname = "n"\npoints_mm = [[2.0, 0, 1]]\n'),
        ("no probe", PHASES),
        ("no protocol", PROBE),
        ("empty phases", PROBE + "[protocol]\nphases = []\n"),
        ("probe wider than the cannula", _with("probe", "cannula_gauge = 17")),
        ("unknown catalog probe", BASE.replace("n2o-2.0mm", "n2o-9mm")),
        ("unknown tissue", _with("tissue", 'type = "liverwurst"')),
        ("protocol as a string", PROBE + '[protocol]\nphases = "freeze"\n'),
        ("section as a value", "grid = 3\n" + BASE),
        ("registry path", _with("outcome", 'registry = "sqlite:////tmp/cryoplan-hostile/x.db"')),
        ("registry host with a password", _with(
            "outcome", 'registry = "postgresql://admin:hunter2secret@127.0.0.1:1/db"')),
        ("empty file", ""),
        ("only a comment", "# nothing\n"),
    ]
    return cases


def plan_cases() -> list[tuple[str, str]]:
    """(name, TOML text) of hostile plan files."""
    cases: list[tuple[str, str]] = []
    for key in ("spacing_mm",):
        for bad in ("nan", "inf", "true", "1e-9"):
            cases.append((f"anatomy.{key} = {bad}", _with("anatomy", f"{key} = {bad}", PLAN)))
    for key, bad in [("freeze_seconds", "[nan]"), ("freeze_seconds", "[inf]"), ("freeze_seconds", "[1e9]"),
                     ("freeze_seconds", "[true]"), ("cycles", "[true]"), ("cycles", "[2.0]"),
                     ("thaw_seconds", "nan"), ("thaw_seconds", "1e12"), ("observe_seconds", "inf"),
                     ("block_probability", "nan"), ("placement_error_mm", "inf"), ("samples", "1e9"),
                     ("samples", "true"), ("seed", "-1"), ("seed", "100000000000000000000000000000"),
                     ("ring_deg", "[nan]"), ("gaps_mm", "[inf]"), ("max_step_s", "nan"), ("workers", "-1"),
                     ("keep", "true"), ("per_ring", "1e3")]:
        cases.append((f"plan.{key} = {bad}", _with("plan", f"{key} = {bad}", PLAN)))
    cases += [
        ("unknown template", PLAN.replace("lumbar-medial-branch", "knee")),
        ("unknown level", PLAN.replace('"L4"', '"L9"')),
        ("nifti path", PLAN.replace('template = "lumbar-medial-branch"\nlevel = "L4"\n',
                                    'nifti = "/etc/passwd"\nlabel_table = "/etc/hostname"\n')),
        ("template and nifti", _with("anatomy", 'nifti = "x.nii"', PLAN)),
        ("target with a template", PLAN + '[[target]]\nname = "t"\npoints_mm = [[0, 0, 0], [1, 1, 1]]\n'),
        ("protected unknown", PLAN + '[[protected]]\nname = "heart"\nlimit_c = 0.0\n'),
        ("protected nan", PLAN + '[[protected]]\nname = "skin"\nlimit_c = nan\n'),
        ("ring beyond the cone", _with("plan", "ring_deg = [45.0]", PLAN)),
        ("huge search", _with("plan", "samples = 100000\nfreeze_seconds = [60, 90, 120, 150, 180, 210, 240, "
                                      "270, 300, 330]\ncycles = [1, 2, 3, 4]\nper_ring = 16\n"
                                      "ring_deg = [5, 10, 15, 20, 25, 30]\ngaps_mm = [0, 1, 2, 3, 4, 5]",
                              PLAN)),
        ("fine voxels", _with("anatomy", "spacing_mm = 0.1", PLAN)),
        ("freeze of an hour", _with("plan", "freeze_seconds = [3600]", PLAN)),
        ("typo plan key", _with("plan", "freeze_second = [60]", PLAN)),
        ("typo section", PLAN.replace("[anatomy]", "[anatomi]")),
        ("registry in a plan", _with("outcome", 'registry = "sqlite:////tmp/cryoplan-hostile/p.db"', PLAN)),
        ("deep array", "x = " + "[" * 100_000 + "]" * 100_000 + "\n"),
        ("no anatomy", '[probe]\ncatalog = "n2o-2.0mm"\n'),
    ]
    return cases


CLI = [sys.executable, "-c", "from cryoplan.cli import app; app()"]
BINARY = [("binary", b"\x00\x01\x02\xff\xfe" * 100), ("utf-16", "[probe]\n".encode("utf-16")),
          ("NUL in a string", b'[probe]\ncatalog = "n2o\x00"\n')]


def main() -> None:  # pragma: no cover - a report, not a test
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    counts: collections.Counter[str] = collections.Counter()
    work = Path(tempfile.mkdtemp(prefix="cryoplan-hostile-"))
    cases = ([("simulate", n, t.encode()) for n, t in procedure_cases()]
             + [("plan", n, t.encode()) for n, t in plan_cases()]
             + [("simulate", n, b) for n, b in BINARY])
    for k, (command, name, body) in enumerate(cases):
        folder = work / f"case{k}"
        folder.mkdir()
        (folder / "in.toml").write_bytes(body)
        start = time.monotonic()
        try:
            res = subprocess.run([*CLI, command, "in.toml", "--json", "out.json"],
                                 cwd=folder, capture_output=True, text=True, timeout=args.timeout)
            verdict = ("traceback" if "Traceback" in res.stderr + res.stdout
                       else f"exit {res.returncode}" + (", one line" if res.stderr.count("\n") <= 1 else ""))
        except subprocess.TimeoutExpired:
            verdict = "hang"
        written = sorted(p.name for p in folder.iterdir() if p.name != "in.toml")
        if written:
            verdict += ", wrote files"
        counts[verdict] += 1
        print(f"{time.monotonic() - start:6.1f} s  {verdict:28s} {command}: {name}", flush=True)
    print("\n".join(f"{n:4d}  {v}" for v, n in counts.most_common()))


if __name__ == "__main__":  # pragma: no cover
    main()
