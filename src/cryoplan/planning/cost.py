"""What a plan will cost, estimated from its validated file before anything is built: the voxels
of each target's box (the template's, or the NIfTI header's) and the candidate runs its search
may simulate (every placement at the first protocol, then at most ``search.MAX_SIMULATED`` more
at each longer one, the same for two probes, and the checks), with the throughputs and limits of
``cryoplan.budget`` (measured on the project machine: benchmarks/README.md).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from cryoplan.anatomy.ct.region import region_box_mm
from cryoplan.anatomy.labels import nifti_shape
from cryoplan.anatomy.templates import box_mm, template_of
from cryoplan.budget import (
    BYTES_PER_VOXEL,
    MONTE_CARLO_S_PER_SAMPLE,
    STEADY_S_PER_VOXEL_43,
    VOXEL_UPDATES_PER_S,
    Estimate,
    count,
)
from cryoplan.planning.search import MAX_SIMULATED, mirrors
from cryoplan.planning.space import protocols
from cryoplan.tissue.library import get_tissue


def _plan_voxels(cfg, base, target) -> int:
    """Voxels of a target's label volume: its template's box, a patient's region at its deepest,
    or the NIfTI file's header."""
    ac = cfg.anatomy
    if target.patient:  # the skin may lie up to region.MAX_DEPTH_MM behind a patient's target
        lo, hi = region_box_mm(ac.spacing_mm)
        return math.prod(round((h - low) / ac.spacing_mm) for low, h in zip(lo, hi, strict=True))
    if target.level is not None:
        lo, hi = box_mm(target.template or template_of(target.level), target.level, ac.spacing_mm)
        return math.prod(round((h - low) / ac.spacing_mm) for low, h in zip(lo, hi, strict=True))
    return math.prod(nifti_shape(base / ac.nifti))


def estimate(cfg, base=None) -> Estimate:
    """The estimate of a validated plan (``PlanConfig``); ``base`` is the plan file's folder. It
    counts, for every target, the most runs its search may need: at each protocol the first run
    and at most ``search.MAX_SIMULATED`` more (every placement without screening), the same
    again for two probes (and a single probe at each protocol), and the checks."""
    pc = cfg.plan
    muscle = get_tissue("muscle")  # the templates' bulk tissue sets the explicit limit
    alpha = max(muscle.k_frozen, muscle.k_unfrozen) / min(muscle.c_frozen, muscle.c_unfrozen)
    dt_explicit = 0.9 * (cfg.anatomy.spacing_mm * 1e-3) ** 2 / (6 * alpha)
    stages = max(1.0, math.sqrt(4 * pc.max_step_s / dt_explicit))
    levels = protocols(pc.freeze_seconds, pc.cycles, pc.thaw_seconds, pc.observe_seconds)
    longest = max(p.total_seconds for _, _, p in levels)
    work, steps, most_voxels = 0.0, 0, 0
    mirrored = mirrors(cfg.targets())
    for t in (t for k, t in enumerate(cfg.targets()) if k not in mirrored):  # a mirror image is not searched
        voxels = _plan_voxels(cfg, Path(base or "."), t)
        most_voxels = max(most_voxels, voxels)
        beside = 2 if t.level is not None else len(t.tips_mm or cfg.approach.tips_mm or ())
        rings = pc.ring_deg if pc.ring_deg is not None else [cfg.cone_of(t) / 2, cfg.cone_of(t)]
        directions = 1 + pc.per_ring * sum(1 for r in rings if r > 0)
        placements = beside * len(pc.gaps_mm) * directions
        pairs = directions if pc.probes == 2 and t.level is not None else 0

        def candidate_s(protocol_s: float, v: int = voxels) -> float:
            sweeps = protocol_s / pc.max_step_s * stages
            return (v * sweeps / VOXEL_UPDATES_PER_S + v ** (4 / 3) * STEADY_S_PER_VOXEL_43
                    + pc.samples * MONTE_CARLO_S_PER_SAMPLE)

        per_level = placements if not pc.screening else 1 + min(MAX_SIMULATED, placements - 1)
        per_pair_level = (pairs if not pc.screening else min(pairs, 1 + MAX_SIMULATED)) + (1 if pairs else 0)
        for _, _, p in levels:
            runs = per_level + per_pair_level
            work += runs * candidate_s(p.total_seconds)
            steps += runs
        work += pc.checks * candidate_s(longest)
        steps += pc.checks
    workers = pc.workers or os.cpu_count() or 1
    memory = most_voxels * BYTES_PER_VOXEL * (min(workers, steps) + 1)
    outputs = count(longest / pc.max_step_s) + 1
    slow = "anatomy.spacing_mm" if most_voxels > 1e6 else "plan"
    return Estimate("plan", most_voxels, steps, outputs, memory, work / workers, dt_explicit, {
        "cells": ("anatomy.spacing_mm", "voxels of the largest target's box"),
        "outputs": ("plan.max_step_s", "the longest protocol / plan.max_step_s"),
        "memory": ("anatomy.spacing_mm", "the voxels times the worker processes (plan.workers)"),
        "seconds": (slow, f"{steps} candidate runs at most over {len(cfg.targets())} target(s) "
                          "(anatomy.levels, anatomy.sides, plan.freeze_seconds, plan.cycles, plan.ring_deg, "
                          "plan.per_ring, plan.gaps_mm, plan.probes, plan.checks) on the voxels of "
                          "anatomy.spacing_mm"),
    })
