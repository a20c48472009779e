"""A planned probe moved by hand, judged by screening: the web planner's 3D view.

When a plan is written, each planned target keeps what it takes to judge its probe at another
placement (``states`` -> ``adjust.npz``): the chosen plan's coldest-temperature field at its
nominal placement and, for each other protocol the planner simulated, the run nearest that
placement (``TargetPlan.protocol_runs``), each cropped to the box of its voxels colder than
``ceiling_k``, the label volume, the
target nerves, the protected structures' limits, the placement-error samples and the injury
thresholds. A moved probe (a tip offset, a tilt about the tip) is then judged as the planner
screens a placement (``evaluate.judge`` on ``fields.Moved``): the run's field carried by the
rigid motion taking the planned needle to the moved one, with the same Monte Carlo over
placement errors and the same rule for the block probability. It is an estimate, not a new 3D
run: it neglects how bone and tissue boundaries near the probe reshape the ice ball when it
moves (the planner's re-simulation checks measure that error for its own displacements).

The crop loses nothing the judgement uses: every voxel colder than ``ceiling_k`` (10 K above
the warmest threshold or limit) lies inside it, and a point beyond it samples the crop's face,
also at least ``ceiling_k``; temperatures at or above the ceiling are reported as "warmer than"
it. Only the protocols the planner simulated have a field (the others are refused, naming those
that have one); a two-probe plan is shown but cannot be moved (screening moves each probe's own
single-probe run, which the plan does not keep).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from cryoplan.anatomy.labels import LabelVolume, Structure
from cryoplan.anatomy.templates import Anatomy
from cryoplan.case import PlanCase
from cryoplan.errors import InputError
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.thresholds import InjuryThresholds
from cryoplan.planning.evaluate import Candidate, Context, Evaluation, Placement, ProtectedStructure, judge
from cryoplan.planning.fields import Field, Model, Moved, Rigid
from cryoplan.planning.space import MAX_OFFSET_MM, MAX_TILT_DEG
from cryoplan.planning.targets import Spec, refusal, setup
from cryoplan.protocol import Protocol
from cryoplan.protocol import cycles as freeze_thaw
from cryoplan.units import ZERO_CELSIUS_K, k_to_c

#: Temperatures this far above the warmest threshold or limit (and 0 C, drawn) are not kept (K):
#: a margin for the trilinear sampling between kept and dropped voxels (an assumption: 10 K is
#: several voxels of the ice ball's gradient at the planner's spacings, so no sample straddles it).
CEILING_ABOVE_K = 10.0
#: Voxels kept beyond the cold box on each side (interpolation needs one).
PAD = 2
#: The moved ice ball is resampled for drawing on at most this many points per axis.
DRAW_POINTS = 40
VERSION = 1


@dataclass(frozen=True)
class TargetState:
    """One planned target, as kept for moving its probe (SI units)."""

    name: str
    meta: dict[str, Any]  # scalars and tables (see ``states``)
    fields: tuple[Field, ...]  # coldest temperature (K), cropped, of each kept run (meta["fields"])
    labels: LabelVolume
    offsets: np.ndarray  # (n_probes, n_samples, 3) m, sample 0 nominal
    nerves: tuple[Nerve, ...]

    @property
    def probes(self) -> tuple[Placement, ...]:
        return tuple(Placement(np.array(p["tip"]), np.array(p["axis"])) for p in self.meta["probes"])

    @property
    def entries(self) -> np.ndarray:
        return np.array(self.meta["entries"])

    @property
    def freeze_s(self) -> float:
        return float(self.meta["freeze_s"])

    @property
    def protocols(self) -> list[tuple[int, float]]:
        """(cycles, seconds per freeze) of each kept run, the planned one first."""
        return [(f["cycles"], f["freeze_s"]) for f in self.meta["fields"]]

    def run(self, cycles: int | None, freeze_s: float | None) -> tuple[Field, Placement, int, float]:
        """The kept run of a protocol (None: the plan's), where it was simulated, and its
        protocol (raises InputError naming the protocols kept)."""
        m = self.meta
        want = (m["cycles"] if cycles is None else cycles,
                self.freeze_s if freeze_s is None else float(freeze_s))
        for f, row in zip(self.fields, m["fields"], strict=True):
            if (row["cycles"], row["freeze_s"]) == want:
                return f, Placement(np.array(row["tip"]), np.array(row["axis"])), *want
        order = sorted(self.protocols, key=lambda p: (p[0] * p[1], p[0]))
        kept = ", ".join(f"{c} x {s:g} s" for c, s in order)
        raise InputError("freeze_s" if cycles is None else "cycles", f"{want[0]} x {want[1]:g} s",
                         f"one of {kept} (the protocols the "
                         "planner simulated for this target; another needs a new plan)")

    @cached_property
    def anatomy(self) -> Anatomy:
        """The labels and nerves as the planner's placement rule (``targets.refusal``) reads them:
        bone along the whole needle inside the volume (a template's shapes beyond it are not kept)."""
        none = np.zeros((0, 3))
        return Anatomy(self.name, self.labels, self.nerves, none, np.zeros(3), self.probes[0].axis, 0.0,
                       skin_z=self.meta.get("skin_z"))

    @cached_property
    def context(self) -> Context:
        """What ``evaluate.judge`` reads. Judging needs neither the resting field nor the probe
        model (they start 3D runs), so neither is kept."""
        m = self.meta
        protected = tuple(ProtectedStructure(s["name"], s["limit_k"], self.labels.centres_of(s["label"]))
                          for s in m["protected"])
        return Context(self.labels.voxel_grid(), None, None, self.nerves, protected,  # type: ignore[arg-type]
                       InjuryThresholds(**m["injury"]), m["sigma_m"], self.offsets, m["required"], 0.0)


@dataclass(frozen=True)
class Estimate:
    """A moved probe judged by screening: the evaluation, the moved needle(s) and the moved
    coldest field resampled on an axis-aligned grid for drawing."""

    evaluation: Evaluation
    tips: np.ndarray  # (n_probes, 3) m
    entries: np.ndarray  # (n_probes, 3) m
    warnings: tuple[str, ...]
    draw_origin: np.ndarray
    draw_spacing: np.ndarray
    draw_values: np.ndarray  # (nx, ny, nz) K


def _crop_box(values: np.ndarray, ceiling_k: float) -> tuple[slice, ...]:
    cold = np.argwhere(values < ceiling_k)
    if not cold.size:
        cold = np.array([np.array(values.shape) // 2])
    shape = np.array(values.shape)
    lo = np.clip(cold.min(axis=0) - PAD, 0, shape - 2)  # trilinear sampling needs two voxels an axis
    hi = np.clip(cold.max(axis=0) + PAD + 1, lo + 2, shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def states(plan, case: PlanCase) -> bytes:
    """The compressed ``.npz`` (no pickles) of every planned target's state: for a target that
    mirrors another, only a reference to it (the template is the same on both sides).

    ``plan`` is a ``search.Plan`` of the plan ``case``; the targets' contexts are the planner's
    own (``targets.setup``, already set up in the planning process).
    Per target it holds each kept run's cropped field (float32) and tissue mask, the labels (the
    narrowest integer type that holds them), the placement errors, the nerves and a JSON table of
    the rest: compressed, about 80 kB for the L4 template at 0.75 mm with two protocols kept
    (some 35 kB a protocol)."""
    arrays: dict[str, np.ndarray] = {}
    index: list[dict[str, Any]] = []
    specs = Spec.all(case.config, case.base)
    for k, t in enumerate(plan.targets):
        entry = {"name": t.name, "level": t.level, "side": t.side, "mirror_of": t.mirror_of,
                 "planned": t.chosen is not None and (t.run is not None or t.mirror_of is not None),
                 "key": None}
        index.append(entry)
        if t.chosen is None or t.run is None or t.mirror_of is not None:
            continue
        key = entry["key"] = f"t{k}"
        target_setup = setup(specs[k], case)
        ctx = target_setup.ctx
        c = t.chosen.candidate
        vol = t.volume
        label_of = {s.name: s.label for s in vol.with_role("protected")}
        protected = [{"name": p.name, "label": label_of[p.name], "limit_k": p.limit_k} for p in ctx.protected]
        th = ctx.injury
        warmest = max([ZERO_CELSIUS_K, th.neurapraxia_below_k] + [p.limit_k for p in ctx.protected])
        ceiling = warmest + CEILING_ABOVE_K
        kept = {r.candidate.level: (r.field, r.candidate.probes[0]) for r in t.protocol_runs}
        kept.pop(c.level, None)  # the plan's own run, first
        fields = []
        own = (c.level, (Field.of(t.run.history, t.run.grid), c.probes[0]))
        for j, (level, (full, source)) in enumerate([own, *sorted(kept.items())]):
            box = _crop_box(full.values, ceiling)
            start = np.array([b.start for b in box])
            arrays[f"{key}.field{j}"] = full.values[box].astype(np.float32)
            arrays[f"{key}.tissue{j}"] = full.tissue[box]
            fields.append({"cycles": level[0], "freeze_s": level[1], "tip": source.tip.tolist(),
                           "axis": source.axis.tolist(),
                           "origin": (full.origin + start * full.spacing).tolist()})
        arrays[f"{key}.labels"] = vol.labels.astype(np.min_scalar_type(int(vol.labels.max())))
        arrays[f"{key}.offsets"] = ctx.offsets[:len(c.probes)]
        for j, n in enumerate(ctx.targets):
            arrays[f"{key}.nerve{j}"] = n.points
        entry.update({
            "anatomy": t.anatomy,
            "fields": fields,
            "spacing": np.asarray(vol.spacing, float).tolist(),
            "label_origin": np.asarray(vol.origin, float).tolist(),
            "structures": [asdict(s) for s in vol.structures.values()],
            "sides": list(vol.sides),
            "probes": [{"tip": p.tip.tolist(), "axis": p.axis.tolist()} for p in c.probes],
            "entries": np.asarray(t.entry_m).tolist(),
            "probe_radius_m": ctx.probe.radius,
            "skin_z": target_setup.anatomy.skin_z,
            "cycles": c.cycles, "freeze_s": c.freeze_s, "thaw_s": case.config.plan.thaw_seconds,
            "nerves": [{"name": n.name, "diameter": n.diameter} for n in ctx.targets],
            "protected": protected,
            "injury": {name: v for name, v in asdict(th).items() if name != "sources"},
            "ceiling_k": ceiling,
            "sigma_m": ctx.sigma,
            "required": ctx.required,
            "planned_block_probability": t.chosen.block_probability,
        })
    arrays["index"] = np.array(json.dumps({"version": VERSION, "targets": index}))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def write_states(plan, case: PlanCase, path: Path, write) -> None:
    """Stage ``states`` at ``path`` with ``write(path, writer)`` (an ``OutputSet.stage``)."""
    data = states(plan, case)
    write(path, lambda p: p.write_bytes(data))


@dataclass(frozen=True)
class Session:
    """A plan's kept states: every target in order (``index``) and the planned ones by name
    (a mirrored target's name gives its source's state)."""

    index: tuple[dict[str, Any], ...]
    by_name: dict[str, TargetState]

    def target(self, name_or_number: str | int) -> TargetState:
        return self.by_name[self.name(name_or_number)]

    def name(self, name_or_number: str | int) -> str:
        """A planned target's name from its name or number (InputError: none such)."""
        names = [t["name"] for t in self.index if t["planned"]]
        if isinstance(name_or_number, int):
            if not 0 <= name_or_number < len(self.index) or not self.index[name_or_number]["planned"]:
                raise InputError("target", name_or_number, "a planned target: " + _choices(self.index))
            name_or_number = self.index[name_or_number]["name"]
        if name_or_number not in names:
            raise InputError("target", name_or_number, "a planned target: " + _choices(self.index))
        return name_or_number


def _choices(index) -> str:
    planned = [f"{k} ({t['name']})" for k, t in enumerate(index) if t["planned"]]
    return ", ".join(planned) or "none (no target was planned)"


def load(path: Path) -> Session:
    """The states written by ``states`` (``np.load`` without pickles)."""
    with np.load(path, allow_pickle=False) as z:
        head = json.loads(str(z["index"]))
        if head.get("version") != VERSION:
            raise InputError("adjust.npz", head.get("version"), f"version {VERSION} (plan it again)")
        by_key: dict[str, TargetState] = {}
        for t in head["targets"]:
            key = t["key"]
            if key is None:
                continue
            structures = {int(s["label"]): Structure(**s) for s in t["structures"]}
            labels = LabelVolume(z[f"{key}.labels"].astype(np.int64), np.array(t["spacing"]),
                                 np.array(t["label_origin"]), structures, tuple(t["sides"]))
            fields = tuple(Field(np.ascontiguousarray(z[f"{key}.field{j}"], dtype=float),
                                 np.array(f["origin"]), np.array(t["spacing"]), z[f"{key}.tissue{j}"])
                           for j, f in enumerate(t["fields"]))
            nerves = tuple(Nerve(n["name"], n["diameter"], z[f"{key}.nerve{j}"])
                           for j, n in enumerate(t["nerves"]))
            by_key[key] = TargetState(t["name"], t, fields, labels, np.array(z[f"{key}.offsets"]), nerves)
    by_name = {}
    names = {t["name"]: t for t in head["targets"]}
    for t in head["targets"]:
        if not t["planned"]:
            continue
        source = names[t["mirror_of"]] if t["mirror_of"] else t
        by_name[t["name"]] = by_key[source["key"]]
    return Session(tuple(head["targets"]), by_name)


def tilted(axis: np.ndarray, tilt_deg: float, azimuth_deg: float) -> np.ndarray:
    """``axis`` tilted by ``tilt_deg`` towards the azimuth ``azimuth_deg``, measured about the
    axis from the lateral direction (+x, across the needle) towards the cranial one (+y).

    >>> np.round(tilted(np.array([0.0, 0, 1]), 90, 90), 12).tolist()
    [0.0, 1.0, 0.0]
    """
    axis = axis / np.linalg.norm(axis)
    lateral = np.array([1.0, 0, 0]) - axis[0] * axis
    if np.linalg.norm(lateral) < 1e-9:
        lateral = np.array([0, 1.0, 0]) - axis[1] * axis
    u = lateral / np.linalg.norm(lateral)
    v = np.cross(axis, u)
    a, b = math.radians(tilt_deg), math.radians(azimuth_deg)
    return math.cos(a) * axis + math.sin(a) * (math.cos(b) * u + math.sin(b) * v)


def estimate(state: TargetState, tip_offset_m: np.ndarray, tilt_deg: float = 0.0, azimuth_deg: float = 0.0,
             freeze_s: float | None = None, cycles: int | None = None) -> Estimate:
    """The planned probe with its tip moved by ``tip_offset_m`` (m) and its needle tilted about
    the moved tip, judged by screening (raises InputError for a move that cannot be judged).

    Parameters
    ----------
    state : TargetState
        The planned target.
    tip_offset_m : array of 3 float
        Displacement of the tip (m), each component at most ``MAX_OFFSET_MM``.
    tilt_deg, azimuth_deg : float
        Tilt of the needle from the planned one (degrees, at most ``MAX_TILT_DEG``) and its
        direction (``tilted``).
    freeze_s, cycles : float and int, optional
        The protocol (None: the plan's); only those the planner simulated are at hand.

    Returns
    -------
    Estimate
        The evaluation (block probability over the placement samples, margins), the moved
        needle and the moved field for drawing.
    """
    probes = state.probes
    if len(probes) != 1:
        raise InputError("probe", len(probes), "a one-probe plan: a two-probe plan's probes cannot be moved "
                         "by hand (screening moves each probe's own run, which the plan does not keep)")
    field, source, n_cycles, freeze = state.run(cycles, freeze_s)
    offset = np.asarray(tip_offset_m, float)
    if offset.shape != (3,) or not np.all(np.abs(offset) <= MAX_OFFSET_MM * 1e-3 + 1e-12):
        raise InputError("tip_offset_mm", (offset * 1e3).tolist(),
                         f"three numbers within +-{MAX_OFFSET_MM:g} mm")
    if not 0 <= tilt_deg <= MAX_TILT_DEG:
        raise InputError("tilt_deg", tilt_deg, f"0 to {MAX_TILT_DEG:g} degrees")
    p = probes[0]
    tip, axis = p.tip + offset, tilted(p.axis, tilt_deg, azimuth_deg)
    grid = state.context.grid
    if not grid.contains(tip):
        lo, hi = (np.round(x * 1e3, 2).tolist() for x in (grid.extent_min, grid.extent_max))
        raise InputError("tip_offset_mm", (offset * 1e3).round(3).tolist(),
                         f"a move that keeps the tip inside the volume ({lo} to {hi} mm)")
    cand = Candidate(0, (Placement(tip, axis),), n_cycles, freeze,
                     Protocol.of(freeze_thaw(n_cycles, freeze, state.meta["thaw_s"])))
    moved = Moved(field, Rigid.between(source.tip, source.axis, tip, axis))
    ev = judge(state.context, cand, Model((moved,)))
    length = float(np.linalg.norm(state.entries[0] - p.tip))
    warnings = []
    why = refusal(state.anatomy, grid, state.meta["probe_radius_m"], cand.probes)
    if why is not None:  # the planner would not place it: it cannot meet the constraints
        ev = replace(ev, failures=(f"the moved probe cannot be placed: {why}", *ev.failures))
        warnings.append(f"the moved probe cannot be placed ({why}); the estimate ignores that")
    origin, spacing, values = _drawn(moved)
    return Estimate(ev, tip[None], (tip + length * axis)[None], tuple(warnings), origin, spacing, values)


def _drawn(moved: Moved) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The moved field on an axis-aligned grid around the moved crop (for an isosurface)."""
    f = moved.field
    n = np.array(f.values.shape)
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) * (n - 1)
    box = moved.motion.from_run(f.origin + corners * f.spacing)
    lo, hi = box.min(axis=0), box.max(axis=0)
    spacing = np.maximum(f.spacing, (hi - lo) / (DRAW_POINTS - 1))
    shape = np.floor((hi - lo) / spacing).astype(int) + 1
    axes = [lo[d] + np.arange(shape[d]) * spacing[d] for d in range(3)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return lo, spacing, moved.sample(pts, np.zeros((1, 3)))[0].reshape(tuple(shape))


# -- JSON for the page (mm, degrees Celsius) -------------------------------------------------------

#: Most label points drawn per axis (the labels are subsampled to stay under it).
DRAW_LABELS = 64
METHOD = ("screening estimate: the plan's run (for another protocol, its simulated run nearest the plan) "
          "moved rigidly with the probe, and the planner's "
          "Monte Carlo over placement errors; not a new 3D run (it neglects how bone and tissue boundaries "
          "reshape the ice ball when the probe moves)")


def _mm(v) -> list:
    return np.round(np.asarray(v, float) * 1e3, 2).tolist()


def _c(k: float, ceiling_k: float) -> float | None:
    """°C, or None at and above the kept field's ceiling (warmer than it)."""
    return None if k >= ceiling_k - 1e-9 else round(k_to_c(k), 2)


def scene_json(session: Session) -> dict[str, Any]:
    """What the page draws for every target: the labels (subsampled), the nerves, the planned
    needles, and what a hand move may change."""
    out = []
    for k, t in enumerate(session.index):
        row: dict[str, Any] = {"number": k, "name": t["name"], "level": t["level"], "side": t["side"],
                               "mirror_of": t["mirror_of"], "planned": t["planned"]}
        out.append(row)
        if not t["planned"]:
            continue
        s = session.by_name[t["name"]]
        m, vol = s.meta, s.labels
        step = max(1, math.ceil(max(vol.shape) / DRAW_LABELS))
        sub = vol.labels[::step, ::step, ::step]
        draw = [st for st in vol.structures.values()
                if st.label in np.unique(sub) and ("bone" in st.tissue or st.role == "protected")
                and st.name != "skin"]
        movable = len(m["probes"]) == 1
        row.update({
            "anatomy": m["anatomy"],
            "frame": (("the template's own frame (x lateral, y cranial, z towards the skin)" if t["level"]
                       else "the label volume's world frame (RAS+ mm: x to the patient's right, y anterior, "
                       "z superior)")
                      + (f"; the mirror image of {t['mirror_of']}'s plan" if t["mirror_of"] else "")),
            "box_mm": [_mm(vol.origin - vol.spacing / 2),
                       _mm(vol.origin + (np.array(vol.shape) - 0.5) * vol.spacing)],
            "labels": {"origin_mm": _mm(vol.origin), "spacing_mm": _mm(vol.spacing * step),
                       "shape": list(sub.shape), "values": sub.ravel().tolist()},
            "structures": [{"label": st.label, "name": st.name, "tissue": st.tissue, "role": st.role}
                           for st in draw],
            "nerves": [{"name": n.name, "points_mm": _mm(n.points)} for n in s.nerves],
            "probes": [{"tip_mm": _mm(p.tip), "entry_mm": _mm(e)} for p, e in zip(s.probes, s.entries,
                                                                                  strict=True)],
            "probe_radius_mm": round(m["probe_radius_m"] * 1e3, 3),
            "cycles": m["cycles"], "freeze_seconds": m["freeze_s"], "thaw_seconds": m["thaw_s"],
            "protocols": [{"cycles": c, "freeze_seconds": f}
                          for c, f in sorted(s.protocols, key=lambda p: (p[0] * p[1], p[0]))],
            "planned_block_probability": round(m["planned_block_probability"], 3),
            "required_block_probability": m["required"],
            "movable": movable,
            "why_not_movable": None if movable else ("a two-probe plan: screening moves each probe's own "
                                                     "run, which the plan does not keep"),
            "bounds": {"tip_offset_mm": MAX_OFFSET_MM, "tilt_deg": MAX_TILT_DEG},
        })
    return {"method": METHOD, "targets": out}


def estimate_json(state: TargetState, est: Estimate, name: str | None = None) -> dict[str, Any]:
    """A hand move's estimate for the target ``name`` (None: the state's own; a mirror image
    names itself and its source): the block probability and safety margins over the placement
    samples, the moved needle, and the moved field (°C) for the isosurfaces."""
    ev, ceiling = est.evaluation, state.meta["ceiling_k"]
    return {
        "method": METHOD,
        "target": name or state.name,
        "mirror_of": None if name in (None, state.name) else state.name,
        "cycles": ev.candidate.cycles, "freeze_seconds": ev.candidate.freeze_s,
        "block_probability": round(ev.block_probability, 3),
        "required_block_probability": state.meta["required"],
        "planned_block_probability": round(state.meta["planned_block_probability"], 3),
        "meets_constraints": ev.feasible,
        "grade3_probability": round(ev.grade3_probability, 3),
        "coldest_target_c": _c(float(ev.sample_min_k[0]), ceiling),
        "warmer_than_c": round(k_to_c(ceiling), 2),
        "margins": [{"name": g.name, "limit_c": round(k_to_c(g.limit_k), 2),
                     "coldest_c": _c(g.nominal_min_k, ceiling), "worst_c": _c(g.worst_min_k, ceiling),
                     "violation_probability": round(g.violation_probability, 4),
                     "limit_isotherm_distance_mm": None if g.distance_mm is None else round(g.distance_mm, 2)}
                    for g in ev.margins],
        "failures": list(ev.failures),
        "warnings": list(est.warnings),
        "probes": [{"tip_mm": _mm(t), "entry_mm": _mm(e)}
                   for t, e in zip(est.tips, est.entries, strict=True)],
        "iceball": {"origin_mm": _mm(est.draw_origin), "spacing_mm": _mm(est.draw_spacing),
                    "shape": list(est.draw_values.shape),
                    "values_c": np.round(k_to_c(est.draw_values.ravel()), 1).tolist(),
                    "isotherms_c": [0, -20]},
    }
