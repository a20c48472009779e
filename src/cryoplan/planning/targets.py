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

from cryoplan import resolve
from cryoplan.anatomy.labels import anatomy_data, load_label_volume
from cryoplan.anatomy.templates import Anatomy, template, template_of
from cryoplan.errors import InputError
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.thresholds import default_nerve_diameter_m
from cryoplan.plan_config import PlanConfig, Target, parse
from cryoplan.planning.evaluate import Candidate, Context, Placement, ProtectedStructure, overlaps
from cryoplan.planning.space import (
    directions,
    placement_offsets,
    protocols,
    sigma_from_mean_error,
    sigma_from_radius95,
)
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


def placement_sigma(kind: str, mean_error_mm: float | None) -> float:
    """Per-axis placement error (m): a given mean error, or the cited default of ``kind``
    (data/anatomy.toml [placement]: ct, or stimulation-guided)."""
    data = anatomy_data()["placement"]
    if mean_error_mm is not None:
        return sigma_from_mean_error(mean_error_mm * 1e-3)
    if kind == "stimulation":
        return sigma_from_radius95(data["stimulation"]["radius95_mm"] * 1e-3)
    return sigma_from_mean_error(data["error_mm"] * 1e-3)


def _sided(a: Anatomy, side: str | None) -> Anatomy:
    """A template's anatomy named for its side (the template's own frame: x lateral either way,
    so both sides are the same problem; its nerves keep their names, the target names the side)."""
    if side is None:
        return a
    return Anatomy(f"{a.name} {side}", a.volume, a.targets, a.beside, a.outward, a.approach_axis, a.cone_deg,
                   a.body, a.skin_z, a.pairs)


def anatomy_of(cfg: PlanConfig, t: Target, base: Path) -> Anatomy:
    """A target's anatomy: its template at its level and side, or the NIfTI volume with its
    nerves and approach; [approach] axis and cone_deg replace a template's."""
    ac, ap = cfg.anatomy, cfg.approach
    if t.level is not None:
        a = template(t.template or template_of(t.level), t.level, ac.spacing_mm)
        axis = a.approach_axis if ap.axis is None else np.array(ap.axis, float) / np.linalg.norm(ap.axis)
        a = Anatomy(a.name, a.volume, a.targets, a.beside, a.outward, axis, cfg.cone_of(t), a.body,
                    a.skin_z, a.pairs)
        return _sided(a, t.side)
    assert ac.nifti and ac.label_table
    volume = load_label_volume(ac.nifti, ac.label_table, base)
    nerves = tuple(
        Nerve(cfg.target[k].name or f"target {k}",
              cfg.target[k].diameter_mm * 1e-3 if cfg.target[k].diameter_mm else default_nerve_diameter_m(),
              np.array(cfg.target[k].points_mm) * 1e-3)
        for k in t.nerves)
    tips = t.tips_mm or tuple(tuple(p) for p in ap.tips_mm or ())
    axis = np.array(t.axis if t.axis is not None else ap.axis, float)
    return Anatomy(t.name if t.tips_mm else Path(ac.nifti).name, volume, nerves, np.array(tips) * 1e-3,
                   np.zeros(3), axis / np.linalg.norm(axis), cfg.cone_of(t))


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


def _context(cfg: PlanConfig, anatomy: Anatomy) -> Context:
    model = resolve.probe(cfg.probe, cfg.cryogen)[0]
    grid = anatomy.volume.voxel_grid()
    for nerve in anatomy.targets:
        inside = grid.contains(nerve.points)
        if not inside.all():
            raise InputError(f"target[{nerve.name}].points_mm",
                             (nerve.points[~inside][0] * 1e3).round(2).tolist(),
                             "points inside the label volume")
    pc = cfg.plan
    sigma = placement_sigma(pc.placement, pc.placement_error_mm)
    # probe 0 draws from the seed itself (a one-probe plan's samples), each further probe its own
    offsets = np.stack([placement_offsets(anatomy.approach_axis, sigma, pc.samples, pc.seed if j == 0
                                          else [pc.seed, j]) for j in range(pc.probes)])
    return Context(grid, resting_temperature(grid), model, anatomy.targets, _protected(cfg, anatomy),
                   resolve.injury(cfg.injury), sigma, offsets, pc.block_probability, pc.max_step_s)


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


def build(spec: Spec) -> Setup:
    """Set a target up from its spec (raises InputError)."""
    cfg = spec.config
    t = cfg.targets()[spec.index]
    anatomy = anatomy_of(cfg, t, Path(spec.base))
    ctx = _context(cfg, anatomy)
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


def setup(spec: Spec) -> Setup:
    """The target of ``spec``, set up once per process."""
    if spec in _CACHE:
        _CACHE.move_to_end(spec)
        return _CACHE[spec]
    s = build(spec)
    remember(spec, s)
    return s
