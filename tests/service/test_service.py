"""The service layer: outputs all or none, named warnings where the physics is out of its depth,
no NaN in any JSON (the planner's displaced re-simulations included), uploads that name no path
or host, the plain-data API a sweep calls, and the planner's worker pool and progress."""

import json
import multiprocessing
import pickle

import pytest

from cryoplan import service
from cryoplan.errors import InputError
from cryoplan.planning import search

RADIAL = {"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [{"kind": "freeze", "seconds": 20}]},
          "grid": {"geometry": "radial", "spacing_mm": 0.25, "extent_mm": 10.0}}


def _codes(data: dict) -> set[str]:
    return {w["code"] for w in data["warnings"]}


@pytest.fixture(scope="module")
def radial():
    return service.run(service.prepare("simulation", RADIAL))


def test_a_failing_output_leaves_none_of_the_outputs(radial, tmp_path, monkeypatch):
    from cryoplan.report import run_figure

    def broken(*args, **kwargs):
        raise RuntimeError("the figure failed")

    monkeypatch.setattr(run_figure, "plot", broken)
    outputs = service.Outputs(json=tmp_path / "r.json", report=tmp_path / "r.html", plot=tmp_path / "r.png")
    with pytest.raises(RuntimeError):
        service.write(radial, outputs)
    assert list(tmp_path.iterdir()) == []  # neither the JSON nor the report, no temporary files
    monkeypatch.undo()
    written = service.write(radial, outputs)
    assert sorted(p.name for p in written) == ["r.html", "r.json", "r.png"]


def test_the_plain_data_api_for_sweeps(radial):
    data = service.simulate(RADIAL)
    assert pickle.loads(pickle.dumps(data)) == data
    json.dumps(data, allow_nan=False)
    assert data["kind"] == "simulation" and data["warnings"] == [] and data["estimate"]["cells"] > 0
    assert data["iceball"] == radial.data["iceball"]  # the same run as the service's steps one by one


def test_a_domain_too_small_for_the_ice_ball_is_named():
    """A 4 mm domain around an LN2 probe frozen for 10 minutes: the ice reaches the edge and the
    boundary held at body temperature supplies most of the heat (the issue's case)."""
    small = {"probe": {"catalog": "n2o-2.0mm"}, "cryogen": {"gas": "ln2"},
             "protocol": {"phases": [{"kind": "freeze", "seconds": 600}]},
             "grid": {"spacing_mm": 0.25, "extent_mm": 4.0}}
    data = service.simulate(small)
    assert {"iceball-at-edge", "boundary-heat"} <= _codes(data)
    e = data["solver"]["energy_j"]
    assert e["boundary_j"] > 0.1 * e["probe_j"]
    roomy = dict(small, protocol={"phases": [{"kind": "freeze", "seconds": 60}]},
                 grid={"spacing_mm": 0.25, "extent_mm": 25.0, "growth": 1.1, "uniform_extent_mm": 12.0})
    assert not {"iceball-at-edge", "boundary-heat"} & _codes(service.simulate(roomy))


def test_an_extreme_tissue_property_is_named():
    data = service.simulate({**RADIAL, "tissue": {"k_unfrozen_w_per_m_k": 5.0}})
    (w,) = [w for w in data["warnings"] if w["code"] == "tissue-property-extreme"]
    assert "k_unfrozen_w_per_m_k" in w["message"] and w["about"] == "tissue"


def test_nan_never_reaches_a_json():
    clean, where = service.finite({"x": [1.0, float("nan")], "y": {"z": float("-inf")}})
    assert where == ["x[1]", "y.z"] and clean == {"x": [1.0, None], "y": {"z": None}}
    job = service.prepare("simulation", RADIAL)
    data = service._finish({"a": float("nan")}, [], job)
    assert data["a"] is None and _codes(data) == {"not-a-number"}


@pytest.mark.parametrize("section, key, value", [("outcome", "registry", "sqlite:////etc/x.db"),
                                                 ("anatomy", "nifti", "/etc/passwd"),
                                                 ("anatomy", "label_table", "../../x.toml"),
                                                 ("probe", "catalog_file", "/etc/passwd"),
                                                 ("plan", "workers", 256)])
def test_an_upload_names_no_path_url_or_host(section, key, value):
    kind = "plan" if section in ("anatomy", "plan") else "simulation"
    data = {section: {key: value}}
    with pytest.raises(InputError, match=rf"{section}\.{key} = .*setting of the server"):
        service.prepare(kind, data, upload=True)


def test_a_path_in_any_table_form_of_an_upload_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """[[probe]] entries, a plan's [probe], a quoted key: the same refusal, and the named file is
    never opened (no oracle on its existence or its content)."""
    import cryoplan.catalog

    def never(*args, **kwargs):
        raise AssertionError("an upload's catalog file was opened")

    monkeypatch.setattr(cryoplan.catalog, "read_catalog_file", never)
    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[probe.x]\ngas = "n2o"\ndiameter_mm = 2.0\nactive_length_mm = 10.0\n')
    protocol = {"phases": [{"kind": "freeze", "seconds": 10}]}
    cases = [
        ("simulation", {"probe": [{"catalog": "x", "catalog_file": str(catalog), "tip_mm": [0, 0, 0]}],
                        "grid": {"geometry": "3d"}, "protocol": protocol}, "probe[0].catalog_file"),
        ("simulation", service.read_text(f'[protocol]\nphases = [{{kind = "freeze", seconds = 10}}]\n'
                                         f'[probe]\n"catalog_file" = "{catalog}"\ncatalog = "x"\n'),
         "probe.catalog_file"),
        ("plan", {"anatomy": {"template": "lumbar-medial-branch"},
                  "probe": {"catalog": "x", "catalog_file": "/nonexistent.toml"}}, "probe.catalog_file"),
    ]
    for kind, data, field in cases:
        with pytest.raises(InputError) as refused:
            service.prepare(kind, data, upload=True)
        assert refused.value.field == field and "setting of the server" in str(refused.value)


def test_the_planner_writes_null_and_says_why_when_a_check_cannot_run(monkeypatch):
    """The planner's NaN: a displaced re-simulation that cannot run (the probe displaced into bone
    or out of the box) had a NaN coldest temperature, which the JSON writer refused after the
    whole search. It is null now, with the reason, and a named warning."""
    real = search.simulate

    def refuse_displaced(ctx, cand, offsets=None):
        if offsets is not None:
            raise InputError("probe", "displaced", "a probe outside bone")
        return real(ctx, cand)

    monkeypatch.setattr(search, "simulate", refuse_displaced)
    data = service.plan({"anatomy": {"template": "lumbar-medial-branch", "level": "L4", "spacing_mm": 1.0},
                         "probe": {"catalog": "n2o-2.0mm"},
                         "plan": {"placement": "stimulation", "block_probability": 0.5, "samples": 16,
                                  "freeze_seconds": [90], "cycles": [1], "ring_deg": [], "gaps_mm": [0.0],
                                  "workers": 1}})
    assert data["status"] == "plan"
    checks = data["rigid_shift_check"]
    assert checks and all(k["min_temperature_c"] is None for k in checks)
    assert all("outside bone" in k["not_simulated"] for k in checks)
    assert "check-not-simulated" in _codes(data)
    json.dumps(data, allow_nan=False)


def test_the_planner_pool_reports_progress_and_leaves_no_worker():
    events = []
    job = service.prepare("plan", {
        "anatomy": {"template": "lumbar-medial-branch", "level": "L4", "spacing_mm": 1.0},
        "probe": {"catalog": "n2o-2.0mm"},
        "plan": {"placement": "stimulation", "block_probability": 0.99, "samples": 16, "cycles": [1],
                 "freeze_seconds": [60, 90], "ring_deg": [], "gaps_mm": [0.0], "workers": 2,
                 "probes": 1}})
    ran = service.run(job, events.append)
    assert multiprocessing.active_children() == []
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # never backwards, and it ends
    phases = [e.phase for e in events]
    assert phases[0].startswith("setting up") and any(p.startswith("protocol 1 of 2") for p in phases)
    counted = [e for e in events if e.unit == "runs"]
    assert counted and all(e.at_most and 0 <= e.done <= e.total for e in counted)
    assert ran.data["status"] in ("plan", "no safe plan")
