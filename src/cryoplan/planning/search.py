"""The planner: for each target of a session, choose the probe (or two) placements, freeze time
and number of cycles that block it with the least total freezing time, subject to the
constraints of ``evaluate``.

Per target, protocols are tried in order of total freezing time (``space.protocols``). At each:

1. one candidate is simulated in 3D (the best placement of the shorter protocol, at first the
   approach axis at the first tip); when the first protocol has fallen far short (by more than
   twice ``SCREEN_MARGIN``), the longest is simulated beside the second's first (on two or more
   workers), which bounds what any single probe can do;
2. every other placement is *screened*: judged from the nearest simulated run moved to it by a
   rigid motion (``fields``), at the cost of a Monte Carlo instead of a 3D run;
3. the screened placements in contention (safe, and likely to block: their screened probability
   above the best simulated one, or within ``SCREEN_MARGIN`` of the requirement while none is)
   are simulated, best first, as many at once as there are workers, each new run re-screening
   the rest from nearer, until none in contention is left (at most ``MAX_SIMULATED`` a protocol);
4. the first protocol at which a *simulated* candidate meets every constraint gives the plan:
   among those, the highest block probability, then the widest safety margin. Placements that
   broke a safety limit are not carried to longer protocols (more freezing only makes them
   colder), and only the ``keep`` most likely to block are.

When no single probe meets the constraints at any protocol (or the longest protocol's screening
says none can), two probes are tried, bracketing the nerve or in tandem along it, each with its
own placement error, in the same way (a pair is screened as two moved single runs; its own run
adds the excess cold where their ice balls merge). The chosen plan is re-simulated at
``plan.checks`` displaced placements to measure the Monte Carlo's rigid-shift error; every
screened estimate of a candidate that was then simulated is kept, so the plan reports how far
screening was from the 3D solver (``TargetPlan.screening``).

With ``plan.screening = false`` every placement is simulated (what screening approximates: the
search of earlier versions, for comparison). Tasks run on an executor (``parallel``): the
built-in pool of forked processes, or any ``concurrent.futures``-like executor given to ``plan``
(a cluster's).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from concurrent.futures import Executor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cryoplan.anatomy.export import write_nifti, write_vti, write_vtm
from cryoplan.anatomy.frame import PatientFrame
from cryoplan.anatomy.labels import LabelVolume
from cryoplan.anatomy.templates import session_frame, template_of
from cryoplan.atomic import write_atomic
from cryoplan.case import PlanCase
from cryoplan.errors import InputError
from cryoplan.injury.assess import assess, regrowth_distance
from cryoplan.outcome.relief import ReliefDistribution
from cryoplan.planning.evaluate import Candidate, Evaluation, Run, evaluate, nearest_run, screen, simulate
from cryoplan.planning.fields import Field
from cryoplan.planning.parallel import local_pool, run_all, single_threaded, stop
from cryoplan.planning.targets import Setup, Spec, setup
from cryoplan.procs import threads_here
from cryoplan.progress import Progress, Reporter
from cryoplan.thermal.solver3d import ThermalResult3D

__all__ = ["Check", "Plan", "TargetPlan", "export", "plan", "simulate"]

#: A screened candidate whose block probability is within this of the requirement is in
#: contention while no simulated one meets it (screening erred by up to 0.04 on the L4 template).
SCREEN_MARGIN = 0.05
#: Most candidates simulated at one protocol of one target (besides its first).
MAX_SIMULATED = 6


@dataclass(frozen=True)
class Check:
    """The chosen plan re-simulated with its probes displaced by ``offset_mm`` (one row per
    probe), against the Monte Carlo's rigid-shift estimate for the same displacement.
    ``refused`` says why a displaced probe could not be simulated (through bone, out of the
    volume): it then has no temperature."""

    offset_mm: tuple[tuple[float, float, float], ...]
    block_probability: float | None
    min_temperature_k: float | None
    rigid_block_probability: float
    rigid_min_temperature_k: float
    refused: str | None = None


@dataclass(frozen=True)
class TargetPlan:
    """One target's plan (or why there is none)."""

    name: str
    anatomy: str
    required: float
    sigma_mm: float
    samples: int
    chosen: Evaluation | None
    evaluations: tuple[Evaluation, ...]
    why: str
    relief: ReliefDistribution | None
    checks: tuple[Check, ...]
    entry_m: np.ndarray | None  # (n_probes, 3): where each needle meets the skin
    wall_time_s: float
    volume: LabelVolume
    run: ThermalResult3D | None  # the chosen plan simulated at its nominal placement
    screening: tuple[tuple[int, float, float], ...] = ()  # (candidate, screened, simulated) probability
    skin_checked: bool = True  # the whole needle path was checked against bone
    level: str | None = None
    side: str | None = None
    gas_g: float | None = None  # cryogen used by the chosen plan's freezes (all its probes)
    mirror_of: str | None = None  # the target whose plan this one mirrors (not searched again)
    # one-probe plans: per protocol simulated, the single-probe run nearest the chosen placement
    # (what moving the probe by hand screens: planning.adjust)
    protocol_runs: tuple[Run, ...] = ()
    patient: PatientFrame | None = None  # a region of a patient's CT: where its frame sits

    @property
    def coldest_c(self) -> np.ndarray | None:
        """The chosen plan's coldest temperature per voxel, °C (NaN inside the probe)."""
        if self.run is None:
            return None
        h = self.run.history
        return np.where(h.tissue, h.min_temperature - 273.15, np.nan)

    @property
    def screened_error(self) -> float | None:
        """The chosen plan's screened block probability minus its simulated one (None: it was
        simulated first, never screened)."""
        if self.chosen is None:
            return None
        for k, screened, simulated in self.screening:
            if k == self.chosen.candidate.index:
                return screened - simulated
        return None


@dataclass(frozen=True)
class Plan:
    """A session: one plan per target, in the order they are treated."""

    targets: tuple[TargetPlan, ...]
    wall_time_s: float

    @property
    def planned(self) -> list[TargetPlan]:
        return [t for t in self.targets if t.chosen is not None]

    @property
    def status(self) -> str:
        n = len(self.planned)
        return "plan" if n == len(self.targets) else "partial plan" if n else "no safe plan"


def _simulate_job(spec: Spec, index: int, singles: tuple[Run, ...], threads: int = 1) -> tuple:
    """A worker's task: simulate and judge one candidate, on ``threads`` numba threads (more
    than one when the pool has fewer tasks than workers: the first candidate alone)."""
    single_threaded()
    s = setup(spec)
    with threads_here(threads):
        return evaluate(s.ctx, s.candidates[index], list(singles))


CheckRun = tuple[float | None, float | None, str | None]


def _check_job(spec: Spec, index: int, offsets: np.ndarray, threads: int = 1) -> CheckRun:
    """A worker's task: (block probability, coldest target temperature, why not simulated) of a
    candidate with its probes displaced by ``offsets`` (n_probes, 3), on ``threads`` numba
    threads."""
    single_threaded()
    s = setup(spec)
    ctx = s.ctx
    cand = s.candidates[index]
    # a displaced tip that would enter bone rests on it instead (drawn back along its needle)
    offsets = np.array(offsets, float)
    for j, p in enumerate(cand.probes):
        seated = s.anatomy.seated(p.tip + offsets[j], p.axis, ctx.probe.radius)
        if seated is not None:
            offsets[j] = seated - p.tip
    try:
        with threads_here(threads):
            result = simulate(ctx, cand, offsets)
    except InputError as err:  # displaced into bone or out of the volume: no run to compare with
        return None, None, f"the displaced probe is refused ({err.field}: {err.allowed})"
    t_liq, t_sol = ctx.grid.materials[0].t_liquidus, ctx.grid.materials[0].t_solidus
    found = [assess(n, ctx.grid, result.history, ctx.injury, t_liq, t_sol, inside_probe_ok=True)
             for n in ctx.targets]
    return min(a.block_probability for a in found), min(a.min_temperature_k for a in found), None


class _Tracker:
    """The planner's progress: the simulated seconds done out of the most the search may still
    need (the rest of this step, then at most ``MAX_SIMULATED`` and one more a protocol to go,
    twice for pairs, and the checks), per target, so the time left it gives is an upper bound."""

    def __init__(self, report: Reporter | None, n_targets: int):
        self.report, self.n, self.k = report, n_targets, 0
        self.done = self.pending = self.later = 0.0
        self.phase, self.count, self.total, self.last = "", 0, 0, 0.0

    def target(self, k: int, later_s: float) -> None:
        self.k, self.done, self.later = k, 0.0, later_s

    def start(self, phase: str, runs: int, seconds: float, later_s: float) -> None:
        self.phase, self.count, self.total = phase, 0, runs
        self.pending, self.each, self.later = runs * seconds, seconds, later_s
        self._send()

    def tick(self) -> None:
        self.done += self.each
        self.pending -= self.each
        self.count += 1
        self._send()

    def _send(self) -> None:
        if self.report is None:
            return
        bound = self.done + max(self.pending, 0.0) + self.later
        inside = self.done / bound if bound else 0.0
        self.last = max(self.last, (self.k + inside) / self.n)
        prefix = f"target {self.k + 1} of {self.n}: " if self.n > 1 else ""
        self.report(Progress(prefix + self.phase, self.count, self.total, "runs", self.last, at_most=True))


class _Search:
    """One target's search (``search``), on ``executor`` with ``workers`` tasks at a time."""

    def __init__(self, spec: Spec, executor: Executor | None, workers: int, track: _Tracker,
                 local: bool = False):
        self.spec, self.executor, self.workers, self.track = spec, executor, workers, track
        self.local = local  # the executor is this machine's pool of ``workers`` processes
        self.s: Setup = setup(spec)
        self.ctx = self.s.ctx
        self.found: dict[int, Evaluation] = {}  # the latest evaluation of each candidate
        self.runs: dict[tuple[int, float], list[Run]] = defaultdict(list)  # single-probe runs
        self.pair_runs: dict[tuple[int, float], list[tuple[Candidate, Run]]] = defaultdict(list)
        self.results: dict[int, ThermalResult3D] = {}
        self.screening: list[tuple[int, float, float]] = []
        self.screened_with: dict[int, tuple] = {}  # the runs each screening came from (``screen``)
        self.refused: dict[tuple, str] = dict(self.s.refused)
        self.best_single: Evaluation | None = None

    # -- running ----------------------------------------------------------------------------------

    def seconds(self, level: tuple[int, float]) -> float:
        return self.s.singles[level][0].protocol.total_seconds if self.s.singles[level] else 0.0

    def bound(self, n: int, pairs: bool) -> float:
        """The most simulated seconds left after protocol ``n`` (its runs counted apart)."""
        later = sum(self.seconds(lv) for lv in self.s.levels[n + 1:]) * (MAX_SIMULATED + 1)
        if not pairs and self.s.pairs and self.s.pairs[self.s.levels[0]]:
            later += sum(self.seconds(lv) for lv in self.s.levels) * (MAX_SIMULATED + 2)
        return later + self.spec.config.plan.checks * max(self.seconds(lv) for lv in self.s.levels)

    def threads(self, tasks: int) -> int:
        """Numba threads for each of ``tasks`` at once: on this machine's own pool the idle
        workers' cores go to them (a cluster's cores are its own business)."""
        return max(1, self.workers // tasks) if self.local else 1

    def simulate(self, cands: list[Candidate], phase: str, later_s: float) -> list[Evaluation]:
        """Simulate candidates (in parallel); their runs join the screening."""
        jobs = []
        for c in cands:
            singles = () if len(c.probes) == 1 else tuple(self.runs[c.level])
            jobs.append((self.spec, c.index, singles, self.threads(len(cands))))
        self.track.start(phase, len(jobs), max(c.protocol.total_seconds for c in cands), later_s)
        out = run_all(self.executor, _simulate_job, jobs, self.track.tick)
        evs = []
        for c, (ev, run, result) in zip(cands, out, strict=True):
            old = self.found.get(c.index)
            if old is not None and old.screened_from is not None and ev.refused is None:
                self.screening.append((c.index, old.block_probability, ev.block_probability))
            self.found[c.index] = ev
            if ev.refused:
                self.refused[c.placement_key] = ev.refused
                continue
            self.results[c.index] = result
            if run is not None:
                self.runs[c.level].append(run)
            else:
                self.pair_runs[c.level].append((c, Run(c, _own_field(result, self.ctx), ev.radius_minus20_mm,
                                                       ev.length_minus20_mm)))
            evs.append(ev)
        return evs

    def screen(self, cands: list[Candidate]) -> None:
        """Screen the candidates not simulated from the runs at their protocol. A screening
        depends only on the runs nearest the candidate's probes (and the pair run nearest it):
        a candidate whose nearest runs are still those of its last screening keeps it (the same
        numbers; a round of contenders adds runs near a few candidates only)."""
        for c in cands:
            ev = self.found.get(c.index)
            if ev is not None and (ev.refused or ev.screened_from is None):
                continue
            runs = self.runs[c.level]
            if not runs:
                continue
            together = None
            if len(c.probes) == 2 and self.pair_runs[c.level]:
                together = _nearest_pair(self.pair_runs[c.level], c)
            # identities of runs kept in self.runs / self.pair_runs for the whole search
            sources = (tuple(id(nearest_run(runs, p)) for p in c.probes), id(together))
            if ev is not None and self.screened_with.get(c.index) == sources:
                continue
            self.found[c.index] = screen(self.ctx, c, runs, together)
            self.screened_with[c.index] = sources

    # -- deciding ---------------------------------------------------------------------------------

    def alive(self, cands: list[Candidate], keys: set[tuple]) -> list[Candidate]:
        return [c for c in cands if c.placement_key in keys and c.placement_key not in self.refused]

    def best(self, cands: list[Candidate], simulated: bool = True) -> Evaluation | None:
        evs = [self.found[c.index] for c in cands if c.index in self.found]
        ok = [e for e in evs if e.feasible and (e.simulated or not simulated)]
        return max(ok, key=lambda e: e.rank) if ok else None

    def contenders(self, cands: list[Candidate]) -> list[Candidate]:
        """Screened, safe candidates likely to beat the best simulated one (or, while none meets
        the requirement, within ``SCREEN_MARGIN`` of it), best first."""
        best = self.best(cands)
        bar = best.block_probability if best else self.ctx.required - SCREEN_MARGIN
        out = [c for c in cands if c.index in self.found and self.found[c.index].screened_from is not None
               and self.found[c.index].safe and (self.found[c.index].block_probability > bar if best else
                                                 self.found[c.index].block_probability >= bar)]
        return sorted(out, key=lambda c: self.found[c.index].rank, reverse=True)

    def first(self, cands: list[Candidate], prior: Evaluation | None) -> Candidate:
        """The candidate to simulate first: the prior best placement, else the first."""
        if prior is not None:
            for c in cands:
                if c.placement_key == prior.candidate.placement_key:
                    return c
        return cands[0]

    def level(self, n: int, cands: list[Candidate], prior: Evaluation | None, pairs: bool,
              extra: list[Candidate] = ()) -> Evaluation | None:
        """Search one protocol: simulate the first candidate (and ``extra`` beside it), screen,
        simulate the contenders; the best simulated feasible candidate, or None."""
        (cycles, freeze) = self.s.levels[n]
        label = f"protocol {n + 1} of {len(self.s.levels)} ({cycles} x {freeze:g} s)"
        what = "pairs" if pairs else "placements"
        later = self.bound(n, pairs)
        if pairs and not self.runs[self.s.levels[n]]:
            # a pair is screened from single runs at its protocol: simulate the best single first
            singles = self.alive(self.s.singles[self.s.levels[n]], {c.placement_key for c in self.s.singles[
                self.s.levels[n]]})
            if singles:
                self.simulate([self.first(singles, self.best_single)], f"{label}: one probe", later)
                self.screen(singles)
        if not self.spec.config.plan.screening:  # every placement in 3D: what screening approximates
            self.simulate(cands, f"{label}: simulating every {what[:-1]}", later)
            return self.best(cands)
        start = [self.first(cands, prior), *extra]
        self.simulate(start, f"{label}: {what}, first simulation", later)
        self.screen(cands)
        simulated = 0
        while simulated < MAX_SIMULATED:
            todo = self.contenders(cands)[: min(self.workers, MAX_SIMULATED - simulated)]
            if not todo:
                break
            self.simulate(todo, f"{label}: simulating {what} in contention", later)
            simulated += len(todo)
            self.screen(cands)
        return self.best(cands)

    def survivors(self, cands: list[Candidate]) -> set[tuple]:
        """Placements worth more freezing: safe ones, the ``keep`` most likely to block (0: all).
        With screening every safe one is carried: screening them costs a Monte Carlo each, and a
        placement ranked low by a screened estimate at a short freeze may be the one that passes
        at a longer one (a ``keep`` of screened estimates missed the 1 x 90 s plan of --example
        that simulating every placement finds: benchmarks/README.md)."""
        pc = self.spec.config.plan
        keep = 0 if pc.screening else pc.keep
        found = [self.found[c.index] for c in cands if c.index in self.found]
        evs = sorted((e for e in found if e.safe), key=lambda e: -e.block_probability)
        return {e.candidate.placement_key for e in (evs[:keep] if keep else evs)}

    def reach(self, cands: list[Candidate]) -> float:
        """The highest block probability, screened or simulated, of any of ``cands`` judged."""
        return max((e.block_probability for e in (self.found.get(c.index) for c in cands)
                    if e is not None and not e.refused), default=0.0)

    def hopeless(self, level: tuple[int, float]) -> bool:
        """Whether even the longest protocol's best screened or simulated single probe falls
        short of the requirement by more than ``SCREEN_MARGIN``."""
        cands = self.s.singles[level]
        self.screen(cands)
        evs = [e for e in (self.found.get(c.index) for c in cands) if e is not None and not e.refused]
        return bool(evs) and max(e.block_probability for e in evs) < self.ctx.required - SCREEN_MARGIN

    def search(self, kind: str) -> Evaluation | None:
        by_level = self.s.singles if kind == "single" else self.s.pairs
        levels = self.s.levels
        if not any(by_level[lv] for lv in levels):
            return None
        keys = {c.placement_key for c in by_level[levels[0]]}
        prior = None
        for n, level in enumerate(levels):
            cands = self.alive(by_level[level], keys)
            if not cands:
                break
            extra = []
            far = n == 1 and self.reach(by_level[levels[0]]) < self.ctx.required - 2 * SCREEN_MARGIN
            if kind == "single" and n == 1 and len(levels) > 2 and self.workers > 1 and far:
                # the first protocol fell far short: the longest beside the second bounds what one
                # probe can do (close to the requirement, the next protocols are likelier to pass
                # than that long run is to be needed)
                last = self.alive(by_level[levels[-1]], keys)
                extra = [self.first(last, prior)] if last else []
            chosen = self.level(n, cands, prior, kind == "pairs", extra)
            if kind == "single":
                self.best_single = self.best(cands, simulated=False) or self.best_single
            if chosen is not None:
                return chosen
            prior = self.best(cands, simulated=False)
            if kind == "single" and extra and self.hopeless(levels[-1]):
                break  # not even the longest protocol would do: on to two probes
            keys = self.survivors(cands)
        return None

    def run(self) -> tuple[Evaluation | None, str]:
        chosen = self.search("single")
        if chosen is None and self.spec.config.plan.probes == 2:
            chosen = self.search("pairs")
        return chosen, _why(chosen, list(self.found.values()), self.ctx.required)

    def checks(self, chosen: Evaluation) -> tuple[Check, ...]:
        n = self.spec.config.plan.checks
        if n == 0:
            return ()
        probes = len(chosen.candidate.probes)
        offsets = [self.ctx.offsets[:probes, k] for k in range(1, 1 + n)]
        self.track.start("re-simulating the plan at displaced placements", len(offsets),
                         chosen.candidate.protocol.total_seconds, 0.0)
        jobs = [(self.spec, chosen.candidate.index, o, self.threads(len(offsets))) for o in offsets]
        runs = run_all(self.executor, _check_job, jobs, self.track.tick)
        return tuple(
            Check(tuple(tuple(round(float(x), 2) for x in row * 1e3) for row in o), b, t,
                  float(chosen.sample_block_probability[k + 1]), float(chosen.sample_min_k[k + 1]), why)
            for k, (o, (b, t, why)) in enumerate(zip(offsets, runs, strict=True)))


def _own_field(result: ThermalResult3D, ctx):
    return Field.of(result.history, ctx.grid)


def _nearest_pair(pairs: list[tuple[Candidate, Run]], c: Candidate) -> Run:
    def distance(item: tuple[Candidate, Run]) -> float:
        other = item[0]
        return sum(float(np.linalg.norm(a.tip - b.tip)) for a, b in zip(other.probes, c.probes, strict=True))

    return min(pairs, key=distance)[1]


def _why(chosen: Evaluation | None, evaluations: list[Evaluation], required: float) -> str:
    tried = [e for e in evaluations if not e.refused]
    if not tried:
        reasons = sorted({e.refused for e in evaluations if e.refused})
        return "no safe plan: every candidate placement was refused (" + "; ".join(reasons) + ")"
    by_level: dict[tuple[int, float, int], list[Evaluation]] = {}
    for e in tried:
        by_level.setdefault((len(e.candidate.probes), e.candidate.cycles, e.candidate.freeze_s), []).append(e)
    lines = []
    at_chosen = None if chosen is None else (len(chosen.candidate.probes), chosen.candidate.cycles,
                                             chosen.candidate.freeze_s)
    order = sorted(by_level.items(), key=lambda kv: (kv[0][0], kv[0][1] * kv[0][2]))
    for (probes, cycles, freeze), evs in order:
        if (probes, cycles, freeze) == at_chosen:
            break
        best = max(evs, key=lambda e: (e.simulated, e.block_probability))
        how = "simulated" if best.simulated else "screened"
        lines.append(f"{probes} probe{'s' if probes > 1 else ''}, {cycles} x {freeze:g} s: best of "
                     f"{len(evs)} placements ({how}) fails ({'; '.join(best.failures)})")
    if chosen is None:
        best = max(tried, key=lambda e: (e.simulated, e.safe, e.block_probability))
        return (
            "no safe plan: no candidate met every constraint at any protocol. Best candidate "
            f"({len(best.candidate.probes)} probe(s), {best.candidate.cycles} x "
            f"{best.candidate.freeze_s:g} s): "
            f"{'; '.join(best.failures)}. " + " ".join(lines[-3:])
        )
    c = chosen.candidate
    level = [e for e in tried if (len(e.candidate.probes), e.candidate.cycles, e.candidate.freeze_s) ==
             (len(c.probes), c.cycles, c.freeze_s)]
    ok = [e for e in level if e.feasible and e.simulated]
    sim = sum(e.simulated for e in level)
    probes = "two probes" if len(c.probes) == 2 else "one probe"
    text = (
        f"the shortest total freezing time ({c.total_freeze_s:g} s) at which {probes} met every constraint; "
        f"of {len(level)} placements {len(level) - sim} were screened and {sim} simulated, {len(ok)} of "
        f"those met every constraint, and this one has the highest block probability "
        f"({chosen.block_probability:.2f} >= {required:g})"
        + (" and then the widest safety margin" if len(ok) > 1 else "")
        + "."
    )
    if lines:
        text += " Shorter protocols: " + " | ".join(lines)
    return text


def _exit_points(s: Setup, chosen: Evaluation) -> np.ndarray:
    """Where each needle's axis meets the skin (a template's skin plane, or where it leaves the
    volume)."""
    out = []
    for p in chosen.candidate.probes:
        length = s.anatomy.path_length(p.tip, p.axis)
        out.append(p.tip + (length or 0.0) * p.axis)
    return np.array(out)


def _target_plan(spec: Spec, executor: Executor | None, workers: int, track: _Tracker,
                 case: PlanCase, local: bool = False) -> TargetPlan:
    start = time.perf_counter()
    search = _Search(spec, executor, workers, track, local)
    chosen, why = search.run()
    s, ctx = search.s, search.ctx
    checks: tuple[Check, ...] = ()
    relief = None
    entry = None
    run = None
    if chosen is not None:
        checks = search.checks(chosen)
        run = search.results.get(chosen.candidate.index)
        entry = _exit_points(s, chosen)
        if min(a.block_probability for a in chosen.nominal) > 0:
            relief = case.relief.distribution(regrowth_distance(ctx.targets, chosen.nominal), case.patient)
    checked = chosen is None or all(s.anatomy.path_checked(p.tip, p.axis) for p in chosen.candidate.probes)
    gas = None if chosen is None else (ctx.probe.mass_flow * chosen.candidate.total_freeze_s
                                       * len(chosen.candidate.probes) * 1e3)
    kept = () if chosen is None or len(chosen.candidate.probes) > 1 else tuple(
        nearest_run(rs, chosen.candidate.probes[0]) for _, rs in sorted(search.runs.items()) if rs)
    return TargetPlan(
        s.target.name, s.anatomy.name, ctx.required, ctx.sigma * 1e3, ctx.offsets.shape[1], chosen,
        tuple(search.found[k] for k in sorted(search.found)), why, relief, checks, entry,
        time.perf_counter() - start, s.anatomy.volume, run, tuple(search.screening), checked,
        s.target.level, s.target.side, gas, protocol_runs=kept, patient=s.anatomy.patient)


def plan(case: PlanCase, progress: Reporter | None = None, executor: Executor | None = None) -> Plan:
    """Plan every target of a plan's ``case`` (``cryoplan.case.build_plan``; raises InputError
    for a target that cannot be set up); ``progress`` gets a ``Progress`` after each run.
    ``executor`` runs the simulations (any ``concurrent.futures``-like executor, e.g. a
    cluster's); by default a pool of ``plan.workers`` local processes (all cores; one: here)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # one BLAS thread here too, as in the workers
        return _plan(case, progress, executor)


def _plan(case: PlanCase, progress: Reporter | None, executor: Executor | None) -> Plan:
    start = time.perf_counter()
    if progress is not None:
        progress(Progress("setting up the anatomy and its resting temperature", 0, 0, "", 0.0, at_most=True))
    cfg = case.config
    specs, targets = Spec.all(cfg, case.base), case.targets
    mirrored = mirrors(targets)
    case = case.operated()
    # set up here, before the pool starts: its workers get them
    setups = tuple((spec, setup(spec, case)) for k, spec in enumerate(specs) if k not in mirrored)
    workers = cfg.plan.workers or os.cpu_count() or 1
    pool = local_pool(workers, setups) if executor is None and workers > 1 else None
    track = _Tracker(progress, len(specs) - len(mirrored))
    plans: list[TargetPlan] = []
    runner = executor or pool
    try:
        with threads_here(1) if runner else nullcontext():  # here, only screening
            for k, spec in enumerate(specs):
                if k in mirrored:
                    plans.append(_mirrored(plans[mirrored[k]], targets[k]))
                    continue
                track.target(k - sum(1 for m in mirrored if m < k), 0.0)
                plans.append(_target_plan(spec, runner, workers if runner else 1, track, case,
                                          pool is not None))
        if pool is not None:
            stop(pool)
    finally:
        if pool is not None:
            stop(pool, now=True)  # an error or Ctrl-C: no worker outlives the search
    result = Plan(tuple(plans), time.perf_counter() - start)
    if progress is not None:
        progress(Progress("plan found" if result.planned else "no safe plan", 1, 1, "", 1.0))
    return result


def mirrors(targets: list) -> dict[int, int]:
    """Targets that are the mirror image of an earlier one (the same template and level on the
    other side) -> that one's number. A template is the same on both sides in its own frame (x
    lateral), so the plan of one side is the other's, mirrored (``session_frame``)."""
    first: dict[tuple[str, str], int] = {}
    out = {}
    for k, t in enumerate(targets):
        if t.level is None or t.patient:  # a patient's two sides differ
            continue
        key = (t.template or template_of(t.level), t.level)
        if key in first:
            out[k] = first[key]
        else:
            first[key] = k
    return out


def _mirrored(p: TargetPlan, t) -> TargetPlan:
    """``p``'s plan for ``t``, its mirror image on the other side."""
    anatomy = p.anatomy.removesuffix(f" {p.side}") + (f" {t.side}" if t.side else "")
    why = (f"the mirror image of {p.name}'s plan (the template is the same on both sides; tips and "
           f"directions in its frame, x lateral): {p.why}")
    return replace(p, name=t.name, anatomy=anatomy, side=t.side, why=why, wall_time_s=0.0, mirror_of=p.name)


def _in_session(t: TargetPlan, fields: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A template target's fields and origin in the session's frame (``session_frame``: mirrored
    for the left side); a volume's stay in its own."""
    vol = t.volume
    if t.level is None or t.patient is not None:  # a volume's or a patient's region: its own frame
        return fields, vol.origin
    shift, mirrored = session_frame(t.level, t.side)
    origin = vol.origin.copy()
    if mirrored:
        fields = {k: v[::-1] for k, v in fields.items()}
        origin[0] = -(vol.origin[0] + (vol.shape[0] - 1) * vol.spacing[0])
    return fields, origin + shift


def export(plan: Plan, out_dir: Path, write=write_atomic) -> list[Path]:
    """Each planned target's labels and coldest temperatures as NIfTI (one file each) and VTK
    image data (all fields), for 3D Slicer and ParaView, written with ``write(path, writer)``: in
    ``out_dir`` for a single target (in its own frame), else named after each target, each in
    the session's frame (``session_frame``), with a ParaView collection of them (``session.vtm``).
    A patient's region's NIfTI files lie on its CT (RAS+), its VTK file in the target's frame."""
    paths: list[Path] = []
    blocks = []
    session = len(plan.targets) > 1
    for t in plan.planned:
        prefix = f"{_slug(t.name)}-" if session else ""
        fields = {"labels": t.volume.labels, "min_temperature_c": t.coldest_c,
                  "probe": (~t.run.history.tissue).astype(np.uint8)}
        origin = t.volume.origin
        if session:
            fields, origin = _in_session(t, fields)
        names = [out_dir / f"{prefix}{n}" for n in ("labels.nii.gz", "min_temperature_c.nii.gz", "plan.vti")]
        spacing = t.volume.spacing
        # a patient's region lies on the CT (RAS+); the VTK file stays in the target's frame
        on_ct = None if t.patient is None else t.patient.affine_mm(origin, spacing)
        write_nifti(names[0], fields["labels"].astype(np.int16), origin, spacing, write, on_ct)
        write_nifti(names[1], fields["min_temperature_c"].astype(np.float32), origin, spacing, write, on_ct)
        write_vti(names[2], origin, spacing, fields, write)
        paths += names
        blocks.append((t.name, names[2].relative_to(out_dir)))
    if session and blocks:
        paths.append(write_vtm(out_dir / "session.vtm", blocks, write))
    return paths


def _slug(name: str) -> str:
    """A folder name for a target: letters, digits and dashes.

    >>> _slug("L4 left")
    'L4-left'
    """
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-") or "target"
