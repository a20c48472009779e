"""The registry's commands (``cryoplan registry ...``): init, add a simulation's result, a
follow-up, list, Kaplan-Meier, export, refit, and their refusals (one line, exit 2). The
registry's storage is tested in tests/case/test_registry.py."""

import json

import pytest
from typer.testing import CliRunner

from cryoplan.cli import app
from tests.case.test_registry import simulation_json

runner = CliRunner()


def test_registry_command_line(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    result = tmp_path / "result.json"
    result.write_text(json.dumps(simulation_json()))
    steps = [
        ["registry", "init", "--db", db],
        ["registry", "add", str(result), "--pseudonym", "pt-0001", "--treated-on", "2025-01-02",
         "--levels", "L4", "--db", db],
        ["registry", "follow-up", "1", "--seen-on", "2025-07-02", "--pain", "6", "--returned", "--db", db],
        ["registry", "list", "--db", db],
        ["registry", "km", "--png", str(tmp_path / "km.png"), "--json", str(tmp_path / "km.json"),
         "--db", db],
        ["registry", "export", str(tmp_path / "r.csv"), "--db", db],
    ]
    for args in steps:
        res = runner.invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
    listed = runner.invoke(app, ["registry", "list", "--db", db], env={"COLUMNS": "80"}).output
    assert "2025-01-02" in listed and "2025-07-02" in listed and "…" not in listed  # nothing cut off
    assert max(len(line) for line in listed.splitlines()) <= 80
    curves = json.loads((tmp_path / "km.json").read_text())["curves"]
    assert curves[0]["events"] == 1 and curves[0]["median_months"] == pytest.approx(5.95, abs=0.05)
    assert (tmp_path / "km.png").stat().st_size > 5000
    res = runner.invoke(app, ["registry", "refit", "--db", db])
    assert res.exit_code == 2 and "at least 10" in res.output
    res = runner.invoke(app, ["registry", "add", str(result), "--pseudonym", "Jane Doe", "--treated-on",
                              "2025-01-02", "--levels", "L4", "--db", db])
    assert res.exit_code == 2 and "pseudonym" in res.output
    result.write_text('{"kind": "simulation", "iceball": 1, "probe": 1, "protocol": 1}')
    res = runner.invoke(app, ["registry", "add", str(result), "--pseudonym", "pt-0002", "--treated-on",
                              "2025-01-02", "--levels", "L4", "--db", db])
    assert res.exit_code == 2 and "RESULT.json" in res.output and res.exception.__class__ is SystemExit
    res = runner.invoke(app, ["registry", "list", "--db", "mysql+nodriver://x"])
    assert res.exit_code == 2 and "registry URL" in res.output


def test_the_database_is_db_else_the_environment_s_else_the_current_folder_s(tmp_path, monkeypatch):
    from cryoplan.registry_commands import registry_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRYOPLAN_REGISTRY", f"sqlite:///{tmp_path / 'env.db'}")
    assert runner.invoke(registry_app, ["init", "--db", f"sqlite:///{tmp_path / 'given.db'}"]).exit_code == 0
    assert runner.invoke(registry_app, ["init"]).exit_code == 0
    monkeypatch.delenv("CRYOPLAN_REGISTRY")
    assert runner.invoke(registry_app, ["export", "r.csv"]).exit_code == 2  # reading makes no database
    assert runner.invoke(registry_app, ["init"]).exit_code == 0
    res = runner.invoke(registry_app, ["export", "r.csv"])
    assert res.exit_code == 0 and "wrote 0 rows" in res.output
    made = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".db", ".csv"))
    assert made == ["cryoplan-registry.db", "env.db", "given.db", "r.csv"]
    assert (tmp_path / "r.csv").read_text().startswith("procedure_ref,pseudonym,")
