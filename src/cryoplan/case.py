"""A validated procedure resolved once into physics: the case a run simulates.

``build(cfg, base, fitted)`` turns the file's sections (through ``cryoplan.resolve``) into the
solver's problem, the probes with their operating points, the nerves, the injury thresholds and
cell model, the relief model and the patient, and checks what needs them together (a nerve in
the tissue and off the probes, a probe in the box and off bone, sample points and snapshot times
that exist). The service builds the case once, after the file is validated and its cost bounded;
the run (``procedure.run``), the checks and the reports read the case, never the
raw file. A probe's catalog entry and design keys are derived once here (``catalog.probe_spec``).
A plan is resolved here too (``build_plan``): its probe, injury thresholds, relief model,
patient, placement error and each target's anatomy, which the planner's candidates share.

>>> from cryoplan.config import parse
>>> cfg = parse({"probe": {"catalog": "n2o-2.0mm"}, "grid": {"extent_mm": 8.0},
...              "protocol": {"phases": [{"kind": "freeze", "seconds": 20}]}})
>>> case = build(cfg)
>>> round(case.problem.grid.probe_radius * 1e3, 6), case.catalog.name, case.operating is None
(1.0, 'n2o-2.0mm', True)
>>> case.operated().operating.design.gas
'n2o'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from cryoplan import resolve
from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.ct.read import read_ct
from cryoplan.anatomy.ct.region import target_region
from cryoplan.anatomy.ct.survey import Survey, moved, survey
from cryoplan.anatomy.labels import LabelVolume, load_label_volume
from cryoplan.anatomy.placement_error import placement_sigma
from cryoplan.anatomy.templates import Anatomy, template, template_of
from cryoplan.catalog import CatalogProbe, ProbeSpec, probe_spec
from cryoplan.config import ProcedureConfig, initial_temperature_c
from cryoplan.cryogen.operation import OperatingPoint
from cryoplan.ct_config import CorrectionsConfig, load_corrections
from cryoplan.errors import InputError
from cryoplan.injury.cell import CellModel
from cryoplan.injury.nerve import Nerve
from cryoplan.injury.thresholds import InjuryThresholds, default_nerve_diameter_m
from cryoplan.outcome.relief import Patient, ReliefModel
from cryoplan.plan_config import PlanConfig, Target
from cryoplan.protocol import Protocol
from cryoplan.thermal.placement import rasterise
from cryoplan.thermal.points import check_points
from cryoplan.thermal.probe import ProbeModel
from cryoplan.thermal.solver import MAX_STEP_S, ThermalProblem, output_times
from cryoplan.thermal.solver3d import ThermalProblem3D
from cryoplan.thermal.voxels import VoxelGrid
from cryoplan.tissue.perfusion import DEFAULT_MODEL
from cryoplan.units import c_to_k

#: Fields a run keeps by default: the ends of its last few freezes (the report's isotherm chart).
DEFAULT_SNAPSHOTS = 5


@dataclass(frozen=True)
class Case:
    """An axisymmetric or radial run's physics: its problem, the probe (spec: catalog entry,
    design keys, cannula; design and console), the nerves, and how they are judged (thresholds,
    cell model, relief model, patient). The probe's operating point is the run's first
    computation (``operated``): until then ``operating`` is None and the problem's probe has
    its geometry only."""

    config: ProcedureConfig
    problem: ThermalProblem
    probe: resolve.ProbeDemand
    nerves: tuple[Nerve, ...]
    injury: InjuryThresholds
    cell: CellModel
    relief: ReliefModel
    patient: Patient
    operating: OperatingPoint | None = None

    def operated(self) -> Case:
        """The case with its probe's operating point found (``cryogen.operation``; kept between
        runs by ``cryoplan.cache``) and in its problem."""
        model, operating = self.probe.operate()
        return replace(self, problem=replace(self.problem, probe=model), operating=operating)

    @property
    def grid(self):
        return self.problem.grid

    @property
    def spec(self) -> ProbeSpec:
        return self.probe.spec

    @property
    def catalog(self) -> CatalogProbe | None:
        return self.probe.spec.catalog

    @property
    def cannula_bore_m(self) -> float | None:
        return self.probe.spec.bore_m


@dataclass(frozen=True)
class Case3D:
    """A 3D run's physics: its problem (without the anatomy's steady start, which the run
    computes), the placed probes, the nerves, how they are judged, the label volume of an
    [anatomy] and the voxels outside every probe."""

    config: ProcedureConfig
    problem: ThermalProblem3D
    probes: tuple[resolve.Probe3D, ...]
    nerves: tuple[Nerve, ...]
    injury: InjuryThresholds
    cell: CellModel
    relief: ReliefModel
    patient: Patient
    volume: LabelVolume | None  # an [anatomy]'s labels (a template's or a NIfTI volume's)
    outside_probes: np.ndarray  # bool per voxel: tissue, not a probe

    @property
    def grid(self) -> VoxelGrid:
        return self.problem.grid

    @property
    def protocol(self) -> Protocol:
        return self.problem.protocol

    def centre(self) -> np.ndarray:
        """Where the report's three planes cross (m): the mean of the probes' tips and of their
        active lengths' middles, so a quarter of an active length up a lone probe's axis from its
        tip: through the ice round the tip and the freezing zone alike."""
        tips = np.array([p.tip for p in self.problem.probes])
        mid = np.array([p.tip + 0.5 * p.model.active_length * p.axis for p in self.problem.probes])
        return np.mean(np.concatenate([tips, mid]), axis=0)


def build(cfg: ProcedureConfig, base: str | Path = ".", fitted: ReliefModel | None = None,
          specs: tuple[ProbeSpec, ...] | None = None) -> Case | Case3D:
    """Resolve a validated procedure into its case (raises InputError). ``base``: the folder a
    label volume's paths start from (the procedure file's); ``fitted``: the registry's relief
    model, when the file names a registry (the service reads it); ``specs``: the probes' specs as
    ``rules.check_procedure`` returned them (derived here unless given)."""
    if cfg.grid.geometry == "3d":
        return _build3d(cfg, base, fitted, specs)
    spec = probe_spec(cfg.probe) if specs is None else specs[0]
    probe = resolve.probe_demand(cfg.probe, cfg.cryogen, spec)
    grid = resolve.grid(cfg.grid, probe)
    nerves = resolve.nerves(cfg.nerve, grid)
    injury = resolve.injury(cfg.injury)
    protocol = resolve.protocol(cfg.protocol.phases)
    problem = ThermalProblem(
        grid=grid, tissue=resolve.tissue(cfg.tissue), protocol=protocol,
        probe=ProbeModel(spec.diameter_m, probe.active_length_m, probe.boundary),  # its geometry
        initial_temperature=c_to_k(initial_temperature_c(cfg.tissue)),
        outer_boundary=cfg.grid.outer_boundary, isotherms=_isotherms(cfg),
        history_thresholds=_history_thresholds(cfg, nerves, injury),
        output_interval=cfg.output.interval_s,
        snapshot_times=snapshot_times(cfg.output.snapshot_times_s, protocol, cfg.output.interval_s),
        sample_points=None if cfg.output.points_mm is None else np.array(cfg.output.points_mm) * 1e-3,
        perfusion=cfg.tissue.perfusion,
        max_step=MAX_STEP_S if cfg.grid.max_step_s is None else cfg.grid.max_step_s,
    )
    if problem.sample_points is not None:
        check_points(grid, problem.sample_points, "output.points_mm")
    return Case(cfg, problem, probe, nerves, injury, resolve.cell(cfg.injury),
                resolve.relief_model(cfg.outcome, fitted), resolve.patient(cfg.patient))


def _isotherms(cfg: ProcedureConfig) -> tuple[float, ...]:
    return tuple(c_to_k(x) for x in cfg.output.isotherms_c)


def _history_thresholds(cfg: ProcedureConfig, nerves: tuple[Nerve, ...],
                        injury: InjuryThresholds) -> tuple[float, ...]:
    """The temperatures whose crossing times the run records: the file's (else the isotherms'),
    and the injury model's when there are nerves to grade."""
    given = cfg.output.history_thresholds_c
    history = tuple(c_to_k(x) for x in given) if given is not None else _isotherms(cfg)
    if nerves:
        history += tuple(t for t in injury.history_temperatures if all(abs(t - u) > 1e-9 for u in history))
    return history


def snapshot_times(given: list[float] | None, protocol: Protocol, interval: float) -> tuple[float, ...]:
    """The times at which the run keeps its temperature field: the given ones, each of which
    must be an output time, or by default the end of each freeze (the last five)."""
    times = output_times(protocol, interval)
    if given is None:
        ends = np.cumsum([p.seconds for p in protocol.phases])
        freezes = [float(e) for e, p in zip(ends, protocol.phases, strict=True) if p.kind == "freeze"]
        return tuple(freezes[-DEFAULT_SNAPSHOTS:])
    for t in given:
        if not np.isclose(times, t, rtol=0.0, atol=1e-6).any():
            raise InputError("output.snapshot_times_s", t,
                             f"output times of the run (multiples of output.interval_s = {interval:g} s "
                             f"within each phase, or a phase's end, up to {times[-1]:g} s)")
    return tuple(float(t) for t in given)


def _build3d(cfg: ProcedureConfig, base: str | Path, fitted: ReliefModel | None,
             specs: tuple[ProbeSpec, ...] | None) -> Case3D:
    """A 3D procedure's case (raises InputError: a probe outside the box or through bone, a nerve
    outside the box or inside a probe, a label volume that cannot be read or whose voxels are
    wider than a probe's radius)."""
    probes = resolve.probes3d(cfg.probe_entries(), cfg.cryogen, specs)
    volume = None
    if cfg.anatomy is None:
        grid = resolve.voxel_grid(cfg.grid, cfg.tissue, probes)
        nerves = resolve.nerves3d(cfg.nerve, grid, probes)
    else:  # the anatomy's tissues, nerves (unless given) and, at run time, steady start
        volume, targets = resolve.anatomy_volume(cfg.anatomy, cfg.grid, base)
        if cfg.anatomy.nifti is not None:
            _voxels_resolve_probes(volume, probes, cfg.anatomy.nifti)
        grid = volume.voxel_grid()
        nerves = resolve.nerves3d(cfg.nerve, grid, probes) if cfg.nerve else targets
    outside = ~rasterise(grid, [p.placed for p in probes]).inside  # refuses a tip outside, a probe in bone
    _apart(grid, probes)
    injury = resolve.injury(cfg.injury)
    problem = ThermalProblem3D(
        grid, tuple(p.placed for p in probes), resolve.protocol(cfg.protocol.phases),
        initial_temperature=None if volume is not None else c_to_k(initial_temperature_c(cfg.tissue)),
        initial_field=None, isotherms=_isotherms(cfg),
        history_thresholds=_history_thresholds(cfg, nerves, injury), output_interval=cfg.output.interval_s,
        probe_protocols=tuple(p.protocol for p in probes), perfusion=cfg.tissue.perfusion)
    return Case3D(cfg, problem, probes, nerves, injury, resolve.cell(cfg.injury),
                  resolve.relief_model(cfg.outcome, fitted), resolve.patient(cfg.patient), volume, outside)


def _voxels_resolve_probes(volume: LabelVolume, probes: tuple[resolve.Probe3D, ...], name: str) -> None:
    """A label volume's voxels no wider than the thinnest probe's radius (``grid.spacing_mm``'s
    rule, which the volume's voxels replace), so every probe is resolved."""
    radius = min(p.placed.model.radius for p in probes)
    if np.max(volume.spacing) > radius * (1 + 1e-9):
        raise InputError("anatomy.nifti", name, f"voxels at most the probe radius ({radius * 1e3:g} mm) "
                         f"on every axis; these are {np.round(volume.spacing * 1e3, 3).tolist()} mm: "
                         "resample the labels finer (nearest neighbour)")


def _apart(grid: VoxelGrid, probes: tuple[resolve.Probe3D, ...]) -> None:
    """No two probes touching: points along each axis (every quarter voxel, through the box) stay
    farther than the two radii from the other's axis, or behind its tip (raises InputError)."""
    length = float(np.linalg.norm(grid.extent_max - grid.extent_min))
    s = np.arange(0.0, length, 0.25 * grid.min_spacing)
    for j, a in enumerate(probes):
        line = a.placed.tip + s[:, None] * a.placed.axis
        line = line[grid.contains(line)]
        for b in probes[j + 1:]:
            reach = a.placed.model.radius + b.placed.model.radius
            if np.any((b.placed.axial(line) >= -a.placed.model.radius) & (b.placed.radial(line) < reach)):
                raise InputError(f"{b.placed.name}.tip_mm", np.round(b.placed.tip * 1e3, 3).tolist(),
                                 f"a probe apart from {a.name} (their shafts would touch)")


@dataclass(frozen=True)
class PlanCase:
    """A plan's physics, shared by all its candidates: the probe (spec, design and console; its
    model once ``operated``), the injury thresholds, the relief model and patient, the per-axis
    placement error, and each target's anatomy (``anatomy(k)``, built where it is used: a
    worker process sets up its own targets)."""

    config: PlanConfig
    base: Path
    probe: resolve.ProbeDemand
    injury: InjuryThresholds
    relief: ReliefModel
    patient: Patient
    sigma: float  # per-axis placement error (m)
    perfusion: str = DEFAULT_MODEL  # a plan's tissues are its anatomy's: their flow responds to cold
    model: ProbeModel | None = None  # the probe with its operating point, once operated
    survey: Survey | None = None  # a patient's CT, surveyed: its levels, targets and tissues

    def operated(self) -> PlanCase:
        """The plan case with its probe's operating point found (kept between runs by
        ``cryoplan.cache``)."""
        return self if self.model is not None else replace(self, model=self.probe.operate()[0])

    @property
    def spec(self) -> ProbeSpec:
        return self.probe.spec

    @property
    def targets(self) -> list[Target]:
        return self.config.targets()

    def anatomy(self, index: int) -> Anatomy:
        """Target ``index``'s anatomy: its template at its level and side, or the NIfTI volume
        with its nerves and approach; [approach] axis and cone_deg replace a template's (raises
        InputError for a volume that cannot be read)."""
        cfg, t = self.config, self.targets[index]
        ac, ap = cfg.anatomy, cfg.approach
        if t.patient:
            assert self.survey is not None and t.side is not None  # with_survey surveyed the CT
            a = target_region(self.survey, t.level or "", t.side, ac.spacing_mm)
            axis = a.approach_axis if ap.axis is None else np.array(ap.axis, float) / np.linalg.norm(ap.axis)
            return replace(a, approach_axis=axis, cone_deg=cfg.cone_of(t))
        if t.level is not None:
            a = template(t.template or template_of(t.level), t.level, ac.spacing_mm)
            axis = a.approach_axis if ap.axis is None else np.array(ap.axis, float) / np.linalg.norm(ap.axis)
            # a side names the anatomy only: a template's frame has x lateral either way
            name = a.name if t.side is None else f"{a.name} {t.side}"
            return Anatomy(name, a.volume, a.targets, a.beside, a.outward, axis, cfg.cone_of(t), a.body,
                           a.skin_z, a.pairs)
        assert ac.nifti and ac.label_table  # the schema's rule: a template or a volume
        volume = load_label_volume(ac.nifti, ac.label_table, self.base)
        given = [cfg.target[k] for k in t.nerves]
        nerves = tuple(Nerve(n.name or f"target {k}",
                             n.diameter_mm * 1e-3 if n.diameter_mm else default_nerve_diameter_m(),
                             np.array(n.points_mm) * 1e-3) for k, n in zip(t.nerves, given, strict=True))
        tips = t.tips_mm or tuple(tuple(p) for p in ap.tips_mm or ())
        axis = np.array(t.axis if t.axis is not None else ap.axis, float)
        return Anatomy(t.name if t.tips_mm else Path(ac.nifti).name, volume, nerves, np.array(tips) * 1e-3,
                       np.zeros(3), axis / np.linalg.norm(axis), cfg.cone_of(t))


def build_plan(cfg: PlanConfig, base: str | Path = ".", fitted: ReliefModel | None = None,
               spec: ProbeSpec | None = None, survey_now: bool = True) -> PlanCase:
    """Resolve a validated plan into its case (its targets' anatomies are built when asked for).
    ``fitted``: the registry's relief model; ``spec``: the probe's spec as ``rules.check_plan``
    returned it (derived here unless given); ``survey_now``: a patient's CT is read and surveyed
    here (False: by ``with_survey``, where the plan runs: an uploaded CT is read only there)."""
    demand = resolve.probe_demand(cfg.probe, cfg.cryogen, spec)
    pc = cfg.plan
    plan = PlanCase(cfg, Path(base), demand, resolve.injury(cfg.injury),
                    resolve.relief_model(cfg.outcome, fitted), resolve.patient(cfg.patient),
                    placement_sigma(pc.placement, pc.placement_error_mm))
    return with_survey(plan) if survey_now else plan


def with_survey(plan: PlanCase) -> PlanCase:
    """The plan case with its patient's CT surveyed (with its corrections), once per process, and
    every target checked against what the survey found (raises InputError); unchanged without a
    CT or once surveyed.

    Parameters
    ----------
    plan : PlanCase
        A plan's case.

    Returns
    -------
    PlanCase
        The same case, ``survey`` set when its anatomy is a CT.
    """
    ac = plan.config.anatomy
    if ac.ct is None or plan.survey is not None:
        return plan
    fix = None if ac.corrections is None else load_corrections(plan.base / ac.corrections)
    found = surveyed(plan.base / ac.ct, ac.lowest, fix)
    for t in plan.targets:
        found.require(t.level or "", t.side or "")
    return replace(plan, survey=found)


def survey_of(image: CTImage, lowest: str | None, fix: CorrectionsConfig | None = None) -> Survey:
    """A CT surveyed (``anatomy.ct.survey``) with the corrections by hand of ``fix``: its levels
    renamed (``vertebrae.relabelled``), then its targets moved (``survey.moved``).

    Parameters
    ----------
    image : CTImage
        The CT.
    lowest : str or None
        The lowest vertebra's level, if known.
    fix : CorrectionsConfig, optional
        The corrections file's content (``ct_config``).

    Returns
    -------
    Survey
        Its levels, targets (RAS+ mm), vertebrae, tissue classes and warnings.
    """
    relabel = None if fix is None or fix.relabel is None else (fix.relabel.was, fix.relabel.is_)
    found = survey(image, lowest, relabel)
    if fix is not None and fix.move:
        found = moved(found, [(m.level, m.side, (m.by_mm[0], m.by_mm[1], m.by_mm[2])) for m in fix.move])
    return found


@lru_cache(maxsize=2)
def _surveyed(path: str, stamp: tuple[int, int], lowest: str | None, fix_json: str | None) -> Survey:
    fix = None if fix_json is None else CorrectionsConfig.model_validate_json(fix_json)
    return survey_of(read_ct(path), lowest, fix)


def surveyed(path: Path, lowest: str | None, fix: CorrectionsConfig | None = None) -> Survey:
    """A patient's CT read and surveyed (``anatomy.ct.survey``), once per process while the file
    is unchanged (raises InputError for a CT that cannot be read).

    Parameters
    ----------
    path : pathlib.Path
        The CT: a DICOM folder, a zip of one, or a NIfTI file.
    lowest : str or None
        The lowest vertebra's level, if known.
    fix : CorrectionsConfig, optional
        Corrections by hand (``survey_of``).

    Returns
    -------
    Survey
        Its levels, targets (RAS+ mm), vertebrae, tissue classes and warnings.
    """
    try:
        st = path.stat()
    except OSError:
        stamp = (0, 0)  # read_ct says what is wrong with it
    else:
        stamp = (st.st_mtime_ns, st.st_size)
    return _surveyed(str(path), stamp, lowest, None if fix is None else fix.model_dump_json(by_alias=True))
