"""The web planner's run store (``web.jobs.Runs``) without workers: a run is validated before
it is queued, the queue has a limit, a queued run can be cancelled once, and queued runs are
found again by the next server."""

import json
import tomllib

import pytest

from cryoplan.errors import InputError
from cryoplan.web.jobs import NotRunning, QueueFull, Runs

DEMO = {"probe": {"catalog": "n2o-2.0mm"}, "protocol": {"phases": [{"kind": "freeze", "seconds": 30}]}}


def test_runs_are_validated_bounded_cancelled_and_recovered(tmp_path):
    runs = Runs(tmp_path, workers=0, max_queued=2)
    try:
        with pytest.raises(InputError, match="tissue.type"):
            runs.submit("simulation", {**DEMO, "tissue": {"type": "liverwurst"}}, "bad")
        assert runs.all() == [] and list((tmp_path / "runs").iterdir()) == []
        first = runs.submit("simulation", DEMO, "first")
        second = runs.submit("simulation", DEMO, "second")
        with pytest.raises(QueueFull):
            runs.submit("simulation", DEMO, "third")
        assert runs.status(first.id).state == "queued"
        assert json.loads((runs.folder(first.id) / "input.json").read_text()) == DEMO
        assert tomllib.loads((runs.folder(first.id) / "input.toml").read_text()) == DEMO
        assert runs.cancel(first.id).state == "cancelled"
        with pytest.raises(NotRunning):
            runs.cancel(first.id)
        with pytest.raises(KeyError):
            runs.folder("../../etc")
    finally:
        runs.close()
    again = Runs(tmp_path, workers=0)
    try:
        states = {s.title: (s.state, s.message) for s in again.all()}
        assert states["first"][0] == "cancelled"
        assert states["second"] == ("queued", "queued again after a server restart")
        assert again.status(second.id).kind == "simulation"
    finally:
        again.close()
