"""The web planner on a patient's CT: the CT uploaded as a file (never a path), kept under an id the
server makes up, read only by the run that plans on it; hostile uploads refused in one line."""

import gzip
import io
import json

import nibabel as nib
import pytest
from fastapi.testclient import TestClient

from cryoplan.report.plan_json import NOT_COPIED
from cryoplan.web.app import create_app
from cryoplan.web.scans import sniff
from tests.ct.spine_phantom import spine_phantom
from tests.ct.test_ct_plan import PLAN as CT_PLAN
from tests.web.test_web import wait_done

# the phantom plan of tests/ct/test_ct_plan.py, its targets named in the file (the web has no --levels)
PLAN = CT_PLAN.replace("[anatomy]\nspacing_mm = 0.75\n",
                       '[anatomy]\nspacing_mm = 0.75\nlevels = ["L2"]\nsides = ["left"]\nlowest = "L4"\n')


@pytest.fixture(scope="module")
def phantom_nii() -> bytes:
    ph = spine_phantom(1.5)
    buf = io.BytesIO()
    image = nib.Nifti1Image(ph.image.hu, ph.image.affine)
    buf.write(image.to_bytes())
    return gzip.compress(buf.getvalue())


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(tmp_path / "data", max_ct_bytes=50_000_000)) as c:
        yield c


def test_an_uploaded_ct_is_planned_on_and_its_path_never_shown(client, phantom_nii, tmp_path):
    res = client.post("/api/cts", content=phantom_nii, headers={"content-type": "application/octet-stream"})
    assert res.status_code == 201, res.text
    scan = res.json()
    assert scan["format"] == "nii.gz" and scan["bytes"] == len(phantom_nii)
    assert client.get("/api/cts").json() == [scan["id"]]
    res = client.post("/api/runs", json={"procedure_toml": PLAN, "kind": "plan", "ct": scan["id"]})
    assert res.status_code == 202, res.text
    st = wait_done(client, res.json()["id"], seconds=300)
    assert st["state"] == "done", st
    text = client.get(f"/api/runs/{st['id']}/result").text
    result = json.loads(text)
    assert result["inputs"]["anatomy"]["ct"] == NOT_COPIED
    assert str(tmp_path) not in text and scan["id"] not in text  # no server path in what is shown
    assert result["plans"][0]["patient"]["frame"] == "RAS"
    assert "uploaded CT" in st["title"]
    scene = client.get(f"/api/runs/{st['id']}/scene")  # the 3D view of the plan, in the target's frame
    assert scene.status_code == 200, scene.text
    moved = client.post(f"/api/runs/{st['id']}/adjust", json={"tip_offset_mm": [1.0, 0.0, 0.0]})
    assert moved.status_code == 200, moved.text
    assert client.delete(f"/api/cts/{scan['id']}").status_code == 204
    assert client.get("/api/cts").json() == []


@pytest.mark.parametrize("body", [b"%PDF-1.4 not a ct" + bytes(400), b"", b"PK" + bytes(10)])
def test_an_upload_that_is_not_a_ct_file_is_refused_and_nothing_kept(client, body):
    res = client.post("/api/cts", content=body)
    assert res.status_code == 422 and "a zip of a DICOM series, or a NIfTI file" in res.text
    assert client.get("/api/cts").json() == []


def test_an_upload_over_the_limit_is_refused(tmp_path):
    with TestClient(create_app(tmp_path / "data", max_ct_bytes=1000)) as c:
        res = c.post("/api/cts", content=b"PK\x03\x04" + bytes(5000))
        assert res.status_code == 413
        assert c.get("/api/cts").json() == []


@pytest.mark.parametrize("request_body,field", [
    ({"template": "plan-l4", "ct": "0" * 32}, "ct"),  # no such CT
    ({"template": "plan-l4", "ct": "../../etc/passwd"}, "ct"),
    ({"template": "demo", "ct": "0" * 32}, "ct"),
    ({"procedure_toml": '[anatomy]\nct = "/etc/passwd"\n[probe]\ncatalog = "n2o-2.0mm"\n', "kind": "plan"},
     "anatomy.ct"),
    ({"procedure_toml": '[anatomy]\ncorrections = "/etc/passwd"\n[probe]\ncatalog = "n2o-2.0mm"\n',
      "kind": "plan"}, "anatomy.corrections"),
])
def test_a_ct_is_named_by_its_upload_id_only(client, request_body, field):
    res = client.post("/api/runs", json=request_body)
    assert res.status_code == 422 and field in res.text, res.text


def test_a_ct_not_planned_on_fails_its_run_in_one_line(client, tmp_path):
    fake = gzip.compress(b"not a nifti inside the gzip" * 100)
    scan = client.post("/api/cts", content=fake).json()
    res = client.post("/api/runs", json={"procedure_toml": PLAN, "kind": "plan", "ct": scan["id"]})
    assert res.status_code == 202, res.text  # the server does not read the CT: the run does
    st = wait_done(client, res.json()["id"], seconds=120)
    assert st["state"] == "failed" and st["error"].startswith("ct = "), st
    assert "Traceback" not in st["error"] and str(tmp_path) not in st["error"]


def test_the_format_is_told_by_the_first_bytes():
    assert sniff(b"PK\x03\x04" + bytes(400)) == "zip"
    header = bytearray(400)
    header[344:348] = b"n+1\x00"
    assert sniff(bytes(header)) == "nii"
    assert sniff(b"\x00" * 400) is None


def test_lowest_needs_a_ct(client):
    res = client.post("/api/runs", json={"template": "plan-l4", "lowest": "L5"})
    assert res.status_code == 422 and "lowest" in res.text
