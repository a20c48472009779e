"""``cryoplan registry ...``: record procedures and follow-ups, draw Kaplan-Meier curves, refit
the relief model, import and export CSV. The database is ``--db URL``, else $CRYOPLAN_REGISTRY,
else ./cryoplan-registry.db (SQLite)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from cryoplan.atomic import check_writable, write_json
from cryoplan.errors import InputError, exit_on_input_error, masked
from cryoplan.report.reading import load_result, reading_result
from cryoplan.store.entries import from_result

registry_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                           help="The outcome registry (SQLite or PostgreSQL).")
out = Console(markup=False, emoji=False, highlight=False)
DB = Annotated[str | None, typer.Option("--db", help="database URL (default: $CRYOPLAN_REGISTRY or "
                                                     "sqlite:///cryoplan-registry.db)")]


def _open(db: str | None, create: bool = True):
    """The registry; ``create=False`` (a command that only reads or adds to records) refuses a
    SQLite file that is not there rather than making an empty one where the user stands."""
    from cryoplan.store.registry import Registry, registry_url, sqlite_file  # SQLAlchemy: when a command runs

    url = registry_url(db)
    if not create and url.startswith("sqlite:///") and ":memory:" not in url and sqlite_file(url) is None:
        raise InputError("--db", masked(url), "an existing registry: there is none yet "
                         "(`cryoplan registry init` or `registry add` makes one)")
    return Registry(url)


@registry_app.command()
@exit_on_input_error
def init(db: DB = None) -> None:
    """Create the registry (or bring its schema up to date)."""
    reg = _open(db)
    out.print(f"registry at {masked(reg.url)}, schema revision {reg.revision()}")


@registry_app.command()
@exit_on_input_error
def add(
    result_json: Annotated[Path, typer.Argument(help="JSON of cryoplan simulate or cryoplan plan")],
    pseudonym: Annotated[str, typer.Option(help="patient pseudonym (no names, no dates of birth)")],
    treated_on: Annotated[str, typer.Option(help="date of the procedure, YYYY-MM-DD")],
    levels: Annotated[str, typer.Option(help="levels treated, e.g. L3,L4,L5")],
    nerves: Annotated[int | None, typer.Option(help="nerves treated (default: one per level)")] = None,
    db: DB = None,
) -> None:
    """Record a procedure from its simulation or plan result."""
    with reading_result(result_json):
        entry = from_result(load_result(result_json), pseudonym, treated_on, levels, nerves)
    pid = _open(db).add_procedure(entry)
    out.print(f"procedure {pid}: {entry.pseudonym}, {entry.levels}, {entry.protocol}")


@registry_app.command("follow-up")
@exit_on_input_error
def follow_up(
    procedure: Annotated[int, typer.Argument(help="procedure id")],
    seen_on: Annotated[str, typer.Option(help="date of the follow-up, YYYY-MM-DD")],
    pain: Annotated[int, typer.Option(help="pain score 0-10")],
    returned: Annotated[bool, typer.Option("--returned/--still-relieved",
                                           help="has the treated pain come back?")],
    db: DB = None,
) -> None:
    """Record a follow-up of a procedure."""
    fid = _open(db, create=False).add_follow_up(procedure, seen_on, pain, returned)
    out.print(f"follow-up {fid} of procedure {procedure}")


@registry_app.command("list")
@exit_on_input_error
def list_(db: DB = None) -> None:
    """The recorded procedures and their follow-ups."""
    # An 80-column terminal: the protocol wraps, long values fold; nothing is cut off with "…".
    table = Table(title="Procedures", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    widths = {"pseudonym": 7, "treated": 10, "pain back": 10}
    for col in ("id", "pseudonym", "treated", "levels", "protocol", "probe", "visits", "pain back"):
        table.add_column(col, overflow="fold", min_width=widths.get(col))
    for p in _open(db, create=False).procedures():
        back = next((f.seen_on.isoformat() for f in p.follow_ups if f.pain_returned), "no")
        table.add_row(str(p.id), p.pseudonym, p.treated_on.isoformat(), p.levels, p.protocol, p.probe,
                      str(len(p.follow_ups)), back)
    out.print(table)


@registry_app.command()
@exit_on_input_error
def km(
    png: Annotated[Path | None, typer.Option(help="write the curves here (PNG)")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="write the curves as JSON ('-': stdout)")] = None,
    db: DB = None,
) -> None:
    """Kaplan-Meier curves of relief duration by protocol."""
    from cryoplan.store.survival import curves_json, kaplan_meier, km_png  # lifelines, SQLAlchemy

    curves = kaplan_meier(_open(db, create=False).durations())
    if json_out is not None and str(json_out) == "-":
        sys.stdout.write(json.dumps(curves_json(curves), indent=1) + "\n")
        return
    if json_out is not None:
        write_json(json_out, {"curves": curves_json(curves)})
    if png is not None:
        km_png(curves, png)
    table = Table(title="Relief by protocol (Kaplan-Meier)")
    for col in ("protocol", "patients", "pain returned", "median months"):
        table.add_column(col)
    for c in curves:
        table.add_row(c.protocol, str(c.patients), str(c.events),
                      "not reached" if c.median_months is None else f"{c.median_months:.1f}")
    out.print(table)


@registry_app.command()
@exit_on_input_error
def refit(
    min_records: Annotated[int, typer.Option(help="refuse to fit fewer outcomes")] = 10,
    db: DB = None,
) -> None:
    """Refit the relief model to the recorded outcomes and store it; a procedure or plan file
    with [outcome] registry = "URL" then predicts with it."""
    from cryoplan.store.survival import refit_from_registry  # lifelines, pandas, SQLAlchemy

    m = refit_from_registry(_open(db, create=False), min_records)
    effects = ", ".join(f"{e.name} x{e.time_ratio:.2f} (se {e.se:.2f})" for e in m.effects)
    out.print(f"refit stored ({m.origin}): median relief of the reference patient "
              f"{m.distribution().median:.1f} months, sigma {m.sigma:.2f}; patient factors: {effects}")


@registry_app.command("import")
@exit_on_input_error
def import_(
    csv_file: Annotated[Path, typer.Argument(help="CSV as written by export")], db: DB = None,
    allow_duplicates: Annotated[bool, typer.Option(
        "--allow-duplicates", help="import procedures already recorded (same pseudonym, date, levels and "
                                   "protocol) again")] = False,
) -> None:
    """Add the procedures and follow-ups of a CSV file, all or nothing; a procedure already
    recorded is refused (importing a file twice would count its patients twice)."""
    def announce(procs: int, follows: int) -> None:
        sys.stderr.write(f"importing {procs} procedures and {follows} follow-ups\n")
        sys.stderr.flush()

    procs, follows = _open(db).import_csv(csv_file, announce, allow_duplicates)
    out.print(f"imported {procs} procedures and {follows} follow-ups")


@registry_app.command("export")
@exit_on_input_error
def export_(csv_file: Annotated[Path, typer.Argument(help="CSV to write")], db: DB = None) -> None:
    """Write every procedure and follow-up to a CSV file (one row per follow-up)."""
    check_writable("CSV_FILE", csv_file)  # a folder or a device is named before the database is read
    rows = _open(db, create=False).export_csv(csv_file)
    out.print(f"wrote {rows} rows to {csv_file}")
