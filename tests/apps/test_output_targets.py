"""Outputs are written only to regular files or new paths: a FIFO, a device or a folder of the
kernel's file systems is refused before the run with one line, and nothing replaces it."""

import os
import stat

import pytest
from typer.testing import CliRunner

from cryoplan import service
from cryoplan.atomic import write_json
from cryoplan.cli import app
from cryoplan.errors import InputError

runner = CliRunner()


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


def test_a_fifo_is_not_turned_into_a_file(fifo):
    with pytest.raises(InputError, match="regular file"):
        service.Outputs(json=fifo).check()
    with pytest.raises(InputError, match="regular file"):
        write_json(fifo, {"a": 1})  # the writer itself refuses too: the path may change after the check
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in fifo.parent.iterdir()] == ["pipe.json"]  # no temporary file left


SMALL = """
[probe]
catalog = "n2o-2.0mm"
[protocol]
phases = [{kind = "freeze", seconds = 20}]
[grid]
extent_mm = 8.0
"""


@pytest.mark.parametrize("option, target", [("--json", "/dev/null"), ("--report", "/dev/x.html"),
                                            ("--plot", "/proc/self/x.png")])
def test_devices_and_kernel_folders_are_refused_before_the_run(tmp_path, option, target):
    (tmp_path / "in.toml").write_text(SMALL)
    res = runner.invoke(app, ["simulate", str(tmp_path / "in.toml"), option, target])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert "\n" not in line and f"{option} = '{target}'" in line and "regular file" in line


def test_a_chart_onto_a_device_is_refused_before_its_runs(tmp_path):
    res = runner.invoke(app, ["chart", "--catalog", "n2o-2.0mm", "-o", "/dev/chart.png"])
    assert res.exit_code == 2 and "-o = '/dev/chart.png'" in res.output
    assert not os.path.exists("/dev/chart.png")
