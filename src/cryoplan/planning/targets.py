"""The targets of a plan, each set up once per process: its anatomy, what its candidates share
(the resting temperature, the probe, the placement errors of each probe) and its candidates
(placements in the approach cone x protocols), with the placements that cannot be used and why.

A target is named by a small ``Spec`` (the plan as JSON, its folder, the target's number), so a
worker anywhere can set it up from the spec alone; ``setup`` keeps the last few per process.
A placement is refused once, for every protocol, when its tip lies outside the volume, when the
whole needle, from the skin to the tip, meets bone (``Anatomy.bone_on_path``), when a tilted
probe cannot be seated on bone without entering it, when it would pierce a target nerve, or (two
probes) when the probes would touch.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cryoplan import case
from cryoplan.anatomy.templates import Anatomy
from cryoplan.errors import InputError
from cryoplan.plan_config import PlanConfig, Target, parse
from cryoplan.planning.evaluate import Candidate, Context, Placement, ProtectedStructure, overlaps
from cryoplan.planning.space import directions, placement_offsets, protocols
from cryoplan.thermal.steady import resting_temperature
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.units import c_to_k

#: Targets kept set up per process.
CACHED = 24


@dataclass(frozen=True)
class Spec:
    """A target by name: the plan (its validated config as JSON), its folder and its number."""

    plan_json: str
    base: str
    index: int

    @classmethod
    def all(cls, cfg: PlanConfig, base: Path) -> list[Spec]:
        text = cfg.model_dump_json()
        return [cls(text, str(base), k) for k in range(len(cfg.targets()))]

    @property
    def config(self) -> PlanConfig:
        return parse(json.loads(self.plan_json))


@dataclass
class Setup:
    """One target, set up: its anatomy and context, its protocols (in the order tried) and its
    candidates by protocol, single probes and pairs, and the placements refused (key -> why)."""

    target: Target
    anatomy: Anatomy
    ctx: Context
    levels: list[tuple[int, float]]
    singles: dict[tuple[int, float], list[Candidate]]
    pairs: dict[tuple[int, float], list[Candidate]]
    refused: dict[tuple, str]
    candidates: dict[int, Candidate] = field(default_factory=dict)


def _protected(cfg: PlanConfig, anatomy: Anatomy) -> tuple[ProtectedStructure, ...]:
    vol = anatomy.volume
    structures = vol.with_role("protected")
    overrides = {p.name: p.limit_c for p in cfg.protected}
    known = {s.name for s in structures}
    for k, name in enumerate(p.name for p in cfg.protected):
        if name not in known:
            raise InputError(f"protected[{k}].name", name,
                             "a protected structure of the anatomy: " + ", ".join(sorted(known)))
    return tuple(
        ProtectedStructure(s.name, c_to_k(overrides[s.name]) if s.name in overrides else s.limit_k,
                           vol.centres_of(s.label))
        for s in structures)


def refusal(anatomy: Anatomy, grid: VoxelGrid, radius: float, probes: tuple[Placement, ...]) -> str | None:
    """Why these probes (of ``radius``, m) cannot be placed in ``anatomy`` on its ``grid`` (None:
    they can): a tip
    outside the volume, a needle that never reaches the skin or meets bone anywhere from the skin
    to the tip, a probe that would pierce a target nerve, two probes that would touch. The
    planner's rule for its candidates, and the web planner's for a probe moved by hand."""
    for p in probes:
        if not grid.contains(p.tip):
            lo, hi = (np.round(x * 1e3, 2).tolist() for x in (grid.extent_min, grid.extent_max))
            return f"probe.tip_mm: a tip inside the volume ({lo} to {hi} mm)"
        if anatomy.path_length(p.tip, p.axis) is None:
            return "probe.direction: a needle whose hub lies towards the skin"
        hit = anatomy.bone_on_path(p.tip, p.axis, radius)
        if hit is not None:
            return (f"probe.direction: a needle that misses bone from the skin to the tip: it meets bone at "
                    f"{np.round(hit * 1e3, 2).tolist()} mm")
        pierced = [n.name for n in anatomy.targets if overlaps(n, p.tip, p.axis, radius)]
        if pierced:
            return f"the probe would pierce the target ({', '.join(pierced)})"
    if len(probes) == 2:
        a, b = probes
        w = np.cross(a.axis, b.axis)
        gap = (abs((b.tip - a.tip) @ w) / np.linalg.norm(w) if np.linalg.norm(w) > 1e-9
               else np.linalg.norm(np.cross(b.tip - a.tip, a.axis)))
        if gap < 2 * radius + 0.5e-3:
            return "the two probes would touch (their axes closer than two radii and 0.5 mm)"
    return None


def _context(plan: case.PlanCase, anatomy: Anatomy) -> Context:
    assert plan.model is not None  # operated
    cfg = plan.config
    grid = anatomy.volume.voxel_grid()
    for nerve in anatomy.targets:
        inside = grid.contains(nerve.points)
        if not inside.all():
            raise InputError(f"target[{nerve.name}].points_mm",
                             (nerve.points[~inside][0] * 1e3).round(2).tolist(),
                             "points inside the label volume")
    pc, sigma = cfg.plan, plan.sigma
    # probe 0 draws from the seed itself (a one-probe plan's samples), each further probe its own
    offsets = np.stack([placement_offsets(anatomy.approach_axis, sigma, pc.samples, pc.seed if j == 0
                                          else [pc.seed, j]) for j in range(pc.probes)])
    return Context(grid, resting_temperature(grid), plan.model, anatomy.targets, _protected(cfg, anatomy),
                   plan.injury, sigma, offsets, pc.block_probability, pc.max_step_s, plan.perfusion)


def _placements(cfg: PlanConfig, anatomy: Anatomy, ctx: Context) -> tuple[list, list, dict]:
    """Single placements and pairs (tuples of Placement), and the refused ones with why."""
    pc, radius = cfg.plan, ctx.probe.radius
    cone = anatomy.cone_deg
    rings = pc.ring_deg if pc.ring_deg is not None else [cone / 2, cone]
    dirs = directions(anatomy.approach_axis, rings, pc.per_ring)
    refused: dict[tuple, str] = {}

    def seat(tip: np.ndarray, axis: np.ndarray) -> Placement:
        seated = anatomy.seated(tip, axis, radius)
        return Placement(tip if seated is None else seated, axis), seated is None

    def add(probes: list[tuple[Placement, bool]], out: list) -> None:
        key = tuple(p.key for p, _ in probes)
        if key in refused or any(tuple(q.key for q in o) == key for o in out):
            return
        placed = tuple(p for p, _ in probes)
        if any(bad for _, bad in probes):
            refused[key] = ("a tilted probe that rests on bone without entering it (it would need to be "
                            "drawn back more than 4 mm)")
        else:
            why = refusal(anatomy, ctx.grid, ctx.probe.radius, placed)
            if why:
                refused[key] = why
        out.append(placed)

    singles: list = []
    for tip in anatomy.tips(radius, tuple(g * 1e-3 for g in pc.gaps_mm)):
        for axis in dirs:
            add([seat(tip, axis)], singles)
    pairs: list = []
    if pc.probes == 2:
        for a, b in anatomy.pair_tips(radius):
            for axis in dirs:
                add([seat(a, axis), seat(b, axis)], pairs)
    return singles, pairs, refused


def build(spec: Spec, plan: case.PlanCase | None = None) -> Setup:
    """Set a target up from its spec (raises InputError), in the plan's case (resolved here from
    the spec when not given: a worker process)."""
    plan = (case.build_plan(spec.config, spec.base) if plan is None else plan).operated()
    cfg = plan.config
    t = plan.targets[spec.index]
    anatomy = plan.anatomy(spec.index)
    ctx = _context(plan, anatomy)
    singles, pairs, refused = _placements(cfg, anatomy, ctx)
    pc = cfg.plan
    levels, by_single, by_pair, everything = [], {}, {}, {}
    k = 0
    tried = protocols(pc.freeze_seconds, pc.cycles, pc.thaw_seconds, pc.observe_seconds)
    for cycles, freeze, protocol in tried:
        level = (cycles, freeze)
        levels.append(level)
        for store, placements in ((by_single, singles), (by_pair, pairs)):
            store[level] = []
            for probes in placements:
                c = Candidate(k, probes, cycles, freeze, protocol)
                store[level].append(c)
                everything[k] = c
                k += 1
    return Setup(t, anatomy, ctx, levels, by_single, by_pair, refused, everything)


_CACHE: OrderedDict[Spec, Setup] = OrderedDict()


def remember(spec: Spec, s: Setup) -> None:
    """Keep a set-up target for ``setup`` (the last ``CACHED`` are kept)."""
    _CACHE[spec] = s
    _CACHE.move_to_end(spec)
    while len(_CACHE) > CACHED:
        _CACHE.popitem(last=False)


def setup(spec: Spec, plan: case.PlanCase | None = None) -> Setup:
    """The target of ``spec``, set up once per process (in ``plan``, when given)."""
    if spec in _CACHE:
        _CACHE.move_to_end(spec)
        return _CACHE[spec]
    s = build(spec, plan)
    remember(spec, s)
    return s
