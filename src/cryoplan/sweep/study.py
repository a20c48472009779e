"""The study file (TOML) of ``cryoplan sweep``: a base procedure or plan, the inputs that vary
with their distributions, the sampling and the outputs to collect (docs/sweep.md).

Everything is checked before anything runs: the file's keys by the schema here (unknown keys
named with the closest valid one), every varied key against the base file, and every sample as
the procedure or plan it makes, through ``cryoplan.service.prepare`` (the same validation and
limits as ``cryoplan simulate``); an invalid sample is named by its index and the key.

>>> cfg = parse({"template": "demo", "outputs": ["iceball.isotherms.-20.radius_mm"],
...              "sampling": {"method": "lhs", "samples": 8, "seed": 1},
...              "vary": [{"key": "tissue.perfusion_per_s", "distribution": "uniform",
...                        "low": 0.0, "high": 0.002}]})
>>> cfg.runs
8
>>> parse({"template": "demo", "outputs": ["x"], "sampling": {"method": "sobol", "samples": 200},
...        "vary": [{"key": "tissue.perfusion_per_s", "distribution": "uniform", "low": 0, "high": 1}]})
Traceback (most recent call last):
...
cryoplan.errors.InputError: sampling.samples = 200: allowed is a power of two for the sobol method \
(its points are balanced only then): 128 or 256
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from cryoplan import __version__, budget, service
from cryoplan.config import Name, _Section, read_toml_file, validate
from cryoplan.errors import MISSING, InputError, shown
from cryoplan.sweep import designs
from cryoplan.sweep.paths import KEY, MAX_PATH, check_key, check_output, set_key
from cryoplan.sweep.table import MAX_RUNS

#: Columns of the results table besides the inputs and the outputs.
BOOKKEEPING = ("sample", "status", "error", "warnings", "wall_time_s", "worker")
#: Parameters of each distribution; every other one is refused.
PARAMETERS = {
    "uniform": ("low", "high"), "loguniform": ("low", "high"), "normal": ("mean", "sd"),
    "lognormal": ("median", "log_sd"), "truncnorm": ("mean", "sd", "low", "high"), "values": ("values",),
}
OPTIONAL = ("low", "high", "mean", "sd", "median", "log_sd", "values")

Value = bool | int | float | Name


class VaryConfig(_Section):
    """One [[vary]] entry: a key of the base file and how it varies."""

    key: Annotated[str, Field(min_length=1, max_length=MAX_PATH)]
    distribution: Literal["uniform", "loguniform", "normal", "lognormal", "truncnorm", "values"]
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    log_sd: float | None = None
    values: Annotated[list[Value], Field(min_length=1, max_length=1000)] | None = None
    levels: Annotated[int, Field(ge=2, le=1000)] | None = None  # grid points (method grid)
    integer: bool = False  # round each value to the nearest integer

    @model_validator(mode="after")
    def _parameters(self) -> VaryConfig:
        if not KEY.fullmatch(self.key):
            raise InputError("key", self.key, "a key of the base file like tissue.perfusion_per_s or "
                             "nerve[0].distance_mm (names joined by dots, [N] for a list item)")
        wanted = PARAMETERS[self.distribution]
        for name in OPTIONAL:
            given = getattr(self, name) is not None
            if name in wanted and not given:
                raise InputError(name, MISSING, f"a value: a {self.distribution} distribution needs "
                                 + ", ".join(wanted))
            if given and name not in wanted:
                raise InputError(name, getattr(self, name), f"nothing for a {self.distribution} "
                                 f"distribution (its parameters: {', '.join(wanted)})")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise InputError("high", self.high, f"a number above low ({self.low:g})")
        if self.distribution == "loguniform" and not self.low > 0:  # type: ignore[operator]
            raise InputError("low", self.low, "a number > 0 (a loguniform range is on a log scale)")
        for name in ("sd", "log_sd", "median"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InputError(name, value, "a number > 0")
        if self.values is not None:
            self._check_values(self.values)
        if self.integer and self.distribution == "values":
            raise InputError("integer", True, "false for a list of values (give the values as integers)")
        return self

    @staticmethod
    def _check_values(values: list[Any]) -> None:
        kinds = {"number" if isinstance(v, int | float) and not isinstance(v, bool) else type(v).__name__
                 for v in values}
        if len(kinds) > 1:
            raise InputError("values", values, "values of one kind: all numbers, all text or all true/false")
        if len({json.dumps(v) for v in values}) != len(values):
            raise InputError("values", values, "distinct values (one is given twice)")


class SamplingConfig(_Section):
    method: Literal["mc", "lhs", "sobol", "saltelli", "grid"] = "lhs"
    samples: Annotated[int, Field(ge=1, le=MAX_RUNS)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    second_order: bool = False  # saltelli: also the second-order indices (twice the runs)


class StudyConfig(_Section):
    """A whole study file."""

    title: Name | None = None
    base: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    template: Literal["demo", "plan-l4"] | None = None
    outputs: Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_PATH)]],
                       Field(min_length=1, max_length=100)]
    sampling: SamplingConfig = SamplingConfig()
    vary: Annotated[list[VaryConfig], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _across_keys(self) -> StudyConfig:
        if (self.base is None) == (self.template is None):
            raise InputError("base", self.base or MISSING, "a procedure or plan file (relative to the study "
                             'file), or template = "demo" or "plan-l4" (one of them)')
        keys = [v.key for v in self.vary]
        for k, key in enumerate(keys):
            if key in keys[:k]:
                raise InputError(f"vary[{k}].key", key, "a key not varied already (each key varies once)")
        for k, path in enumerate(self.outputs):
            check_output(path)
            if path in self.outputs[:k]:
                raise InputError(f"outputs[{k}]", path, "an output not listed already")
            if path in keys or path in BOOKKEEPING:
                raise InputError(f"outputs[{k}]", path, "a result path that is not also a varied key or one "
                                 f"of the table's own columns ({', '.join(BOOKKEEPING)})")
        self._check_sampling()
        return self

    def _check_sampling(self) -> None:
        s = self.sampling
        if s.method == "grid":
            if s.samples is not None:
                raise InputError("sampling.samples", s.samples, "nothing for the grid method (the grid's "
                                 "size is the product of the levels of each [[vary]])")
            for k, v in enumerate(self.vary):
                if v.distribution != "values" and v.levels is None:
                    raise InputError(f"vary[{k}].levels", MISSING, "the number of grid points of this key "
                                     "(or distribution = \"values\")")
                if v.levels is not None and v.distribution == "values":
                    raise InputError(f"vary[{k}].levels", v.levels, "nothing with values (each value is a "
                                     "grid point)")
                levels = designs.grid_levels(v)
                if len(set(levels)) != len(levels):
                    raise InputError(f"vary[{k}].levels", v.levels, f"fewer levels: these repeat values "
                                     f"({shown(levels)})")
        else:
            if s.samples is None:
                raise InputError("sampling.samples", MISSING, f"the number of samples ({s.method} method)")
            for k, v in enumerate(self.vary):
                if v.levels is not None:
                    raise InputError(f"vary[{k}].levels", v.levels, 'nothing unless method = "grid"')
            if s.method in ("sobol", "saltelli") and s.samples & (s.samples - 1):
                lower = 1 << (s.samples.bit_length() - 1)
                raise InputError("sampling.samples", s.samples, f"a power of two for the {s.method} method "
                                 f"(its points are balanced only then): {lower} or {2 * lower}")
        if s.second_order and s.method != "saltelli":
            raise InputError("sampling.second_order", True, 'false unless method = "saltelli"')
        if s.method == "saltelli" and len(self.vary) < 2:
            raise InputError("vary", self.vary[0].key, "at least two keys for Sobol' indices (saltelli)")
        if self.runs > MAX_RUNS:
            raise InputError("sampling", f"{self.runs} runs", f"at most {MAX_RUNS} runs in one study")

    @property
    def runs(self) -> int:
        s = self.sampling
        if s.method == "grid":
            total = 1
            for v in self.vary:
                total *= len(v.values) if v.values is not None else v.levels  # type: ignore[operator]
            return total
        return designs.runs(s.method, s.samples, len(self.vary), s.second_order)  # type: ignore[arg-type]


def parse(data: dict[str, Any]) -> StudyConfig:
    """Validate a study given as a dict (what a study file holds)."""
    return validate(StudyConfig, data, "study")


@dataclass(frozen=True)
class Sample:
    """One run of a study: its index, the values it gives the varied keys, and the procedure or
    plan it makes (``data``, plain data: what a worker receives), made when asked for, so a
    study of a million samples does not hold a million copies of its base file."""

    index: int
    inputs: dict[str, Any]
    base: dict[str, Any] = field(repr=False, compare=False)
    kind: str = field(default="simulation", repr=False, compare=False)

    @property
    def data(self) -> dict[str, Any]:
        data = copy.deepcopy(self.base)
        for key, value in self.inputs.items():
            set_key(data, key, value)
        if self.kind == "plan":  # one core per sample: the cluster's cores run the samples
            set_key(data, "plan.workers", 1)
        return data


@dataclass(frozen=True)
class Study:
    config: StudyConfig
    kind: str  # "simulation" or "plan"
    base: dict[str, Any]  # the base file's data
    folder: Path  # where the base file's relative paths start
    source: str  # the base file as the study names it

    @property
    def keys(self) -> list[str]:
        return [v.key for v in self.config.vary]

    @property
    def outputs(self) -> list[str]:
        return list(self.config.outputs)

    def description(self) -> dict[str, Any]:
        """The study as plain data: what its results table records and what a resumed run must
        match (the study file's settings, the base file's contents, the version)."""
        return {"config": self.config.model_dump(mode="json"), "kind": self.kind, "base": self.base,
                "source": self.source, "cryoplan_version": __version__}

    def identity(self) -> str:
        text = json.dumps(self.description(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def samples(self) -> list[Sample]:
        s = self.config.sampling
        rows = designs.design(self.config.vary, s.method, s.samples, s.seed, s.second_order)
        return [Sample(index, dict(zip(self.keys, row, strict=True)), self.base, self.kind)
                for index, row in enumerate(rows)]


def load(path: str | Path) -> Study:
    """Read and check a study file and its base file (raises InputError)."""
    path = Path(path)
    cfg = parse(read_toml_file(path, "study file"))
    if cfg.template is not None:
        kind, base = service.builtin(cfg.template)
        folder, source = Path("."), f"template {cfg.template}"
    else:
        assert cfg.base is not None
        file = path.parent / cfg.base
        if not file.is_file():
            raise InputError("base", cfg.base, f"a procedure or plan file relative to the study file "
                             f"(there is no file {file})")
        base = service.read_file(file)
        kind = "plan" if "anatomy" in base else "simulation"
        folder, source = file.parent, cfg.base
    for k, key in enumerate(v.key for v in cfg.vary):
        try:
            check_key(base, key)
        except InputError as err:
            raise InputError(f"vary[{k}].key", err.value, err.allowed) from None
    return Study(cfg, kind, base, folder, source)


#: Most samples validated before a study runs; the others are validated as they run (a failed
#: sample is a row with its error, the study goes on).
MAX_VALIDATED = 256


def checked_samples(samples: list[Sample], keys: list[str], most: int = MAX_VALIDATED) -> list[Sample]:
    """The samples validated before a study runs: all of them up to ``most``; else, in order, those
    with the smallest and the largest value of each varied key (where a value out of bounds lies)
    and evenly spaced others up to ``most``.

    >>> s = [Sample(k, {"a": float((7 * k) % 10)}, {}) for k in range(10)]
    >>> [x.index for x in checked_samples(s, ["a"], most=4)]
    [0, 3, 6, 7]
    """
    if len(samples) <= most:
        return list(samples)
    chosen: set[int] = set()
    for key in keys:
        values = [s.inputs[key] for s in samples]
        numeric = [k for k, v in enumerate(values) if isinstance(v, int | float)]
        if numeric:
            chosen |= {min(numeric, key=values.__getitem__), max(numeric, key=values.__getitem__)}
    for k in range(most):  # evenly spaced, until ``most`` are chosen
        if len(chosen) >= most:
            break
        chosen.add(k * (len(samples) - 1) // max(1, most - 1))
    return [samples[k] for k in sorted(chosen)]


def validate_samples(study: Study, samples: list[Sample], allow_large: bool = False) -> float:
    """Validate the samples as the procedures or plans they make, before anything runs: all of a
    study of up to ``MAX_VALIDATED``, else the ``checked_samples`` (raises InputError naming the
    sample, the key and what is allowed). Returns the estimated computing time of them all (s),
    refused over the study limit unless ``allow_large``."""
    checked = checked_samples(samples, study.keys)
    seconds = 0.0
    for s in checked:
        try:
            job = service.prepare(study.kind, s.data, base=study.folder, allow_large=allow_large)  # type: ignore[arg-type]
        except InputError as err:
            sets = ", ".join(f"{k} = {shown(v)}" for k, v in s.inputs.items())
            raise InputError(f"sample {s.index}: {err.field}", err.value,
                             f"{err.allowed} (this sample sets {sets})") from None
        seconds += job.estimate.seconds
    total = seconds * len(samples) / max(1, len(checked))
    if total > budget.LIMITS.study_seconds and not allow_large:
        most = budget.duration_text(budget.LIMITS.study_seconds)
        raise InputError("sampling.samples", f"{budget.duration_text(total)} of computing (estimated, "
                         f"{len(samples)} runs)", f"a study of at most {most} of computing (fewer samples, "
                         "or --allow-large)")
    return total
