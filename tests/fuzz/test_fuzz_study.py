"""Property-based fuzz of the study file (``cryoplan sweep``) and the calibration file
(``cryoplan calibrate``): a valid file with values replaced, keys removed or unknown keys added
at random, written as TOML, is loaded (and a study's samples drawn, when there are few) or refused
with an InputError on one line; never another exception."""

import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, given, settings

from cryoplan.calibrate import spec
from cryoplan.errors import InputError
from cryoplan.sweep import study as studies

from .test_fuzz_schema import mutated

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STUDY = tomllib.loads((EXAMPLES / "sweep" / "demo-lhs.toml").read_text())
CALIBRATION = tomllib.loads((EXAMPLES / "calibration" / "calibration.toml").read_text())
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _written(folder: Path, name: str, data: dict) -> Path:
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # None or a key TOML cannot hold: not a file anyone can write
        assume(False)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _one_line(err: InputError) -> None:
    assert "\n" not in str(err).strip() and err.field and len(str(err)) < 1500


@FUZZ
@given(mutated(STUDY))
def test_a_mutated_study_file_is_loaded_or_refused_in_one_line(tmp_path_factory, data):
    path = _written(tmp_path_factory.mktemp("study"), "study.toml", data)
    try:
        study = studies.load(path)
        if study.config.runs <= 512:
            study.samples()
    except InputError as err:
        _one_line(err)


@FUZZ
@given(mutated(CALIBRATION))
def test_a_mutated_calibration_file_is_loaded_or_refused_in_one_line(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("calibration")
    for f in (EXAMPLES / "calibration").iterdir():  # its procedure and tables, beside it
        if f.suffix in (".toml", ".csv") and f.name != "calibration.toml":
            (folder / f.name).write_bytes(f.read_bytes())
    path = _written(folder, "calibration.toml", data)
    try:
        spec.load(path)
    except InputError as err:
        _one_line(err)


@pytest.mark.parametrize("name", ["demo-lhs.toml", "cohort-grid.toml", "demo-saltelli.toml"])
def test_the_shipped_studies_load(name):
    assert studies.load(EXAMPLES / "sweep" / name).config.runs > 0
