"""A session plan: several levels and sides in one plan file, the measured approach angles, the
whole needle path against bone, independent per-probe placement errors, the session summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import plan_config
from cryoplan.anatomy.labels import anatomy_data
from cryoplan.anatomy.templates import lumbar_medial_branch
from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.planning.fields import Field, Model, Moved, Rigid
from cryoplan.planning.targets import Spec, build

runner = CliRunner()
PROBE = {"catalog": "n2o-2.0mm"}


def test_levels_and_sides_make_one_target_each_in_treatment_order():
    cfg = plan_config.parse({"anatomy": {"levels": ["L3", "L4", "L5"], "sides": ["left", "right"]},
                             "probe": PROBE})
    targets = cfg.targets()
    assert [t.name for t in targets] == ["L3 left", "L4 left", "L5 left", "L3 right", "L4 right", "L5 right"]
    assert {t.template for t in targets} == {None}  # each level picks its own template
    mixed = plan_config.parse({"target": [{"level": "L5", "side": "right"}, {"level": "S2"}], "probe": PROBE})
    assert [t.name for t in mixed.targets()] == ["L5 right", "S2"]


@pytest.mark.parametrize("data, field", [
    ({"anatomy": {"levels": ["L4", "L9"]}}, "anatomy.levels[1]"),
    ({"anatomy": {"levels": ["L4", "L4"]}}, "anatomy.levels"),
    ({"anatomy": {"levels": ["L4"], "level": "L5"}}, "anatomy.levels"),
    ({"anatomy": {"template": "sacral-lateral-branch", "levels": ["L4"]}}, "anatomy.levels[0]"),
    ({"anatomy": {"levels": ["L4"]}, "target": [{"level": "L5"}]}, "target"),
    ({"target": [{"side": "left"}]}, "target[0].level"),
    ({"target": [{"level": "L4"}, {"level": "L4"}]}, "target"),
])
def test_a_bad_session_is_refused_naming_the_field(data, field):
    with pytest.raises(InputError) as err:
        plan_config.parse({"probe": PROBE, **data})
    assert err.value.field == field


def test_the_approach_follows_the_measured_angles_of_each_level():
    """Tran, Campisi, Agur & Loh 2023: the hub 29-47 deg lateral of the parasagittal plane and
    34-49 deg caudal of the endplate, growing from L1 to L5; the template's axis has those angles."""
    d = anatomy_data()["lumbar"]
    for level in ("L1", "L3", "L5"):
        axis = lumbar_medial_branch(level, spacing_mm=2.0).approach_axis
        lateral = np.degrees(np.arctan2(axis[0], -axis[1]))  # posterior view: from the cranio-caudal line
        caudal = np.degrees(np.arctan2(-axis[1], axis[2]))  # lateral view: from the endplate's plane
        i = d["levels"].index(level)
        assert lateral == pytest.approx(d["approach_lateral_deg"][i], abs=1e-6)
        assert caudal == pytest.approx(d["approach_caudal_deg"][i], abs=1e-6)
        assert 29 <= lateral <= 48 and 33 <= caudal <= 50


def test_the_whole_needle_is_checked_against_bone_beyond_the_box():
    """A needle laid almost flat towards the level below meets that level's articular process,
    which lies outside the label volume: the check follows the needle to the skin."""
    a = lumbar_medial_branch("L4", spacing_mm=1.0)
    axis = np.array([-0.19, -0.96, 0.19])
    axis /= np.linalg.norm(axis)
    tip = a.seated(a.tips(1e-3)[0], axis, 1e-3)
    hit = a.bone_on_path(tip, axis, 1e-3)
    lo, hi = a._box()
    assert hit is not None and not np.all((hit >= lo) & (hit <= hi))
    assert hit[1] < lo[1]  # caudal of the box, at the level below
    nominal = a.seated(a.tips(1e-3)[0], a.approach_axis, 1e-3)
    assert a.bone_on_path(nominal, a.approach_axis, 1e-3) is None


def test_each_probe_has_its_own_placement_error():
    anatomy = {"template": "lumbar-medial-branch", "level": "L4", "spacing_mm": 2.0}
    search = {"samples": 2000, "probes": 2, "ring_deg": [], "freeze_seconds": [60], "cycles": [1]}
    cfg = plan_config.parse({"anatomy": anatomy, "probe": PROBE, "plan": search})
    ctx = build(Spec.all(cfg, Path("."))[0]).ctx
    a, b = ctx.offsets
    assert not a[0].any() and not b[0].any()  # sample 0 is the nominal placement
    r = np.corrcoef(a[1:, 0], b[1:, 0])[0, 1]
    assert abs(r) < 0.1  # independent draws, not one rigid shift
    assert np.std(a[1:], axis=0).max() == pytest.approx(np.std(b[1:], axis=0).max(), rel=0.1)


def test_two_probes_move_their_own_ice_balls():
    """Two probes' fields, each moved by its own error: moving only the second leaves the first's
    cold where it was."""
    x = np.linspace(-5e-3, 5e-3, 11)
    grid = np.meshgrid(x, x, x, indexing="ij")
    values = 310.0 - 100.0 * np.exp(-(grid[0] ** 2 + grid[1] ** 2 + grid[2] ** 2) / 4e-6)
    f = Field(values, np.full(3, -5e-3), np.full(3, 1e-3))
    one, two = np.array([-2e-3, 0, 0]), np.array([2e-3, 0, 0])
    model = Model((Moved(f, Rigid.between(np.zeros(3), [0, 0, 1.0], one, [0, 0, 1.0])),
                   Moved(f, Rigid.between(np.zeros(3), [0, 0, 1.0], two, [0, 0, 1.0]))))
    offsets = np.zeros((2, 2, 3))
    offsets[1, 1] = (2e-3, 0, 0)  # sample 1: probe 2 moved 2 mm away, probe 1 in place
    t = model.sample(np.array([one, two]), offsets)
    assert t[0, 0] == pytest.approx(210.0, abs=0.5) and t[0, 1] == pytest.approx(210.0, abs=0.5)
    assert t[1, 0] == pytest.approx(t[0, 0]) and t[1, 1] > t[0, 1] + 50


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """L4 and S1 on both sides at 1 mm with one short protocol: two searches, two mirror images."""
    d = tmp_path_factory.mktemp("session")
    (d / "session.toml").write_text(
        '[anatomy]\nlevels = ["L4", "S1"]\nsides = ["left", "right"]\nspacing_mm = 1.0\n'
        '[probe]\ncatalog = "n2o-2.0mm"\n'
        '[plan]\nblock_probability = 0.5\nplacement = "stimulation"\nsamples = 32\nfreeze_seconds = [60]\n'
        'cycles = [1]\nring_deg = []\ngaps_mm = [0.0]\nprobes = 1\nchecks = 0\nworkers = 1\n')
    r = runner.invoke(app, ["plan", str(d / "session.toml"), "--json", str(d / "plan.json"),
                            "--report", str(d / "plan.html"), "--export", str(d / "export")])
    return r, d


def test_a_session_plans_every_target_and_sums_up(session):
    r, d = session
    assert r.exit_code in (0, 1), r.output
    data = json.loads((d / "plan.json").read_text())
    s = data["session"]
    assert s["order"] == ["L4 left", "S1 left", "L4 right", "S1 right"]
    assert [t["name"] for t in data["plans"]] == s["order"]
    planned = [t for t in data["plans"] if t["status"] == "plan"]
    assert s["planned"] == len(planned) >= 1
    assert s["total_freeze_seconds"] == sum(t["plan"]["total_freeze_seconds"] for t in planned)
    assert s["probe_insertions"] == sum(len(t["plan"]["probes"]) for t in planned)
    assert s["gas"] == "n2o" and s["gas_g"] > 0
    assert len(s["failed"]) == s["targets"] - s["planned"]
    for t in planned:
        assert {m["name"] for m in t["margins"]} >= {"skin"}
        assert t["block_probability"] >= 0.5 and t["needle_path_checked"]
    right = {t["name"]: t for t in data["plans"]}
    assert right["L4 right"]["mirror_of"] == "L4 left" and right["L4 left"]["mirror_of"] is None
    assert right["L4 right"].get("block_probability") == right["L4 left"].get("block_probability")
    assert (r.exit_code == 0) == (s["planned"] == s["targets"])


def test_a_session_report_and_export_cover_every_planned_target(session):
    r, d = session
    data = json.loads((d / "plan.json").read_text())
    html = (d / "plan.html").read_text()
    for t in data["plans"]:
        assert t["name"] in html
    vtm = (d / "export" / "session.vtm").read_text()
    for t in data["plans"]:
        if t["status"] == "plan":
            stem = t["name"].replace(" ", "-")
            assert (d / "export" / f"{stem}-labels.nii.gz").exists() and f'name="{t["name"]}"' in vtm
