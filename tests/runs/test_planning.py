"""The planner: search space, Monte Carlo over placement error, constraints, bad input, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import plan_config
from cryoplan.anatomy.placement_error import placement_sigma, sigma_from_mean_error, sigma_from_radius95
from cryoplan.cli import app
from cryoplan.errors import InputError
from cryoplan.planning.evaluate import evaluate, judge
from cryoplan.planning.fields import Model, Moved, Rigid
from cryoplan.planning.space import placement_offsets
from cryoplan.planning.targets import Spec, build
from cryoplan.tissue.perfusion import DEFAULT_MODEL

runner = CliRunner()


def coarse(**plan):
    """The L4 template at 1 mm, one protocol, the nominal direction only: a few seconds a run."""
    return plan_config.parse({
        "anatomy": {"template": "lumbar-medial-branch", "level": "L4", "spacing_mm": 1.0},
        "probe": {"catalog": "n2o-2.0mm"},
        "plan": {"samples": 64, "freeze_seconds": [120], "cycles": [1], "ring_deg": [], "gaps_mm": [0.0],
                 "workers": 1, **plan},
    })


def context(cfg):
    """The first target's context and its one-probe candidates (all protocols)."""
    s = build(Spec.all(cfg, Path("."))[0])
    return s.ctx, s.anatomy, [c for level in s.levels for c in s.singles[level]]


def test_placement_error_models_reproduce_their_definitions():
    rng = np.random.default_rng(0)
    sigma = sigma_from_mean_error(3.3e-3)
    err = rng.standard_normal((200_000, 3)) * sigma
    assert abs(np.linalg.norm(err, axis=1).mean() - 3.3e-3) < 2e-5  # Busser 2013's mean miss
    r95 = sigma_from_radius95(2e-3)
    assert abs(np.mean(np.linalg.norm(rng.standard_normal((200_000, 2)) * r95, axis=1) < 2e-3) - 0.95) < 3e-3
    off = placement_offsets(np.array([0.0, -0.26, 0.97]), sigma, 500, seed=1)
    assert np.allclose(off[0], 0) and np.allclose(off @ np.array([0.0, -0.26, 0.97]), 0, atol=1e-15)
    assert placement_sigma("stimulation", None) < placement_sigma("ct", None)


@pytest.fixture(scope="module")
def tight():
    """The coarse L4 problem under the stimulation-guided placement error: its context, its
    candidates and its first candidate simulated (the one 3D run the tests below share)."""
    ctx, _, cands = context(coarse(placement="stimulation"))
    ev, run, _ = evaluate(ctx, cands[0])
    return ctx, cands, ev, run


def rejudged(cfg, cand, run):
    """The candidate judged in ``cfg``'s context (another placement error, other limits) from
    the same run: the same ice ball, another Monte Carlo and constraints."""
    ctx, _, _ = context(cfg)
    return judge(ctx, cand, Model((Moved(run.field, Rigid.identity(cand.tip)),)))


def test_a_larger_placement_error_lowers_the_block_probability(tight):
    """Same ice ball, more scatter: fewer placements keep the whole nerve below -20 C over the
    block length; the nominal placement blocks (it is the first sample), the probability is the
    mean of the samples' block probabilities, and nothing else is at risk."""
    _, cands, tight_ev, run = tight
    loose = rejudged(coarse(placement="ct"), cands[0], run)
    assert tight_ev.sample_block_probability[0] == 1.0 and tight_ev.nominal[0].blocked
    assert tight_ev.nominal[0].block_probability == 1.0
    assert tight_ev.block_probability == pytest.approx(float(np.mean(tight_ev.sample_block_probability)))
    assert tight_ev.block_probability > loose.block_probability + 0.1
    assert tight_ev.grade3_probability == 0 and all(m.violation_probability == 0 for m in tight_ev.margins)
    skin = next(m for m in tight_ev.margins if m.name == "skin")
    assert skin.worst_min_k > 273.15 + 25  # the L4 skin is 57 mm from the target
    root = next(m for m in tight_ev.margins if m.name == "nerve root")
    assert root.distance_mm is not None and root.distance_mm > 2.0


def test_a_protected_limit_that_cannot_hold_fails_the_candidate(tight):
    """A nerve-root limit of 36 C is broken by any nearby freeze: the candidate is unsafe."""
    _, cands, _, run = tight
    cfg = coarse(placement="stimulation")
    cfg = plan_config.parse({**cfg.model_dump(exclude_none=True),
                             "protected": [{"name": "nerve root", "limit_c": 36.5}]})
    e = rejudged(cfg, cands[0], run)
    assert not e.safe and any("nerve root colder" in f for f in e.failures)


def test_screening_gives_the_margins_a_moved_run_gives_measured_directly(tight):
    """Screening a placement measures each structure's distance to the cold region in the run's
    own frame, against the run's kept tree (``evaluate._distance_mm``): the same distance as
    measured among the moved cold points themselves, for a tilted placement at another tip."""
    from dataclasses import replace

    from scipy.spatial import cKDTree

    from cryoplan.planning.evaluate import Placement, _cold_points, moved, screen

    ctx, cands, _, run = tight
    a = cands[0].axis
    normal = np.cross(a, [1.0, 0.0, 0.0])
    tilted = np.cos(0.25) * a + np.sin(0.25) * normal / np.linalg.norm(normal)  # 14 degrees
    other = replace(cands[0], probes=(Placement(cands[0].tip + [1.5e-3, 0.5e-3, 0.0], tilted),))
    ev = screen(ctx, other, [run])
    model = Model((moved(run, other.probes[0]),))
    for p, m in zip(ctx.protected, ev.margins, strict=True):
        cold = _cold_points(model, p.limit_k)
        assert m.distance_mm == pytest.approx(cKDTree(cold).query(p.points)[0].min() * 1e3, rel=1e-9), p.name


def test_a_new_run_rescreens_only_the_placements_it_is_nearest(tight):
    """A screening depends only on the runs nearest the placement's probes: after another run
    joins, a placement still nearest its old run keeps its screening (the same object), one now
    nearest the new run is screened anew, and both give what screening from every run gives."""
    from dataclasses import replace

    from cryoplan.planning.evaluate import nearest_run, screen
    from cryoplan.planning.search import _Search, _Tracker

    _, _, _, run = tight
    search = _Search(Spec.all(coarse(placement="stimulation"), Path("."))[0], None, 1, _Tracker(None, 1))
    level = search.s.levels[0]
    cands = search.s.singles[level]
    search.runs[level] = [run]
    search.screen(cands)
    before = dict(search.found)
    other = replace(run, candidate=cands[-1])  # the same ice ball, as if simulated at the last placement
    search.runs[level].append(other)
    search.screen(cands)
    kept = [c for c in cands if nearest_run([run, other], c.probes[0]) is run]
    assert kept and len(kept) < len(cands)
    for c in cands:
        assert (search.found[c.index] is before[c.index]) == (c in kept)
        fresh = screen(search.ctx, c, [run, other])
        assert search.found[c.index].block_probability == fresh.block_probability
        assert search.found[c.index].margins == fresh.margins


def test_plan_bad_input_is_refused():
    with pytest.raises(InputError, match="anatomy.template"):
        context(plan_config.parse({"anatomy": {"template": "knee"}, "probe": {"catalog": "n2o-2.0mm"}}))
    with pytest.raises(InputError, match=r"protected\[0\].name"):
        context(plan_config.parse({"anatomy": {"template": "lumbar-medial-branch", "spacing_mm": 1.0},
                                   "probe": {"catalog": "n2o-2.0mm"}, "protected": [{"name": "liver",
                                                                                     "limit_c": 0}]}))
    with pytest.raises(InputError, match="plan.block_probability"):
        plan_config.parse({"anatomy": {"template": "lumbar-medial-branch"},
                           "plan": {"block_probability": 1.5}})
    with pytest.raises(InputError, match="anatomy.label_table"):
        context(plan_config.parse({"anatomy": {"nifti": "x.nii"}, "probe": {"catalog": "n2o-2.0mm"}}))


def test_cli_plan_writes_nothing_on_bad_input(tmp_path):
    bad = tmp_path / "plan.toml"
    bad.write_text('[anatomy]\ntemplate = "lumbar-medial-branch"\nlevel = "L9"\n'
                   '[probe]\ncatalog = "n2o-2.0mm"\n')
    out = tmp_path / "out.json"
    res = runner.invoke(app, ["plan", str(bad), "--json", str(out)])
    assert res.exit_code == 2 and "anatomy.level" in res.output and not out.exists()
    res = runner.invoke(app, ["plan"])
    assert res.exit_code == 2 and "--example" in res.output


def test_cli_plan_finds_and_explains_a_plan(tmp_path):
    """A small search on the coarse L4 template: the plan, its probability, margins, relief and
    reasons in the JSON, and the NIfTI/VTK export."""
    f = tmp_path / "plan.toml"
    f.write_text(
        '[anatomy]\ntemplate = "lumbar-medial-branch"\nlevel = "L4"\nspacing_mm = 1.0\n'
        '[probe]\ncatalog = "n2o-2.0mm"\n'
        '[plan]\nplacement = "stimulation"\nblock_probability = 0.5\nsamples = 64\n'
        'freeze_seconds = [60, 120]\ncycles = [1]\nring_deg = []\ngaps_mm = [0.0]\nworkers = 1\n'
        'checks = 1\n')
    out = tmp_path / "plan.json"
    page = tmp_path / "plan.html"
    res = runner.invoke(app, ["plan", str(f), "--json", str(out), "--export", str(tmp_path / "x"),
                              "--report", str(page)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["status"] == "plan" and data["block_probability"] >= 0.5
    assert data["plan"]["total_freeze_seconds"] in (60.0, 120.0)
    assert {m["name"] for m in data["margins"]} == {"skin", "nerve root", "dural sac"}
    assert all(m["margin_k"] > 0 for m in data["margins"])
    assert data["targets"][0]["blocked"] and data["relief_months"]["median"] > 0
    assert "shortest total freezing time" in data["why"]
    assert len(data["rigid_shift_check"]) == 1  # plan.checks
    from tests.apps.test_cli import _noisy_numbers

    assert _noisy_numbers({k: v for k, v in data.items() if k != "inputs"}) == []
    for name in ("labels.nii.gz", "min_temperature_c.nii.gz", "plan.vti"):
        assert (tmp_path / "x" / name).stat().st_size > 0
    # the report: growth of the nominal run, three planes through the tip with the structures
    assert data["iceball"]["isotherms"]["-20"]["radius_mm"][-1] >= 0
    assert [s["normal"] for s in data["map"]["slices"]] == ["x", "y", "z"]
    html = page.read_text()
    for text in ("No safe plan", "Re-simulation checks", "plane x =", "nerve root", "dural sac",
                 "Wilson EB", "Busser"):
        assert (text in html) == (text != "No safe plan"), text


def test_a_probe_barely_changes_the_resting_field_it_starts_from(tight):
    """The planner's runs start from the resting field without the probe (evaluate.simulate):
    taking the needle's voxels out of the steady balance changes it by far less than 0.01 K."""
    from cryoplan.planning.evaluate import placed
    from cryoplan.thermal.placement import rasterise
    from cryoplan.thermal.steady import steady_temperature

    ctx, cands, _, _ = tight
    tissue = ~rasterise(ctx.grid, list(placed(ctx, cands[0]))).inside
    with_probe = steady_temperature(ctx.grid, tissue, guess=ctx.rest)
    assert 0 < np.abs(with_probe - ctx.rest)[tissue].max() < 0.01


def test_a_planned_probe_moved_by_hand_is_screened_from_the_kept_state(tmp_path):
    """Both sides of L4 at 1.5 mm (the right mirrors the left): the kept state is small, names
    the mirror's source, reproduces the plan unmoved, and refuses what it cannot judge."""
    from cryoplan import service
    from cryoplan.planning import adjust

    data = {"anatomy": {"levels": ["L4"], "sides": ["left", "right"], "spacing_mm": 1.5},
            "probe": {"catalog": "n2o-2.0mm"},
            "plan": {"samples": 64, "probes": 1, "freeze_seconds": [120], "cycles": [1], "ring_deg": [],
                     "gaps_mm": [0.0], "checks": 0, "workers": 1, "placement": "stimulation",
                     "block_probability": 0.5}}
    ran = service.run(service.prepare("plan", data))
    path = tmp_path / "adjust.npz"
    service.write(ran, service.Outputs(adjust=path))
    assert path.stat().st_size < 60_000
    session = adjust.load(path)
    left, right = session.target("L4 left"), session.target(1)
    assert right is left  # the mirror image in the template's frame: the same state
    scene = adjust.scene_json(session)
    assert [t["mirror_of"] for t in scene["targets"]] == [None, "L4 left"]
    est = adjust.estimate(left, np.zeros(3))
    planned = ran.native.targets[0].chosen
    assert est.evaluation.block_probability == pytest.approx(planned.block_probability, abs=1e-6)
    assert [m.violation_probability for m in est.evaluation.margins] == [m.violation_probability
                                                                        for m in planned.margins]
    # tilted about the tip, the moved needle keeps its length
    turned = adjust.estimate(left, np.zeros(3), 30, 0)
    assert np.linalg.norm(turned.entries[0] - turned.tips[0]) == pytest.approx(
        np.linalg.norm(left.entries[0] - left.probes[0].tip))
    for bad, field in (({"tip_offset_m": np.array([0.011, 0, 0])}, "tip_offset_mm"),
                       ({"tip_offset_m": np.zeros(3), "tilt_deg": 31}, "tilt_deg"),
                       ({"tip_offset_m": np.zeros(3), "freeze_s": 90}, "freeze_s")):
        with pytest.raises(InputError, match=field):
            adjust.estimate(left, **bad)
    with pytest.raises(InputError, match="target"):
        session.target("L5 left")


def test_numba_is_set_up_before_the_fork_without_starting_its_threads():
    """The planner sets numba's compiler up before forking its workers (``numba_ready``); that
    must not start numba's threads, after which forking is unsafe (a fresh process: this one's
    threads may have started)."""
    import subprocess
    import sys

    code = ("from cryoplan.planning import parallel; parallel.numba_ready(); "
            "print(parallel._threads_started())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_planner_runs_with_the_default_perfusion_model():
    """A plan's tissues are its anatomy's, perfused: the planner's runs let their blood flow fall
    with cold and stop where they froze, as a procedure's do by default (tissue.perfusion)."""
    ctx, _, _ = context(coarse())
    assert ctx.perfusion == DEFAULT_MODEL == "temperature-dependent"
