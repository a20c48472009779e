"""The third round of hostile inputs (each once a traceback, a MemoryError or a 500): now one
line naming the field, exit 2 on the command line, 422 from the web planner."""

import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cryoplan import service
from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.web.app import create_app

runner = CliRunner()
BASE = '[probe]\ncatalog = "n2o-2.0mm"\n[protocol]\nphases = [{kind = "freeze", seconds = 20}]\n'
NERVE = '[[nerve]]\nname = "n"\ndistance_mm = 2.0\norientation = "perpendicular"\ndiameter_mm = '
CASES = {
    "a nerve a trillionth of a millimetre wide (291 TiB of samples)": (
        BASE + NERVE + "1e-12\n", "nerve[0].diameter_mm"),
    "a needle direction that overflows when made a unit vector": (
        '[[probe]]\ncatalog = "n2o-2.0mm"\ntip_mm = [0, 0, 0]\ndirection = [1e-200, 0, 1e-200]\n'
        '[grid]\ngeometry = "3d"\n[protocol]\nphases = [{kind = "freeze", seconds = 20}]\n',
        "probe[0].direction"),
    "an integer of 5000 digits": (BASE.replace("seconds = 20", "seconds = " + "2" * 5000), "FILE"),
}


@pytest.mark.parametrize("name", CASES)
def test_one_line_exit_2_on_the_command_line(tmp_path, name):
    text, field = CASES[name]
    (tmp_path / "in.toml").write_text(text)
    res = runner.invoke(app, ["simulate", str(tmp_path / "in.toml"), "--json", str(tmp_path / "out.json")])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert "\n" not in line and line.startswith(f"error: {field} = "), line
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("name", CASES)
def test_one_line_422_from_the_web_planner(name):
    text, field = CASES[name]
    with TestClient(create_app(tempfile.mkdtemp(prefix="cryoplan-r3-"), workers=0)) as c:
        res = c.post("/api/runs", json={"procedure_toml": text, "kind": "simulation"})
    assert res.status_code == 422, res.text
    (detail,) = res.json()["detail"]
    assert detail["loc"][-1] in (field, "procedure_toml") and "\n" not in detail["msg"]


UNMODELLED = "n2o, ln2 or argon: not modelled (a stand-in: every schema gas is modelled today)"


def test_the_probe_command_refuses_an_unmodelled_gas_naming_its_option(monkeypatch):
    from cryoplan import rules

    monkeypatch.setitem(rules.UNMODELLED_GASES, "co2", UNMODELLED)
    res = runner.invoke(app, ["probe", "--gas", "co2", "--diameter-mm", "2"])
    assert res.exit_code == 2 and res.output.startswith("error: --gas = 'co2': allowed is n2o, ln2 or argon")


def test_a_catalog_probe_of_an_unmodelled_gas_is_named_by_its_catalog_key(monkeypatch):
    from cryoplan import catalog, config, rules

    monkeypatch.setitem(rules.UNMODELLED_GASES, "co2", UNMODELLED)
    entry = catalog.catalog_probe("n2o-2.0mm")
    monkeypatch.setattr(catalog, "catalog_probe", lambda *a, **k: catalog.CatalogProbe(
        "co2-probe", "", "co2", entry.cannula_gauge, entry.keys, {}))
    cfg = config.parse({"probe": {"catalog": "co2-probe"}, "protocol": {"phases": [
        {"kind": "freeze", "seconds": 20}]}})
    with pytest.raises(InputError, match="probe.catalog = 'co2-probe': allowed is n2o, ln2 or argon"):
        rules.check_procedure(cfg)


@pytest.mark.parametrize("body", [b'{"template": "demo", "title": "\\ud800"}',
                                  b'{"procedure_toml": "\\ud800", "kind": "simulation"}'])
def test_a_lone_surrogate_is_echoed_as_its_escape_not_a_500(body):
    with TestClient(create_app(tempfile.mkdtemp(prefix="cryoplan-r3-"), workers=0)) as c:
        res = c.post("/api/runs", content=body, headers={"content-type": "application/json"})
    assert res.status_code == 422 and "\\ud800" in res.text and res.content.isascii()


def test_a_thin_but_real_nerve_is_still_accepted():
    service.prepare("simulation", service.read_text(
        BASE + NERVE + "0.05\n"))


@pytest.mark.parametrize("name", ["pt-120358", "pt_580312", "pt-58-03-12", "pt-1958-3-12", "pt-12mar1958",
                                  "pt-0042\n", "PT-03.12.58"])
def test_a_date_of_birth_in_any_spelling_is_not_a_pseudonym(name):
    from cryoplan.store.entries import pseudonym

    with pytest.raises(InputError, match="not a date"):
        pseudonym(name)


@pytest.mark.parametrize("name", ["pt-0042", "pt-123456", "study7-0103"])
def test_numbered_pseudonyms_are_kept(name):
    from cryoplan.store.entries import pseudonym

    assert pseudonym(name) == name


def test_a_scheduler_file_that_is_not_one_is_one_line(tmp_path):
    from cryoplan.sweep.cluster import scheduler_file_address

    for content in (b"root:x:0:0:root:/root:/bin/bash\n", b"[1, 2]", b'{"address": 5}', b"\xff\xfe",
                    b'{"address": "tcp://127.0.0.1:8786"}' + b" " * 2_000_000):
        (tmp_path / "s.json").write_bytes(content)
        with pytest.raises(InputError, match="scheduler file") as refused:
            scheduler_file_address(str(tmp_path / "s.json"))
        assert "root:" not in str(refused.value)
    (tmp_path / "s.json").write_text('{"type": "Scheduler", "address": "tcp://127.0.0.1:8786"}')
    assert scheduler_file_address(str(tmp_path / "s.json")) == "tcp://127.0.0.1:8786"


def test_a_title_with_control_characters_is_refused():
    with TestClient(create_app(tempfile.mkdtemp(prefix="cryoplan-r3-"), workers=0)) as c:
        res = c.post("/api/runs", json={"template": "demo", "title": "a\x00b\x1b[31m"})
        assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", "title"]
        assert c.get("/api/runs").json() == []


def test_a_registry_export_onto_a_folder_is_one_line(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert runner.invoke(app, ["registry", "init", "--db", db]).exit_code == 0
    res = runner.invoke(app, ["registry", "export", str(tmp_path), "--db", db])
    assert res.exit_code == 2
    assert res.output.strip() == f"error: CSV_FILE = '{tmp_path}': allowed is a file path (this is a folder)"


@pytest.mark.parametrize("table, field", [
    ("labels = 5\n", "anatomy.label_table"),
    ('[labels.1]\ntissue = "muscle"\nlimit_c = "abc"\n', "labels.1.limit_c"),
    ('[labels.1]\ntissue = "muscle"\nname = {a = 1}\n', "labels.1.name"),
    ('[labels.1]\ntissue = [1]\n', "labels.1.tissue")])
def test_a_label_table_of_the_wrong_shape_is_one_line(tmp_path, table, field):
    from cryoplan.anatomy.labels import read_label_table

    (tmp_path / "t.toml").write_text(table)
    with pytest.raises(InputError) as refused:
        read_label_table(tmp_path / "t.toml")
    assert refused.value.field == field


def test_a_standard_deviation_whose_weight_overflows_is_refused(tmp_path):
    from cryoplan.calibrate.spec import read_isotherms

    csv = tmp_path / "iceball.csv"
    csv.write_text("time_s,isotherm_c,width_mm,width_sd_mm\n60,0,10.0,1e-300\n")
    with pytest.raises(InputError, match="iceball.csv: row .*width_sd_mm = '1e-300': allowed is a standard "
                                         "deviation from 0.001 to 1000"):
        read_isotherms(csv, 120.0, "axisymmetric")
    csv.write_text("time_s,isotherm_c,width_mm,width_sd_mm\n60,0,10.0,0.2\n")
    assert read_isotherms(csv, 120.0, "axisymmetric").weighted


def test_a_calibration_beyond_the_limits_is_refused_before_it_simulates(tmp_path):
    """calibrate had no limits: a bench simulate refuses was fitted anyway, up to 5,000
    simulations x 1,000 bootstrap refits. Now its cost is estimated and bounded like any run."""
    import shutil

    source = Path(__file__).resolve().parents[2] / "examples" / "calibration"
    for f in source.glob("*.csv"):
        shutil.copy(f, tmp_path)
    text = (source / "calibration.toml").read_text().replace('seconds = 90 }', 'seconds = 900 }')
    (tmp_path / "cal.toml").write_text(text.replace("spacing_mm = 0.5", "spacing_mm = 0.1"))
    res = runner.invoke(app, ["calibrate", str(tmp_path / "cal.toml"), "--out-dir", str(tmp_path / "out"),
                              "--bootstrap", "1000"])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert line.startswith("error: fit.max_simulations = ") and "--allow-large" in line and "\n" not in line
    assert "300300 bench simulations at most" in line
    assert not (tmp_path / "out").exists()


def test_the_page_offers_the_gases_the_probe_model_follows():
    with TestClient(create_app(tempfile.mkdtemp(prefix="cryoplan-r3-"), workers=0)) as c:
        assert c.get("/api/options").json()["gases"] == ["n2o", "ln2", "argon", "co2"]
