"""The outcome registry: procedures and follow-ups in SQLite (default) or PostgreSQL (by URL).

Every write is one transaction: a process killed mid-write leaves the registry as it was or fully
updated. SQLite runs in WAL mode and takes the write lock at the start of each transaction
(``BEGIN IMMEDIATE``) so concurrent writers queue instead of failing or losing updates; the
schema comes from Alembic migrations, applied when a registry is opened.

>>> reg = Registry("sqlite://")  # in memory
>>> pid = reg.add_procedure(ProcedureEntry("pt-0001", dt.date(2026, 1, 5), "simulation", "n2o-2.0mm",
...     "n2o", "2 x 120 s, 30 s thaw", 240.0, "L4,L5", 2, blocked_length_mm=5.0))
>>> reg.add_follow_up(pid, "2026-03-05", 2, False) > 0
True
>>> [(d.protocol, round(d.months, 2), d.event) for d in reg.durations()]
[('2 x 120 s, 30 s thaw', 1.94, False)]
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.orm import Session, selectinload

from cryoplan.atomic import write_atomic
from cryoplan.errors import Busy, InputError, masked
from cryoplan.outcome.refit import OutcomeRecord
from cryoplan.outcome.relief import Effect, Patient, ReliefModel, default_model
from cryoplan.store import entries
from cryoplan.store.entries import ProcedureEntry
from cryoplan.store.models import FollowUp, ModelFit, Procedure

DEFAULT_URL = "sqlite:///cryoplan-registry.db"
DAYS_PER_MONTH = 365.25 / 12
CSV_COLUMNS = ["procedure_ref", *(f.name for f in fields(ProcedureEntry) if f.name != "result_json"),
               "seen_on", "pain_score", "pain_returned"]
#: Columns added with migration 0002: a CSV exported before may lack them (read as empty).
CSV_OPTIONAL = ("depression", "prior_lumbar_surgery", "treated_joints", "opioid_use", "regrowth_distance_mm")


def _hide(text: str, url: str) -> str:
    """``text`` (a driver's message) with the URL's password masked: in the URL, as a
    ``password=`` option, and standing alone (a password of four characters or more)."""
    match = re.search(r"://[^/:@]*:([^@/]*)@", url)
    text = re.sub(r"(password\s*=\s*)\S+", r"\1***", text.replace(url, masked(url)), flags=re.IGNORECASE)
    if match:
        for secret in {match.group(1), unquote(match.group(1))}:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
    return text


def registry_url(url: str | None = None) -> str:
    """The database URL: ``url``, else $CRYOPLAN_REGISTRY, else ./cryoplan-registry.db.
    ``postgresql://`` URLs use the psycopg (3) driver."""
    url = url or os.environ.get("CRYOPLAN_REGISTRY") or DEFAULT_URL
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


FOREIGN = "a cryoplan registry or a new database (this one holds other tables: it was not changed)"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite registry URL, if it is one that exists (None: not SQLite, in memory, or
    not there yet); raises InputError for a path the file system cannot look up (a name too long)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    try:
        return path if path.is_file() else None
    except OSError as err:
        raise InputError("registry URL", masked(url),
                         f"a path that can be looked up ({err.strerror})") from None


def _refuse_foreign_sqlite(url: str) -> None:
    """An existing SQLite file that is not a registry is left alone (before WAL mode or any
    table would change it)."""
    import sqlite3

    path = sqlite_file(url)
    if path is None or path.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise InputError("registry URL", url, f"an SQLite database ({err})") from None
    if tables and "alembic_version" not in tables:
        raise InputError("registry URL", url, FOREIGN)


#: Seconds a command waits for another writer's lock before it says the registry is busy.
BUSY_TIMEOUT_S = 60.0


def _sqlite_engine(url: str, busy_timeout_s: float) -> Engine:
    _refuse_foreign_sqlite(url)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below open transactions
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        if url not in ("sqlite://", "sqlite:///:memory:"):
            cur.execute("PRAGMA journal_mode = WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now: no lost upgrade races

    return engine


def _engine(url: str, busy_timeout_s: float) -> Engine:
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url, busy_timeout_s)
        return create_engine(url, pool_pre_ping=True)
    except InputError:
        raise
    except (ArgumentError, ImportError, ValueError) as err:
        raise InputError("registry URL", masked(url), "a SQLAlchemy database URL: sqlite:///FILE or "
                         f"postgresql://USER:PASSWORD@HOST/DB ({_hide(str(err), url)})") from None


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("cryoplan.store") / "migrations"))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


@dataclass(frozen=True)
class Duration:
    """Relief of one procedure: months to the first follow-up with pain back (event) or to the
    last follow-up without it (censored). For an event, ``relieved_until_months`` is the follow-up
    before, the last seen still relieved (0: none since the treatment): the pain came back in
    between."""

    procedure_id: int
    protocol: str
    months: float
    event: bool
    blocked_length_mm: float | None
    nerves_treated: int
    relieved_until_months: float | None = None
    patient: Patient = Patient()
    regrowth_distance_mm: float | None = None


def _is_busy(err: OperationalError) -> bool:
    """SQLite's "database is locked" or "busy", PostgreSQL's lock timeout."""
    text = str(err.orig).lower()
    return "locked" in text or "busy" in text or "lock timeout" in text


@contextmanager
def _not_busy(url: str) -> Iterator[None]:
    """Another writer's lock outlasting the wait becomes ``Busy`` (try again), not an error."""
    try:
        yield
    except OperationalError as err:
        if not _is_busy(err):
            raise
        raise Busy(f"the registry {masked(url)} is busy: another process is writing to it; try again "
                   "in a few seconds") from None


class Registry:
    """The registry at ``url`` (default: ``registry_url``). A writer holding the database longer
    than ``busy_timeout_s`` makes a call raise ``Busy`` (the web planner waits 5 s, a command 60 s)."""

    def __init__(self, url: str | None = None, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.url = registry_url(url)
        self.engine = _engine(self.url, busy_timeout_s)
        try:
            with _not_busy(self.url):
                self._migrate()
        except (OperationalError, DatabaseError) as err:
            why = _hide(str(err.orig), self.url)
            raise InputError("registry URL", masked(self.url),
                             f"a cryoplan registry database that can be opened ({why})") from None

    def _migrate(self) -> None:
        """Bring the schema to the newest migration, in one transaction (SQLite's write lock or
        a PostgreSQL advisory lock keeps two processes from migrating at once)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(727172)"))
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head_revision():
                return
            if current is None and inspect(conn).get_table_names():
                raise InputError("registry URL", masked(self.url), FOREIGN)
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with _not_busy(self.url), Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with _not_busy(self.url), Session(self.engine) as session:
            yield session

    # -- writes -------------------------------------------------------------------------------

    def add_procedure(self, entry: ProcedureEntry) -> int:
        with self._write() as s:
            row = Procedure(**{f.name: getattr(entry, f.name) for f in fields(ProcedureEntry)})
            s.add(row)
            s.flush()
            return row.id

    def add_follow_up(self, procedure_id: int, seen_on: Any, pain_score: Any, pain_returned: Any) -> int:
        with self._write() as s:
            proc = s.get(Procedure, procedure_id)
            if proc is None:
                raise InputError("procedure", procedure_id, "the id of a recorded procedure")
            row = FollowUp(procedure_id=procedure_id,
                           seen_on=entries.date("seen_on", seen_on, not_before=proc.treated_on),
                           pain_score=entries.pain_score(pain_score),
                           pain_returned=entries.flag("pain_returned", pain_returned))
            s.add(row)
            s.flush()
            return row.id

    def save_fit(self, model: ReliefModel, records: int) -> int:
        effects = {"effects": [[e.name, e.coefficient, e.se, e.source] for e in model.effects],
                   "wallerian_days": model.wallerian_days, "regrowth_mm_per_day": model.regrowth_mm_per_day,
                   "default_distance_m": model.default_distance_m}
        with self._write() as s:
            row = ModelFit(records=records, median_ref_months=model.median_excess_months, sigma=model.sigma,
                           floor_months=model.floor_months(), effects_json=json.dumps(effects),
                           origin=model.origin)
            s.add(row)
            s.flush()
            return row.id

    # -- reads --------------------------------------------------------------------------------

    def procedures(self, offset: int = 0, limit: int | None = None) -> list[Procedure]:
        """Procedures by id, with their follow-ups: all, or ``limit`` of them from ``offset``."""
        with self._read() as s:
            return list(s.scalars(select(Procedure).options(selectinload(Procedure.follow_ups))
                                  .order_by(Procedure.id).offset(offset).limit(limit)))

    def counts(self) -> tuple[int, int]:
        with self._read() as s:
            return (s.scalar(select(func.count()).select_from(Procedure)) or 0,
                    s.scalar(select(func.count()).select_from(FollowUp)) or 0)

    def latest_fit(self) -> ReliefModel | None:
        """The newest fit; one stored before migration 0002 keeps its median and sigma, with
        the prior's patient factors and regrowth (its length and nerve exponents are unused)."""
        with self._read() as s:
            row = s.scalars(select(ModelFit).order_by(ModelFit.id.desc()).limit(1)).first()
        if row is None:
            return None
        prior = default_model()
        if row.effects_json is None:
            return replace(prior, median_excess_months=row.median_ref_months, sigma=row.sigma,
                           origin=f"registry fit {row.id} of {row.records} outcomes (before patient factors: "
                                  "its lesion-length and nerve-count exponents are not used)")
        d = json.loads(row.effects_json)
        return replace(prior, median_excess_months=row.median_ref_months, sigma=row.sigma,
                       effects=tuple(Effect(*e) for e in d["effects"]), wallerian_days=d["wallerian_days"],
                       regrowth_mm_per_day=d["regrowth_mm_per_day"],
                       default_distance_m=d["default_distance_m"],
                       origin=row.origin or f"registry fit {row.id}")

    def durations(self) -> list[Duration]:
        """One relief duration per procedure with at least one follow-up."""
        out = []
        for p in self.procedures():
            if not p.follow_ups:
                continue
            back = next((k for k, f in enumerate(p.follow_ups) if f.pain_returned), None)
            end = p.follow_ups[-1 if back is None else back].seen_on
            relieved_until = None
            if back is not None:  # the pain came back after the visit before (or the treatment)
                before = p.follow_ups[back - 1].seen_on if back else p.treated_on
                relieved_until = _months(p.treated_on, before)
            patient = Patient(depression=bool(p.depression),
                              prior_lumbar_surgery=bool(p.prior_lumbar_surgery),
                              treated_joints=p.treated_joints or 1, opioid_use=bool(p.opioid_use))
            out.append(Duration(p.id, p.protocol, _months(p.treated_on, end), back is not None,
                                p.blocked_length_mm, p.nerves_treated, relieved_until, patient,
                                p.regrowth_distance_mm))
        return out

    def outcome_records(self) -> list[OutcomeRecord]:
        """Durations of procedures whose nerves were blocked, as the relief model's refit takes
        them (unrecorded patient factors count as absent; a stored value that is not a finite
        number, from before imports were checked, is refused)."""
        out = []
        for d in self.durations():
            if d.blocked_length_mm is not None and not math.isfinite(d.blocked_length_mm):
                raise InputError(f"procedure {d.procedure_id}: blocked_length_mm", d.blocked_length_mm,
                                 "a finite length (correct the record before a refit)")
            if d.blocked_length_mm and d.months > 0:
                out.append(OutcomeRecord(
                    d.months, d.event,
                    None if d.regrowth_distance_mm is None else d.regrowth_distance_mm * 1e-3,
                    d.patient, d.relieved_until_months))
        return out

    # -- CSV ----------------------------------------------------------------------------------

    def _refuse_duplicates(self, procs: dict[str, ProcedureEntry]) -> None:
        seen: dict[tuple, str] = {}
        with self._read() as s:
            pseudonyms = {e.pseudonym for e in procs.values()}
            for row in s.scalars(select(Procedure).where(Procedure.pseudonym.in_(pseudonyms))):
                seen[_same_procedure(row)] = f"procedure {row.id} of the registry"
        twice = []
        for ref, entry in procs.items():
            key = _same_procedure(entry)
            if key in seen:
                twice.append(f"procedure_ref {ref} ({entry.pseudonym}, {entry.treated_on}, {entry.levels}, "
                             f"{entry.protocol}: {seen[key]})")
            seen.setdefault(key, f"procedure_ref {ref} of the file")
        if twice:
            more = f" and {len(twice) - 3} more" if len(twice) > 3 else ""
            raise InputError("CSV", f"{len(twice)} duplicate procedure(s)",
                             "procedures not already recorded (the same pseudonym, date, levels and "
                             f"protocol): {'; '.join(twice[:3])}{more}; --allow-duplicates imports them "
                             "anyway")

    def export_csv(self, path: Path) -> int:
        """One row per follow-up (procedure columns repeated; a procedure without follow-ups
        gets one row with the follow-up columns empty). Returns the rows written."""
        rows = []
        for p in self.procedures():
            base = {c: getattr(p, c) for c in CSV_COLUMNS[1:-3]} | {"procedure_ref": p.id}
            for f in p.follow_ups or [None]:
                rows.append(base | ({"seen_on": f.seen_on, "pain_score": f.pain_score,
                                     "pain_returned": "yes" if f.pain_returned else "no"} if f else {}))

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, CSV_COLUMNS)
                w.writeheader()
                w.writerows(rows)

        write_atomic(path, write)
        return len(rows)

    def import_csv(self, path: Path, progress=None, allow_duplicates: bool = False) -> tuple[int, int]:
        """Read an exported CSV: every row is checked first, then everything is written in one
        transaction (new ids; ``procedure_ref`` only groups rows). A procedure already in the
        registry, or twice in the file (the same pseudonym, date, levels and protocol), is refused
        unless ``allow_duplicates``: importing a file twice would count every patient twice in the
        Kaplan-Meier curves and the refit. Returns (procedures, follow-ups)."""
        procs, follows = _read_csv(Path(path))
        if not allow_duplicates:
            self._refuse_duplicates(procs)
        if progress:
            progress(len(procs), sum(len(v) for v in follows.values()))
        with self._write() as s:
            for ref, entry in procs.items():
                row = Procedure(**{f.name: getattr(entry, f.name) for f in fields(ProcedureEntry)})
                row.follow_ups = [FollowUp(seen_on=d, pain_score=score, pain_returned=back)
                                  for d, score, back in follows[ref]]
                s.add(row)
        return len(procs), sum(len(v) for v in follows.values())


def _same_procedure(e: ProcedureEntry | Procedure) -> tuple[str, dt.date, str, str]:
    """What makes two records the same procedure: the patient, the day, the levels, the protocol."""
    return (e.pseudonym, e.treated_on, e.levels, e.protocol)


def _months(start: dt.date, end: dt.date) -> float:
    return (end - start).days / DAYS_PER_MONTH


#: The procedure's columns of a CSV row (the follow-up's are the last three).
PROCEDURE_COLUMNS = CSV_COLUMNS[1:-3]


def _read_csv(path: Path) -> tuple[dict[str, ProcedureEntry], dict[str, list[tuple[dt.date, int, bool]]]]:
    """Every row checked; rows of one procedure (one ``procedure_ref``) must agree on the
    procedure's columns. Errors name the line, never repeat a line that is not a cryoplan row."""
    try:
        fh = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise InputError("CSV", str(path), "an existing file") from None
    except OSError as err:
        raise InputError("CSV", str(path), f"a file that can be read ({err.strerror})") from None
    procs: dict[str, ProcedureEntry] = {}
    first: dict[str, tuple[int, dict[str, str]]] = {}
    follows: dict[str, list[tuple[dt.date, int, bool]]] = {}
    n = 1
    try:
        with fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if [c for c in CSV_COLUMNS if c not in header and c not in CSV_OPTIONAL]:
                raise InputError("CSV", path.name, "a CSV file with the columns cryoplan registry export "
                                 "writes: " + ", ".join(CSV_COLUMNS))
            for n, row in enumerate(reader, start=2):
                _row(n, row, procs, first, follows)
    except csv.Error as err:
        raise InputError(f"CSV line {n + 1}", path.name, f"a CSV row ({err})") from None
    except UnicodeDecodeError:
        raise InputError("CSV", path.name, "a UTF-8 text file") from None
    return procs, follows


def _row(n: int, row: dict[str, str], procs: dict, first: dict, follows: dict) -> None:
    try:
        if None in row or any(v is None for v in row.values()):
            raise InputError("columns", len(row), f"{len(CSV_COLUMNS)} values, as in the header")
        ref = entries.text("procedure_ref", row["procedure_ref"], 64)
        if ref not in procs:
            procs[ref] = _entry(row)
            first[ref] = (n, row)
            follows[ref] = []
        else:
            line, seen = first[ref]
            differ = [c for c in PROCEDURE_COLUMNS if row.get(c) != seen.get(c)]
            if differ:
                raise InputError("procedure_ref", ref, f"one procedure per reference: lines {line} and {n} "
                                 f"share it but differ in {', '.join(differ)}")
        if row["seen_on"]:
            follows[ref].append((
                entries.date("seen_on", row["seen_on"], not_before=procs[ref].treated_on),
                entries.pain_score(row["pain_score"]),
                entries.flag("pain_returned", row["pain_returned"])))
    except InputError as err:
        raise InputError(f"CSV line {n}: {err.field}", err.value, err.allowed) from None


def _entry(row: dict[str, str]) -> ProcedureEntry:
    for key, value in row.items():
        if value and "\x00" in value:
            raise InputError(key, value, "text without NUL bytes")
    nerves = entries.number("nerves_treated", row["nerves_treated"], 1, 100, int)
    freeze = entries.number("total_freeze_s", row["total_freeze_s"], 1e-3, 86400)
    return ProcedureEntry(
        pseudonym=entries.pseudonym(row["pseudonym"]),
        treated_on=entries.date("treated_on", row["treated_on"]),
        kind=row["kind"], probe=row["probe"], gas=row["gas"], protocol=row["protocol"],
        total_freeze_s=freeze if freeze is not None else 0.0,
        levels=entries.levels(row["levels"]),
        nerves_treated=nerves if nerves is not None else 0,
        blocked_length_mm=entries.number("blocked_length_mm", row["blocked_length_mm"], 0, 1000),
        predicted_median_months=entries.number("predicted_median_months", row["predicted_median_months"],
                                               0, 1200),
        depression=_flag("depression", row.get("depression")),
        prior_lumbar_surgery=_flag("prior_lumbar_surgery", row.get("prior_lumbar_surgery")),
        treated_joints=entries.number("treated_joints", row.get("treated_joints"), 1, 20, int),
        opioid_use=_flag("opioid_use", row.get("opioid_use")),
        regrowth_distance_mm=entries.number("regrowth_distance_mm", row.get("regrowth_distance_mm"), 0, 1000),
    )


def _flag(field: str, value: str | None) -> bool | None:
    return None if value in ("", None) else entries.flag(field, value)
