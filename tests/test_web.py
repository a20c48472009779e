"""The web planner's API (through FastAPI's test client): runs off the request thread with
progress, results and reports; bad and oversized input; no files outside the data folder; the
token; queue limits; runs that survive a server restart; the registry endpoints."""

import time

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
    run_id = client.post("/api/runs", json={"template": "demo"}).json()["id"]
    wait_done(client, run_id)
    body = {"run_id": run_id, "pseudonym": "pt-0101", "treated_on": "2025-05-01", "levels": "L4"}
    pid = client.post("/api/registry/procedures", json=body).json()["id"]
    res = client.post(f"/api/registry/procedures/{pid}/follow-ups",
                      json={"seen_on": "2025-11-01", "pain_score": 6, "pain_returned": True})
    assert res.status_code == 201
    (row,) = client.get("/api/registry/procedures").json()
    assert row["pain_returned_on"] == "2025-11-01" and row["protocol"] == "2 x 120 s, 30 s thaw"
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
