"""The planner: choose the tip, direction, freeze time and number of cycles that block the target
with the least total freezing time, subject to the constraints of ``evaluate``.

Protocols are tried in order of total freezing time (``space.protocols``); at each one every
candidate tip and direction (approach cone, never through bone) is simulated, in parallel over
the machine's cores. The first protocol at which some candidate meets every constraint gives
the plan: among those, the one with the highest block probability, then the widest safety
margin. The chosen plan is re-simulated at four displaced placements to measure the error of
the Monte Carlo's rigid-shift approximation (``Plan.check``). When no candidate passes at any
protocol, the plan says so and names the constraint that stopped the best candidates.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from cryoplan import resolve
from cryoplan.anatomy.labels import LabelVolume, anatomy_data, read_label_table, read_nifti
from cryoplan.anatomy.templates import Anatomy, template
from cryoplan.atomic import write_atomic
from cryoplan.errors import InputError
from cryoplan.injury.assess import assess, regrowth_distance
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.thresholds import default_nerve_diameter_m
from cryoplan.outcome.relief import ReliefDistribution
from cryoplan.planning.config import PlanConfig
from cryoplan.planning.evaluate import (
    Candidate,
    Context,
    Evaluation,
    ProtectedStructure,
    evaluate,
    overlaps,
    simulate,
)
from cryoplan.planning.space import (
    directions,
    placement_offsets,
    protocols,
    sigma_from_mean_error,
    sigma_from_radius95,
)
from cryoplan.progress import Progress, Reporter
from cryoplan.thermal.placement import PlacedProbe, rasterise
from cryoplan.thermal.solver3d import ThermalResult3D
from cryoplan.thermal.steady import steady_temperature
from cryoplan.units import c_to_k

#: Displaced placements at which the chosen plan is re-simulated (the first Monte Carlo samples).
CHECK_RUNS = 4


@dataclass(frozen=True)
class Check:
    """The chosen plan re-simulated with the probe displaced by ``offset_mm``, against the Monte
    Carlo's rigid-shift estimate for the same displacement. ``refused`` says why a displaced
    probe could not be simulated (through bone, out of the volume): it then has no temperature."""

    offset_mm: tuple[float, float, float]
    block_probability: float | None
    min_temperature_k: float | None
    rigid_block_probability: float
    rigid_min_temperature_k: float
    refused: str | None = None


@dataclass(frozen=True)
class Plan:
    anatomy: str
    required: float
    sigma_mm: float
    samples: int
    chosen: Evaluation | None
    evaluations: tuple[Evaluation, ...]
    why: str
    relief: ReliefDistribution | None
    checks: tuple[Check, ...]
    entry_m: np.ndarray | None
    wall_time_s: float
    volume: LabelVolume
    run: ThermalResult3D | None  # the chosen plan simulated at its nominal placement

    @property
    def coldest_c(self) -> np.ndarray | None:
        """The chosen plan's coldest temperature per voxel, °C (NaN inside the probe)."""
        if self.run is None:
            return None
        h = self.run.history
        return np.where(h.tissue, h.min_temperature - 273.15, np.nan)

    @property
    def refused(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.refused]


def _anatomy(cfg: PlanConfig, base: Path) -> Anatomy:
    """The template, or the NIfTI volume with its targets and approach (the schema has checked
    that the file gives exactly what each needs)."""
    ac, ap = cfg.anatomy, cfg.approach
    if ac.template:
        return template(ac.template, ac.level or ("S1" if "sacral" in ac.template else "L4"), ac.spacing_mm)
    assert ac.nifti and ac.label_table and ap.axis is not None and ap.tips_mm is not None
    volume = read_nifti(base / ac.nifti, read_label_table(base / ac.label_table))
    targets = tuple(
        Nerve(
            t.name,
            (t.diameter_mm * 1e-3 if t.diameter_mm else default_nerve_diameter_m()),
            np.array(t.points_mm) * 1e-3,
        )
        for t in cfg.target
    )
    axis = np.array(ap.axis, float)
    return Anatomy(
        Path(ac.nifti).name,
        volume,
        targets,
        np.array(ap.tips_mm) * 1e-3,
        np.zeros(3),
        axis / np.linalg.norm(axis),
        cfg.cone_deg,
    )


def _protected(cfg: PlanConfig, anatomy: Anatomy) -> tuple[ProtectedStructure, ...]:
    vol = anatomy.volume
    structures = vol.with_role("protected")
    overrides = {p.name: p.limit_c for p in cfg.protected}
    known = {s.name for s in structures}
    for k, name in enumerate(p.name for p in cfg.protected):
        if name not in known:
            raise InputError(
                f"protected[{k}].name",
                name,
                "a protected structure of the anatomy: " + ", ".join(sorted(known)),
            )
    return tuple(
        ProtectedStructure(
            s.name, c_to_k(overrides[s.name]) if s.name in overrides else s.limit_k, vol.centres_of(s.label)
        )
        for s in structures
    )


def placement_sigma(kind: str, mean_error_mm: float | None) -> float:
    """Per-axis placement error (m): a given mean error, or the cited default of ``kind``
    (data/anatomy.toml [placement]: ct, or stimulation-guided)."""
    data = anatomy_data()["placement"]
    if mean_error_mm is not None:
        return sigma_from_mean_error(mean_error_mm * 1e-3)
    if kind == "stimulation":
        return sigma_from_radius95(data["stimulation"]["radius95_mm"] * 1e-3)
    return sigma_from_mean_error(data["error_mm"] * 1e-3)


def context(cfg: PlanConfig, base: Path = Path(".")) -> tuple[Context, Anatomy, list[Candidate]]:
    """Resolve a plan file into the shared context and the candidates (raises InputError)."""
    anatomy = _anatomy(cfg, base)
    model = resolve.probe(cfg.probe, cfg.cryogen, "3d")[0]
    grid = anatomy.volume.voxel_grid()
    for nerve in anatomy.targets:
        inside = grid.contains(nerve.points)
        if not inside.all():
            raise InputError(
                f"target[{nerve.name}].points_mm",
                (nerve.points[~inside][0] * 1e3).round(2).tolist(),
                "points inside the label volume",
            )
    pc = cfg.plan
    injury = resolve.injury(cfg.injury)
    sigma = placement_sigma(pc.placement, pc.placement_error_mm)
    ctx = Context(
        grid,
        steady_temperature(grid),
        model,
        anatomy.targets,
        _protected(cfg, anatomy),
        injury,
        sigma,
        placement_offsets(anatomy.approach_axis, sigma, pc.samples, pc.seed),
        pc.block_probability,
        pc.max_step_s,
    )
    rings = pc.ring_deg if pc.ring_deg is not None else [anatomy.cone_deg / 2, anatomy.cone_deg]
    tips = anatomy.tips(model.radius, tuple(g * 1e-3 for g in pc.gaps_mm))
    cands, k = [], 0
    for cycles, freeze, protocol in protocols(
        pc.freeze_seconds, pc.cycles, pc.thaw_seconds, pc.observe_seconds
    ):
        for tip in tips:
            for axis in directions(anatomy.approach_axis, rings, pc.per_ring):
                cands.append(Candidate(k, tip, axis, cycles, freeze, protocol))
                k += 1
    return ctx, anatomy, cands


def _geometry_refusal(ctx: Context, cand: Candidate) -> str | None:
    placed = PlacedProbe.at(ctx.probe, cand.tip, cand.axis, "probe")
    try:
        rasterise(ctx.grid, [placed])
    except InputError as err:
        return f"{err.field}: {err.allowed}"
    hit = [n.name for n in ctx.targets if overlaps(n, placed)]
    return f"the probe would pierce the target ({', '.join(hit)})" if hit else None


def _key(c: Candidate) -> tuple:
    """The placement of a candidate (its tip and direction), whatever its protocol."""
    return tuple(c.tip), tuple(c.axis)


def _survivors(found: list[Evaluation], keep: int) -> set[tuple]:
    """Placements worth more freezing: those that kept every target below grade 3 and every
    protected structure within its limit (more freezing only makes them colder), and of those the
    ``keep`` most likely to block (0: all)."""
    safe = [e for e in found if e.safe]
    safe.sort(key=lambda e: -e.block_probability)
    return {_key(e.candidate) for e in (safe[:keep] if keep else safe)}


_WORKER_CONTEXT: Context | None = None


def _init_worker(ctx: Context) -> None:
    import numba
    from threadpoolctl import threadpool_limits

    from cryoplan.procs import exit_with_parent, ignore_interrupts

    global _WORKER_CONTEXT
    _WORKER_CONTEXT = ctx
    exit_with_parent()
    ignore_interrupts()
    # One process per core: one numba thread, and one BLAS thread. OpenBLAS otherwise starts a
    # thread per core in every worker, whose spin-waiting after each small call (the steady
    # start's conjugate gradients) slowed two workers to less than one (benchmarks/README.md).
    numba.set_num_threads(1)
    threadpool_limits(limits=1)


def _evaluate_in_worker(job: tuple[int, Candidate], ctx: Context | None = None) -> tuple[int, Evaluation]:
    ctx = ctx if ctx is not None else _WORKER_CONTEXT
    assert ctx is not None
    return job[0], evaluate(ctx, job[1])


CheckRun = tuple[float | None, float | None, str | None]


def _check_in_worker(job: tuple[int, Candidate, np.ndarray],
                     ctx: Context | None = None) -> tuple[int, CheckRun]:
    ctx = ctx if ctx is not None else _WORKER_CONTEXT
    assert ctx is not None
    return job[0], _check(ctx, job[1], job[2])


def _in_context(fn, ctx: Context, job: tuple):
    """A pool function on an executor's worker, with the context its task carries: one numba
    and one BLAS thread, as in the pool's workers."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    with threadpool_limits(limits=1):
        return fn(job, ctx)


class _OnExecutor:
    """The pool's ``imap_unordered`` on a ``concurrent.futures.Executor`` (a dask cluster's
    ``Client.get_executor()``): each task carries the shared context (a few MB) with its job."""

    def __init__(self, executor, ctx: Context):
        self.executor, self.ctx, self.futures = executor, ctx, []

    def imap_unordered(self, fn, jobs: list):
        from concurrent.futures import as_completed

        self.futures = [self.executor.submit(_in_context, fn, self.ctx, job) for job in jobs]
        for future in as_completed(self.futures):
            yield future.result()

    def close(self) -> None:
        pass

    join = close

    def terminate(self) -> None:
        for future in self.futures:
            future.cancel()


def _check(ctx: Context, cand: Candidate, offset: np.ndarray) -> CheckRun:
    """(block probability, coldest target temperature, why not simulated) of the displaced
    candidate."""
    try:
        result = simulate(ctx, cand, tip=cand.tip + offset)
    except InputError as err:  # displaced into bone or out of the volume: no run to compare with
        return None, None, f"the displaced probe is refused ({err.field}: {err.allowed})"
    t_liq, t_sol = ctx.grid.materials[0].t_liquidus, ctx.grid.materials[0].t_solidus
    found = [assess(n, ctx.grid, result.history, ctx.injury, t_liq, t_sol, inside_probe_ok=True)
             for n in ctx.targets]
    return min(a.block_probability for a in found), min(a.min_temperature_k for a in found), None


def _run_all(pool, fn, serial, jobs: list, tick: Callable[[], None]) -> list:
    """``fn`` over ``jobs`` (each job's first item its index) in the pool, or ``serial`` here;
    ``tick()`` after each; results in the jobs' order."""
    found = {}
    results = pool.imap_unordered(fn, jobs) if pool else ((j[0], serial(*j[1:])) for j in jobs)
    for k, value in results:
        found[k] = value
        tick()
    return [found[j[0]] for j in jobs]


def _why(chosen: Evaluation | None, evaluations: list[Evaluation], required: float) -> str:
    tried = [e for e in evaluations if not e.refused]
    if not tried:
        reasons = sorted({e.refused for e in evaluations if e.refused})
        return "no safe plan: every candidate placement was refused (" + "; ".join(reasons) + ")"
    by_level: dict[tuple[int, float], list[Evaluation]] = {}
    for e in tried:
        by_level.setdefault((e.candidate.cycles, e.candidate.freeze_s), []).append(e)
    lines = []
    for (cycles, freeze), evs in by_level.items():
        if chosen is not None and (cycles, freeze) == (chosen.candidate.cycles, chosen.candidate.freeze_s):
            break
        best = max(evs, key=lambda e: e.block_probability)
        lines.append(
            f"{cycles} x {freeze:g} s: best of {len(evs)} placements fails ({'; '.join(best.failures)})"
        )
    if chosen is None:
        best = max(tried, key=lambda e: (e.safe, e.block_probability))
        return (
            "no safe plan: no candidate met every constraint at any protocol. Best candidate "
            f"({best.candidate.cycles} x {best.candidate.freeze_s:g} s): {'; '.join(best.failures)}. "
            + " ".join(lines[-3:])
        )
    level = by_level[(chosen.candidate.cycles, chosen.candidate.freeze_s)]
    ok = [e for e in level if e.feasible]
    text = (
        f"the shortest total freezing time ({chosen.candidate.total_freeze_s:g} s) at which a placement "
        f"met every constraint; {len(ok)} of {len(level)} placements did, and this one has the highest "
        f"block probability ({chosen.block_probability:.2f} >= {required:g})"
        + (" and then the widest safety margin" if len(ok) > 1 else "")
        + "."
    )
    if lines:
        text += " Shorter protocols: " + " | ".join(lines)
    return text


class _Tracker:
    """The planner's progress: the runs done in this phase, and the share of the simulated
    seconds done out of the most the search may still need (the rest of this protocol's
    placements, at most ``keep`` of them at each longer protocol, then the checks and the nominal
    run at the longest protocol), so the time left it gives is an upper bound."""

    def __init__(self, report: Reporter | None, level_seconds: list[float], keep: int):
        self.report, self.level_seconds, self.keep = report, level_seconds, keep
        self.level, self.alive, self.final, self.done = 0, 0, False, 0.0
        self.phase, self.phase_done, self.phase_total, self.seconds = "", 0, 0, 0.0

    def bound(self) -> float:
        """Simulated seconds done plus the most still to do."""
        later = 0.0 if self.final else sum(self.level_seconds[self.level + 1:]) * min(
            self.keep or self.alive, self.alive)
        final = 0.0 if self.final else (CHECK_RUNS + 1) * max(self.level_seconds)
        return self.done + (self.phase_total - self.phase_done) * self.seconds + later + final

    def start(self, phase: str, runs: int, seconds: float, level: int = 0, final: bool = False) -> None:
        self.phase, self.phase_done, self.phase_total, self.seconds = phase, 0, runs, seconds
        self.final = final
        if not final:
            self.level, self.alive = level, runs
        self._send()

    def tick(self) -> None:
        self.done += self.seconds
        self.phase_done += 1
        self._send()

    def _send(self) -> None:
        if self.report is not None:
            bound = self.bound()
            self.report(Progress(self.phase, self.phase_done, self.phase_total, "runs",
                                 self.done / bound if bound else 0.0, at_most=True))


def plan(cfg: PlanConfig, base: Path = Path("."), progress: Reporter | None = None, executor=None) -> Plan:
    """Search for the plan (raises InputError for a bad plan file); ``progress`` gets a
    ``Progress`` after each candidate run. ``executor`` (a ``concurrent.futures.Executor``, such
    as a dask cluster's ``Client.get_executor()``) runs the candidates instead of the local pool,
    to the same plan."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # one BLAS thread here too, as in the workers (_init_worker)
        return _search(cfg, base, progress, executor)


def _search(cfg: PlanConfig, base: Path, progress: Reporter | None, executor) -> Plan:
    start = time.perf_counter()
    if progress is not None:
        progress(Progress("setting up the anatomy and its resting temperature", 0, 0, "", 0.0, at_most=True))
    ctx, anatomy, cands = context(cfg, base)
    refusals: dict[tuple, str | None] = {}
    for c in cands:  # the geometry does not depend on the protocol: check each tip and direction once
        if _key(c) not in refusals:
            refusals[_key(c)] = _geometry_refusal(ctx, c)
    workers = cfg.plan.workers or os.cpu_count() or 1
    evaluations: list[Evaluation] = []
    chosen: Evaluation | None = None
    levels: dict[tuple[int, float], list[Candidate]] = {}
    for c in cands:
        levels.setdefault((c.cycles, c.freeze_s), []).append(c)
    alive = {key for key, why in refusals.items() if why is None}
    track = _Tracker(progress, [level[0].protocol.total_seconds for level in levels.values()], cfg.plan.keep)
    pool = (_OnExecutor(executor, ctx) if executor is not None
            else get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(ctx,)) if workers > 1
            else None)
    try:
        for n, ((cycles, freeze), level) in enumerate(levels.items()):
            evaluations += [Evaluation(c, refused=refusals[_key(c)]) for c in level if refusals[_key(c)]]
            runnable = [c for c in level if _key(c) in alive]
            track.start(f"protocol {n + 1} of {len(levels)} ({cycles} x {freeze:g} s): placements",
                        len(runnable), level[0].protocol.total_seconds, level=n)
            found = _run_all(pool, _evaluate_in_worker, lambda c: evaluate(ctx, c),
                             list(enumerate(runnable)), track.tick)
            evaluations += found
            ok = [e for e in found if e.feasible]
            if ok:
                chosen = max(ok, key=lambda e: (e.block_probability, e.worst_margin_k))
                break
            alive = _survivors(found, cfg.plan.keep)
        checks: tuple[Check, ...] = ()
        nominal = None
        if chosen is not None:
            offsets = ctx.offsets[1 : 1 + CHECK_RUNS]
            track.start("re-simulating the plan at displaced placements", len(offsets) + 1,
                        chosen.candidate.protocol.total_seconds, final=True)
            jobs = [(k, chosen.candidate, o) for k, o in enumerate(offsets)]
            runs = _run_all(pool, _check_in_worker, lambda c, o: _check(ctx, c, o), jobs, track.tick)
            checks = tuple(
                Check(tuple(round(float(x), 2) for x in o * 1e3), b, t,
                      float(chosen.sample_block_probability[k + 1]), float(chosen.sample_min_k[k + 1]), why)
                for k, (o, (b, t, why)) in enumerate(zip(offsets, runs, strict=True))
            )
            nominal = simulate(ctx, chosen.candidate)
            track.tick()
        if pool:
            pool.close()
            pool.join()
    finally:
        if pool:
            pool.terminate()  # an error or Ctrl-C: no worker outlives the search
            pool.join()
    relief = None
    if chosen is not None and min(a.block_probability for a in chosen.nominal) > 0:
        relief = resolve.relief_model(cfg.outcome).distribution(
            regrowth_distance(ctx.targets, chosen.nominal), resolve.patient(cfg.patient))
    entry = _exit_point(ctx, chosen) if chosen else None
    if progress is not None:
        progress(Progress("plan found" if chosen else "no safe plan", 1, 1, "", 1.0))
    return Plan(
        anatomy.name,
        ctx.required,
        ctx.sigma * 1e3,
        len(ctx.offsets),
        chosen,
        tuple(evaluations),
        _why(chosen, evaluations, ctx.required),
        relief,
        checks,
        entry,
        time.perf_counter() - start,
        anatomy.volume,
        nominal,
    )


def _exit_point(ctx: Context, chosen: Evaluation) -> np.ndarray:
    """The skin entry: where the needle's axis meets the skin plane when the volume's +z side is
    skin (a plane beyond the box's sides: the shaft outside the box is not checked for bone),
    else where it leaves the volume."""
    tip, axis = chosen.candidate.tip, chosen.candidate.axis
    lo, hi = ctx.grid.extent_min, ctx.grid.extent_max
    if ctx.grid.sides[5] == "skin" and axis[2] > 0:
        return tip + (hi[2] - tip[2]) / axis[2] * axis
    with np.errstate(divide="ignore"):
        s = np.where(axis > 0, (hi - tip) / axis, np.where(axis < 0, (lo - tip) / axis, np.inf))
    return tip + float(s.min()) * axis


def export(plan: Plan, out_dir: Path, write=write_atomic) -> list[Path]:
    """The chosen plan's labels and coldest temperatures as NIfTI (one file each) and VTK image
    data (all fields), for 3D Slicer and ParaView, written with ``write(path, writer)``."""
    from cryoplan.anatomy.export import write_nifti, write_vti

    if plan.run is None:
        return []
    vol, coldest = plan.volume, plan.coldest_c
    probe = (~plan.run.history.tissue).astype(np.uint8)
    paths = [out_dir / "labels.nii.gz", out_dir / "min_temperature_c.nii.gz", out_dir / "plan.vti"]
    write_nifti(paths[0], vol.labels.astype(np.int16), vol.origin, vol.spacing, write)
    write_nifti(paths[1], coldest.astype(np.float32), vol.origin, vol.spacing, write)
    write_vti(paths[2], vol.origin, vol.spacing,
              {"labels": vol.labels, "min_temperature_c": coldest, "probe": probe}, write)
    return paths
