"""``cryoplan sweep STUDY.toml --out RESULTS.parquet`` runs a study; ``cryoplan sweep report
RESULTS.parquet -o REPORT.html`` summarises one. dask, pyarrow and SALib are imported by the
commands, so ``--help`` answers at once."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from cryoplan.atomic import check_writable
from cryoplan.errors import InputError, exit_on_input_error
from cryoplan.progress import clock
from cryoplan.sweep import cluster

#: Exit code of a study stopped by Ctrl-C (its table holds every sample finished by then).
INTERRUPTED = 130

SCHEDULER = Annotated[str | None, typer.Option(
    "--scheduler", envvar="DASK_SCHEDULER_ADDRESS", show_envvar=True,
    help="run on this dask cluster: tcp://HOST:PORT or a scheduler file (default: a local cluster on "
         "this machine)")]


class _StudyOrCommand(TyperGroup):
    """``sweep STUDY.toml ...`` is ``sweep run STUDY.toml ...``; ``sweep report ...`` stays itself."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


sweep_app = typer.Typer(cls=_StudyOrCommand, no_args_is_help=True, pretty_exceptions_show_locals=False,
                        rich_markup_mode=None,
                        help="Uncertainty, sensitivity and cohort studies: many runs of one procedure or "
                             "plan with inputs varied, on a dask cluster (docs/sweep.md). "
                             "cryoplan sweep STUDY.toml --out RESULTS.parquet runs one.")


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


@sweep_app.command("run")
@exit_on_input_error
def run_study(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY.toml", help="the study file (docs/sweep.md)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the results table to write (Parquet)")],
    scheduler: SCHEDULER = None,
    workers: Annotated[int | None, typer.Option(
        help="worker processes of the local cluster (default: one per core)")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="continue the study in --out: compute only the samples it lacks")] = False,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="with --resume: run the failed samples again too")] = False,
    save_every: Annotated[float, typer.Option(
        help="seconds between saves of the table (it is also saved at the end)")] = 10.0,
    allow_large: Annotated[bool, typer.Option(
        "--allow-large", help="run samples whose estimated size or time exceeds the limits")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="validate every sample, say what would run, run and write nothing")] = False,
) -> None:
    """Run a study: validate every sample, run them on the cluster, save the table as they finish."""
    from cryoplan.sweep import execute  # the command line starts fast: a study's runs pull in the service
    from cryoplan.sweep import study as study_file_  # the same (numba, CoolProp, plotly, matplotlib)

    if retry_failed and not resume:
        raise InputError("--retry-failed", True, "only with --resume")
    if not 0.1 <= save_every <= 86400:
        raise InputError("--save-every", save_every, "0.1 to 86400 seconds")
    prepared = execute.prepare(study_file_.load(study_file), out, resume=resume, retry_failed=retry_failed,
                               allow_large=allow_large)
    err, shown = _console(stderr=True), _console()
    if check or not prepared.todo:
        most = study_file_.MAX_VALIDATED
        valid = ("every one valid" if len(prepared.todo) <= most else
                 f"{most} checked and valid (the extremes of each varied key and evenly spaced "
                 "others; the rest are checked as they run)")
        shown.print(f"{len(prepared.samples)} samples, {valid}; {len(prepared.todo)} to run "
                    f"({clock(prepared.estimate_s)} of computing on one core, estimated)"
                    + ("" if prepared.todo else f": all are in {out} already"), soft_wrap=True)
        return
    from distributed import CancelledError

    study = prepared.study
    start = time.monotonic()
    bar = _bar(err)
    task = None

    def progress(state: execute.State) -> None:
        nonlocal task
        if task is None:
            where = f"on {scheduler}" if scheduler else "on a local cluster"
            method = study.config.sampling.method
            before = f"{state.before} in the table already, " if state.before else ""
            shown.print(f"study of {study.source}: {state.total} samples ({method}); {before}{state.todo} "
                        f"to run ({clock(state.estimate_s)} of computing, estimated); {where} with "
                        f"{state.workers} workers; dashboard {state.dashboard}", soft_wrap=True)
            bar.start()
            task = bar.add_task("samples", total=state.todo, failed=0)
        bar.update(task, completed=state.done, failed=state.failed)

    try:
        with cluster.connect(scheduler, workers) as client:
            state = execute.run(prepared, client, save_every_s=save_every, progress=progress)
    except KeyboardInterrupt:
        bar.stop()
        shown.print(f"interrupted: the samples finished so far are in {out}; --resume continues",
                    soft_wrap=True)
        raise typer.Exit(INTERRUPTED) from None
    except (CancelledError, OSError) as error:
        bar.stop()
        shown.print(f"error: the cluster stopped the study ({type(error).__name__}: {error}); the samples "
                    f"finished so far are in {out}; --resume continues", soft_wrap=True)
        raise typer.Exit(1) from None
    bar.stop()
    took = clock(time.monotonic() - start)
    shown.print(f"{state.done} samples run in {took}: {state.done - state.failed} ok, {state.failed} failed "
                f"(see the error column); {state.before + state.done} of {state.total} in {out}",
                soft_wrap=True)
    if state.todo and state.failed == state.todo:
        raise typer.Exit(1)


def _bar(console):
    from rich import progress as p

    columns = (p.TextColumn("{task.description}"), p.BarColumn(bar_width=24), p.MofNCompleteColumn(),
               p.TextColumn("failed {task.fields[failed]}"), p.TimeElapsedColumn(), p.TimeRemainingColumn())
    return p.Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


@sweep_app.command("report")
@exit_on_input_error
def report(
    results: Annotated[Path, typer.Argument(metavar="RESULTS.parquet", help="a table of cryoplan sweep")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="the HTML report to write")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="the summary as JSON ('-' for stdout)")] = None,
) -> None:
    """Summarise a study's table: percentiles of every output, Sobol' indices where the sampling
    allows them, rank correlations, scatter plots of the strongest inputs."""
    if out is None and json_out is None:
        raise InputError("-o", None, "an HTML file to write (-o REPORT.html), or --json OUT.json, or both")
    piped = json_out is not None and str(json_out) == "-"
    json_file = None if piped else json_out
    for option, path in (("-o", out), ("--json", json_file)):
        if path is not None:
            check_writable(option, path)
    from cryoplan.sweep.study_report import write  # the command line starts fast: plotly, the service

    data = write(results, out, json_file)
    if piped:
        sys.stdout.write(json.dumps(data, indent=1, allow_nan=False) + "\n")
        return
    s = data["samples"]
    shown = _console()
    shown.print(f"{s['ok']} of {s['runs']} samples ran ({s['failed']} failed, {s['missing']} missing)")
    for path in (out, json_file):
        if path is not None:
            shown.print(f"wrote {path}")
