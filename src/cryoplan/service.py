"""One path from an input to a validated, bounded run and its outputs: the command line, the
web planner, the registry, calibration and parameter sweeps all go through it::

    data = read_file(path)  or  read_text(text)      TOML -> dict (InputError for a bad file)
    job = prepare(kind, data, upload=...)             the validated procedure or plan, its cost
                                                      estimate (refused over the limits) and,
                                                      for a simulation, its case
    ran = run(job, progress)                          the result JSON (named warnings included)
                                                      and the in-memory result
    written = write(ran, Outputs(json=..., report=...))   every output, or none of them

``Outputs.check()`` says before a run whether its outputs can be written. ``simulate(data)``
and ``plan(data)`` chain the first three for plain data and return the result JSON (a dict of
plain values), so a sweep can send them to other processes. Every failure of the input is an
``InputError`` naming the field, the value and what is allowed, raised before anything runs.

>>> job = prepare("simulation", {"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [
...     {"kind": "freeze", "seconds": 20}]}, "grid": {"extent_mm": 8.0}})
>>> job.estimate.cells < 10_000
True
>>> prepare("simulation", {"outcome": {"registry": "sqlite:////etc/x.db"}}, upload=True)
Traceback (most recent call last):
...
cryoplan.errors.InputError: outcome.registry = 'sqlite:////etc/x.db': allowed is nothing in an upload: \
a path, URL, host or worker count is a setting of the server (cryoplan serve), not of an uploaded file
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryoplan import budget, case, checks, config, plan_config, procedure, rules
from cryoplan.anatomy.ct.image import CTImage
from cryoplan.anatomy.ct.read import read_ct
from cryoplan.anatomy.ct.survey import Survey
from cryoplan.anatomy.ct.survey_export import survey_files
from cryoplan.anatomy.ct.vertebrae import check_lowest
from cryoplan.atomic import OutputSet, check_writable, check_writable_dir
from cryoplan.config import read_toml_file, read_toml_text, server_settings
from cryoplan.ct_config import load_corrections
from cryoplan.data import read_toml
from cryoplan.errors import InputError, masked
from cryoplan.named_warnings import NamedWarning
from cryoplan.outcome.relief import ReliefModel
from cryoplan.planning import cost as plan_cost
from cryoplan.planning.adjust import write_states
from cryoplan.planning.search import export
from cryoplan.planning.search import plan as search
from cryoplan.progress import Progress, Reporter
from cryoplan.report import run_figure
from cryoplan.report.ct_json import ct_json
from cryoplan.report.ct_report import ct_report
from cryoplan.report.ct_views import qc_views
from cryoplan.report.html import write_report
from cryoplan.report.plan_json import plan_json
from cryoplan.report.reading import Kind
from cryoplan.report.result_json import to_json

KINDS = ("simulation", "plan")
#: Built-in inputs: name -> (kind, data file).
BUILTIN = {"demo": ("simulation", "demo.toml"), "plan-l4": ("plan", "plan-l4.toml")}


def read_text(text: str) -> dict[str, Any]:
    """An uploaded or typed procedure or plan file (TOML text)."""
    return read_toml_text(text, "procedure_toml")


def read_file(path: str | Path) -> dict[str, Any]:
    """A procedure or plan file on disk."""
    return read_toml_file(path, "procedure or plan file")


def builtin(name: str) -> tuple[Kind, dict[str, Any]]:
    """A built-in input by name: its kind and its data."""
    if name not in BUILTIN:
        raise InputError("template", name, "one of " + ", ".join(BUILTIN))
    kind, file = BUILTIN[name]
    return kind, read_toml(file)  # type: ignore[return-value]


@dataclass(frozen=True)
class Job:
    """A validated input, ready to run: its kind, its config, the folder its relative paths
    start from, the estimate of its cost and its case (the input resolved into physics, once)."""

    kind: Kind
    config: Any  # ProcedureConfig or PlanConfig
    base: Path
    estimate: budget.Estimate
    #: The relief model refitted in the registry that [outcome] registry names (None: the prior).
    fitted: ReliefModel | None = None
    case: case.Case | case.Case3D | case.PlanCase | None = field(default=None, repr=False)


def _refuse_server_settings(kind: Kind, data: dict[str, Any]) -> None:
    """An upload sets no key that the schema marks as the server's (a path, URL or host, the
    worker processes): refused before anything is read, whatever the section or table form."""
    model = plan_config.PlanConfig if kind == "plan" else config.ProcedureConfig
    found = server_settings(model, data)
    if found:
        key, value = found[0]
        shown = masked(value) if isinstance(value, str) else value
        raise InputError(key, shown, "nothing in an upload: a path, URL, host or worker count is a "
                         "setting of the server (cryoplan serve), not of an uploaded file")


def prepare(kind: Kind, data: dict[str, Any], *, base: str | Path = ".", upload: bool = False,
            allow_large: bool = False, limits: budget.Limits = budget.LIMITS,
            plan_workers: int | None = None, ct: Path | None = None) -> Job:
    """Validate ``data`` as a procedure (``kind="simulation"``) or plan, estimate what it will
    cost and refuse it over ``limits`` (raises InputError). An ``upload`` may name no path, URL,
    host or worker count and never lifts the limits; ``plan_workers``, the caller's setting (the
    web server's), replaces a plan's worker processes; ``ct``, a CT the caller stored (the web
    server's copy of an uploaded one), becomes the plan's anatomy, surveyed only when it runs."""
    if kind not in KINDS:
        raise InputError("kind", kind, "simulation or plan")
    if not isinstance(data, dict):
        raise InputError(kind, type(data).__name__, "a table of sections")
    if upload:
        _refuse_server_settings(kind, data)
    if kind == "plan" and plan_workers is not None and isinstance(data.get("plan", {}), dict):
        data = {**data, "plan": {**data.get("plan", {}), "workers": plan_workers}}  # the caller's machine
    if ct is not None:
        data = on_ct(kind, data, ct)
    if kind == "plan":
        cfg = plan_config.parse(data)
        spec = rules.check_plan(cfg)
        estimate = plan_cost.estimate(cfg, Path(base))
    else:
        cfg = config.parse(data)
        specs = rules.check_procedure(cfg)
        estimate = budget.simulation(cfg, Path(base), specs)
    budget.check(estimate, limits, allow_large and not upload)
    fitted = None
    if cfg.outcome.registry is not None:  # read now: a registry that cannot be read is named before the run
        from cryoplan.store.survival import model_from_registry  # SQLAlchemy only when a registry is named

        fitted = model_from_registry(cfg.outcome.registry)
    if kind == "plan":  # its targets' anatomies are built by the planner, each where it is searched
        plan = case.build_plan(cfg, base, fitted, spec, survey_now=ct is None)
        return Job(kind, cfg, Path(base), estimate, fitted, plan)
    # resolved once, after the bound: probes in the domain and off bone, nerves in it and off the probes
    return Job(kind, cfg, Path(base), estimate, fitted, case.build(cfg, base, fitted, specs))


@dataclass
class Ran:
    """A finished run: its result JSON and the in-memory result (``procedure.Result`` or
    ``planning.search.Plan``) that figures and exports are drawn from."""

    kind: Kind
    data: dict[str, Any]
    native: Any = field(repr=False)
    job: Job | None = field(default=None, repr=False)  # what was run (a plan's adjust states need it)

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return self.data.get("warnings", [])


def finite(data: Any, path: str = "") -> tuple[Any, list[str]]:
    """``data`` as plain Python values (numpy scalars become floats, ints and bools) with every
    NaN or infinity replaced by None, and where they were.

    >>> finite({"a": [1.0, float("nan")], "b": {"c": float("inf")}})
    ({'a': [1.0, None], 'b': {'c': None}}, ['a[1]', 'b.c'])
    """
    if hasattr(data, "item") and not isinstance(data, dict | list | tuple | str):  # a numpy scalar
        data = data.item()
    if isinstance(data, float) and not math.isfinite(data):
        return None, [path]
    if isinstance(data, dict):
        out, where = {}, []
        for k, v in data.items():
            out[k], w = finite(v, f"{path}.{k}" if path else str(k))
            where += w
        return out, where
    if isinstance(data, list | tuple):
        out_list, where = [], []
        for k, v in enumerate(data):
            value, w = finite(v, f"{path}[{k}]")
            out_list.append(value)
            where += w
        return out_list, where
    return data, []


def _finish(data: dict[str, Any], warnings: list[NamedWarning], job: Job) -> dict[str, Any]:
    """The result JSON with its warnings and estimate, and null (with a warning) for any number
    the models could not compute."""
    data, where = finite(data)
    if where:
        shown = ", ".join(where[:5]) + (f" and {len(where) - 5} more" if len(where) > 5 else "")
        warnings = [*warnings, NamedWarning("not-a-number", f"{len(where)} output value(s) could not be "
                                            f"computed and are null: {shown}", "result")]
    data["warnings"] = [w.as_json() for w in warnings]
    data["estimate"] = job.estimate.as_json()
    return data


def on_ct(kind: Kind, data: dict[str, Any], ct: Path) -> dict[str, Any]:
    """A plan's data with its anatomy on the CT at ``ct`` (a path the caller chose, never an
    upload's): the template or volume it named replaced, its levels and sides kept."""
    if kind != "plan":
        raise InputError("ct", "a CT", "a plan (a simulation's anatomy is a template or a label volume)")
    given = data.get("anatomy") if isinstance(data.get("anatomy"), dict) else {}
    anatomy = {k: v for k, v in given.items() if k not in ("template", "nifti", "label_table")}
    return {**data, "anatomy": {**anatomy, "ct": str(ct)}}


def run(job: Job, progress: Reporter | None = None, executor=None) -> Ran:
    """Run a prepared job: the result JSON (with its named warnings and the estimate it was
    admitted with) and the in-memory result. A plan's candidates run on ``executor`` (a
    ``concurrent.futures.Executor``, e.g. a dask cluster's) when one is given."""
    if job.kind == "plan":
        assert isinstance(job.case, case.PlanCase)
        if progress is not None and job.case.survey is None and job.config.anatomy.ct is not None:
            progress(Progress("reading and surveying the CT", 0, 0, "", 0.0, at_most=True))
        job = replace(job, case=case.with_survey(job.case))  # an uploaded CT is read here, in the run
        result = search(job.case, progress, executor)
        return Ran("plan", _finish(plan_json(result, job.case), checks.plan(result), job), result, job)
    if progress is not None:
        progress(Progress("setting up the probe, the tissue and the grid", 0, 0, "", 0.0))

    def tick(now: float, total: float) -> None:
        if progress is not None:
            progress(Progress("simulating", round(now, 3), total, "s simulated", now / total))

    assert job.case is not None  # prepare resolves every simulation
    result = procedure.run(job.case, tick)
    return Ran("simulation", _finish(to_json(result), checks.simulation(result), job), result)


@dataclass(frozen=True)
class Outputs:
    """Where a run's outputs go (None: not written). ``plot`` is for simulations, ``export_dir``
    (NIfTI and VTK of the plan) and ``adjust`` (what moving a planned probe by hand needs:
    ``planning.adjust``) for plans."""

    json: Path | None = None
    report: Path | None = None
    plot: Path | None = None
    export_dir: Path | None = None
    adjust: Path | None = None

    def check(self) -> None:
        """Refuse, before the run, outputs that could not be written (InputError)."""
        for option, path in (("--json", self.json), ("--report", self.report), ("--plot", self.plot),
                             ("adjust", self.adjust)):
            if path is not None:
                check_writable(option, path)
        if self.export_dir is not None:
            check_writable_dir("--export", self.export_dir)


def write(ran: Ran, outputs: Outputs, title: str | None = None) -> list[Path]:
    """Write every output of a run, all or none (a failure in any leaves none of them)."""
    with OutputSet() as out:
        if outputs.report is not None:
            write_report(ran.data, outputs.report, title, write=out.stage)
        if outputs.json is not None:
            out.stage_json(outputs.json, ran.data)
        if outputs.plot is not None and ran.kind == "simulation" and ran.data.get("geometry") != "3d":
            run_figure.plot(ran.native, outputs.plot, write=out.stage)
        if outputs.export_dir is not None and ran.kind == "plan":
            export(ran.native, outputs.export_dir, write=out.stage)
        if outputs.adjust is not None and ran.kind == "plan" and ran.job is not None:
            write_states(ran.native, ran.job.case, outputs.adjust, out.stage)
    return out.written


def simulate(data: dict[str, Any], *, base: str | Path = ".", allow_large: bool = False,
             upload: bool = False) -> dict[str, Any]:
    """A procedure (as a dict) -> its result JSON (a dict). For sweeps: plain data in and out.
    ``base``: where a label volume's paths start."""
    return run(prepare("simulation", data, base=base, allow_large=allow_large, upload=upload)).data


def plan(data: dict[str, Any], *, base: str | Path = ".", allow_large: bool = False,
         upload: bool = False) -> dict[str, Any]:
    """A plan (as a dict) -> its plan JSON (a dict)."""
    return run(prepare("plan", data, base=base, allow_large=allow_large, upload=upload)).data




def survey_ct(path: str | Path, lowest: str | None = None, outputs: Outputs | None = None,
              corrections: str | Path | None = None) -> tuple[dict[str, Any], Survey]:
    """A patient's CT (a DICOM folder, a zip of one, or a NIfTI file) read within its limits
    (``anatomy.ct.read``) and surveyed (``anatomy.ct.survey``: levels and nerve targets, RAS+ mm):
    its JSON (no identifying tag in it) and the survey. ``lowest``: the lowest vertebra's level,
    when the caller knows it. ``outputs``: its JSON, QC report and Slicer files, written all or
    none (``write_survey``). ``corrections``: a corrections file (``ct_config``: levels renamed,
    targets moved by hand)."""
    check_lowest(lowest)  # before the CT is read
    fix = None if corrections is None else load_corrections(corrections)
    if outputs is not None:
        outputs.check()
    image = read_ct(path)
    found = case.survey_of(image, lowest, fix)
    data = ct_json(found)
    if outputs is not None:
        write_survey(image, found, data, outputs)
    return data, found


def write_survey(image: CTImage, found: Survey, data: dict[str, Any], outputs: Outputs) -> list[Path]:
    """Write a survey's outputs, all or none: its JSON, its QC report (``report.ct_report``, the
    pictures of ``report.ct_views``) and, in ``outputs.export_dir``, its files for 3D Slicer
    (``anatomy.ct.survey_export``)."""
    with OutputSet() as out:
        if outputs.report is not None:
            page = ct_report(data, qc_views(image, found))
            out.stage(outputs.report, lambda p: p.write_text(page, encoding="utf-8"))
        if outputs.json is not None:
            out.stage_json(outputs.json, data)
        if outputs.export_dir is not None:
            for name, blob in survey_files(found):
                out.stage(Path(outputs.export_dir) / name, lambda p, b=blob: p.write_bytes(b))
    return out.written
