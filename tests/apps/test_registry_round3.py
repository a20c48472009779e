"""The registry under load and misuse: a writer holding the database makes the web planner
answer 503 with Retry-After (not a 60 s hang and a 500), the list comes a page at a time, the same
CSV imported twice is refused (it would count every patient twice), and a plan whose gas comes
from its catalog probe records that gas."""

import datetime as dt
import sqlite3

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cryoplan.cli import app
from cryoplan.errors import Busy
from cryoplan.store.entries import ProcedureEntry, from_result
from cryoplan.store.registry import Registry
from cryoplan.web.app import RETRY_AFTER_S, create_app

runner = CliRunner()


def _entry(who: str, day: str = "2025-01-10") -> ProcedureEntry:
    return ProcedureEntry(who, dt.date.fromisoformat(day), "simulation", "n2o-2.0mm", "n2o", "1 x 120 s",
                          120.0, "L4", 1, blocked_length_mm=5.0)


def test_a_held_database_is_busy_not_an_error(tmp_path):
    path = tmp_path / "r.db"
    reg = Registry(f"sqlite:///{path}", busy_timeout_s=0.2)
    pid = reg.add_procedure(_entry("pt-0001"))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process importing: the write lock is taken
    try:
        with pytest.raises(Busy, match="busy"):
            reg.add_follow_up(pid, "2025-03-01", 2, False)
        with TestClient(create_app(tmp_path / "data", workers=0, registry_url=f"sqlite:///{path}")) as c:
            res = c.post(f"/api/registry/procedures/{pid}/follow-ups",
                         json={"seen_on": "2025-03-01", "pain_score": 2, "pain_returned": False})
            assert res.status_code == 503 and res.headers["Retry-After"] == str(RETRY_AFTER_S)
            assert "busy" in res.json()["detail"] and "try again" in res.json()["detail"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert reg.add_follow_up(pid, "2025-03-01", 2, False) > 0  # free again: the same call goes through


def test_the_list_of_procedures_comes_a_page_at_a_time(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    reg = Registry(url)
    ids = [reg.add_procedure(_entry(f"pt-{k:04d}")) for k in range(1, 8)]
    with TestClient(create_app(tmp_path / "data", workers=0, registry_url=url)) as c:
        res = c.get("/api/registry/procedures", params={"offset": 2, "limit": 3})
        assert res.status_code == 200 and res.headers["X-Total-Count"] == "7"
        assert [p["id"] for p in res.json()] == ids[2:5]
        assert len(c.get("/api/registry/procedures").json()) == 7  # a page of 100 by default
        for bad in ({"limit": 0}, {"limit": 100_000}, {"offset": -1}):
            assert c.get("/api/registry/procedures", params=bad).status_code == 422


def test_the_same_csv_imported_twice_is_refused_naming_the_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    reg = Registry(url)
    reg.add_procedure(_entry("pt-0001"))
    reg.add_procedure(_entry("pt-0002"))
    csv_file = tmp_path / "all.csv"
    assert runner.invoke(app, ["registry", "export", str(csv_file), "--db", url]).exit_code == 0
    res = runner.invoke(app, ["registry", "import", str(csv_file), "--db", url])
    assert res.exit_code == 2 and "2 duplicate procedure(s)" in res.output and "pt-0001" in res.output
    assert reg.counts() == (2, 0)  # nothing written
    res = runner.invoke(app, ["registry", "import", str(csv_file), "--db", url, "--allow-duplicates"])
    assert res.exit_code == 0 and reg.counts() == (4, 0)


def test_a_file_that_lists_one_procedure_twice_is_refused(tmp_path):
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    reg.add_procedure(_entry("pt-0001"))
    reg.export_csv(tmp_path / "one.csv")
    lines = (tmp_path / "one.csv").read_text().splitlines()
    (tmp_path / "twice.csv").write_text("\n".join([lines[0], lines[1], "2" + lines[1][1:]]) + "\n")
    fresh = Registry(f"sqlite:///{tmp_path / 'fresh.db'}")
    with pytest.raises(Exception, match="procedure_ref 2 .*procedure_ref 1 of the file"):
        fresh.import_csv(tmp_path / "twice.csv")
    assert fresh.counts() == (0, 0)


def test_a_plan_records_the_gas_of_its_catalog_probe():
    plan = {"kind": "plan", "status": "plan", "why": "", "anatomy": "L4",
            "inputs": {"probe": {"catalog": "n2o-2.0mm"}, "cryogen": {"gas": None}},
            "session": {"gas": "n2o"},
            "plan": {"protocol": [{"kind": "freeze", "seconds": 90}]},
            "targets": [{"blocked": True, "blocked_length_mm": 4.0}]}
    assert from_result(plan, "pt-0003", "2025-01-01", "L4").gas == "n2o"


@pytest.mark.parametrize("command", [["list"], ["km"], ["refit"], ["export", "out.csv"],
                                     ["follow-up", "1", "--seen-on", "2026-01-01", "--pain", "2",
                                      "--still-relieved"]])
def test_reading_a_registry_that_is_not_there_makes_none(tmp_path, monkeypatch, command):
    """Without --db, a command that reads records names the missing default registry in one line
    (exit 2) instead of creating an empty database in the current folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRYOPLAN_REGISTRY", raising=False)
    result = CliRunner().invoke(app, ["registry", *command])
    assert result.exit_code == 2 and "an existing registry" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["list"], ["init"]])
def test_a_registry_path_too_long_for_the_file_system_is_one_line(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["registry", *command, "--db", "sqlite:///" + "a" * 300 + ".db"])
    assert result.exit_code == 2 and "a path that can be looked up" in result.output
    assert result.output.strip().count("\n") == 0
