"""The calibration file (docs/calibrate.md): the bench setup, the unknowns to fit and the
measurements, read and checked once.

The bench setup is a procedure file (``procedure = "bench.toml"``, relative to the calibration
file) and/or inline [probe], [cryogen], [tissue], [protocol] and [grid] sections, the inline keys
on top of the file's. Each ``[[unknown]]`` names a probe design key (``probe.mass_flow_g_per_s``,
``probe.supply.inner_diameter_mm``, ...), its bounds and start, and whether it is fitted in log
space. ``[data]`` names the CSV files of isotherm (ice-ball) widths and lengths against time and
of thermocouple traces.

Bad input raises ``InputError`` naming the field (or the CSV file, row and column), the value and
what is allowed.
"""

from __future__ import annotations

import copy
import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cryoplan import config, rules, service
from cryoplan.config import ExhaustConfig, ProbeDesignKeys, SupplyConfig
from cryoplan.errors import InputError

#: Sections of the bench setup (the rest of a procedure file does not bear on a bench test).
SETUP_SECTIONS = ("probe", "cryogen", "tissue", "protocol", "grid")
#: Largest CSV file read (bytes) and most rows kept.
MAX_CSV_BYTES, MAX_ROWS = 5_000_000, 20_000
#: Names of catalog entries (also their file names).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class Unknown(_Strict):
    key: str
    initial: float
    lower: float
    upper: float
    log: bool = False


class DataFiles(_Strict):
    isotherms: str | None = None
    thermocouples: str | None = None


class FitOptions(_Strict):
    bootstrap: Annotated[int, Field(ge=0, le=1000)] = 0
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    max_simulations: Annotated[int, Field(ge=5, le=5000)] = 300


class EntryOptions(_Strict):
    name: str | None = None
    description: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class OutputKeys(_Strict):
    interval_s: float | None = None  # the rest of [output] is the calibration's own


class CalibrationFile(_Strict):
    procedure: str | None = None
    probe: dict[str, Any] | None = None
    cryogen: dict[str, Any] | None = None
    tissue: dict[str, Any] | None = None
    protocol: dict[str, Any] | None = None
    grid: dict[str, Any] | None = None
    output: OutputKeys | None = None
    unknown: Annotated[list[Unknown], Field(min_length=1, max_length=10)]
    data: DataFiles
    fit: FitOptions = FitOptions()
    entry: EntryOptions = EntryOptions()


def fittable_keys() -> tuple[str, ...]:
    """The probe design keys that take a number (those a calibration can fit).

    >>> "probe.supply.inner_diameter_mm" in fittable_keys(), "probe.gauge" in fittable_keys()
    (True, False)
    """
    keys = []
    for name, fld in ProbeDesignKeys.model_fields.items():
        table = {"supply": SupplyConfig, "exhaust": ExhaustConfig}.get(name)
        if table is not None:
            keys += [f"probe.{name}.{k}" for k, f in table.model_fields.items()
                     if "float" in str(f.annotation)]
        elif "float" in str(fld.annotation):
            keys.append(f"probe.{name}")
    return tuple(keys)


@dataclass(frozen=True)
class Measurements:
    """The data, one entry per measured value: ``kind`` is "width" or "length" (mm, of the region
    colder than ``isotherm_c``) or "temperature" (°C at ``r_mm``, ``z_mm``); ``sd`` is NaN where
    none was given. ``where`` names each value's file, row and column for messages and tables."""

    kind: np.ndarray
    time_s: np.ndarray
    isotherm_c: np.ndarray
    r_mm: np.ndarray
    z_mm: np.ndarray
    value: np.ndarray
    sd: np.ndarray
    where: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.value)

    @property
    def weighted(self) -> bool:
        return bool(np.isfinite(self.sd).all())


@dataclass(frozen=True)
class Calibration:
    """A checked calibration file: the bench procedure (a dict, without the unknowns' values),
    the unknowns, the measurements and the options."""

    path: Path
    procedure: dict[str, Any]
    unknowns: tuple[Unknown, ...]
    data: Measurements
    fit: FitOptions
    name: str
    description: str
    inputs: frozenset[Path] = frozenset()  # every file read (resolved), never to be overwritten

    def with_values(self, values: np.ndarray | list[float]) -> dict[str, Any]:
        """The bench procedure with the unknowns set to ``values``, in forward-Euler steps unless
        the file sets ``grid.max_step_s``: the fit differentiates the model by finite differences,
        and RKL2's super-steps cross the enthalpy's kinks differently as a parameter moves, a
        micrometre-scale noise in the sizes that turned a -0.9995 correlation of two unknowns
        acting together into -0.98 (the forward-Euler response is smooth)."""
        proc = copy.deepcopy(self.procedure)
        for u, v in zip(self.unknowns, values, strict=True):
            set_key(proc, u.key, float(v))
        grid = proc.setdefault("grid", {})
        if isinstance(grid, dict) and grid.get("geometry", "axisymmetric") != "3d":
            grid.setdefault("max_step_s", 0.0)
        return proc


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    *tables, last = dotted.split(".")
    for t in tables:
        data = data.setdefault(t, {})
    data[last] = value


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top``'s keys over ``base``'s, table by table."""
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_toml(path: Path, field: str, what: str) -> dict[str, Any]:
    """A TOML file, its errors named by ``field`` (config.read_file speaks of procedure files)."""
    if not path.is_file():
        raise InputError(field, str(path), f"an existing {what} file (.toml)")
    try:
        return config.read_toml_file(path, f"{what} file")
    except InputError as err:
        raise InputError(field, err.value, err.allowed) from None


def _relative(base: Path, name: str, field: str) -> Path:
    path = base.parent / name
    if not path.is_file():
        raise InputError(field, name, f"an existing file (relative to {base.name})")
    return path


def load(path: str | Path, name: str | None = None) -> Calibration:
    """Read and check a calibration file (InputError on anything wrong, before any simulation)."""
    path = Path(path)
    raw = _read_toml(path, "CALIBRATION.toml", "calibration")
    try:
        cal = CalibrationFile.model_validate(raw)
    except ValidationError as err:
        raise config.translate(err, CalibrationFile, "calibration") from None
    setup: dict[str, Any] = {}
    inputs = [path]
    interval = None
    if cal.procedure is not None:
        inputs.append(_relative(path, cal.procedure, "procedure"))
        proc = _read_toml(inputs[-1], "procedure", "procedure")
        setup = {k: v for k, v in proc.items() if k in SETUP_SECTIONS}
        output = proc.get("output")
        interval = output.get("interval_s") if isinstance(output, dict) else None
    setup = _merge(setup, {k: raw[k] for k in SETUP_SECTIONS if k in raw})
    if cal.output is not None and cal.output.interval_s is not None:
        interval = cal.output.interval_s
    if interval is not None:
        setup["output"] = {"interval_s": interval}
    if "protocol" not in setup:
        raise InputError("protocol", "(missing)", "the bench protocol: a [protocol] section here or in "
                                                  "the procedure file")
    base = _procedure(setup)  # the setup alone must be a valid procedure
    if base.probe.boundary != "cryogen":
        raise InputError("probe.boundary", base.probe.boundary,
                         '"cryogen": a calibration fits the internals of a cryogen probe')
    unknowns = tuple(cal.unknown)
    _check_unknowns(unknowns, setup)
    if cal.data.isotherms is None and cal.data.thermocouples is None:
        raise InputError("data", {}, "isotherms and/or thermocouples: the CSV files of the measurements")
    total = sum(p.seconds for p in base.protocol.phases)
    parts = []
    if cal.data.isotherms is not None:
        inputs.append(_relative(path, cal.data.isotherms, "data.isotherms"))
        parts.append(read_isotherms(inputs[-1], total, base.grid.geometry))
    if cal.data.thermocouples is not None:
        inputs.append(_relative(path, cal.data.thermocouples, "data.thermocouples"))
        parts.append(read_thermocouples(inputs[-1], total, base.grid.geometry))
    data = _concat(parts)
    if len(parts) == 2 and not data.weighted:
        raise InputError("data", "isotherms and thermocouples without standard deviations",
                         "standard deviations for every value when sizes (mm) and temperatures (°C) are "
                         "fitted together: they set the weight of a millimetre against a degree")
    if len(data) <= len(unknowns):
        raise InputError("unknown", f"{len(unknowns)} unknowns",
                         f"fewer unknowns than measured values ({len(data)}): the fit needs at least one "
                         "value more than unknowns to estimate its uncertainty")
    name = name or cal.entry.name or f"{path.stem}-probe"
    if not NAME_PATTERN.fullmatch(name):
        raise InputError("entry.name", name, "1-64 letters, digits, '.', '_' or '-' (it names a file)")
    procedure = {**setup, "output": _output(data, base)}  # the calibration's own [output]
    _check_runs(procedure, unknowns)
    return Calibration(path, procedure, unknowns, data, cal.fit, name,
                       cal.entry.description or f"calibrated by cryoplan calibrate from {path.name}",
                       frozenset(p.resolve() for p in inputs))


def _procedure(data: dict[str, Any]) -> config.ProcedureConfig:
    """``data`` validated as a procedure: the schema, then the probe's rules."""
    cfg = config.parse(data)
    rules.check_procedure(cfg)
    return cfg


def _check_unknowns(unknowns: tuple[Unknown, ...], setup: dict[str, Any]) -> None:
    allowed = fittable_keys()
    seen = set()
    for k, u in enumerate(unknowns):
        where = f"unknown[{k}]"
        if u.key not in allowed:
            raise InputError(f"{where}.key", u.key,
                             "a probe design key taking a number: " + ", ".join(allowed))
        if u.key in seen:
            raise InputError(f"{where}.key", u.key, "each key once")
        seen.add(u.key)
        if not u.lower < u.upper:
            raise InputError(f"{where}.upper", u.upper, f"more than lower ({u.lower:g})")
        if not u.lower <= u.initial <= u.upper:
            raise InputError(f"{where}.initial", u.initial, f"within the bounds [{u.lower:g}, {u.upper:g}]")
        if u.log and not u.lower > 0:
            raise InputError(f"{where}.lower", u.lower, "a number > 0 (the key is fitted in log space)")
        for bound in ("lower", "upper", "initial"):
            trial = copy.deepcopy(setup)
            set_key(trial, u.key, getattr(u, bound))
            try:
                _procedure(trial)
            except InputError as err:
                raise InputError(f"{where}.{bound}", getattr(u, bound), f"a value {u.key} may take "
                                                                        f"({err.allowed})") from None


def _check_runs(procedure: dict[str, Any], unknowns: tuple[Unknown, ...]) -> None:
    """The bench prepared by the service (probe, console, grid and points resolved into its case,
    nothing simulated) with every unknown at each of its bounds, so that a value the physics
    refuses is named now."""
    for k, u in enumerate(unknowns):
        for bound in ("lower", "upper"):
            trial = copy.deepcopy(procedure)
            set_key(trial, u.key, getattr(u, bound))
            try:
                service.prepare("simulation", trial, allow_large=True)
            except InputError as err:
                raise InputError(f"unknown[{k}].{bound}", getattr(u, bound),
                                 f"a value the bench setup can run with ({err})") from None


def _output(data: Measurements, base: config.ProcedureConfig) -> dict[str, Any]:
    """What the runs record: the measured isotherms and the thermocouples' positions, at the
    setup's output interval."""
    iso = sorted({float(x) for x in data.isotherm_c[np.isfinite(data.isotherm_c)]}, reverse=True)
    temps = data.kind == "temperature"
    points = sorted({(float(r), float(z)) for r, z in zip(data.r_mm[temps], data.z_mm[temps], strict=True)})
    out: dict[str, Any] = {"isotherms_c": iso or [0.0], "interval_s": base.output.interval_s}
    if points:
        out["points_mm"] = [list(p) for p in points]
    return out


# -- the CSV files -------------------------------------------------------------------------------

ISOTHERM_COLUMNS = ("time_s", "isotherm_c", "width_mm", "length_mm", "width_sd_mm", "length_sd_mm")
THERMOCOUPLE_COLUMNS = ("time_s", "r_mm", "z_mm", "temperature_c", "temperature_sd_c")


def _rows(path: Path, columns: tuple[str, ...], required: tuple[str, ...]) -> tuple[list[str], list]:
    if path.stat().st_size > MAX_CSV_BYTES:
        raise InputError(path.name, f"{path.stat().st_size} bytes",
                         f"a CSV file of at most {MAX_CSV_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(path.name, "(not UTF-8 text)", "a UTF-8 CSV file") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and
             not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(path.name, "(empty)", "a CSV file with a header row: " + ", ".join(columns))
    header = [h.strip() for h in _cells(path, *lines[0])]
    for h in header:
        if h not in columns:
            raise InputError(f"{path.name}: header", h, "one of the columns " + ", ".join(columns))
    if len(set(header)) != len(header):
        raise InputError(f"{path.name}: header", header, "each column once")
    for r in required:
        if r not in header:
            raise InputError(f"{path.name}: header", header, f"a column {r}")
    if len(lines) - 1 > MAX_ROWS:
        raise InputError(path.name, f"{len(lines) - 1} rows", f"at most {MAX_ROWS} rows")
    rows = []
    for n, line in lines[1:]:
        cells = [c.strip() for c in _cells(path, n, line)]
        if len(cells) != len(header):
            raise InputError(f"{path.name}: row {n}", line[:60], f"{len(header)} values, one per column")
        rows.append((n, dict(zip(header, cells, strict=True))))
    if not rows:
        raise InputError(path.name, "(no rows)", "at least one row of measurements under the header")
    return header, rows


def _cells(path: Path, n: int, line: str) -> list[str]:
    """One CSV line's cells (raises InputError where the csv module cannot split it: a field
    longer than its limit, a NUL byte)."""
    try:
        return next(csv.reader([line]))
    except csv.Error as err:
        raise InputError(f"{path.name}: row {n}", line[:60], f"CSV values that can be read ({err})") from None


def _number(path: Path, n: int, column: str, text: str, low: float, high: float, what: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and low <= x <= high):
        raise InputError(f"{path.name}: row {n}, {column}", text, what)
    return x


#: The smallest standard deviation a measurement may state (mm or K).
MIN_SD = 1e-3


def _sd(path: Path, n: int, column: str, row: dict[str, str]) -> float:
    text = row.get(column, "")
    if text == "":
        return math.nan
    # at least 0.001 (mm or K): finer than any calliper or thermocouple measures, and its weight
    # 1/sd^2 stays finite (1e-300 overflowed the fit's weights)
    return _number(path, n, column, text, MIN_SD, 1e3, f"a standard deviation from {MIN_SD:g} to 1000")


def _time(path: Path, n: int, row: dict[str, str], total: float) -> float:
    return _number(path, n, "time_s", row["time_s"], 1e-9, total,
                   f"a time > 0 within the protocol (at most {total:g} s)")


def read_isotherms(path: Path, total_s: float, geometry: str) -> Measurements:
    """Widths and lengths of the regions colder than each isotherm, against time."""
    header, rows = _rows(path, ISOTHERM_COLUMNS, ("time_s", "isotherm_c"))
    if "width_mm" not in header and "length_mm" not in header:
        raise InputError(f"{path.name}: header", header, "a column width_mm and/or length_mm")
    if "length_mm" in header and geometry != "axisymmetric":
        raise InputError(f"{path.name}: length_mm", "a length column",
                         'lengths only with grid.geometry = "axisymmetric" (a radial grid has no length)')
    out: list[tuple] = []
    for n, row in rows:
        t = _time(path, n, row, total_s)
        iso = _number(path, n, "isotherm_c", row["isotherm_c"], -273.0, 40.0, "a temperature in °C")
        given = 0
        for kind in ("width", "length"):
            text = row.get(f"{kind}_mm", "")
            if text == "":
                continue
            x = _number(path, n, f"{kind}_mm", text, 0.0, 1000.0, "a size from 0 to 1000 mm")
            out.append((kind, t, iso, math.nan, math.nan, x, _sd(path, n, f"{kind}_sd_mm", row),
                        f"{path.name}:{n} {kind}"))
            given += 1
        if not given:
            raise InputError(f"{path.name}: row {n}", "(no width_mm or length_mm)", "a width and/or a length")
    return _measurements(out)


def read_thermocouples(path: Path, total_s: float, geometry: str) -> Measurements:
    """Temperatures at thermocouple positions (r from the probe axis, z from the tip along the
    probe, shaft towards +z), against time."""
    header, rows = _rows(path, THERMOCOUPLE_COLUMNS, ("time_s", "r_mm", "temperature_c"))
    if "z_mm" not in header and geometry == "axisymmetric":
        raise InputError(f"{path.name}: header", header,
                         "a column z_mm (the position along the probe, from the tip) on an axisymmetric grid")
    out: list[tuple] = []
    for n, row in rows:
        t = _time(path, n, row, total_s)
        r = _number(path, n, "r_mm", row["r_mm"], 0.0, 1000.0, "a distance from the probe axis, 0-1000 mm")
        z_text = row.get("z_mm", "")
        z = 0.0 if z_text == "" and geometry == "radial" else _number(
            path, n, "z_mm", z_text, -1000.0, 1000.0, "a position along the probe from the tip, mm")
        temp = _number(path, n, "temperature_c", row["temperature_c"], -273.0, 100.0, "a temperature in °C")
        out.append(("temperature", t, math.nan, r, z, temp, _sd(path, n, "temperature_sd_c", row),
                    f"{path.name}:{n}"))
    return _measurements(out)


def _measurements(rows: list[tuple]) -> Measurements:
    cols = list(zip(*rows, strict=True))
    data = Measurements(np.array(cols[0]), *(np.array(c, dtype=float) for c in cols[1:7]), tuple(cols[7]))
    given = np.isfinite(data.sd)
    if given.any() and not given.all():
        k = int(np.argmin(given))
        raise InputError(data.where[k], "(no standard deviation)",
                         "a standard deviation for every value or for none (they weight the fit)")
    return data


def _concat(parts: list[Measurements]) -> Measurements:
    if len(parts) == 1:
        return parts[0]
    a, b = parts
    return Measurements(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                          ("kind", "time_s", "isotherm_c", "r_mm", "z_mm", "value", "sd")),
                        a.where + b.where)

