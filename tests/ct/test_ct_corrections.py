"""Corrections by hand of a CT's survey (``ct_config``): levels renamed, targets moved, read by
``cryoplan ct --corrections`` and by a plan's ``[anatomy] corrections``."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan import case, service
from cryoplan.cli import app
from cryoplan.ct_config import parse_corrections
from cryoplan.errors import InputError
from cryoplan.plan_config import parse
from tests.ct.test_ct_command import SAMPLE


def _targets(data: dict) -> dict:
    return {(lv["name"], t["side"]): t for lv in data["levels"] for t in lv["targets"]}


@pytest.fixture(scope="module")
def as_found():
    return _targets(service.survey_ct(SAMPLE, "L4")[0])


def _surveyed(tmp_path, text: str) -> dict:
    fix = tmp_path / "fix.toml"
    fix.write_text(text)
    return service.survey_ct(SAMPLE, "L4", corrections=fix)[0]


def test_a_relabelled_level_renames_every_level_and_its_targets_follow(tmp_path, as_found):
    data = _surveyed(tmp_path, 'relabel = { was = "L4", is = "L5" }\n')
    assert [lv["name"] for lv in data["levels"]] == ["L3", "L4", "L5"]
    now = _targets(data)
    for (level, side), t in as_found.items():
        shifted = now[f"L{int(level[1]) + 1}", side]
        assert shifted["point_mm"] == t["point_mm"] and shifted["bone"] == f"L{int(t['bone'][1]) + 1}"
    assert "vertebra-relabelled" in [w["code"] for w in data["warnings"]]
    assert "vertebra-level-uncertain" not in [w["code"] for w in data["warnings"]]


def test_a_moved_target_moves_by_exactly_its_shift(tmp_path, as_found):
    data = _surveyed(tmp_path, '[[move]]\nlevel = "L3"\nside = "left"\nby_mm = [1.0, -0.5, -2.0]\n')
    moved, before = _targets(data)["L3", "left"], as_found["L3", "left"]
    shift = np.array([1.0, -0.5, -2.0])
    assert np.allclose(np.array(moved["point_mm"]) - before["point_mm"], shift, atol=0.011)
    assert np.allclose(np.array(moved["surface_mm"]) - before["surface_mm"], shift, atol=0.011)
    assert moved["moved_by_hand_mm"] == [1.0, -0.5, -2.0]
    assert _targets(data)["L3", "right"] == as_found["L3", "right"]
    assert [w["about"] for w in data["warnings"] if w["code"] == "target-moved"] == ["L3 left"]


@pytest.mark.parametrize("data,field", [
    ({"move": [{"level": "L3", "side": "left", "by_mm": [8.0, 8.0, 0.0]}]}, "by_mm"),
    ({"move": [{"level": "L3", "side": "left", "by_mm": [float("nan"), 0.0, 0.0]}]}, "by_mm"),
    ({"move": [{"level": "L5", "side": "left", "by_mm": [1.0, 0.0, 0.0]}]}, "level"),
    ({"move": [{"level": "L3", "side": "left", "by_mm": [1.0, 0.0, 0.0]}] * 2}, "move"),
    ({"relabel": {"was": "L4", "is": "L4"}}, "relabel.is"),
    ({"relabel": {"was": "Q9", "is": "L4"}}, "relabel.was"),
    ({"relabel": {"was": "L4"}}, "relabel"),
    ({"relabel": "L5"}, "relabel"),
    ({"shift": 1}, "shift"),
])
def test_a_bad_correction_is_refused_naming_its_field(data, field):
    with pytest.raises(InputError) as err:
        parse_corrections(data)
    assert field in err.value.field


def test_corrections_the_survey_cannot_apply_are_refused_in_one_line(tmp_path):
    move = '[[move]]\nlevel = "L1"\nside = "left"\nby_mm = [1.0, 0.0, 0.0]\n'
    for text, field in ((move, "corrections.move"),
                        ('relabel = { was = "L5", is = "S" }\n', "corrections.relabel.was"),
                        ('relabel = { was = "L4", is = "C1" }\n', "corrections.relabel.is")):
        fix = tmp_path / "fix.toml"
        fix.write_text(text)
        ran = CliRunner().invoke(app, ["ct", str(SAMPLE), "--lowest", "L4", "--corrections", str(fix)])
        assert ran.exit_code == 2 and field in ran.output and "Traceback" not in ran.output, ran.output


def test_a_plan_on_the_ct_reads_its_corrections(tmp_path, as_found):
    (tmp_path / "fix.toml").write_text('[[move]]\nlevel = "L3"\nside = "right"\nby_mm = [0.0, 0.0, 3.0]\n')
    cfg = parse({"anatomy": {"ct": str(SAMPLE), "lowest": "L4", "levels": ["L3"], "sides": ["right"],
                             "corrections": "fix.toml"}, "probe": {"catalog": "n2o-2.0mm"}})
    found = case.build_plan(cfg, tmp_path).survey
    target = found.target("L3", "right")
    assert np.allclose(target.point_mm - as_found["L3", "right"]["point_mm"], [0.0, 0.0, 3.0], atol=0.011)


def test_corrections_without_a_ct_are_refused():
    with pytest.raises(InputError, match="anatomy.corrections"):
        parse({"anatomy": {"template": "lumbar-medial-branch", "corrections": "fix.toml"},
               "probe": {"catalog": "n2o-2.0mm"}})


def test_the_json_of_a_corrected_survey_is_plain_data(tmp_path):
    data = _surveyed(tmp_path, 'relabel = { was = "L2", is = "L1" }\n')
    assert json.loads(json.dumps(data)) == data
