"""The QC of a CT's survey: the pictures (``report.ct_views``), the report page
(``report.ct_report``) and the files for 3D Slicer (``anatomy.ct.survey_export``)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from cryoplan.anatomy.ct.survey import survey
from cryoplan.anatomy.ct.survey_export import colour_table, markups, vertebra_labels
from cryoplan.cli import app
from cryoplan.report.ct_json import ct_json
from cryoplan.report.ct_report import ct_report
from cryoplan.report.ct_views import qc_views
from tests.ct.spine_phantom import spine_phantom
from tests.ct.test_ct_command import SAMPLE


@pytest.fixture(scope="module")
def phantom():
    ph = spine_phantom(1.5)
    return ph.image, survey(ph.image, "L4")


def test_the_views_are_pictures_of_every_level_with_targets(phantom):
    image, found = phantom
    views = qc_views(image, found)
    with_targets = [lv for lv in found.levels if lv.targets]
    assert len(with_targets) == 2  # L2 and L3 (on L3's and L4's junctions); L4's lie on L5
    assert len(views) == 2 + len(with_targets)
    assert all(v.png.startswith(b"\x89PNG") for v in views)


def test_the_report_escapes_what_it_shows(phantom):
    image, found = phantom
    data = ct_json(found)
    data["warnings"] = [{"code": "ct-resampled", "about": None, "message": "<script>alert(1)</script>"}]
    page = ct_report(data, [])
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_every_vertebra_has_its_level_number_and_a_colour(phantom):
    _, found = phantom
    values, names = vertebra_labels(found)
    assert names == {21: "L2", 22: "L3", 23: "L4"}
    assert set(np.unique(values)) == {0, 21, 22, 23}
    assert colour_table(names).splitlines()[2].split()[:2] == ["21", "L2"]
    points = markups(found)["markups"][0]["controlPoints"]
    assert len(points) == sum(len(lv.targets) for lv in found.levels)


def test_an_export_onto_a_file_is_refused_before_the_ct_is_read(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    ran = CliRunner().invoke(app, ["ct", str(SAMPLE), "--lowest", "L4", "--export", str(blocker),
                                   "--report", str(tmp_path / "qc.html")])
    assert ran.exit_code == 2 and "--export" in ran.output
    assert not (tmp_path / "qc.html").exists()  # all or none
