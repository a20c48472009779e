"""The outcome registry against SQLite and a real PostgreSQL server: records, follow-ups,
Kaplan-Meier, the refit that later predictions use, CSV round trip, all-or-nothing writes
(a writer killed mid-import), concurrent writers, and bad input.

PostgreSQL: set CRYOPLAN_TEST_POSTGRES_URL to a server where the user may create databases
(.ci/run starts one); without it the PostgreSQL cases are skipped, unless
CRYOPLAN_REQUIRE_POSTGRES=1 (CI), where they fail.
"""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan.cli import app
from cryoplan.config import OutcomeConfig
from cryoplan.errors import InputError
from cryoplan.outcome.relief import default_model
from cryoplan.resolve import relief_model
from cryoplan.store.entries import ProcedureEntry, from_result
from cryoplan.store.registry import Registry, head_revision
from cryoplan.store.survival import kaplan_meier, km_png, model_from_registry, refit_from_registry

runner = CliRunner()
PG_URL = os.environ.get("CRYOPLAN_TEST_POSTGRES_URL")
CLI = [sys.executable, "-c", "from cryoplan.cli import app; app()"]


def _pg_database():
    import psycopg

    name = f"cryoplan_test_{uuid.uuid4().hex[:10]}"
    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + "/" + name, admin, name


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    if not PG_URL:
        if os.environ.get("CRYOPLAN_REQUIRE_POSTGRES") == "1":
            pytest.fail("CRYOPLAN_REQUIRE_POSTGRES=1 but CRYOPLAN_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server (set CRYOPLAN_TEST_POSTGRES_URL)")
    import psycopg

    db_url, admin, name = _pg_database()
    yield db_url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def entry(who="pt-0001", treated="2025-01-10", protocol="2 x 120 s, 30 s thaw", blocked=5.0, nerves=2):
    return ProcedureEntry(who, dt.date.fromisoformat(treated), "simulation", "n2o-2.0mm", "n2o", protocol,
                          240.0, "L4,L5", nerves, blocked_length_mm=blocked)


def simulation_json(blocked=True):
    return {"kind": "simulation", "iceball": {}, "probe": {"catalog": "n2o-2.0mm", "diameter_mm": 2.0,
                                                           "boundary": "cryogen"},
            "cryogen": {"gas": "n2o"},
            "protocol": [{"kind": "freeze", "seconds": 120}, {"kind": "passive-thaw", "seconds": 30},
                         {"kind": "freeze", "seconds": 120}],
            "nerves": [{"blocked": blocked, "blocked_length_mm": 5.2 if blocked else 0.0}],
            "outcome": {"relief_months": {"median": 12.5} if blocked else None}}


def test_a_fresh_registry_is_at_the_newest_migration(url):
    reg = Registry(url)
    assert reg.revision() == head_revision() == "0002"
    assert Registry(url).counts() == (0, 0)  # reopening migrates nothing and loses nothing


def test_procedures_follow_ups_and_relief_durations(url):
    reg = Registry(url)
    e = from_result(simulation_json(), "pt-0007", "2025-02-01", "l4, L5")
    assert (e.protocol, e.total_freeze_s, e.levels, e.nerves_treated) == ("2 x 120 s, 30 s thaw", 240.0,
                                                                         "L4,L5", 2)
    pid = reg.add_procedure(e)
    reg.add_follow_up(pid, "2025-05-01", 1, False)
    reg.add_follow_up(pid, "2025-11-01", 7, "yes")
    reg.add_follow_up(pid, "2026-02-01", 8, True)  # after the return: ignored for the duration
    other = reg.add_procedure(entry("pt-0008"))
    reg.add_follow_up(other, "2025-04-10", 0, False)
    at_once = reg.add_procedure(entry("pt-0009"))
    reg.add_follow_up(at_once, "2025-02-10", 6, True)
    d = {x.procedure_id: x for x in reg.durations()}
    # the pain came back between the visit of 2025-05-01 (89 days) and that of 2025-11-01 (273 days)
    assert d[pid].event and d[pid].months == pytest.approx(273 / (365.25 / 12))
    assert d[pid].relieved_until_months == pytest.approx(89 / (365.25 / 12))
    assert not d[other].event and d[other].months == pytest.approx(90 / (365.25 / 12))
    assert d[other].relieved_until_months is None
    assert d[at_once].event and d[at_once].relieved_until_months == 0.0  # back at the first visit
    records = {r.months: r for r in reg.outcome_records()}
    assert records[d[pid].months].relieved_until_months == d[pid].relieved_until_months
    stored = reg.procedures()[0]
    assert json.loads(stored.result_json)["kind"] == "simulation" and stored.predicted_median_months == 12.5


def test_kaplan_meier_by_hand(url):
    """Durations 3, 5+, 7, 9, 11+ months: S = 0.8 after 3, x 2/3 after 7, x 1/2 after 9; median 9."""
    reg = Registry(url)
    start = dt.date(2024, 1, 1)
    for months, back in ((3, True), (5, False), (7, True), (9, True), (11, False)):
        pid = reg.add_procedure(entry(f"pt-{months:04d}", start.isoformat()))
        seen = start + dt.timedelta(days=round(months * 365.25 / 12))
        reg.add_follow_up(pid, seen.isoformat(), 6 if back else 1, back)
    reg.add_procedure(entry("pt-0099", protocol="1 x 90 s"))  # no follow-up: not in the curves
    (c,) = kaplan_meier(reg.durations())
    assert (c.patients, c.events) == (5, 3)
    s = dict(zip(np.round(c.months, 1), c.still_relieved, strict=True))
    assert s[3.0] == pytest.approx(0.8) and s[7.0] == pytest.approx(0.8 * 2 / 3)
    assert s[9.0] == pytest.approx(0.8 * 2 / 3 / 2) and c.median_months == pytest.approx(9.0, abs=0.05)
    assert km_png([c])[:4] == b"\x89PNG"


def test_refit_is_stored_and_used_by_later_predictions(url):
    """Outcomes drawn from a model with twice the prior's median excess: the refit finds it
    and a prediction that names the registry uses it."""
    prior = default_model()
    rng = np.random.default_rng(3)
    reg = Registry(url)
    start = dt.date(2023, 1, 1)
    true_median = 2 * prior.median_excess_months
    for k in range(60):
        months = prior.floor_months() + true_median * np.exp(prior.sigma * rng.standard_normal())
        months = min(months, 34.0)  # followed for at most 34 months: censored beyond
        pid = reg.add_procedure(entry(f"pt-{k:04d}", start.isoformat(), blocked=6.0, nerves=2))
        seen = start + dt.timedelta(days=round(months * 365.25 / 12))
        # seen still relieved a week before: the pain came back within that week
        reg.add_follow_up(pid, (seen - dt.timedelta(days=7)).isoformat(), 1, False)
        reg.add_follow_up(pid, seen.isoformat(), 5, months < 34.0)
    with pytest.raises(InputError, match="outcome.registry"):
        model_from_registry(url)  # nothing fitted yet
    fitted = refit_from_registry(reg)
    assert fitted.median_excess_months == pytest.approx(true_median, rel=0.25)
    used = relief_model(OutcomeConfig(registry=url), model_from_registry(url))
    assert used == fitted == reg.latest_fit()
    assert used.distribution().median > prior.distribution().median + 3


def test_patient_factors_are_recorded_and_refit(url):
    """Depressed patients relieved a third as long: the refit finds the effect from the registry."""
    prior = default_model()
    rng = np.random.default_rng(4)
    reg = Registry(url)
    start = dt.date(2022, 1, 1)
    for k in range(120):
        sad = k % 2 == 0
        median = prior.median_excess_months * (1 / 3 if sad else 1)
        months = min(prior.floor_months() + median * np.exp(0.4 * rng.standard_normal()), 40.0)
        pid = reg.add_procedure(replace(entry(f"pt-{k:04d}", start.isoformat(), blocked=6.0),
                                        depression=sad, treated_joints=1))
        seen = start + dt.timedelta(days=round(months * 365.25 / 12))
        reg.add_follow_up(pid, (seen - dt.timedelta(days=7)).isoformat(), 1, False)  # relieved a week before
        reg.add_follow_up(pid, seen.isoformat(), 5, months < 40.0)
    fitted = refit_from_registry(reg)
    depression = fitted.effects[0]
    assert depression.name == "depression"
    assert depression.time_ratio == pytest.approx(1 / 3, rel=0.2) and depression.se < 0.15
    assert reg.latest_fit().effects == fitted.effects


def test_a_fit_stored_before_patient_factors_stays_readable(tmp_path):
    """A registry at migration 0001 with a fit of the first model (length and nerve exponents)
    upgrades to the newest schema and reads as the prior's factors with its median and sigma."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from cryoplan.store.registry import _alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text(
            "INSERT INTO model_fits (records, median_ref_months, sigma, length_exponent, "
            "nerves_exponent, reference_length_m, reference_nerves, floor_months) "
            "VALUES (40, 20.0, 0.6, 0.5, 0.25, 0.006, 2, 1.1)"))
        conn.execute(text(
            "INSERT INTO procedures (pseudonym, treated_on, kind, probe, gas, protocol, total_freeze_s, "
            "levels, nerves_treated, blocked_length_mm) VALUES ('pt-0001', '2025-01-01', 'simulation', "
            "'n2o-2.0mm', "
            "'n2o', '2 x 120 s', 240.0, 'L4', 2, 5.0)"))
    engine.dispose()
    reg = Registry(url)
    assert reg.revision() == head_revision()
    old = reg.latest_fit()
    assert old.median_excess_months == 20.0 and old.sigma == 0.6 and "before patient factors" in old.origin
    assert old.effects == default_model().effects
    (p,) = reg.procedures()
    assert p.depression is None and p.blocked_length_mm == 5.0


def test_csv_round_trip_and_bad_rows_change_nothing(url, tmp_path):
    reg = Registry(url)
    a = reg.add_procedure(entry("pt-0001"))
    reg.add_follow_up(a, "2025-03-01", 2, False)
    reg.add_follow_up(a, "2025-09-01", 6, True)
    reg.add_procedure(entry("pt-0002", protocol="1 x 180 s", blocked=None))
    assert reg.export_csv(tmp_path / "out.csv") == 3
    copy = Registry(f"sqlite:///{tmp_path / 'copy.db'}")
    assert copy.import_csv(tmp_path / "out.csv") == (2, 2)
    copy.export_csv(tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text() == (tmp_path / "out.csv").read_text()
    lines = (tmp_path / "out.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",6,yes", ",16,yes")
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="CSV line 3: pain_score"):
        reg.import_csv(tmp_path / "bad.csv")
    assert reg.counts() == (2, 2)


def test_bad_input_is_refused(url):
    reg = Registry(url)
    pid = reg.add_procedure(entry())
    for args, field in (((pid, "2024-12-31", 2, False), "seen_on"),  # before the procedure
                        ((pid, "2999-01-01", 2, False), "seen_on"),  # in the future
                        ((pid, "2025-13-01", 2, False), "seen_on"),
                        ((pid, "2025-03-01", -1, False), "pain_score"),
                        ((pid, "2025-03-01", 3, "maybe"), "pain_returned"),
                        ((pid + 100, "2025-03-01", 3, True), "procedure")):
        with pytest.raises(InputError, match=field):
            reg.add_follow_up(*args)
    for who in ("Jane Doe", "19650412", "pt-1965-04-12", "abc", "janedoe"):
        with pytest.raises(InputError, match="pseudonym"):
            from_result(simulation_json(), who, "2025-01-01", "L4")
    with pytest.raises(InputError, match="levels"):
        from_result(simulation_json(), "pt-0001", "2025-01-01", "lumbar")
    assert reg.counts() == (1, 0)


def _write_big_csv(path: Path, n: int) -> None:
    rows = ["procedure_ref,pseudonym,treated_on,kind,probe,gas,protocol,total_freeze_s,levels,nerves_treated,"
            "blocked_length_mm,predicted_median_months,seen_on,pain_score,pain_returned"]
    rows += [f"{k},pt-{k:05d},2025-01-01,simulation,n2o-2.0mm,n2o,1 x 120 s,120,L4,1,5.0,,2025-06-01,3,no"
             for k in range(n)]
    path.write_text("\n".join(rows) + "\n")


def test_a_writer_killed_mid_import_leaves_the_registry_as_it_was(url, tmp_path):
    """SIGKILL a `cryoplan registry import` of 30000 procedures once it has begun writing:
    the registry holds what it held before, never part of the import."""
    reg = Registry(url)
    reg.add_procedure(entry())
    big = tmp_path / "big.csv"
    _write_big_csv(big, 30_000)
    proc = subprocess.Popen([*CLI, "registry", "import", str(big), "--db", url], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    line = proc.stderr.readline()  # printed just before the write transaction begins
    assert line.startswith("importing 30000 procedures"), line
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL, "the import finished before it could be killed"
    assert Registry(url).counts() == (1, 0)
    # and the registry still takes writes (no lock left behind)
    Registry(url).add_follow_up(1, "2025-02-01", 1, False)
    assert Registry(url).counts() == (1, 1)


WRITER = """
import sys
from cryoplan.store.registry import Registry
reg = Registry(sys.argv[1])
for k in range(int(sys.argv[2])):
    reg.add_follow_up(1, "2025-02-01", k % 11, False)
"""


def test_concurrent_writers_lose_no_updates(url):
    Registry(url).add_procedure(entry())
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, "40"]) for _ in range(4)]
    assert [w.wait(120) for w in writers] == [0, 0, 0, 0]
    assert Registry(url).counts() == (1, 160)


HEADER = ("procedure_ref,pseudonym,treated_on,kind,probe,gas,protocol,total_freeze_s,levels,nerves_treated,"
          "blocked_length_mm,predicted_median_months,seen_on,pain_score,pain_returned")
ROW = "1,pt-0001,2025-01-01,simulation,n2o-2.0mm,n2o,1 x 120 s,120,L4,1,5.0,12.0,2025-06-01,3,no"


@pytest.mark.parametrize("change, field", [
    (("5.0", "inf"), "blocked_length_mm"),
    (("5.0", "nan"), "blocked_length_mm"),
    (("5.0", "-2"), "blocked_length_mm"),
    (("12.0", "-3"), "predicted_median_months"),
    (("12.0", "1e400"), "predicted_median_months"),
    ((",120,", ",inf,"), "total_freeze_s"),
    ((",L4,1,", ",L4,1.5,"), "nerves_treated"),
    (("n2o-2.0mm", "p" * 65), "probe"),
    ((",n2o,1 x", "," + "g" * 17 + ",1 x"), "gas"),
    (("1 x 120 s", "1 x 120\x00 s"), "protocol"),
    (("pt-0001", "smith-03121958"), "pseudonym"),
    (("pt-0001", "DOB-12-03-1958"), "pseudonym"),
    ((",3,no", ",3,no,extra"), "columns"),
])
def test_an_import_checks_every_field(tmp_path, change, field):
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    (tmp_path / "bad.csv").write_text(HEADER + "\n" + ROW.replace(*change) + "\n")
    with pytest.raises(InputError, match=f"CSV line 2: {field}"):
        reg.import_csv(tmp_path / "bad.csv")
    assert reg.counts() == (0, 0)


def test_rows_that_share_a_reference_but_differ_are_refused(tmp_path):
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    second = ROW.replace("pt-0001", "pt-0002").replace("2025-06-01", "2025-07-01")
    (tmp_path / "dup.csv").write_text("\n".join([HEADER, ROW, second]) + "\n")
    with pytest.raises(InputError, match="lines 2 and 3 share it but differ in pseudonym"):
        reg.import_csv(tmp_path / "dup.csv")
    again = ROW.replace("2025-06-01,3,no", "2025-09-01,7,yes")  # the same procedure, a later visit
    (tmp_path / "ok.csv").write_text("\n".join([HEADER, ROW, again]) + "\n")
    assert reg.import_csv(tmp_path / "ok.csv") == (1, 2)


def test_a_file_that_is_not_a_registry_csv_is_not_repeated(tmp_path):
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$saltsalt$hashedsecret:19000:0:99999:7:::\n")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 50)
    nul = tmp_path / "nul.csv"
    nul.write_text(HEADER + "\n" + ROW.replace("pt-0001", "pt-00\x0001") + "\n")
    for path in (secret, binary, nul):
        with pytest.raises(InputError) as err:
            reg.import_csv(path)
        assert "hashedsecret" not in str(err.value) and "root:" not in str(err.value)
        assert "\n" not in str(err.value)
    res = runner.invoke(app, ["registry", "import", str(secret), "--db", f"sqlite:///{tmp_path / 'r.db'}"])
    assert res.exit_code == 2 and "hashedsecret" not in res.output


def test_a_refit_never_sees_an_infinity(tmp_path):
    """A value stored before imports were checked (written here past the checks) stops the refit
    with a message naming the record."""
    from sqlalchemy import update

    from cryoplan.store.models import Procedure

    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    pid = reg.add_procedure(entry())
    reg.add_follow_up(pid, "2025-06-01", 6, True)
    with reg.engine.begin() as conn:
        conn.execute(update(Procedure).values(blocked_length_mm=float("inf")))
    with pytest.raises(InputError, match=f"procedure {pid}: blocked_length_mm"):
        refit_from_registry(reg, min_records=1)


def test_passwords_are_masked_and_foreign_databases_untouched(tmp_path):
    import sqlite3

    url = "postgresql://admin:hunter2secret@127.0.0.1:1/registry"
    with pytest.raises(InputError) as err:
        Registry(url)
    assert "hunter2secret" not in str(err.value) and "admin:***@" in str(err.value)
    res = runner.invoke(app, ["registry", "list", "--db", url])
    assert res.exit_code == 2 and "hunter2secret" not in res.output
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (x TEXT)")
    before = foreign.read_bytes()
    with pytest.raises(InputError, match="not changed"):
        Registry(f"sqlite:///{foreign}")
    assert foreign.read_bytes() == before and not Path(f"{foreign}-wal").exists()
