"""The web planner's API (through FastAPI's test client): runs off the request thread with
progress, results and reports; bad and oversized input; no files outside the data folder; the
token; queue limits; runs that survive a server restart; the registry endpoints."""

import json
import time

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cryoplan.cli import app as cli_app
from cryoplan.web.app import create_app

SHORT = {"template": "demo", "protocol": {"cycles": 1, "freeze_seconds": 30, "thaw_seconds": 0}}


def wait_done(client: TestClient, run_id: str, seconds: float = 120) -> dict:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        st = client.get(f"/api/runs/{run_id}").json()
        if st["state"] in ("done", "failed"):
            return st
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish: {st}")


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(tmp_path / "data")) as c:
        yield c


def test_a_run_goes_from_queued_to_a_report(client):
    res = client.post("/api/runs", json=SHORT)
    assert res.status_code == 202 and res.json()["state"] in ("queued", "running")
    run_id = res.json()["id"]
    st = wait_done(client, run_id)
    assert st["state"] == "done" and st["progress"] == 1.0, st
    result = client.get(f"/api/runs/{run_id}/result").json()
    assert [p["seconds"] for p in result["protocol"]] == [30.0]  # the chosen protocol replaced the demo's
    page = client.get(f"/api/runs/{run_id}/report")
    assert page.status_code == 200 and "Ice-ball growth" in page.text
    assert "kind = \"freeze\"" in client.get(f"/api/runs/{run_id}/input").text
    assert run_id in [r["id"] for r in client.get("/api/runs").json()]
    res = client.post(f"/api/runs/{run_id}/adjust", json={})  # only a plan's probe can be moved
    assert res.status_code == 409 and "simulation" in res.text
    assert client.get(f"/api/runs/{run_id}/scene").status_code == 409


def test_bad_input_is_named_and_nothing_is_queued(client):
    cases = [
        ({"procedure_toml": "[probe\ncatalog = 1", "kind": "simulation"}, "valid TOML"),
        ({"procedure_toml": "[protocol]\nphases = [{kind = 'freeze', seconds = 10}]\n"
                            "[grid]\nspacing_mm = -1\n",
          "kind": "simulation"}, "grid.spacing_mm"),
        ({"procedure_toml": "[tissue]\ntype = 'muscle'\n"}, "kind"),
        ({"template": "demo", "probe": "no-such-probe"}, "probe"),
        ({"template": "demo", "procedure_toml": "x"}, "exactly one"),
        ({"procedure_toml": '[anatomy]\nnifti = "/etc/passwd"\n', "kind": "plan"}, "anatomy.nifti"),
    ]
    for body, words in cases:
        res = client.post("/api/runs", json=body)
        assert res.status_code == 422, (body, res.text)
        assert words in res.text, (body, res.text)
    assert client.post("/api/runs", json={"template": "knee"}).status_code == 422
    assert client.get("/api/runs").json() == []


def test_oversized_uploads_are_refused(client):
    big = "# " + "x" * 300_000 + "\n"
    res = client.post("/api/runs", json={"procedure_toml": big, "kind": "simulation"})
    assert res.status_code == 413 and "larger than" in res.json()["detail"]
    streamed = client.post("/api/runs", content=iter([b'{"procedure_toml": "', b"x" * 300_000, b'"}']),
                           headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.get("/api/runs").json() == []


def test_no_file_outside_the_data_folder_is_served(client, tmp_path):
    (tmp_path / "secret.txt").write_text("root:x:0:0")
    for path in ("/api/runs/../../secret.txt", "/api/runs/..%2F..%2Fsecret.txt/report",
                 "/api/runs/%2e%2e/result", "/api/runs/" + "0" * 32 + "/report", "/secret.txt",
                 "/api/runs/" + "a" * 31 + "/input", "/static/../../secret.txt"):
        res = client.get(path)
        assert res.status_code in (404, 422), (path, res.status_code)
        assert "root:x" not in res.text


def test_the_token_is_required_when_set(tmp_path):
    with TestClient(create_app(tmp_path, token="s3cret")) as c:
        assert c.get("/").status_code == 401 and c.get("/api/runs").status_code == 401
        assert c.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/?token=s3cret").status_code == 200


def test_serving_beyond_loopback_makes_up_a_token(monkeypatch, tmp_path):
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: served.update(app=app, host=host))
    res = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0 and "?token=" in res.output
    token = res.output.split("?token=")[1].split()[0]
    with TestClient(served["app"]) as c:
        assert c.get("/api/runs").status_code == 401
        assert c.get(f"/api/runs?token={token}").status_code == 200
    res = CliRunner().invoke(cli_app, ["serve", "--data-dir", str(tmp_path)])
    assert "?token=" not in res.output and served["host"] == "127.0.0.1"
    with TestClient(served["app"]) as c:
        assert c.get("/api/runs").status_code == 200


def test_the_queue_has_a_limit_and_runs_survive_a_restart(tmp_path):
    with TestClient(create_app(tmp_path, workers=0, max_queued=2)) as c:  # accepts, starts nothing
        ids = [c.post("/api/runs", json=SHORT).json()["id"] for _ in range(2)]
        res = c.post("/api/runs", json=SHORT)
        assert res.status_code == 429 and "at most 2" in res.json()["detail"]
        assert c.get(f"/api/runs/{ids[0]}/report").status_code == 404  # not done yet
    with TestClient(create_app(tmp_path, workers=1)) as c:  # the next server picks them up
        for run_id in ids:
            assert wait_done(c, run_id)["state"] == "done"


def test_record_a_run_and_its_follow_up(client):
    run_id = client.post("/api/runs", json=SHORT).json()["id"]
    wait_done(client, run_id)
    body = {"run_id": run_id, "pseudonym": "pt-0101", "treated_on": "2025-05-01", "levels": "L4"}
    pid = client.post("/api/registry/procedures", json=body).json()["id"]
    res = client.post(f"/api/registry/procedures/{pid}/follow-ups",
                      json={"seen_on": "2025-11-01", "pain_score": 6, "pain_returned": True})
    assert res.status_code == 201
    (row,) = client.get("/api/registry/procedures").json()
    assert row["pain_returned_on"] == "2025-11-01" and row["protocol"] == "1 x 30 s"
    curves = client.get("/api/registry/km").json()["curves"]
    assert curves[0]["events"] == 1
    assert client.get("/api/registry/km.png").content[:4] == b"\x89PNG"
    res = client.post("/api/registry/procedures", json={**body, "pseudonym": "Jane Doe"})
    assert res.status_code == 422 and "pseudonym" in res.text
    res = client.post(f"/api/registry/procedures/{pid}/follow-ups",
                      json={"seen_on": "2024-01-01", "pain_score": 6, "pain_returned": True})
    assert res.status_code == 422 and "seen_on" in res.text


def test_concurrent_first_requests_open_one_registry(tmp_path, monkeypatch):
    """Sync endpoints run on a thread pool: two first requests at once must not both open the
    registry (two engines, two migration runs)."""
    import threading

    from cryoplan.store import registry as registry_module

    opened = []
    real_init = registry_module.Registry.__init__

    def slow_init(self, *args, **kwargs):
        opened.append(1)
        time.sleep(0.3)  # widen the window in which a second request could slip in
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(registry_module.Registry, "__init__", slow_init)
    with TestClient(create_app(tmp_path / "data")) as c:
        answers: list[int] = []

        def ask() -> None:
            answers.append(c.get("/api/registry/procedures").status_code)

        threads = [threading.Thread(target=ask) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert answers == [200, 200, 200] and len(opened) == 1


def test_uploads_cannot_reach_the_host(tmp_path):
    """A file may name no registry, NIfTI volume, label table or catalog file, nor set the
    server's worker processes: 422 naming the key, the same answer whether the path exists or
    not (no oracle on a file's existence or content), nothing created, no password repeated."""
    target = tmp_path / "elsewhere" / "foreign.db"
    base = '[probe]\ncatalog = "n2o-2.0mm"\n[protocol]\nphases = [{kind = "freeze", seconds = 10}]\n'
    cases = [
        ("simulation", base + f'[outcome]\nregistry = "sqlite:///{target}"\n', "outcome.registry"),
        ("simulation", base + '[outcome]\nregistry = "postgresql://admin:hunter2secret@127.0.0.1:1/x"\n',
         "outcome.registry"),
        ("plan", '[anatomy]\nnifti = "/etc/passwd"\nlabel_table = "/etc/hostname"\n', "anatomy.nifti"),
        ("plan", '[anatomy]\ntemplate = "lumbar-medial-branch"\nlabel_table = "/etc/hostname"\n',
         "anatomy.label_table"),
        ("simulation", base.replace('catalog = "n2o-2.0mm"', 'catalog = "x"\ncatalog_file = "/etc/passwd"'),
         "probe.catalog_file"),
        ("simulation", base.replace('catalog = "n2o-2.0mm"', 'catalog = "x"\ncatalog_file = "/nonexistent"'),
         "probe.catalog_file"),
        ("plan", '[anatomy]\ntemplate = "lumbar-medial-branch"\n[probe]\ncatalog = "n2o-2.0mm"\n'
                 '[plan]\nworkers = 256\n', "plan.workers"),
    ]
    with TestClient(create_app(tmp_path / "data", workers=0)) as c:
        for kind, text, field in cases:
            res = c.post("/api/runs", json={"procedure_toml": text, "kind": kind})
            assert res.status_code == 422 and field in res.text, res.text
            assert "hunter2secret" not in res.text and "setting of the server" in res.text
            assert "root:" not in res.text and "line" not in res.text and "existing" not in res.text
        assert c.get("/api/runs").json() == []
    assert not target.parent.exists()


def test_the_web_refuses_what_the_command_line_refuses_with_the_same_line(tmp_path):
    from cryoplan import service

    text = ('[probe]\ncatalog = "n2o-2.0mm"\n[protocol]\nphases = [{kind = "freeze", seconds = 1e6}]\n')
    with pytest.raises(Exception) as cli_error:
        service.prepare("simulation", service.read_text(text))
    with TestClient(create_app(tmp_path, workers=0)) as c:
        res = c.post("/api/runs", json={"procedure_toml": text, "kind": "simulation"})
        assert res.status_code == 422 and res.json()["detail"][0]["msg"] == str(cli_error.value)
        for protocol in ({"cycles": True, "freeze_seconds": 30, "thaw_seconds": 0},
                         {"cycles": 1, "freeze_seconds": "30", "thaw_seconds": 0}):
            assert c.post("/api/runs", json={"template": "demo", "protocol": protocol}).status_code == 422
        nan = b'{"template": "demo", "protocol": {"cycles": 1, "freeze_seconds": NaN, "thaw_seconds": 0}}'
        res = c.post("/api/runs", content=nan, headers={"content-type": "application/json"})
        assert res.status_code == 422  # not a 500 from echoing NaN
        deep = b'{"title": ' + b"[" * 20000 + b"]" * 20000 + b"}"
        res = c.post("/api/runs", content=deep, headers={"content-type": "application/json"})
        assert res.status_code == 400
        assert c.get("/api/runs").json() == []


def test_a_run_can_be_cancelled_queued_or_running(tmp_path):
    import os

    long = {"template": "demo", "protocol": {"cycles": 2, "freeze_seconds": 900, "thaw_seconds": 30}}
    with TestClient(create_app(tmp_path / "q", workers=0)) as c:
        run_id = c.post("/api/runs", json=long).json()["id"]
        res = c.delete(f"/api/runs/{run_id}")
        assert res.status_code == 200 and res.json()["state"] == "cancelled"
        assert c.delete(f"/api/runs/{run_id}").status_code == 409
        assert c.delete("/api/runs/" + "0" * 32).status_code == 404
    with TestClient(create_app(tmp_path / "r", workers=1)) as c:
        run_id = c.post("/api/runs", json=long).json()["id"]
        end = time.monotonic() + 60
        while c.get(f"/api/runs/{run_id}").json()["phase"] != "simulating" and time.monotonic() < end:
            time.sleep(0.2)
        st = c.get(f"/api/runs/{run_id}").json()
        assert st["state"] == "running" and st["unit"] == "s simulated" and st["total"] == 1830
        pid = c.app.state.runs._running[run_id].process.pid
        res = c.delete(f"/api/runs/{run_id}")
        assert res.status_code == 200 and res.json()["state"] == "cancelled"
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the run's process is gone (reaped)
        assert c.get(f"/api/runs/{run_id}/result").status_code == 404


def test_progress_and_title_say_what_the_run_is(client):
    body = {"template": "demo", "probe": "n2o-1.4mm", "protocol": SHORT["protocol"]}
    st = client.post("/api/runs", json=body).json()
    assert st["title"] == "demo with probe n2o-1.4mm, 1 x 30 s freeze"  # not the template's 2.0 mm title
    seen = set()
    end = time.monotonic() + 120
    while st["state"] not in ("done", "failed") and time.monotonic() < end:
        st = client.get(f"/api/runs/{st['id']}").json()
        seen.add(st["phase"])
        time.sleep(0.1)
    assert st["state"] == "done" and st["message"].startswith("finished in") and st["progress"] == 1.0
    assert "starting" not in st["message"] and st["phase"] == "finished"
    assert seen & {"setting up the probe, the tissue and the grid", "simulating",
                   "writing the result and the report"}


def test_a_server_registry_that_cannot_be_opened_is_503_without_its_password(tmp_path):
    url = "postgresql://admin:hunter2secret@127.0.0.1:1/registry"
    with TestClient(create_app(tmp_path, workers=0, registry_url=url)) as c:
        res = c.get("/api/registry/procedures")
        assert res.status_code == 503 and "***" in res.text and "hunter2secret" not in res.text


def test_a_short_token_is_refused(tmp_path):
    res = CliRunner().invoke(cli_app, ["serve", "--token", "a", "--data-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--token" in res.output and "at least 16" in res.output


def test_first_registry_requests_at_once_import_pandas_once(tmp_path):
    """A fresh interpreter (nothing imported yet): the Kaplan-Meier JSON and PNG and the list,
    asked for at once, all answer (two threads importing pandas at once saw it half initialised:
    "partially initialized module 'pandas' has no attribute 'Series'")."""
    import subprocess
    import sys

    script = f"""
import threading
from fastapi.testclient import TestClient
from cryoplan.web.app import create_app
codes = []
with TestClient(create_app({str(tmp_path)!r}, workers=0)) as c:
    paths = ["/api/registry/km", "/api/registry/km.png", "/api/registry/procedures"] * 3
    threads = [threading.Thread(target=lambda p=p: codes.append(c.get(p).status_code)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
print(sorted(codes))
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == str([200] * 9), res.stdout + res.stderr[-3000:]


def test_the_page_offers_a_session_plan(client):
    """The session template: every level on both sides, a valid plan file whose estimate counts
    the three searches (the right side mirrors the left)."""
    from cryoplan import service

    templates = {t["name"]: t for t in client.get("/api/options").json()["templates"]}
    session = templates["plan-session"]
    assert session["kind"] == "plan"
    job = service.prepare("plan", service.read_text(session["toml"]))
    assert [t.name for t in job.config.targets()] == ["L3 left", "L4 left", "L5 left",
                                                       "L3 right", "L4 right", "L5 right"]
    single = service.prepare("plan", service.read_text(templates["plan-l4"]["toml"]))
    assert job.estimate.steps < 3.5 * single.estimate.steps


#: A cheap plan (the L4 template at 1.5 mm, the nominal direction, 64 samples, no re-simulation
#: checks) that simulates two protocols (60 s falls short): about 5 s of planning.
TINY_PLAN = """
[anatomy]
levels = ["L3"]
sides = ["right"]
spacing_mm = 1.5
[probe]
catalog = "n2o-2.0mm"
[plan]
block_probability = 0.9
placement = "stimulation"
samples = 64
probes = 1
freeze_seconds = [60, 120]
cycles = [1]
ring_deg = []
gaps_mm = [0.0]
checks = 0
"""


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """A server with a finished cheap plan (levels and sides chosen in the request)."""
    with TestClient(create_app(tmp_path_factory.mktemp("adjust"), plan_workers=1)) as c:
        body = {"procedure_toml": TINY_PLAN, "kind": "plan", "levels": ["L4"], "sides": ["left"]}
        res = c.post("/api/runs", json=body)
        assert res.status_code == 202, res.text
        plan_id = res.json()["id"]
        assert "levels L4, sides left" in res.json()["title"]
        st = wait_done(c, plan_id, 300)
        assert st["state"] == "done", st
        print(f"the plan: {st['message']}")
        yield c, plan_id


def test_a_moved_probe_is_judged_by_screening(planned):
    c, plan_id = planned
    result = c.get(f"/api/runs/{plan_id}/result").json()
    assert [t["name"] for t in result["plans"]] == ["L4 left"]  # the request's levels and sides
    scene = c.get(f"/api/runs/{plan_id}/scene").json()
    (t,) = scene["targets"]
    assert t["name"] == "L4 left" and t["movable"] and t["freeze_seconds"] == 120.0
    assert t["protocols"] == [{"cycles": 1, "freeze_seconds": 60.0}, {"cycles": 1, "freeze_seconds": 120.0}]
    assert len(t["labels"]["values"]) == np.prod(t["labels"]["shape"])
    assert {s["name"] for s in t["structures"]} >= {"bone", "nerve root"}
    start = time.perf_counter()
    nominal = c.post(f"/api/runs/{plan_id}/adjust", json={"target": "L4 left"}).json()
    took = time.perf_counter() - start
    print(f"adjust round trip {took * 1e3:.0f} ms (server {nominal['server_ms']} ms)")
    # unmoved, screening gives the planner's own judgement of its simulated plan
    assert nominal["block_probability"] == result["block_probability"] == nominal["planned_block_probability"]
    assert [m["violation_probability"] for m in nominal["margins"]] == [
        m["violation_probability"] for m in result["margins"]]
    assert "not a new 3D run" in nominal["method"] and nominal["warnings"] == []
    ice = nominal["iceball"]
    values = np.array(ice["values_c"])
    assert len(values) == np.prod(ice["shape"]) and values.min() < -20 < 0 < values.max()
    # 4 mm off the nerve: the ice ball no longer covers it; the moved tip and needle follow
    far = c.post(f"/api/runs/{plan_id}/adjust", json={"target": 0, "tip_offset_mm": [4, 0, 4]})
    assert far.status_code == 200, far.text
    far = far.json()
    assert far["block_probability"] < nominal["block_probability"] - 0.3
    assert not far["meets_constraints"] and any("block probability" in f for f in far["failures"])
    moved = np.array(far["probes"][0]["tip_mm"]) - np.array(t["probes"][0]["tip_mm"])
    assert np.allclose(moved, [4, 0, 4], atol=0.02)
    # into the bone the nerve lies on: the planner would not place it, so it cannot pass
    deep = c.post(f"/api/runs/{plan_id}/adjust", json={"tip_offset_mm": [0, 0, -4]}).json()
    assert not deep["meets_constraints"] and "cannot be placed" in deep["failures"][0], deep["failures"]
    tilted = c.post(f"/api/runs/{plan_id}/adjust", json={"tilt_deg": 20, "azimuth_deg": 90}).json()
    needle = np.array(tilted["probes"][0]["entry_mm"]) - np.array(tilted["probes"][0]["tip_mm"])
    planned_needle = np.array(t["probes"][0]["entry_mm"]) - np.array(t["probes"][0]["tip_mm"])
    cos = needle @ planned_needle / np.linalg.norm(needle) / np.linalg.norm(planned_needle)
    assert abs(np.degrees(np.arccos(cos)) - 20) < 0.1
    # the shorter freeze the planner simulated (and refused as too short) is at hand too
    short = c.post(f"/api/runs/{plan_id}/adjust", json={"freeze_s": 60}).json()
    # as the planner judged the plan's placement at 60 s (simulated there, or screened from the
    # 60 s run nearest it: the same rigid move)
    plan = result["plan"]
    (judged,) = [x for x in result["candidates"] if x["freeze_seconds"] == 60.0
                 and x["tip_mm"] == plan["tip_mm"] and x["direction"] == plan["direction_tip_to_hub"]]
    assert short["freeze_seconds"] == 60.0 and short["block_probability"] == judged["block_probability"]
    assert short["block_probability"] < 0.9 and not short["meets_constraints"]


def test_hostile_adjust_bodies_get_one_line_422(planned):
    c, plan_id = planned
    url = f"/api/runs/{plan_id}/adjust"
    cases = [
        ({"tip_offset_mm": [11, 0, 0]}, "tip_offset_mm"),
        ({"tip_offset_mm": [1e300, 0, 0]}, "tip_offset_mm"),
        ({"tip_offset_mm": [0, 0]}, "tip_offset_mm"),
        ({"tip_offset_mm": ["1", 0, 0]}, "tip_offset_mm"),
        ({"tip_offset_mm": [[1], 0, 0]}, "tip_offset_mm"),
        ({"tilt_deg": 31}, "tilt_deg"),
        ({"tilt_deg": True}, "tilt_deg"),
        ({"target": "L9 left"}, "L4 left"),
        ({"target": 3}, "0 (L4 left)"),
        ({"target": {"name": "L4 left"}}, "target"),
        ({"probe": 1}, "probe"),
        ({"freeze_s": 90}, "1 x 60 s, 1 x 120 s"),
        ({"cycles": 2}, "2 x 120 s"),
        ({"colour": "red"}, "colour"),
    ]
    for body, words in cases:
        res = c.post(url, json=body)
        assert res.status_code == 422, (body, res.text)
        assert words in res.text and "\n" not in res.text, (body, res.text)
    nan = b'{"tip_offset_mm": [NaN, 0, 0]}'
    res = c.post(url, content=nan, headers={"content-type": "application/json"})
    assert res.status_code == 422 and "tip_offset_mm" in res.text
    assert c.post("/api/runs/" + "0" * 32 + "/adjust", json={}).status_code == 404


def test_the_page_gets_plotly_from_the_server(client):
    res = client.get("/plotly.js")
    assert res.status_code == 200 and "plotly" in res.text[:2000].lower() and len(res.content) > 1_000_000
    page = client.get("/").text
    assert "cdn" not in page.lower() and "https://" not in page
    levels = client.get("/api/options").json()["levels"]
    assert levels[:5] == ["L1", "L2", "L3", "L4", "L5"]
    res = client.post("/api/runs", json={**SHORT, "levels": ["L4"]})
    assert res.status_code == 422 and "levels" in res.text
    res = client.post("/api/runs", json={"template": "plan-session", "levels": ["L9"]})
    assert res.status_code == 422 and "anatomy.levels" in res.text


def test_a_damaged_3d_state_is_one_line_409(tmp_path):
    """A plan whose adjust.npz cannot be read (another version's, truncated): one line, 409."""
    run_id = "0" * 32
    folder = tmp_path / "runs" / run_id
    folder.mkdir(parents=True)
    status = {"id": run_id, "kind": "plan", "title": "x", "state": "done"}
    (folder / "status.json").write_text(json.dumps(status))
    (folder / "adjust.npz").write_bytes(b"PK\x03\x04 not a whole file")
    with TestClient(create_app(tmp_path, workers=0)) as c:
        for res in (c.post(f"/api/runs/{run_id}/adjust", json={}), c.get(f"/api/runs/{run_id}/scene")):
            assert res.status_code == 409 and "cannot be read" in res.text and "\n" not in res.text, res.text


@pytest.mark.parametrize(("body", "line"), [
    ({"kind": "simulation", "procedure": 5}, "procedure = 5: allowed is no such key in this request"),
    ({"kind": 3, "procedure_toml": ""}, "kind = 3: allowed is 'simulation' or 'plan'"),
    ([1, 2], "body = [1, 2]: allowed is a table of keys (a JSON object)"),
    (b'{"kind": ', "body = '(character 9)': allowed is valid JSON"),
])
def test_a_malformed_request_is_named_in_one_line_as_on_the_command_line(client, body, line):
    """FastAPI's own 422s (a body that does not fit the request's model) speak the command line's
    one-line form (field, value, what is allowed), not pydantic's wording."""
    if isinstance(body, bytes):
        res = client.post("/api/runs", content=body, headers={"content-type": "application/json"})
    else:
        res = client.post("/api/runs", json=body)
    msgs = [d["msg"] for d in res.json()["detail"]]
    assert res.status_code == 422 and msgs[0].startswith(line) and all("\n" not in m for m in msgs)
